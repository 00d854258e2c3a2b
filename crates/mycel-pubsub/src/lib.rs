//! The foundation of libp2p pubsub (libp2p/specs `pubsub/README.md`), shared by floodsub
//! (`/floodsub/1.0.0`) and gossipsub (`/meshsub/1.0.0`, `1.1.0`, `1.2.0`).
//!
//! No router lives here; this crate is what every router stands on:
//! - The wire ([`Rpc`], [`encode_rpc`], [`decode_rpc`], [`read_rpc`], [`write_rpc`]):
//!   `uvarint(len) || protobuf RPC` per proto/pubsub.proto, read under [`RpcLimits`]
//!   (size checked before allocating, entries counted before decoding). A message that
//!   is structurally invalid is set aside in [`DecodedRpc::invalid_messages`] rather than
//!   failing its RPC, so a router can penalise the sender and keep the rest.
//! - Messages and their ids ([`Message`] with its [`Seqno`], [`MessageId`],
//!   [`default_message_id`] as go
//!   and js compute it, [`rust_default_message_id`] as rust-libp2p does,
//!   [`content_message_id`]).
//! - Authenticity: [`Publisher`] stamps and signs what we publish under a
//!   [`SigningPolicy`]; [`ValidationMode::validate`] checks what we receive.
//! - State without IO or clock: [`SeenCache`] (time passed in) and [`Subscriptions`].
//!
//! Both directions of a peer relationship use their own stream: each side opens one to
//! write RPCs and reads the one the other opened.
//!
//! ```
//! use bytes::Bytes;
//! use mycel_core::Keypair;
//! use mycel_pubsub::{
//!     decode_rpc, default_message_id, encode_rpc, Publisher, Rpc, RpcLimits, SeenCache,
//!     SigningPolicy, SubOpt, Topic,
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
//! - mycel verifies ed25519 signatures only (the key type of every current libp2p
//!   node's default); a message signed with another key type is invalid here.
//! - go-libp2p refuses RPC frames above 1 MiB and rust-libp2p above 64 KiB by default:
//!   a router must split what it sends, and a message near [`DEFAULT_MAX_MESSAGE_SIZE`]
//!   reaches only peers configured for it.
//! - Decoded payloads share the RPC's buffer; a router that keeps one small message of
//!   a large RPC for long may want to copy it.

mod codec;
mod error;
mod floodsub;
mod gossipsub;
mod limits;
mod message;
mod router;
mod rpc;
mod seen;
mod service;
mod signing;
mod split;
mod subscriptions;
mod sync_table;
mod topic;
mod writer;

use mycel_core::ProtocolId;

pub use crate::{
    codec::{DecodedRpc, InvalidMessage, decode_rpc, encode_rpc, read_rpc, write_rpc},
    error::PubsubError,
    floodsub::{Floodsub, FloodsubConfig},
    gossipsub::{
        Gossipsub, GossipsubConfig, PeerScore, PeerScoreParams, PeerScoreThresholds, RejectReason,
        ScoreParamsError, TopicScoreParams,
    },
    limits::RpcLimits,
    message::{
        MAX_SEQNO_LEN, Message, MessageId, MessageIdFn, SEQNO_LEN, Seqno, content_message_id,
        default_message_id, rust_default_message_id,
    },
    router::{Acceptance, Event, MessageValidator, PeerConnection, Router},
    rpc::{Control, Graft, IDontWant, IHave, IWant, PeerInfo, Prune, Rpc, SubOpt},
    seen::{DEFAULT_SEEN_CAPACITY, DEFAULT_SEEN_TTL, SeenCache},
    service::{
        DEFAULT_MAX_TRANSMIT_SIZE, DEFAULT_OUTBOUND_QUEUE_LEN, DEFAULT_SUBSCRIPTION_BUFFER,
        DEFAULT_WRITE_TIMEOUT, Pubsub, PubsubConfig, PubsubEvent, PubsubStats, Received,
        Subscription,
    },
    signing::{
        Publisher, SIGNING_PREFIX, SigningPolicy, ValidationMode, seqno_from_time, sign, verify,
    },
    split::split_rpc,
    subscriptions::{SubOptsOutcome, SubscriptionChange, Subscriptions},
    topic::{Topic, TopicHash},
    writer::{OutboundStreams, PROBATION},
};
pub use sync_table::{
    ApplyOutcome, Entry, IgnoreReason, Lease, MAX_LEASE_DURATION, MAX_SNAPSHOT_PAGE_ENTRIES,
    MAX_SNAPSHOT_PAGE_SIZE, MAX_SNAPSHOT_REQUEST_SIZE, MAX_TABLE_KEY_LEN, MAX_TABLE_KEYS,
    MAX_TABLE_NAME_LEN, MAX_TABLE_UPDATE_SIZE, MAX_TABLE_VALUE_SIZE, MergeReport,
    SYNC_TABLE_PROTOCOL, SYNC_TABLE_TOPIC_PREFIX, SnapshotPage, SnapshotRequest, SyncTable,
    SyncTableError, SyncTableState, TOMBSTONE_TTL, Update, decode_snapshot_request,
    decode_snapshot_response, decode_update, encode_snapshot_request, encode_snapshot_response,
    encode_update,
};

/// Floodsub's protocol id (missing from the spec text; every implementation uses it).
pub const FLOODSUB_PROTOCOL: ProtocolId = ProtocolId::from_static("/floodsub/1.0.0");

/// Gossipsub v1.0.
pub const GOSSIPSUB_1_0: ProtocolId = ProtocolId::from_static("/meshsub/1.0.0");

/// Gossipsub v1.1: peer exchange on PRUNE, backoff, scoring.
pub const GOSSIPSUB_1_1: ProtocolId = ProtocolId::from_static("/meshsub/1.1.0");

/// Gossipsub v1.2: IDONTWANT.
pub const GOSSIPSUB_1_2: ProtocolId = ProtocolId::from_static("/meshsub/1.2.0");

/// Default largest message (its whole protobuf encoding: data, topic, authorship fields).
/// The spec suggests 1 MiB; go-libp2p-pubsub's default RPC limit is the same.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Default largest RPC read: one maximal message plus 64 KiB for the subscriptions and
/// control that may ride along with it.
pub const DEFAULT_MAX_RPC_SIZE: usize = DEFAULT_MAX_MESSAGE_SIZE + 64 * 1024;

/// Longest topic accepted, in bytes. Real topics are short (eth2's run to about 50
/// bytes); 512 bytes times [`MAX_TOPICS_PER_PEER`] bounds what one peer's
/// subscriptions cost us.
pub const MAX_TOPIC_LEN: usize = 512;

/// Topics one peer may be subscribed to in our bookkeeping; further subscriptions are
/// refused. Busy nodes (eth2 beacon nodes) announce around a hundred.
pub const MAX_TOPICS_PER_PEER: usize = 1024;

/// Subscription entries one RPC may carry: a full announcement of
/// [`MAX_TOPICS_PER_PEER`] topics, twice over (a leave and a join for each).
pub const MAX_SUBSCRIPTIONS_PER_RPC: usize = 2 * MAX_TOPICS_PER_PEER;

/// Messages one RPC may carry. go answers an IWANT of up to 5000 ids (its
/// `MaxIHaveLength`) in one RPC, split only by size; an empty message is two bytes on
/// the wire but about 200 in memory, so this also bounds a flood to about 1 MiB.
pub const MAX_MESSAGES_PER_RPC: usize = 5000;

/// IHAVE, IWANT, GRAFT, PRUNE and IDONTWANT entries one RPC may carry, together. Real
/// RPCs carry a few per topic.
pub const MAX_CONTROL_ENTRIES_PER_RPC: usize = 5000;

/// Message ids one RPC's IHAVE, IWANT and IDONTWANT entries may list, together.
///
/// go caps each IHAVE at 5000 ids (`MaxIHaveLength`) but piggybacks the IHAVEs of all
/// topics, an IWANT and IDONTWANTs on one RPC of up to 1 MiB; 20,000 leaves room for
/// several busy topics while an RPC of empty ids decodes to at most 640 KiB of handles.
pub const MAX_CONTROL_IDS_PER_RPC: usize = 20_000;

/// Peer exchange entries one RPC's PRUNEs may list, together. go and rust offer 16 per
/// PRUNE (`PrunePeers`).
pub const MAX_PRUNE_PEERS_PER_RPC: usize = 1024;
