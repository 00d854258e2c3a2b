//! The sync table: a key-value map replicated over a pubsub topic, last writer wins by
//! (lamport clock, peer id), with leases (a key owned by one peer for a time) and
//! catch-up of a new member from a peer's snapshot.
//!
//! [`SyncTableState`] is the whole logic as a state machine (time passed in, no IO);
//! the wire is proto/sync_table.proto ([`encode_update`], [`decode_update`] and the
//! snapshot request and response). [`SyncTable`] runs it on a [`mycel_pubsub::Pubsub`] node:
//! updates travel on the topic `/mycel/sync-table/<name>`, and a member serves its
//! snapshot to others on [`SYNC_TABLE_PROTOCOL`] (one length-prefixed request and
//! response per stream, one page of at most [`MAX_SNAPSHOT_PAGE_SIZE`] each).
//!
//! The rules (order, validity, leases, convergence and its limits) are documented on
//! [`SyncTableState`].

mod error;
mod snapshot;
mod state;
mod table;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use mycel_core::ProtocolId;

pub use self::{
    error::SyncTableError,
    state::{
        ApplyOutcome, Entry, IgnoreReason, Lease, MergeReport, SnapshotPage, SyncTableState, Update,
    },
    table::SyncTable,
    wire::{
        SnapshotRequest, decode_snapshot_request, decode_snapshot_response, decode_update,
        encode_snapshot_request, encode_snapshot_response, encode_update,
    },
};

/// Protocol id of the snapshot exchange: one length-prefixed `SnapshotRequest` and one
/// `SnapshotResponse` per stream.
pub const SYNC_TABLE_PROTOCOL: ProtocolId = ProtocolId::from_static("/mycel/sync-table/1.0.0");

/// The pubsub topic of table `name` is this prefix followed by the name.
pub const SYNC_TABLE_TOPIC_PREFIX: &str = "/mycel/sync-table/";

/// Longest table name in bytes, so that a topic stays short next to the update it
/// carries.
pub const MAX_TABLE_NAME_LEN: usize = 128;

/// Keys one replica holds, tombstones included; updates to further keys are refused.
pub const MAX_TABLE_KEYS: usize = 100_000;

/// Longest key in bytes.
pub const MAX_TABLE_KEY_LEN: usize = 256;

/// Largest value: 62 KiB, so that an update (at most [`MAX_TABLE_UPDATE_SIZE`]), signed and
/// wrapped in a pubsub message and RPC with the longest table topic, stays under
/// rust-libp2p gossipsub's default 64 KiB RPC limit (`max_transmit_size`).
pub const MAX_TABLE_VALUE_SIZE: usize = 62 * 1024;

/// Largest encoded update: the largest value plus 1 KiB for the key (256 bytes), two
/// leases and the other fields (under 500 bytes together).
pub const MAX_TABLE_UPDATE_SIZE: usize = MAX_TABLE_VALUE_SIZE + 1024;

/// Longest lease. Holders that need longer renew (re-acquire) before expiry.
pub const MAX_LEASE_DURATION: Duration = Duration::from_secs(10 * 60);

/// How long a tombstone is kept after its write (see [`SyncTableState`] for what
/// forgetting it means). An hour covers any pubsub delivery delay and a catch-up of a
/// member that joined while the delete spread, and bounds how long deleted keys count
/// against [`MAX_TABLE_KEYS`].
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60 * 60);

/// Largest snapshot request: a table name, a cursor key and their tags and lengths.
pub const MAX_SNAPSHOT_REQUEST_SIZE: usize = MAX_TABLE_NAME_LEN + MAX_TABLE_KEY_LEN + 16;

/// Largest snapshot response (one page): 1 MiB, at least sixteen of the largest entries.
pub const MAX_SNAPSHOT_PAGE_SIZE: usize = 1024 * 1024;

/// Most entries in one snapshot page. An entry of a few bytes on the wire costs a few
/// hundred in memory once decoded; this bounds a page of tiny entries to about 1 MiB.
pub const MAX_SNAPSHOT_PAGE_ENTRIES: usize = 4096;
