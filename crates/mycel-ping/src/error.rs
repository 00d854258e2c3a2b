use std::{io, time::Duration};

use mycel_core::NetworkError;
use thiserror::Error;

use crate::PING_SIZE;

/// What went wrong with a ping.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PingError {
    /// The stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The echo is not the payload we sent.
    #[error("echoed payload differs from the one sent")]
    Mismatch,
    /// The stream ended inside a payload: the dialer got a short echo, or the listener a
    /// short ping.
    #[error("stream ended after {received} of {PING_SIZE} bytes")]
    UnexpectedEof {
        /// Bytes of the payload that arrived.
        received: usize,
    },
    /// No answer (dialer) or no next ping (listener) within this time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The stream could not be opened.
    #[error("network: {0}")]
    Network(#[from] NetworkError),
}
