//! [`Subscriptions`]: which topics we are in, and which topics each peer announced.

use std::collections::{BTreeMap, BTreeSet};

use mycel_core::PeerId;

use crate::{MAX_TOPICS_PER_PEER, SubOpt, TopicHash};

/// A change in a peer's subscriptions, as [`Subscriptions::on_sub_opts`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// The peer joined the topic.
    Subscribed(TopicHash),
    /// The peer left the topic.
    Unsubscribed(TopicHash),
}

/// What one peer's subscription announcements changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubOptsOutcome {
    /// The changes, in the order announced; repeats of the current state are left out.
    pub changes: Vec<SubscriptionChange>,
    /// Subscriptions ignored because the peer already announced
    /// [`Subscriptions::max_topics_per_peer`] topics (a reason to penalise it).
    pub refused: usize,
}

/// Subscription bookkeeping: our topics and the topics each peer announced, indexed
/// both ways.
///
/// Ordered maps make every iteration repeatable, which simulations replaying a seed rely
/// on. A peer is tracked while it announces at least one topic, at most
/// `max_topics_per_peer` of them.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    max_topics_per_peer: usize,
    ours: BTreeSet<TopicHash>,
    by_peer: BTreeMap<PeerId, BTreeSet<TopicHash>>,
    by_topic: BTreeMap<TopicHash, BTreeSet<PeerId>>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions::new(MAX_TOPICS_PER_PEER)
    }
}

impl Subscriptions {
    /// Empty bookkeeping keeping at most `max_topics_per_peer` topics per peer.
    pub fn new(max_topics_per_peer: usize) -> Self {
        Subscriptions {
            max_topics_per_peer,
            ours: BTreeSet::new(),
            by_peer: BTreeMap::new(),
            by_topic: BTreeMap::new(),
        }
    }

    /// The per-peer limit.
    pub fn max_topics_per_peer(&self) -> usize {
        self.max_topics_per_peer
    }

    /// Joins `topic`; false if already in it.
    pub fn subscribe(&mut self, topic: TopicHash) -> bool {
        self.ours.insert(topic)
    }

    /// Leaves `topic`; false if not in it.
    pub fn unsubscribe(&mut self, topic: &TopicHash) -> bool {
        self.ours.remove(topic)
    }

    /// Whether we are in `topic`.
    pub fn is_subscribed(&self, topic: &TopicHash) -> bool {
        self.ours.contains(topic)
    }

    /// Our topics, in order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicHash> + '_ {
        self.ours.iter()
    }

    /// The announcement of all our topics, sent as the first RPC to a new peer.
    pub fn announcement(&self) -> Vec<SubOpt> {
        self.ours.iter().cloned().map(SubOpt::subscribe).collect()
    }

    /// Applies the subscription entries `peer` sent, in order.
    pub fn on_sub_opts(&mut self, peer: PeerId, opts: &[SubOpt]) -> SubOptsOutcome {
        let mut outcome = SubOptsOutcome::default();
        for opt in opts {
            if opt.subscribe {
                let topics = self.by_peer.entry(peer).or_default();
                if topics.contains(&opt.topic) {
                    continue;
                }
                if topics.len() >= self.max_topics_per_peer {
                    outcome.refused += 1;
                    continue;
                }
                topics.insert(opt.topic.clone());
                self.by_topic
                    .entry(opt.topic.clone())
                    .or_default()
                    .insert(peer);
                outcome
                    .changes
                    .push(SubscriptionChange::Subscribed(opt.topic.clone()));
            } else if self.leave(peer, &opt.topic) {
                outcome
                    .changes
                    .push(SubscriptionChange::Unsubscribed(opt.topic.clone()));
            }
        }
        if self.by_peer.get(&peer).is_some_and(BTreeSet::is_empty) {
            self.by_peer.remove(&peer);
        }
        outcome
    }

    /// Removes `peer` from `topic` in both indexes; false if it was not in it.
    fn leave(&mut self, peer: PeerId, topic: &TopicHash) -> bool {
        let Some(topics) = self.by_peer.get_mut(&peer) else {
            return false;
        };
        if !topics.remove(topic) {
            return false;
        }
        if let Some(peers) = self.by_topic.get_mut(topic) {
            peers.remove(&peer);
            if peers.is_empty() {
                self.by_topic.remove(topic);
            }
        }
        true
    }

    /// Forgets a disconnected peer; returns the topics it was in.
    pub fn remove_peer(&mut self, peer: &PeerId) -> Vec<TopicHash> {
        let topics: Vec<TopicHash> = self
            .by_peer
            .get(peer)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        for topic in &topics {
            self.leave(*peer, topic);
        }
        self.by_peer.remove(peer);
        topics
    }

    /// The peers that announced `topic`, in order.
    pub fn peers_in(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> + '_ {
        self.by_topic.get(topic).into_iter().flatten()
    }

    /// How many peers announced `topic`.
    pub fn peer_count_in(&self, topic: &TopicHash) -> usize {
        self.by_topic.get(topic).map_or(0, BTreeSet::len)
    }

    /// The topics `peer` announced, in order.
    pub fn topics_of(&self, peer: &PeerId) -> impl Iterator<Item = &TopicHash> + '_ {
        self.by_peer.get(peer).into_iter().flatten()
    }

    /// Whether `peer` announced `topic`.
    pub fn is_peer_subscribed(&self, peer: &PeerId, topic: &TopicHash) -> bool {
        self.by_peer.get(peer).is_some_and(|t| t.contains(topic))
    }

    /// The peers that announced at least one topic, in order.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> + '_ {
        self.by_peer.keys()
    }
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;

    use super::*;

    fn peer(seed: u8) -> PeerId {
        Keypair::from_secret_bytes([seed; 32]).peer_id()
    }

    fn t(name: &str) -> TopicHash {
        TopicHash::from(name)
    }

    #[test]
    fn peer_subscription_changes_are_reported_once() {
        let mut subs = Subscriptions::default();
        let outcome = subs.on_sub_opts(
            peer(1),
            &[
                SubOpt::subscribe(t("a")),
                SubOpt::subscribe(t("a")),
                SubOpt::subscribe(t("b")),
                SubOpt::unsubscribe(t("c")),
            ],
        );
        assert_eq!(
            outcome.changes,
            [
                SubscriptionChange::Subscribed(t("a")),
                SubscriptionChange::Subscribed(t("b"))
            ]
        );
        assert_eq!(outcome.refused, 0);
        assert!(subs.is_peer_subscribed(&peer(1), &t("a")));
        assert_eq!(subs.topics_of(&peer(1)).count(), 2);
        assert_eq!(subs.peers().collect::<Vec<_>>(), [&peer(1)]);
    }

    #[test]
    fn peers_in_a_topic_follow_subscribe_and_unsubscribe() {
        let mut subs = Subscriptions::default();
        subs.on_sub_opts(peer(1), &[SubOpt::subscribe(t("a"))]);
        subs.on_sub_opts(peer(2), &[SubOpt::subscribe(t("a"))]);
        assert_eq!(subs.peer_count_in(&t("a")), 2);
        let outcome = subs.on_sub_opts(peer(1), &[SubOpt::unsubscribe(t("a"))]);
        assert_eq!(outcome.changes, [SubscriptionChange::Unsubscribed(t("a"))]);
        assert_eq!(subs.peers_in(&t("a")).collect::<Vec<_>>(), [&peer(2)]);
        assert_eq!(
            subs.peers().count(),
            1,
            "a peer with no topics is forgotten"
        );
        assert_eq!(subs.peers_in(&t("none")).count(), 0);
    }

    #[test]
    fn topics_per_peer_are_capped() {
        let mut subs = Subscriptions::new(2);
        let opts: Vec<SubOpt> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|n| SubOpt::subscribe(t(n)))
            .collect();
        let outcome = subs.on_sub_opts(peer(1), &opts);
        assert_eq!(outcome.changes.len(), 2);
        assert_eq!(outcome.refused, 2);
        assert!(!subs.is_peer_subscribed(&peer(1), &t("c")));
        // Leaving one makes room again.
        subs.on_sub_opts(peer(1), &[SubOpt::unsubscribe(t("a"))]);
        let outcome = subs.on_sub_opts(peer(1), &[SubOpt::subscribe(t("c"))]);
        assert_eq!(outcome.refused, 0);
        assert!(subs.is_peer_subscribed(&peer(1), &t("c")));
    }

    #[test]
    fn remove_peer_forgets_all_its_topics() {
        let mut subs = Subscriptions::default();
        subs.on_sub_opts(
            peer(1),
            &[SubOpt::subscribe(t("a")), SubOpt::subscribe(t("b"))],
        );
        subs.on_sub_opts(peer(2), &[SubOpt::subscribe(t("b"))]);
        assert_eq!(subs.remove_peer(&peer(1)), [t("a"), t("b")]);
        assert_eq!(subs.peer_count_in(&t("a")), 0);
        assert_eq!(subs.peers_in(&t("b")).collect::<Vec<_>>(), [&peer(2)]);
        assert!(subs.remove_peer(&peer(1)).is_empty());
    }

    #[test]
    fn our_topics_build_the_announcement() {
        let mut subs = Subscriptions::default();
        assert!(subs.subscribe(t("b")));
        assert!(subs.subscribe(t("a")));
        assert!(!subs.subscribe(t("a")));
        assert_eq!(
            subs.announcement(),
            [SubOpt::subscribe(t("a")), SubOpt::subscribe(t("b"))]
        );
        assert!(subs.unsubscribe(&t("a")));
        assert!(!subs.is_subscribed(&t("a")));
        assert_eq!(subs.topics().collect::<Vec<_>>(), [&t("b")]);
    }
}
