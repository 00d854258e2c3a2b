//! The peer-ids spec's test vectors, byte for byte, and the spec's text examples.
//!
//! Expected PeerId strings were computed independently of mycel (a separate script over
//! the same spec vectors), and the ed25519 one matches other libp2p implementations.

use std::collections::HashMap;

use mycel_core::{KeyError, KeyType, Keypair, PeerId, PeerIdError, PublicKey};

fn vectors() -> HashMap<String, Vec<u8>> {
    include_str!("data/peer-ids-vectors.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, hex) = l.split_once(' ').unwrap();
            (name.to_string(), unhex(hex))
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ed25519_private_key_vector_yields_public_key_vector() {
    let v = vectors();
    let keypair = Keypair::from_protobuf_encoding(&v["ed25519-private"]).unwrap();
    assert_eq!(keypair.public().encode_protobuf(), v["ed25519-public"]);
    assert_eq!(keypair.to_protobuf_encoding(), v["ed25519-private"]);
    assert_eq!(
        keypair.peer_id().to_string(),
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
    );
}

#[test]
fn every_public_key_vector_decodes_reencodes_and_names_a_peer() {
    let v = vectors();
    let cases = [
        (
            "ed25519-public",
            KeyType::Ed25519,
            "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
        ),
        (
            "secp256k1-public",
            KeyType::Secp256k1,
            "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",
        ),
        (
            "ecdsa-public",
            KeyType::Ecdsa,
            "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk",
        ),
        (
            "rsa-public",
            KeyType::Rsa,
            "QmaeANgBs1DTSxWSrPPtobgQuxW8XTfsS4ydbK4rCHzqxG",
        ),
    ];
    for (name, key_type, peer) in cases {
        let key = PublicKey::decode_protobuf(&v[name]).unwrap();
        assert_eq!(key.key_type(), key_type, "{name}");
        assert_eq!(
            key.encode_protobuf(),
            v[name],
            "{name}: deterministic re-encoding"
        );
        let id = key.to_peer_id();
        assert_eq!(id.to_string(), peer, "{name}");
        assert!(id.is_public_key(&key));
        // Identity-hashed ids (<= 42 bytes of key) carry the key; sha256 ones do not.
        assert_eq!(id.public_key().is_some(), v[name].len() <= 42, "{name}");
        assert_eq!(peer.parse::<PeerId>().unwrap(), id);
    }
}

#[test]
fn keys_we_cannot_verify_give_a_typed_error() {
    let v = vectors();
    for name in ["secp256k1-public", "ecdsa-public", "rsa-public"] {
        let key = PublicKey::decode_protobuf(&v[name]).unwrap();
        assert_eq!(
            key.verify(b"msg", &[0u8; 64]),
            Err(KeyError::UnsupportedKeyType(key.key_type()))
        );
    }
    // Private keys of other types are refused, not misread.
    assert_eq!(
        Keypair::from_protobuf_encoding(&v["secp256k1-private"]).unwrap_err(),
        KeyError::UnsupportedKeyType(KeyType::Secp256k1)
    );
}

#[test]
fn spec_text_examples_parse() {
    let cid: PeerId = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
        .parse()
        .unwrap();
    let b58: PeerId = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
        .parse()
        .unwrap();
    assert_eq!(cid, b58);
    assert_eq!(
        b58.to_cid_string(),
        "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
    );

    let ed: PeerId = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
        .parse()
        .unwrap();
    assert_eq!(ed.public_key().unwrap().key_type(), KeyType::Ed25519);
    assert_eq!(ed.to_cid_string().parse::<PeerId>().unwrap(), ed);
}

#[test]
fn signatures_verify_and_tampering_is_detected() {
    let keypair = Keypair::generate();
    let sig = keypair.sign(b"payload");
    let public = PublicKey::decode_protobuf(&keypair.public().encode_protobuf()).unwrap();
    assert_eq!(public.verify(b"payload", &sig), Ok(()));
    assert_eq!(
        public.verify(b"payloaD", &sig),
        Err(KeyError::InvalidSignature)
    );
    assert_eq!(
        public.verify(b"payload", &sig[..63]),
        Err(KeyError::InvalidSignature)
    );
    let restored = Keypair::from_secret_bytes(keypair.secret_bytes());
    assert_eq!(restored.peer_id(), keypair.peer_id());
}

#[test]
fn legacy_96_byte_private_key_is_checked() {
    let keypair = Keypair::generate();
    let mut data = keypair.secret_bytes().to_vec();
    let public = keypair.public().key_data().to_vec();
    data.extend_from_slice(&public);
    data.extend_from_slice(&public);
    let mut msg = vec![0x08, 0x01, 0x12, 96];
    msg.extend_from_slice(&data);
    assert_eq!(
        Keypair::from_protobuf_encoding(&msg).unwrap().peer_id(),
        keypair.peer_id()
    );
    *msg.last_mut().unwrap() ^= 1;
    assert_eq!(
        Keypair::from_protobuf_encoding(&msg).unwrap_err(),
        KeyError::MismatchedPublicKey
    );
}

#[test]
fn malformed_keys_are_typed_errors() {
    assert!(matches!(
        PublicKey::decode_protobuf(&[0x08]),
        Err(KeyError::Malformed(_))
    ));
    let bad: [(&[u8], KeyError); 4] = [
        (&[0x08, 0x07, 0x12, 0x01, 0x00], KeyError::UnknownKeyType(7)),
        (
            &[0x08, 0x01, 0x12, 0x02, 0x00, 0x00],
            KeyError::InvalidLength {
                key_type: KeyType::Ed25519,
                len: 2,
            },
        ),
        (
            &[0x08, 0x02, 0x12, 0x01, 0x00],
            KeyError::InvalidLength {
                key_type: KeyType::Secp256k1,
                len: 1,
            },
        ),
        (
            &[0x08, 0x00, 0x12, 0x00],
            KeyError::InvalidLength {
                key_type: KeyType::Rsa,
                len: 0,
            },
        ),
    ];
    for (bytes, expected) in bad {
        assert_eq!(
            PublicKey::decode_protobuf(bytes).unwrap_err(),
            expected,
            "{bytes:?}"
        );
    }
    // An RSA key far over 8192 bits is refused before any parsing.
    let mut huge = vec![0x08, 0x00, 0x12, 0x88, 0x40];
    huge.extend(std::iter::repeat_n(0xab, 0x2008));
    assert!(matches!(
        PublicKey::decode_protobuf(&huge),
        Err(KeyError::TooLarge { .. })
    ));
}

#[test]
fn malformed_peer_ids_are_typed_errors() {
    assert_eq!(PeerId::from_bytes(&[]), Err(PeerIdError::InvalidMultihash));
    assert_eq!(
        PeerId::from_bytes(&[0x00, 0x05, 1, 2]),
        Err(PeerIdError::InvalidMultihash)
    );
    assert_eq!(
        PeerId::from_bytes(&[0x12, 0x20, 1]),
        Err(PeerIdError::InvalidMultihash)
    );
    assert_eq!(
        PeerId::from_bytes(&[0x13, 0x20]),
        Err(PeerIdError::InvalidMultihash)
    );
    let mut too_long_identity = vec![0x00, 43];
    too_long_identity.extend([0u8; 43]);
    assert_eq!(
        PeerId::from_bytes(&too_long_identity),
        Err(PeerIdError::InvalidMultihash)
    );

    assert!(matches!(
        "1Il0".parse::<PeerId>(),
        Err(PeerIdError::InvalidEncoding(_))
    ));
    assert!(matches!(
        "hello".parse::<PeerId>(),
        Err(PeerIdError::InvalidEncoding(_))
    ));
    assert!(matches!(
        "".parse::<PeerId>(),
        Err(PeerIdError::InvalidEncoding(_))
    ));
    assert_eq!(
        "1".repeat(200).parse::<PeerId>(),
        Err(PeerIdError::TooLong(200))
    );
    // A CID with another codec (dag-pb, 0x70) is not a peer id.
    let peer = PeerId::random();
    let mut cid = vec![0x01, 0x70];
    cid.extend_from_slice(peer.as_bytes());
    let text = format!("b{}", base32(&cid));
    assert_eq!(text.parse::<PeerId>(), Err(PeerIdError::InvalidCid));
}

/// RFC 4648 base32, lower case, no padding (the multibase `b` alphabet).
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

mod prop {
    use mycel_core::{PeerId, PublicKey};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn garbage_keys_and_ids_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = PublicKey::decode_protobuf(&data);
            let _ = mycel_core::Keypair::from_protobuf_encoding(&data);
            let _ = PeerId::from_bytes(&data);
            if let Ok(s) = std::str::from_utf8(&data) {
                let _ = s.parse::<PeerId>();
            }
        }

        #[test]
        fn peer_ids_round_trip_both_text_forms(seed in any::<[u8; 32]>()) {
            let id = mycel_core::Keypair::from_secret_bytes(seed).peer_id();
            prop_assert_eq!(id.to_string().parse::<PeerId>().unwrap(), id);
            prop_assert_eq!(id.to_cid_string().parse::<PeerId>().unwrap(), id);
            prop_assert_eq!(PeerId::from_bytes(id.as_bytes()).unwrap(), id);
        }
    }
}
