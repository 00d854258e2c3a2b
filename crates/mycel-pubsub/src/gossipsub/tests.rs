//! Tests of the gossipsub router. Two harnesses, both carrying every RPC through
//! [`encode_rpc`] and [`decode_rpc`] on a virtual clock:
//! - [`Net`]: several routers wired together by hand (`network.rs`);
//! - [`Bench`]: one router and peers made by hand, to send it exact RPCs and read its
//!   exact answers (`control.rs`, and `scoring.rs` for what needs peer scores).

mod control;
mod network;
mod scoring;

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    time::{Duration, Instant},
};

use bytes::Bytes;
use mycel_core::{Keypair, PeerId, ProtocolId};

use super::{Gossipsub, GossipsubConfig};
use crate::{
    Control, DecodedRpc, Event, GOSSIPSUB_1_1, Graft, IDontWant, IHave, IWant, Message, MessageId,
    PeerConnection, PeerInfo, Prune, Publisher, Router, Rpc, RpcLimits, SigningPolicy, SubOpt,
    TopicHash, default_message_id,
    wire::{decode_rpc, encode_rpc},
};

/// A keypair derived from `n`.
fn key(n: u64) -> Keypair {
    let mut secret = [7u8; 32];
    secret[..8].copy_from_slice(&n.to_be_bytes());
    Keypair::from_secret_bytes(secret)
}

fn topic() -> TopicHash {
    TopicHash::from("t")
}

/// A message signed by `key`.
fn signed(key: &Keypair, seqno: u64, topic: &TopicHash, data: impl Into<Bytes>) -> Message {
    Publisher::with_first_seqno(SigningPolicy::StrictSign(key.clone()), seqno)
        .publish(topic.clone(), data)
        .unwrap()
}

/// An RPC as the peer at the other end of the wire reads it.
fn wire(rpc: &Rpc) -> DecodedRpc {
    decode_rpc(Bytes::from(encode_rpc(rpc)), &RpcLimits::default()).unwrap()
}

fn conn(protocol: ProtocolId, outbound: bool) -> PeerConnection {
    PeerConnection {
        protocol,
        outbound,
        ip: None,
    }
}

/// The RPC `events` send to `peer`, if any. One call sends each peer one RPC at most.
fn sent_to<'a>(events: &'a [Event], peer: &PeerId) -> Option<&'a Rpc> {
    let mut sends = events.iter().filter_map(|e| match e {
        Event::Send { to, rpc } if to == peer => Some(rpc),
        _ => None,
    });
    let first = sends.next();
    assert!(sends.next().is_none(), "two RPCs to one peer from one call");
    first
}

/// The control part of what `events` send to `peer` (empty if nothing).
fn control_to(events: &[Event], peer: &PeerId) -> Control {
    sent_to(events, peer)
        .and_then(|rpc| rpc.control.clone())
        .unwrap_or_default()
}

fn sub_rpc(topic: &TopicHash) -> Rpc {
    Rpc {
        subscriptions: vec![SubOpt::subscribe(topic.clone())],
        ..Rpc::default()
    }
}

fn control_rpc(control: Control) -> Rpc {
    Rpc {
        control: Some(control),
        ..Rpc::default()
    }
}

fn graft_rpc(topic: &TopicHash) -> Rpc {
    control_rpc(Control {
        graft: vec![Graft {
            topic: topic.clone(),
        }],
        ..Control::default()
    })
}

fn prune_rpc(topic: &TopicHash, backoff: Option<u64>, px: &[PeerId]) -> Rpc {
    control_rpc(Control {
        prune: vec![Prune {
            topic: topic.clone(),
            peers: px
                .iter()
                .map(|p| PeerInfo {
                    peer_id: *p,
                    signed_peer_record: None,
                })
                .collect(),
            backoff,
        }],
        ..Control::default()
    })
}

fn ihave_rpc(topic: &TopicHash, ids: Vec<MessageId>) -> Rpc {
    control_rpc(Control {
        ihave: vec![IHave {
            topic: topic.clone(),
            message_ids: ids,
        }],
        ..Control::default()
    })
}

fn iwant_rpc(ids: Vec<MessageId>) -> Rpc {
    control_rpc(Control {
        iwant: vec![IWant { message_ids: ids }],
        ..Control::default()
    })
}

fn idontwant_rpc(ids: Vec<MessageId>) -> Rpc {
    control_rpc(Control {
        idontwant: vec![IDontWant { message_ids: ids }],
        ..Control::default()
    })
}

fn message_rpc(message: Message) -> Rpc {
    Rpc {
        messages: vec![message],
        ..Rpc::default()
    }
}

/// One router, driven by hand-made peers.
struct Bench {
    router: Gossipsub,
    now: Instant,
}

impl Bench {
    fn new(config: GossipsubConfig) -> Bench {
        Bench {
            router: Gossipsub::with_rng_seed(config, 1).unwrap(),
            now: Instant::now(),
        }
    }

    /// A peer with a fresh id, connected with `protocol` (dialed by us if `outbound`).
    fn peer(&mut self, protocol: ProtocolId, outbound: bool) -> PeerId {
        let peer = PeerId::random();
        self.router
            .add_peer(peer, conn(protocol, outbound), self.now);
        peer
    }

    /// A connected 1.1 peer (inbound) already subscribed to `topic`; returns it and
    /// what its announcement caused.
    fn subscriber(
        &mut self,
        protocol: ProtocolId,
        outbound: bool,
        topic: &TopicHash,
    ) -> (PeerId, Vec<Event>) {
        let peer = self.peer(protocol, outbound);
        let events = self.rpc(peer, sub_rpc(topic));
        (peer, events)
    }

    fn rpc(&mut self, from: PeerId, rpc: Rpc) -> Vec<Event> {
        self.router.on_rpc(from, wire(&rpc), self.now)
    }

    fn subscribe(&mut self, topic: &TopicHash) -> Vec<Event> {
        self.router.subscribe(topic.clone(), self.now)
    }

    fn publish(&mut self, message: Message) -> (MessageId, Vec<Event>) {
        self.router.publish(message, self.now)
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// One heartbeat interval later, a heartbeat.
    fn heartbeat(&mut self) -> Vec<Event> {
        self.advance(self.router.heartbeat_interval());
        self.router.heartbeat(self.now)
    }

    fn mesh(&self, topic: &TopicHash) -> BTreeSet<PeerId> {
        self.router.mesh_peers(topic).into_iter().collect()
    }

    fn penalties(&self, peer: &PeerId) -> usize {
        self.router.penalties.get(peer).copied().unwrap_or(0)
    }
}

/// Routers wired together by hand; every RPC goes through the codec.
struct Net {
    ids: Vec<PeerId>,
    keys: Vec<Keypair>,
    routers: BTreeMap<PeerId, Gossipsub>,
    now: Instant,
    /// `(receiver, id)` of every delivery.
    delivered: Vec<(PeerId, MessageId)>,
    /// `(receiver, sender)` of every invalid message.
    invalid: Vec<(PeerId, PeerId)>,
    /// `(from, to, rpc)` of every RPC carried.
    log: Vec<(PeerId, PeerId, Rpc)>,
    seqno: u64,
}

impl Net {
    /// `n` routers, the `i`th with `config(i)`; `seed` picks keys and router seeds.
    fn new(n: usize, config: impl Fn(usize) -> GossipsubConfig, seed: u64) -> Net {
        let keys: Vec<Keypair> = (0..n as u64).map(|i| key(seed * 1000 + i)).collect();
        let ids: Vec<PeerId> = keys.iter().map(Keypair::peer_id).collect();
        let routers = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let router = Gossipsub::with_rng_seed(config(i), seed * 1000 + i as u64);
                (*id, router.unwrap())
            })
            .collect();
        Net {
            ids,
            keys,
            routers,
            now: Instant::now(),
            delivered: Vec::new(),
            invalid: Vec::new(),
            log: Vec::new(),
            seqno: 1,
        }
    }

    fn router(&self, i: usize) -> &Gossipsub {
        &self.routers[&self.ids[i]]
    }

    fn router_mut(&mut self, i: usize) -> &mut Gossipsub {
        let id = self.ids[i];
        self.routers.get_mut(&id).unwrap()
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        self.router(a).peers().any(|p| *p == self.ids[b])
    }

    /// `a` dials `b`; they speak `protocol`.
    fn link(&mut self, a: usize, b: usize, protocol: ProtocolId) {
        let (ida, idb, now) = (self.ids[a], self.ids[b], self.now);
        let events = self
            .router_mut(a)
            .add_peer(idb, conn(protocol.clone(), true), now);
        self.run(ida, events);
        let events = self.router_mut(b).add_peer(ida, conn(protocol, false), now);
        self.run(idb, events);
    }

    /// Performs what one call of `at`'s router returned.
    fn run(&mut self, at: PeerId, events: Vec<Event>) {
        let mut targets = BTreeSet::new();
        for event in &events {
            if let Event::Send { to, .. } = event {
                assert!(targets.insert(*to), "one call sent two RPCs to one peer");
            }
        }
        let mut queue: VecDeque<(PeerId, Event)> = events.into_iter().map(|e| (at, e)).collect();
        while let Some((at, event)) = queue.pop_front() {
            match event {
                Event::Send { to, rpc } => {
                    let decoded = wire(&rpc);
                    self.log.push((at, to, rpc));
                    let now = self.now;
                    let events = self.routers.get_mut(&to).unwrap().on_rpc(at, decoded, now);
                    let mut targets = BTreeSet::new();
                    for event in events {
                        if let Event::Send { to, .. } = &event {
                            assert!(targets.insert(*to), "one call sent two RPCs to one peer");
                        }
                        queue.push_back((to, event));
                    }
                }
                Event::Deliver { id, .. } => self.delivered.push((at, id)),
                Event::Invalid { from, .. } => self.invalid.push((at, from)),
                _ => {}
            }
        }
    }

    fn subscribe(&mut self, i: usize, topic: &TopicHash) {
        let now = self.now;
        let events = self.router_mut(i).subscribe(topic.clone(), now);
        self.run(self.ids[i], events);
    }

    /// Publishes a fresh message signed by node `i`.
    fn publish(&mut self, i: usize, topic: &TopicHash, data: &str) -> MessageId {
        self.seqno += 1;
        let message = signed(&self.keys[i], self.seqno, topic, data.to_string());
        self.publish_message(i, message)
    }

    fn publish_message(&mut self, i: usize, message: Message) -> MessageId {
        let now = self.now;
        let (id, events) = self.router_mut(i).publish(message, now);
        self.run(self.ids[i], events);
        id
    }

    /// `n` rounds: the clock moves one second, then every router beats in turn.
    fn heartbeats(&mut self, n: usize) {
        for _ in 0..n {
            self.now += Duration::from_secs(1);
            let ids: Vec<PeerId> = self.routers.keys().copied().collect();
            for id in ids {
                let now = self.now;
                let events = self.routers.get_mut(&id).unwrap().heartbeat(now);
                self.run(id, events);
            }
        }
    }

    /// The receivers of every delivery of `id`, sorted, repeats included.
    fn deliveries_of(&self, id: &MessageId) -> Vec<PeerId> {
        let mut got: Vec<PeerId> = self
            .delivered
            .iter()
            .filter(|(_, d)| d == id)
            .map(|(at, _)| *at)
            .collect();
        got.sort();
        got
    }

    /// Every node's id but those listed, sorted.
    fn all_but(&self, except: &[usize]) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = (0..self.ids.len())
            .filter(|i| !except.contains(i))
            .map(|i| self.ids[i])
            .collect();
        ids.sort();
        ids
    }
}

#[test]
fn the_router_speaks_every_meshsub_version_newest_first() {
    let router = Gossipsub::new(GossipsubConfig::default()).unwrap();
    assert_eq!(
        router.protocols(),
        [crate::GOSSIPSUB_1_2, GOSSIPSUB_1_1, crate::GOSSIPSUB_1_0]
    );
    assert_eq!(router.heartbeat_interval(), Duration::from_secs(1));
}

#[test]
fn an_invalid_config_is_refused_by_new() {
    let config = GossipsubConfig {
        d_lo: 7,
        ..GossipsubConfig::default()
    };
    assert!(matches!(
        Gossipsub::new(config),
        Err(crate::PubsubError::InvalidConfig(_))
    ));
}

#[test]
fn message_ids_follow_the_configured_function() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let message = signed(&key(1), 5, &topic(), "x");
    let (id, _) = bench.publish(message.clone());
    assert_eq!(id, default_message_id(&message));
}
