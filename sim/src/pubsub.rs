//! A pubsub network of `mycel-pubsub` routers (floodsub or gossipsub) on a virtual
//! clock.
//!
//! Every node runs the crate's own router behind the [`Router`] trait, exactly as the
//! async service drives it: peers added, RPCs handed over, heartbeats on time. Each
//! send is encoded with the real codec and decoded at the receiver after the link's
//! latency. All nodes join one topic; honest nodes publish, and the report says how
//! many honest nodes each message reached, how fast, in how many hops, and how many
//! redundant copies they received.
//!
//! Messages are stamped with their author and a sequence number but not signed (ed25519
//! checks of a million deliveries would dominate the run); invalid messages are marked
//! in their payload and refused by the application validator, which routers and scores
//! treat exactly as a failed signature check.
//!
//! Adversarial nodes, when asked for, stay in the network (they subscribe, answer
//! control messages and take mesh slots) but never forward a message, and with
//! [`Adversary::DropAndSpam`] also publish invalid messages.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use mycel_core::{Keypair, PeerId};
use mycel_pubsub::{
    Acceptance, Event, MessageId, PeerConnection, Publisher, Router, SigningPolicy, Topic,
    TopicHash, ValidationMode,
    floodsub::{Floodsub, FloodsubConfig},
    gossipsub::{Gossipsub, GossipsubConfig, PeerScoreParams, TopicScoreParams},
    wire::{Rpc, RpcLimits, decode_rpc, encode_rpc},
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::{EventQueue, Latency, Spread};

/// The payload prefix of invalid messages (refused by every node's validator).
pub const INVALID_PREFIX: &[u8] = b"INVALID";

/// Which router every node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterKind {
    /// Floodsub.
    Floodsub,
    /// Gossipsub with its default parameters; `scoring` turns peer scoring on with the
    /// simulator's topic parameters.
    Gossipsub {
        /// Whether peer scoring runs.
        scoring: bool,
    },
}

/// What adversarial nodes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adversary {
    /// Forward nothing (but keep subscriptions and control traffic).
    Drop,
    /// Forward nothing and publish invalid messages.
    DropAndSpam,
}

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct PubsubSimConfig {
    /// Seed of everything random: topology, latencies, publishers.
    pub seed: u64,
    /// Nodes in the network.
    pub nodes: usize,
    /// Each node opens connections until it has at least this many.
    pub min_degree: usize,
    /// No node accepts connections beyond this many.
    pub max_degree: usize,
    /// The router.
    pub router: RouterKind,
    /// Messages published by random honest nodes.
    pub messages: usize,
    /// Time between two publications.
    pub publish_interval: Duration,
    /// Time from the start (all connected and subscribed) to the first publication.
    pub warmup: Duration,
    /// Time after the last publication before measuring.
    pub drain: Duration,
    /// Fraction of nodes that are adversarial.
    pub adversarial: f64,
    /// What they do.
    pub adversary: Adversary,
    /// Invalid messages each spamming node publishes per second.
    pub spam_rate: f64,
    /// Payload bytes per honest message.
    pub payload: usize,
    /// One-way link latency range.
    pub latency: (Duration, Duration),
}

impl Default for PubsubSimConfig {
    fn default() -> Self {
        PubsubSimConfig {
            seed: 1,
            nodes: 1_000,
            min_degree: 8,
            max_degree: 12,
            router: RouterKind::Gossipsub { scoring: true },
            messages: 1_000,
            publish_interval: Duration::from_millis(50),
            warmup: Duration::from_secs(3),
            drain: Duration::from_secs(10),
            adversarial: 0.0,
            adversary: Adversary::Drop,
            spam_rate: 10.0,
            payload: 256,
            latency: (Duration::from_millis(10), Duration::from_millis(100)),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PubsubSimReport {
    /// Nodes in the network.
    pub nodes: usize,
    /// Honest nodes.
    pub honest: usize,
    /// Mean connections per node.
    pub mean_degree: f64,
    /// Honest messages published.
    pub messages: usize,
    /// Over all honest messages: honest nodes reached / honest nodes but the publisher.
    pub delivery_ratio: f64,
    /// The worst message's delivery ratio.
    pub min_delivery_ratio: f64,
    /// Delivery latency in link hops (first copy at each honest node).
    pub hops: Spread,
    /// Delivery latency in milliseconds of virtual time.
    pub millis: Spread,
    /// Copies of honest messages received by honest nodes beyond the first, per message
    /// per honest node.
    pub duplicates_per_node_message: f64,
    /// Invalid messages delivered to honest applications (should be zero).
    pub invalid_delivered: u64,
    /// RPCs sent in all.
    pub rpcs: u64,
    /// Bytes sent in all.
    pub bytes: u64,
    /// Mean mesh size of honest nodes when the last message is published (gossipsub), or
    /// their subscribed peers (floodsub).
    pub mean_mesh: f64,
    /// Share of honest nodes' mesh slots held by adversarial nodes when the last message
    /// is published (scoring should push it below the adversaries' share of nodes).
    pub adversarial_mesh_share: f64,
    /// Virtual time run.
    pub virtual_secs: f64,
}

enum SimEvent {
    Rpc {
        from: usize,
        to: usize,
        bytes: Bytes,
    },
    Heartbeat {
        node: usize,
    },
    Publish {
        message: usize,
    },
    Spam {
        node: usize,
    },
}

struct Node {
    router: Box<dyn Router>,
    publisher: Publisher,
    adversarial: bool,
    peer: PeerId,
}

/// One message's fate.
struct Tracked {
    publisher: usize,
    published_at: Duration,
    /// Per node: hops of the first copy, if any.
    hops: Vec<Option<u32>>,
    reached: usize,
}

/// A simulation run.
pub struct PubsubSim {
    config: PubsubSimConfig,
    rng: StdRng,
    nodes: Vec<Node>,
    index: HashMap<PeerId, usize>,
    links: Vec<Vec<usize>>,
    queue: EventQueue<SimEvent>,
    latency: Latency,
    base: Instant,
    topic: TopicHash,
    tracked: Vec<Tracked>,
    ids: HashMap<MessageId, usize>,
    publishers: Vec<usize>,
    report: PubsubSimReport,
    limits: RpcLimits,
    copies: u64,
    millis: Vec<f64>,
}

impl std::fmt::Debug for PubsubSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubsubSim")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The validator every node runs: refuses payloads marked invalid.
fn validator() -> mycel_pubsub::MessageValidator {
    Arc::new(|_, message| {
        if message.data.starts_with(INVALID_PREFIX) {
            Acceptance::Reject
        } else {
            Acceptance::Accept
        }
    })
}

impl PubsubSim {
    /// Builds the network: nodes, connections, subscriptions.
    pub fn new(config: PubsubSimConfig) -> PubsubSim {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let latency = Latency::uniform(rng.r#gen(), config.latency.0, config.latency.1);
        let n = config.nodes;
        let adversaries = ((n as f64) * config.adversarial).round() as usize;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let mut adversarial = vec![false; n];
        for &i in order.iter().take(adversaries) {
            adversarial[i] = true;
        }
        let mut nodes = Vec::with_capacity(n);
        let mut index = HashMap::new();
        for (i, &adversarial) in adversarial.iter().enumerate() {
            let keypair = Keypair::generate();
            let peer = keypair.public().to_peer_id();
            index.insert(peer, i);
            let router = make_router(config.router, &Topic::new("sim").hash(), rng.r#gen());
            let publisher = Publisher::with_first_seqno(SigningPolicy::Author(peer), 1);
            nodes.push(Node {
                router,
                publisher,
                adversarial,
                peer,
            });
        }
        let honest = n - adversaries;
        let publishers: Vec<usize> = (0..n).filter(|i| !adversarial[*i]).collect();
        let mut sim = PubsubSim {
            rng,
            nodes,
            index,
            links: vec![Vec::new(); n],
            queue: EventQueue::default(),
            latency,
            base: Instant::now(),
            topic: Topic::new("sim").hash(),
            tracked: Vec::new(),
            ids: HashMap::new(),
            publishers,
            report: PubsubSimReport {
                nodes: n,
                honest,
                ..PubsubSimReport::default()
            },
            limits: RpcLimits::default(),
            copies: 0,
            millis: Vec::new(),
            config,
        };
        sim.connect_all();
        sim
    }

    fn now(&self) -> Instant {
        self.base + self.queue.now()
    }

    /// Random links until every node has `min_degree`, none above `max_degree`.
    fn connect_all(&mut self) {
        let n = self.config.nodes;
        if n < 2 {
            return;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        for &a in &order {
            let mut attempts = 0;
            while self.links[a].len() < self.config.min_degree && attempts < 100 * n.max(10) {
                attempts += 1;
                let b = self.rng.gen_range(0..n);
                if b == a
                    || self.links[a].contains(&b)
                    || self.links[b].len() >= self.config.max_degree
                {
                    continue;
                }
                self.link(a, b);
            }
        }
        let total: usize = self.links.iter().map(Vec::len).sum();
        self.report.mean_degree = total as f64 / n as f64;
    }

    /// Connects `a` (dialer) and `b`.
    fn link(&mut self, a: usize, b: usize) {
        self.links[a].push(b);
        self.links[b].push(a);
        let now = self.now();
        for (x, y, outbound) in [(a, b, true), (b, a, false)] {
            let connection = PeerConnection {
                protocol: self.nodes[x].router.protocols()[0].clone(),
                outbound,
                ip: Some(ip_of(y)),
            };
            let peer = self.nodes[y].peer;
            let events = self.nodes[x].router.add_peer(peer, connection, now);
            self.perform(x, events);
        }
    }

    /// Runs the whole scenario and reports.
    pub fn run(mut self) -> PubsubSimReport {
        let now = self.now();
        for i in 0..self.nodes.len() {
            let events = self.nodes[i].router.subscribe(self.topic.clone(), now);
            self.perform(i, events);
            let interval = self.nodes[i].router.heartbeat_interval();
            let phase = self.rng.gen_range(0..interval.as_micros().max(1) as u64);
            self.queue.schedule(
                Duration::from_micros(phase),
                SimEvent::Heartbeat { node: i },
            );
        }
        for message in 0..self.config.messages {
            let at = self.config.warmup + self.config.publish_interval * message as u32;
            self.queue.schedule(at, SimEvent::Publish { message });
        }
        let publishing = self.config.publish_interval * self.config.messages as u32;
        if self.config.adversary == Adversary::DropAndSpam && self.config.spam_rate > 0.0 {
            let gap = Duration::from_secs_f64(1.0 / self.config.spam_rate);
            for node in 0..self.nodes.len() {
                if self.nodes[node].adversarial {
                    let phase = self.rng.gen_range(0..gap.as_micros().max(1) as u64);
                    let mut at = self.config.warmup + Duration::from_micros(phase);
                    while at < self.config.warmup + publishing {
                        self.queue.schedule(at, SimEvent::Spam { node });
                        at += gap;
                    }
                }
            }
        }
        let end = self.config.warmup + publishing + self.config.drain;
        while let Some(event) = self.queue.pop() {
            if self.queue.now() > end {
                break;
            }
            self.handle(event);
        }
        self.finish()
    }

    fn handle(&mut self, event: SimEvent) {
        let now = self.now();
        match event {
            SimEvent::Rpc { from, to, bytes } => {
                let Ok(decoded) = decode_rpc(bytes, &self.limits) else {
                    return;
                };
                if !self.nodes[to].adversarial {
                    self.count_copies(&decoded.rpc);
                }
                let peer = self.nodes[from].peer;
                let events = self.nodes[to].router.on_rpc(peer, decoded, now);
                self.perform(to, events);
            }
            SimEvent::Heartbeat { node } => {
                let events = self.nodes[node].router.heartbeat(now);
                self.perform(node, events);
                let interval = self.nodes[node].router.heartbeat_interval();
                self.queue.schedule(interval, SimEvent::Heartbeat { node });
            }
            SimEvent::Publish { message } => {
                let Some(&node) = self.publishers.choose(&mut self.rng) else {
                    return;
                };
                let mut data = vec![0u8; self.config.payload.max(8)];
                data[..8].copy_from_slice(&(message as u64).to_be_bytes());
                let Ok(published) = self.nodes[node]
                    .publisher
                    .publish(self.topic.clone(), Bytes::from(data))
                else {
                    return;
                };
                let (id, events) = self.nodes[node].router.publish(published, now);
                let mut hops = vec![None; self.nodes.len()];
                hops[node] = Some(0);
                self.ids.insert(id, self.tracked.len());
                self.tracked.push(Tracked {
                    publisher: node,
                    published_at: self.queue.now(),
                    hops,
                    reached: 0,
                });
                self.perform(node, events);
                if message + 1 == self.config.messages {
                    (self.report.mean_mesh, self.report.adversarial_mesh_share) = self.meshes();
                }
            }
            SimEvent::Spam { node } => {
                let mut data = INVALID_PREFIX.to_vec();
                data.extend_from_slice(&self.rng.r#gen::<u64>().to_be_bytes());
                let Ok(published) = self.nodes[node]
                    .publisher
                    .publish(self.topic.clone(), Bytes::from(data))
                else {
                    return;
                };
                // A spammer sends its junk to every neighbour directly.
                for &to in &self.links[node].clone() {
                    let rpc = Rpc {
                        messages: vec![published.clone()],
                        ..Rpc::default()
                    };
                    self.send(node, to, &rpc);
                }
            }
        }
    }

    /// Counts the tracked messages in an RPC reaching an honest node.
    fn count_copies(&mut self, rpc: &Rpc) {
        self.copies += rpc.messages.len() as u64;
    }

    fn perform(&mut self, node: usize, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Send { to, mut rpc } => {
                    let Some(&to) = self.index.get(&to) else {
                        continue;
                    };
                    if self.nodes[node].adversarial {
                        rpc.messages.clear();
                        if rpc.is_empty() {
                            continue;
                        }
                    }
                    self.send(node, to, &rpc);
                }
                Event::Deliver { from, id, message } => {
                    if self.nodes[node].adversarial {
                        continue;
                    }
                    if message.data.starts_with(INVALID_PREFIX) {
                        self.report.invalid_delivered += 1;
                        continue;
                    }
                    let Some(&t) = self.ids.get(&id) else {
                        continue;
                    };
                    let sender_hops = self
                        .index
                        .get(&from)
                        .and_then(|&f| self.tracked[t].hops[f])
                        .unwrap_or(0);
                    let tracked = &mut self.tracked[t];
                    if tracked.hops[node].is_none() {
                        tracked.hops[node] = Some(sender_hops + 1);
                        tracked.reached += 1;
                        self.millis
                            .push((self.queue.now() - tracked.published_at).as_secs_f64() * 1000.0);
                    }
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, rpc: &Rpc) {
        let bytes = Bytes::from(encode_rpc(rpc));
        self.report.rpcs += 1;
        self.report.bytes += bytes.len() as u64;
        let delay = self.latency.between(from, to);
        self.queue
            .schedule(delay, SimEvent::Rpc { from, to, bytes });
    }

    /// Mean mesh size of honest nodes, and the share of their mesh slots adversaries
    /// hold.
    fn meshes(&self) -> (f64, f64) {
        let (mut slots, mut adversarial) = (0usize, 0usize);
        for node in self.nodes.iter().filter(|n| !n.adversarial) {
            for peer in node.router.mesh_peers(&self.topic) {
                slots += 1;
                if self
                    .index
                    .get(&peer)
                    .is_some_and(|&i| self.nodes[i].adversarial)
                {
                    adversarial += 1;
                }
            }
        }
        (
            slots as f64 / self.report.honest.max(1) as f64,
            adversarial as f64 / slots.max(1) as f64,
        )
    }

    fn finish(mut self) -> PubsubSimReport {
        let honest = self.report.honest;
        let mut ratios = Vec::new();
        let mut hops = Vec::new();
        let mut firsts = 0u64;
        for tracked in &self.tracked {
            let others = honest.saturating_sub(1).max(1);
            ratios.push(tracked.reached as f64 / others as f64);
            firsts += tracked.reached as u64;
            hops.extend(
                tracked
                    .hops
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != tracked.publisher)
                    .filter_map(|(_, h)| h.map(f64::from)),
            );
        }
        self.report.messages = self.tracked.len();
        if !ratios.is_empty() {
            self.report.delivery_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
            self.report.min_delivery_ratio = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        }
        self.report.hops = Spread::of(hops);
        self.report.millis = Spread::of(std::mem::take(&mut self.millis));
        let pairs = (self.tracked.len() * honest).max(1) as f64;
        self.report.duplicates_per_node_message = self.copies.saturating_sub(firsts) as f64 / pairs;
        self.report.virtual_secs = self.queue.now().as_secs_f64();
        self.report
    }
}

/// A distinct IPv4 address per node (10.x.y.z).
fn ip_of(node: usize) -> IpAddr {
    let n = node as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

fn make_router(kind: RouterKind, topic: &TopicHash, seed: u64) -> Box<dyn Router> {
    match kind {
        RouterKind::Floodsub => Box::new(Floodsub::new(FloodsubConfig {
            validation: ValidationMode::Permissive,
            validator: Some(validator()),
            ..FloodsubConfig::default()
        })),
        RouterKind::Gossipsub { scoring } => {
            let config = GossipsubConfig {
                validation: ValidationMode::Permissive,
                validator: Some(validator()),
                score_params: scoring.then(|| score_params(topic)),
                ..GossipsubConfig::default()
            };
            match Gossipsub::with_rng_seed(config, seed) {
                Ok(router) => Box::new(router),
                Err(e) => panic!("the simulator's gossipsub config is invalid: {e}"),
            }
        }
    }
}

/// Scoring for the simulated topic, in the spirit of the spec's guidance: time in mesh
/// and first deliveries earn a little, a mesh peer that delivers too few messages or
/// any invalid one loses a lot, and broken promises (P7) cost more than good behaviour
/// earns.
pub fn score_params(topic: &TopicHash) -> PeerScoreParams {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        mesh_message_deliveries_weight: -1.0,
        mesh_message_deliveries_decay: 0.9,
        mesh_message_deliveries_cap: 40.0,
        mesh_message_deliveries_threshold: 4.0,
        mesh_message_deliveries_window: Duration::from_millis(50),
        mesh_message_deliveries_activation: Duration::from_secs(5),
        mesh_failure_penalty_weight: -1.0,
        mesh_failure_penalty_decay: 0.9,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
    };
    let mut params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: -10.0,
        behaviour_penalty_decay: 0.9,
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic.clone(), topic_params);
    params
}
