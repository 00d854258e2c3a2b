//! The wire: exact bytes, caps, garbage, and the fit in a gossipsub RPC.

use bytes::Bytes;
use mycel_core::PeerId;
use proptest::prelude::*;

use super::*;

#[test]
fn update_encodes_to_exact_bytes() {
    let u = Update {
        key: "k".into(),
        entry: Entry {
            value: Some(Bytes::from_static(b"v")),
            clock: 2,
            writer: PeerId::from_bytes(&[0, 1, 7]).unwrap(),
            time_ms: 300,
            lease: None,
        },
        seen_lease: None,
    };
    let bytes = encode_update(&u);
    #[rustfmt::skip]
    let expected = [
        0x0a, 1, b'k',          // key
        0x12, 1, b'v',          // value
        0x18, 2,                // clock
        0x22, 3, 0, 1, 7,       // writer
        0x28, 0xac, 0x02,       // time_ms = 300
    ];
    assert_eq!(bytes, expected);
    assert_eq!(decode_update(Bytes::from(bytes)).unwrap(), u);
    // A tombstone omits the value field; an empty value keeps it.
    let mut tomb = u.clone();
    tomb.entry.value = None;
    assert!(!encode_update(&tomb).windows(2).any(|w| w == [0x12, 0]));
    assert_eq!(decode_update(encode_update(&tomb).into()).unwrap(), tomb);
    let mut empty = u;
    empty.entry.value = Some(Bytes::new());
    assert_eq!(decode_update(encode_update(&empty).into()).unwrap(), empty);
}

#[test]
fn decoding_refuses_oversize_garbage_truncation_and_bad_fields() {
    let too_big = Bytes::from(vec![0; MAX_TABLE_UPDATE_SIZE + 1]);
    assert!(matches!(
        decode_update(too_big),
        Err(SyncTableError::TooLarge { what: "update", .. })
    ));
    // Cut inside a field: an error. Cut between fields: protobuf cannot tell, fields go
    // missing (the length prefix around it catches that), never the original back.
    let original = update("key", Some("value"), 1, peer(1));
    let good = encode_update(&original);
    let mut errors = 0;
    for cut in 1..good.len() {
        match decode_update(Bytes::copy_from_slice(&good[..cut])) {
            Err(_) => errors += 1,
            Ok(decoded) => assert_ne!(decoded, original, "cut at {cut}"),
        }
    }
    assert!(errors >= 10, "{errors} of {} cuts refused", good.len() - 1);
    assert!(matches!(
        decode_update(Bytes::from_static(&[0xff, 0xff, 0xff])),
        Err(SyncTableError::InvalidProtobuf(_))
    ));
    // writer = [1, 2]: not a multihash.
    assert!(matches!(
        decode_update(Bytes::from_static(&[0x22, 2, 1, 2])),
        Err(SyncTableError::InvalidPeerId("writer"))
    ));
    // key = 0xff: not UTF-8.
    assert!(matches!(
        decode_update(Bytes::from_static(&[0x0a, 1, 0xff])),
        Err(SyncTableError::InvalidProtobuf(_))
    ));
    let mut long = update("k", None, 1, peer(1));
    long.key = "k".repeat(MAX_TABLE_KEY_LEN + 1);
    assert!(matches!(
        decode_update(encode_update(&long).into()),
        Err(SyncTableError::KeyTooLong { .. })
    ));
    let request = SnapshotRequest {
        table: "t".into(),
        start_after: Some("k".repeat(MAX_TABLE_KEY_LEN + 1)),
    };
    assert!(matches!(
        decode_snapshot_request(encode_snapshot_request(&request).into()),
        Err(SyncTableError::TooLarge { .. } | SyncTableError::KeyTooLong { .. })
    ));
}

#[test]
fn snapshot_response_with_too_many_entries_is_refused_before_decoding() {
    // Each empty entry is two bytes on the wire.
    let bytes: Vec<u8> = [0x0a, 0x00].repeat(MAX_SNAPSHOT_PAGE_ENTRIES + 1);
    assert!(matches!(
        decode_snapshot_response(bytes.into()),
        Err(SyncTableError::TooManyEntries {
            max: MAX_SNAPSHOT_PAGE_ENTRIES
        })
    ));
    let bytes = vec![0u8; MAX_SNAPSHOT_PAGE_SIZE + 1];
    assert!(matches!(
        decode_snapshot_response(bytes.into()),
        Err(SyncTableError::TooLarge { .. })
    ));
}

#[test]
fn largest_update_fits_a_signed_gossipsub_rpc_of_64_kib() {
    use mycel_core::Keypair;

    use mycel_pubsub::{
        Publisher, SigningPolicy, TopicHash,
        wire::{Rpc, encode_rpc},
    };

    let longest_writer = PeerId::from_bytes(&[[0, 42].as_slice(), &[0xff; 42]].concat()).unwrap();
    let lease = Lease {
        owner: longest_writer,
        expires_ms: u64::MAX,
    };
    let largest = Update {
        key: "k".repeat(MAX_TABLE_KEY_LEN),
        entry: Entry {
            value: Some(vec![0xff; MAX_TABLE_VALUE_SIZE].into()),
            clock: u64::MAX,
            writer: longest_writer,
            time_ms: u64::MAX,
            lease: Some(lease),
        },
        seen_lease: Some(lease),
    };
    let data = encode_update(&largest);
    assert!(data.len() <= MAX_TABLE_UPDATE_SIZE, "{}", data.len());
    let topic = TopicHash::from_raw(format!(
        "{SYNC_TABLE_TOPIC_PREFIX}{}",
        "n".repeat(MAX_TABLE_NAME_LEN)
    ));
    let mut publisher = Publisher::new(SigningPolicy::StrictSign(Keypair::generate()));
    let rpc = Rpc {
        subscriptions: vec![],
        messages: vec![publisher.publish(topic, data).unwrap()],
        control: None,
    };
    assert!(
        encode_rpc(&rpc).len() <= 65_536,
        "{}",
        encode_rpc(&rpc).len()
    );
}

proptest! {
    #[test]
    fn updates_round_trip_the_wire(u in super::convergence::arb_update()) {
        prop_assert_eq!(decode_update(encode_update(&u).into()).unwrap(), u);
    }

    #[test]
    fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_update(Bytes::from(data.clone()));
        let _ = decode_snapshot_request(Bytes::from(data.clone()));
        let _ = decode_snapshot_response(Bytes::from(data));
    }
}
