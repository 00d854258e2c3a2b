//! [`SyncTableState`]: one replica of the table as a plain state machine: no IO, no
//! clock of its own (every operation takes `now_ms`, unix milliseconds).

use std::{collections::BTreeMap, ops::Bound, time::Duration};

use bytes::Bytes;
use mycel_core::PeerId;

use super::{
    MAX_LEASE_DURATION, MAX_TABLE_KEY_LEN, MAX_TABLE_KEYS, MAX_TABLE_VALUE_SIZE, SyncTableError,
    TOMBSTONE_TTL, wire,
};

/// A lease: `owner` alone may write its key until `expires_ms` (unix ms, exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The peer that holds it.
    pub owner: PeerId,
    /// When it ends.
    pub expires_ms: u64,
}

impl Lease {
    /// Whether the lease still holds at `now_ms`.
    pub fn is_active(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }
}

/// The state of one key: the last write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value; `None` is a tombstone (the key was deleted), kept so that older writes
    /// arriving late still lose.
    pub value: Option<Bytes>,
    /// The writer's lamport clock at the write.
    pub clock: u64,
    /// Who wrote it.
    pub writer: PeerId,
    /// The writer's wall clock at the write (unix ms): what lease rules and tombstone
    /// expiry measure against.
    pub time_ms: u64,
    /// The key's lease after the write (always the writer's own), active or not.
    pub lease: Option<Lease>,
}

impl Entry {
    /// Whether the key is deleted.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// The last-writer-wins rank: clock, then writer id bytes, then (only between
    /// different entries claiming the same clock and writer, which a correct writer never
    /// makes) the content, so that every replica picks the same one.
    #[allow(clippy::type_complexity)]
    fn rank(&self) -> (u64, &[u8], u64, Option<&[u8]>, Option<(&[u8], u64)>) {
        (
            self.clock,
            self.writer.as_bytes(),
            self.time_ms,
            self.value.as_deref(),
            self.lease
                .as_ref()
                .map(|l| (l.owner.as_bytes(), l.expires_ms)),
        )
    }
}

/// One write to the table, as published to the other replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The key written.
    pub key: String,
    /// The key's whole new state.
    pub entry: Entry,
    /// The lease the key carried at the writer when it wrote (`None` in snapshots): how
    /// a receiver tells that the writer knew of a lease it broke.
    pub seen_lease: Option<Lease>,
}

impl Update {
    /// The checks an update passes or fails on its own, whatever the receiver holds:
    /// sizes, and the lease rules (see [`SyncTableState`]). Because they depend on nothing
    /// else, every replica accepts or refuses an update alike.
    pub fn check(&self) -> Result<(), IgnoreReason> {
        if self.key.len() > MAX_TABLE_KEY_LEN {
            return Err(IgnoreReason::KeyTooLong);
        }
        if self
            .entry
            .value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_TABLE_VALUE_SIZE)
        {
            return Err(IgnoreReason::ValueTooLarge);
        }
        if let Some(lease) = &self.entry.lease {
            if lease.owner != self.entry.writer {
                return Err(IgnoreReason::ForeignLease);
            }
            let time = self.entry.time_ms;
            if lease.expires_ms <= time || lease.expires_ms - time > max_lease_ms() {
                return Err(IgnoreReason::LeaseOutOfRange);
            }
        }
        if let Some(seen) = &self.seen_lease {
            if seen.owner != self.entry.writer && seen.is_active(self.entry.time_ms) {
                return Err(IgnoreReason::LeaseViolated {
                    owner: seen.owner,
                    expires_ms: seen.expires_ms,
                });
            }
        }
        Ok(())
    }
}

/// Why a replica did not apply an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// The replica holds a later write to the key.
    Stale,
    /// The replica holds this very write.
    Duplicate,
    /// The update's writer is not the peer that authored the message carrying it.
    WriterMismatch,
    /// The key is longer than [`MAX_TABLE_KEY_LEN`].
    KeyTooLong,
    /// The value is larger than [`MAX_TABLE_VALUE_SIZE`].
    ValueTooLarge,
    /// The update grants a lease to a peer other than its writer.
    ForeignLease,
    /// The update's lease ends at or before its write, or more than
    /// [`MAX_LEASE_DURATION`] after it.
    LeaseOutOfRange,
    /// The writer saw another peer's lease on the key, unexpired at its write, and wrote
    /// anyway.
    LeaseViolated {
        /// The lease holder.
        owner: PeerId,
        /// When its lease ended.
        expires_ms: u64,
    },
    /// The key is new and the table is full.
    TableFull,
}

/// What [`SyncTableState::apply`] did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The update is now the key's entry.
    Applied,
    /// The update changed nothing, for this reason.
    Ignored(IgnoreReason),
}

/// How many entries of a snapshot [`SyncTableState::merge`] took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Entries that replaced ours or added a key.
    pub applied: usize,
    /// Entries we held already or newer, or that failed a check.
    pub ignored: usize,
}

/// One page of a snapshot: entries in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotPage {
    /// The entries, as updates without `seen_lease`.
    pub entries: Vec<Update>,
    /// Whether entries after the last one remain.
    pub more: bool,
}

/// One replica of a sync table: the entries, the lamport clock, the local peer id.
///
/// Local operations ([`set`](Self::set), [`delete`](Self::delete),
/// [`acquire_lease`](Self::acquire_lease), [`release_lease`](Self::release_lease)) change
/// the state and return the [`Update`] to publish; [`apply`](Self::apply) takes one from
/// another replica, [`merge`](Self::merge) a snapshot.
///
/// # Order
/// Every write produces an [`Update`] carrying the key's whole new [`Entry`]. Entries
/// rank by lamport clock, then by the writer's peer id bytes (lexicographic, the larger
/// wins), then, only between two different writes claiming the same clock and writer
/// (which a correct writer never makes), by content. A replica holds for each key the
/// highest-ranked valid update it has received; a deletion is a tombstone (`value:
/// None`) that ranks like any write, so older writes arriving after it lose.
///
/// The lamport clock is the highest clock in any valid update seen or written; a local
/// write takes that plus one, so it outranks everything its writer has seen.
///
/// # Validity
/// An update is valid or not on its own, whatever the receiver holds
/// ([`Update::check`]):
/// - its key is at most [`MAX_TABLE_KEY_LEN`] bytes and its value at most
///   [`MAX_TABLE_VALUE_SIZE`];
/// - its lease, if any, is its writer's own, and ends after the write's `time_ms` and at
///   most [`MAX_LEASE_DURATION`] after it;
/// - it does not violate a lease its writer knew of: every update records in
///   `seen_lease` the lease the key carried at the writer when it wrote, and an update
///   whose `seen_lease` belongs to another peer and was active at the update's `time_ms`
///   is ignored ([`IgnoreReason::LeaseViolated`]).
///
/// [`SyncTableState::apply`] also ignores an update whose writer is not the author of
/// the message that carried it.
///
/// # Leases
/// A local write (set, delete, acquire) to a key whose lease belongs to another peer and
/// is active at `now_ms` is refused with [`SyncTableError::LeaseHeld`]; a key's lease
/// ends at `expires_ms`, on release by its owner, or when its owner writes after the
/// lease has ended. The owner's own writes keep its active lease. Lease times are the
/// writers' wall clocks: clock skew between peers moves the moment others take a lease
/// to be over.
///
/// "A lease it could know of" is the lease in the writer's own replica, carried in
/// `seen_lease`. A receiver does not judge an update against the lease *it* holds for
/// the key: that would depend on delivery order and break convergence (a write that
/// outranks a lease and reaches one replica before the lease, another after it, would
/// be kept by the first and refused by the second, for good).
///
/// Hence a lease is optimistic: a write by a peer that had not yet received the lease
/// (concurrent with its acquisition) and that outranks it replaces it on every replica.
/// A lease holder that must be sure waits for the acquisition to spread and checks that
/// [`SyncTableState::entry`] still shows its lease. Two concurrent acquisitions resolve
/// like any two writes: the higher rank holds the lease everywhere.
///
/// # Convergence
/// Since validity depends on the update alone and the rank orders valid updates
/// totally, a key's entry is the highest-ranked valid update received, whatever the
/// order of delivery and however often each arrives: replicas that received the same
/// updates hold the same entries. Two bounds break this on purpose:
/// - A full table ([`MAX_TABLE_KEYS`] keys, tombstones included) ignores updates to new
///   keys; replicas that filled up at different moments may hold different keys.
/// - Tombstones are forgotten [`TOMBSTONE_TTL`] after their write
///   ([`SyncTableState::expire_tombstones`]). An older write to the key that arrives
///   later (a delayed message, or a snapshot from a replica that never saw the delete)
///   brings the key back on a replica that forgot the tombstone, and not on one that did
///   not: convergence holds for updates delivered within [`TOMBSTONE_TTL`] of the
///   deletes that supersede them.
///
/// A snapshot relays other writers' entries, unsigned: catch-up trusts the peer it
/// catches up from.
#[derive(Debug, Clone)]
pub struct SyncTableState {
    local: PeerId,
    clock: u64,
    max_keys: usize,
    entries: BTreeMap<String, Entry>,
}

/// How a local write changes the key's lease.
enum LeaseChange {
    /// Ours stays if it is active; any other goes.
    Keep,
    /// Ours, until this time.
    Acquire(u64),
    /// None.
    Release,
}

impl SyncTableState {
    /// An empty replica for the local peer, holding at most [`MAX_TABLE_KEYS`] keys.
    pub fn new(local: PeerId) -> Self {
        Self::with_max_keys(local, MAX_TABLE_KEYS)
    }

    /// An empty replica holding at most `max_keys` keys (tombstones included).
    pub fn with_max_keys(local: PeerId, max_keys: usize) -> Self {
        SyncTableState {
            local,
            clock: 0,
            max_keys,
            entries: BTreeMap::new(),
        }
    }

    /// The local peer, writer of local updates.
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// The lamport clock: the highest clock written or seen in a valid update.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The entry of `key`, tombstone or not.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The value of `key`, unless it is absent or deleted.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.entries.get(key).and_then(|e| e.value.as_ref())
    }

    /// Every entry, tombstones included, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// Number of keys held, tombstones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to `value`. Refused while another peer's lease on the key is active.
    pub fn set(
        &mut self,
        key: impl Into<String>,
        value: impl Into<Bytes>,
        now_ms: u64,
    ) -> Result<Update, SyncTableError> {
        let value = value.into();
        if value.len() > MAX_TABLE_VALUE_SIZE {
            return Err(SyncTableError::ValueTooLarge {
                len: value.len(),
                max: MAX_TABLE_VALUE_SIZE,
            });
        }
        self.write(key.into(), Some(Some(value)), LeaseChange::Keep, now_ms)
    }

    /// Deletes `key`, leaving a tombstone (also for a key we never saw: it still beats
    /// older writes to it). Refused while another peer's lease on the key is active.
    pub fn delete(
        &mut self,
        key: impl Into<String>,
        now_ms: u64,
    ) -> Result<Update, SyncTableError> {
        self.write(key.into(), Some(None), LeaseChange::Keep, now_ms)
    }

    /// Takes (or renews) a lease on `key` for `duration` (at most [`MAX_LEASE_DURATION`]),
    /// keeping its value. Refused while another peer's lease on the key is active.
    ///
    /// The lease is optimistic: a concurrent write by a peer that had not yet seen it,
    /// with a higher clock, replaces it (see the leases section of [`SyncTableState`]).
    pub fn acquire_lease(
        &mut self,
        key: impl Into<String>,
        duration: Duration,
        now_ms: u64,
    ) -> Result<Update, SyncTableError> {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = now_ms.checked_add(ms);
        let Some(expires_ms) = expires_ms.filter(|_| ms > 0 && ms <= max_lease_ms()) else {
            return Err(SyncTableError::InvalidLeaseDuration(duration));
        };
        self.write(key.into(), None, LeaseChange::Acquire(expires_ms), now_ms)
    }

    /// Gives up our active lease on `key`, keeping its value.
    pub fn release_lease(&mut self, key: &str, now_ms: u64) -> Result<Update, SyncTableError> {
        let holds = self
            .entries
            .get(key)
            .and_then(|e| e.lease)
            .is_some_and(|l| l.owner == self.local && l.is_active(now_ms));
        if !holds {
            return Err(SyncTableError::NotLeaseHolder);
        }
        self.write(key.to_owned(), None, LeaseChange::Release, now_ms)
    }

    /// Applies an update received from `author`, the authenticated author of the message
    /// that carried it (its writer, for a correct peer).
    pub fn apply(&mut self, update: Update, author: PeerId) -> ApplyOutcome {
        if update.entry.writer != author {
            return ApplyOutcome::Ignored(IgnoreReason::WriterMismatch);
        }
        self.insert(update)
    }

    /// Applies every entry of a snapshot with the rules of [`apply`](Self::apply), except
    /// the author check: a snapshot relays other writers' entries.
    pub fn merge(&mut self, entries: impl IntoIterator<Item = Update>) -> MergeReport {
        let mut report = MergeReport::default();
        for update in entries {
            match self.insert(update) {
                ApplyOutcome::Applied => report.applied += 1,
                ApplyOutcome::Ignored(_) => report.ignored += 1,
            }
        }
        report
    }

    /// Every entry, in key order, as updates to [`merge`](Self::merge) elsewhere.
    pub fn snapshot(&self) -> Vec<Update> {
        self.entries.iter().map(|(k, e)| as_update(k, e)).collect()
    }

    /// The entries after `start_after` (from the first when `None`), in key order, at
    /// most `max_entries` of them and as many as fit in a snapshot response of
    /// `max_bytes` (at least one, if any remain and `max_entries` is not zero).
    pub fn snapshot_page(
        &self,
        start_after: Option<&str>,
        max_bytes: usize,
        max_entries: usize,
    ) -> SnapshotPage {
        let lower = match start_after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let mut range = self
            .entries
            .range::<str, _>((lower, Bound::Unbounded))
            .peekable();
        let mut page = SnapshotPage::default();
        let mut used = wire::SNAPSHOT_RESPONSE_OVERHEAD;
        while let Some((key, entry)) = range.peek() {
            let update = as_update(key, entry);
            let len = wire::snapshot_entry_len(&update);
            let fits = page.entries.is_empty() || used + len <= max_bytes;
            if page.entries.len() >= max_entries || !fits {
                break;
            }
            used += len;
            page.entries.push(update);
            range.next();
        }
        page.more = range.peek().is_some();
        page
    }

    /// Forgets tombstones written more than [`TOMBSTONE_TTL`] before `now_ms` (by their
    /// writer's clock) whose lease, if any, has ended. Returns how many went.
    pub fn expire_tombstones(&mut self, now_ms: u64) -> usize {
        let ttl = u64::try_from(TOMBSTONE_TTL.as_millis()).unwrap_or(u64::MAX);
        let before = self.entries.len();
        self.entries.retain(|_, e| {
            let expired = e.is_tombstone()
                && e.time_ms.saturating_add(ttl) <= now_ms
                && !e.lease.is_some_and(|l| l.is_active(now_ms));
            !expired
        });
        before - self.entries.len()
    }

    /// Applies a (checked) update under the last-writer-wins order.
    fn insert(&mut self, update: Update) -> ApplyOutcome {
        if let Err(reason) = update.check() {
            return ApplyOutcome::Ignored(reason);
        }
        self.clock = self.clock.max(update.entry.clock);
        let full = self.entries.len() >= self.max_keys;
        match self.entries.get_mut(&update.key) {
            Some(current) => match update.entry.rank().cmp(&current.rank()) {
                std::cmp::Ordering::Greater => {
                    *current = update.entry;
                    ApplyOutcome::Applied
                }
                std::cmp::Ordering::Equal => ApplyOutcome::Ignored(IgnoreReason::Duplicate),
                std::cmp::Ordering::Less => ApplyOutcome::Ignored(IgnoreReason::Stale),
            },
            None if full => ApplyOutcome::Ignored(IgnoreReason::TableFull),
            None => {
                self.entries.insert(update.key, update.entry);
                ApplyOutcome::Applied
            }
        }
    }

    /// A local write: `value` is the new value (`None` keeps the current one), `lease`
    /// how the lease changes. Every update it returns passes [`Update::check`] and
    /// outranks every entry held, so that it is applied here and by every replica that
    /// holds nothing newer.
    fn write(
        &mut self,
        key: String,
        value: Option<Option<Bytes>>,
        lease: LeaseChange,
        now_ms: u64,
    ) -> Result<Update, SyncTableError> {
        if key.len() > MAX_TABLE_KEY_LEN {
            return Err(SyncTableError::KeyTooLong {
                len: key.len(),
                max: MAX_TABLE_KEY_LEN,
            });
        }
        let current = self.entries.get(&key);
        let seen_lease = current.and_then(|e| e.lease);
        if let Some(held) = seen_lease.filter(|l| l.owner != self.local && l.is_active(now_ms)) {
            return Err(SyncTableError::LeaseHeld {
                owner: held.owner,
                expires_ms: held.expires_ms,
            });
        }
        if current.is_none() && self.entries.len() >= self.max_keys {
            return Err(SyncTableError::TableFull { max: self.max_keys });
        }
        let clock = self
            .clock
            .checked_add(1)
            .ok_or(SyncTableError::ClockExhausted)?;
        let lease = match lease {
            LeaseChange::Keep => seen_lease
                .filter(|l| l.owner == self.local && l.is_active(now_ms))
                .map(|l| Lease {
                    // A wall clock that stepped back could leave more than the maximum
                    // to run; shorten rather than publish an update others refuse.
                    expires_ms: l.expires_ms.min(now_ms.saturating_add(max_lease_ms())),
                    ..l
                }),
            LeaseChange::Acquire(expires_ms) => Some(Lease {
                owner: self.local,
                expires_ms,
            }),
            LeaseChange::Release => None,
        };
        let value = match value {
            Some(value) => value,
            None => current.and_then(|e| e.value.clone()),
        };
        let entry = Entry {
            value,
            clock,
            writer: self.local,
            time_ms: now_ms,
            lease,
        };
        self.clock = clock;
        self.entries.insert(key.clone(), entry.clone());
        Ok(Update {
            key,
            entry,
            seen_lease,
        })
    }
}

/// An entry as a snapshot carries it.
fn as_update(key: &str, entry: &Entry) -> Update {
    Update {
        key: key.to_owned(),
        entry: entry.clone(),
        seen_lease: None,
    }
}

/// [`MAX_LEASE_DURATION`] in milliseconds.
fn max_lease_ms() -> u64 {
    u64::try_from(MAX_LEASE_DURATION.as_millis()).unwrap_or(u64::MAX)
}
