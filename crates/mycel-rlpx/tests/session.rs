//! Handshakes between mycel's two halves, frames both ways, and what bad input does.

use bytes::BytesMut;
use k256::SecretKey;
use mycel_rlpx::{
    FrameCodec, FrameError, HandshakeError, Initiator, NodeId, Recipient, Secrets,
    ecies::EciesError,
    frame::MAX_FRAME_SIZE,
    handshake::{self, LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_MESSAGE_LEN, Message},
};
use rand::{Rng, rngs::OsRng};

fn secret() -> SecretKey {
    SecretKey::random(&mut OsRng)
}

fn id(secret: &SecretKey) -> NodeId {
    NodeId::from_public_key(&secret.public_key())
}

/// A completed handshake: (initiator's secrets, recipient's secrets, auth, ack).
fn handshake() -> (Secrets, Secrets, Vec<u8>, Vec<u8>) {
    let (a, b) = (secret(), secret());
    let a_id = id(&a);
    let mut initiator = Initiator::new(a, id(&b)).unwrap();
    let recipient = Recipient::new(b);
    let auth = initiator.auth();
    let read = recipient.read_auth(&auth).unwrap();
    assert_eq!(read.remote_id, a_id);
    assert!(read.eip8 && read.version == 4);
    let (ack, b_secrets) = recipient.ack(&auth, &read).unwrap();
    let (_, a_secrets) = initiator.read_ack(&ack).unwrap();
    (a_secrets, b_secrets, auth, ack)
}

#[test]
fn both_halves_agree_and_messages_are_eip8_with_padding() {
    let (a, b, auth, ack) = handshake();
    assert_eq!(a.aes_secret, b.aes_secret);
    assert_eq!(a.mac_secret, b.mac_secret);
    assert_eq!(a.egress_mac.digest(), b.ingress_mac.digest());
    assert_eq!(a.ingress_mac.digest(), b.egress_mac.digest());
    // EIP-8: a size prefix that is not 0x04, and 100-300 bytes of padding.
    for (msg, kind) in [(&auth, Message::Auth), (&ack, Message::Ack)] {
        assert_ne!(msg[0], 0x04);
        assert_eq!(
            handshake::message_len([msg[0], msg[1]], kind),
            Ok(msg.len())
        );
        assert!(
            msg.len() > LEGACY_ACK_LEN && msg.len() < 700,
            "{}",
            msg.len()
        );
    }
}

#[test]
fn frames_of_every_size_cross_both_ways_even_a_byte_at_a_time() {
    let (a, b, _, _) = handshake();
    let (mut a, mut b) = (FrameCodec::new(&a), FrameCodec::new(&b));
    for size in [0usize, 1, 15, 16, 17, 1000, 65_536, 300_000] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let mut wire = BytesMut::new();
        a.encode(&data, &mut wire).unwrap();
        assert_eq!(wire.len(), 32 + size.div_ceil(16) * 16 + 16);
        assert_eq!(&b.decode(&mut wire).unwrap().unwrap()[..], &data[..]);
        assert!(wire.is_empty());

        // The other way, delivered one byte at a time.
        let mut sent = BytesMut::new();
        b.encode(&data, &mut sent).unwrap();
        let mut arriving = BytesMut::new();
        let mut got = None;
        for byte in sent.iter() {
            assert!(got.is_none(), "a frame came out before its last byte");
            arriving.extend_from_slice(&[*byte]);
            got = a.decode(&mut arriving).unwrap();
        }
        assert_eq!(&got.unwrap()[..], &data[..]);
    }
}

#[test]
fn a_changed_header_or_body_byte_ends_the_session() {
    let (a, b, _, _) = handshake();
    for (flip, expected) in [
        (3, FrameError::HeaderMac),
        (20, FrameError::HeaderMac),
        (40, FrameError::FrameMac),
        (60, FrameError::FrameMac),
    ] {
        let (mut a, mut b) = (FrameCodec::new(&a), FrameCodec::new(&b));
        let mut wire = BytesMut::new();
        a.encode(&[9u8; 20], &mut wire).unwrap();
        wire[flip] ^= 0x80;
        assert_eq!(b.decode(&mut wire), Err(expected));
    }
}

#[test]
fn an_oversize_frame_is_refused_from_its_header_before_its_body_arrives() {
    let (a, b, _, _) = handshake();
    let mut a = FrameCodec::new(&a);
    let mut b = FrameCodec::new(&b).with_max_frame(1024);
    let mut wire = BytesMut::new();
    a.encode(&[1u8; 1025], &mut wire).unwrap();
    wire.truncate(32); // only the header arrived
    assert_eq!(
        b.decode(&mut wire),
        Err(FrameError::TooLarge {
            size: 1025,
            max: 1024
        })
    );
    // Nothing larger than the header can describe is ever sent.
    let mut codec = FrameCodec::new(&handshake().0);
    assert!(matches!(
        codec.encode(&vec![0u8; MAX_FRAME_SIZE + 1], &mut BytesMut::new()),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn handshake_messages_for_someone_else_or_changed_are_refused() {
    let (a, b, c) = (secret(), secret(), secret());
    let mut initiator = Initiator::new(a, id(&b)).unwrap();
    let auth = initiator.auth();
    // Sent to B, read by C.
    assert_eq!(
        Recipient::new(c).read_auth(&auth),
        Err(HandshakeError::Ecies(EciesError::BadTag))
    );
    // Any changed byte: the size no longer matches, or the tag fails.
    let recipient = Recipient::new(b);
    for i in 0..auth.len() {
        let mut bad = auth.clone();
        bad[i] ^= 0x01;
        assert!(recipient.read_auth(&bad).is_err(), "byte {i}");
    }
    // Truncated, or with a byte too many.
    assert!(matches!(
        recipient.read_auth(&auth[..auth.len() - 1]),
        Err(HandshakeError::BadLength { .. })
    ));
    let mut long = auth.clone();
    long.push(0);
    assert!(matches!(
        recipient.read_auth(&long),
        Err(HandshakeError::BadLength { .. })
    ));
    // An ack is not an auth.
    assert!(recipient.read_auth(&[]).is_err());
}

#[test]
fn size_prefixes_are_bounded_and_legacy_sizes_are_fixed() {
    assert_eq!(
        handshake::message_len([0x04, 0x00], Message::Auth),
        Ok(LEGACY_AUTH_LEN)
    );
    assert_eq!(
        handshake::message_len([0x04, 0xff], Message::Ack),
        Ok(LEGACY_ACK_LEN)
    );
    assert_eq!(LEGACY_AUTH_LEN, 307);
    assert_eq!(LEGACY_ACK_LEN, 210);
    for prefix in [[0x00, 0x00], [0x00, 0x10], [0xff, 0xff], [0x08, 0x00]] {
        assert!(
            matches!(
                handshake::message_len(prefix, Message::Auth),
                Err(HandshakeError::BadLength {
                    max: MAX_MESSAGE_LEN,
                    ..
                })
            ),
            "{prefix:?}"
        );
    }
}

#[test]
fn random_bytes_never_panic_the_decoders() {
    let b = secret();
    let recipient = Recipient::new(b.clone());
    let (sa, sb, _, _) = handshake();
    let mut codec = FrameCodec::new(&sb);
    let _keep = sa;
    for _ in 0..2000 {
        let len = OsRng.gen_range(0..800);
        let mut junk = vec![0u8; len];
        OsRng.fill(&mut junk[..]);
        assert!(recipient.read_auth(&junk).is_err());
        assert!(handshake::decode_ack(&b, &junk).is_err());
    }
    let mut junk = BytesMut::from(&[0x5au8; 64][..]);
    assert!(codec.decode(&mut junk).is_err());
}
