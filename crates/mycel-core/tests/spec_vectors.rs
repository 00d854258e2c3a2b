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
fn every_private_key_vector_yields_its_public_key_and_round_trips() {
    let v = vectors();
    for (key_type, name) in [
        (KeyType::Ed25519, "ed25519"),
        (KeyType::Secp256k1, "secp256k1"),
        (KeyType::Ecdsa, "ecdsa"),
        (KeyType::Rsa, "rsa"),
    ] {
        let private = &v[&format!("{name}-private")];
        let public = &v[&format!("{name}-public")];
        let keypair = Keypair::from_protobuf_encoding(private).unwrap();
        assert_eq!(keypair.key_type(), key_type);
        assert_eq!(&keypair.public().encode_protobuf(), public, "{name}");
        assert_eq!(&keypair.to_protobuf_encoding(), private, "{name}");
        // Each signs, and the public key decoded from the vector verifies it.
        let sig = keypair.sign(b"libp2p");
        let decoded = PublicKey::decode_protobuf(public).unwrap();
        assert_eq!(decoded.verify(b"libp2p", &sig), Ok(()), "{name}");
        assert_eq!(
            decoded.verify(b"libp2P", &sig),
            Err(KeyError::InvalidSignature),
            "{name}"
        );
    }
}

#[test]
fn every_key_type_generates_signs_and_round_trips() {
    for key_type in KeyType::ALL {
        let keypair = Keypair::generate_of(key_type).unwrap();
        assert_eq!(keypair.key_type(), key_type);
        let restored = Keypair::from_protobuf_encoding(&keypair.to_protobuf_encoding()).unwrap();
        assert_eq!(restored.peer_id(), keypair.peer_id(), "{key_type}");
        let public = PublicKey::decode_protobuf(&keypair.public().encode_protobuf()).unwrap();
        assert_eq!(public, keypair.public());
        let sig = restored.sign(b"payload");
        assert_eq!(public.verify(b"payload", &sig), Ok(()), "{key_type}");
        // Another key of the same type does not verify it.
        let other = Keypair::generate_of(key_type).unwrap().public();
        assert_eq!(
            other.verify(b"payload", &sig),
            Err(KeyError::InvalidSignature),
            "{key_type}"
        );
        assert_eq!(key_type.name().parse::<KeyType>(), Ok(key_type));
    }
    // Peer id forms: ed25519 and secp256k1 keys are inlined, RSA and ECDSA hashed.
    assert!(
        Keypair::generate_secp256k1()
            .peer_id()
            .to_string()
            .starts_with("16Uiu2")
    );
    assert!(
        Keypair::generate_ecdsa()
            .peer_id()
            .to_string()
            .starts_with("Qm")
    );
}

#[test]
fn rsa_keys_load_from_pkcs8() {
    // Made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` and
    // `openssl pkcs8 -topk8 -nocrypt -outform DER`.
    let pkcs8 = include_bytes!("data/rsa-2048.pk8");
    let keypair = Keypair::rsa_from_pkcs8(pkcs8).unwrap();
    assert_eq!(keypair.key_type(), KeyType::Rsa);
    let sig = keypair.sign(b"payload");
    assert_eq!(sig.len(), 256);
    assert_eq!(keypair.public().verify(b"payload", &sig), Ok(()));
    // The protobuf form is PKCS#1, as go-libp2p writes it.
    let restored = Keypair::from_protobuf_encoding(&keypair.to_protobuf_encoding()).unwrap();
    assert_eq!(restored.peer_id(), keypair.peer_id());
    assert!(matches!(
        Keypair::rsa_from_pkcs8(&pkcs8[..100]),
        Err(KeyError::InvalidKey(KeyType::Rsa))
    ));
}

#[test]
fn rsa_moduli_outside_2048_to_8192_bits_are_refused_before_use() {
    // A PKCS#1 RSAPublicKey with an n of `bits` bits, wrapped in the SPKI and key
    // protobuf the wire carries.
    fn public_key_protobuf(bits: usize) -> Vec<u8> {
        fn der(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            let len = body.len();
            if len < 128 {
                out.push(len as u8);
            } else {
                let bytes = len.to_be_bytes();
                let skip = bytes.iter().take_while(|&&b| b == 0).count();
                out.push(0x80 | (bytes.len() - skip) as u8);
                out.extend_from_slice(&bytes[skip..]);
            }
            out.extend_from_slice(body);
            out
        }
        let mut n = vec![0x00, 0xc0];
        n.extend(std::iter::repeat_n(0x01, bits / 8 - 1));
        let pkcs1 = der(0x30, &[der(0x02, &n), der(0x02, &[1, 0, 1])].concat());
        let algorithm = der(
            0x30,
            &[
                der(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                ),
                vec![0x05, 0x00],
            ]
            .concat(),
        );
        let bit_string = der(0x03, &[&[0u8][..], &pkcs1].concat());
        let spki = der(0x30, &[algorithm, bit_string].concat());
        let mut msg = vec![0x08, 0x00, 0x12];
        let mut len = spki.len();
        while len >= 0x80 {
            msg.push((len as u8) | 0x80);
            len >>= 7;
        }
        msg.push(len as u8);
        msg.extend_from_slice(&spki);
        msg
    }
    assert_eq!(
        PublicKey::decode_protobuf(&public_key_protobuf(1024)).unwrap_err(),
        KeyError::RsaKeySize(1024)
    );
    let key = PublicKey::decode_protobuf(&public_key_protobuf(2048)).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa);
    assert_eq!(
        key.verify(b"m", &[0u8; 256]),
        Err(KeyError::InvalidSignature)
    );
    PublicKey::decode_protobuf(&public_key_protobuf(8192)).unwrap();
    // 8200 bits still fit the length cap; the modulus check refuses them.
    assert_eq!(
        PublicKey::decode_protobuf(&public_key_protobuf(8200)).unwrap_err(),
        KeyError::RsaKeySize(8200)
    );
}

#[test]
fn keys_of_the_wrong_shape_are_typed_errors() {
    // A 33-byte secp256k1 "point" that is not on the curve.
    let mut bad_point = vec![0x08, 0x02, 0x12, 33, 0x02];
    bad_point.extend([0xff; 32]);
    assert_eq!(
        PublicKey::decode_protobuf(&bad_point).unwrap_err(),
        KeyError::InvalidKey(KeyType::Secp256k1)
    );
    // ECDSA data that is not a SubjectPublicKeyInfo.
    assert_eq!(
        PublicKey::decode_protobuf(&[0x08, 0x03, 0x12, 0x02, 0x30, 0x00]).unwrap_err(),
        KeyError::InvalidKey(KeyType::Ecdsa)
    );
    // A secp256k1 secret of zero, and one of the wrong length.
    let zero = [&[0x08, 0x02, 0x12, 32][..], &[0u8; 32]].concat();
    assert_eq!(
        Keypair::from_protobuf_encoding(&zero).unwrap_err(),
        KeyError::InvalidKey(KeyType::Secp256k1)
    );
    assert_eq!(
        Keypair::from_protobuf_encoding(&[0x08, 0x02, 0x12, 0x01, 0x07]).unwrap_err(),
        KeyError::InvalidLength {
            key_type: KeyType::Secp256k1,
            len: 1
        }
    );
    // An RSA private key that is not PKCS#1.
    assert_eq!(
        Keypair::from_protobuf_encoding(&[0x08, 0x00, 0x12, 0x02, 0x30, 0x00]).unwrap_err(),
        KeyError::InvalidKey(KeyType::Rsa)
    );
    // Signatures that are not DER, for each ECDSA flavour.
    for key_type in [KeyType::Secp256k1, KeyType::Ecdsa] {
        let public = Keypair::generate_of(key_type).unwrap().public();
        assert_eq!(
            public.verify(b"m", &[0x30, 0x02, 0x02, 0x00]),
            Err(KeyError::InvalidSignature)
        );
    }
}

#[test]
fn a_high_s_secp256k1_signature_still_verifies() {
    // (r, n - s) is the same signature mirrored; go-libp2p accepts it, so mycel does.
    let keypair = Keypair::generate_secp256k1();
    let der = keypair.sign(b"msg");
    let (r, s) = parse_der_signature(&der);
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let high_s = sub_be(&N, &s);
    let mirrored = der_signature(&r, &high_s);
    assert_ne!(mirrored, der);
    assert_eq!(keypair.public().verify(b"msg", &mirrored), Ok(()));
}

fn parse_der_signature(der: &[u8]) -> ([u8; 32], [u8; 32]) {
    fn int(bytes: &[u8]) -> ([u8; 32], &[u8]) {
        assert_eq!(bytes[0], 0x02);
        let len = bytes[1] as usize;
        let value = &bytes[2..2 + len];
        let value = &value[value.len().saturating_sub(32)..];
        let mut out = [0u8; 32];
        out[32 - value.len()..].copy_from_slice(value);
        (out, &bytes[2 + len..])
    }
    assert_eq!(der[0], 0x30);
    let (r, rest) = int(&der[2..]);
    let (s, _) = int(rest);
    (r, s)
}

fn der_signature(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    fn int(v: &[u8; 32]) -> Vec<u8> {
        let skip = v.iter().take_while(|&&b| b == 0).count();
        let mut body = v[skip..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        [vec![0x02, body.len() as u8], body].concat()
    }
    let body = [int(r), int(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// a - b for 32-byte big-endian numbers, a >= b.
fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
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
    let restored = Keypair::from_secret_bytes(keypair.secret_bytes().unwrap());
    assert_eq!(restored.peer_id(), keypair.peer_id());
}

#[test]
fn legacy_96_byte_private_key_is_checked() {
    let keypair = Keypair::generate();
    let mut data = keypair.secret_bytes().unwrap().to_vec();
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
        fn signatures_of_every_key_type_round_trip_and_a_flipped_bit_fails(
            msg in proptest::collection::vec(any::<u8>(), 0..256),
            flip in any::<usize>(),
        ) {
            // RSA generation is slow; the fixture key stands in for it.
            let rsa = mycel_core::Keypair::rsa_from_pkcs8(include_bytes!("data/rsa-2048.pk8")).unwrap();
            for keypair in [
                mycel_core::Keypair::generate_ed25519(),
                mycel_core::Keypair::generate_secp256k1(),
                mycel_core::Keypair::generate_ecdsa(),
                rsa,
            ] {
                let public = keypair.public();
                let mut sig = keypair.sign(&msg);
                prop_assert!(public.verify(&msg, &sig).is_ok());
                let bit = flip % (sig.len() * 8);
                sig[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(public.verify(&msg, &sig).is_err());
                let mut tampered = msg.clone();
                tampered.push(0);
                sig[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(public.verify(&tampered, &sig).is_err());
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
