//! [`Stream`]: one stream of a session, an `AsyncRead + AsyncWrite`.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Protocol, ReadSide, WriteSide, session::Shared};

/// One multiplexed stream.
///
/// Reads return data in order, and end once the remote half-closed. Writes wait while
/// the protocol's window is exhausted or the connection's queue is full. `poll_flush`
/// waits until everything written has been handed to the connection's IO and flushed;
/// `poll_shutdown` half-closes (reading goes on). Dropping a stream open both ways
/// resets it; dropping one the remote has finished half-closes it (what was written
/// still arrives); dropping one we finished sends nothing more.
pub struct Stream<P: Protocol> {
    id: P::Id,
    shared: Arc<Shared<P>>,
}

impl<P: Protocol> std::fmt::Debug for Stream<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("protocol", &P::NAME)
            .field("id", &self.id)
            .finish()
    }
}

fn reset_error(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("{name} stream reset"),
    )
}

impl<P: Protocol> Stream<P> {
    pub(crate) fn new(id: P::Id, shared: Arc<Shared<P>>) -> Self {
        Stream { id, shared }
    }

    /// The stream's number as the protocol shows it.
    pub fn id(&self) -> P::Number {
        P::number(self.id)
    }

    /// Resets the stream at once: both directions end with an error.
    pub fn reset(self) {
        // Drop does it: a stream not closed both ways is reset.
    }
}

impl<P: Protocol> AsyncRead for Stream<P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let id = self.id;
        let shared = &self.shared;
        let (poll, drained) = shared.with(|s| {
            let n = s.core.read(id, buf);
            if n > 0 {
                let drained = s.core.is_blocked();
                if let Some(slot) = s.core.stream(id) {
                    let open = slot.read_side() == ReadSide::Open;
                    if let Some(frame) =
                        s.proto
                            .on_read(id, &mut slot.proto, n, open, Instant::now())
                    {
                        s.core.send(frame);
                    }
                }
                return (Poll::Ready(Ok(())), drained);
            }
            if buf.remaining() == 0 {
                return (Poll::Ready(Ok(())), false);
            }
            let closed = s.core.is_closed();
            // The error message is built only when it is returned, not on every wait.
            let Some(slot) = s.core.stream(id) else {
                return (Poll::Ready(Err(s.core.closed_error())), false);
            };
            let poll = match slot.read_side() {
                ReadSide::Finished => Poll::Ready(Ok(())),
                ReadSide::Reset | ReadSide::Discarded => Poll::Ready(Err(reset_error(P::NAME))),
                ReadSide::Open if closed => Poll::Ready(Err(s.core.closed_error())),
                ReadSide::Open => {
                    slot.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            };
            (poll, false)
        });
        if drained {
            // The reader waits for this stream (or the connection) to make room.
            shared.drained.notify_waiters();
        }
        poll
    }
}

impl<P: Protocol> AsyncWrite for Stream<P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.shared.with(|s| {
            let core = &mut s.core;
            if core.is_closed() {
                return Poll::Ready(Err(core.closed_error()));
            }
            let room = core.has_queue_room();
            let max = core.settings().max_frame_payload;
            let Some(slot) = core.stream(id) else {
                return Poll::Ready(Err(reset_error(P::NAME)));
            };
            match slot.write_side() {
                WriteSide::Reset => return Poll::Ready(Err(reset_error(P::NAME))),
                WriteSide::Finished => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        format!("{} stream closed for writing", P::NAME),
                    )));
                }
                WriteSide::Open => {}
            }
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let window = P::send_window(&slot.proto);
            if window == 0 {
                slot.write_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if !room {
                slot.write_waker = Some(cx.waker().clone());
                core.wait_for_queue_room(id);
                return Poll::Pending;
            }
            let n = data.len().min(window).min(max);
            let frame = P::data_frame(id, &mut slot.proto, Bytes::copy_from_slice(&data[..n]));
            core.send_for(id, frame);
            Poll::Ready(Ok(n))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.shared.with(|s| {
            let core = &mut s.core;
            if core.is_flushed(id) {
                return Poll::Ready(Ok(()));
            }
            // A closed session may still be writing out what was queued before.
            if core.is_closed() && core.writer_done {
                return Poll::Ready(Err(core.closed_error()));
            }
            if let Some(slot) = core.stream(id) {
                slot.flush_waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.shared.with(|s| s.core.finish(id));
        self.poll_flush(cx)
    }
}

impl<P: Protocol> Drop for Stream<P> {
    fn drop(&mut self) {
        let id = self.id;
        let blocked = self.shared.with(|s| {
            let blocked = s.core.is_blocked();
            s.remove(id);
            blocked
        });
        if blocked {
            // Its data is gone: a reader waiting for room may go on.
            self.shared.drained.notify_waiters();
        }
    }
}
