//! The task that owns the router: it follows the network, reads peers' streams, runs
//! the heartbeat and carries out what the router decides.

use std::{
    collections::HashMap,
    sync::Weak,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream::BoxStream};
use mycel_core::{Direction, NetworkEvent, PeerId, ProtocolId, addr::ip_of};
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use super::{
    PubsubConfig, PubsubEvent, PubsubStats, Received,
    handle::{Command, Inner},
};
use crate::{
    Event, Message, MessageId, PeerConnection, Publisher, Router, Rpc, TopicHash, writer::Writer,
};

/// A peer we exchange RPCs with.
struct PeerState {
    queue: mpsc::Sender<Rpc>,
    generation: u64,
}

/// What we know of a connected peer before it speaks pubsub.
#[derive(Debug, Clone, Copy)]
struct ConnectionInfo {
    outbound: bool,
    ip: Option<std::net::IpAddr>,
}

pub(super) struct Actor {
    inner: Weak<Inner>,
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
    pub(super) fn new(
        inner: Weak<Inner>,
        network_events: BoxStream<'static, NetworkEvent>,
        router: Box<dyn Router>,
        publisher: Publisher,
        config: PubsubConfig,
    ) -> Actor {
        Actor {
            inner,
            network_events,
            router,
            publisher,
            config,
            peers: HashMap::new(),
            connections: HashMap::new(),
            subscribers: HashMap::new(),
            stats: PubsubStats::default(),
            generation: 0,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
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
        drop(inner.tasks.spawn(writer));
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
