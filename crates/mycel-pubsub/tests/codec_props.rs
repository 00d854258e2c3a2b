//! Property tests of the pubsub wire: any RPC round trips, no input makes the decoder
//! panic, and signatures survive the wire.

use bytes::Bytes;
use mycel_core::{Keypair, PeerId};
use mycel_pubsub::{
    Message, MessageId, PubsubError, Seqno, TopicHash, ValidationMode, default_message_id,
    wire::{
        Control, DecodedRpc, Graft, IDontWant, IHave, IWant, MAX_SEQNO_LEN, PeerInfo, Prune, Rpc,
        RpcLimits, SubOpt, decode_rpc, encode_rpc, sign, verify,
    },
};
use proptest::prelude::*;

fn decode(bytes: Vec<u8>) -> Result<DecodedRpc, PubsubError> {
    decode_rpc(Bytes::from(bytes), &RpcLimits::default())
}

fn topic() -> impl Strategy<Value = TopicHash> {
    "[a-z/_0-9é]{1,24}".prop_map(TopicHash::from)
}

fn peer_id() -> impl Strategy<Value = PeerId> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(|k| Keypair::from_secret_bytes(k).peer_id()),
        any::<[u8; 32]>()
            .prop_map(|h| PeerId::from_bytes(&[&[0x12, 0x20][..], &h].concat()).unwrap()),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// Seqnos as go, js and mycel send them (8 bytes), as rust-libp2p's floodsub does (20),
/// and of any other length the wire accepts.
fn seqno() -> impl Strategy<Value = Seqno> {
    prop_oneof![
        any::<u64>().prop_map(Seqno::from_u64),
        any::<[u8; 20]>().prop_map(|b| Seqno::from_bytes(b.to_vec()).unwrap()),
        proptest::collection::vec(any::<u8>(), 1..=MAX_SEQNO_LEN)
            .prop_map(|b| Seqno::from_bytes(b).unwrap()),
    ]
}

fn message_ids() -> impl Strategy<Value = Vec<MessageId>> {
    proptest::collection::vec(bytes(48).prop_map(MessageId::from), 0..4)
}

fn message() -> impl Strategy<Value = Message> {
    (
        proptest::option::of(peer_id()),
        bytes(64),
        proptest::option::of(seqno()),
        topic(),
        proptest::option::of(bytes(80)),
        proptest::option::of(bytes(40)),
    )
        .prop_map(|(from, data, seqno, topic, signature, key)| Message {
            from,
            data,
            seqno,
            topic,
            signature,
            key,
        })
}

fn control() -> impl Strategy<Value = Control> {
    let peer_info =
        (peer_id(), proptest::option::of(bytes(16))).prop_map(|(peer_id, signed_peer_record)| {
            PeerInfo {
                peer_id,
                signed_peer_record,
            }
        });
    (
        proptest::collection::vec(
            (topic(), message_ids()).prop_map(|(topic, message_ids)| IHave { topic, message_ids }),
            0..3,
        ),
        proptest::collection::vec(
            message_ids().prop_map(|message_ids| IWant { message_ids }),
            0..3,
        ),
        proptest::collection::vec(topic().prop_map(|topic| Graft { topic }), 0..3),
        proptest::collection::vec(
            (
                topic(),
                proptest::collection::vec(peer_info, 0..3),
                proptest::option::of(any::<u64>()),
            )
                .prop_map(|(topic, peers, backoff)| Prune {
                    topic,
                    peers,
                    backoff,
                }),
            0..3,
        ),
        proptest::collection::vec(
            message_ids().prop_map(|message_ids| IDontWant { message_ids }),
            0..3,
        ),
    )
        .prop_map(|(ihave, iwant, graft, prune, idontwant)| Control {
            ihave,
            iwant,
            graft,
            prune,
            idontwant,
        })
}

fn rpc() -> impl Strategy<Value = Rpc> {
    (
        proptest::collection::vec(
            (topic(), any::<bool>()).prop_map(|(topic, subscribe)| SubOpt { topic, subscribe }),
            0..4,
        ),
        proptest::collection::vec(message(), 0..4),
        proptest::option::of(control()),
    )
        .prop_map(|(subscriptions, messages, control)| Rpc {
            subscriptions,
            messages,
            control,
        })
}

proptest! {
    #[test]
    fn any_rpc_round_trips(rpc in rpc()) {
        let decoded = decode(encode_rpc(&rpc)).unwrap();
        prop_assert_eq!(decoded.rpc, rpc);
        prop_assert!(decoded.invalid_messages.is_empty());
        prop_assert_eq!(decoded.dropped_entries, 0);
    }

    #[test]
    fn any_seqno_reaches_the_wire_and_the_message_id_as_it_was(
        from in peer_id(),
        seqno in seqno(),
        topic in topic(),
    ) {
        let message = Message {
            from: Some(from),
            seqno: Some(seqno.clone()),
            ..Message::new(topic, Bytes::new())
        };
        let rpc = Rpc { messages: vec![message], ..Rpc::default() };
        let received = decode(encode_rpc(&rpc)).unwrap().rpc.messages.remove(0);
        let got = received.seqno.clone().unwrap();
        prop_assert_eq!(got.as_bytes(), seqno.as_bytes());
        prop_assert_eq!(got.as_u64().is_some(), seqno.as_bytes().len() == 8);
        let id = default_message_id(&received);
        prop_assert_eq!(id.as_bytes(), [&from.to_bytes()[..], seqno.as_bytes()].concat());
    }

    #[test]
    fn seqnos_of_no_bytes_or_too_many_are_invalid(
        len in prop_oneof![Just(0usize), (MAX_SEQNO_LEN + 1)..=4 * MAX_SEQNO_LEN],
    ) {
        let wire = mycel_proto::pubsub::Rpc {
            subscriptions: vec![],
            publish: vec![mycel_proto::pubsub::Message {
                from: None,
                data: None,
                seqno: Some(Bytes::from(vec![1; len])),
                topic: "t".into(),
                signature: None,
                key: None,
            }],
            control: None,
        };
        let decoded = decode(mycel_proto::prost::Message::encode_to_vec(&wire)).unwrap();
        prop_assert!(decoded.rpc.messages.is_empty());
        let refused = matches!(
            decoded.invalid_messages[0].error,
            PubsubError::InvalidSeqno { len: l, max: MAX_SEQNO_LEN } if l == len
        );
        prop_assert!(refused, "{:?}", decoded.invalid_messages);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(bytes);
    }

    #[test]
    fn corrupted_rpcs_never_panic(
        rpc in rpc(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = encode_rpc(&rpc);
        if !bytes.is_empty() {
            let len = bytes.len();
            for (at, value) in flips {
                bytes[at % len] = value;
            }
        }
        let _ = decode(bytes);
    }

    #[test]
    fn any_signed_message_verifies_after_the_wire_and_not_after_a_change(
        secret in any::<[u8; 32]>(),
        seqno in seqno(),
        topic in topic(),
        data in bytes(256),
        flip in any::<usize>(),
    ) {
        let keypair = Keypair::from_secret_bytes(secret);
        let unsigned = Message { seqno: Some(seqno), ..Message::new(topic, data) };
        let signed = sign(unsigned, &keypair);
        let rpc = Rpc { messages: vec![signed.clone()], ..Rpc::default() };
        let received = decode(encode_rpc(&rpc)).unwrap().rpc.messages.remove(0);
        prop_assert_eq!(&received, &signed);
        prop_assert!(ValidationMode::Strict.validate(&received).is_ok());
        if !received.data.is_empty() {
            let mut data = received.data.to_vec();
            let at = flip % data.len();
            data[at] ^= 1;
            let changed = Message { data: data.into(), ..received };
            prop_assert!(matches!(verify(&changed), Err(PubsubError::InvalidSignature)));
        }
    }
}
