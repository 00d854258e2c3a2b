//! [`Connection`]: a session over one connection, the handle users hold.

use std::{future::poll_fn, sync::Arc, task::Poll, time::Instant};

use async_trait::async_trait;
use mycel_core::{BoxedIo, MuxedConnection, MuxerError, Role};
use tokio::task::AbortHandle;

use crate::{
    Protocol, ProtocolError,
    core::Core,
    session::{Shared, reader_task, writer_task},
    stream::Stream,
};

/// A multiplexed session over one connection. Its two tasks (one reads frames, one
/// writes them) run on the current tokio runtime and end when the session closes or
/// this handle is dropped.
pub struct Connection<P: Protocol> {
    shared: Arc<Shared<P>>,
    tasks: [AbortHandle; 2],
}

impl<P: Protocol> std::fmt::Debug for Connection<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("protocol", &P::NAME)
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> Connection<P> {
    /// Starts a session over `io` in `role`. Must be called inside a tokio runtime.
    pub fn new(io: BoxedIo, role: Role, config: P::Config) -> Self {
        let (proto, codec, settings) = P::new(role, config);
        let shared = Shared::new(proto, Core::new(settings));
        shared.with(|s| s.proto.start(&mut s.core, Instant::now()));
        let (read, write) = tokio::io::split(io);
        let reader = tokio::spawn(reader_task(shared.clone(), codec, read));
        let writer = tokio::spawn(writer_task(shared.clone(), write));
        Connection {
            shared,
            tasks: [reader.abort_handle(), writer.abort_handle()],
        }
    }

    /// Opens a stream; waits while the protocol says not yet (yamux's backlog of
    /// unacknowledged streams).
    pub async fn open_stream(&self) -> Result<Stream<P>, P::Error> {
        loop {
            let progress = self.shared.progress.notified();
            let opened = self.shared.with(|s| {
                if !s.core.is_open() {
                    return Err(P::Error::closed());
                }
                if s.core.len() >= s.core.settings().max_streams {
                    return Err(P::Error::too_many_streams());
                }
                s.proto.open(&mut s.core, Instant::now())
            })?;
            if let Some(id) = opened {
                return Ok(Stream::new(id, self.shared.clone()));
            }
            progress.await;
        }
    }

    /// Waits for the next stream the remote opens; fails once the session has ended.
    pub async fn accept_stream(&self) -> Result<Stream<P>, P::Error> {
        poll_fn(|cx| {
            self.shared.with(|s| {
                if let Some(id) = s.core.accept() {
                    s.proto.on_accept(id, &mut s.core);
                    return Poll::Ready(Ok(id));
                }
                if s.core.is_closed() {
                    return Poll::Ready(Err(P::Error::closed()));
                }
                s.core.accept_waker = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
        .map(|id| Stream::new(id, self.shared.clone()))
    }

    /// Closes the session: no new streams, the protocol's goodbye and whatever is queued
    /// are sent, then the IO is shut down. Streams end.
    pub async fn close(&self) -> Result<(), P::Error> {
        self.shared.close();
        loop {
            let progress = self.shared.progress.notified();
            if self.shared.lock().core.is_closed() {
                break;
            }
            progress.await;
        }
        self.tasks[0].abort();
        Ok(())
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().core.is_closed()
    }

    /// Streams currently open.
    pub fn num_streams(&self) -> usize {
        self.shared.lock().core.len()
    }

    /// Runs `f` on the protocol's state (for what a front reports, like a round-trip
    /// time).
    pub fn protocol<R>(&self, f: impl FnOnce(&P) -> R) -> R {
        f(&self.shared.lock().proto)
    }
}

impl<P: Protocol> Drop for Connection<P> {
    fn drop(&mut self) {
        self.shared
            .with(|s| s.core.fail("connection handle dropped".into()));
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[async_trait]
impl<P: Protocol> MuxedConnection for Connection<P> {
    async fn open_stream(&self) -> Result<BoxedIo, MuxerError> {
        Connection::open_stream(self)
            .await
            .map(|s| Box::new(s) as BoxedIo)
            .map_err(ProtocolError::into_muxer_error)
    }

    async fn accept_stream(&self) -> Result<BoxedIo, MuxerError> {
        Connection::accept_stream(self)
            .await
            .map(|s| Box::new(s) as BoxedIo)
            .map_err(ProtocolError::into_muxer_error)
    }

    async fn close(&self) -> Result<(), MuxerError> {
        Connection::close(self)
            .await
            .map_err(ProtocolError::into_muxer_error)
    }

    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }
}
