//! What the DHT stores: value records and provider records.

use std::time::Instant;

use bytes::Bytes;
use mycel_core::{Multiaddr, PeerId};

/// A value stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key; a namespace prefix such as `/pk/` picks its validator.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// Who first put it, when known (the local node for its own records). Not on the wire.
    pub publisher: Option<PeerId>,
    /// When it stops being served. Not on the wire: a receiver sets its own.
    pub expires: Option<Instant>,
}

impl Record {
    /// A record with no publisher and no expiry.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Record {
            key: key.into(),
            value: value.into(),
            publisher: None,
            expires: None,
        }
    }

    /// Whether the record has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|t| now >= t)
    }
}

/// A peer announcing that it provides the content named by a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    /// The key (usually a CID's bytes).
    pub key: Bytes,
    /// The provider.
    pub provider: PeerId,
    /// Where the provider said it can be reached.
    pub addrs: Vec<Multiaddr>,
    /// When the announcement lapses unless renewed.
    pub expires: Instant,
}

impl ProviderRecord {
    /// Whether the record has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires
    }
}
