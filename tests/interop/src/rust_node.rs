//! A rust-libp2p 0.57 node (tcp + noise + yamux or mplex, ping, identify, libp2p-stream,
//! and optionally Kademlia, gossipsub and floodsub) driven by a task of its own, and the
//! perf protocol written on rust-libp2p's streams.
//!
//! Kademlia (libp2p-kad, `/ipfs/kad/1.0.0`, a `MemoryStore`) is there only when asked for
//! with [`RustNode::start_with`]; [`RustNode::start`] leaves it out, so such a node offers
//! no kad protocol at all. Things to know about the rust-libp2p side:
//!
//! - Its routing table learns a peer only by [`RustNode::kad_add_address`], or when the
//!   node itself *dialed* a peer that turns out to speak kad (identify or a negotiated kad
//!   stream tells it). A peer that dials the node is never added by itself: its address
//!   on an inbound connection is not trusted.
//! - Its record store accepts any record (no validation), at most 65 KiB values; kad
//!   messages are limited to 16 KiB.
//! - It stores the addresses of a received ADD_PROVIDER with `/p2p/<provider>` appended.
//! - Over mplex, it closes an inbound kad stream the remote has closed (after an
//!   ADD_PROVIDER, say) with a frame it only queues: the remote sees the close at the
//!   connection's next flush, which may be seconds later if nothing else is sent.
//!
//! Pubsub (asked for with [`RustOptions::gossipsub`] and [`RustOptions::floodsub`]):
//!
//! - libp2p-gossipsub 0.50 offers `/meshsub/1.3.0` first, then 1.2, 1.1, 1.0; it signs
//!   what it publishes with the node's key, caps frames at 64 KiB and by default computes
//!   message ids as base58(from) + decimal seqno ([`go_message_id`] is the alternative
//!   go, js and mycel use by default).
//! - libp2p-floodsub 0.48 sends only to peers in its "partial view": the node adds every
//!   peer it connects to. It publishes unsigned messages with a random 20-byte seqno,
//!   opens a new stream per RPC and reads a single RPC of at most 2048 bytes from each
//!   inbound stream.

use std::{
    collections::{HashMap, HashSet},
    io,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol, Swarm, floodsub, gossipsub, identify,
    identity::Keypair,
    kad::{
        self,
        store::{MemoryStore, RecordStore},
    },
    noise, ping,
    swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle},
    tcp, yamux,
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

/// The perf protocol id, as rust-libp2p spells it.
pub const PERF: StreamProtocol = StreamProtocol::new("/perf/1.0.0");

/// Which muxer the rust-libp2p node offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustMuxer {
    /// libp2p-yamux.
    Yamux,
    /// libp2p-mplex.
    Mplex,
}

/// Whether the node's Kademlia answers requests (server) or only asks (client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustKadMode {
    /// Serves `/ipfs/kad/1.0.0` (forced: libp2p-kad would otherwise wait for a confirmed
    /// external address).
    Server,
    /// Only makes requests; does not offer the protocol.
    Client,
}

/// How to build a [`RustNode`].
#[derive(Debug, Clone, Default)]
pub struct RustOptions {
    /// Run Kademlia, in this mode; `None` leaves the behaviour out entirely.
    pub kad: Option<RustKadMode>,
    /// Run gossipsub with this configuration, signing with the node's key
    /// (`MessageAuthenticity::Signed`); `None` leaves it out. See [`gossipsub_config`].
    pub gossipsub: Option<gossipsub::Config>,
    /// Run floodsub; every peer the node connects to joins its partial view.
    pub floodsub: bool,
    /// Send a signed peer record in identify (rust-libp2p's format: domain
    /// `libp2p-routing-state`, payload type `/libp2p/routing-state-record`).
    pub signed_peer_record: bool,
    /// How long a connection with no stream open is kept; `None`: 60 s.
    pub idle_timeout: Option<Duration>,
}

/// Which pubsub router of a [`RustNode`] a command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustRouter {
    /// libp2p-floodsub.
    Floodsub,
    /// libp2p-gossipsub.
    Gossipsub,
}

/// How a rust-libp2p gossipsub node computes message ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustMessageIds {
    /// rust-libp2p's default: base58(from) followed by the decimal seqno.
    RustDefault,
    /// go's and js's default (mycel's too): [`go_message_id`].
    Go,
}

/// go-libp2p-pubsub's default message id, for a rust-libp2p gossipsub node: the binary
/// peer id in `from` followed by the 8-byte big-endian seqno, a missing field adding
/// nothing.
pub fn go_message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    let mut id = message.source.map(|p| p.to_bytes()).unwrap_or_default();
    if let Some(seqno) = message.sequence_number {
        id.extend_from_slice(&seqno.to_be_bytes());
    }
    gossipsub::MessageId::from(id)
}

/// A gossipsub configuration for tests: rust-libp2p's defaults (1 s heartbeat, 64 KiB
/// frames, strict signing) except for the message ids and a first heartbeat after 100 ms
/// instead of 5 s.
pub fn gossipsub_config(ids: RustMessageIds) -> gossipsub::Config {
    let mut builder = gossipsub::ConfigBuilder::default();
    builder.heartbeat_initial_delay(Duration::from_millis(100));
    if ids == RustMessageIds::Go {
        builder.message_id_fn(go_message_id);
    }
    builder.build().expect("valid gossipsub configuration")
}

/// A pubsub message a [`RustNode`] received on a topic it is subscribed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustPubsubMessage {
    /// The router that received it.
    pub router: RustRouter,
    /// Its topics (gossipsub: exactly one).
    pub topics: Vec<String>,
    /// The payload.
    pub data: Vec<u8>,
    /// Its author (`from`), if any.
    pub source: Option<PeerId>,
    /// Its `seqno` as sent (gossipsub: the 8 big-endian bytes).
    pub seqno: Option<Vec<u8>>,
    /// The peer it came from (gossipsub only).
    pub propagation_source: Option<PeerId>,
    /// Its id as the node computed it (gossipsub only).
    pub id: Option<Vec<u8>>,
}

/// The kad protocol id rust-libp2p speaks, `/ipfs/kad/1.0.0`.
pub const KAD: StreamProtocol = kad::PROTOCOL_NAME;

/// How long one kad query may run on the rust-libp2p node.
pub const KAD_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a command to the node may take, at most (a query plus some slack).
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

type Kad = kad::Behaviour<MemoryStore>;

/// The behaviours of the node.
#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
    kad: Toggle<Kad>,
    gossipsub: Toggle<gossipsub::Behaviour>,
    floodsub: Toggle<floodsub::Behaviour>,
}

/// What the node reports.
#[derive(Debug)]
pub enum RustEvent {
    /// A connection is up.
    Connected(PeerId),
    /// A connection closed.
    Closed(PeerId),
    /// A ping (ours, outbound) finished.
    Ping {
        /// The peer pinged.
        peer: PeerId,
        /// Its RTT, or the error in words.
        result: Result<Duration, String>,
    },
    /// An outbound dial failed.
    DialFailed(String),
    /// Identify with a peer failed.
    IdentifyFailed(String),
    /// The peer told us about itself (identify answer or push).
    Identified {
        /// The peer.
        peer: PeerId,
        /// Its agent version.
        agent_version: String,
        /// Its protocols.
        protocols: Vec<String>,
        /// Its listen addresses.
        listen_addrs: Vec<Multiaddr>,
    },
    /// Kademlia answered (or, for ADD_PROVIDER and PUT_VALUE, stored) an inbound request.
    KadInbound(kad::InboundRequest),
    /// Kademlia's routing table gained a peer or an address of one.
    KadRoutingUpdated {
        /// The peer.
        peer: PeerId,
        /// All its addresses in the table now.
        addresses: Vec<Multiaddr>,
    },
    /// A peer announced a subscription to one of the pubsub routers.
    Subscribed {
        /// The router.
        router: RustRouter,
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: String,
    },
    /// A peer announced it left a topic.
    Unsubscribed {
        /// The router.
        router: RustRouter,
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: String,
    },
    /// gossipsub found that a connected peer speaks none of its protocols.
    GossipsubNotSupported(PeerId),
    /// gossipsub could not send to a peer in time.
    SlowPeer(PeerId),
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Command {
    Dial(Multiaddr, Reply<()>),
    AddExternalAddress(Multiaddr, Reply<()>),
    Kad(KadCommand),
    Pubsub(PubsubCommand),
}

enum PubsubCommand {
    Subscribe(RustRouter, String, Reply<bool>),
    Publish(RustRouter, String, Vec<u8>, Reply<Option<Vec<u8>>>),
    TopicPeers(RustRouter, String, Reply<Vec<PeerId>>),
    MeshPeers(String, Reply<Vec<PeerId>>),
    PeerProtocols(Reply<Vec<(PeerId, String)>>),
}

enum KadCommand {
    AddAddress(PeerId, Multiaddr, Reply<()>),
    Bootstrap(Reply<()>),
    GetClosestPeers(Vec<u8>, Reply<Vec<PeerId>>),
    PutRecord(Vec<u8>, Vec<u8>, usize, Reply<()>),
    GetRecord(Vec<u8>, Reply<Option<Vec<u8>>>),
    StartProviding(Vec<u8>, Reply<()>),
    GetProviders(Vec<u8>, Reply<Vec<PeerId>>),
    LocalRecord(Vec<u8>, Reply<Option<Vec<u8>>>),
    LocalProviders(Vec<u8>, Reply<Vec<(PeerId, Vec<Multiaddr>)>>),
    RoutingTablePeers(Reply<Vec<PeerId>>),
}

impl KadCommand {
    /// Answers the command with an error: the node runs no kad.
    fn refuse(self) {
        fn no_kad<T>(reply: Reply<T>) {
            let _ = reply.send(Err("kad is not enabled on this node".into()));
        }
        match self {
            KadCommand::AddAddress(_, _, r)
            | KadCommand::Bootstrap(r)
            | KadCommand::PutRecord(_, _, _, r)
            | KadCommand::StartProviding(_, r) => no_kad(r),
            KadCommand::GetClosestPeers(_, r)
            | KadCommand::GetProviders(_, r)
            | KadCommand::RoutingTablePeers(r) => no_kad(r),
            KadCommand::GetRecord(_, r) | KadCommand::LocalRecord(_, r) => no_kad(r),
            KadCommand::LocalProviders(_, r) => no_kad(r),
        }
    }
}

/// A kad query waiting for its result, by kind.
enum PendingQuery {
    /// Bootstrap reports one event per step; the first error is kept for the last one.
    Bootstrap(Reply<()>, Option<String>),
    ClosestPeers(Reply<Vec<PeerId>>),
    PutRecord(Reply<()>),
    GetRecord(Reply<Option<Vec<u8>>>),
    StartProviding(Reply<()>),
    GetProviders(Reply<Vec<PeerId>>),
}

/// What a rust-libp2p node last learnt of each peer by identify.
pub type IdentifiedPeers = Arc<Mutex<HashMap<PeerId, RustIdentified>>>;

/// One identify result as rust-libp2p saw it.
#[derive(Debug, Clone)]
pub struct RustIdentified {
    /// The agent version.
    pub agent_version: String,
    /// The protocols.
    pub protocols: Vec<String>,
    /// The listen addresses.
    pub listen_addrs: Vec<Multiaddr>,
    /// Where the peer says it sees us.
    pub observed_addr: Multiaddr,
    /// Whether the peer sent a signed peer record rust-libp2p accepted (its format,
    /// checked signature, the peer's own).
    pub signed_peer_record: bool,
}

/// A running rust-libp2p node; stops when dropped.
pub struct RustNode {
    /// Its peer id.
    pub peer_id: PeerId,
    /// Where it listens (with no `/p2p/`).
    pub listen_addr: Multiaddr,
    /// Opens and accepts streams (libp2p-stream).
    pub control: libp2p_stream::Control,
    /// What happened, in order.
    pub events: mpsc::UnboundedReceiver<RustEvent>,
    /// The latest identify result per peer: (agent version, protocols).
    pub identified: IdentifiedPeers,
    /// The pubsub messages received, in order (see [`RustNode::next_message`]).
    pub messages: mpsc::UnboundedReceiver<RustPubsubMessage>,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

/// How long a rust-libp2p connection may sit without streams before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent version the rust-libp2p node announces.
pub const RUST_AGENT: &str = "rust-libp2p-interop/0.57";

fn behaviour(keypair: &Keypair, options: RustOptions) -> Behaviour {
    let key = keypair.public();
    let peer_id = key.to_peer_id();
    let kad = options.kad.map(|mode| {
        let mut config = kad::Config::new(kad::PROTOCOL_NAME);
        config.set_query_timeout(KAD_QUERY_TIMEOUT);
        let mut kad = Kad::with_config(peer_id, MemoryStore::new(peer_id), config);
        kad.set_mode(Some(match mode {
            RustKadMode::Server => kad::Mode::Server,
            RustKadMode::Client => kad::Mode::Client,
        }));
        kad
    });
    Behaviour {
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(1))),
        identify: identify::Behaviour::new(
            if options.signed_peer_record {
                identify::Config::new_with_signed_peer_record("ipfs/0.1.0".into(), keypair)
            } else {
                identify::Config::new("ipfs/0.1.0".into(), key)
            }
            .with_agent_version(RUST_AGENT.into()),
        ),
        stream: libp2p_stream::Behaviour::new(),
        kad: Toggle::from(kad),
        gossipsub: Toggle::from(options.gossipsub.map(|config| {
            gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(keypair.clone()),
                config,
            )
            .expect("gossipsub behaviour")
        })),
        floodsub: Toggle::from(options.floodsub.then(|| floodsub::Behaviour::new(peer_id))),
    }
}

/// The node's task: the swarm, and what commands wait for.
struct Driver {
    swarm: Swarm<Behaviour>,
    events: mpsc::UnboundedSender<RustEvent>,
    identified: IdentifiedPeers,
    pending_dials: Vec<Reply<()>>,
    queries: HashMap<kad::QueryId, PendingQuery>,
    messages: mpsc::UnboundedSender<RustPubsubMessage>,
    /// Topics each peer announced to floodsub (libp2p-floodsub has no getter).
    floodsub_topics: HashMap<PeerId, HashSet<String>>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.event(event),
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Dial(addr, done) => match self.swarm.dial(addr) {
                Ok(()) => self.pending_dials.push(done),
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                }
            },
            Command::AddExternalAddress(addr, done) => {
                self.swarm.add_external_address(addr);
                let _ = done.send(Ok(()));
            }
            Command::Kad(command) => self.kad_command(command),
            Command::Pubsub(command) => self.pubsub_command(command),
        }
    }

    fn pubsub_command(&mut self, command: PubsubCommand) {
        fn reply<T>(done: Reply<T>, result: Result<T, String>) {
            let _ = done.send(result);
        }
        let behaviour = self.swarm.behaviour_mut();
        let gossipsub = behaviour.gossipsub.as_mut();
        let floodsub = behaviour.floodsub.as_mut();
        const NO_GOSSIPSUB: &str = "gossipsub is not enabled on this node";
        const NO_FLOODSUB: &str = "floodsub is not enabled on this node";
        match command {
            PubsubCommand::Subscribe(RustRouter::Gossipsub, topic, done) => reply(
                done,
                gossipsub.ok_or(NO_GOSSIPSUB.to_string()).and_then(|g| {
                    g.subscribe(&gossipsub::IdentTopic::new(topic))
                        .map_err(|e| e.to_string())
                }),
            ),
            PubsubCommand::Subscribe(RustRouter::Floodsub, topic, done) => reply(
                done,
                floodsub
                    .ok_or(NO_FLOODSUB.to_string())
                    .map(|f| f.subscribe(floodsub::Topic::new(topic))),
            ),
            PubsubCommand::Publish(RustRouter::Gossipsub, topic, data, done) => reply(
                done,
                gossipsub.ok_or(NO_GOSSIPSUB.to_string()).and_then(|g| {
                    g.publish(gossipsub::IdentTopic::new(topic), data)
                        .map(|id| Some(id.0))
                        .map_err(|e| e.to_string())
                }),
            ),
            PubsubCommand::Publish(RustRouter::Floodsub, topic, data, done) => reply(
                done,
                floodsub.ok_or(NO_FLOODSUB.to_string()).map(|f| {
                    f.publish(floodsub::Topic::new(topic), data);
                    None
                }),
            ),
            PubsubCommand::TopicPeers(RustRouter::Gossipsub, topic, done) => {
                let topic = gossipsub::TopicHash::from_raw(topic);
                reply(
                    done,
                    gossipsub.ok_or(NO_GOSSIPSUB.to_string()).map(|g| {
                        g.all_peers()
                            .filter(|(_, topics)| topics.contains(&&topic))
                            .map(|(peer, _)| *peer)
                            .collect()
                    }),
                )
            }
            PubsubCommand::TopicPeers(RustRouter::Floodsub, topic, done) => {
                let result = floodsub.ok_or(NO_FLOODSUB.to_string()).map(|_| {
                    self.floodsub_topics
                        .iter()
                        .filter(|(_, topics)| topics.contains(&topic))
                        .map(|(peer, _)| *peer)
                        .collect()
                });
                reply(done, result)
            }
            PubsubCommand::MeshPeers(topic, done) => reply(
                done,
                gossipsub.ok_or(NO_GOSSIPSUB.to_string()).map(|g| {
                    g.mesh_peers(&gossipsub::TopicHash::from_raw(topic))
                        .copied()
                        .collect()
                }),
            ),
            PubsubCommand::PeerProtocols(done) => reply(
                done,
                gossipsub.ok_or(NO_GOSSIPSUB.to_string()).map(|g| {
                    g.peer_protocol()
                        .map(|(peer, kind)| (*peer, kind.to_string()))
                        .collect()
                }),
            ),
        }
    }

    fn kad_command(&mut self, command: KadCommand) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            command.refuse();
            return;
        };
        let (id, pending) = match command {
            KadCommand::AddAddress(peer, addr, done) => {
                let result = match kad.add_address(&peer, addr) {
                    kad::RoutingUpdate::Success | kad::RoutingUpdate::Pending => Ok(()),
                    kad::RoutingUpdate::Failed => Err("routing table refused the address".into()),
                };
                let _ = done.send(result);
                return;
            }
            KadCommand::LocalRecord(key, done) => {
                let value = kad
                    .store_mut()
                    .get(&kad::RecordKey::from(key))
                    .map(|r| r.value.clone());
                let _ = done.send(Ok(value));
                return;
            }
            KadCommand::LocalProviders(key, done) => {
                let providers = kad
                    .store_mut()
                    .providers(&kad::RecordKey::from(key))
                    .into_iter()
                    .map(|p| (p.provider, p.addresses))
                    .collect();
                let _ = done.send(Ok(providers));
                return;
            }
            KadCommand::RoutingTablePeers(done) => {
                let mut peers = Vec::new();
                for bucket in kad.kbuckets() {
                    for entry in bucket.iter() {
                        peers.push(*entry.node.key.preimage());
                    }
                }
                let _ = done.send(Ok(peers));
                return;
            }
            KadCommand::Bootstrap(done) => match kad.bootstrap() {
                Ok(id) => (id, PendingQuery::Bootstrap(done, None)),
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                    return;
                }
            },
            KadCommand::GetClosestPeers(key, done) => {
                (kad.get_closest_peers(key), PendingQuery::ClosestPeers(done))
            }
            KadCommand::PutRecord(key, value, quorum, done) => {
                let Some(quorum) = NonZeroUsize::new(quorum) else {
                    let _ = done.send(Err("quorum must be at least 1".into()));
                    return;
                };
                match kad.put_record(kad::Record::new(key, value), kad::Quorum::N(quorum)) {
                    Ok(id) => (id, PendingQuery::PutRecord(done)),
                    Err(e) => {
                        let _ = done.send(Err(format!("local store refused the record: {e}")));
                        return;
                    }
                }
            }
            KadCommand::GetRecord(key, done) => (
                kad.get_record(kad::RecordKey::from(key)),
                PendingQuery::GetRecord(done),
            ),
            KadCommand::StartProviding(key, done) => {
                match kad.start_providing(kad::RecordKey::from(key)) {
                    Ok(id) => (id, PendingQuery::StartProviding(done)),
                    Err(e) => {
                        let _ = done.send(Err(format!("local store refused the provider: {e}")));
                        return;
                    }
                }
            }
            KadCommand::GetProviders(key, done) => (
                kad.get_providers(kad::RecordKey::from(key)),
                PendingQuery::GetProviders(done),
            ),
        };
        self.queries.insert(id, pending);
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        let report = match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if endpoint.is_dialer() {
                    for done in self.pending_dials.drain(..) {
                        let _ = done.send(Ok(()));
                    }
                }
                // libp2p-floodsub talks only to the peers of its partial view (and sends
                // them our subscriptions once added).
                if let Some(floodsub) = self.swarm.behaviour_mut().floodsub.as_mut() {
                    floodsub.add_node_to_partial_view(peer_id);
                }
                Some(RustEvent::Connected(peer_id))
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.floodsub_topics.remove(&peer_id);
                    if let Some(floodsub) = self.swarm.behaviour_mut().floodsub.as_mut() {
                        // Otherwise libp2p-floodsub dials the peer again.
                        floodsub.remove_node_from_partial_view(&peer_id);
                    }
                }
                Some(RustEvent::Closed(peer_id))
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                for done in self.pending_dials.drain(..) {
                    let _ = done.send(Err(error.to_string()));
                }
                Some(RustEvent::DialFailed(error.to_string()))
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => {
                Some(RustEvent::Ping {
                    peer,
                    result: result.map_err(|e| e.to_string()),
                })
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error {
                error,
                ..
            })) => Some(RustEvent::IdentifyFailed(error.to_string())),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let protocols: Vec<String> = info.protocols.iter().map(|p| p.to_string()).collect();
                self.identified.lock().unwrap().insert(
                    peer_id,
                    RustIdentified {
                        agent_version: info.agent_version.clone(),
                        protocols: protocols.clone(),
                        listen_addrs: info.listen_addrs.clone(),
                        observed_addr: info.observed_addr.clone(),
                        signed_peer_record: info.signed_peer_record.is_some(),
                    },
                );
                Some(RustEvent::Identified {
                    peer: peer_id,
                    agent_version: info.agent_version,
                    protocols,
                    listen_addrs: info.listen_addrs,
                })
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.kad_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.gossipsub_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Floodsub(event)) => self.floodsub_event(event),
            _ => None,
        };
        if let Some(report) = report {
            let _ = self.events.send(report);
        }
    }

    fn gossipsub_event(&mut self, event: gossipsub::Event) -> Option<RustEvent> {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let _ = self.messages.send(RustPubsubMessage {
                    router: RustRouter::Gossipsub,
                    topics: vec![message.topic.into_string()],
                    data: message.data,
                    source: message.source,
                    seqno: message.sequence_number.map(|s| s.to_be_bytes().to_vec()),
                    propagation_source: Some(propagation_source),
                    id: Some(message_id.0),
                });
                None
            }
            gossipsub::Event::Subscribed { peer_id, topic, .. } => Some(RustEvent::Subscribed {
                router: RustRouter::Gossipsub,
                peer: peer_id,
                topic: topic.into_string(),
            }),
            gossipsub::Event::Unsubscribed { peer_id, topic } => Some(RustEvent::Unsubscribed {
                router: RustRouter::Gossipsub,
                peer: peer_id,
                topic: topic.into_string(),
            }),
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                Some(RustEvent::GossipsubNotSupported(peer_id))
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => Some(RustEvent::SlowPeer(peer_id)),
        }
    }

    fn floodsub_event(&mut self, event: floodsub::Event) -> Option<RustEvent> {
        match event {
            floodsub::Event::Message(message) => {
                let _ = self.messages.send(RustPubsubMessage {
                    router: RustRouter::Floodsub,
                    topics: message.topics.iter().map(|t| t.id().to_string()).collect(),
                    data: message.data.to_vec(),
                    source: Some(message.source),
                    seqno: Some(message.sequence_number),
                    propagation_source: None,
                    id: None,
                });
                None
            }
            floodsub::Event::Subscribed { peer_id, topic } => {
                let topic = topic.id().to_string();
                self.floodsub_topics
                    .entry(peer_id)
                    .or_default()
                    .insert(topic.clone());
                Some(RustEvent::Subscribed {
                    router: RustRouter::Floodsub,
                    peer: peer_id,
                    topic,
                })
            }
            floodsub::Event::Unsubscribed { peer_id, topic } => {
                let topic = topic.id().to_string();
                if let Some(topics) = self.floodsub_topics.get_mut(&peer_id) {
                    topics.remove(&topic);
                }
                Some(RustEvent::Unsubscribed {
                    router: RustRouter::Floodsub,
                    peer: peer_id,
                    topic,
                })
            }
        }
    }

    fn kad_event(&mut self, event: kad::Event) -> Option<RustEvent> {
        match event {
            kad::Event::InboundRequest { request } => {
                tracing::debug!(?request, "rust-libp2p kad handled an inbound request");
                Some(RustEvent::KadInbound(request))
            }
            kad::Event::RoutingUpdated {
                peer, addresses, ..
            } => Some(RustEvent::KadRoutingUpdated {
                peer,
                addresses: addresses.iter().cloned().collect(),
            }),
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => {
                self.query_progressed(id, result, step.last);
                None
            }
            _ => None,
        }
    }

    /// Hands a query's result to the command waiting for it; a query still running once
    /// its command has its answer is finished early.
    fn query_progressed(&mut self, id: kad::QueryId, result: kad::QueryResult, last: bool) {
        use kad::QueryResult as Q;
        let Some(pending) = self.queries.remove(&id) else {
            return;
        };
        let unfinished = match (pending, result) {
            (PendingQuery::Bootstrap(done, error), Q::Bootstrap(result)) => {
                let error = error.or_else(|| result.err().map(|e| e.to_string()));
                if !last {
                    Some(PendingQuery::Bootstrap(done, error))
                } else {
                    let _ = done.send(error.map_or(Ok(()), Err));
                    None
                }
            }
            (PendingQuery::ClosestPeers(done), Q::GetClosestPeers(result)) => {
                let _ = done.send(
                    result
                        .map(|ok| ok.peers.into_iter().map(|p| p.peer_id).collect())
                        .map_err(|e| e.to_string()),
                );
                None
            }
            (PendingQuery::PutRecord(done), Q::PutRecord(result)) => {
                let _ = done.send(result.map(|_| ()).map_err(|e| format!("{e:?}")));
                None
            }
            (PendingQuery::GetRecord(done), Q::GetRecord(result)) => match result {
                Ok(kad::GetRecordOk::FoundRecord(found)) => {
                    let _ = done.send(Ok(Some(found.record.value)));
                    None
                }
                // Only reported after a record was found, so never reached here.
                Ok(kad::GetRecordOk::FinishedWithNoAdditionalRecord { .. }) => {
                    let _ = done.send(Ok(None));
                    None
                }
                Err(kad::GetRecordError::NotFound { .. }) => {
                    let _ = done.send(Ok(None));
                    None
                }
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                    None
                }
            },
            (PendingQuery::StartProviding(done), Q::StartProviding(result)) => {
                let _ = done.send(result.map(|_| ()).map_err(|e| e.to_string()));
                None
            }
            (PendingQuery::GetProviders(done), Q::GetProviders(result)) => match result {
                Ok(kad::GetProvidersOk::FoundProviders { providers, .. })
                    if !providers.is_empty() =>
                {
                    let _ = done.send(Ok(providers.into_iter().collect()));
                    None
                }
                Ok(kad::GetProvidersOk::FoundProviders { .. }) if !last => {
                    Some(PendingQuery::GetProviders(done))
                }
                Ok(_) => {
                    let _ = done.send(Ok(Vec::new()));
                    None
                }
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                    None
                }
            },
            (pending, _) => Some(pending),
        };
        match unfinished {
            Some(pending) => {
                self.queries.insert(id, pending);
            }
            None if !last => {
                if let Some(mut query) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .as_mut()
                    .and_then(|kad| kad.query_mut(&id))
                {
                    query.finish();
                }
            }
            None => {}
        }
    }
}

impl RustNode {
    /// Starts a node listening on 127.0.0.1 (a free port), with no Kademlia.
    pub async fn start(muxer: RustMuxer) -> Self {
        Self::start_with(muxer, RustOptions::default()).await
    }

    /// Starts a node listening on 127.0.0.1 (a free port), built as `options` say.
    pub async fn start_with(muxer: RustMuxer, options: RustOptions) -> Self {
        let tcp_config = tcp::Config::default().nodelay(true);
        let idle_timeout = options.idle_timeout.unwrap_or(IDLE_TIMEOUT);
        let builder = libp2p::SwarmBuilder::with_new_identity().with_tokio();
        let mut swarm: Swarm<Behaviour> = match muxer {
            RustMuxer::Yamux => builder
                .with_tcp(tcp_config, noise::Config::new, yamux::Config::default)
                .expect("tcp")
                .with_behaviour(|key| behaviour(key, options))
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle_timeout))
                .build(),
            RustMuxer::Mplex => builder
                .with_tcp(
                    tcp_config,
                    noise::Config::new,
                    libp2p_mplex::Config::default,
                )
                .expect("tcp")
                .with_behaviour(|key| behaviour(key, options))
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle_timeout))
                .build(),
        };
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .expect("listen");
        let listen_addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer_id = *swarm.local_peer_id();
        let control = swarm.behaviour().stream.new_control();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (messages_tx, messages) = mpsc::unbounded_channel();
        let identified = Arc::new(Mutex::new(HashMap::new()));
        let (commands, commands_rx) = mpsc::channel(16);
        let driver = Driver {
            swarm,
            events: events_tx,
            identified: identified.clone(),
            pending_dials: Vec::new(),
            queries: HashMap::new(),
            messages: messages_tx,
            floodsub_topics: HashMap::new(),
        };
        let task = tokio::spawn(driver.run(commands_rx));
        RustNode {
            peer_id,
            listen_addr,
            control,
            events,
            identified,
            messages,
            commands,
            task,
        }
    }

    /// Sends a command and waits (at most [`COMMAND_LIMIT`]) for its answer.
    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, String> {
        let (done, result) = oneshot::channel();
        self.commands
            .send(command(done))
            .await
            .map_err(|_| "node stopped".to_string())?;
        tokio::time::timeout(COMMAND_LIMIT, result)
            .await
            .map_err(|_| "no answer from the rust-libp2p node in time".to_string())?
            .map_err(|_| "node stopped".to_string())?
    }

    /// The listen address with `/p2p/<id>`.
    pub fn p2p_addr(&self) -> Multiaddr {
        self.listen_addr
            .clone()
            .with(libp2p::multiaddr::Protocol::P2p(self.peer_id))
    }

    /// Dials `addr`; returns once a connection is up or the dial failed.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), String> {
        self.ask(|done| Command::Dial(addr, done)).await
    }

    /// Declares `addr` an external address of the node. libp2p-kad puts only external
    /// addresses (not listen addresses) in the ADD_PROVIDER requests it sends.
    pub async fn add_external_address(&self, addr: Multiaddr) -> Result<(), String> {
        self.ask(|done| Command::AddExternalAddress(addr, done))
            .await
    }

    /// Puts `peer` at `addr` in the kad routing table.
    pub async fn kad_add_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), String> {
        self.ask(|done| Command::Kad(KadCommand::AddAddress(peer, addr, done)))
            .await
    }

    /// Bootstraps (a lookup of the node's own id, then bucket refreshes); `Ok` once the
    /// whole bootstrap finished without a timeout. Fails at once with an empty table.
    pub async fn kad_bootstrap(&self) -> Result<(), String> {
        self.ask(|done| Command::Kad(KadCommand::Bootstrap(done)))
            .await
    }

    /// An iterative FIND_NODE for `key` (a peer id's bytes, say): the closest peers that
    /// answered, the node itself excluded.
    pub async fn kad_get_closest_peers(&self, key: Vec<u8>) -> Result<Vec<PeerId>, String> {
        self.ask(|done| Command::Kad(KadCommand::GetClosestPeers(key, done)))
            .await
    }

    /// Stores the record locally and PUT_VALUEs it to the closest peers; `Ok` once at
    /// least `quorum` of them stored it.
    pub async fn kad_put_record(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        quorum: usize,
    ) -> Result<(), String> {
        self.ask(|done| Command::Kad(KadCommand::PutRecord(key, value, quorum, done)))
            .await
    }

    /// Looks up a record (the local store first, then GET_VALUE): the first value found,
    /// or `None` if the lookup finished without one.
    pub async fn kad_get_record(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        self.ask(|done| Command::Kad(KadCommand::GetRecord(key, done)))
            .await
    }

    /// Stores a provider record for the node locally and sends ADD_PROVIDER to the peers
    /// closest to `key`. libp2p-kad counts an ADD_PROVIDER as done once it is queued, so
    /// `Ok` does not mean a peer stored it.
    pub async fn kad_start_providing(&self, key: Vec<u8>) -> Result<(), String> {
        self.ask(|done| Command::Kad(KadCommand::StartProviding(key, done)))
            .await
    }

    /// Looks up providers of `key` (the local store first, then GET_PROVIDERS): the first
    /// non-empty set found, or none if the lookup finished without any.
    pub async fn kad_get_providers(&self, key: Vec<u8>) -> Result<Vec<PeerId>, String> {
        self.ask(|done| Command::Kad(KadCommand::GetProviders(key, done)))
            .await
    }

    /// The value the node's own record store holds for `key`.
    pub async fn kad_local_record(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        self.ask(|done| Command::Kad(KadCommand::LocalRecord(key, done)))
            .await
    }

    /// The providers (and the addresses stored with each) the node's own store holds for
    /// `key`.
    pub async fn kad_local_providers(
        &self,
        key: Vec<u8>,
    ) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, String> {
        self.ask(|done| Command::Kad(KadCommand::LocalProviders(key, done)))
            .await
    }

    /// Every peer in the kad routing table.
    pub async fn kad_routing_table_peers(&self) -> Result<Vec<PeerId>, String> {
        self.ask(|done| Command::Kad(KadCommand::RoutingTablePeers(done)))
            .await
    }

    /// Subscribes `router` to `topic` (the raw topic string, as `IdentTopic`); `false` if
    /// it already was.
    pub async fn subscribe(&self, router: RustRouter, topic: &str) -> Result<bool, String> {
        let topic = topic.to_string();
        self.ask(|done| Command::Pubsub(PubsubCommand::Subscribe(router, topic, done)))
            .await
    }

    /// Publishes `data` on `topic` with `router`: gossipsub returns the message id;
    /// floodsub (which publishes only on topics the node is subscribed to, and reports
    /// nothing) returns `None`.
    pub async fn publish(
        &self,
        router: RustRouter,
        topic: &str,
        data: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, String> {
        let topic = topic.to_string();
        self.ask(|done| Command::Pubsub(PubsubCommand::Publish(router, topic, data, done)))
            .await
    }

    /// The peers `router` knows to be subscribed to `topic`.
    pub async fn topic_peers(
        &self,
        router: RustRouter,
        topic: &str,
    ) -> Result<Vec<PeerId>, String> {
        let topic = topic.to_string();
        self.ask(|done| Command::Pubsub(PubsubCommand::TopicPeers(router, topic, done)))
            .await
    }

    /// gossipsub's mesh of `topic`.
    pub async fn mesh_peers(&self, topic: &str) -> Result<Vec<PeerId>, String> {
        let topic = topic.to_string();
        self.ask(|done| Command::Pubsub(PubsubCommand::MeshPeers(topic, done)))
            .await
    }

    /// Which gossipsub version each connected peer negotiated, as the protocol id
    /// (`/meshsub/1.2.0`, ...; `/floodsub/1.0.0` until a stream is negotiated, as
    /// libp2p-gossipsub assumes until then).
    pub async fn gossipsub_peer_protocols(&self) -> Result<Vec<(PeerId, String)>, String> {
        let kinds = self
            .ask(|done| Command::Pubsub(PubsubCommand::PeerProtocols(done)))
            .await?;
        Ok(kinds
            .into_iter()
            .map(|(peer, kind)| {
                let protocol = match kind.as_str() {
                    "Gossipsub v1.3" => "/meshsub/1.3.0",
                    "Gossipsub v1.2" => "/meshsub/1.2.0",
                    "Gossipsub v1.1" => "/meshsub/1.1.0",
                    "Gossipsub v1.0" => "/meshsub/1.0.0",
                    "Floodsub" => "/floodsub/1.0.0",
                    _ => "not supported",
                };
                (peer, protocol.to_string())
            })
            .collect())
    }

    /// The next pubsub message received, waiting at most `limit`.
    pub async fn next_message(&mut self, limit: Duration) -> Option<RustPubsubMessage> {
        tokio::time::timeout(limit, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits (at most `limit`) for the first event `pick` accepts, skipping others.
    pub async fn wait_for<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&RustEvent) -> Option<T>,
    ) -> Option<T> {
        tokio::time::timeout(limit, async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// Serves perf on every inbound `/perf/1.0.0` stream, in tasks of its own.
    pub fn serve_perf(&mut self) -> JoinHandle<()> {
        let mut incoming = self.control.accept(PERF).expect("perf registered once");
        tokio::spawn(async move {
            while let Some((_, stream)) = incoming.next().await {
                tokio::spawn(async move {
                    let _ = perf_serve(stream).await;
                });
            }
        })
    }
}

impl Drop for RustNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const PERF_CHUNK: usize = 256 * 1024;

/// perf, server side, on a rust-libp2p stream: read the u64, drain to EOF, send back.
pub async fn perf_serve(mut stream: Stream) -> io::Result<()> {
    let mut len = [0; 8];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0; PERF_CHUNK];
    while stream.read(&mut buf).await? != 0 {}
    let mut left = u64::from_be_bytes(len);
    buf.fill(0);
    while left > 0 {
        let n = left.min(PERF_CHUNK as u64) as usize;
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    stream.close().await
}

/// perf, client side, on a rust-libp2p stream; returns the bytes received.
pub async fn perf_client(mut stream: Stream, upload: u64, download: u64) -> io::Result<u64> {
    stream.write_all(&download.to_be_bytes()).await?;
    let mut buf = vec![0; PERF_CHUNK];
    let mut left = upload;
    while left > 0 {
        let n = left.min(PERF_CHUNK as u64) as usize;
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    stream.close().await?;
    let mut received = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(received);
        }
        received += n as u64;
    }
}
