use std::io;

use mycel_core::{KeyError, PeerId};
use thiserror::Error;

/// What went wrong in a Noise handshake or session.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A frame or handshake message failed authentication: tampered, or the wrong key.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A frame shorter than the 16-byte authentication tag.
    #[error("frame of {0} bytes is shorter than its authentication tag")]
    FrameTooShort(usize),
    /// A handshake message shorter than its keys.
    #[error("handshake message too short")]
    HandshakeMessageTooShort,
    /// A handshake step was taken out of order (a bug, not a remote's doing).
    #[error("handshake step out of order")]
    HandshakeOutOfOrder,
    /// The remote's DH key is a low-order point.
    #[error("remote sent a low-order Diffie-Hellman key")]
    InvalidDhKey,
    /// The handshake payload is not a valid protobuf.
    #[error("malformed handshake payload: {0}")]
    InvalidPayload(String),
    /// The handshake payload has no identity key or signature.
    #[error("handshake payload lacks {0}")]
    MissingIdentity(&'static str),
    /// The identity key cannot be decoded or cannot verify.
    #[error("remote identity key: {0}")]
    InvalidIdentityKey(#[from] KeyError),
    /// The identity signature over the static DH key does not verify.
    #[error("remote's signature over its static key is invalid")]
    BadSignature,
    /// The remote is not the peer we dialed.
    #[error("remote is {actual}, expected {expected}")]
    PeerIdMismatch {
        /// The peer we dialed.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// Both sides offered muxers in the handshake and none is common.
    #[error("no stream muxer in common: ours {ours:?}, theirs {theirs:?}")]
    NoCommonMuxer {
        /// What we offered.
        ours: Vec<String>,
        /// What the remote offered.
        theirs: Vec<String>,
    },
    /// 2^64 - 1 messages in one direction: the session must end.
    #[error("nonce space exhausted")]
    NonceExhausted,
}

impl From<NoiseError> for io::Error {
    fn from(e: NoiseError) -> Self {
        match e {
            NoiseError::Io(e) => e,
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
