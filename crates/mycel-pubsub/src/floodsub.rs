//! The floodsub router as a state machine: RPCs and commands in, [`Event`]s out.
//!
//! Floodsub (`/floodsub/1.0.0`, pubsub/README.md) sends every message to every peer
//! subscribed to its topic, except the peer it came from and its author; a message seen
//! before (by message id, within the seen cache's lifetime) is neither delivered nor
//! sent again. The caller owns the IO: it feeds [`Floodsub::on_rpc`] with what peers
//! send and performs the [`Event::Send`]s it gets back.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant},
};

use mycel_core::{PeerId, ProtocolId};

use crate::{
    Acceptance, DEFAULT_SEEN_CAPACITY, DEFAULT_SEEN_TTL, DecodedRpc, Event, MAX_TOPICS_PER_PEER,
    Message, MessageId, MessageIdFn, MessageValidator, OutboundStreams, PeerConnection, Router,
    Rpc, SeenCache, SubOpt, SubscriptionChange, Subscriptions, TopicHash, ValidationMode,
    default_message_id, router::sends,
};

/// Floodsub's protocol id (missing from the spec text; every implementation uses it).
pub const PROTOCOL: ProtocolId = ProtocolId::from_static("/floodsub/1.0.0");

/// Settings of a floodsub router.
#[derive(Clone)]
pub struct FloodsubConfig {
    /// How message ids are computed (every peer of a network must agree).
    pub message_id: MessageIdFn,
    /// What received messages must carry (signatures, authorship).
    pub validation: ValidationMode,
    /// How long a message id is remembered.
    pub seen_ttl: Duration,
    /// How many message ids are remembered at most.
    pub seen_capacity: usize,
    /// Topics remembered per peer.
    pub max_topics_per_peer: usize,
    /// The application's check, run before delivering and forwarding.
    pub validator: Option<MessageValidator>,
    /// How RPCs travel to each peer. The default, [`OutboundStreams::Adaptive`], keeps
    /// one long-lived stream (go, js and py floodsub; js refuses a second inbound
    /// stream) and falls back to a stream per RPC for a peer that drops the stream
    /// after one RPC (rust-libp2p's floodsub).
    pub streams: OutboundStreams,
}

impl Default for FloodsubConfig {
    fn default() -> Self {
        FloodsubConfig {
            message_id: Arc::new(default_message_id),
            validation: ValidationMode::Strict,
            seen_ttl: DEFAULT_SEEN_TTL,
            seen_capacity: DEFAULT_SEEN_CAPACITY,
            max_topics_per_peer: MAX_TOPICS_PER_PEER,
            validator: None,
            streams: OutboundStreams::Adaptive,
        }
    }
}

impl std::fmt::Debug for FloodsubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloodsubConfig")
            .field("validation", &self.validation)
            .field("seen_ttl", &self.seen_ttl)
            .field("seen_capacity", &self.seen_capacity)
            .field("max_topics_per_peer", &self.max_topics_per_peer)
            .field("validator", &self.validator.is_some())
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

/// The floodsub router of one node.
#[derive(Debug)]
pub struct Floodsub {
    config: FloodsubConfig,
    subscriptions: Subscriptions,
    seen: SeenCache,
    peers: BTreeSet<PeerId>,
}

impl Floodsub {
    /// A router with no peers and no subscriptions.
    pub fn new(config: FloodsubConfig) -> Self {
        Floodsub {
            subscriptions: Subscriptions::new(config.max_topics_per_peer),
            seen: SeenCache::new(config.seen_ttl, config.seen_capacity),
            peers: BTreeSet::new(),
            config,
        }
    }

    /// The subscription bookkeeping (ours and the peers').
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// Peers that speak floodsub with us.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> + '_ {
        self.peers.iter()
    }

    /// A peer opened floodsub with us: it learns our subscriptions.
    pub fn add_peer(&mut self, peer: PeerId) -> Vec<Event> {
        if !self.peers.insert(peer) {
            return Vec::new();
        }
        let announcement = self.subscriptions.announcement();
        if announcement.is_empty() {
            return Vec::new();
        }
        vec![Event::Send {
            to: peer,
            rpc: Rpc {
                subscriptions: announcement,
                ..Rpc::default()
            },
        }]
    }

    /// A peer went away.
    pub fn remove_peer(&mut self, peer: &PeerId) -> Vec<Event> {
        self.peers.remove(peer);
        self.subscriptions
            .remove_peer(peer)
            .into_iter()
            .map(|topic| Event::Unsubscribed { peer: *peer, topic })
            .collect()
    }

    fn announce(&self, opt: SubOpt) -> Vec<Event> {
        self.peers
            .iter()
            .map(|peer| Event::Send {
                to: *peer,
                rpc: Rpc {
                    subscriptions: vec![opt.clone()],
                    ..Rpc::default()
                },
            })
            .collect()
    }

    /// Joins a topic and tells every peer.
    pub fn subscribe(&mut self, topic: TopicHash) -> Vec<Event> {
        if !self.subscriptions.subscribe(topic.clone()) {
            return Vec::new();
        }
        self.announce(SubOpt::subscribe(topic))
    }

    /// Leaves a topic and tells every peer.
    pub fn unsubscribe(&mut self, topic: &TopicHash) -> Vec<Event> {
        if !self.subscriptions.unsubscribe(topic) {
            return Vec::new();
        }
        self.announce(SubOpt::unsubscribe(topic.clone()))
    }

    /// Sends a message of ours (already stamped and signed, see
    /// [`crate::Publisher`]) to every peer subscribed to its topic. Returns its id and the
    /// sends (none when no peer is subscribed).
    pub fn publish(&mut self, message: Message, now: Instant) -> (MessageId, Vec<Event>) {
        let id = (self.config.message_id)(&message);
        self.seen.insert(id.clone(), now);
        let mut out = BTreeMap::new();
        self.route(&message, None, &mut out);
        (id, sends(out))
    }

    /// Handles an RPC from `from`.
    pub fn on_rpc(&mut self, from: PeerId, decoded: DecodedRpc, now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        for invalid in decoded.invalid_messages {
            events.push(Event::Invalid {
                from,
                reason: invalid.error.to_string(),
            });
        }
        let rpc = decoded.rpc;
        if !rpc.subscriptions.is_empty() {
            let outcome = self.subscriptions.on_sub_opts(from, &rpc.subscriptions);
            for change in outcome.changes {
                events.push(match change {
                    SubscriptionChange::Subscribed(topic) => {
                        Event::Subscribed { peer: from, topic }
                    }
                    SubscriptionChange::Unsubscribed(topic) => {
                        Event::Unsubscribed { peer: from, topic }
                    }
                });
            }
            if outcome.refused > 0 {
                events.push(Event::Invalid {
                    from,
                    reason: format!("{} subscriptions over the per-peer limit", outcome.refused),
                });
            }
        }
        let mut out = BTreeMap::new();
        for message in rpc.messages {
            if let Err(e) = self.config.validation.validate(&message) {
                events.push(Event::Invalid {
                    from,
                    reason: e.to_string(),
                });
                continue;
            }
            let id = (self.config.message_id)(&message);
            if !self.seen.insert(id.clone(), now) {
                continue;
            }
            let acceptance = self
                .config
                .validator
                .as_ref()
                .map_or(Acceptance::Accept, |v| v(&from, &message));
            match acceptance {
                Acceptance::Accept => {}
                Acceptance::Reject => {
                    events.push(Event::Invalid {
                        from,
                        reason: "rejected by the application".to_string(),
                    });
                    continue;
                }
                Acceptance::Ignore => continue,
            }
            self.route(&message, Some(from), &mut out);
            if self.subscriptions.is_subscribed(&message.topic) {
                events.push(Event::Deliver { from, id, message });
            }
        }
        events.extend(sends(out));
        events
    }

    /// Forgets message ids past their lifetime.
    pub fn expire(&mut self, now: Instant) {
        self.seen.expire(now);
    }

    /// Queues `message` for every subscribed peer but its sender and its author.
    fn route(&self, message: &Message, sender: Option<PeerId>, out: &mut BTreeMap<PeerId, Rpc>) {
        for peer in self.subscriptions.peers_in(&message.topic) {
            if Some(*peer) == sender || Some(*peer) == message.from || !self.peers.contains(peer) {
                continue;
            }
            out.entry(*peer).or_default().messages.push(message.clone());
        }
    }
}

impl Router for Floodsub {
    fn protocols(&self) -> Vec<ProtocolId> {
        vec![PROTOCOL]
    }

    fn add_peer(&mut self, peer: PeerId, _connection: PeerConnection, _now: Instant) -> Vec<Event> {
        Floodsub::add_peer(self, peer)
    }

    fn remove_peer(&mut self, peer: &PeerId, _now: Instant) -> Vec<Event> {
        Floodsub::remove_peer(self, peer)
    }

    fn subscribe(&mut self, topic: TopicHash, _now: Instant) -> Vec<Event> {
        Floodsub::subscribe(self, topic)
    }

    fn unsubscribe(&mut self, topic: &TopicHash, _now: Instant) -> Vec<Event> {
        Floodsub::unsubscribe(self, topic)
    }

    fn publish(&mut self, message: Message, now: Instant) -> (MessageId, Vec<Event>) {
        Floodsub::publish(self, message, now)
    }

    fn on_rpc(&mut self, from: PeerId, decoded: DecodedRpc, now: Instant) -> Vec<Event> {
        Floodsub::on_rpc(self, from, decoded, now)
    }

    fn heartbeat_interval(&self) -> Duration {
        FLOODSUB_HOUSEKEEPING
    }

    fn heartbeat(&mut self, now: Instant) -> Vec<Event> {
        self.expire(now);
        Vec::new()
    }

    fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    fn outbound_streams(&self) -> OutboundStreams {
        self.config.streams
    }

    fn mesh_peers(&self, topic: &TopicHash) -> Vec<PeerId> {
        self.subscriptions
            .peers_in(topic)
            .filter(|peer| self.peers.contains(peer))
            .copied()
            .collect()
    }
}

/// How often floodsub forgets expired message ids.
const FLOODSUB_HOUSEKEEPING: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use mycel_core::Keypair;

    use super::*;
    use crate::{
        Publisher, RpcLimits, SigningPolicy,
        wire::{decode_rpc, encode_rpc},
    };

    /// Routers wired together by hand; `pump` carries every send through the codec.
    struct Net {
        routers: HashMap<PeerId, Floodsub>,
        delivered: Vec<(PeerId, Message)>,
        invalid: Vec<(PeerId, PeerId)>,
        sent: usize,
    }

    impl Net {
        fn new(ids: &[PeerId], config: impl Fn() -> FloodsubConfig) -> Net {
            let routers = ids
                .iter()
                .map(|id| (*id, Floodsub::new(config())))
                .collect();
            Net {
                routers,
                delivered: Vec::new(),
                invalid: Vec::new(),
                sent: 0,
            }
        }

        fn link(&mut self, a: PeerId, b: PeerId) {
            let mut queue = Vec::new();
            queue.extend(
                self.routers
                    .get_mut(&a)
                    .unwrap()
                    .add_peer(b)
                    .into_iter()
                    .map(|e| (a, e)),
            );
            queue.extend(
                self.routers
                    .get_mut(&b)
                    .unwrap()
                    .add_peer(a)
                    .into_iter()
                    .map(|e| (b, e)),
            );
            self.pump(queue);
        }

        fn pump(&mut self, mut queue: Vec<(PeerId, Event)>) {
            let now = Instant::now();
            while let Some((at, event)) = queue.pop() {
                match event {
                    Event::Send { to, rpc } => {
                        self.sent += 1;
                        let bytes = Bytes::from(encode_rpc(&rpc));
                        let decoded = decode_rpc(bytes, &RpcLimits::default()).unwrap();
                        let events = self.routers.get_mut(&to).unwrap().on_rpc(at, decoded, now);
                        queue.extend(events.into_iter().map(|e| (to, e)));
                    }
                    Event::Deliver { message, .. } => self.delivered.push((at, message)),
                    Event::Invalid { from, .. } => self.invalid.push((at, from)),
                    _ => {}
                }
            }
        }

        fn subscribe(&mut self, node: PeerId, topic: &TopicHash) {
            let events = self
                .routers
                .get_mut(&node)
                .unwrap()
                .subscribe(topic.clone());
            self.pump(events.into_iter().map(|e| (node, e)).collect());
        }

        fn publish(&mut self, node: PeerId, message: Message) {
            let (_, events) = self
                .routers
                .get_mut(&node)
                .unwrap()
                .publish(message, Instant::now());
            self.pump(events.into_iter().map(|e| (node, e)).collect());
        }
    }

    fn signed(keypair: &Keypair, topic: &TopicHash, data: &str) -> Message {
        Publisher::with_first_seqno(SigningPolicy::StrictSign(keypair.clone()), 1)
            .publish(topic.clone(), Bytes::from(data.to_string()))
            .unwrap()
    }

    #[test]
    fn a_message_reaches_every_subscriber_of_a_line_once() {
        let keys: Vec<Keypair> = (0..5).map(|_| Keypair::generate()).collect();
        let ids: Vec<PeerId> = keys.iter().map(Keypair::peer_id).collect();
        let mut net = Net::new(&ids, FloodsubConfig::default);
        for w in ids.windows(2) {
            net.link(w[0], w[1]);
        }
        // A ring closes the line, so duplicates arrive and must be dropped.
        net.link(ids[4], ids[0]);
        let topic = TopicHash::from_raw("news");
        for id in &ids {
            net.subscribe(*id, &topic);
        }
        net.publish(ids[0], signed(&keys[0], &topic, "hello"));
        let mut receivers: Vec<PeerId> = net.delivered.iter().map(|(at, _)| *at).collect();
        receivers.sort();
        let mut others = ids[1..].to_vec();
        others.sort();
        assert_eq!(receivers, others, "each other node exactly once");
        assert!(net.invalid.is_empty());
    }

    #[test]
    fn unsubscribed_peers_get_nothing_and_subscriptions_reach_late_peers() {
        let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
        let ids: Vec<PeerId> = keys.iter().map(Keypair::peer_id).collect();
        let mut net = Net::new(&ids, FloodsubConfig::default);
        let topic = TopicHash::from_raw("t");
        net.subscribe(ids[1], &topic);
        // Linked after subscribing: the announcement travels on add_peer.
        net.link(ids[0], ids[1]);
        net.link(ids[0], ids[2]);
        assert!(
            net.routers[&ids[0]]
                .subscriptions()
                .is_peer_subscribed(&ids[1], &topic)
        );
        net.publish(ids[0], signed(&keys[0], &topic, "x"));
        assert_eq!(net.delivered.len(), 1);
        assert_eq!(net.delivered[0].0, ids[1]);
    }

    #[test]
    fn forged_and_rejected_messages_are_dropped_and_counted() {
        let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
        let ids: Vec<PeerId> = keys.iter().map(Keypair::peer_id).collect();
        let mut net = Net::new(&ids, || FloodsubConfig {
            validator: Some(Arc::new(|_, m: &Message| {
                if &m.data[..] == b"spam" {
                    Acceptance::Reject
                } else {
                    Acceptance::Accept
                }
            })),
            ..FloodsubConfig::default()
        });
        net.link(ids[0], ids[1]);
        net.link(ids[1], ids[2]);
        let topic = TopicHash::from_raw("t");
        net.subscribe(ids[1], &topic);
        net.subscribe(ids[2], &topic);
        let mut forged = signed(&keys[0], &topic, "real");
        forged.data = Bytes::from_static(b"changed");
        net.publish(ids[0], forged);
        net.publish(ids[0], signed(&keys[0], &topic, "spam"));
        assert!(
            net.delivered.is_empty(),
            "neither is delivered nor forwarded"
        );
        assert_eq!(net.invalid, vec![(ids[1], ids[0]), (ids[1], ids[0])]);
    }

    #[test]
    fn removing_a_peer_forgets_its_topics() {
        let mut router = Floodsub::new(FloodsubConfig::default());
        let peer = PeerId::random();
        router.add_peer(peer);
        let topic = TopicHash::from_raw("t");
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(topic.clone())],
            ..Rpc::default()
        };
        let events = router.on_rpc(
            peer,
            DecodedRpc {
                rpc,
                ..DecodedRpc::default()
            },
            Instant::now(),
        );
        assert_eq!(
            events,
            vec![Event::Subscribed {
                peer,
                topic: topic.clone()
            }]
        );
        assert_eq!(
            router.remove_peer(&peer),
            vec![Event::Unsubscribed { peer, topic }]
        );
        assert_eq!(router.peers().count(), 0);
    }
}
