use std::{io, time::Duration};

use mycel_core::NetworkError;
use thiserror::Error;

use crate::protocol::HEADER_LEN;

/// What went wrong in a perf run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PerfError {
    /// The stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The stream ended before the whole big-endian `u64` request arrived (server).
    #[error("stream ended after {received} of the {HEADER_LEN} bytes of the request")]
    TruncatedHeader {
        /// Bytes of the request that arrived.
        received: usize,
    },
    /// The response ended before the requested number of bytes (client).
    #[error("response ended after {received} of {expected} bytes")]
    ResponseTooShort {
        /// Bytes asked for.
        expected: u64,
        /// Bytes received before the end of the stream.
        received: u64,
    },
    /// The response went on past the requested number of bytes (client). The client
    /// stops reading at the first read that passes the count.
    #[error("response longer than the {expected} bytes asked for")]
    ResponseTooLong {
        /// Bytes asked for.
        expected: u64,
    },
    /// The stream made no progress within this time (server).
    #[error("no progress for {0:?}")]
    Timeout(Duration),
    /// The stream could not be opened.
    #[error("network: {0}")]
    Network(#[from] NetworkError),
}
