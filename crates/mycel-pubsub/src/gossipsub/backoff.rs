//! PRUNE backoff (gossipsub-v1.1.md, "PRUNE Backoff and Peer Exchange"): after a prune,
//! in either direction, neither side grafts the other in that topic until it expires.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use mycel_core::PeerId;

use crate::TopicHash;

/// Backoffs remembered per topic; further ones are not recorded (at worst we graft a
/// peer early and it prunes us again). Real meshes back off from a few dozen peers.
pub(crate) const MAX_BACKOFFS_PER_TOPIC: usize = 10_000;

/// Longest backoff a peer may impose on us through a PRUNE; longer ones are cut to it.
pub(crate) const MAX_PEER_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// The end of every backoff, by topic and peer.
#[derive(Debug, Default)]
pub(crate) struct Backoffs {
    by_topic: BTreeMap<TopicHash, BTreeMap<PeerId, Instant>>,
}

impl Backoffs {
    /// Backs off from `peer` in `topic` until `until`, or longer if a backoff already
    /// ends later.
    pub(crate) fn extend(&mut self, topic: &TopicHash, peer: PeerId, until: Instant) {
        let peers = match self.by_topic.get_mut(topic) {
            Some(peers) => peers,
            None => self.by_topic.entry(topic.clone()).or_default(),
        };
        let full = peers.len() >= MAX_BACKOFFS_PER_TOPIC;
        match peers.get_mut(&peer) {
            Some(end) => *end = (*end).max(until),
            None if !full => {
                peers.insert(peer, until);
            }
            None => {}
        }
    }

    /// When the backoff from `peer` in `topic` ends, if there is one (possibly past).
    pub(crate) fn get(&self, topic: &TopicHash, peer: &PeerId) -> Option<Instant> {
        self.by_topic.get(topic)?.get(peer).copied()
    }

    /// Whether we are backing off from `peer` in `topic` at `now`, counting `slack`
    /// beyond the end.
    pub(crate) fn is_backed_off(
        &self,
        topic: &TopicHash,
        peer: &PeerId,
        now: Instant,
        slack: Duration,
    ) -> bool {
        self.get(topic, peer)
            .is_some_and(|end| within(end, now, slack))
    }

    /// Forgets backoffs that ended more than `slack` before `now`.
    pub(crate) fn expire(&mut self, now: Instant, slack: Duration) {
        self.by_topic.retain(|_, peers| {
            peers.retain(|_, end| within(*end, now, slack));
            !peers.is_empty()
        });
    }

    /// Backoffs remembered, over all topics.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_topic.values().map(BTreeMap::len).sum()
    }
}

/// Whether `now` is before `end + slack` (without adding to an instant).
fn within(end: Instant, now: Instant, slack: Duration) -> bool {
    end > now || now.duration_since(end) < slack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_only_grows_and_expires_after_its_slack() {
        let now = Instant::now();
        let topic = TopicHash::from("t");
        let peer = PeerId::random();
        let mut backoffs = Backoffs::default();
        let s = Duration::from_secs;
        backoffs.extend(&topic, peer, now + s(60));
        backoffs.extend(&topic, peer, now + s(10));
        assert_eq!(backoffs.get(&topic, &peer), Some(now + s(60)));
        assert!(backoffs.is_backed_off(&topic, &peer, now + s(59), Duration::ZERO));
        assert!(!backoffs.is_backed_off(&topic, &peer, now + s(60), Duration::ZERO));
        assert!(backoffs.is_backed_off(&topic, &peer, now + s(60), s(1)));
        assert!(!backoffs.is_backed_off(&TopicHash::from("u"), &peer, now, s(1)));
        backoffs.expire(now + s(60), s(1));
        assert_eq!(backoffs.len(), 1);
        backoffs.expire(now + s(61), s(1));
        assert_eq!(backoffs.len(), 0);
    }

    #[test]
    fn backoffs_per_topic_are_capped() {
        let now = Instant::now();
        let topic = TopicHash::from("t");
        let mut backoffs = Backoffs::default();
        for _ in 0..MAX_BACKOFFS_PER_TOPIC + 10 {
            backoffs.extend(&topic, PeerId::random(), now);
        }
        assert_eq!(backoffs.len(), MAX_BACKOFFS_PER_TOPIC);
    }
}
