//! [`SeenCache`]: the message ids seen recently, for de-duplication.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use crate::MessageId;

/// How long an id is remembered: go-libp2p-pubsub's `TimeCacheDuration` and
/// rust-libp2p's `duplicate_cache_time` are both 2 minutes.
pub const DEFAULT_SEEN_TTL: Duration = Duration::from_secs(120);

/// Ids remembered at most; the oldest go first beyond it. 262,144 ids cover a sustained
/// 2,000 messages a second over the whole TTL, in about 40 MiB at worst.
pub const DEFAULT_SEEN_CAPACITY: usize = 256 * 1024;

/// A set of message ids that forgets each one a fixed time after it was first seen, and
/// the oldest ones when full.
///
/// An id's lifetime starts at its first insertion; seeing it again does not extend it
/// (go's default "first seen" strategy). Time is passed in; every operation is O(1)
/// amortised.
#[derive(Debug, Clone)]
pub struct SeenCache {
    ttl: Duration,
    capacity: usize,
    /// Each id's expiry.
    expiries: HashMap<MessageId, Instant>,
    /// `(expiry, id)` in insertion order, hence in expiry order while time moves forward.
    /// An entry whose expiry differs from the map's is stale (the id expired and came
    /// back) and is skipped.
    order: VecDeque<(Instant, MessageId)>,
}

impl Default for SeenCache {
    fn default() -> Self {
        SeenCache::new(DEFAULT_SEEN_TTL, DEFAULT_SEEN_CAPACITY)
    }
}

impl SeenCache {
    /// A cache remembering ids for `ttl`, at most `capacity` of them (at least one).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SeenCache {
            ttl,
            capacity: capacity.max(1),
            expiries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// How long an id is remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Ids remembered (including expired ones not yet swept by [`SeenCache::expire`]).
    pub fn len(&self) -> usize {
        self.expiries.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.expiries.is_empty()
    }

    /// Records `id` as seen at `now`; true if it was not already remembered (a message
    /// to process), false for a duplicate. Sweeps expired ids first and evicts the
    /// oldest when full.
    pub fn insert(&mut self, id: MessageId, now: Instant) -> bool {
        self.expire(now);
        if self.contains(&id, now) {
            return false;
        }
        if !self.expiries.contains_key(&id) {
            while self.expiries.len() >= self.capacity {
                self.pop_oldest();
            }
        }
        let expiry = now + self.ttl;
        self.expiries.insert(id.clone(), expiry);
        self.order.push_back((expiry, id));
        true
    }

    /// Whether `id` was seen and has not expired at `now`.
    pub fn contains(&self, id: &MessageId, now: Instant) -> bool {
        self.expiries.get(id).is_some_and(|&expiry| expiry > now)
    }

    /// Forgets every id that has expired at `now`.
    pub fn expire(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(expiry, _)| *expiry <= now) {
            self.pop_oldest();
        }
    }

    /// Removes the front of the queue and, unless it is stale, its id.
    fn pop_oldest(&mut self) {
        let Some((expiry, id)) = self.order.pop_front() else {
            return;
        };
        if self.expiries.get(&id) == Some(&expiry) {
            self.expiries.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> MessageId {
        MessageId::from(n.to_be_bytes().to_vec())
    }

    #[test]
    fn insert_reports_the_first_sighting_only() {
        let now = Instant::now();
        let mut seen = SeenCache::default();
        assert!(seen.insert(id(1), now));
        assert!(!seen.insert(id(1), now + Duration::from_secs(1)));
        assert!(seen.contains(&id(1), now));
        assert!(!seen.contains(&id(2), now));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn ids_expire_after_the_ttl_and_are_new_again() {
        let start = Instant::now();
        let ttl = Duration::from_secs(120);
        let mut seen = SeenCache::new(ttl, 10);
        seen.insert(id(1), start);
        seen.insert(id(2), start + Duration::from_secs(60));
        assert!(seen.contains(&id(1), start + ttl - Duration::from_millis(1)));
        assert!(
            !seen.contains(&id(1), start + ttl),
            "expired, even before a sweep"
        );
        seen.expire(start + ttl);
        assert_eq!(seen.len(), 1);
        assert!(seen.contains(&id(2), start + ttl));
        assert!(seen.insert(id(1), start + ttl));
    }

    #[test]
    fn a_duplicate_does_not_extend_the_lifetime() {
        let start = Instant::now();
        let mut seen = SeenCache::new(Duration::from_secs(10), 10);
        seen.insert(id(1), start);
        assert!(!seen.insert(id(1), start + Duration::from_secs(9)));
        assert!(seen.insert(id(1), start + Duration::from_secs(10)));
    }

    #[test]
    fn a_full_cache_evicts_the_oldest() {
        let start = Instant::now();
        let mut seen = SeenCache::new(Duration::from_secs(60), 3);
        for n in 0..5 {
            assert!(seen.insert(id(n), start + Duration::from_millis(u64::from(n))));
        }
        assert_eq!(seen.len(), 3);
        let later = start + Duration::from_secs(1);
        assert!(!seen.contains(&id(0), later) && !seen.contains(&id(1), later));
        assert!((2..5).all(|n| seen.contains(&id(n), later)));
    }

    #[test]
    fn stale_queue_entries_never_remove_a_newer_sighting() {
        // Time going backwards leaves an expired id behind a live one; re-inserting it
        // must survive the sweep of its old queue entry.
        let start = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut seen = SeenCache::new(ttl, 10);
        seen.insert(id(2), start + Duration::from_secs(5));
        seen.insert(id(1), start);
        assert!(seen.insert(id(1), start + Duration::from_secs(12)));
        seen.expire(start + Duration::from_secs(16));
        assert!(seen.contains(&id(1), start + Duration::from_secs(16)));
        assert!(!seen.contains(&id(2), start + Duration::from_secs(16)));
    }

    #[test]
    fn the_queue_stays_bounded_by_capacity_plus_stale_entries() {
        let start = Instant::now();
        let mut seen = SeenCache::new(Duration::from_secs(1), 100);
        for n in 0..10_000u32 {
            seen.insert(id(n % 300), start + Duration::from_millis(u64::from(n)));
        }
        assert!(seen.len() <= 100);
        assert!(seen.order.len() <= 200);
    }
}
