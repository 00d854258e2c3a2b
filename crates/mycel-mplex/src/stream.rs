//! [`Stream`]: one mplex stream, an `AsyncRead + AsyncWrite`.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::{Key, Shared};

/// An mplex stream.
///
/// mplex has no flow control: data from the remote is buffered up to
/// [`Config::max_buffer_per_stream`](crate::Config::max_buffer_per_stream), past which
/// the stream is reset. `poll_shutdown` sends Close (a half-close). Dropping a stream
/// open both ways resets it; dropping one the remote has closed sends our Close (what
/// was written still arrives); dropping one we closed sends nothing more.
pub struct Stream {
    key: Key,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.key.0)
            .field("opened_by_us", &self.key.1)
            .finish()
    }
}

impl Stream {
    pub(crate) fn new(key: Key, shared: Arc<Shared>) -> Self {
        Stream { key, shared }
    }

    /// The stream id (unique per opener: both sides may use the same number).
    pub fn id(&self) -> u64 {
        self.key.0
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "mplex stream reset")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let key = self.key;
        let shared = &self.shared;
        shared.with(|state| {
            if state.read(key, buf) > 0 || buf.remaining() == 0 {
                if state.reader_blocked() {
                    shared.drained.notify_waiters();
                }
                return Poll::Ready(Ok(()));
            }
            let closed = state.is_closed();
            let closed_error = state.closed_error();
            let Some(stream) = state.stream(key) else {
                return Poll::Ready(Err(closed_error));
            };
            // Data we threw away: never a clean end.
            if stream.discarded {
                return Poll::Ready(Err(reset_error()));
            }
            // A close that came before a reset ended the read side cleanly: a peer
            // that closes, then drops the stream, resets only its unread side.
            if stream.remote_closed {
                return Poll::Ready(Ok(()));
            }
            if stream.reset {
                return Poll::Ready(Err(reset_error()));
            }
            if closed {
                return Poll::Ready(Err(closed_error));
            }
            stream.read_waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let key = self.key;
        self.shared.with(|state| {
            if state.is_closed() {
                return Poll::Ready(Err(state.closed_error()));
            }
            let room = state.has_queue_room();
            let Some(stream) = state.stream(key) else {
                return Poll::Ready(Err(reset_error()));
            };
            if stream.reset {
                return Poll::Ready(Err(reset_error()));
            }
            if stream.local_closed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "mplex stream closed for writing",
                )));
            }
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if !room {
                stream.write_waker = Some(cx.waker().clone());
                state.wait_for_queue_room(key);
                return Poll::Pending;
            }
            Poll::Ready(Ok(state.write(key, data)))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let key = self.key;
        self.shared.with(|state| {
            if state.is_flushed(key) {
                return Poll::Ready(Ok(()));
            }
            // A closed session may still be writing out what was queued before.
            if state.is_closed() && state.flush_failed() {
                return Poll::Ready(Err(state.closed_error()));
            }
            if let Some(stream) = state.stream(key) {
                stream.flush_waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let key = self.key;
        self.shared.with(|state| state.finish(key));
        self.poll_flush(cx)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let key = self.key;
        let blocked = self.shared.with(|state| {
            let blocked = state.reader_blocked();
            state.drop_stream(key);
            blocked
        });
        if blocked {
            // Its buffer is gone: a reader waiting for room may go on.
            self.shared.drained.notify_waiters();
        }
    }
}
