//! The snapshot exchange on [`SYNC_TABLE_PROTOCOL`]: one length-prefixed request and one
//! response per stream, both under a deadline and a size cap.
//!
//! One stream handler serves every table joined on a network: a [`Registration`] adds a
//! table to it and, dropped, removes it (and the handler with the last table).

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak},
    time::Duration,
};

use bytes::Bytes;
use mycel_core::{
    NegotiatedStream, Network, PeerId,
    framing::{read_length_prefixed, write_length_prefixed},
    stream_handler,
};
use tokio::{io::AsyncWriteExt, sync::Semaphore};
use tracing::debug;

use super::{
    MAX_SNAPSHOT_PAGE_ENTRIES, MAX_SNAPSHOT_PAGE_SIZE, MAX_SNAPSHOT_REQUEST_SIZE,
    SYNC_TABLE_PROTOCOL, SnapshotPage, SnapshotRequest, SyncTableError, SyncTableState,
    decode_snapshot_request, decode_snapshot_response, encode_snapshot_request,
    encode_snapshot_response,
};

/// Time allowed for one snapshot exchange (opening the stream, request, response).
pub(crate) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// Snapshot requests one network answers at once (each may hold a 1 MiB page); further
/// streams are closed unanswered.
const MAX_CONCURRENT_SNAPSHOT_REQUESTS: usize = 8;

/// A table's state, shared by its handle, its task and the snapshot server.
pub(crate) type SharedState = Arc<Mutex<SyncTableState>>;

/// Locks a table's state; a panic elsewhere while holding it leaves a state that is still
/// consistent (every method finishes its change before returning), so poison is ignored.
pub(crate) fn lock(state: &Mutex<SyncTableState>) -> MutexGuard<'_, SyncTableState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tables each host serves, by the host's peer id (every `Network` handle of one
/// host shares its stream handlers, so they share one entry).
struct Served {
    tables: HashMap<String, Weak<Mutex<SyncTableState>>>,
    permits: Arc<Semaphore>,
}

static SERVED: LazyLock<Mutex<HashMap<PeerId, Served>>> = LazyLock::new(Default::default);

fn served() -> MutexGuard<'static, HashMap<PeerId, Served>> {
    SERVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A table served on a network until dropped.
pub(crate) struct Registration {
    network: Arc<dyn Network>,
    name: String,
}

impl Registration {
    /// Serves `state` as table `name` on `network`.
    pub(crate) fn new(
        network: Arc<dyn Network>,
        name: &str,
        state: &SharedState,
    ) -> Result<Registration, SyncTableError> {
        let key = network.local_peer_id();
        let mut served = served();
        let entry = served.entry(key).or_insert_with(|| Served {
            tables: HashMap::new(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_SNAPSHOT_REQUESTS)),
        });
        if entry.tables.is_empty() {
            network.set_stream_handler(
                SYNC_TABLE_PROTOCOL,
                stream_handler(move |stream| serve(key, stream)),
            );
        }
        if entry.tables.contains_key(name) {
            return Err(SyncTableError::AlreadyJoined(name.to_owned()));
        }
        entry.tables.insert(name.to_owned(), Arc::downgrade(state));
        Ok(Registration {
            network,
            name: name.to_owned(),
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let key = self.network.local_peer_id();
        let mut served = served();
        let Some(entry) = served.get_mut(&key) else {
            return;
        };
        entry.tables.remove(&self.name);
        if entry.tables.is_empty() {
            served.remove(&key);
            self.network.remove_stream_handler(&SYNC_TABLE_PROTOCOL);
        }
    }
}

/// Answers one snapshot request on an inbound stream.
async fn serve(key: PeerId, mut stream: NegotiatedStream) {
    let permit = served()
        .get(&key)
        .and_then(|s| s.permits.clone().try_acquire_owned().ok());
    let Some(_permit) = permit else {
        debug!(peer = %stream.peer, "snapshot request refused: too many at once");
        return;
    };
    let peer = stream.peer;
    let answer = async {
        let bytes = read_length_prefixed(&mut stream.io, MAX_SNAPSHOT_REQUEST_SIZE).await?;
        let request = decode_snapshot_request(Bytes::from(bytes))?;
        let state = served()
            .get(&key)
            .and_then(|s| s.tables.get(&request.table))
            .and_then(Weak::upgrade);
        // An unknown table has no entries.
        let page = state
            .map(|state| {
                lock(&state).snapshot_page(
                    request.start_after.as_deref(),
                    MAX_SNAPSHOT_PAGE_SIZE,
                    MAX_SNAPSHOT_PAGE_ENTRIES,
                )
            })
            .unwrap_or_default();
        let response = encode_snapshot_response(&page);
        drop(page);
        write_length_prefixed(&mut stream.io, &response).await?;
        stream.io.flush().await?;
        stream.io.shutdown().await?;
        Ok::<_, SyncTableError>(())
    };
    match tokio::time::timeout(SNAPSHOT_TIMEOUT, answer).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(%peer, "snapshot request failed: {e}"),
        Err(_) => debug!(%peer, "snapshot request timed out"),
    }
}

/// Asks `peer` for the entries of table `table` after `start_after`, and checks that the
/// page's keys strictly increase from the cursor.
pub(crate) async fn fetch_page(
    network: &Arc<dyn Network>,
    peer: PeerId,
    table: &str,
    start_after: Option<&str>,
) -> Result<SnapshotPage, SyncTableError> {
    let exchange = async {
        let mut stream = network
            .new_stream(peer, std::slice::from_ref(&SYNC_TABLE_PROTOCOL))
            .await?;
        let request = SnapshotRequest {
            table: table.to_owned(),
            start_after: start_after.map(str::to_owned),
        };
        write_length_prefixed(&mut stream.io, &encode_snapshot_request(&request)).await?;
        stream.io.flush().await?;
        let bytes = read_length_prefixed(&mut stream.io, MAX_SNAPSHOT_PAGE_SIZE).await?;
        let _ = stream.io.shutdown().await;
        decode_snapshot_response(Bytes::from(bytes))
    };
    let page = tokio::time::timeout(SNAPSHOT_TIMEOUT, exchange)
        .await
        .map_err(|_| SyncTableError::Timeout(SNAPSHOT_TIMEOUT))??;
    let mut previous = start_after;
    for update in &page.entries {
        if previous.is_some_and(|p| p >= update.key.as_str()) {
            return Err(SyncTableError::InvalidSnapshotPage);
        }
        previous = Some(&update.key);
    }
    if page.more && page.entries.is_empty() {
        return Err(SyncTableError::InvalidSnapshotPage);
    }
    Ok(page)
}
