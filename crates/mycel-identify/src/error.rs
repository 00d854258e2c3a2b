//! Errors of the identify protocol.

use std::{io, time::Duration};

use mycel_core::{KeyError, NetworkError, PeerId, framing::FramingError};
use thiserror::Error;

/// What went wrong identifying a peer or reading its update.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IdentifyError {
    /// The stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A message's length prefix is larger than [`crate::MAX_MESSAGE_SIZE`].
    #[error("message of {0} bytes exceeds the maximum of {max}", max = crate::MAX_MESSAGE_SIZE)]
    MessageTooLarge(u64),
    /// More than [`crate::MAX_MESSAGES`] messages on one stream.
    #[error("more than {max} messages on one stream", max = crate::MAX_MESSAGES)]
    TooManyMessages,
    /// The stream ended inside a message, or a length prefix was malformed.
    #[error("malformed framing: {0}")]
    Framing(String),
    /// The stream ended before any message.
    #[error("no identify message before the end of the stream")]
    Empty,
    /// The protobuf did not decode.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The answer to a request carried no public key.
    #[error("no public key in the identify message")]
    MissingPublicKey,
    /// The public key did not decode.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(#[from] KeyError),
    /// The public key belongs to another peer than the connection's.
    #[error("public key of {actual} on a connection to {expected}")]
    PeerMismatch {
        /// The connection's peer.
        expected: PeerId,
        /// The key's peer.
        actual: PeerId,
    },
    /// Opening the stream failed (not connected, the peer refused the protocol, ...).
    #[error("network: {0}")]
    Network(#[from] NetworkError),
    /// The exchange took longer than its limit.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl From<FramingError> for IdentifyError {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => IdentifyError::Io(e),
            FramingError::TooLarge { len, .. } => IdentifyError::MessageTooLarge(len),
            e => IdentifyError::Framing(e.to_string()),
        }
    }
}
