//! Our side of topic membership and publishing: JOIN, LEAVE, publish, fanout.

use std::{collections::BTreeSet, time::Instant};

use mycel_core::PeerId;

use super::{
    out::Out,
    router::{Gossipsub, choose},
};
use crate::{Event, Message, MessageId, SubOpt, TopicHash};

impl Gossipsub {
    /// JOIN(topic): announce it, and graft up to `D` peers, fanout peers first.
    pub(super) fn join(&mut self, topic: TopicHash, now: Instant) -> Vec<Event> {
        let mut out = Out::default();
        if !self.subscriptions.subscribe(topic.clone()) {
            return Vec::new();
        }
        for peer in self.peers.keys() {
            out.rpc(*peer)
                .subscriptions
                .push(SubOpt::subscribe(topic.clone()));
        }
        let slack = self.slack();
        let mut chosen: Vec<PeerId> = self
            .fanout
            .remove(&topic)
            .into_iter()
            .flatten()
            .filter(|p| {
                self.score(p, now) >= 0.0 && !self.backoffs.is_backed_off(&topic, p, now, slack)
            })
            .collect();
        self.fanout_last_pub.remove(&topic);
        if chosen.len() < self.config.d {
            let candidates: Vec<PeerId> = self
                .topic_peers(&topic)
                .filter(|p| {
                    !chosen.contains(p)
                        && self.score(p, now) >= 0.0
                        && !self.backoffs.is_backed_off(&topic, p, now, slack)
                })
                .copied()
                .collect();
            let more = self.config.d - chosen.len();
            chosen.extend(choose(&mut self.rng, candidates, more));
        }
        self.mesh.insert(topic.clone(), BTreeSet::new());
        for peer in chosen {
            self.graft_peer(&topic, peer, now, &mut out);
        }
        out.finish()
    }

    /// LEAVE(topic): announce it and prune the mesh with the unsubscribe backoff.
    pub(super) fn leave(&mut self, topic: &TopicHash, now: Instant) -> Vec<Event> {
        let mut out = Out::default();
        if !self.subscriptions.unsubscribe(topic) {
            return Vec::new();
        }
        for peer in self.peers.keys() {
            out.rpc(*peer)
                .subscriptions
                .push(SubOpt::unsubscribe(topic.clone()));
        }
        let mesh: Vec<PeerId> = self
            .mesh
            .get(topic)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        let backoff = self.config.unsubscribe_backoff;
        for peer in mesh {
            self.prune_peer(topic, peer, self.config.do_px, backoff, now, &mut out);
        }
        self.mesh.remove(topic);
        out.finish()
    }

    /// Sends our own message: to every topic peer above the publish threshold when
    /// flood publishing, else to the mesh, or the fanout when not subscribed.
    pub(super) fn publish_own(
        &mut self,
        message: Message,
        now: Instant,
    ) -> (MessageId, Vec<Event>) {
        let id = (self.config.message_id)(&message);
        if !self.seen.insert(id.clone(), now) {
            // Already sent or received: a second copy would only be a duplicate.
            return (id, Vec::new());
        }
        self.mcache.put(id.clone(), message.clone());
        let topic = message.topic.clone();
        let publish_threshold = self.thresholds.publish_threshold;
        let recipients: Vec<PeerId> = if self.config.flood_publish {
            self.topic_peers(&topic)
                .filter(|p| self.score(p, now) >= publish_threshold)
                .copied()
                .collect()
        } else {
            let peers = if self.mesh.contains_key(&topic) {
                self.mesh_peers(&topic)
            } else {
                self.fanout_for(&topic, now)
            };
            peers
                .into_iter()
                .filter(|p| !self.peers.get(p).is_some_and(|s| s.dont_want.contains(&id)))
                .collect()
        };
        let mut out = Out::default();
        for peer in recipients {
            if Some(peer) != message.from {
                out.message(peer, message.clone());
            }
        }
        (id, out.finish())
    }

    /// The fanout of `topic`, picking up to `D` peers above the publish threshold if it
    /// is empty; notes the publish time.
    fn fanout_for(&mut self, topic: &TopicHash, now: Instant) -> Vec<PeerId> {
        self.fanout_last_pub.insert(topic.clone(), now);
        if self.fanout.get(topic).is_none_or(BTreeSet::is_empty) {
            let threshold = self.thresholds.publish_threshold;
            let candidates: Vec<PeerId> = self
                .topic_peers(topic)
                .filter(|p| self.score(p, now) >= threshold)
                .copied()
                .collect();
            let chosen = choose(&mut self.rng, candidates, self.config.d);
            self.fanout
                .insert(topic.clone(), chosen.into_iter().collect());
        }
        self.fanout_peers(topic)
    }
}
