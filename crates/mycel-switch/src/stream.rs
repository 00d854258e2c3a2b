//! Stream accounting: every stream of a pooled connection counts itself while it lives,
//! for the per-connection stream limits and the idle timeout.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use mycel_core::BoxedIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
    time::Instant,
};

/// Live streams and keep-alives of one connection.
#[derive(Debug)]
pub(crate) struct Activity {
    inbound: AtomicUsize,
    outbound: AtomicUsize,
    holds: AtomicUsize,
    /// When the last stream or keep-alive went away.
    idle_since: Mutex<Instant>,
    changed: Notify,
}

/// Which count a stream or hold is in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Inbound,
    Outbound,
    Hold,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inbound: AtomicUsize::new(0),
            outbound: AtomicUsize::new(0),
            holds: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        })
    }

    fn counter(&self, kind: Kind) -> &AtomicUsize {
        match kind {
            Kind::Inbound => &self.inbound,
            Kind::Outbound => &self.outbound,
            Kind::Hold => &self.holds,
        }
    }

    /// Counts one more of `kind` unless that would pass `max`.
    pub(crate) fn try_add(self: &Arc<Self>, kind: Kind, max: usize) -> Option<Token> {
        let counter = self.counter(kind);
        let mut current = counter.load(Ordering::Relaxed);
        loop {
            if current >= max {
                return None;
            }
            match counter.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        self.changed.notify_waiters();
        Some(Token {
            activity: self.clone(),
            kind,
        })
    }

    /// Streams (or holds) of `kind` open now.
    pub(crate) fn streams(&self, kind: Kind) -> usize {
        self.counter(kind).load(Ordering::Relaxed)
    }

    fn active(&self) -> usize {
        self.inbound.load(Ordering::Acquire)
            + self.outbound.load(Ordering::Acquire)
            + self.holds.load(Ordering::Acquire)
    }

    /// Returns once the connection has had nothing open for `timeout`.
    pub(crate) async fn idle_for(&self, timeout: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.active() == 0 {
                let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
                tokio::select! {
                    _ = tokio::time::sleep_until(since + timeout) => {
                        // Re-read: the last stream may have ended just now, and its
                        // drop updates `idle_since` after the count.
                        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
                        if self.active() == 0 && since + timeout <= Instant::now() {
                            return;
                        }
                    }
                    _ = &mut changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

/// One counted stream or hold; uncounts itself when dropped.
#[derive(Debug)]
pub(crate) struct Token {
    activity: Arc<Activity>,
    kind: Kind,
}

impl Drop for Token {
    fn drop(&mut self) {
        let before = self
            .activity
            .counter(self.kind)
            .fetch_sub(1, Ordering::AcqRel);
        if before == 1 && self.activity.active() == 0 {
            *self
                .activity
                .idle_since
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
        self.activity.changed.notify_waiters();
    }
}

/// Keeps a connection open while held, whether or not streams are open (see
/// [`crate::Switch::keep_alive`]).
#[derive(Debug)]
pub struct KeepAlive {
    _token: Token,
}

impl KeepAlive {
    pub(crate) fn new(token: Token) -> Self {
        Self { _token: token }
    }
}

/// A stream of a pooled connection, counted while it lives.
pub(crate) struct CountedStream {
    io: BoxedIo,
    _token: Token,
}

impl CountedStream {
    pub(crate) fn new(io: BoxedIo, token: Token) -> Self {
        Self { io, _token: token }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
