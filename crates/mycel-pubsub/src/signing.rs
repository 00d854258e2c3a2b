//! Message authenticity: signing what we publish ([`SigningPolicy`], [`Publisher`],
//! [`sign`]) and checking what we receive ([`ValidationMode`], [`verify`]).
//!
//! # What a signature covers
//! `"libp2p-pubsub:" || protobuf(message with signature and key cleared)`. The spec text
//! says "excluding the signature field"; go-libp2p-pubsub (`verifyMessageSignature`:
//! `xm.Signature = nil; xm.Key = nil`) and rust-libp2p (`verify_signature`: both set to
//! `None`) clear the key too, and sign before adding it, so mycel does the same. The
//! protobuf is the canonical encoding of `from`, `data`, `seqno`, `topic` in field order,
//! which is what every implementation produces.
//!
//! A go author may publish a nil payload, which leaves the `data` field out of what it
//! signs; [`Message`] does not keep that distinction, so [`verify`] of a message with
//! empty data also accepts a signature over the encoding without the field.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mycel_core::{KeyError, Keypair, PeerId, PublicKey};

use crate::{DEFAULT_MAX_MESSAGE_SIZE, MAX_TOPIC_LEN, Message, PubsubError, Seqno, TopicHash};

/// The bytes a signature's input starts with.
pub const SIGNING_PREFIX: &[u8] = b"libp2p-pubsub:";

/// `SIGNING_PREFIX || protobuf(message without signature and key)`.
fn signed_bytes(message: &Message, data_field: bool) -> Vec<u8> {
    let protobuf = message.unsigned_protobuf(data_field);
    let mut bytes = Vec::with_capacity(SIGNING_PREFIX.len() + protobuf.len());
    bytes.extend_from_slice(SIGNING_PREFIX);
    bytes.extend_from_slice(&protobuf);
    bytes
}

/// Signs `message` as `keypair`'s peer: sets `from`, the signature, and `key` only when
/// the peer id does not inline the public key (never for ed25519). `seqno`, `topic` and
/// `data` are signed as they are.
pub fn sign(mut message: Message, keypair: &Keypair) -> Message {
    let author = keypair.peer_id();
    message.from = Some(author);
    message.signature = None;
    message.key = None;
    let signature = keypair.sign(&signed_bytes(&message, true));
    message.signature = Some(signature.into());
    if author.public_key().is_none() {
        message.key = Some(keypair.public().encode_protobuf().into());
    }
    message
}

/// Checks a message's signature against its author.
///
/// The key is the `key` field when present (it must decode and belong to `from`), else
/// the one inlined in the `from` peer id. mycel verifies ed25519 signatures; other key
/// types give [`PubsubError::InvalidKey`].
pub fn verify(message: &Message) -> Result<(), PubsubError> {
    let signature = message
        .signature
        .as_ref()
        .ok_or(PubsubError::MissingField("signature"))?;
    let from = message.from.ok_or(PubsubError::MissingField("from"))?;
    let key = author_key(&from, message.key.as_deref())?;
    match key.verify(&signed_bytes(message, true), signature) {
        Ok(()) => Ok(()),
        Err(KeyError::InvalidSignature) => {
            if message.data.is_empty()
                && key.verify(&signed_bytes(message, false), signature).is_ok()
            {
                Ok(())
            } else {
                Err(PubsubError::InvalidSignature)
            }
        }
        Err(e) => Err(PubsubError::InvalidKey(e)),
    }
}

fn author_key(from: &PeerId, key: Option<&[u8]>) -> Result<PublicKey, PubsubError> {
    match key {
        Some(key) => {
            let key = PublicKey::decode_protobuf(key).map_err(PubsubError::InvalidKey)?;
            if from.is_public_key(&key) {
                Ok(key)
            } else {
                Err(PubsubError::KeyMismatch)
            }
        }
        None => from.public_key().ok_or(PubsubError::NoPublicKey),
    }
}

/// How a receiver treats the authorship fields (`from`, `seqno`, `signature`, `key`),
/// with rust-libp2p's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationMode {
    /// The spec's StrictSign: `from`, `seqno` and `signature` must be present and the
    /// signature must verify. The default.
    #[default]
    Strict,
    /// Accepts messages without the fields; a signature that is present must verify.
    Permissive,
    /// The spec's StrictNoSign: `from`, `seqno`, `signature` and `key` must all be absent.
    Anonymous,
    /// No checks (an invalid signature passes). For trusted, closed networks only.
    None,
}

impl ValidationMode {
    /// Whether `message` is acceptable in this mode. Run it after the seen-cache check
    /// (as go does) so that duplicates cost no signature verification.
    pub fn validate(self, message: &Message) -> Result<(), PubsubError> {
        match self {
            ValidationMode::Strict => {
                if message.from.is_none() {
                    return Err(PubsubError::MissingField("from"));
                }
                if message.seqno.is_none() {
                    return Err(PubsubError::MissingField("seqno"));
                }
                verify(message)
            }
            ValidationMode::Permissive => match message.signature {
                Some(_) => verify(message),
                None => Ok(()),
            },
            ValidationMode::Anonymous => {
                let present = [
                    ("signature", message.signature.is_some()),
                    ("from", message.from.is_some()),
                    ("seqno", message.seqno.is_some()),
                    ("key", message.key.is_some()),
                ];
                match present.iter().find(|(_, present)| *present) {
                    Some((field, _)) => Err(PubsubError::UnexpectedField(field)),
                    None => Ok(()),
                }
            }
            ValidationMode::None => Ok(()),
        }
    }
}

/// How we stamp and sign what we publish.
#[derive(Debug, Clone)]
pub enum SigningPolicy {
    /// The spec's StrictSign: `from`, `seqno`, `signature` (and `key` if the peer id does
    /// not inline it). The policy of a node with a keypair.
    StrictSign(Keypair),
    /// `from` and `seqno` without a signature (go's LaxNoSign default with signing off,
    /// rust-libp2p's `Author`): message ids stay origin-stamped, receivers must be
    /// [`ValidationMode::Permissive`] or [`ValidationMode::None`].
    Author(PeerId),
    /// The spec's StrictNoSign (rust-libp2p's `Anonymous`): none of the four fields.
    /// Pair it with a content-based [`crate::MessageIdFn`].
    StrictNoSign,
}

impl SigningPolicy {
    /// The `from` this policy stamps, if any.
    pub fn author(&self) -> Option<PeerId> {
        match self {
            SigningPolicy::StrictSign(keypair) => Some(keypair.peer_id()),
            SigningPolicy::Author(peer) => Some(*peer),
            SigningPolicy::StrictNoSign => None,
        }
    }

    /// The receiving mode that accepts exactly what this policy publishes.
    pub fn validation_mode(&self) -> ValidationMode {
        match self {
            SigningPolicy::StrictSign(_) => ValidationMode::Strict,
            SigningPolicy::Author(_) => ValidationMode::Permissive,
            SigningPolicy::StrictNoSign => ValidationMode::Anonymous,
        }
    }
}

/// A first sequence number from the wall clock: nanoseconds since the Unix epoch, as
/// go-libp2p-pubsub and rust-libp2p seed theirs. Its first byte is not zero (js-libp2p
/// refuses signed messages whose seqno starts with one) until the year 2262.
pub fn seqno_from_time(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(1)
}

/// Builds the messages we publish: stamps `from` and an increasing 8-byte big-endian
/// `seqno` ([`Seqno::from_u64`]) and signs, as its [`SigningPolicy`] says.
#[derive(Debug, Clone)]
pub struct Publisher {
    policy: SigningPolicy,
    next_seqno: u64,
    max_message_size: usize,
}

impl Publisher {
    /// A publisher whose sequence numbers start at the current time in nanoseconds.
    pub fn new(policy: SigningPolicy) -> Self {
        Publisher::with_first_seqno(policy, seqno_from_time(SystemTime::now()))
    }

    /// A publisher whose first sequence number is `first` (for tests and simulations).
    pub fn with_first_seqno(policy: SigningPolicy, first: u64) -> Self {
        Publisher {
            policy,
            next_seqno: first,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// Refuses to build messages whose encoding exceeds `max` bytes (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]).
    pub fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &SigningPolicy {
        &self.policy
    }

    /// The sequence number the next stamped message gets.
    pub fn next_seqno(&self) -> u64 {
        self.next_seqno
    }

    /// The message publishing `data` to `topic` under the policy. Refuses an empty or
    /// over-long topic and an over-size message; a refused message uses no seqno.
    pub fn publish(
        &mut self,
        topic: TopicHash,
        data: impl Into<Bytes>,
    ) -> Result<Message, PubsubError> {
        if topic.is_empty() {
            return Err(PubsubError::MissingTopic);
        }
        if topic.len() > MAX_TOPIC_LEN {
            return Err(PubsubError::TopicTooLong {
                len: topic.len(),
                max: MAX_TOPIC_LEN,
            });
        }
        let mut message = Message::new(topic, data);
        let stamped = self.policy.author().is_some();
        if stamped {
            message.from = self.policy.author();
            message.seqno = Some(Seqno::from_u64(self.next_seqno));
        }
        if let SigningPolicy::StrictSign(keypair) = &self.policy {
            message = sign(message, keypair);
        }
        let len = message.encoded_len();
        if len > self.max_message_size {
            return Err(PubsubError::MessageTooLarge {
                len,
                max: self.max_message_size,
            });
        }
        if stamped {
            self.next_seqno = self.next_seqno.wrapping_add(1);
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mycel_proto::{prost::Message as _, pubsub as pb};

    use super::*;

    fn keypair(seed: u8) -> Keypair {
        Keypair::from_secret_bytes([seed; 32])
    }

    fn signed() -> Message {
        let mut publisher =
            Publisher::with_first_seqno(SigningPolicy::StrictSign(keypair(1)), 1 << 60);
        publisher
            .publish(TopicHash::from("news"), &b"hello"[..])
            .unwrap()
    }

    #[test]
    fn signature_covers_the_prefix_and_the_message_without_signature_and_key() {
        let msg = signed();
        let from = keypair(1).peer_id();
        // Built by hand: from (1), data (2), seqno (3), topic (4).
        let mut input = b"libp2p-pubsub:".to_vec();
        input.extend_from_slice(&[0x0a, from.as_bytes().len() as u8]);
        input.extend_from_slice(from.as_bytes());
        input.extend_from_slice(&[0x12, 5]);
        input.extend_from_slice(b"hello");
        input.extend_from_slice(&[0x1a, 8, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        input.extend_from_slice(&[0x22, 4]);
        input.extend_from_slice(b"news");
        keypair(1)
            .public()
            .verify(&input, msg.signature.as_ref().unwrap())
            .unwrap();
        assert_eq!(msg.signature.as_ref().unwrap().len(), 64);
        assert_eq!(msg.key, None, "ed25519 keys are inlined in the peer id");
    }

    #[test]
    fn signed_message_verifies_after_a_trip_through_the_protobuf() {
        let msg = signed();
        let wire = msg.to_proto().encode_to_vec();
        let back = Message::try_from(pb::Message::decode(&wire[..]).unwrap()).unwrap();
        assert_eq!(back, msg);
        verify(&back).unwrap();
        ValidationMode::Strict.validate(&back).unwrap();
        ValidationMode::Permissive.validate(&back).unwrap();
    }

    #[test]
    fn tampering_with_any_signed_field_fails_verification() {
        let msg = signed();
        let tampered = [
            Message {
                data: Bytes::from_static(b"hellO"),
                ..msg.clone()
            },
            Message {
                topic: TopicHash::from("newz"),
                ..msg.clone()
            },
            Message {
                seqno: Some((msg.seqno.as_ref().and_then(Seqno::as_u64).unwrap() + 1).into()),
                ..msg.clone()
            },
        ];
        for m in tampered {
            assert!(matches!(verify(&m), Err(PubsubError::InvalidSignature)));
        }
        // Another author: its inlined key does not verify the signature.
        let other_author = Message {
            from: Some(keypair(2).peer_id()),
            ..msg
        };
        assert!(matches!(
            verify(&other_author),
            Err(PubsubError::InvalidSignature)
        ));
    }

    #[test]
    fn key_field_must_belong_to_the_author() {
        let msg = signed();
        let own_key = Message {
            key: Some(keypair(1).public().encode_protobuf().into()),
            ..msg.clone()
        };
        verify(&own_key).expect("the key is not part of the signed bytes");
        let foreign_key = Message {
            key: Some(keypair(2).public().encode_protobuf().into()),
            ..msg.clone()
        };
        assert!(matches!(
            verify(&foreign_key),
            Err(PubsubError::KeyMismatch)
        ));
        let garbage_key = Message {
            key: Some(Bytes::from_static(b"\x08\x01\x12\x01x")),
            ..msg
        };
        assert!(matches!(
            verify(&garbage_key),
            Err(PubsubError::InvalidKey(_))
        ));
    }

    #[test]
    fn an_author_without_an_inlined_key_needs_the_key_field() {
        let hashed = PeerId::from_bytes(&[[0x12, 0x20].as_slice(), &[7; 32]].concat()).unwrap();
        let msg = Message {
            from: Some(hashed),
            ..signed()
        };
        assert!(matches!(verify(&msg), Err(PubsubError::NoPublicKey)));
    }

    #[test]
    fn a_signature_made_without_the_data_field_verifies_for_empty_data() {
        // go leaves `data` out when the payload is nil, and signs that encoding.
        let key = keypair(4);
        let unsigned = Message {
            from: Some(key.peer_id()),
            seqno: Some(7.into()),
            ..Message::new(TopicHash::from("t"), Bytes::new())
        };
        let without_data = pb::Message {
            data: None,
            ..unsigned.to_proto()
        };
        let mut input = SIGNING_PREFIX.to_vec();
        input.extend_from_slice(&without_data.encode_to_vec());
        let msg = Message {
            signature: Some(key.sign(&input).into()),
            ..unsigned
        };
        verify(&msg).unwrap();
        verify(&sign(msg.clone(), &key)).unwrap();
        let not_empty = Message {
            data: Bytes::from_static(b"x"),
            ..msg
        };
        assert!(matches!(
            verify(&not_empty),
            Err(PubsubError::InvalidSignature)
        ));
    }

    #[test]
    fn strict_mode_requires_from_seqno_and_signature() {
        let msg = signed();
        let cases = [
            (
                Message {
                    from: None,
                    ..msg.clone()
                },
                "from",
            ),
            (
                Message {
                    seqno: None,
                    ..msg.clone()
                },
                "seqno",
            ),
            (
                Message {
                    signature: None,
                    ..msg.clone()
                },
                "signature",
            ),
        ];
        for (m, field) in cases {
            assert!(
                matches!(ValidationMode::Strict.validate(&m), Err(PubsubError::MissingField(f)) if f == field)
            );
        }
    }

    #[test]
    fn anonymous_mode_rejects_a_signed_message() {
        let msg = signed();
        assert!(matches!(
            ValidationMode::Anonymous.validate(&msg),
            Err(PubsubError::UnexpectedField("signature"))
        ));
        let author_only = Message {
            signature: None,
            ..msg
        };
        assert!(matches!(
            ValidationMode::Anonymous.validate(&author_only),
            Err(PubsubError::UnexpectedField("from"))
        ));
        let key_only = Message {
            key: Some(Bytes::from_static(b"k")),
            ..Message::new(TopicHash::from("t"), Bytes::new())
        };
        assert!(matches!(
            ValidationMode::Anonymous.validate(&key_only),
            Err(PubsubError::UnexpectedField("key"))
        ));
        ValidationMode::Anonymous
            .validate(&Message::new(TopicHash::from("t"), Bytes::new()))
            .unwrap();
    }

    #[test]
    fn permissive_mode_accepts_unsigned_but_checks_a_present_signature() {
        let msg = signed();
        let unsigned = Message {
            signature: None,
            ..msg.clone()
        };
        ValidationMode::Permissive.validate(&unsigned).unwrap();
        let forged = Message {
            data: Bytes::from_static(b"forged"),
            ..msg.clone()
        };
        assert!(ValidationMode::Permissive.validate(&forged).is_err());
        ValidationMode::None.validate(&forged).unwrap();
    }

    #[test]
    fn publisher_stamps_increasing_seqnos_from_the_injected_start() {
        let mut publisher = Publisher::with_first_seqno(SigningPolicy::StrictSign(keypair(1)), 41);
        let a = publisher.publish(TopicHash::from("t"), &b"a"[..]).unwrap();
        let b = publisher.publish(TopicHash::from("t"), &b"b"[..]).unwrap();
        assert_eq!((a.seqno, &b.seqno), (Some(41.into()), &Some(42.into())));
        assert_eq!(a.from, Some(keypair(1).peer_id()));
        assert_eq!(publisher.next_seqno(), 43);
        verify(&b).unwrap();
    }

    #[test]
    fn author_policy_stamps_without_signing() {
        let peer = keypair(1).peer_id();
        let policy = SigningPolicy::Author(peer);
        assert_eq!(policy.validation_mode(), ValidationMode::Permissive);
        let mut publisher = Publisher::with_first_seqno(policy, 5);
        let msg = publisher.publish(TopicHash::from("t"), &b"a"[..]).unwrap();
        assert_eq!((msg.from, msg.seqno), (Some(peer), Some(5.into())));
        assert_eq!((msg.signature, msg.key), (None, None));
    }

    #[test]
    fn strict_no_sign_publisher_leaves_all_authorship_fields_absent() {
        let mut publisher = Publisher::with_first_seqno(SigningPolicy::StrictNoSign, 5);
        let msg = publisher.publish(TopicHash::from("t"), &b"a"[..]).unwrap();
        assert_eq!(msg, Message::new(TopicHash::from("t"), &b"a"[..]));
        assert_eq!(publisher.next_seqno(), 5);
        ValidationMode::Anonymous.validate(&msg).unwrap();
        assert_eq!(
            msg.to_proto().encode_to_vec(),
            [0x12, 1, b'a', 0x22, 1, b't'],
            "the fields are absent, not empty"
        );
    }

    #[test]
    fn publisher_refuses_oversize_messages_and_bad_topics() {
        let mut publisher = Publisher::with_first_seqno(SigningPolicy::StrictSign(keypair(1)), 1)
            .with_max_message_size(200);
        assert!(matches!(
            publisher.publish(TopicHash::from("t"), vec![0u8; 200]),
            Err(PubsubError::MessageTooLarge { max: 200, .. })
        ));
        assert_eq!(publisher.next_seqno(), 1, "no seqno used");
        assert!(
            publisher
                .publish(TopicHash::from("t"), vec![0u8; 50])
                .is_ok()
        );
        assert!(matches!(
            publisher.publish(TopicHash::from(""), Bytes::new()),
            Err(PubsubError::MissingTopic)
        ));
        assert!(matches!(
            publisher.publish(TopicHash::from("x".repeat(MAX_TOPIC_LEN + 1)), Bytes::new()),
            Err(PubsubError::TopicTooLong { .. })
        ));
    }

    #[test]
    fn time_seeded_seqno_is_nanoseconds_with_a_nonzero_first_byte() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(seqno_from_time(now), 1_700_000_000_000_000_000);
        assert_ne!(seqno_from_time(now).to_be_bytes()[0], 0);
        assert_ne!(seqno_from_time(SystemTime::now()).to_be_bytes()[0], 0);
        assert!(Publisher::new(SigningPolicy::StrictNoSign).next_seqno() > 1 << 60);
        // What a publisher stamps: 8 bytes, the first not zero (js-libp2p requires it).
        let msg = Publisher::new(SigningPolicy::StrictSign(keypair(1)))
            .publish(TopicHash::from("t"), Bytes::new())
            .unwrap();
        let seqno = msg.seqno.unwrap();
        assert_eq!(seqno.as_bytes().len(), crate::wire::SEQNO_LEN);
        assert_ne!(seqno.as_bytes()[0], 0);
    }

    #[test]
    fn a_signature_over_a_seqno_of_another_length_verifies_after_the_wire() {
        let seqno = Seqno::from_bytes(vec![0xee; 20]).unwrap();
        let msg = sign(
            Message {
                seqno: Some(seqno.clone()),
                ..Message::new(TopicHash::from("t"), &b"x"[..])
            },
            &keypair(3),
        );
        let wire = msg.to_proto().encode_to_vec();
        let back = Message::try_from(pb::Message::decode(&wire[..]).unwrap()).unwrap();
        assert_eq!(back.seqno, Some(seqno));
        ValidationMode::Strict.validate(&back).unwrap();
        let other = Message {
            seqno: Some(Seqno::from_bytes(vec![0xee; 21]).unwrap()),
            ..back
        };
        assert!(matches!(verify(&other), Err(PubsubError::InvalidSignature)));
    }
}
