//! mycel-noise against rust-libp2p's noise, both directions, over an in-memory pipe.

use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use libp2p::{
    core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade},
    identity, noise,
};
use mycel_core::{KeyType, Keypair, PeerId};
use mycel_interop::pipe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn mycel_id_of(rust: &identity::PeerId) -> PeerId {
    rust.to_string().parse().unwrap()
}

#[tokio::test]
async fn mycel_dials_rust_libp2p() {
    let (ours, theirs) = pipe();
    let rust_key = identity::Keypair::generate_ed25519();
    let rust_peer = rust_key.public().to_peer_id();
    let mycel_key = Keypair::generate();
    let mycel = mycel_noise::Config::new(mycel_key.clone());
    let rust = noise::Config::new(&rust_key).unwrap();

    let (out, inb) = tokio::join!(
        mycel.upgrade_outbound(ours, Some(mycel_id_of(&rust_peer))),
        rust.upgrade_inbound(theirs, "/noise")
    );
    let (mut ours, remote) = out.unwrap();
    let (seen_by_rust, mut theirs) = inb.unwrap();
    assert_eq!(remote.peer_id, mycel_id_of(&rust_peer));
    assert_eq!(seen_by_rust.to_string(), mycel_key.peer_id().to_string());

    // More than one frame each way.
    let up = payload(300_000, 1);
    let down = payload(200_000, 2);
    let (up2, down2) = (up.clone(), down.clone());
    let rust_side = async move {
        let mut got = vec![0u8; up2.len()];
        theirs.read_exact(&mut got).await.unwrap();
        assert!(got == up2, "rust received what mycel sent");
        theirs.write_all(&down2).await.unwrap();
        theirs.flush().await.unwrap();
    };
    let mycel_side = async move {
        ours.write_all(&up).await.unwrap();
        ours.flush().await.unwrap();
        let mut got = vec![0u8; down.len()];
        ours.read_exact(&mut got).await.unwrap();
        assert!(got == down, "mycel received what rust sent");
    };
    tokio::join!(rust_side, mycel_side);
}

#[tokio::test]
async fn rust_libp2p_dials_mycel() {
    let (ours, theirs) = pipe();
    let rust_key = identity::Keypair::generate_ed25519();
    let mycel_key = Keypair::generate();
    let mycel = mycel_noise::Config::new(mycel_key.clone())
        .with_muxers(vec![mycel_core::ProtocolId::from_static("/yamux/1.0.0")]);
    let rust = noise::Config::new(&rust_key).unwrap();

    let (inb, out) = tokio::join!(
        mycel.upgrade_inbound(ours),
        rust.upgrade_outbound(theirs, "/noise")
    );
    let (mut ours, remote) = inb.unwrap();
    let (seen_by_rust, mut theirs) = out.unwrap();
    assert_eq!(remote.peer_id, mycel_id_of(&rust_key.public().to_peer_id()));
    assert_eq!(seen_by_rust.to_string(), mycel_key.peer_id().to_string());
    // rust-libp2p offers no muxer in the handshake: the choice is left to
    // multistream-select.
    assert_eq!(remote.muxer, None);

    theirs.write_all(b"hello from rust").await.unwrap();
    theirs.flush().await.unwrap();
    let mut got = [0u8; 15];
    ours.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello from rust");
    ours.write_all(b"hello from mycel").await.unwrap();
    ours.flush().await.unwrap();
    let mut got = [0u8; 16];
    theirs.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello from mycel");
}

#[tokio::test]
async fn dialing_the_wrong_peer_fails_against_rust_libp2p() {
    let (ours, theirs) = pipe();
    let rust_key = identity::Keypair::generate_ed25519();
    let mycel = mycel_noise::Config::new(Keypair::generate());
    let rust = noise::Config::new(&rust_key).unwrap();
    let wrong = PeerId::random();
    let (out, _inb) = tokio::join!(
        mycel.upgrade_outbound(ours, Some(wrong)),
        rust.upgrade_inbound(theirs, "/noise")
    );
    assert!(matches!(
        out,
        Err(mycel_noise::NoiseError::PeerIdMismatch { .. })
    ));
}

/// A rust-libp2p key pair of `key_type` (RSA from the PKCS#8 test key).
fn rust_keypair(key_type: KeyType) -> identity::Keypair {
    match key_type {
        KeyType::Ed25519 => identity::Keypair::generate_ed25519(),
        KeyType::Secp256k1 => identity::Keypair::generate_secp256k1(),
        KeyType::Ecdsa => identity::Keypair::generate_ecdsa(),
        KeyType::Rsa => {
            let mut der =
                include_bytes!("../../../crates/mycel-core/tests/data/rsa-2048.pk8").to_vec();
            identity::Keypair::rsa_from_pkcs8(&mut der).expect("rust-libp2p reads the RSA key")
        }
    }
}

/// One handshake over a pipe, mycel dialing or listening, each side holding a key of
/// `key_type`: both must learn the other's peer id, then exchange data.
async fn handshake_with_key_type(key_type: KeyType, mycel_dials: bool) {
    let (ours, theirs) = pipe();
    let rust_key = rust_keypair(key_type);
    let rust_peer = mycel_id_of(&rust_key.public().to_peer_id());
    let mycel_key = Keypair::generate_of(key_type).unwrap();
    let mycel = mycel_noise::Config::new(mycel_key.clone());
    let rust = noise::Config::new(&rust_key).unwrap();
    let ((mut ours, remote), (seen_by_rust, mut theirs)) = if mycel_dials {
        let (out, inb) = tokio::join!(
            mycel.upgrade_outbound(ours, Some(rust_peer)),
            rust.upgrade_inbound(theirs, "/noise")
        );
        (out.unwrap(), inb.unwrap())
    } else {
        let (inb, out) = tokio::join!(
            mycel.upgrade_inbound(ours),
            rust.upgrade_outbound(theirs, "/noise")
        );
        (inb.unwrap(), out.unwrap())
    };
    assert_eq!(remote.peer_id, rust_peer, "{key_type}");
    assert_eq!(remote.public_key.key_type(), key_type);
    assert_eq!(
        seen_by_rust.to_string(),
        mycel_key.peer_id().to_string(),
        "{key_type}"
    );
    theirs.write_all(b"ping").await.unwrap();
    theirs.flush().await.unwrap();
    let mut got = [0u8; 4];
    ours.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    ours.write_all(b"pong").await.unwrap();
    ours.flush().await.unwrap();
    theirs.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"pong");
}

#[tokio::test]
async fn every_key_type_handshakes_with_rust_libp2p_both_ways() {
    for key_type in KeyType::ALL {
        handshake_with_key_type(key_type, true).await;
        handshake_with_key_type(key_type, false).await;
    }
}
