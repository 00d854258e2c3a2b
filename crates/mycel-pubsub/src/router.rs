//! What every pubsub router is to the service that runs it: a state machine fed with
//! peers, RPCs, commands and the clock, answering with [`Event`]s.
//!
//! The routers ([`crate::Floodsub`], [`crate::Gossipsub`]) do no IO and read no clock;
//! [`crate::Pubsub`] owns the streams and the timer and drives whichever router it was
//! given through this trait. A simulator can drive the same routers directly.

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use mycel_core::{PeerId, ProtocolId};

use crate::{DecodedRpc, Message, MessageId, OutboundStreams, Rpc, Subscriptions, TopicHash};

/// What the application decides about a received message before it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Deliver and forward.
    Accept,
    /// Drop, and count it against the peer that sent it.
    Reject,
    /// Drop quietly.
    Ignore,
}

/// The application's check of a received message: `(sender, message)`.
pub type MessageValidator = Arc<dyn Fn(&PeerId, &Message) -> Acceptance + Send + Sync>;

/// What the router asks of its caller, or tells it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Send this RPC to this peer.
    Send {
        /// The peer.
        to: PeerId,
        /// What to send.
        rpc: Rpc,
    },
    /// A new message on a topic we are subscribed to.
    Deliver {
        /// The peer it came from (not necessarily its author).
        from: PeerId,
        /// Its id.
        id: MessageId,
        /// The message.
        message: Message,
    },
    /// A peer sent something invalid (a reason to penalise or drop it).
    Invalid {
        /// The peer.
        from: PeerId,
        /// What was wrong.
        reason: String,
    },
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
    /// We added `peer` to our mesh of `topic` (gossipsub), or, for floodsub, a peer
    /// we send the topic's messages to joined it.
    Grafted {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// `peer` left our mesh of `topic`.
    Pruned {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer we may want to connect to (learnt from peer exchange on PRUNE).
    Connect {
        /// The peer.
        peer: PeerId,
    },
}

/// How a peer is reached, as a router needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConnection {
    /// The pubsub protocol the peer accepted for our stream to it (its version decides
    /// what we may send: PX and backoff from 1.1, IDONTWANT from 1.2).
    pub protocol: ProtocolId,
    /// Whether we dialed the peer (gossipsub keeps some outbound peers in every mesh).
    pub outbound: bool,
    /// The peer's IP address, if it has one (gossipsub scores crowds behind one IP).
    pub ip: Option<IpAddr>,
}

/// A pubsub router: the protocol logic of floodsub or gossipsub, without IO or clock.
///
/// Every method returns what the caller must do: send RPCs, deliver messages, note
/// invalid input. Time is always passed in.
pub trait Router: Send + 'static {
    /// The protocols this router speaks, most preferred first.
    fn protocols(&self) -> Vec<ProtocolId>;

    /// A peer can now be written to (our stream to it was accepted).
    fn add_peer(&mut self, peer: PeerId, connection: PeerConnection, now: Instant) -> Vec<Event>;

    /// A peer went away (disconnected, or its stream failed).
    fn remove_peer(&mut self, peer: &PeerId, now: Instant) -> Vec<Event>;

    /// Joins a topic.
    fn subscribe(&mut self, topic: TopicHash, now: Instant) -> Vec<Event>;

    /// Leaves a topic.
    fn unsubscribe(&mut self, topic: &TopicHash, now: Instant) -> Vec<Event>;

    /// Sends a message of ours (already stamped and signed). Returns its id and the
    /// sends.
    fn publish(&mut self, message: Message, now: Instant) -> (MessageId, Vec<Event>);

    /// Handles an RPC read from `from`.
    fn on_rpc(&mut self, from: PeerId, decoded: DecodedRpc, now: Instant) -> Vec<Event>;

    /// How often [`Router::heartbeat`] should run.
    fn heartbeat_interval(&self) -> Duration;

    /// Periodic upkeep: expiry, and for gossipsub mesh maintenance and gossip.
    fn heartbeat(&mut self, now: Instant) -> Vec<Event>;

    /// Our topics and the topics of every peer.
    fn subscriptions(&self) -> &Subscriptions;

    /// How RPCs travel to a peer: on one long-lived stream (the default), a stream each,
    /// or one long-lived stream that falls back to a stream each for a peer that reads
    /// only one RPC per stream (see [`OutboundStreams`]).
    fn outbound_streams(&self) -> OutboundStreams {
        OutboundStreams::Single
    }

    /// The peers our messages of `topic` go to: gossipsub's mesh (or fanout), every
    /// subscribed peer for floodsub.
    fn mesh_peers(&self, topic: &TopicHash) -> Vec<PeerId>;
}

/// Helper for routers: one [`Event::Send`] per peer of a map of RPCs.
pub(crate) fn sends(out: impl IntoIterator<Item = (PeerId, Rpc)>) -> Vec<Event> {
    out.into_iter()
        .filter(|(_, rpc)| !rpc.is_empty())
        .map(|(to, rpc)| Event::Send { to, rpc })
        .collect()
}
