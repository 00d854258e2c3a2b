//! The routing table: 256 k-buckets over the XOR distance from the local key.
//!
//! Bucket `i` holds peers whose distance to us has its highest set bit at `i` (they share
//! a prefix of `255 - i` bits with us). Each bucket keeps at most `k` entries, least
//! recently seen first. A peer arriving at a full bucket does not evict anyone: it waits
//! as the bucket's one pending entry while the caller probes the least recently seen
//! entry ([`InsertOutcome::Pending`]); [`RoutingTable::probe_result`] then keeps the old
//! entry (alive) or replaces it with the pending one (dead). Long-lived peers win, as
//! the Kademlia paper prescribes.

use std::time::{Duration, Instant};

use mycel_core::{Multiaddr, PeerId};
use rand::RngCore;

use crate::{Distance, Key, MAX_ADDRS_PER_PEER, PeerInfo};

/// How long a pending entry waits for its probe before another newcomer may take its place.
pub const PENDING_TIMEOUT: Duration = Duration::from_secs(60);

/// Buckets deeper than this many shared prefix bits are not refreshed by random lookups
/// (finding a key that deep costs about `2^bits` hashes; the self lookup fills them).
/// (Enough for networks of about `k * 2^13` = 160,000 nodes.)
pub const MAX_REFRESH_PREFIX: u32 = 13;

/// One peer in the table.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The peer.
    pub peer: PeerId,
    /// Its point in the key space.
    pub key: Key,
    /// Its known addresses.
    pub addrs: Vec<Multiaddr>,
    /// When it last answered or asked something.
    pub last_seen: Instant,
}

impl Entry {
    /// The entry as messages carry it.
    pub fn to_peer_info(&self) -> PeerInfo {
        PeerInfo::new(self.peer, self.addrs.clone())
    }
}

#[derive(Debug, Clone)]
struct Pending {
    entry: Entry,
    since: Instant,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    /// Least recently seen first.
    entries: Vec<Entry>,
    pending: Option<Pending>,
}

/// What [`RoutingTable::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The peer is new and has its place.
    Inserted,
    /// The peer was already there; its addresses and last-seen time were refreshed.
    Updated,
    /// The bucket is full: the peer waits as pending; probe `probe` (the least recently
    /// seen entry) and report with [`RoutingTable::probe_result`].
    Pending {
        /// The entry to probe.
        probe: PeerId,
    },
    /// Not added: our own id, or the bucket is full with a newcomer already waiting
    /// (this peer or another; no new probe is needed).
    Rejected,
}

/// The k-bucket routing table of one node.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    local: Key,
    local_peer: PeerId,
    k: usize,
    buckets: Vec<Bucket>,
    len: usize,
}

impl RoutingTable {
    /// An empty table for `local` with buckets of `k` entries.
    pub fn new(local: PeerId, k: usize) -> Self {
        RoutingTable {
            local: Key::from_peer(&local),
            local_peer: local,
            k: k.max(1),
            buckets: vec![Bucket::default(); 256],
            len: 0,
        }
    }

    /// The local node's key.
    pub fn local_key(&self) -> &Key {
        &self.local
    }

    /// Peers in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bucket size.
    pub fn k(&self) -> usize {
        self.k
    }

    fn bucket_of(&self, key: &Key) -> Option<usize> {
        self.local.distance(key).bucket_index()
    }

    /// Adds or refreshes a peer seen alive at `now`.
    pub fn insert(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) -> InsertOutcome {
        let key = Key::from_peer(&peer);
        let Some(index) = self.bucket_of(&key) else {
            return InsertOutcome::Rejected;
        };
        let k = self.k;
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.entries.iter().position(|e| e.peer == peer) {
            let mut entry = bucket.entries.remove(pos);
            merge_addrs(&mut entry.addrs, addrs);
            entry.last_seen = now;
            bucket.entries.push(entry);
            return InsertOutcome::Updated;
        }
        let entry = Entry {
            peer,
            key,
            addrs: capped(addrs),
            last_seen: now,
        };
        if bucket.entries.len() < k {
            bucket.entries.push(entry);
            self.len += 1;
            return InsertOutcome::Inserted;
        }
        let probe = bucket.entries[0].peer;
        match &mut bucket.pending {
            Some(pending) if pending.entry.peer == peer => {
                // Already waiting, and its probe already under way.
                merge_addrs(&mut pending.entry.addrs, entry.addrs);
                InsertOutcome::Rejected
            }
            Some(pending) if now.saturating_duration_since(pending.since) < PENDING_TIMEOUT => {
                InsertOutcome::Rejected
            }
            _ => {
                bucket.pending = Some(Pending { entry, since: now });
                InsertOutcome::Pending { probe }
            }
        }
    }

    /// The result of probing `peer` after [`InsertOutcome::Pending`]: alive keeps it (as
    /// the most recently seen) and drops the pending entry; dead replaces it with the
    /// pending entry.
    pub fn probe_result(&mut self, peer: &PeerId, alive: bool, now: Instant) {
        let key = Key::from_peer(peer);
        let Some(index) = self.bucket_of(&key) else {
            return;
        };
        let bucket = &mut self.buckets[index];
        let Some(pos) = bucket.entries.iter().position(|e| e.peer == *peer) else {
            return;
        };
        if alive {
            let mut entry = bucket.entries.remove(pos);
            entry.last_seen = now;
            bucket.entries.push(entry);
            bucket.pending = None;
        } else {
            bucket.entries.remove(pos);
            self.len -= 1;
            if let Some(pending) = bucket.pending.take() {
                bucket.entries.push(pending.entry);
                self.len += 1;
            }
        }
    }

    /// Removes a peer (it failed to answer); a pending entry takes its place.
    pub fn remove(&mut self, peer: &PeerId) -> Option<Entry> {
        let key = Key::from_peer(peer);
        let index = self.bucket_of(&key)?;
        let bucket = &mut self.buckets[index];
        if bucket
            .pending
            .as_ref()
            .is_some_and(|p| p.entry.peer == *peer)
        {
            bucket.pending = None;
            return None;
        }
        let pos = bucket.entries.iter().position(|e| e.peer == *peer)?;
        let removed = bucket.entries.remove(pos);
        self.len -= 1;
        if let Some(pending) = bucket.pending.take() {
            bucket.entries.push(pending.entry);
            self.len += 1;
        }
        Some(removed)
    }

    /// The entry of a peer, if in the table.
    pub fn get(&self, peer: &PeerId) -> Option<&Entry> {
        let key = Key::from_peer(peer);
        let index = self.bucket_of(&key)?;
        self.buckets[index].entries.iter().find(|e| e.peer == *peer)
    }

    /// Whether a peer is in the table.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.get(peer).is_some()
    }

    /// Every entry, bucket by bucket from the nearest.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// Entries per bucket, nearest bucket first (for inspection and tests).
    pub fn bucket_sizes(&self) -> Vec<usize> {
        self.buckets.iter().map(|b| b.entries.len()).collect()
    }

    /// The `n` entries closest to `target`, nearest first.
    ///
    /// Buckets are visited in the order of their distance to the target, so only about
    /// `n` entries are measured: every entry of bucket `i` differs from us first at bit
    /// `i`, which fixes how its distance to the target compares with other buckets'.
    pub fn closest(&self, target: &Key, n: usize) -> Vec<&Entry> {
        let mut out: Vec<(Distance, &Entry)> = Vec::with_capacity(n.min(self.len));
        if n == 0 {
            return Vec::new();
        }
        let to_target = self.local.distance(target);
        for bucket in bucket_order(&to_target) {
            let entries = &self.buckets[bucket].entries;
            if entries.is_empty() {
                continue;
            }
            let start = out.len();
            out.extend(entries.iter().map(|e| (e.key.distance(target), e)));
            out[start..].sort_unstable_by_key(|(d, _)| *d);
            if out.len() >= n {
                break;
            }
        }
        out.truncate(n);
        out.into_iter().map(|(_, e)| e).collect()
    }

    /// Keys to look up to refresh the table: one random key in each bucket from the
    /// farthest (255) down to the nearest non-empty one, stopping at
    /// [`MAX_REFRESH_PREFIX`] shared bits. The caller also looks up its own id.
    pub fn refresh_targets(&self, rng: &mut impl RngCore) -> Vec<Key> {
        let nearest_filled = self
            .buckets
            .iter()
            .position(|b| !b.entries.is_empty())
            .unwrap_or(255);
        let deepest_prefix = (255 - nearest_filled as u32).min(MAX_REFRESH_PREFIX);
        (0..=deepest_prefix)
            .filter_map(|prefix| self.random_key_in_bucket(255 - prefix as usize, rng))
            .collect()
    }

    /// A random key whose distance to us falls in `bucket`, found by trying random
    /// preimages (about `2^(256 - bucket)` tries; `None` past 2^16 tries, which is rare
    /// down to bucket `255 - MAX_REFRESH_PREFIX`).
    pub fn random_key_in_bucket(&self, bucket: usize, rng: &mut impl RngCore) -> Option<Key> {
        for _ in 0..(1u32 << 16) {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            let key = Key::new(bytes.to_vec());
            if self.local.distance(&key).bucket_index() == Some(bucket) {
                return Some(key);
            }
        }
        None
    }

    /// The local peer.
    pub fn local_peer(&self) -> &PeerId {
        &self.local_peer
    }
}

/// Bucket indices from nearest to farthest from a target at `to_target` from us.
///
/// With `t` the highest set bit of `to_target`: bucket `t` first (its entries agree
/// with the target on bit `t`); then lower buckets whose bit is set in `to_target`
/// (entering them clears a bit of the distance), highest first; then lower buckets whose
/// bit is clear (entering them sets one), lowest first; then buckets above `t`, lowest
/// first. A target equal to our key has every bucket as "above".
fn bucket_order(to_target: &Distance) -> impl Iterator<Item = usize> + '_ {
    let bit = |i: usize| to_target.0[31 - i / 8] >> (i % 8) & 1 == 1;
    let top = to_target.bucket_index();
    let below = top.unwrap_or(0);
    let first = top.into_iter();
    let set = (0..below).rev().filter(move |&i| bit(i));
    let clear = (0..below).filter(move |&i| !bit(i));
    let above = top.map_or(0, |t| t + 1)..256;
    first.chain(set).chain(clear).chain(above)
}

fn capped(mut addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
    addrs.truncate(MAX_ADDRS_PER_PEER);
    addrs
}

/// Newest addresses first, duplicates dropped, capped.
fn merge_addrs(current: &mut Vec<Multiaddr>, new: Vec<Multiaddr>) {
    if new.is_empty() {
        return;
    }
    let mut merged = new;
    for a in current.drain(..) {
        if !merged.contains(&a) {
            merged.push(a);
        }
    }
    *current = capped(merged);
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn peer_in_bucket(table: &RoutingTable, bucket: usize) -> PeerId {
        loop {
            let peer = PeerId::random();
            if table.bucket_of(&Key::from_peer(&peer)) == Some(bucket) {
                return peer;
            }
        }
    }

    #[test]
    fn own_id_is_rejected() {
        let me = PeerId::random();
        let mut table = RoutingTable::new(me, 20);
        assert_eq!(
            table.insert(me, vec![], Instant::now()),
            InsertOutcome::Rejected
        );
        assert!(table.is_empty());
    }

    #[test]
    fn reinsert_refreshes_and_moves_to_most_recent() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 2);
        let a = peer_in_bucket(&table, 255);
        let b = peer_in_bucket(&table, 255);
        table.insert(a, vec![], now);
        table.insert(b, vec![], now);
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert_eq!(
            table.insert(a, vec![addr.clone()], now),
            InsertOutcome::Updated
        );
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(&a).unwrap().addrs, vec![addr]);
        // b is now the least recently seen: a newcomer probes it.
        let c = peer_in_bucket(&table, 255);
        assert_eq!(
            table.insert(c, vec![], now),
            InsertOutcome::Pending { probe: b }
        );
    }

    #[test]
    fn full_bucket_keeps_a_live_oldest_entry() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 2);
        let old = peer_in_bucket(&table, 254);
        let other = peer_in_bucket(&table, 254);
        table.insert(old, vec![], now);
        table.insert(other, vec![], now);
        let newcomer = peer_in_bucket(&table, 254);
        assert_eq!(
            table.insert(newcomer, vec![], now),
            InsertOutcome::Pending { probe: old }
        );
        assert_eq!(
            table.insert(newcomer, vec![], now),
            InsertOutcome::Rejected,
            "a pending peer seen again does not start a second probe"
        );
        let third = peer_in_bucket(&table, 254);
        assert_eq!(
            table.insert(third, vec![], now),
            InsertOutcome::Rejected,
            "one pending at a time"
        );
        table.probe_result(&old, true, now);
        assert!(table.contains(&old));
        assert!(!table.contains(&newcomer));
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn full_bucket_replaces_a_dead_oldest_entry() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 1);
        let old = peer_in_bucket(&table, 255);
        table.insert(old, vec![], now);
        let newcomer = peer_in_bucket(&table, 255);
        assert_eq!(
            table.insert(newcomer, vec![], now),
            InsertOutcome::Pending { probe: old }
        );
        table.probe_result(&old, false, now);
        assert!(!table.contains(&old));
        assert!(table.contains(&newcomer));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_stale_pending_entry_gives_way() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 1);
        table.insert(peer_in_bucket(&table, 255), vec![], now);
        table.insert(peer_in_bucket(&table, 255), vec![], now);
        let late = now + PENDING_TIMEOUT;
        let other = peer_in_bucket(&table, 255);
        assert!(matches!(
            table.insert(other, vec![], late),
            InsertOutcome::Pending { .. }
        ));
    }

    #[test]
    fn removal_promotes_pending() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 1);
        let old = peer_in_bucket(&table, 255);
        table.insert(old, vec![], now);
        let newcomer = peer_in_bucket(&table, 255);
        table.insert(newcomer, vec![], now);
        assert!(table.remove(&old).is_some());
        assert!(table.contains(&newcomer));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn closest_returns_nearest_first_and_matches_brute_force() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 20);
        let peers: Vec<PeerId> = (0..300).map(|_| PeerId::random()).collect();
        for p in &peers {
            table.insert(*p, vec![], now);
        }
        let target = Key::new(&b"target"[..]);
        let got: Vec<PeerId> = table.closest(&target, 20).iter().map(|e| e.peer).collect();
        let mut expected: Vec<&Entry> = table.entries().collect();
        expected.sort_by_key(|e| e.key.distance(&target));
        let expected: Vec<PeerId> = expected.iter().take(20).map(|e| e.peer).collect();
        assert_eq!(got, expected);
        assert!(table.len() <= 300);
        assert!(table.bucket_sizes().iter().all(|&n| n <= 20));
    }

    #[test]
    fn closest_matches_brute_force_for_many_targets_and_sizes() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 4);
        for _ in 0..400 {
            table.insert(PeerId::random(), vec![], now);
        }
        let mut targets: Vec<Key> = (0..50u32)
            .map(|i| Key::new(i.to_be_bytes().to_vec()))
            .collect();
        targets.push(table.local_key().clone());
        targets.extend(table.entries().take(5).map(|e| e.key.clone()));
        for target in &targets {
            let mut all: Vec<&Entry> = table.entries().collect();
            all.sort_by_key(|e| e.key.distance(target));
            for n in [0, 1, 3, 7, 20, 1000] {
                let got: Vec<PeerId> = table.closest(target, n).iter().map(|e| e.peer).collect();
                let want: Vec<PeerId> = all.iter().take(n).map(|e| e.peer).collect();
                assert_eq!(got, want, "n = {n}");
            }
        }
    }

    #[test]
    fn refresh_targets_land_in_their_buckets() {
        let now = Instant::now();
        let mut table = RoutingTable::new(PeerId::random(), 20);
        let deep = peer_in_bucket(&table, 250);
        table.insert(deep, vec![], now);
        let mut rng = StdRng::seed_from_u64(7);
        let targets = table.refresh_targets(&mut rng);
        assert_eq!(targets.len(), 6, "buckets 255 down to 250");
        for (i, t) in targets.iter().enumerate() {
            assert_eq!(table.local_key().distance(t).bucket_index(), Some(255 - i));
        }
    }
}
