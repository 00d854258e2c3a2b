//! libp2p pubsub (libp2p/specs `pubsub/`): floodsub (`/floodsub/1.0.0`) and gossipsub
//! (`/meshsub/1.0.0`, `1.1.0`, `1.2.0`), and what both stand on.
//!
//! - [`Pubsub`] runs a router on a [`mycel_core::Network`] (a host): it subscribes,
//!   publishes, follows the network's peers and writes and reads their streams. Build it
//!   with [`Pubsub::floodsub`] or [`Pubsub::new`] with a [`gossipsub::Gossipsub`].
//! - The routers ([`floodsub::Floodsub`], [`gossipsub::Gossipsub`]) are state machines
//!   behind [`Router`]: RPCs, commands and the clock in, [`Event`]s out, no IO. The
//!   simulator drives them without a network.
//! - [`wire`]: `uvarint(len) || protobuf RPC` per proto/pubsub.proto, read under
//!   [`wire::RpcLimits`] (size checked before allocating, entries counted before
//!   decoding). A message that is structurally invalid is set aside in
//!   [`wire::DecodedRpc::invalid_messages`] rather than failing its RPC, so a router
//!   can penalise the sender and keep the rest.
//! - Messages and their ids ([`Message`] with its [`Seqno`], [`MessageId`],
//!   [`default_message_id`] as go and js compute it, [`rust_default_message_id`] as
//!   rust-libp2p does, [`content_message_id`]).
//! - Authenticity: [`Publisher`] stamps and signs what we publish under a
//!   [`SigningPolicy`]; [`ValidationMode::validate`] checks what we receive.
//! - State without IO or clock: [`SeenCache`] (time passed in) and [`Subscriptions`].
//! - [`defaults`]: the service's default sizes and timings.
//!
//! Both directions of a peer relationship use their own stream: each side opens one to
//! write RPCs and reads the one the other opened ([`OutboundStreams`] for how).
//!
//! ```
//! use bytes::Bytes;
//! use mycel_core::Keypair;
//! use mycel_pubsub::{
//!     Publisher, SeenCache, SigningPolicy, Topic, default_message_id,
//!     wire::{Rpc, RpcLimits, SubOpt, decode_rpc, encode_rpc},
//! };
//!
//! let topic = Topic::new("news");
//! let policy = SigningPolicy::StrictSign(Keypair::generate());
//! let mode = policy.validation_mode();
//! let mut publisher = Publisher::new(policy);
//! let rpc = Rpc {
//!     subscriptions: vec![SubOpt::subscribe(topic.hash())],
//!     messages: vec![publisher.publish(topic.hash(), &b"hello"[..])?],
//!     control: None,
//! };
//!
//! // The receiving side.
//! let decoded = decode_rpc(Bytes::from(encode_rpc(&rpc)), &RpcLimits::default())?;
//! let mut seen = SeenCache::default();
//! let now = std::time::Instant::now();
//! for message in &decoded.rpc.messages {
//!     if seen.insert(default_message_id(message), now) {
//!         mode.validate(message)?;
//!         assert_eq!(&message.data[..], b"hello");
//!     }
//! }
//! # Ok::<(), mycel_pubsub::PubsubError>(())
//! ```
//!
//! # Caveats
//! - go-libp2p refuses RPC frames above 1 MiB and rust-libp2p above 64 KiB by default:
//!   the service splits what it sends ([`wire::split_rpc`]), and a message near
//!   [`wire::DEFAULT_MAX_MESSAGE_SIZE`] reaches only peers configured for it.
//! - Decoded payloads share the RPC's buffer; a router that keeps one small message of
//!   a large RPC for long may want to copy it.

mod codec;
mod error;
pub mod floodsub;
pub mod gossipsub;
mod limits;
mod message;
mod router;
mod rpc;
mod seen;
mod service;
mod signing;
mod split;
mod subscriptions;
#[cfg(feature = "test-util")]
pub mod testing;
mod topic;
mod writer;

pub use crate::{
    error::PubsubError,
    message::{
        Message, MessageId, MessageIdFn, Seqno, content_message_id, default_message_id,
        rust_default_message_id,
    },
    router::{Acceptance, Event, MessageValidator, PeerConnection, Router},
    seen::SeenCache,
    service::{Pubsub, PubsubConfig, PubsubEvent, PubsubStats, Received, Subscription},
    signing::{Publisher, SigningPolicy, ValidationMode},
    subscriptions::{SubOptsOutcome, SubscriptionChange, Subscriptions},
    topic::{Topic, TopicHash},
    writer::OutboundStreams,
};

// The crate's own modules name these from the root.
pub(crate) use crate::{
    codec::{DecodedRpc, InvalidMessage, read_rpc},
    floodsub::{Floodsub, FloodsubConfig},
    gossipsub::{
        PROTOCOL_1_0 as GOSSIPSUB_1_0, PROTOCOL_1_1 as GOSSIPSUB_1_1,
        PROTOCOL_1_2 as GOSSIPSUB_1_2, PeerScore, PeerScoreParams, PeerScoreThresholds,
        RejectReason, TopicScoreParams,
    },
    limits::*,
    rpc::{Control, Graft, IDontWant, IHave, IWant, PeerInfo, Prune, Rpc, SubOpt},
    seen::{DEFAULT_SEEN_CAPACITY, DEFAULT_SEEN_TTL},
};

/// The wire: RPCs, their encoding and framing, the limits they are read under, and
/// message signing.
pub mod wire {
    pub use crate::{
        codec::{DecodedRpc, InvalidMessage, decode_rpc, encode_rpc, read_rpc, write_rpc},
        limits::{
            DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_RPC_SIZE, MAX_CONTROL_ENTRIES_PER_RPC,
            MAX_CONTROL_IDS_PER_RPC, MAX_MESSAGES_PER_RPC, MAX_PRUNE_PEERS_PER_RPC,
            MAX_SUBSCRIPTIONS_PER_RPC, MAX_TOPIC_LEN, MAX_TOPICS_PER_PEER, RpcLimits,
        },
        message::{MAX_SEQNO_LEN, SEQNO_LEN},
        rpc::{Control, Graft, IDontWant, IHave, IWant, PeerInfo, Prune, Rpc, SubOpt},
        signing::{SIGNING_PREFIX, seqno_from_time, sign, verify},
        split::split_rpc,
    };
}

/// The service's default sizes and timings ([`crate::PubsubConfig`]).
pub mod defaults {
    pub use crate::{
        seen::{DEFAULT_SEEN_CAPACITY, DEFAULT_SEEN_TTL},
        service::{
            DEFAULT_MAX_TRANSMIT_SIZE, DEFAULT_OUTBOUND_QUEUE_LEN, DEFAULT_SUBSCRIPTION_BUFFER,
            DEFAULT_WRITE_TIMEOUT,
        },
        writer::PROBATION,
    };
}
