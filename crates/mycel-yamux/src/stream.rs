//! [`Stream`]: one yamux stream, an `AsyncRead + AsyncWrite`.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::Shared;

/// A yamux stream.
///
/// Reads return data in order; end of stream once the remote half-closed. Writes wait
/// while the remote's window is exhausted. `poll_flush` waits until everything written
/// has been handed to the connection's IO and flushed; `poll_shutdown` sends FIN (a
/// half-close: reading goes on). Dropping a stream open both ways resets it; dropping
/// one the remote has finished sends our FIN (what was written still arrives); dropping
/// one we finished sends nothing more.
pub struct Stream {
    id: u32,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id).finish()
    }
}

impl Stream {
    pub(crate) fn new(id: u32, shared: Arc<Shared>) -> Self {
        Stream { id, shared }
    }

    /// The stream id: odd for streams the dialer opened, even for the listener's.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Resets the stream at once: both directions end with an error.
    pub fn reset(self) {
        // Drop does it: a stream not closed both ways is reset.
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "yamux stream reset")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let id = self.id;
        self.shared.with(|state| {
            if state.read(id, buf) > 0 || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let closed = state.is_closed();
            let closed_error = state.closed_error();
            let Some(stream) = state.stream(id) else {
                return Poll::Ready(Err(closed_error));
            };
            // Data we threw away: never a clean end.
            if stream.discarded {
                return Poll::Ready(Err(reset_error()));
            }
            // A FIN that came before a reset ended the read side cleanly.
            if stream.remote_fin {
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
        let id = self.id;
        self.shared.with(|state| {
            if state.is_closed() {
                return Poll::Ready(Err(state.closed_error()));
            }
            let room = state.has_queue_room();
            let Some(stream) = state.stream(id) else {
                return Poll::Ready(Err(reset_error()));
            };
            if stream.reset {
                return Poll::Ready(Err(reset_error()));
            }
            if stream.local_fin {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "yamux stream closed for writing",
                )));
            }
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if stream.send_window == 0 {
                stream.write_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if !room {
                stream.write_waker = Some(cx.waker().clone());
                state.wait_for_queue_room(id);
                return Poll::Pending;
            }
            Poll::Ready(Ok(state.write(id, data)))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.shared.with(|state| {
            if state.is_flushed(id) {
                return Poll::Ready(Ok(()));
            }
            // A closed session may still be writing out what was queued before.
            if state.is_closed() && state.flush_failed() {
                return Poll::Ready(Err(state.closed_error()));
            }
            if let Some(stream) = state.stream(id) {
                stream.flush_waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.shared.with(|state| state.finish(id));
        self.poll_flush(cx)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.with(|state| state.drop_stream(id));
    }
}
