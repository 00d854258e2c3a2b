//! [`Gossipsub`]: the router's state, peers, the mesh edits the other parts share, and
//! its [`Router`] implementation. JOIN, LEAVE and publishing are in `topics.rs`,
//! received RPCs in `handlers.rs`, the heartbeat in `heartbeat.rs`.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use mycel_core::{PeerId, ProtocolId};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use super::{
    backoff::{Backoffs, MAX_PEER_BACKOFF},
    config::GossipsubConfig,
    dontwant::DontWant,
    mcache::MessageCache,
    out::Out,
    promises::Promises,
};
use crate::{
    DecodedRpc, Event, GOSSIPSUB_1_0, GOSSIPSUB_1_1, GOSSIPSUB_1_2, Message, MessageId,
    PeerConnection, PeerInfo, PeerScore, PeerScoreThresholds, Prune, PubsubError, Router,
    SeenCache, Subscriptions, TopicHash, TopicScoreParams,
};

/// The gossipsub version a peer speaks, from the protocol it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// `/meshsub/1.0.0`: no backoff or peer exchange in PRUNE, no IDONTWANT.
    V1_0,
    /// `/meshsub/1.1.0`.
    V1_1,
    /// `/meshsub/1.2.0`: IDONTWANT.
    V1_2,
}

impl Version {
    /// The version of `protocol`; anything unknown is treated as 1.0, the most careful.
    pub(crate) fn of(protocol: &ProtocolId) -> Self {
        if *protocol == GOSSIPSUB_1_2 {
            Version::V1_2
        } else if *protocol == GOSSIPSUB_1_1 {
            Version::V1_1
        } else {
            Version::V1_0
        }
    }
}

/// What we know of one connected peer.
#[derive(Debug)]
pub(crate) struct PeerState {
    /// The gossipsub version it speaks.
    pub(crate) version: Version,
    /// Whether we dialed it.
    pub(crate) outbound: bool,
    /// RPCs with IHAVEs it sent this heartbeat.
    pub(crate) ihave_rpcs: usize,
    /// Message ids we asked it for this heartbeat.
    pub(crate) iasked: usize,
    /// The messages it told us it has (IDONTWANT).
    pub(crate) dont_want: DontWant,
}

/// Longest wait the router computes an instant for (backoffs, deadlines); longer
/// settings and peer requests are cut to it so that no instant overflows.
const MAX_WAIT: Duration = MAX_PEER_BACKOFF;

/// `now + wait`, with `wait` cut to [`MAX_WAIT`].
pub(crate) fn after(now: Instant, wait: Duration) -> Instant {
    now + wait.min(MAX_WAIT)
}

/// Up to `n` of `candidates`, picked at random.
pub(crate) fn choose(rng: &mut StdRng, mut candidates: Vec<PeerId>, n: usize) -> Vec<PeerId> {
    if candidates.len() > n {
        candidates.shuffle(rng);
        candidates.truncate(n);
    }
    candidates
}

/// The gossipsub router of one node: meshes, fanout, gossip, backoff, scoring.
///
/// A state machine: the caller feeds peers, RPCs, commands and the clock, and performs
/// the [`Event`]s it gets back. Randomness comes from a seedable generator
/// ([`Gossipsub::with_rng_seed`]), and every table iterates in a fixed order, so a run
/// repeats exactly from its seed.
#[derive(Debug)]
pub struct Gossipsub {
    pub(super) config: GossipsubConfig,
    /// The thresholds in force: the configured ones with scoring on, all zero without
    /// (every score is 0 then, so none of them bites).
    pub(super) thresholds: PeerScoreThresholds,
    pub(super) subscriptions: Subscriptions,
    pub(super) seen: SeenCache,
    pub(super) mcache: MessageCache,
    pub(super) peers: BTreeMap<PeerId, PeerState>,
    /// Our mesh of each topic we are subscribed to (a key for each such topic).
    pub(super) mesh: BTreeMap<TopicHash, BTreeSet<PeerId>>,
    /// Peers we publish to in topics we are not subscribed to.
    pub(super) fanout: BTreeMap<TopicHash, BTreeSet<PeerId>>,
    /// Our last publish in each fanout topic.
    pub(super) fanout_last_pub: BTreeMap<TopicHash, Instant>,
    pub(super) backoffs: Backoffs,
    pub(super) promises: Promises,
    pub(super) score: Option<PeerScore>,
    /// When the score counters last decayed.
    pub(super) last_decay: Option<Instant>,
    /// Heartbeats run.
    pub(super) ticks: u64,
    pub(super) rng: StdRng,
    /// Behaviour penalties applied, by peer (what tests observe without real scoring).
    #[cfg(test)]
    pub(super) penalties: BTreeMap<PeerId, usize>,
}

impl Gossipsub {
    /// A router with no peers and no subscriptions, its randomness seeded from the OS.
    pub fn new(config: GossipsubConfig) -> Result<Self, PubsubError> {
        Gossipsub::build(config, StdRng::from_entropy())
    }

    /// A router whose random choices all derive from `seed`, for simulations that must
    /// repeat.
    pub fn with_rng_seed(config: GossipsubConfig, seed: u64) -> Result<Self, PubsubError> {
        Gossipsub::build(config, StdRng::seed_from_u64(seed))
    }

    fn build(config: GossipsubConfig, rng: StdRng) -> Result<Self, PubsubError> {
        config.validate()?;
        let (score, thresholds) = match &config.score_params {
            Some(params) => (
                Some(PeerScore::new(params.clone())),
                config.score_thresholds,
            ),
            None => (
                None,
                PeerScoreThresholds {
                    gossip_threshold: 0.0,
                    publish_threshold: 0.0,
                    graylist_threshold: 0.0,
                    accept_px_threshold: 0.0,
                    opportunistic_graft_threshold: 0.0,
                },
            ),
        };
        Ok(Gossipsub {
            thresholds,
            subscriptions: Subscriptions::new(config.max_topics_per_peer),
            seen: SeenCache::new(config.seen_ttl, config.seen_capacity),
            mcache: MessageCache::new(
                config.mcache_gossip,
                config.mcache_len,
                config.seen_capacity,
            ),
            peers: BTreeMap::new(),
            mesh: BTreeMap::new(),
            fanout: BTreeMap::new(),
            fanout_last_pub: BTreeMap::new(),
            backoffs: Backoffs::default(),
            promises: Promises::default(),
            score,
            last_decay: None,
            ticks: 0,
            rng,
            #[cfg(test)]
            penalties: BTreeMap::new(),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &GossipsubConfig {
        &self.config
    }

    /// `peer`'s score at `now` (0 with scoring off).
    pub fn score(&self, peer: &PeerId, now: Instant) -> f64 {
        self.score.as_ref().map_or(0.0, |s| s.score(peer, now))
    }

    /// Sets the application-specific part of `peer`'s score (P5); false with scoring
    /// off.
    pub fn set_app_score(&mut self, peer: &PeerId, score: f64) -> bool {
        match &mut self.score {
            Some(s) => {
                s.set_app_score(peer, score);
                true
            }
            None => false,
        }
    }

    /// Sets or replaces one topic's scoring; refused with scoring off or parameters the
    /// spec forbids.
    pub fn set_topic_score_params(
        &mut self,
        topic: TopicHash,
        params: TopicScoreParams,
    ) -> Result<(), PubsubError> {
        match &mut self.score {
            Some(s) => {
                params
                    .validate()
                    .map_err(|e| PubsubError::InvalidConfig(e.to_string()))?;
                s.set_topic_params(topic, params);
                Ok(())
            }
            None => Err(PubsubError::InvalidConfig(
                "peer scoring is off (score_params is None)".into(),
            )),
        }
    }

    /// Our mesh of `topic` (empty when not subscribed). [`Router::mesh_peers`] gives the
    /// fanout instead for a topic we only publish to.
    pub fn mesh_peers(&self, topic: &TopicHash) -> Vec<PeerId> {
        self.mesh
            .get(topic)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The peers we publish to in `topic`, which we are not subscribed to.
    pub fn fanout_peers(&self, topic: &TopicHash) -> Vec<PeerId> {
        self.fanout
            .get(topic)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether we back off from grafting `peer` in `topic` at `now` (after a PRUNE
    /// either way).
    pub fn is_backed_off(&self, peer: &PeerId, topic: &TopicHash, now: Instant) -> bool {
        self.backoffs
            .is_backed_off(topic, peer, now, Duration::ZERO)
    }

    /// The connected peers.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> + '_ {
        self.peers.keys()
    }

    /// The backoff slack: `backoff_slack` heartbeats.
    pub(super) fn slack(&self) -> Duration {
        self.config
            .heartbeat_interval
            .saturating_mul(self.config.backoff_slack)
    }

    /// Connected peers subscribed to `topic`.
    pub(super) fn topic_peers<'a>(
        &'a self,
        topic: &'a TopicHash,
    ) -> impl Iterator<Item = &'a PeerId> + 'a {
        self.subscriptions
            .peers_in(topic)
            .filter(|p| self.peers.contains_key(p))
    }

    pub(super) fn is_outbound(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.outbound)
    }

    pub(super) fn version(&self, peer: &PeerId) -> Version {
        self.peers.get(peer).map_or(Version::V1_0, |p| p.version)
    }

    /// Applies a behaviour penalty (P7).
    pub(super) fn penalise(&mut self, peer: &PeerId, count: usize) {
        if let Some(score) = &mut self.score {
            score.add_penalty(peer, count);
        }
        #[cfg(test)]
        {
            *self.penalties.entry(*peer).or_default() += count;
        }
    }

    /// Adds `peer` to our mesh of `topic` (which must exist) and tells it.
    pub(super) fn graft_peer(
        &mut self,
        topic: &TopicHash,
        peer: PeerId,
        now: Instant,
        out: &mut Out,
    ) {
        if self.add_to_mesh(topic, peer, now, out) {
            out.graft(peer, topic.clone());
        }
    }

    /// Adds `peer` to our mesh of `topic`, if we have one; true if it was not in it.
    pub(super) fn add_to_mesh(
        &mut self,
        topic: &TopicHash,
        peer: PeerId,
        now: Instant,
        out: &mut Out,
    ) -> bool {
        let Some(mesh) = self.mesh.get_mut(topic) else {
            return false;
        };
        if !mesh.insert(peer) {
            return false;
        }
        if let Some(score) = &mut self.score {
            score.graft(&peer, topic, now);
        }
        out.event(Event::Grafted {
            peer,
            topic: topic.clone(),
        });
        true
    }

    /// Removes `peer` from our mesh of `topic`; true if it was in it.
    pub(super) fn remove_from_mesh(
        &mut self,
        topic: &TopicHash,
        peer: &PeerId,
        now: Instant,
        out: &mut Out,
    ) -> bool {
        if !self.mesh.get_mut(topic).is_some_and(|m| m.remove(peer)) {
            return false;
        }
        if let Some(score) = &mut self.score {
            score.prune(peer, topic, now);
        }
        out.event(Event::Pruned {
            peer: *peer,
            topic: topic.clone(),
        });
        true
    }

    /// Removes `peer` from our mesh of `topic`, backs off from it for `backoff` and
    /// sends it a PRUNE (offering other peers if `px`).
    pub(super) fn prune_peer(
        &mut self,
        topic: &TopicHash,
        peer: PeerId,
        px: bool,
        backoff: Duration,
        now: Instant,
        out: &mut Out,
    ) {
        self.remove_from_mesh(topic, &peer, now, out);
        self.backoffs.extend(topic, peer, after(now, backoff));
        let prune = self.make_prune(topic, peer, px, backoff, now);
        out.prune(peer, prune);
    }

    /// The PRUNE for `peer`: bare for a 1.0 peer; with the backoff in seconds and, if
    /// `px`, up to `prune_peers` other non-negative topic peers for a later one.
    pub(super) fn make_prune(
        &mut self,
        topic: &TopicHash,
        peer: PeerId,
        px: bool,
        backoff: Duration,
        now: Instant,
    ) -> Prune {
        if self.version(&peer) == Version::V1_0 {
            return Prune {
                topic: topic.clone(),
                peers: Vec::new(),
                backoff: None,
            };
        }
        let peers = if px {
            let candidates: Vec<PeerId> = self
                .topic_peers(topic)
                .filter(|p| **p != peer && self.score(p, now) >= 0.0)
                .copied()
                .collect();
            choose(&mut self.rng, candidates, self.config.prune_peers)
                .into_iter()
                .map(|peer_id| PeerInfo {
                    peer_id,
                    signed_peer_record: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        Prune {
            topic: topic.clone(),
            peers,
            backoff: Some(backoff.as_secs()),
        }
    }

    fn add_peer(&mut self, peer: PeerId, connection: PeerConnection, now: Instant) -> Vec<Event> {
        if self.peers.contains_key(&peer) {
            return Vec::new();
        }
        self.peers.insert(
            peer,
            PeerState {
                version: Version::of(&connection.protocol),
                outbound: connection.outbound,
                ihave_rpcs: 0,
                iasked: 0,
                dont_want: DontWant::default(),
            },
        );
        if let Some(score) = &mut self.score {
            score.add_peer(peer, connection.ip, now);
        }
        let mut out = Out::default();
        let announcement = self.subscriptions.announcement();
        if !announcement.is_empty() {
            out.rpc(peer).subscriptions = announcement;
        }
        out.finish()
    }

    fn remove_peer(&mut self, peer: &PeerId, now: Instant) -> Vec<Event> {
        let mut out = Out::default();
        if self.peers.remove(peer).is_some() {
            let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
            for topic in topics {
                if self.mesh.get_mut(&topic).is_some_and(|m| m.remove(peer)) {
                    out.event(Event::Pruned { peer: *peer, topic });
                }
            }
            for fanout in self.fanout.values_mut() {
                fanout.remove(peer);
            }
            self.promises.remove_peer(peer);
            if let Some(score) = &mut self.score {
                score.remove_peer(peer, now);
            }
        }
        for topic in self.subscriptions.remove_peer(peer) {
            out.event(Event::Unsubscribed { peer: *peer, topic });
        }
        out.finish()
    }
}

impl Router for Gossipsub {
    fn protocols(&self) -> Vec<ProtocolId> {
        vec![GOSSIPSUB_1_2, GOSSIPSUB_1_1, GOSSIPSUB_1_0]
    }

    fn add_peer(&mut self, peer: PeerId, connection: PeerConnection, now: Instant) -> Vec<Event> {
        Gossipsub::add_peer(self, peer, connection, now)
    }

    fn remove_peer(&mut self, peer: &PeerId, now: Instant) -> Vec<Event> {
        Gossipsub::remove_peer(self, peer, now)
    }

    fn subscribe(&mut self, topic: TopicHash, now: Instant) -> Vec<Event> {
        self.join(topic, now)
    }

    fn unsubscribe(&mut self, topic: &TopicHash, now: Instant) -> Vec<Event> {
        self.leave(topic, now)
    }

    fn publish(&mut self, message: Message, now: Instant) -> (MessageId, Vec<Event>) {
        self.publish_own(message, now)
    }

    fn on_rpc(&mut self, from: PeerId, decoded: DecodedRpc, now: Instant) -> Vec<Event> {
        let mut out = Out::default();
        self.handle_rpc(from, decoded, now, &mut out);
        out.finish()
    }

    fn heartbeat_interval(&self) -> Duration {
        self.config.heartbeat_interval
    }

    fn heartbeat(&mut self, now: Instant) -> Vec<Event> {
        let mut out = Out::default();
        self.run_heartbeat(now, &mut out);
        out.finish()
    }

    fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// The mesh of a topic we are subscribed to, else its fanout.
    fn mesh_peers(&self, topic: &TopicHash) -> Vec<PeerId> {
        if self.mesh.contains_key(topic) {
            Gossipsub::mesh_peers(self, topic)
        } else {
            self.fanout_peers(topic)
        }
    }
}
