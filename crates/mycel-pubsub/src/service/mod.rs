//! [`Pubsub`]: a router (floodsub or gossipsub) running on a [`Network`].
//!
//! One task owns the router. It learns peers from the network's events (a peer whose
//! identify lists one of the router's protocols) and from the streams peers open to us;
//! it writes to each peer through a task of its own with a bounded queue (a slow peer
//! loses RPCs, it does not hold memory), and reads each inbound stream in another task
//! that blocks when the router is busy (a fast peer is slowed, not buffered).

mod actor;
mod handle;

use std::time::Duration;

use mycel_core::PeerId;

use crate::{Message, MessageId, RpcLimits, SigningPolicy, TopicHash};

pub use self::handle::{Pubsub, Subscription};

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
