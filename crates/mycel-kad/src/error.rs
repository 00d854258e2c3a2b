//! Errors of the Kademlia protocol and its queries.

use std::{io, time::Duration};

use mycel_core::{NetworkError, framing::FramingError};
use thiserror::Error;

use crate::{StoreError, ValidationError};

/// What went wrong speaking to a peer or running a query.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KadError {
    /// The stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A message's length prefix is larger than the configured maximum.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended inside a message, or a length prefix was malformed.
    #[error("malformed framing: {0}")]
    Framing(String),
    /// The protobuf did not decode, or a required field is missing or invalid.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The peer answered with a message of another type than the request's.
    #[error("expected a {expected} response, got {got}")]
    UnexpectedResponse {
        /// The request's type.
        expected: &'static str,
        /// What came back.
        got: String,
    },
    /// The peer closed the stream instead of answering.
    #[error("the peer closed the stream without answering")]
    NoResponse,
    /// Opening the stream failed (not connected, the peer refused the protocol, ...).
    #[error("network: {0}")]
    Network(#[from] NetworkError),
    /// The request or query took longer than its limit.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A record failed validation.
    #[error("invalid record: {0}")]
    InvalidRecord(#[from] ValidationError),
    /// The local store refused a record.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The routing table has no peer to start a query from.
    #[error("no known peers to query; add a bootstrap peer first")]
    NoKnownPeers,
    /// A get query found no record.
    #[error("no record found")]
    NotFound,
    /// Fewer peers than the quorum accepted a put.
    #[error("quorum not reached: {stored} of {quorum} peers stored the record")]
    QuorumFailed {
        /// Peers that stored it.
        stored: usize,
        /// Peers required.
        quorum: usize,
    },
    /// Fewer peers than the quorum returned a record.
    #[error("quorum not reached: {found} of {quorum} peers returned the record")]
    GetQuorumFailed {
        /// Records found.
        found: usize,
        /// Records required.
        quorum: usize,
    },
    /// The DHT was shut down.
    #[error("the DHT is closed")]
    Closed,
}

impl From<FramingError> for KadError {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => KadError::Io(e),
            FramingError::TooLarge { len, max } => KadError::MessageTooLarge { len, max },
            e => KadError::Framing(e.to_string()),
        }
    }
}
