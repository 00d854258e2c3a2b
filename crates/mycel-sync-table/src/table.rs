//! [`SyncTable`]: the async shell that runs a [`SyncTableState`] on a [`Pubsub`] node.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::StreamExt;
use mycel_core::PeerId;
use tokio::task::JoinHandle;
use tracing::debug;

use super::{
    ApplyOutcome, Entry, MAX_TABLE_KEYS, MergeReport, SYNC_TABLE_TOPIC_PREFIX, SyncTableError,
    SyncTableState, Update, decode_update, encode_update,
    snapshot::{Registration, SharedState, fetch_page, lock},
    wire::check_table_name,
};
use mycel_pubsub::{Pubsub, Received, Subscription, TopicHash};

/// How often the background task forgets expired tombstones.
const TOMBSTONE_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A replicated table joined on a pubsub node: reads are local, writes apply locally and
/// are published on the table's topic, updates from other members are applied by a
/// background task, and [`catch_up_from`](Self::catch_up_from) fetches a member's
/// snapshot.
///
/// Cheap to clone; the background task and the snapshot service stop when the last
/// clone is dropped.
///
/// Updates are attributed to the author of the pubsub message that carries them, so the
/// node must stamp its messages with their author (the default, signed,
/// [`mycel_pubsub::SigningPolicy::StrictSign`]); messages without an author are ignored.
///
/// ```no_run
/// # async fn example(pubsub: mycel_pubsub::Pubsub, peer: mycel_core::PeerId)
/// # -> Result<(), mycel_sync_table::SyncTableError> {
/// use std::time::Duration;
///
/// use mycel_sync_table::SyncTable;
///
/// let table = SyncTable::join(pubsub, "services").await?;
/// table.catch_up_from(peer).await?;
/// table.set("web", &b"10.0.0.7:80"[..]).await?;
/// table.acquire_lease("leader", Duration::from_secs(30)).await?;
/// assert_eq!(table.get("web").as_deref(), Some(&b"10.0.0.7:80"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SyncTable {
    inner: Arc<Inner>,
}

struct Inner {
    pubsub: Pubsub,
    name: String,
    topic: TopicHash,
    state: SharedState,
    task: JoinHandle<()>,
    _registration: Registration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for SyncTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncTable")
            .field("name", &self.inner.name)
            .field("local", &self.inner.pubsub.local_peer_id())
            .finish_non_exhaustive()
    }
}

impl SyncTable {
    /// Joins table `name` (1 to [`super::MAX_TABLE_NAME_LEN`] bytes) on `pubsub`:
    /// subscribes to `/mycel/sync-table/<name>` and serves snapshots of the table on
    /// [`super::SYNC_TABLE_PROTOCOL`]. Starts empty; see
    /// [`catch_up_from`](Self::catch_up_from). Must be called inside a tokio runtime.
    pub async fn join(pubsub: Pubsub, name: &str) -> Result<SyncTable, SyncTableError> {
        check_table_name(name)?;
        let topic = TopicHash::from(format!("{SYNC_TABLE_TOPIC_PREFIX}{name}"));
        let state: SharedState = Arc::new(Mutex::new(SyncTableState::new(pubsub.local_peer_id())));
        let registration = Registration::new(pubsub.network().clone(), name, &state)?;
        let subscription = pubsub.subscribe(topic.clone()).await?;
        let task = tokio::spawn(run(subscription, state.clone()));
        Ok(SyncTable {
            inner: Arc::new(Inner {
                pubsub,
                name: name.to_owned(),
                topic,
                state,
                task,
                _registration: registration,
            }),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The pubsub topic its updates travel on.
    pub fn topic(&self) -> &TopicHash {
        &self.inner.topic
    }

    /// The value of `key`, unless it is absent or deleted.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        lock(&self.inner.state).get(key).cloned()
    }

    /// The entry of `key` (with its writer, clock and lease), tombstone or not.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        lock(&self.inner.state).entry(key).cloned()
    }

    /// Every key that has a value, with its entry, in key order.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        lock(&self.inner.state)
            .entries()
            .filter(|(_, e)| !e.is_tombstone())
            .map(|(k, e)| (k.to_owned(), e.clone()))
            .collect()
    }

    /// Sets `key` to `value` and publishes the write. Refused while another peer's lease
    /// on the key is active.
    ///
    /// A publication error leaves the write applied here: members that missed it get it
    /// when they next catch up from us.
    pub async fn set(
        &self,
        key: impl Into<String>,
        value: impl Into<Bytes>,
    ) -> Result<(), SyncTableError> {
        let update = lock(&self.inner.state).set(key, value, now_ms())?;
        self.publish(&update).await
    }

    /// Deletes `key` and publishes the tombstone. Refused while another peer's lease on
    /// the key is active.
    pub async fn delete(&self, key: impl Into<String>) -> Result<(), SyncTableError> {
        let update = lock(&self.inner.state).delete(key, now_ms())?;
        self.publish(&update).await
    }

    /// Takes (or renews) a lease on `key` for `duration` and publishes it; returns the
    /// key's new entry, whose `lease` is ours. Optimistic: see
    /// [`SyncTableState::acquire_lease`].
    pub async fn acquire_lease(
        &self,
        key: impl Into<String>,
        duration: Duration,
    ) -> Result<Entry, SyncTableError> {
        let update = lock(&self.inner.state).acquire_lease(key, duration, now_ms())?;
        self.publish(&update).await?;
        Ok(update.entry)
    }

    /// Gives up our active lease on `key` and publishes the release.
    pub async fn release_lease(&self, key: &str) -> Result<(), SyncTableError> {
        let update = lock(&self.inner.state).release_lease(key, now_ms())?;
        self.publish(&update).await
    }

    /// Fetches `peer`'s snapshot of this table, page by page, and merges it. Returns how
    /// many entries were taken. Stops after [`MAX_TABLE_KEYS`] entries.
    pub async fn catch_up_from(&self, peer: PeerId) -> Result<MergeReport, SyncTableError> {
        let network = self.inner.pubsub.network();
        let mut report = MergeReport::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = fetch_page(network, peer, &self.inner.name, cursor.as_deref()).await?;
            let last = page.entries.last().map(|u| u.key.clone());
            let merged = lock(&self.inner.state).merge(page.entries);
            report.applied += merged.applied;
            report.ignored += merged.ignored;
            let Some(last) = last.filter(|_| page.more) else {
                return Ok(report);
            };
            if report.applied + report.ignored >= MAX_TABLE_KEYS {
                return Ok(report);
            }
            cursor = Some(last);
        }
    }

    /// Members of the table our updates go to directly (the pubsub mesh of its topic):
    /// candidates to catch up from.
    pub async fn mesh_peers(&self) -> Vec<PeerId> {
        self.inner.pubsub.mesh_peers(self.inner.topic.clone()).await
    }

    async fn publish(&self, update: &Update) -> Result<(), SyncTableError> {
        let topic = self.inner.topic.clone();
        self.inner
            .pubsub
            .publish(topic, encode_update(update))
            .await?;
        Ok(())
    }
}

/// Applies the table's incoming updates and sweeps tombstones until the subscription
/// ends or the task is aborted.
async fn run(mut subscription: Subscription, state: SharedState) {
    let mut sweep = tokio::time::interval(TOMBSTONE_SWEEP_INTERVAL);
    loop {
        tokio::select! {
            received = subscription.next() => {
                let Some(received) = received else {
                    return;
                };
                on_message(&state, received);
            }
            _ = sweep.tick() => {
                lock(&state).expire_tombstones(now_ms());
            }
        }
    }
}

fn on_message(state: &Mutex<SyncTableState>, received: Received) {
    let Some(author) = received.message.from else {
        debug!(from = %received.from, "sync table update without an author ignored");
        return;
    };
    let update = match decode_update(received.message.data) {
        Ok(update) => update,
        Err(e) => {
            debug!(%author, "invalid sync table update: {e}");
            return;
        }
    };
    let outcome = lock(state).apply(update, author);
    if let ApplyOutcome::Ignored(reason) = outcome {
        debug!(%author, ?reason, "sync table update ignored");
    }
}

/// The wall clock in unix milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
