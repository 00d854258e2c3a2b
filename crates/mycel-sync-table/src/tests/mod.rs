//! Tests of the sync table state machine and its wire.

mod convergence;
mod state;
mod wire;

use std::time::Duration;

use bytes::Bytes;
use mycel_core::PeerId;

use super::*;

/// A peer id whose bytes are an identity multihash of `[n; 4]`, so that ids order as
/// their `n` does.
fn peer(n: u8) -> PeerId {
    PeerId::from_bytes(&[0, 4, n, n, n, n]).unwrap()
}

fn update(key: &str, value: Option<&str>, clock: u64, writer: PeerId) -> Update {
    Update {
        key: key.into(),
        entry: Entry {
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            clock,
            writer,
            time_ms: 1_000,
            lease: None,
        },
        seen_lease: None,
    }
}

fn entries(state: &SyncTableState) -> Vec<(String, Entry)> {
    state
        .entries()
        .map(|(k, e)| (k.to_owned(), e.clone()))
        .collect()
}

/// Applies `updates` in order to a fresh replica owned by `local`.
fn replica_of(local: PeerId, updates: &[Update]) -> SyncTableState {
    let mut state = SyncTableState::new(local);
    for u in updates {
        state.apply(u.clone(), u.entry.writer);
    }
    state
}

const MINUTE: Duration = Duration::from_secs(60);
