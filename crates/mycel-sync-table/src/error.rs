//! [`SyncTableError`]: what a sync table operation, or its wire, refused.

use std::{io, time::Duration};

use mycel_core::{NetworkError, PeerId, framing::FramingError};
use thiserror::Error;

use mycel_pubsub::PubsubError;

/// What went wrong in a sync table: a local operation refused, bytes from the wire that
/// are not a valid update or snapshot, or the network failing under catch-up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncTableError {
    /// Another peer holds an unexpired lease on the key.
    #[error("the key is leased by {owner} until {expires_ms} ms")]
    LeaseHeld {
        /// The lease holder.
        owner: PeerId,
        /// When its lease ends (unix ms).
        expires_ms: u64,
    },
    /// A lease release by a peer that does not hold an unexpired lease on the key.
    #[error("we hold no unexpired lease on the key")]
    NotLeaseHolder,
    /// A lease duration of zero or above [`super::MAX_LEASE_DURATION`].
    #[error("lease duration {0:?} is zero or above the maximum")]
    InvalidLeaseDuration(Duration),
    /// A key longer than [`super::MAX_TABLE_KEY_LEN`] bytes.
    #[error("key of {len} bytes exceeds the maximum of {max}")]
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value larger than [`super::MAX_TABLE_VALUE_SIZE`].
    #[error("value of {len} bytes exceeds the maximum of {max}")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The table holds [`super::MAX_TABLE_KEYS`] keys; a new key is refused.
    #[error("the table is full ({max} keys)")]
    TableFull {
        /// The limit.
        max: usize,
    },
    /// The lamport clock reached `u64::MAX`: no further local write can outrank it.
    #[error("lamport clock exhausted")]
    ClockExhausted,
    /// A table name longer than [`super::MAX_TABLE_NAME_LEN`] bytes, or empty.
    #[error("table name of {len} bytes is empty or exceeds the maximum of {max}")]
    InvalidTableName {
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// Encoded bytes (an update, a snapshot request or response) above their cap.
    #[error("{what} of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// What was being read: `"update"`, `"snapshot request"`, `"snapshot response"`.
        what: &'static str,
        /// The length seen.
        len: u64,
        /// The cap.
        max: usize,
    },
    /// A snapshot response listing more than [`super::MAX_SNAPSHOT_PAGE_ENTRIES`] entries.
    #[error("snapshot page of more than {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// Bytes that are not the expected protobuf (garbage, truncation, bad UTF-8).
    #[error("invalid protobuf: {0}")]
    InvalidProtobuf(String),
    /// A writer or lease owner that is not a peer id.
    #[error("invalid peer id in {0}")]
    InvalidPeerId(&'static str),
    /// A snapshot page whose keys do not strictly increase from the cursor, or that is
    /// empty while announcing more.
    #[error("snapshot page out of key order or empty while announcing more")]
    InvalidSnapshotPage,
    /// A table of this name is already joined on this network.
    #[error("table {0:?} is already joined on this network")]
    AlreadyJoined(String),

    /// The stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A length prefix was malformed or the stream ended inside a frame.
    #[error("framing: {0}")]
    Framing(String),
    /// Opening a stream failed.
    #[error("network: {0}")]
    Network(#[from] NetworkError),
    /// The pubsub service refused a subscription or publication.
    #[error("pubsub: {0}")]
    Pubsub(#[from] PubsubError),
    /// A snapshot exchange took longer than its deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl From<FramingError> for SyncTableError {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => SyncTableError::Io(e),
            FramingError::TooLarge { len, max } => SyncTableError::TooLarge {
                what: "frame",
                len,
                max,
            },
            e => SyncTableError::Framing(e.to_string()),
        }
    }
}
