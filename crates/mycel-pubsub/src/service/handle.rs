//! The [`Pubsub`] handle users hold, and the commands it sends the router task.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::Stream;
use mycel_core::{
    Multiaddr, NegotiatedStream, Network, PeerId, ProtocolId, stream_handler, tasks::TaskGroup,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::DropGuard;
use tracing::trace;

use super::{
    COMMAND_QUEUE_LEN, EVENT_BUFFER, PubsubConfig, PubsubEvent, PubsubStats, Received, actor::Actor,
};
use crate::{
    DecodedRpc, Floodsub, FloodsubConfig, MessageId, Publisher, PubsubError, Router, RpcLimits,
    TopicHash, read_rpc,
};

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

pub(super) struct Inner {
    pub(super) network: Arc<dyn Network>,
    pub(super) local: PeerId,
    pub(super) protocols: Vec<ProtocolId>,
    pub(super) limits: RpcLimits,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) events: broadcast::Sender<PubsubEvent>,
    pub(super) tasks: TaskGroup,
}

pub(super) enum Command {
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
        let tasks = TaskGroup::new();
        let inner = Arc::new(Inner {
            network: network.clone(),
            local,
            protocols: protocols.clone(),
            limits: config.limits.clone(),
            commands,
            events,
            tasks: tasks.clone(),
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
                        let tasks = inner.tasks.clone();
                        let limits = inner.limits.clone();
                        let commands = inner.commands.clone();
                        drop(inner);
                        tokio::select! {
                            _ = tasks.cancelled() => {}
                            _ = read_inbound(stream, limits, commands) => {}
                        }
                    }
                }),
            );
        }
        let publisher = Publisher::new(config.signing.clone())
            .with_max_message_size(config.limits.max_message_size);
        let actor = Actor::new(
            Arc::downgrade(&inner),
            network.events(),
            Box::new(router),
            publisher,
            config,
        );
        drop(inner.tasks.spawn(actor.run(command_rx)));
        Pubsub {
            inner,
            _stop: Arc::new(tasks.drop_guard()),
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
        self.inner.tasks.stop().await;
    }

    async fn command(&self, command: Command) -> Result<(), PubsubError> {
        if self.inner.tasks.is_cancelled() {
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
