//! The typed pubsub [`Message`], its conversion to and from the protobuf, and message ids.

use std::{
    fmt::{self, Write as _},
    sync::Arc,
};

use bytes::Bytes;
use mycel_core::PeerId;
use mycel_proto::{prost::Message as _, pubsub as pb};
use sha2::{Digest, Sha256};

use crate::{PubsubError, TopicHash};

/// Length of the `seqno` mycel stamps on what it publishes: a big-endian u64, as go,
/// js and rust-libp2p's gossipsub send it (see [`Seqno::from_u64`]).
pub const SEQNO_LEN: usize = 8;

/// Longest `seqno` accepted from the wire, in bytes. The protobuf field is plain bytes;
/// go, js and rust-libp2p's gossipsub send 8, rust-libp2p's floodsub sends 20 random
/// ones. 64 leaves room for other schemes while bounding what a message id costs.
pub const MAX_SEQNO_LEN: usize = 64;

/// A message's sequence number: the `seqno` bytes exactly as the author sent them.
///
/// The spec describes a big-endian u64, and that is what mycel ([`crate::Publisher`]),
/// go, js and rust-libp2p's gossipsub send; but the field is bytes, and rust-libp2p's
/// floodsub sends 20 random ones. A `Seqno` holds 1 to [`MAX_SEQNO_LEN`] bytes and is
/// encoded unchanged, so a forwarded message, its signature check and its
/// [`default_message_id`] all see the author's bytes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Seqno(Bytes);

impl Seqno {
    /// The 8 big-endian bytes of `seqno`, as mycel, go and js stamp it.
    pub fn from_u64(seqno: u64) -> Self {
        Seqno(Bytes::copy_from_slice(&seqno.to_be_bytes()))
    }

    /// A seqno of the bytes `bytes`; refuses an empty one and one longer than
    /// [`MAX_SEQNO_LEN`] ([`PubsubError::InvalidSeqno`]).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self, PubsubError> {
        let bytes = bytes.into();
        if bytes.is_empty() || bytes.len() > MAX_SEQNO_LEN {
            return Err(PubsubError::InvalidSeqno {
                len: bytes.len(),
                max: MAX_SEQNO_LEN,
            });
        }
        Ok(Seqno(bytes))
    }

    /// The big-endian u64 of an 8-byte seqno; `None` for any other length.
    pub fn as_u64(&self) -> Option<u64> {
        <[u8; SEQNO_LEN]>::try_from(&self.0[..])
            .ok()
            .map(u64::from_be_bytes)
    }

    /// The bytes, as sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<u64> for Seqno {
    /// [`Seqno::from_u64`].
    fn from(seqno: u64) -> Self {
        Seqno::from_u64(seqno)
    }
}

/// A published message, as it travels from its author through the network.
///
/// Which of `from`, `seqno`, `signature` and `key` are present depends on the author's
/// [`crate::SigningPolicy`]; [`crate::ValidationMode`] decides which a receiver accepts.
/// A value of this type is structurally sound (a valid peer id in `from`, a `seqno` of 1
/// to [`MAX_SEQNO_LEN`] bytes) but not necessarily validated: see
/// [`crate::ValidationMode::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The author (not the peer that forwarded it).
    pub from: Option<PeerId>,
    /// The payload.
    pub data: Bytes,
    /// Unique per author (mycel's, go's and js's: 8 bytes, increasing).
    pub seqno: Option<Seqno>,
    /// The topic it was published to.
    pub topic: TopicHash,
    /// The author's signature (see [`crate::wire::sign`]).
    pub signature: Option<Bytes>,
    /// The author's protobuf-encoded public key, when `from` does not inline it.
    pub key: Option<Bytes>,
}

impl Message {
    /// An unsigned message with neither author nor sequence number.
    pub fn new(topic: TopicHash, data: impl Into<Bytes>) -> Self {
        Message {
            from: None,
            data: data.into(),
            seqno: None,
            topic,
            signature: None,
            key: None,
        }
    }

    /// Length of the message's protobuf encoding (what [`crate::RpcLimits::max_message_size`]
    /// bounds).
    pub fn encoded_len(&self) -> usize {
        self.to_proto().encoded_len()
    }

    /// The protobuf bytes a signature covers, without the prefix: every field but
    /// `signature` and `key`. `data` is encoded even when empty unless `data_field` is
    /// false (go omits it for a nil payload).
    pub(crate) fn unsigned_protobuf(&self, data_field: bool) -> Vec<u8> {
        let mut msg = self.to_proto();
        msg.signature = None;
        msg.key = None;
        if !data_field {
            msg.data = None;
        }
        msg.encode_to_vec()
    }
}

impl From<&Message> for pb::Message {
    fn from(msg: &Message) -> Self {
        msg.to_proto()
    }
}

impl Message {
    /// The protobuf form: `data` and `topic` always present, as rust-libp2p and js-libp2p
    /// send them. (`pb::Message::from` is prost's getter of the `from` field.)
    pub(crate) fn to_proto(&self) -> pb::Message {
        let msg = self;
        pb::Message {
            from: msg.from.map(|p| Bytes::copy_from_slice(p.as_bytes())),
            data: Some(msg.data.clone()),
            seqno: msg.seqno.as_ref().map(|s| s.0.clone()),
            topic: msg.topic.as_str().to_owned(),
            signature: msg.signature.clone(),
            key: msg.key.clone(),
        }
    }
}

impl TryFrom<pb::Message> for Message {
    type Error = PubsubError;

    /// Checks the structure only: a topic, a peer id in `from`, 1 to [`MAX_SEQNO_LEN`]
    /// bytes of `seqno` (kept as sent).
    /// Limits ([`crate::RpcLimits`]) and signatures are the caller's.
    fn try_from(msg: pb::Message) -> Result<Self, Self::Error> {
        if msg.topic.is_empty() {
            return Err(PubsubError::MissingTopic);
        }
        let from = msg
            .from
            .map(|f| PeerId::from_bytes(&f).map_err(PubsubError::InvalidFrom))
            .transpose()?;
        let seqno = msg.seqno.map(Seqno::from_bytes).transpose()?;
        Ok(Message {
            from,
            data: msg.data.unwrap_or_default(),
            seqno,
            topic: TopicHash::from(msg.topic),
            signature: msg.signature,
            key: msg.key,
        })
    }
}

/// The identity of a message, for de-duplication and gossip (IHAVE, IWANT, IDONTWANT).
///
/// Every peer of a topic must compute ids the same way or the topic malfunctions.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Bytes);

impl MessageId {
    /// The id whose bytes are `bytes`.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        MessageId(bytes.into())
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id's bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<Vec<u8>> for MessageId {
    fn from(bytes: Vec<u8>) -> Self {
        MessageId(bytes.into())
    }
}

impl From<Bytes> for MessageId {
    fn from(bytes: Bytes) -> Self {
        MessageId(bytes)
    }
}

impl fmt::Display for MessageId {
    /// Lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// How a router computes a [`MessageId`].
pub type MessageIdFn = Arc<dyn Fn(&Message) -> MessageId + Send + Sync>;

/// The id go-libp2p-pubsub and js-libp2p compute by default (origin stamping): the binary
/// peer id in `from` followed by the `seqno` bytes as sent (8 from go, js and mycel, 20
/// from rust-libp2p's floodsub), a missing field contributing nothing (go's
/// `string(GetFrom()) + string(GetSeqno())`).
///
/// Messages without `from` and `seqno` (a [`crate::SigningPolicy::StrictNoSign`] topic)
/// all share the empty id; such topics need [`content_message_id`] or their own function.
pub fn default_message_id(message: &Message) -> MessageId {
    let from = message.from.as_ref().map_or(&[][..], PeerId::as_bytes);
    let seqno = message.seqno.as_ref().map_or(&[][..], Seqno::as_bytes);
    let mut id = Vec::with_capacity(from.len() + seqno.len());
    id.extend_from_slice(from);
    id.extend_from_slice(seqno);
    MessageId::from(id)
}

/// The id rust-libp2p computes by default: the base58 text of `from` followed by the
/// decimal `seqno` (its 8 bytes read as a big-endian u64), as UTF-8 bytes. A missing
/// `from` counts as the peer id `[0, 1, 0]` (base58 `15R`) and a missing `seqno` as 0.
///
/// rust-libp2p's gossipsub refuses a non-empty seqno of any other length than 8, so it
/// has no id for one; here such a seqno is written as `0x` and its bytes in lowercase
/// hex (base58 of `from`, then `0x0102...`). A decimal u64 never starts with `0x`, so
/// such an id differs from every id of an 8-byte seqno of the same author.
///
/// Not the same bytes as [`default_message_id`]: a topic shared with go or js peers that
/// keep their defaults must not use this one.
pub fn rust_default_message_id(message: &Message) -> MessageId {
    let mut id = match &message.from {
        Some(peer) => peer.to_base58(),
        None => bs58::encode([0u8, 1, 0]).into_string(),
    };
    match &message.seqno {
        None => id.push('0'),
        Some(seqno) => match seqno.as_u64() {
            Some(n) => id.push_str(&n.to_string()),
            None => {
                id.push_str("0x");
                for b in seqno.as_bytes() {
                    // Writing to a String cannot fail.
                    let _ = write!(id, "{b:02x}");
                }
            }
        },
    }
    MessageId::from(id.into_bytes())
}

/// Content addressing: the sha256 of `data` (js-libp2p's default for unsigned topics).
pub fn content_message_id(message: &Message) -> MessageId {
    MessageId::from(Sha256::digest(&message.data).to_vec())
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;

    use super::*;

    fn peer() -> PeerId {
        Keypair::from_secret_bytes([3; 32]).peer_id()
    }

    fn stamped(seqno: u64) -> Message {
        Message {
            from: Some(peer()),
            seqno: Some(seqno.into()),
            ..Message::new(TopicHash::from("t"), &b"hi"[..])
        }
    }

    #[test]
    fn message_fields_encode_in_field_order_with_an_eight_byte_seqno() {
        let msg = Message {
            seqno: Some(0x0102_0304_0506_0708.into()),
            ..Message::new(TopicHash::from("a"), &b"x"[..])
        };
        let from = peer();
        let with_from = Message {
            from: Some(from),
            ..msg.clone()
        };
        let bytes = msg.to_proto().encode_to_vec();
        assert_eq!(
            bytes,
            [
                0x12, 0x01, b'x', // data
                0x1a, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, // seqno
                0x22, 0x01, b'a', // topic
            ]
        );
        let mut expected = vec![0x0a, from.as_bytes().len() as u8];
        expected.extend_from_slice(from.as_bytes());
        expected.extend_from_slice(&bytes);
        assert_eq!(with_from.to_proto().encode_to_vec(), expected);
        assert_eq!(with_from.encoded_len(), expected.len());
    }

    #[test]
    fn required_topic_and_empty_data_are_still_encoded() {
        // go refuses a message without field 4; rust and js always send field 2.
        let msg = Message::new(TopicHash::from(""), Bytes::new());
        assert_eq!(msg.to_proto().encode_to_vec(), [0x12, 0x00, 0x22, 0x00]);
    }

    #[test]
    fn messages_round_trip_through_the_protobuf() {
        let msg = Message {
            signature: Some(Bytes::from_static(&[9; 64])),
            key: Some(Bytes::from_static(b"key")),
            ..stamped(u64::MAX)
        };
        assert_eq!(Message::try_from(msg.to_proto()).unwrap(), msg);
    }

    #[test]
    fn structurally_invalid_messages_are_refused() {
        let good = stamped(1).to_proto();
        let empty_seqno = pb::Message {
            seqno: Some(Bytes::new()),
            ..good.clone()
        };
        assert!(matches!(
            Message::try_from(empty_seqno),
            Err(PubsubError::InvalidSeqno { len: 0, max: 64 })
        ));
        let long_seqno = pb::Message {
            seqno: Some(Bytes::from(vec![1; MAX_SEQNO_LEN + 1])),
            ..good.clone()
        };
        let err = Message::try_from(long_seqno).unwrap_err();
        assert!(matches!(
            err,
            PubsubError::InvalidSeqno { len: 65, max: 64 }
        ));
        assert_eq!(err.to_string(), "seqno of 65 bytes; expected 1 to 64");
        let bad_from = pb::Message {
            from: Some(Bytes::from_static(b"not a peer id")),
            ..good.clone()
        };
        assert!(matches!(
            Message::try_from(bad_from),
            Err(PubsubError::InvalidFrom(_))
        ));
        let no_topic = pb::Message {
            topic: String::new(),
            ..good
        };
        assert!(matches!(
            Message::try_from(no_topic),
            Err(PubsubError::MissingTopic)
        ));
    }

    /// A seqno as rust-libp2p's floodsub stamps it: 20 random bytes.
    fn floodsub_seqno() -> [u8; 20] {
        core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5)
    }

    #[test]
    fn a_twenty_byte_seqno_decodes_and_re_encodes_to_the_same_bytes() {
        let wire = pb::Message {
            from: Some(Bytes::copy_from_slice(peer().as_bytes())),
            data: Some(Bytes::from_static(b"hi")),
            seqno: Some(Bytes::copy_from_slice(&floodsub_seqno())),
            topic: "t".into(),
            signature: None,
            key: None,
        };
        let bytes = wire.encode_to_vec();
        let msg = Message::try_from(pb::Message::decode(&bytes[..]).unwrap()).unwrap();
        let seqno = msg.seqno.as_ref().unwrap();
        assert_eq!(seqno.as_bytes(), floodsub_seqno());
        assert_eq!(seqno.as_u64(), None);
        assert_eq!(msg.to_proto().encode_to_vec(), bytes);
        assert_eq!(msg.encoded_len(), bytes.len());

        let mut expected = peer().to_bytes();
        expected.extend_from_slice(&floodsub_seqno());
        assert_eq!(default_message_id(&msg).as_bytes(), &expected[..]);
        assert_eq!(
            rust_default_message_id(&msg).as_bytes(),
            format!(
                "{}0xa580efca311c7ba68de8d7321944a38ef5d03f1a",
                peer().to_base58()
            )
            .as_bytes()
        );
    }

    #[test]
    fn seqnos_of_one_to_sixty_four_bytes_are_accepted() {
        let good = stamped(1).to_proto();
        for len in [1, 4, 7, 9, 20, 32, MAX_SEQNO_LEN] {
            let bytes = Bytes::from(vec![0; len]);
            let wire = pb::Message {
                seqno: Some(bytes.clone()),
                ..good.clone()
            };
            let msg = Message::try_from(wire.clone()).unwrap();
            assert_eq!(msg.seqno.as_ref().unwrap().as_bytes(), &bytes[..]);
            assert_eq!(msg.to_proto(), wire);
        }
        assert!(Seqno::from_bytes(Bytes::new()).is_err());
        assert!(Seqno::from_bytes(vec![0; MAX_SEQNO_LEN + 1]).is_err());
        assert_eq!(Seqno::from_bytes(vec![0; 4]).unwrap().as_u64(), None);
    }

    #[test]
    fn u64_seqnos_are_eight_big_endian_bytes() {
        let seqno = Seqno::from_u64(0x0102_0304_0506_0708);
        assert_eq!(seqno.as_bytes(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(seqno.as_u64(), Some(0x0102_0304_0506_0708));
        assert_eq!(
            Seqno::from(5),
            Seqno::from_bytes(vec![0, 0, 0, 0, 0, 0, 0, 5]).unwrap()
        );
        assert_eq!(Seqno::from(0).as_bytes().len(), SEQNO_LEN);
    }

    #[test]
    fn missing_data_decodes_as_empty() {
        let msg = pb::Message {
            data: None,
            ..stamped(1).to_proto()
        };
        assert!(Message::try_from(msg).unwrap().data.is_empty());
    }

    #[test]
    fn default_message_id_is_from_bytes_then_big_endian_seqno() {
        let id = default_message_id(&stamped(0x0a0b_0c0d_0e0f_1011));
        let mut expected = peer().to_bytes();
        expected.extend_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]);
        assert_eq!(id.as_bytes(), &expected[..]);
        assert_eq!(id.as_bytes().len(), 38 + 8, "ed25519 peer id + seqno");
    }

    #[test]
    fn default_message_id_of_an_unstamped_message_is_empty_as_in_go() {
        let msg = Message::new(TopicHash::from("t"), &b"hi"[..]);
        assert!(default_message_id(&msg).as_bytes().is_empty());
    }

    #[test]
    fn rust_default_message_id_is_base58_author_then_decimal_seqno() {
        let from = PeerId::from_bytes(&[[0x12, 0x20].as_slice(), &[7; 32]].concat()).unwrap();
        let msg = Message {
            from: Some(from),
            seqno: Some(1_700_000_000_000_000_042.into()),
            ..Message::new(TopicHash::from("t"), Bytes::new())
        };
        assert_eq!(
            rust_default_message_id(&msg).as_bytes(),
            b"QmNp5n7FFav5ZDaHAj6HzuhJ8LDbL1N6NRzAgT6piWS2Kx1700000000000000042"
        );
        let anonymous = Message::new(TopicHash::from("t"), Bytes::new());
        assert_eq!(rust_default_message_id(&anonymous).as_bytes(), b"15R0");
        let short = Message {
            seqno: Some(Seqno::from_bytes(vec![0, 0x1f]).unwrap()),
            ..anonymous.clone()
        };
        assert_eq!(rust_default_message_id(&short).as_bytes(), b"15R0x001f");
        let zero = Message {
            seqno: Some(0.into()),
            ..anonymous
        };
        assert_eq!(rust_default_message_id(&zero).as_bytes(), b"15R0");
    }

    #[test]
    fn content_message_id_is_sha256_of_data() {
        let msg = Message::new(TopicHash::from("t"), &b"abc"[..]);
        assert_eq!(
            content_message_id(&msg).to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn message_id_functions_fit_the_router_hook() {
        let f: MessageIdFn = Arc::new(default_message_id);
        assert_eq!(f(&stamped(5)), default_message_id(&stamped(5)));
        assert_eq!(
            format!("{:?}", MessageId::new(&b"\x01\xab"[..])),
            "MessageId(01ab)"
        );
    }
}
