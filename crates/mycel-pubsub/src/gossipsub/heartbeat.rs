//! The heartbeat (gossipsub-v1.0.md "Heartbeat", gossipsub-v1.1.md "Heartbeat
//! Maintenance"): penalties for broken promises, score decay, expiry, mesh and fanout
//! maintenance, gossip emission, and the message cache's shift.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use mycel_core::PeerId;
use rand::seq::SliceRandom;

use super::{
    out::Out,
    router::{Gossipsub, choose},
};
use crate::{IHave, MessageId, TopicHash};

/// Score decays run at most this many times in one heartbeat, however long the caller
/// went without one.
const MAX_DECAYS_PER_HEARTBEAT: u32 = 16;

/// Every peer's score, read once per heartbeat.
struct Scores(BTreeMap<PeerId, f64>);

impl Scores {
    fn of(&self, peer: &PeerId) -> f64 {
        self.0.get(peer).copied().unwrap_or(0.0)
    }
}

impl Gossipsub {
    pub(super) fn run_heartbeat(&mut self, now: Instant, out: &mut Out) {
        self.ticks += 1;
        let tick = self.ticks;
        for state in self.peers.values_mut() {
            state.ihave_rpcs = 0;
            state.iasked = 0;
            state.dont_want.heartbeat(tick);
        }
        for (peer, broken) in self.promises.take_broken(now) {
            self.penalise(&peer, broken);
        }
        self.decay_scores(now);
        let slack = self.slack();
        self.backoffs.expire(now, slack);
        self.seen.expire(now);

        let scores = Scores(
            self.peers
                .keys()
                .map(|p| (*p, self.score(p, now)))
                .collect(),
        );
        let gossip = self.mcache.gossip_ids();
        let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
        for topic in &topics {
            self.maintain_mesh(topic, &scores, now, out);
            let mesh = self.mesh.get(topic).cloned().unwrap_or_default();
            self.emit_gossip(topic, &mesh, gossip.get(topic), &scores, out);
        }
        self.maintain_fanout(&scores, now);
        let topics: Vec<TopicHash> = self.fanout.keys().cloned().collect();
        for topic in &topics {
            let fanout = self.fanout.get(topic).cloned().unwrap_or_default();
            self.emit_gossip(topic, &fanout, gossip.get(topic), &scores, out);
        }
        self.mcache.shift();
    }

    /// Runs the score decay once per `decay_interval` elapsed.
    fn decay_scores(&mut self, now: Instant) {
        let Some(score) = &mut self.score else {
            return;
        };
        let interval = score.params().decay_interval;
        let Some(mut last) = self.last_decay else {
            self.last_decay = Some(now);
            return;
        };
        let mut runs = 0;
        while now.saturating_duration_since(last) >= interval && runs < MAX_DECAYS_PER_HEARTBEAT {
            last += interval;
            score.refresh(last);
            runs += 1;
        }
        if now.saturating_duration_since(last) >= interval {
            last = now;
        }
        self.last_decay = Some(last);
    }

    /// Peers of `topic` we may graft: connected, subscribed, not in the mesh, not backed
    /// off (with slack), and passing `filter`.
    fn graft_candidates(
        &self,
        topic: &TopicHash,
        now: Instant,
        filter: impl Fn(&PeerId) -> bool,
    ) -> Vec<PeerId> {
        let slack = self.slack();
        let mesh = self.mesh.get(topic);
        self.topic_peers(topic)
            .filter(|p| {
                !mesh.is_some_and(|m| m.contains(p))
                    && !self.backoffs.is_backed_off(topic, p, now, slack)
                    && filter(p)
            })
            .copied()
            .collect()
    }

    fn mesh_of(&self, topic: &TopicHash) -> Vec<PeerId> {
        self.mesh_peers(topic)
    }

    fn maintain_mesh(&mut self, topic: &TopicHash, scores: &Scores, now: Instant, out: &mut Out) {
        let prune_backoff = self.config.prune_backoff;
        // Negative scores leave every mesh, without peer exchange.
        for peer in self.mesh_of(topic) {
            if scores.of(&peer) < 0.0 {
                self.prune_peer(topic, peer, false, prune_backoff, now, out);
            }
        }

        let size = self.mesh_of(topic).len();
        if size < self.config.d_lo {
            let candidates = self.graft_candidates(topic, now, |p| scores.of(p) >= 0.0);
            for peer in choose(&mut self.rng, candidates, self.config.d - size) {
                self.graft_peer(topic, peer, now, out);
            }
        }

        if self.mesh_of(topic).len() > self.config.d_hi {
            for peer in self.surplus(topic, scores) {
                self.prune_peer(topic, peer, self.config.do_px, prune_backoff, now, out);
            }
        }

        let mesh = self.mesh_of(topic);
        if mesh.len() >= self.config.d_lo {
            let outbound = mesh.iter().filter(|p| self.is_outbound(p)).count();
            if outbound < self.config.d_out {
                let candidates = self
                    .graft_candidates(topic, now, |p| self.is_outbound(p) && scores.of(p) >= 0.0);
                for peer in choose(&mut self.rng, candidates, self.config.d_out - outbound) {
                    self.graft_peer(topic, peer, now, out);
                }
            }
        }

        if self.score.is_some() && self.ticks % self.config.opportunistic_graft_ticks == 0 {
            self.opportunistic_graft(topic, scores, now, out);
        }
    }

    /// The peers to prune from an oversized mesh: we keep the `D_score` best by score
    /// and random others up to `D`, swapping in outbound peers for the lowest-ranked
    /// inbound ones until `D_out` of the kept are outbound.
    fn surplus(&mut self, topic: &TopicHash, scores: &Scores) -> Vec<PeerId> {
        let mut ranked = self.mesh_of(topic);
        ranked.shuffle(&mut self.rng);
        ranked.sort_by(|a, b| {
            scores
                .of(b)
                .partial_cmp(&scores.of(a))
                .unwrap_or(Ordering::Equal)
        });
        let d_score = self.config.d_score.min(ranked.len());
        ranked[d_score..].shuffle(&mut self.rng);
        let d = self.config.d.min(ranked.len());
        let mut rest = ranked.split_off(d);
        let mut keep = ranked;
        let outbound = keep.iter().filter(|p| self.is_outbound(p)).count();
        let needed = self.config.d_out.saturating_sub(outbound);
        let swaps: Vec<PeerId> = rest
            .iter()
            .filter(|p| self.is_outbound(p))
            .take(needed)
            .copied()
            .collect();
        for incoming in swaps {
            let Some(pos) = keep.iter().rposition(|p| !self.is_outbound(p)) else {
                break;
            };
            let dropped = keep.remove(pos);
            keep.push(incoming);
            rest.retain(|p| *p != incoming);
            rest.push(dropped);
        }
        rest
    }

    /// When the median score of the mesh is below `opportunistic_graft_threshold`,
    /// grafts a few peers scoring above the median.
    fn opportunistic_graft(
        &mut self,
        topic: &TopicHash,
        scores: &Scores,
        now: Instant,
        out: &mut Out,
    ) {
        let mut mesh_scores: Vec<f64> = self.mesh_of(topic).iter().map(|p| scores.of(p)).collect();
        if mesh_scores.len() < 2 {
            return;
        }
        mesh_scores.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
        let median = mesh_scores[mesh_scores.len() / 2];
        if median >= self.thresholds.opportunistic_graft_threshold {
            return;
        }
        let candidates = self.graft_candidates(topic, now, |p| scores.of(p) > median);
        for peer in choose(
            &mut self.rng,
            candidates,
            self.config.opportunistic_graft_peers,
        ) {
            self.graft_peer(topic, peer, now, out);
        }
    }

    /// Drops fanout sets unused for `fanout_ttl`; keeps the others to `D` peers above
    /// the publish threshold.
    fn maintain_fanout(&mut self, scores: &Scores, now: Instant) {
        let ttl = self.config.fanout_ttl;
        let expired: Vec<TopicHash> = self
            .fanout_last_pub
            .iter()
            .filter(|(_, last)| now.saturating_duration_since(**last) >= ttl)
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in expired {
            self.fanout.remove(&topic);
            self.fanout_last_pub.remove(&topic);
        }
        let threshold = self.thresholds.publish_threshold;
        let topics: Vec<TopicHash> = self.fanout.keys().cloned().collect();
        for topic in topics {
            let current: BTreeSet<PeerId> = self
                .fanout
                .get(&topic)
                .into_iter()
                .flatten()
                .filter(|p| {
                    self.peers.contains_key(p)
                        && self.subscriptions.is_peer_subscribed(p, &topic)
                        && scores.of(p) >= threshold
                })
                .copied()
                .collect();
            let mut fanout = current;
            if fanout.len() < self.config.d {
                let candidates: Vec<PeerId> = self
                    .topic_peers(&topic)
                    .filter(|p| !fanout.contains(p) && scores.of(p) >= threshold)
                    .copied()
                    .collect();
                let more = self.config.d - fanout.len();
                fanout.extend(choose(&mut self.rng, candidates, more));
            }
            self.fanout.insert(topic, fanout);
        }
    }

    /// IHAVE of the recent ids of `topic` to `max(D_lazy, gossip_factor * eligible)`
    /// random topic peers outside `exclude` whose score reaches the gossip threshold.
    fn emit_gossip(
        &mut self,
        topic: &TopicHash,
        exclude: &BTreeSet<PeerId>,
        ids: Option<&Vec<MessageId>>,
        scores: &Scores,
        out: &mut Out,
    ) {
        let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
            return;
        };
        let threshold = self.thresholds.gossip_threshold;
        let eligible: Vec<PeerId> = self
            .topic_peers(topic)
            .filter(|p| !exclude.contains(p) && scores.of(p) >= threshold)
            .copied()
            .collect();
        // The factor of a count of peers: the float conversion is exact and the result
        // no larger than the count.
        let by_factor = (self.config.gossip_factor * eligible.len() as f64) as usize;
        let target = self.config.d_lazy.max(by_factor);
        let max_ids = self.config.max_ihave_length;
        for peer in choose(&mut self.rng, eligible, target) {
            let mut message_ids = ids.clone();
            if message_ids.len() > max_ids {
                message_ids.shuffle(&mut self.rng);
                message_ids.truncate(max_ids);
            }
            out.ihave(
                peer,
                IHave {
                    topic: topic.clone(),
                    message_ids,
                },
            );
        }
    }
}
