//! [`Pubsub`]: a router (floodsub or gossipsub) running on a [`Network`].
//!
//! One task owns the router. It learns peers from the network's events (a peer whose
//! identify lists one of the router's protocols) and from the streams peers open to us;
//! it writes to each peer through a task of its own with a bounded queue (a slow peer
//! loses RPCs, it does not hold memory), and reads each inbound stream in another task
//! that blocks when the router is busy (a fast peer is slowed, not buffered).

use std::{
    collections::HashMap,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use mycel_core::{
    Direction, Multiaddr, NegotiatedStream, Network, NetworkEvent, PeerId, Protocol, ProtocolId,
    stream_handler,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::{
    sync::{CancellationToken, DropGuard},
    task::TaskTracker,
};
use tracing::{debug, trace, warn};

use crate::{
    DecodedRpc, Event, Floodsub, FloodsubConfig, Message, MessageId, PeerConnection, Publisher,
    PubsubError, Router, Rpc, RpcLimits, SigningPolicy, TopicHash, read_rpc, writer::Writer,
};

/// Default largest frame we send: rust-libp2p's default receive limit (go's is 1 MiB).
/// Larger RPCs are cut into several; a single larger message still goes out alone.
pub const DEFAULT_MAX_TRANSMIT_SIZE: usize = 64 * 1024;

/// Default RPCs queued for one peer before further ones are dropped.
pub const DEFAULT_OUTBOUND_QUEUE_LEN: usize = 512;

/// Default messages buffered for one subscription before further ones are dropped.
pub const DEFAULT_SUBSCRIPTION_BUFFER: usize = 1024;

/// How long opening our stream to a peer, or writing one RPC, may take.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Commands queued for the router task (from handles and from stream readers).
const COMMAND_QUEUE_LEN: usize = 1024;

/// Observers of [`PubsubEvent`]s that fall this far behind miss events.
const EVENT_BUFFER: usize = 1024;

/// Settings of the service around the router.
#[derive(Debug, Clone)]
pub struct PubsubConfig {
    /// How our messages are stamped and signed (the router's validation mode must
    /// accept them on other peers).
    pub signing: SigningPolicy,
    /// Bounds on what we read (RPC size, message size, entry counts).
    pub limits: RpcLimits,
    /// Largest frame we write; larger RPCs are split.
    pub max_transmit_size: usize,
    /// RPCs queued per peer.
    pub outbound_queue_len: usize,
    /// Messages buffered per subscription.
    pub subscription_buffer: usize,
    /// Time allowed to open a stream or write an RPC.
    pub write_timeout: Duration,
}

impl PubsubConfig {
    /// Defaults with the given signing policy.
    pub fn new(signing: SigningPolicy) -> Self {
        PubsubConfig {
            signing,
            limits: RpcLimits::default(),
            max_transmit_size: DEFAULT_MAX_TRANSMIT_SIZE,
            outbound_queue_len: DEFAULT_OUTBOUND_QUEUE_LEN,
            subscription_buffer: DEFAULT_SUBSCRIPTION_BUFFER,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// A message received on a subscribed topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The peer that forwarded it to us (not necessarily its author, `message.from`).
    pub from: PeerId,
    /// Its id.
    pub id: MessageId,
    /// The message.
    pub message: Message,
}

/// Something observers of the service may want to know.
#[derive(Debug, Clone, PartialEq)]
pub enum PubsubEvent {
    /// A peer joined a topic.
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer left a topic.
    Unsubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer entered our mesh of a topic (for floodsub: became a recipient of it).
    Grafted {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer left our mesh of a topic.
    Pruned {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer sent something invalid.
    Invalid {
        /// The peer.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
}

/// Counters of the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PubsubStats {
    /// Peers we exchange RPCs with.
    pub peers: usize,
    /// RPCs dropped because a peer's queue was full.
    pub dropped_rpcs: u64,
    /// Messages dropped because a subscription's buffer was full.
    pub dropped_deliveries: u64,
    /// Invalid messages or RPCs received.
    pub invalid: u64,
}

/// A running pubsub node: cheap to clone; the node stops when the last clone is dropped
/// or on [`Pubsub::close`].
#[derive(Clone)]
pub struct Pubsub {
    inner: Arc<Inner>,
    _stop: Arc<DropGuard>,
}

impl std::fmt::Debug for Pubsub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pubsub")
            .field("local", &self.inner.local)
            .field("protocols", &self.inner.protocols)
            .finish_non_exhaustive()
    }
}

struct Inner {
    network: Arc<dyn Network>,
    local: PeerId,
    protocols: Vec<ProtocolId>,
    limits: RpcLimits,
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<PubsubEvent>,
    token: CancellationToken,
    tasks: TaskTracker,
}

enum Command {
    Subscribe {
        topic: TopicHash,
        reply: oneshot::Sender<mpsc::Receiver<Received>>,
    },
    SubscriptionDropped,
    Publish {
        topic: TopicHash,
        data: Bytes,
        reply: oneshot::Sender<Result<MessageId, PubsubError>>,
    },
    MeshPeers {
        topic: TopicHash,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    TopicPeers {
        topic: TopicHash,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Stats {
        reply: oneshot::Sender<PubsubStats>,
    },
    Inbound {
        peer: PeerId,
        protocol: ProtocolId,
        remote_addr: Option<Multiaddr>,
    },
    Rpc {
        peer: PeerId,
        rpc: DecodedRpc,
    },
    InboundFailed {
        peer: PeerId,
        error: PubsubError,
    },
    WriterFailed {
        peer: PeerId,
        generation: u64,
    },
}

impl Pubsub {
    /// Starts `router` on `network`: registers its protocols' stream handlers and
    /// follows the network's peers. Must be called inside a tokio runtime.
    pub fn new(network: Arc<dyn Network>, config: PubsubConfig, router: impl Router) -> Pubsub {
        let local = network.local_peer_id();
        let protocols = router.protocols();
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE_LEN);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let token = CancellationToken::new();
        let inner = Arc::new(Inner {
            network: network.clone(),
            local,
            protocols: protocols.clone(),
            limits: config.limits.clone(),
            commands,
            events,
            token: token.clone(),
            tasks: TaskTracker::new(),
        });
        for protocol in &protocols {
            let weak = Arc::downgrade(&inner);
            network.set_stream_handler(
                protocol.clone(),
                stream_handler(move |stream| {
                    let weak = weak.clone();
                    async move {
                        let Some(inner) = weak.upgrade() else {
                            return;
                        };
                        let token = inner.token.clone();
                        let limits = inner.limits.clone();
                        let commands = inner.commands.clone();
                        drop(inner);
                        tokio::select! {
                            _ = token.cancelled() => {}
                            _ = read_inbound(stream, limits, commands) => {}
                        }
                    }
                }),
            );
        }
        let publisher = Publisher::new(config.signing.clone())
            .with_max_message_size(config.limits.max_message_size);
        let actor = Actor {
            inner: Arc::downgrade(&inner),
            network_events: network.events(),
            router: Box::new(router),
            publisher,
            config,
            peers: HashMap::new(),
            connections: HashMap::new(),
            subscribers: HashMap::new(),
            stats: PubsubStats::default(),
            generation: 0,
        };
        let task_token = token.clone();
        inner.tasks.spawn(async move {
            tokio::select! {
                _ = task_token.cancelled() => {}
                _ = actor.run(command_rx) => {}
            }
        });
        Pubsub {
            inner,
            _stop: Arc::new(token.drop_guard()),
        }
    }

    /// A floodsub node.
    pub fn floodsub(
        network: Arc<dyn Network>,
        config: PubsubConfig,
        floodsub: FloodsubConfig,
    ) -> Pubsub {
        Pubsub::new(network, config, Floodsub::new(floodsub))
    }

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.local
    }

    /// The network the node runs on.
    pub fn network(&self) -> &Arc<dyn Network> {
        &self.inner.network
    }

    /// The protocols the node speaks, most preferred first.
    pub fn protocols(&self) -> &[ProtocolId] {
        &self.inner.protocols
    }

    /// Joins `topic` (announcing it to peers on the first subscription) and returns the
    /// stream of its messages. Dropping the last subscription of a topic leaves it.
    pub async fn subscribe(&self, topic: TopicHash) -> Result<Subscription, PubsubError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Subscribe {
            topic: topic.clone(),
            reply,
        })
        .await?;
        let messages = rx.await.map_err(|_| PubsubError::Closed)?;
        Ok(Subscription {
            topic,
            messages,
            commands: self.inner.commands.clone(),
        })
    }

    /// Publishes `data` on `topic`, stamped and signed per the signing policy. Succeeds
    /// even when no peer is there to receive it.
    pub async fn publish(
        &self,
        topic: TopicHash,
        data: impl Into<Bytes>,
    ) -> Result<MessageId, PubsubError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Publish {
            topic,
            data: data.into(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PubsubError::Closed)?
    }

    /// Peers our messages of `topic` go to (gossipsub's mesh or fanout; every
    /// subscribed peer for floodsub).
    pub async fn mesh_peers(&self, topic: TopicHash) -> Vec<PeerId> {
        let (reply, rx) = oneshot::channel();
        if self
            .command(Command::MeshPeers { topic, reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Peers known to be subscribed to `topic`.
    pub async fn topic_peers(&self, topic: TopicHash) -> Vec<PeerId> {
        let (reply, rx) = oneshot::channel();
        if self
            .command(Command::TopicPeers { topic, reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The service's counters.
    pub async fn stats(&self) -> PubsubStats {
        let (reply, rx) = oneshot::channel();
        if self.command(Command::Stats { reply }).await.is_err() {
            return PubsubStats::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Subscribed/grafted/invalid notifications from now on. A receiver that falls
    /// behind misses events (and learns how many).
    pub fn events(&self) -> broadcast::Receiver<PubsubEvent> {
        self.inner.events.subscribe()
    }

    /// Stops the node: handlers removed, every task ended.
    pub async fn close(&self) {
        for protocol in &self.inner.protocols {
            self.inner.network.remove_stream_handler(protocol);
        }
        self.inner.token.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    async fn command(&self, command: Command) -> Result<(), PubsubError> {
        if self.inner.token.is_cancelled() {
            return Err(PubsubError::Closed);
        }
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| PubsubError::Closed)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for protocol in &self.protocols {
            self.network.remove_stream_handler(protocol);
        }
    }
}

/// The messages of one subscribed topic, as a [`Stream`]. Ends when the node stops.
pub struct Subscription {
    topic: TopicHash,
    messages: mpsc::Receiver<Received>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The topic.
    pub fn topic(&self) -> &TopicHash {
        &self.topic
    }
}

impl Stream for Subscription {
    type Item = Received;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        self.messages.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.messages.close();
        // If the queue is full the next heartbeat notices the closed receiver instead.
        let _ = self.commands.try_send(Command::SubscriptionDropped);
    }
}

/// Reads RPCs from a stream a peer opened to us until it ends or breaks.
async fn read_inbound(
    stream: NegotiatedStream,
    limits: RpcLimits,
    commands: mpsc::Sender<Command>,
) {
    let peer = stream.peer;
    let mut io = stream.io;
    let inbound = Command::Inbound {
        peer,
        protocol: stream.protocol,
        remote_addr: stream.remote_addr,
    };
    if commands.send(inbound).await.is_err() {
        return;
    }
    loop {
        match read_rpc(&mut io, &limits).await {
            Ok(Some(rpc)) => {
                if commands.send(Command::Rpc { peer, rpc }).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                trace!(%peer, "pubsub: inbound stream closed");
                return;
            }
            Err(error) => {
                let _ = commands.send(Command::InboundFailed { peer, error }).await;
                return;
            }
        }
    }
}

/// A peer we exchange RPCs with.
struct PeerState {
    queue: mpsc::Sender<Rpc>,
    generation: u64,
}

/// What we know of a connected peer before it speaks pubsub.
#[derive(Debug, Clone, Copy)]
struct ConnectionInfo {
    outbound: bool,
    ip: Option<IpAddr>,
}

struct Actor {
    inner: std::sync::Weak<Inner>,
    network_events: BoxStream<'static, NetworkEvent>,
    router: Box<dyn Router>,
    publisher: Publisher,
    config: PubsubConfig,
    peers: HashMap<PeerId, PeerState>,
    connections: HashMap<PeerId, ConnectionInfo>,
    subscribers: HashMap<TopicHash, Vec<mpsc::Sender<Received>>>,
    stats: PubsubStats,
    generation: u64,
}

impl Actor {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let period = self
            .router
            .heartbeat_interval()
            .max(Duration::from_millis(10));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Peers already connected when we start.
        if let Some(inner) = self.inner.upgrade() {
            for peer in inner.network.connected_peers() {
                self.connections.entry(peer).or_insert(ConnectionInfo {
                    outbound: false,
                    ip: None,
                });
            }
        }
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    self.on_command(command);
                }
                event = self.network_events.next() => {
                    let Some(event) = event else { return };
                    self.on_network_event(event);
                }
                _ = heartbeat.tick() => {
                    let events = self.router.heartbeat(Instant::now());
                    self.perform(events);
                    self.sweep_subscribers();
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Subscribe { topic, reply } => {
                let (tx, rx) = mpsc::channel(self.config.subscription_buffer.max(1));
                let first = self
                    .subscribers
                    .get(&topic)
                    .is_none_or(|subs| subs.iter().all(|s| s.is_closed()));
                self.subscribers.entry(topic.clone()).or_default().push(tx);
                let _ = reply.send(rx);
                if first {
                    let events = self.router.subscribe(topic, now);
                    self.perform(events);
                }
            }
            Command::SubscriptionDropped => self.sweep_subscribers(),
            Command::Publish { topic, data, reply } => {
                let result = match self.publisher.publish(topic, data) {
                    Ok(message) => {
                        let (id, events) = self.router.publish(message, now);
                        self.perform(events);
                        Ok(id)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::MeshPeers { topic, reply } => {
                let _ = reply.send(self.router.mesh_peers(&topic));
            }
            Command::TopicPeers { topic, reply } => {
                let peers = self
                    .router
                    .subscriptions()
                    .peers_in(&topic)
                    .copied()
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Stats { reply } => {
                let mut stats = self.stats;
                stats.peers = self.peers.len();
                let _ = reply.send(stats);
            }
            Command::Inbound {
                peer,
                protocol,
                remote_addr,
            } => {
                if let Some(ip) = remote_addr.as_ref().and_then(ip_of) {
                    self.connections
                        .entry(peer)
                        .or_insert(ConnectionInfo {
                            outbound: false,
                            ip: None,
                        })
                        .ip = Some(ip);
                }
                self.add_peer(peer, protocol);
            }
            Command::Rpc { peer, rpc } => {
                if !self.peers.contains_key(&peer) {
                    trace!(%peer, "pubsub: rpc from a peer we dropped");
                    return;
                }
                trace!(
                    %peer,
                    subscriptions = rpc.rpc.subscriptions.len(),
                    messages = rpc.rpc.messages.len(),
                    invalid = rpc.invalid_messages.len(),
                    "pubsub: rpc"
                );
                let events = self.router.on_rpc(peer, rpc, now);
                self.perform(events);
            }
            Command::InboundFailed { peer, error } => {
                debug!(%peer, %error, "pubsub: bad inbound stream");
                self.stats.invalid += 1;
                self.emit(PubsubEvent::Invalid {
                    peer,
                    reason: error.to_string(),
                });
            }
            Command::WriterFailed { peer, generation } => {
                let current = self.peers.get(&peer).map(|p| p.generation);
                if current == Some(generation) {
                    self.remove_peer(&peer);
                }
            }
        }
    }

    fn on_network_event(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::Connected {
                peer,
                remote_addr,
                direction,
            } => {
                self.connections.insert(
                    peer,
                    ConnectionInfo {
                        outbound: direction == Direction::Outbound,
                        ip: ip_of(&remote_addr),
                    },
                );
            }
            NetworkEvent::Disconnected { peer, .. } => {
                self.connections.remove(&peer);
                self.remove_peer(&peer);
            }
            NetworkEvent::Identified {
                peer, protocols, ..
            } => {
                let common = self
                    .router
                    .protocols()
                    .into_iter()
                    .find(|ours| protocols.iter().any(|p| p == ours.as_ref()));
                if let Some(protocol) = common {
                    self.add_peer(peer, protocol);
                }
            }
            _ => {}
        }
    }

    /// Starts exchanging RPCs with `peer` (once; later calls do nothing).
    fn add_peer(&mut self, peer: PeerId, protocol: ProtocolId) {
        if self.peers.contains_key(&peer) {
            return;
        }
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if peer == inner.local {
            return;
        }
        let info = self
            .connections
            .get(&peer)
            .copied()
            .unwrap_or(ConnectionInfo {
                outbound: false,
                ip: None,
            });
        self.generation += 1;
        let generation = self.generation;
        let (queue, queue_rx) = mpsc::channel(self.config.outbound_queue_len.max(1));
        self.peers.insert(peer, PeerState { queue, generation });
        debug!(%peer, %protocol, "pubsub: peer added");
        let writer = Writer {
            network: inner.network.clone(),
            peer,
            protocols: inner.protocols.clone(),
            max_transmit_size: self.config.max_transmit_size,
            timeout: self.config.write_timeout,
            streams: self.router.outbound_streams(),
        };
        let commands = inner.commands.clone();
        let writer = async move {
            // Any failure ends the task and tells the router task.
            if let Err(reason) = writer.run(queue_rx).await {
                debug!(%peer, %reason, "pubsub: writer stopped");
                let _ = commands
                    .send(Command::WriterFailed { peer, generation })
                    .await;
            }
        };
        let token = inner.token.clone();
        inner.tasks.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = writer => {}
            }
        });
        let connection = PeerConnection {
            protocol,
            outbound: info.outbound,
            ip: info.ip,
        };
        let events = self.router.add_peer(peer, connection, Instant::now());
        self.perform(events);
    }

    fn remove_peer(&mut self, peer: &PeerId) {
        if self.peers.remove(peer).is_none() {
            return;
        }
        debug!(%peer, "pubsub: peer removed");
        let events = self.router.remove_peer(peer, Instant::now());
        self.perform(events);
    }

    fn perform(&mut self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Send { to, rpc } => {
                    let Some(state) = self.peers.get(&to) else {
                        continue;
                    };
                    if let Err(e) = state.queue.try_send(rpc) {
                        match e {
                            mpsc::error::TrySendError::Full(_) => {
                                self.stats.dropped_rpcs += 1;
                                warn!(peer = %to, "pubsub: peer's queue is full, rpc dropped");
                            }
                            mpsc::error::TrySendError::Closed(_) => {}
                        }
                    }
                }
                Event::Deliver { from, id, message } => self.deliver(from, id, message),
                Event::Invalid { from, reason } => {
                    self.stats.invalid += 1;
                    debug!(peer = %from, %reason, "pubsub: invalid input");
                    self.emit(PubsubEvent::Invalid { peer: from, reason });
                }
                Event::Subscribed { peer, topic } => {
                    self.emit(PubsubEvent::Subscribed { peer, topic })
                }
                Event::Unsubscribed { peer, topic } => {
                    self.emit(PubsubEvent::Unsubscribed { peer, topic })
                }
                Event::Grafted { peer, topic } => self.emit(PubsubEvent::Grafted { peer, topic }),
                Event::Pruned { peer, topic } => self.emit(PubsubEvent::Pruned { peer, topic }),
                Event::Connect { peer } => self.connect(peer),
            }
        }
    }

    /// Dials a peer learnt from peer exchange, if we know where it is.
    fn connect(&mut self, peer: PeerId) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if self.connections.contains_key(&peer) || inner.network.addrs_of(&peer).is_empty() {
            return;
        }
        let protocol = inner.protocols.first().cloned();
        if let Some(protocol) = protocol {
            self.add_peer(peer, protocol);
        }
    }

    fn deliver(&mut self, from: PeerId, id: MessageId, message: Message) {
        let Some(subscribers) = self.subscribers.get_mut(&message.topic) else {
            return;
        };
        let received = Received { from, id, message };
        subscribers.retain(|tx| match tx.try_send(received.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.dropped_deliveries += 1;
                warn!(topic = %received.message.topic.as_str(), "pubsub: subscription full, message dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Forgets dropped subscriptions and leaves topics nobody listens to any more.
    fn sweep_subscribers(&mut self) {
        let mut left = Vec::new();
        self.subscribers.retain(|topic, subs| {
            subs.retain(|tx| !tx.is_closed());
            if subs.is_empty() {
                left.push(topic.clone());
                false
            } else {
                true
            }
        });
        let now = Instant::now();
        for topic in left {
            let events = self.router.unsubscribe(&topic, now);
            self.perform(events);
        }
    }

    fn emit(&self, event: PubsubEvent) {
        if let Some(inner) = self.inner.upgrade() {
            let _ = inner.events.send(event);
        }
    }
}

/// The IP address of a multiaddr, if it starts with one.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}
