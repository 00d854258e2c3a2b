//! [`RlpxStream`]: the handshake and the frame codec over a tokio byte stream.

use std::{io, time::Duration};

use bytes::BytesMut;
use k256::SecretKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{
    FrameCodec, FrameError, HandshakeError, Initiator, NodeId, Recipient,
    handshake::{Message, message_len},
};

/// How long a handshake (auth and ack) may take, as go-ethereum allows.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an RLPx connection failed.
#[derive(Debug, thiserror::Error)]
pub enum RlpxError {
    /// The byte stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The handshake was refused.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// A frame was refused; the session is over.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("handshake timed out")]
    Timeout,
    /// The remote closed the stream (between frames).
    #[error("connection closed")]
    Closed,
}

/// An RLPx session over `Io`: whole frames in and out.
pub struct RlpxStream<Io> {
    io: Io,
    codec: FrameCodec,
    remote_id: NodeId,
    read_buf: BytesMut,
    write_buf: BytesMut,
}

impl<Io> std::fmt::Debug for RlpxStream<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RlpxStream")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> RlpxStream<Io> {
    /// Opens a session to `remote` over `io` (we sent the connection): auth, ack.
    pub async fn connect(mut io: Io, key: SecretKey, remote: NodeId) -> Result<Self, RlpxError> {
        let mut initiator = Initiator::new(key, remote)?;
        let exchange = async {
            io.write_all(&initiator.auth()).await?;
            io.flush().await?;
            let ack = read_message(&mut io, Message::Ack).await?;
            let (_, secrets) = initiator.read_ack(&ack)?;
            Ok::<_, RlpxError>(secrets)
        };
        let secrets = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
            .await
            .map_err(|_| RlpxError::Timeout)??;
        Ok(Self::new(io, &secrets))
    }

    /// Accepts a session over `io` (the remote opened the connection): auth, ack.
    pub async fn accept(mut io: Io, key: SecretKey) -> Result<Self, RlpxError> {
        let recipient = Recipient::new(key);
        let exchange = async {
            let auth = read_message(&mut io, Message::Auth).await?;
            let read = recipient.read_auth(&auth)?;
            let (ack, secrets) = recipient.ack(&auth, &read)?;
            io.write_all(&ack).await?;
            io.flush().await?;
            Ok::<_, RlpxError>(secrets)
        };
        let secrets = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
            .await
            .map_err(|_| RlpxError::Timeout)??;
        Ok(Self::new(io, &secrets))
    }

    fn new(io: Io, secrets: &crate::Secrets) -> Self {
        RlpxStream {
            io,
            codec: FrameCodec::new(secrets),
            remote_id: secrets.remote_id,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
        }
    }

    /// Refuses frames larger than `max` bytes (default: the largest a header holds).
    pub fn with_max_frame(mut self, max: usize) -> Self {
        self.codec = self.codec.with_max_frame(max);
        self
    }

    /// The remote's node id, as the handshake proved it.
    pub fn remote_id(&self) -> NodeId {
        self.remote_id
    }

    /// Sends one frame carrying `data` and flushes.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), RlpxError> {
        self.write_buf.clear();
        self.codec.encode(data, &mut self.write_buf)?;
        self.io.write_all(&self.write_buf).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Receives the next frame's data.
    pub async fn recv(&mut self) -> Result<BytesMut, RlpxError> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.read_buf)? {
                return Ok(frame);
            }
            self.read_buf.reserve(4096);
            if self.io.read_buf(&mut self.read_buf).await? == 0 {
                return Err(if self.read_buf.is_empty() {
                    RlpxError::Closed
                } else {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a frame").into()
                });
            }
        }
    }

    /// The parts, for a session that reads and writes from different tasks: the byte
    /// stream, the two halves of the codec and what was read past the last frame.
    pub fn into_parts(self) -> (Io, crate::FrameEncoder, crate::FrameDecoder, BytesMut) {
        let (encoder, decoder) = self.codec.split();
        (self.io, encoder, decoder, self.read_buf)
    }

    /// Shuts the write side down.
    pub async fn shutdown(&mut self) -> Result<(), RlpxError> {
        self.io.shutdown().await?;
        Ok(())
    }
}

/// Reads one whole handshake message, its length known from its first two bytes.
async fn read_message<Io: AsyncRead + Unpin>(
    io: &mut Io,
    kind: Message,
) -> Result<Vec<u8>, RlpxError> {
    let mut prefix = [0u8; 2];
    io.read_exact(&mut prefix).await?;
    let len = message_len(prefix, kind)?;
    let mut msg = vec![0u8; len];
    msg[..2].copy_from_slice(&prefix);
    io.read_exact(&mut msg[2..]).await?;
    Ok(msg)
}
