//! [`Negotiated`]: a stream during and after negotiation.

use std::{
    future::poll_fn,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, BytesMut};
use mycel_core::{ProtocolId, framing::decode_length};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::{
    NegotiationError,
    message::{Message, decode_line, encode_protocol_list},
};

/// Bytes read from the IO per call while negotiating.
const READ_CHUNK: usize = 1024;

/// Application bytes a lazy dialer buffers behind its proposal, so that they leave in
/// the same write as the proposal.
const COALESCE_LIMIT: usize = 16 * 1024;

/// A stream whose protocol is negotiated, or (lazy dialer) being confirmed.
///
/// Bytes the remote sent right behind the negotiation are kept and read first. For a
/// lazy dialer, the first read waits for the listener's confirmation: a refusal is an
/// error of kind `InvalidData`; [`Negotiated::complete`] waits for it explicitly.
#[derive(Debug)]
pub struct Negotiated<Io> {
    io: Io,
    /// Received bytes not consumed yet.
    read_buf: BytesMut,
    /// Bytes to write before anything else (the lazy dialer's header and proposal).
    write_buf: BytesMut,
    state: State,
}

#[derive(Debug)]
enum State {
    Completed,
    /// A lazy dialer waiting for the header and the echo of `protocol`.
    Expecting {
        protocol: ProtocolId,
        header_seen: bool,
    },
    Failed,
}

impl<Io> Negotiated<Io> {
    pub(crate) fn new(io: Io) -> Self {
        Negotiated {
            io,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            state: State::Completed,
        }
    }

    pub(crate) fn expecting(io: Io, protocol: ProtocolId) -> Self {
        let mut this = Negotiated::new(io);
        Message::Header.encode(&mut this.write_buf);
        Message::Protocol(protocol.as_str().as_bytes().to_vec().into()).encode(&mut this.write_buf);
        this.state = State::Expecting {
            protocol,
            header_seen: false,
        };
        this
    }

    /// The underlying stream. Buffered bytes not yet read or written are lost: call this
    /// only once the stream is drained and flushed.
    pub fn into_inner(self) -> Io {
        self.io
    }

    /// Whether the remote has confirmed the protocol.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Completed)
    }

    pub(crate) fn queue(&mut self, msg: Message) {
        msg.encode(&mut self.write_buf);
    }

    pub(crate) fn queue_protocol_list(&mut self, protocols: &[ProtocolId]) {
        encode_protocol_list(
            protocols.iter().map(ProtocolId::as_str),
            &mut self.write_buf,
        );
    }

    /// Whether a whole message is already buffered (so a reply can wait for it).
    pub(crate) fn has_buffered_message(&self) -> bool {
        matches!(decode_length(&self.read_buf), Ok(Some((len, used))) if (self.read_buf.len() - used) as u64 >= len)
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Negotiated<Io> {
    /// Waits until the remote confirms the protocol (lazy dialer); at once otherwise.
    /// Sends anything still buffered first.
    pub async fn complete(&mut self) -> Result<(), NegotiationError> {
        poll_fn(|cx| self.poll_complete(cx)).await
    }

    pub(crate) async fn recv(&mut self) -> Result<Message, NegotiationError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    pub(crate) async fn flush_queued(&mut self) -> Result<(), NegotiationError> {
        poll_fn(|cx| self.poll_drain(cx)).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Reads more bytes into `read_buf`; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let len = self.read_buf.len();
        self.read_buf.resize(len + READ_CHUNK, 0);
        let mut buf = ReadBuf::new(&mut self.read_buf[len..]);
        let result = Pin::new(&mut self.io).poll_read(cx, &mut buf);
        let filled = match result {
            Poll::Ready(Ok(())) => buf.filled().len(),
            _ => 0,
        };
        self.read_buf.truncate(len + filled);
        ready!(result)?;
        Poll::Ready(Ok(filled))
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, NegotiationError>> {
        loop {
            if let Some(text) = decode_line(&mut self.read_buf)? {
                return Poll::Ready(Ok(Message::decode(text)));
            }
            if ready!(self.poll_fill(cx))? == 0 {
                return Poll::Ready(Err(NegotiationError::UnexpectedEof));
            }
        }
    }

    /// Writes out `write_buf`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.write_buf.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.write_buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.write_buf.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), NegotiationError>> {
        loop {
            match &mut self.state {
                State::Completed => return Poll::Ready(Ok(())),
                State::Failed => {
                    return Poll::Ready(Err(NegotiationError::Io(io::Error::other(
                        "protocol negotiation failed earlier",
                    ))));
                }
                State::Expecting { .. } if !self.write_buf.is_empty() => {
                    // The listener answers only once it has our proposal.
                    ready!(self.poll_drain(cx))?;
                    ready!(Pin::new(&mut self.io).poll_flush(cx))?;
                }
                State::Expecting { .. } => {
                    let msg = match ready!(self.poll_recv(cx)) {
                        Ok(msg) => msg,
                        Err(e) => {
                            self.state = State::Failed;
                            return Poll::Ready(Err(e));
                        }
                    };
                    if let Err(e) = self.on_confirmation(msg) {
                        self.state = State::Failed;
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
    }

    fn on_confirmation(&mut self, msg: Message) -> Result<(), NegotiationError> {
        let State::Expecting {
            protocol,
            header_seen,
        } = &mut self.state
        else {
            return Ok(());
        };
        match (*header_seen, msg) {
            (false, Message::Header) => *header_seen = true,
            (false, other) => return Err(NegotiationError::InvalidHeader(other.describe())),
            (true, Message::Protocol(p)) if p == protocol.as_str().as_bytes() => {
                tracing::trace!(%protocol, "lazy negotiation confirmed");
                self.state = State::Completed;
            }
            (true, Message::NotAvailable) => return Err(NegotiationError::ProtocolNotSupported),
            (true, other) => return Err(NegotiationError::UnexpectedMessage(other.describe())),
        }
        Ok(())
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncRead for Negotiated<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_complete(cx)).map_err(io::Error::from)?;
        if !this.read_buf.is_empty() {
            let n = this.read_buf.len().min(buf.remaining());
            buf.put_slice(&this.read_buf[..n]);
            this.read_buf.advance(n);
            if this.read_buf.is_empty() {
                this.read_buf = BytesMut::new(); // give the memory back
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Negotiated<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.write_buf.is_empty() {
            if this.write_buf.len() < COALESCE_LIMIT {
                // Ride along with the proposal: one write for both.
                let n = data.len().min(COALESCE_LIMIT - this.write_buf.len());
                this.write_buf.extend_from_slice(&data[..n]);
                if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(n));
            }
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
