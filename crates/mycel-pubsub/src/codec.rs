//! The wire: `uvarint(len) || protobuf RPC` (proto/pubsub.proto), typed both ways.
//!
//! # Invalid entries
//! Decoding refuses a whole RPC only when the stream or the peer is beyond saving: a
//! length over [`RpcLimits::max_rpc_size`], a protobuf that does not parse (including a
//! topic that is not UTF-8), or more entries than [`RpcLimits`] allows. Below that, one
//! bad item does not cost the others:
//! - A message that is too large, lacks a topic, has an over-long topic, a `from` that is
//!   not a peer id or a `seqno` that is empty or over [`crate::MAX_SEQNO_LEN`] bytes
//!   goes to [`DecodedRpc::invalid_messages`] with its topic (when it has a usable one)
//!   and the reason, so that a gossipsub router can count it against the sender in that
//!   topic (score P4) and still process the rest.
//! - A subscription or control entry without a usable topic, and a PRUNE peer whose id
//!   does not parse, are dropped and counted in [`DecodedRpc::dropped_entries`].
//!
//! Signatures are not checked here: [`crate::ValidationMode::validate`] does that after
//! the seen cache, so that duplicates cost no verification.

use bytes::{BufMut, Bytes, BytesMut};
use mycel_core::{
    PeerId,
    framing::{self, FramingError},
};
use mycel_proto::{prost::Message as _, pubsub as pb};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::{
    Control, Graft, IDontWant, IHave, IWant, Message, MessageId, PeerInfo, Prune, PubsubError, Rpc,
    RpcLimits, SubOpt, TopicHash, split::split_rpc,
};

/// A message of an RPC that was set aside as invalid.
#[derive(Debug)]
pub struct InvalidMessage {
    /// Its topic, if it had a usable one (for per-topic penalties).
    pub topic: Option<TopicHash>,
    /// What is wrong with it.
    pub error: PubsubError,
}

/// An RPC as decoded, with what was set aside.
#[derive(Debug, Default)]
pub struct DecodedRpc {
    /// The usable part.
    pub rpc: Rpc,
    /// Messages that failed the structural checks, in wire order.
    pub invalid_messages: Vec<InvalidMessage>,
    /// Subscriptions, control entries and PRUNE peers dropped as unusable.
    pub dropped_entries: usize,
}

/// The protobuf bytes of an RPC (without the length prefix).
pub fn encode_rpc(rpc: &Rpc) -> Vec<u8> {
    pb::Rpc::from(rpc).encode_to_vec()
}

/// An RPC from its protobuf bytes, within `limits`. Byte fields (payloads, ids,
/// signatures) share `bytes` rather than copying it.
pub fn decode_rpc(bytes: Bytes, limits: &RpcLimits) -> Result<DecodedRpc, PubsubError> {
    if bytes.len() > limits.max_rpc_size {
        return Err(PubsubError::RpcTooLarge {
            len: bytes.len() as u64,
            max: limits.max_rpc_size,
        });
    }
    limits.check_counts(&bytes)?;
    let rpc = pb::Rpc::decode(bytes).map_err(|e| PubsubError::InvalidRpc(e.to_string()))?;
    Ok(Decoder {
        limits,
        out: DecodedRpc::default(),
    }
    .decode(rpc))
}

/// Converts a parsed protobuf to the typed RPC, setting aside what is invalid.
struct Decoder<'a> {
    limits: &'a RpcLimits,
    out: DecodedRpc,
}

impl Decoder<'_> {
    fn decode(mut self, rpc: pb::Rpc) -> DecodedRpc {
        for sub in rpc.subscriptions {
            if let Some(topic) = self.topic(sub.topic_id) {
                self.out.rpc.subscriptions.push(SubOpt {
                    topic,
                    subscribe: sub.subscribe.unwrap_or(false),
                });
            }
        }
        for message in rpc.publish {
            match self.message(message) {
                Ok(message) => self.out.rpc.messages.push(message),
                Err(invalid) => self.out.invalid_messages.push(invalid),
            }
        }
        self.out.rpc.control = rpc.control.map(|control| self.control(control));
        self.out
    }

    /// A usable topic; counts a dropped entry otherwise.
    fn topic(&mut self, topic: Option<String>) -> Option<TopicHash> {
        match topic {
            Some(topic) if !topic.is_empty() && topic.len() <= self.limits.max_topic_len => {
                Some(TopicHash::from(topic))
            }
            _ => {
                self.out.dropped_entries += 1;
                None
            }
        }
    }

    fn message(&self, message: pb::Message) -> Result<Message, InvalidMessage> {
        let max_topic_len = self.limits.max_topic_len;
        let topic = (!message.topic.is_empty() && message.topic.len() <= max_topic_len)
            .then(|| TopicHash::from(message.topic.as_str()));
        let len = message.encoded_len();
        let error = if len > self.limits.max_message_size {
            PubsubError::MessageTooLarge {
                len,
                max: self.limits.max_message_size,
            }
        } else if message.topic.len() > max_topic_len {
            PubsubError::TopicTooLong {
                len: message.topic.len(),
                max: max_topic_len,
            }
        } else {
            match Message::try_from(message) {
                Ok(message) => return Ok(message),
                Err(error) => error,
            }
        };
        Err(InvalidMessage { topic, error })
    }

    fn control(&mut self, control: pb::ControlMessage) -> Control {
        let mut out = Control::default();
        for ihave in control.ihave {
            if let Some(topic) = self.topic(ihave.topic_id) {
                out.ihave.push(IHave {
                    topic,
                    message_ids: ids(ihave.message_ids),
                });
            }
        }
        out.iwant = control
            .iwant
            .into_iter()
            .map(|iwant| IWant {
                message_ids: ids(iwant.message_ids),
            })
            .collect();
        for graft in control.graft {
            if let Some(topic) = self.topic(graft.topic_id) {
                out.graft.push(Graft { topic });
            }
        }
        for prune in control.prune {
            if let Some(topic) = self.topic(prune.topic_id) {
                let peers = prune
                    .peers
                    .into_iter()
                    .filter_map(|peer| self.peer_info(peer))
                    .collect();
                out.prune.push(Prune {
                    topic,
                    peers,
                    backoff: prune.backoff,
                });
            }
        }
        out.idontwant = control
            .idontwant
            .into_iter()
            .map(|idontwant| IDontWant {
                message_ids: ids(idontwant.message_ids),
            })
            .collect();
        out
    }

    fn peer_info(&mut self, peer: pb::PeerInfo) -> Option<PeerInfo> {
        match peer.peer_id.as_deref().map(PeerId::from_bytes) {
            Some(Ok(peer_id)) => Some(PeerInfo {
                peer_id,
                signed_peer_record: peer.signed_peer_record,
            }),
            _ => {
                self.out.dropped_entries += 1;
                None
            }
        }
    }
}

fn ids(ids: Vec<Bytes>) -> Vec<MessageId> {
    ids.into_iter().map(MessageId::from).collect()
}

/// Writes one length-prefixed RPC, built in a single buffer, and flushes.
pub async fn write_rpc<W: AsyncWrite + Unpin>(io: &mut W, rpc: &Rpc) -> Result<(), PubsubError> {
    write_frame(io, &frame(&pb::Rpc::from(rpc))).await
}

/// Writes one frame made by [`frames`] and flushes.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    io: &mut W,
    frame: &[u8],
) -> Result<(), PubsubError> {
    io.write_all(frame).await?;
    io.flush().await?;
    Ok(())
}

/// `rpc` as length-prefixed frames whose protobuf is at most `max` bytes each: encoded
/// once when it fits, cut with [`split_rpc`] only when it does not.
pub(crate) fn frames(rpc: Rpc, max: usize) -> Vec<BytesMut> {
    let whole = pb::Rpc::from(&rpc);
    if whole.encoded_len() <= max {
        return vec![frame(&whole)];
    }
    split_rpc(rpc, max)
        .iter()
        .map(|piece| frame(&pb::Rpc::from(piece)))
        .collect()
}

/// `uvarint(len) || protobuf` in one buffer.
fn frame(rpc: &pb::Rpc) -> BytesMut {
    let len = rpc.encoded_len();
    let mut prefix = unsigned_varint::encode::usize_buffer();
    let prefix = unsigned_varint::encode::usize(len, &mut prefix);
    let mut frame = BytesMut::with_capacity(prefix.len() + len);
    frame.put_slice(prefix);
    rpc.encode(&mut frame)
        .expect("the buffer has room for the encoded length");
    frame
}

/// Reads and decodes one length-prefixed RPC within `limits`; `None` when the stream
/// ends cleanly before one starts. The length is checked before anything is allocated.
pub async fn read_rpc<R: AsyncRead + Unpin>(
    io: &mut R,
    limits: &RpcLimits,
) -> Result<Option<DecodedRpc>, PubsubError> {
    match framing::read_length_prefixed(io, limits.max_rpc_size).await {
        Ok(bytes) => decode_rpc(Bytes::from(bytes), limits).map(Some),
        Err(FramingError::Closed) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;

    use super::*;
    use crate::{Publisher, SigningPolicy};

    fn t(name: &str) -> TopicHash {
        TopicHash::from(name)
    }

    fn decode(bytes: Vec<u8>) -> Result<DecodedRpc, PubsubError> {
        decode_rpc(Bytes::from(bytes), &RpcLimits::default())
    }

    fn signed(data: &'static [u8]) -> Message {
        Publisher::with_first_seqno(
            SigningPolicy::StrictSign(Keypair::from_secret_bytes([5; 32])),
            1 << 60,
        )
        .publish(t("news"), data)
        .unwrap()
    }

    #[test]
    fn a_full_rpc_round_trips() {
        let peer = Keypair::from_secret_bytes([6; 32]).peer_id();
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(t("a")), SubOpt::unsubscribe(t("b"))],
            messages: vec![signed(b"one"), Message::new(t("a"), &b"two"[..])],
            control: Some(Control {
                ihave: vec![IHave {
                    topic: t("a"),
                    message_ids: vec![MessageId::from(vec![1, 2]), MessageId::from(vec![3])],
                }],
                iwant: vec![IWant {
                    message_ids: vec![MessageId::from(vec![4])],
                }],
                graft: vec![Graft { topic: t("a") }],
                prune: vec![Prune {
                    topic: t("b"),
                    peers: vec![PeerInfo {
                        peer_id: peer,
                        signed_peer_record: Some(Bytes::from_static(b"envelope")),
                    }],
                    backoff: Some(60),
                }],
                idontwant: vec![IDontWant {
                    message_ids: vec![MessageId::from(vec![5])],
                }],
            }),
        };
        let decoded = decode(encode_rpc(&rpc)).unwrap();
        assert_eq!(decoded.rpc, rpc);
        assert!(decoded.invalid_messages.is_empty());
        assert_eq!(decoded.dropped_entries, 0);
        crate::wire::verify(&decoded.rpc.messages[0]).unwrap();
    }

    #[test]
    fn invalid_messages_are_set_aside_without_dropping_the_rest() {
        let good = signed(b"good");
        let limits = RpcLimits {
            max_message_size: 400,
            max_topic_len: 8,
            ..RpcLimits::default()
        };
        let wire = |m: &Message| m.to_proto();
        let rpc = pb::Rpc {
            subscriptions: vec![],
            publish: vec![
                pb::Message {
                    seqno: Some(Bytes::new()),
                    ..wire(&good)
                },
                wire(&good),
                pb::Message {
                    from: Some(Bytes::from_static(b"nope")),
                    ..wire(&good)
                },
                pb::Message {
                    topic: String::new(),
                    ..wire(&good)
                },
                pb::Message {
                    topic: "a-long-topic".into(),
                    ..wire(&good)
                },
                wire(&Message::new(t("big"), vec![0u8; 400])),
            ],
            control: None,
        };
        let decoded = decode_rpc(rpc.encode_to_vec().into(), &limits).unwrap();
        assert_eq!(decoded.rpc.messages, [good]);
        let got: Vec<_> = decoded
            .invalid_messages
            .iter()
            .map(|m| (m.topic.clone(), &m.error))
            .collect();
        assert!(matches!(
            got.as_slice(),
            [
                (Some(a), PubsubError::InvalidSeqno { len: 0, .. }),
                (Some(b), PubsubError::InvalidFrom(_)),
                (None, PubsubError::MissingTopic),
                (None, PubsubError::TopicTooLong { len: 12, max: 8 }),
                (Some(c), PubsubError::MessageTooLarge { max: 400, .. }),
            ] if a == &t("news") && b == &t("news") && c == &t("big")
        ));
    }

    #[test]
    fn entries_without_a_usable_topic_or_peer_id_are_dropped_and_counted() {
        let rpc = pb::Rpc {
            subscriptions: vec![
                pb::rpc::SubOpts {
                    subscribe: Some(true),
                    topic_id: None,
                },
                pb::rpc::SubOpts {
                    subscribe: None,
                    topic_id: Some("x".into()),
                },
            ],
            publish: vec![],
            control: Some(pb::ControlMessage {
                ihave: vec![pb::ControlIHave {
                    topic_id: Some(String::new()),
                    message_ids: vec![Bytes::from_static(b"id")],
                }],
                graft: vec![pb::ControlGraft { topic_id: None }],
                prune: vec![pb::ControlPrune {
                    topic_id: Some("x".into()),
                    peers: vec![
                        pb::PeerInfo {
                            peer_id: Some(Bytes::from_static(b"bad")),
                            signed_peer_record: None,
                        },
                        pb::PeerInfo::default(),
                    ],
                    backoff: None,
                }],
                ..Default::default()
            }),
        };
        let decoded = decode(rpc.encode_to_vec()).unwrap();
        assert_eq!(decoded.dropped_entries, 5);
        assert_eq!(
            decoded.rpc.subscriptions,
            [SubOpt::unsubscribe(t("x"))],
            "a missing subscribe flag means unsubscribe, as in go"
        );
        let control = decoded.rpc.control.unwrap();
        assert!(control.ihave.is_empty() && control.graft.is_empty());
        assert_eq!(control.prune.len(), 1);
        assert!(control.prune[0].peers.is_empty());
    }

    #[test]
    fn rpc_level_violations_refuse_the_whole_rpc() {
        assert!(matches!(
            decode(vec![0x0a, 0x05, 0x00]),
            Err(PubsubError::InvalidRpc(_))
        ));
        // A topic that is not UTF-8.
        assert!(matches!(
            decode(vec![0x0a, 0x03, 0x12, 0x01, 0xff]),
            Err(PubsubError::InvalidRpc(_))
        ));
        let limits = RpcLimits {
            max_rpc_size: 10,
            ..RpcLimits::default()
        };
        assert!(matches!(
            decode_rpc(Bytes::from([0x0a, 0x00].repeat(6)), &limits),
            Err(PubsubError::RpcTooLarge { len: 12, max: 10 })
        ));
        let flood = [0x12, 0x00].repeat(crate::MAX_MESSAGES_PER_RPC + 1);
        assert!(matches!(
            decode(flood),
            Err(PubsubError::TooManyMessages { .. })
        ));
    }

    #[test]
    fn the_largest_allowed_flood_decodes_within_bounds() {
        let limits = RpcLimits::default();
        let mut rpc = [0x0a, 0x02, 0x12, 0x00].repeat(limits.max_subscriptions);
        rpc.extend([0x12, 0x02, 0x22, 0x00].repeat(limits.max_messages));
        let decoded = decode(rpc).unwrap();
        assert_eq!(decoded.dropped_entries, limits.max_subscriptions);
        assert_eq!(decoded.invalid_messages.len(), limits.max_messages);
    }

    #[test]
    fn a_go_style_gossip_rpc_passes_the_limits() {
        // go piggybacks IHAVEs of several topics, up to 5000 ids each, on one RPC.
        let id = |n: u32| MessageId::from([&[0u8; 42][..], &n.to_be_bytes()].concat());
        let rpc = Rpc {
            control: Some(Control {
                ihave: (0..3)
                    .map(|topic| IHave {
                        topic: t(&format!("topic-{topic}")),
                        message_ids: (0..5000).map(id).collect(),
                    })
                    .collect(),
                ..Control::default()
            }),
            ..Rpc::default()
        };
        let bytes = encode_rpc(&rpc);
        assert!(bytes.len() < crate::DEFAULT_MAX_RPC_SIZE);
        assert_eq!(decode(bytes).unwrap().rpc, rpc);
    }

    #[tokio::test]
    async fn rpcs_cross_a_stream_and_a_clean_end_is_none() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(t("a"))],
            messages: vec![signed(b"x")],
            control: None,
        };
        write_rpc(&mut a, &rpc).await.unwrap();
        write_rpc(&mut a, &Rpc::default()).await.unwrap();
        drop(a);
        let limits = RpcLimits::default();
        assert_eq!(read_rpc(&mut b, &limits).await.unwrap().unwrap().rpc, rpc);
        assert!(
            read_rpc(&mut b, &limits)
                .await
                .unwrap()
                .unwrap()
                .rpc
                .is_empty()
        );
        assert!(read_rpc(&mut b, &limits).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversize_rpc_is_refused_before_reading_it() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            let big = Rpc {
                messages: vec![Message::new(t("t"), vec![0u8; 1000])],
                ..Rpc::default()
            };
            let _ = write_rpc(&mut a, &big).await;
        });
        let limits = RpcLimits {
            max_rpc_size: 100,
            ..RpcLimits::default()
        };
        assert!(matches!(
            read_rpc(&mut b, &limits).await,
            Err(PubsubError::RpcTooLarge { max: 100, .. })
        ));
        drop(b);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_truncated_rpc_is_a_framing_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[10, 0x0a, 0x00]).await.unwrap();
        drop(a);
        assert!(matches!(
            read_rpc(&mut b, &RpcLimits::default()).await,
            Err(PubsubError::Framing(_))
        ));
    }
}
