use std::io;

use mycel_core::framing::FramingError;
use thiserror::Error;

/// What went wrong negotiating a protocol.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The stream ended before negotiation finished.
    #[error("stream closed during negotiation")]
    UnexpectedEof,
    /// A message's length prefix is larger than [`crate::MAX_MESSAGE_LEN`].
    #[error("message of {0} bytes exceeds the maximum of {max}", max = crate::MAX_MESSAGE_LEN)]
    MessageTooLarge(u64),
    /// A message is malformed: a bad length varint, or no trailing newline.
    #[error("malformed message: {0}")]
    InvalidMessage(&'static str),
    /// The first message was not `/multistream/1.0.0`.
    #[error("expected multistream header, got {0:?}")]
    InvalidHeader(String),
    /// A message that makes no sense at this point of the negotiation.
    #[error("unexpected message {0:?}")]
    UnexpectedMessage(String),
    /// The remote refused every protocol we proposed.
    #[error("remote supports none of the proposed protocols")]
    ProtocolNotSupported,
    /// The remote sent more proposals than [`crate::MAX_PROPOSALS`].
    #[error("more than {max} proposals", max = crate::MAX_PROPOSALS)]
    TooManyProposals,
}

impl From<FramingError> for NegotiationError {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => NegotiationError::Io(e),
            FramingError::Closed | FramingError::Truncated => NegotiationError::UnexpectedEof,
            FramingError::TooLarge { len, .. } => NegotiationError::MessageTooLarge(len),
            FramingError::VarintOverflow => {
                NegotiationError::InvalidMessage("length varint overflow")
            }
            FramingError::VarintNotMinimal => {
                NegotiationError::InvalidMessage("length varint not minimal")
            }
            _ => NegotiationError::InvalidMessage("bad framing"),
        }
    }
}

impl From<NegotiationError> for io::Error {
    fn from(e: NegotiationError) -> Self {
        match e {
            NegotiationError::Io(e) => e,
            NegotiationError::UnexpectedEof => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
