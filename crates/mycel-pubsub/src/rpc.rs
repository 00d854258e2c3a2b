//! The typed RPC: subscriptions, messages and gossipsub control, and its protobuf form.
//!
//! Decoding (with limits, and with invalid entries set aside) is in [`crate::decode_rpc`].

use bytes::Bytes;
use mycel_core::PeerId;
use mycel_proto::{prost::Message as _, pubsub as pb};

use crate::{Message, MessageId, TopicHash};

/// One subscription announcement: the sender joins or leaves a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOpt {
    /// The topic.
    pub topic: TopicHash,
    /// True to join, false to leave.
    pub subscribe: bool,
}

impl SubOpt {
    /// Joins `topic`.
    pub fn subscribe(topic: TopicHash) -> Self {
        SubOpt {
            topic,
            subscribe: true,
        }
    }

    /// Leaves `topic`.
    pub fn unsubscribe(topic: TopicHash) -> Self {
        SubOpt {
            topic,
            subscribe: false,
        }
    }
}

/// Gossipsub IHAVE: the sender has these messages of `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IHave {
    /// The topic.
    pub topic: TopicHash,
    /// The messages.
    pub message_ids: Vec<MessageId>,
}

/// Gossipsub IWANT: the sender asks for these messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IWant {
    /// The messages.
    pub message_ids: Vec<MessageId>,
}

/// Gossipsub GRAFT: the sender added the receiver to its mesh for `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graft {
    /// The topic.
    pub topic: TopicHash,
}

/// A peer offered in a PRUNE (gossipsub v1.1 peer exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer.
    pub peer_id: PeerId,
    /// Its signed peer record (a signed envelope), carried unverified.
    pub signed_peer_record: Option<Bytes>,
}

/// Gossipsub PRUNE: the sender removed the receiver from its mesh for `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prune {
    /// The topic.
    pub topic: TopicHash,
    /// Other peers of the topic to try (v1.1).
    pub peers: Vec<PeerInfo>,
    /// Seconds before the receiver may graft again (v1.1).
    pub backoff: Option<u64>,
}

/// Gossipsub v1.2 IDONTWANT: the sender already has these messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IDontWant {
    /// The messages.
    pub message_ids: Vec<MessageId>,
}

/// The gossipsub control part of an RPC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    /// IHAVE entries.
    pub ihave: Vec<IHave>,
    /// IWANT entries.
    pub iwant: Vec<IWant>,
    /// GRAFT entries.
    pub graft: Vec<Graft>,
    /// PRUNE entries.
    pub prune: Vec<Prune>,
    /// IDONTWANT entries.
    pub idontwant: Vec<IDontWant>,
}

impl Control {
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.ihave.is_empty()
            && self.iwant.is_empty()
            && self.graft.is_empty()
            && self.prune.is_empty()
            && self.idontwant.is_empty()
    }
}

/// One pubsub RPC, the unit every pubsub stream carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rpc {
    /// Subscription announcements.
    pub subscriptions: Vec<SubOpt>,
    /// Published or forwarded messages.
    pub messages: Vec<Message>,
    /// Gossipsub control; floodsub never sends it.
    pub control: Option<Control>,
}

impl Rpc {
    /// Whether the RPC carries nothing.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.messages.is_empty()
            && self.control.as_ref().is_none_or(Control::is_empty)
    }

    /// Length of the protobuf encoding, without the length prefix (for splitting what a
    /// router sends under a peer's maximum).
    pub fn encoded_len(&self) -> usize {
        pb::Rpc::from(self).encoded_len()
    }
}

fn ids_to_wire(ids: &[MessageId]) -> Vec<Bytes> {
    ids.iter().map(|id| id.clone().into_bytes()).collect()
}

impl From<&Control> for pb::ControlMessage {
    fn from(control: &Control) -> Self {
        pb::ControlMessage {
            ihave: control
                .ihave
                .iter()
                .map(|ihave| pb::ControlIHave {
                    topic_id: Some(ihave.topic.as_str().to_owned()),
                    message_ids: ids_to_wire(&ihave.message_ids),
                })
                .collect(),
            iwant: control
                .iwant
                .iter()
                .map(|iwant| pb::ControlIWant {
                    message_ids: ids_to_wire(&iwant.message_ids),
                })
                .collect(),
            graft: control
                .graft
                .iter()
                .map(|graft| pb::ControlGraft {
                    topic_id: Some(graft.topic.as_str().to_owned()),
                })
                .collect(),
            prune: control
                .prune
                .iter()
                .map(|prune| pb::ControlPrune {
                    topic_id: Some(prune.topic.as_str().to_owned()),
                    peers: prune
                        .peers
                        .iter()
                        .map(|peer| pb::PeerInfo {
                            peer_id: Some(Bytes::copy_from_slice(peer.peer_id.as_bytes())),
                            signed_peer_record: peer.signed_peer_record.clone(),
                        })
                        .collect(),
                    backoff: prune.backoff,
                })
                .collect(),
            idontwant: control
                .idontwant
                .iter()
                .map(|idontwant| pb::ControlIDontWant {
                    message_ids: ids_to_wire(&idontwant.message_ids),
                })
                .collect(),
        }
    }
}

impl From<&Rpc> for pb::Rpc {
    /// Every optional field that has a value is present; `subscribe` is sent even when
    /// false, as go does.
    fn from(rpc: &Rpc) -> Self {
        pb::Rpc {
            subscriptions: rpc
                .subscriptions
                .iter()
                .map(|sub| pb::rpc::SubOpts {
                    subscribe: Some(sub.subscribe),
                    topic_id: Some(sub.topic.as_str().to_owned()),
                })
                .collect(),
            publish: rpc.messages.iter().map(Message::to_proto).collect(),
            control: rpc.control.as_ref().map(pb::ControlMessage::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> TopicHash {
        TopicHash::from(name)
    }

    #[test]
    fn small_rpc_encodes_to_the_bytes_the_protobuf_rules_give() {
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(t("t"))],
            messages: vec![Message::new(t("t"), &b"hi"[..])],
            control: Some(Control {
                graft: vec![Graft { topic: t("t") }],
                ..Control::default()
            }),
        };
        let expected = [
            // subscriptions (1, LEN 5): subscribe (1, varint 1), topic_id (2, LEN 1) "t"
            0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, b't', //
            // publish (2, LEN 7): data (2, LEN 2) "hi", topic (4, LEN 1) "t"
            0x12, 0x07, 0x12, 0x02, b'h', b'i', 0x22, 0x01, b't', //
            // control (3, LEN 5): graft (3, LEN 3): topic_id (1, LEN 1) "t"
            0x1a, 0x05, 0x1a, 0x03, 0x0a, 0x01, b't',
        ];
        assert_eq!(pb::Rpc::from(&rpc).encode_to_vec(), expected);
        assert_eq!(rpc.encoded_len(), expected.len());
    }

    #[test]
    fn unsubscribe_is_an_explicit_false() {
        let rpc = Rpc {
            subscriptions: vec![SubOpt::unsubscribe(t("ab"))],
            ..Rpc::default()
        };
        assert_eq!(
            pb::Rpc::from(&rpc).encode_to_vec(),
            [0x0a, 0x06, 0x08, 0x00, 0x12, 0x02, b'a', b'b']
        );
    }

    #[test]
    fn control_entries_encode_with_their_spec_field_numbers() {
        let peer = PeerId::from_bytes(&[0x00, 0x01, 0xaa]).unwrap();
        let rpc = Rpc {
            control: Some(Control {
                ihave: vec![IHave {
                    topic: t("t"),
                    message_ids: vec![MessageId::from(vec![1])],
                }],
                iwant: vec![IWant {
                    message_ids: vec![MessageId::from(vec![2])],
                }],
                graft: vec![],
                prune: vec![Prune {
                    topic: t("t"),
                    peers: vec![PeerInfo {
                        peer_id: peer,
                        signed_peer_record: None,
                    }],
                    backoff: Some(60),
                }],
                idontwant: vec![IDontWant {
                    message_ids: vec![MessageId::from(vec![3])],
                }],
            }),
            ..Rpc::default()
        };
        let control = [
            // ihave (1, LEN 6): topic_id "t", message_ids (2) [1]
            0x0a, 0x06, 0x0a, 0x01, b't', 0x12, 0x01, 0x01, //
            // iwant (2, LEN 3): message_ids (1) [2]
            0x12, 0x03, 0x0a, 0x01, 0x02, //
            // prune (4, LEN 12): topic_id "t", peers (2, LEN 5): peer_id (1) 00 01 aa,
            // backoff (3, varint 60)
            0x22, 0x0c, 0x0a, 0x01, b't', 0x12, 0x05, 0x0a, 0x03, 0x00, 0x01, 0xaa, 0x18,
            60, //
            // idontwant (5, LEN 3): message_ids (1) [3]
            0x2a, 0x03, 0x0a, 0x01, 0x03,
        ];
        let mut expected = vec![0x1a, control.len() as u8];
        expected.extend_from_slice(&control);
        assert_eq!(pb::Rpc::from(&rpc).encode_to_vec(), expected);
    }

    #[test]
    fn emptiness_ignores_an_empty_control() {
        assert!(Rpc::default().is_empty());
        let rpc = Rpc {
            control: Some(Control::default()),
            ..Rpc::default()
        };
        assert!(rpc.is_empty());
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(t("x"))],
            ..Rpc::default()
        };
        assert!(!rpc.is_empty());
    }
}
