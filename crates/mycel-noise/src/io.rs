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
//!
//! The receive buffer starts small and grows to full size only when a frame needs it;
//! the send buffer is taken when there is something to send and given back once it is
//! flushed. An idle connection, or one that only carries small messages, holds a few KiB
//! instead of 192 KiB.

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
/// The size both buffers start at; they grow to full size when a larger frame comes or
/// goes.
const SMALL_BUF_LEN: usize = 4096;
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
    /// Raw bytes from the socket; `rbuf[rstart..rend]` is not yet processed. Either
    /// [`SMALL_BUF_LEN`] or [`RECV_BUF_LEN`] long.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Decrypted bytes in `rbuf` not yet handed to the reader.
    plain: Range<usize>,
    /// A frame under construction: length prefix, then plaintext (`wlen` bytes); the
    /// tag is appended when it is sealed. Empty (no allocation) when nothing is
    /// buffered; its capacity is [`SMALL_BUF_LEN`] or [`MAX_WIRE_FRAME`].
    wbuf: Vec<u8>,
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
            rbuf: vec![0u8; SMALL_BUF_LEN],
            rstart: 0,
            rend: 0,
            plain: 0..0,
            wbuf: Vec::new(),
            wlen: 0,
            wout: 0..0,
        }
    }

    /// Bytes held in buffers (for tests of the memory a connection costs).
    #[cfg(test)]
    pub(crate) fn buffer_bytes(&self) -> usize {
        self.rbuf.len() + self.wbuf.capacity()
    }

    /// Seals the buffered plaintext into a frame ready to send.
    fn seal(&mut self) -> io::Result<()> {
        let end = LEN_PREFIX + self.wlen + TAG_LEN;
        self.wbuf.resize(end, 0);
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
        if self.wout.is_empty() {
            return Poll::Ready(Ok(()));
        }
        while !self.wout.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wout.clone()]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wout.start += n;
        }
        self.wbuf.clear();
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
                    if self.rbuf.len() < LEN_PREFIX + len {
                        self.rbuf.resize(RECV_BUF_LEN, 0);
                    }
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
            // Bytes the frame being read takes in `rbuf`, as far as known.
            let mut frame_len = LEN_PREFIX;
            if available >= LEN_PREFIX {
                let at = this.rstart;
                let len = usize::from(u16::from_be_bytes([this.rbuf[at], this.rbuf[at + 1]]));
                frame_len = LEN_PREFIX + len;
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
            // Need more bytes. Make sure the frame being read fits after `rstart`.
            if this.rstart == this.rend {
                this.rstart = 0;
                this.rend = 0;
            } else if this.rbuf.len() - this.rstart < frame_len {
                this.rbuf.copy_within(this.rstart..this.rend, 0);
                this.rend -= this.rstart;
                this.rstart = 0;
            }
            if this.rbuf.len() < frame_len {
                this.rbuf.resize(RECV_BUF_LEN, 0);
            }
            let limit = if buf.remaining() >= MAX_FRAME_LEN && this.rstart == this.rend {
                (this.rend + DIRECT_READ_AHEAD).min(this.rbuf.len())
            } else {
                this.rbuf.len()
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
            if this.rend == this.rbuf.len() && this.rbuf.len() < RECV_BUF_LEN {
                // The read filled the small buffer: more is waiting, so take it in larger
                // reads from now on.
                this.rbuf.resize(RECV_BUF_LEN, 0);
            }
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
        if this.wbuf.is_empty() {
            this.wbuf.extend_from_slice(&[0; LEN_PREFIX]);
        }
        let end = LEN_PREFIX + this.wlen + n + TAG_LEN;
        if this.wbuf.capacity() < end {
            let size = if end <= SMALL_BUF_LEN {
                SMALL_BUF_LEN
            } else {
                MAX_WIRE_FRAME
            };
            this.wbuf.reserve_exact(size - this.wbuf.len());
        }
        this.wbuf.extend_from_slice(&data[..n]);
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
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        // Everything is out: an idle connection holds no send buffer.
        this.wbuf = Vec::new();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::Config;

    async fn pair(pipe: usize) -> (NoiseOutput<DuplexStream>, NoiseOutput<DuplexStream>) {
        let (a, b) = tokio::io::duplex(pipe);
        let (dialer, listener) = (
            Config::new(Keypair::generate()),
            Config::new(Keypair::generate()),
        );
        let (out, inb) = tokio::join!(
            dialer.upgrade_outbound(a, None),
            listener.upgrade_inbound(b)
        );
        (out.unwrap().0, inb.unwrap().0)
    }

    /// Sends `data` from `tx` while `rx` reads it back in reads of at most `read_len`.
    async fn transfer(
        tx: &mut NoiseOutput<DuplexStream>,
        rx: &mut NoiseOutput<DuplexStream>,
        data: &[u8],
        read_len: usize,
    ) -> Vec<u8> {
        let write = async {
            tx.write_all(data).await.unwrap();
            tx.flush().await.unwrap();
        };
        let read = async {
            let mut got = Vec::new();
            let mut buf = vec![0u8; read_len];
            while got.len() < data.len() {
                let n = rx.read(&mut buf).await.unwrap();
                assert!(n > 0, "stream ended early");
                got.extend_from_slice(&buf[..n]);
            }
            got
        };
        tokio::join!(write, read).1
    }

    #[tokio::test]
    async fn buffers_stay_small_until_a_large_frame_needs_them() {
        let (mut a, mut b) = pair(64 * 1024).await;
        // Idle: the receive buffer is small and there is no send buffer.
        assert_eq!(a.buffer_bytes(), SMALL_BUF_LEN);
        assert_eq!(b.buffer_bytes(), SMALL_BUF_LEN);

        // Small messages both ways, read with small and large buffers: no growth.
        for round in 0..50u32 {
            let msg = vec![round as u8; 1 + (round as usize * 37) % 2000];
            assert_eq!(transfer(&mut a, &mut b, &msg, 64).await, msg);
            assert_eq!(transfer(&mut b, &mut a, &msg, 256 * 1024).await, msg);
        }
        assert_eq!(a.buffer_bytes(), SMALL_BUF_LEN);
        assert_eq!(b.buffer_bytes(), SMALL_BUF_LEN);

        // A bulk transfer read in small pieces: the receive buffer grows to full size;
        // the send buffer is given back once flushed.
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(transfer(&mut a, &mut b, &data, 1000).await, data);
        assert_eq!(b.rbuf.len(), RECV_BUF_LEN);
        assert_eq!(a.wbuf.capacity(), 0);
    }

    #[tokio::test]
    async fn the_send_buffer_is_sized_by_what_waits_and_given_back_on_flush() {
        let (mut a, mut b) = pair(64 * 1024).await;
        assert_eq!(a.write(&[1; 10]).await.unwrap(), 10);
        assert_eq!(a.wbuf.capacity(), SMALL_BUF_LEN);
        assert_eq!(a.write(&[2; 10_000]).await.unwrap(), 10_000);
        assert_eq!(a.wbuf.capacity(), MAX_WIRE_FRAME);
        a.flush().await.unwrap();
        assert_eq!(a.wbuf.capacity(), 0);
        let mut got = vec![0u8; 10_010];
        b.read_exact(&mut got).await.unwrap();
        assert!(got[..10].iter().all(|&x| x == 1) && got[10..].iter().all(|&x| x == 2));
    }

    #[tokio::test]
    async fn a_backlog_of_small_frames_grows_the_receive_buffer() {
        let (mut a, mut b) = pair(64 * 1024).await;
        let mut sent = Vec::new();
        for i in 0..20u8 {
            let msg = vec![i; 1000];
            a.write_all(&msg).await.unwrap();
            a.flush().await.unwrap();
            sent.extend_from_slice(&msg);
        }
        assert_eq!(b.rbuf.len(), SMALL_BUF_LEN);
        let mut got = vec![0u8; sent.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, sent);
        assert_eq!(b.rbuf.len(), RECV_BUF_LEN, "a read filled the small buffer");
    }

    #[tokio::test]
    async fn a_large_frame_read_directly_through_a_narrow_pipe_arrives_whole() {
        // The pipe holds less than a frame: direct reads stop half way and park the
        // partial frame in the (then grown) receive buffer.
        let (mut a, mut b) = pair(1000).await;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        assert_eq!(transfer(&mut a, &mut b, &data, 128 * 1024).await, data);
        assert_eq!(b.rbuf.len(), RECV_BUF_LEN);
        // And back to small reads of what follows.
        assert_eq!(transfer(&mut a, &mut b, &data, 777).await, data);
    }
}
