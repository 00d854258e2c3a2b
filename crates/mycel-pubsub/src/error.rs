//! Errors of the pubsub wire and of message validation.

use std::io;

use mycel_core::{KeyError, PeerIdError, framing::FramingError};
use thiserror::Error;

/// What went wrong reading an RPC, or why one message in it is invalid.
///
/// The first group refuses a whole RPC (the stream is unusable or the peer is hostile);
/// the rest describe one message and travel in [`crate::InvalidMessage`] or come back
/// from [`crate::ValidationMode::validate`], so that a router can drop that message and
/// penalise its sender without discarding the rest of the RPC.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PubsubError {
    /// The stream failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// An RPC's length prefix is larger than the configured maximum.
    #[error("rpc of {len} bytes exceeds the maximum of {max}")]
    RpcTooLarge {
        /// The announced length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended inside an RPC, or a length prefix was malformed.
    #[error("malformed framing: {0}")]
    Framing(String),
    /// The RPC is not a valid protobuf.
    #[error("invalid rpc: {0}")]
    InvalidRpc(String),
    /// The RPC carries more subscription entries than the limit.
    #[error("more than {max} subscriptions in one rpc")]
    TooManySubscriptions {
        /// The limit.
        max: usize,
    },
    /// The RPC carries more messages than the limit.
    #[error("more than {max} messages in one rpc")]
    TooManyMessages {
        /// The limit.
        max: usize,
    },
    /// The RPC carries more IHAVE, IWANT, GRAFT, PRUNE and IDONTWANT entries than the limit.
    #[error("more than {max} control entries in one rpc")]
    TooManyControlEntries {
        /// The limit.
        max: usize,
    },
    /// The RPC's IHAVE, IWANT and IDONTWANT entries list more message ids than the limit.
    #[error("more than {max} message ids in one rpc")]
    TooManyMessageIds {
        /// The limit.
        max: usize,
    },
    /// The RPC's PRUNE entries list more peers than the limit.
    #[error("more than {max} peer exchange entries in one rpc")]
    TooManyPrunePeers {
        /// The limit.
        max: usize,
    },

    /// One message is larger than the configured maximum.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// The message's encoded length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A topic is empty or missing.
    #[error("missing topic")]
    MissingTopic,
    /// A topic is longer than the limit.
    #[error("topic of {len} bytes exceeds the maximum of {max}")]
    TopicTooLong {
        /// The topic's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The `from` field is not a peer id.
    #[error("invalid from: {0}")]
    InvalidFrom(#[source] PeerIdError),
    /// The `seqno` field is empty or longer than the limit ([`crate::wire::MAX_SEQNO_LEN`]).
    #[error("seqno of {len} bytes; expected 1 to {max}")]
    InvalidSeqno {
        /// The field's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field the validation mode requires is absent (`"from"`, `"seqno"`,
    /// `"signature"`).
    #[error("missing {0}")]
    MissingField(&'static str),
    /// A field the validation mode forbids is present (`"from"`, `"seqno"`,
    /// `"signature"`, `"key"`).
    #[error("unexpected {0} in an unsigned message")]
    UnexpectedField(&'static str),
    /// The `from` peer id does not inline its public key and the message has no `key`.
    #[error("no public key: from does not inline one and the key field is absent")]
    NoPublicKey,
    /// The `key` field does not decode, or its type cannot verify signatures.
    #[error("invalid key: {0}")]
    InvalidKey(#[source] KeyError),
    /// The `key` field is not the key of the `from` peer id.
    #[error("the key field does not belong to the from peer id")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The pubsub node has stopped.
    #[error("the pubsub node is closed")]
    Closed,
    /// A router's settings contradict each other (gossipsub's `D_lo > D`, for instance).
    #[error("invalid config: {0}")]
    InvalidConfig(String),
}

impl From<FramingError> for PubsubError {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => PubsubError::Io(e),
            FramingError::TooLarge { len, max } => PubsubError::RpcTooLarge { len, max },
            e => PubsubError::Framing(e.to_string()),
        }
    }
}
