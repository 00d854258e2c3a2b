use std::io;

use thiserror::Error;

/// Why an mplex connection failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MplexError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A header or length varint is malformed or longer than 9 bytes.
    #[error("malformed varint")]
    InvalidVarint,
    /// A message body over 1 MiB.
    #[error("message of {0} bytes exceeds 1 MiB")]
    MessageTooLarge(u64),
    /// The flag 7, which the spec does not define.
    #[error("unknown flag {0}")]
    InvalidFlag(u8),
    /// A NewStream for a stream id the remote already uses.
    #[error("stream {0} opened twice")]
    DuplicateStream(u64),
    /// Stream ids ran out.
    #[error("stream ids exhausted")]
    StreamIdsExhausted,
    /// Too many open streams.
    #[error("too many streams")]
    TooManyStreams,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}
