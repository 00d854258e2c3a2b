//! [`NoiseOutput`]: the encrypted byte stream after the handshake.
//!
//! Wire format: `u16 big-endian length || ciphertext`, the ciphertext at most 65535 bytes
//! including the 16-byte tag, so at most 65519 bytes of plaintext per frame.
//!
//! Writing copies the application's bytes once, into the frame buffer; the frame is
//! sealed in place and leaves in one write. Reading has two paths: a caller whose buffer
//! holds a whole frame gets the ciphertext read straight into that buffer and opened
//! there (no copy of the payload at all); smaller reads are served from an internal
//! buffer that takes up to two frames per read call, each opened in place.

use std::{
    io,
    ops::Range,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{MAX_FRAME_LEN, MAX_PLAINTEXT_LEN, cipher::TAG_LEN, protocol::CipherState};

const LEN_PREFIX: usize = 2;
const MAX_WIRE_FRAME: usize = LEN_PREFIX + MAX_FRAME_LEN;
const RECV_BUF_LEN: usize = 2 * MAX_WIRE_FRAME;
/// Frames at least this long are read straight into a caller's buffer that fits them.
const DIRECT_READ_MIN: usize = 4096;
/// How much to read ahead when a large caller buffer may take the next frame directly:
/// enough for several small frames, little to copy for a large one.
const DIRECT_READ_AHEAD: usize = 4096;

/// An encrypted, authenticated byte stream.
///
/// `poll_flush` seals whatever is buffered into a frame and sends it; writes of 65519
/// bytes or more leave as full frames without waiting for a flush. `poll_shutdown`
/// flushes, then shuts down the underlying write side.
pub struct NoiseOutput<Io> {
    io: Io,
    send: CipherState,
    recv: CipherState,
    /// Raw bytes from the socket; `rbuf[rstart..rend]` is not yet processed.
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    /// Decrypted bytes in `rbuf` not yet handed to the reader.
    plain: Range<usize>,
    /// A frame under construction: length prefix, then plaintext (`wlen` bytes), then
    /// room for the tag.
    wbuf: Box<[u8]>,
    wlen: usize,
    /// A sealed frame being written out: `wbuf[wout]`.
    wout: Range<usize>,
}

impl<Io> std::fmt::Debug for NoiseOutput<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseOutput").finish_non_exhaustive()
    }
}

impl<Io> NoiseOutput<Io> {
    pub(crate) fn new(io: Io, send: CipherState, recv: CipherState) -> Self {
        NoiseOutput {
            io,
            send,
            recv,
            rbuf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            plain: 0..0,
            wbuf: vec![0u8; MAX_WIRE_FRAME].into_boxed_slice(),
            wlen: 0,
            wout: 0..0,
        }
    }

    /// Seals the buffered plaintext into a frame ready to send.
    fn seal(&mut self) -> io::Result<()> {
        let end = LEN_PREFIX + self.wlen + TAG_LEN;
        self.send
            .encrypt_in_place(&[], &mut self.wbuf[LEN_PREFIX..end])?;
        let len = (self.wlen + TAG_LEN) as u16;
        self.wbuf[..LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
        self.wout = 0..end;
        self.wlen = 0;
        Ok(())
    }
}

impl<Io: AsyncWrite + Unpin> NoiseOutput<Io> {
    /// Writes out the sealed frame, if any.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wout.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wout.clone()]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wout.start += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<Io: AsyncRead + Unpin> NoiseOutput<Io> {
    /// Reads the rest of a `len`-byte frame, whose length prefix (and maybe some
    /// ciphertext) is in `rbuf`, straight into the caller's buffer and opens it there.
    fn poll_read_direct(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        len: usize,
    ) -> Poll<io::Result<()>> {
        let dst = &mut buf.initialize_unfilled_to(len)[..len];
        let mut filled = self.rend - self.rstart - LEN_PREFIX;
        dst[..filled].copy_from_slice(&self.rbuf[self.rstart + LEN_PREFIX..self.rend]);
        self.rstart = 0;
        self.rend = 0;
        while filled < len {
            let mut read = ReadBuf::new(&mut dst[filled..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a noise frame",
                    )));
                }
                Poll::Ready(Ok(())) => filled += read.filled().len(),
                other => {
                    // Pending, or an error the caller may retry after: the caller's
                    // buffer may differ next time, so keep what arrived.
                    self.rbuf[..LEN_PREFIX].copy_from_slice(&(len as u16).to_be_bytes());
                    self.rbuf[LEN_PREFIX..LEN_PREFIX + filled].copy_from_slice(&dst[..filled]);
                    self.rend = LEN_PREFIX + filled;
                    return other;
                }
            }
        }
        let n = self.recv.decrypt_in_place(&[], dst)?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for NoiseOutput<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.plain.is_empty() {
                let n = this.plain.len().min(buf.remaining());
                buf.put_slice(&this.rbuf[this.plain.start..this.plain.start + n]);
                this.plain.start += n;
                return Poll::Ready(Ok(()));
            }
            let available = this.rend - this.rstart;
            if available >= LEN_PREFIX {
                let at = this.rstart;
                let len = usize::from(u16::from_be_bytes([this.rbuf[at], this.rbuf[at + 1]]));
                if available >= LEN_PREFIX + len {
                    let frame = at + LEN_PREFIX..at + LEN_PREFIX + len;
                    let n = this
                        .recv
                        .decrypt_in_place(&[], &mut this.rbuf[frame.clone()])?;
                    this.plain = frame.start..frame.start + n;
                    this.rstart = frame.end;
                    continue;
                }
                if len >= DIRECT_READ_MIN && buf.remaining() >= len {
                    return this.poll_read_direct(cx, buf, len);
                }
            }
            // Need more bytes. Make sure a whole frame fits after `rstart`.
            if this.rstart == this.rend {
                this.rstart = 0;
                this.rend = 0;
            } else if RECV_BUF_LEN - this.rstart < MAX_WIRE_FRAME {
                this.rbuf.copy_within(this.rstart..this.rend, 0);
                this.rend -= this.rstart;
                this.rstart = 0;
            }
            let limit = if buf.remaining() >= MAX_FRAME_LEN && this.rstart == this.rend {
                this.rend + DIRECT_READ_AHEAD
            } else {
                RECV_BUF_LEN
            };
            let mut read = ReadBuf::new(&mut this.rbuf[this.rend..limit]);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            let n = read.filled().len();
            if n == 0 {
                if this.rstart == this.rend {
                    return Poll::Ready(Ok(())); // clean end of stream
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a noise frame",
                )));
            }
            this.rend += n;
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for NoiseOutput<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        let n = data.len().min(MAX_PLAINTEXT_LEN - this.wlen);
        let start = LEN_PREFIX + this.wlen;
        this.wbuf[start..start + n].copy_from_slice(&data[..n]);
        this.wlen += n;
        if this.wlen == MAX_PLAINTEXT_LEN {
            this.seal()?;
            // Start sending now; if the socket is full, the next call waits for it.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        if this.wlen > 0 {
            this.seal()?;
            ready!(this.poll_send(cx))?;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
