use std::io;

use thiserror::Error;

/// Why a yamux connection or stream failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum YamuxError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A frame header with a version other than 0.
    #[error("unsupported yamux version {0}")]
    InvalidVersion(u8),
    /// A frame header with an unknown type.
    #[error("unknown frame type {0}")]
    InvalidFrameType(u8),
    /// The remote sent more data than the window it was given.
    #[error("stream {0} exceeded its receive window")]
    WindowViolation(u32),
    /// A frame for a stream that never existed, or a stream frame on id 0.
    #[error("frame for unknown stream {0}")]
    UnknownStream(u32),
    /// A SYN for a stream id that is in use or has our parity.
    #[error("invalid stream open for id {0}")]
    InvalidSyn(u32),
    /// A window update that would overflow the window.
    #[error("window overflow on stream {0}")]
    WindowOverflow(u32),
    /// The remote ended the session with a go-away error code.
    #[error("remote ended the session with code {0}")]
    RemoteGoAway(u32),
    /// Keep-alive pings went unanswered.
    #[error("keep-alive timed out")]
    KeepAliveTimeout,
    /// Stream ids ran out (2^31 streams in one direction).
    #[error("stream ids exhausted")]
    StreamIdsExhausted,
    /// Too many open streams (ours or in total).
    #[error("too many streams")]
    TooManyStreams,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

impl YamuxError {
    /// The go-away code this error sends to the remote.
    pub(crate) fn go_away_code(&self) -> u32 {
        match self {
            YamuxError::Io(_) | YamuxError::KeepAliveTimeout | YamuxError::StreamIdsExhausted => {
                crate::frame::GO_AWAY_INTERNAL_ERROR
            }
            YamuxError::Closed | YamuxError::RemoteGoAway(_) | YamuxError::TooManyStreams => {
                crate::frame::GO_AWAY_NORMAL
            }
            _ => crate::frame::GO_AWAY_PROTOCOL_ERROR,
        }
    }
}
