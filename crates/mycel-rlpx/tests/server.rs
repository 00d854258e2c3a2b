//! The devp2p Server over loopback TCP: limits, slot release, bans, dialing, and a flood
//! of handshakes that never finish.

use std::time::Duration;

use k256::SecretKey;
use mycel_rlpx::{
    Closed, NodeId, Peer, PeerConfig, PeerError, Server, ServerConfig,
    caps::Protocol,
    p2p::{Capability, DisconnectReason},
    peers::{PeerEvent, PeerManagerConfig},
};
use rand::rngs::OsRng;
use tokio::{net::TcpStream, time::timeout};

const LIMIT: Duration = Duration::from_secs(20);

fn peer_config() -> PeerConfig {
    PeerConfig {
        protocols: vec![Protocol {
            capability: Capability {
                name: "test".into(),
                version: 1,
            },
            messages: 2,
        }],
        ..PeerConfig::default()
    }
}

async fn server(
    max_peers: usize,
    max_pending: usize,
) -> (Server, tokio::sync::mpsc::Receiver<Peer>) {
    let config = ServerConfig {
        peer: peer_config(),
        policy: PeerManagerConfig {
            max_peers,
            dial_ratio: 2,
            ..PeerManagerConfig::default()
        },
        max_pending,
        ..ServerConfig::default()
    };
    Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        SecretKey::random(&mut OsRng),
        config,
    )
    .await
    .unwrap()
}

async fn client(server: &Server, key: SecretKey) -> Result<Peer, PeerError> {
    let socket = TcpStream::connect(server.local_addr())
        .await
        .map_err(|e| PeerError::Rlpx(e.into()))?;
    Peer::connect(socket, key, server.local_id(), peer_config()).await
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    timeout(LIMIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"));
}

fn key() -> SecretKey {
    SecretKey::random(&mut OsRng)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_peers_up_to_the_limit_and_a_slot_frees_when_one_leaves() {
    // 4 peers, half of them dialed: 2 inbound slots.
    let (server, mut sessions) = server(4, 50).await;
    let c1 = client(&server, key()).await.unwrap();
    let _s1 = timeout(LIMIT, sessions.recv()).await.unwrap().unwrap();
    let _c2 = client(&server, key()).await.unwrap();
    let _s2 = timeout(LIMIT, sessions.recv()).await.unwrap().unwrap();
    let c3 = client(&server, key()).await.unwrap();
    assert_eq!(
        timeout(LIMIT, c3.closed()).await.unwrap(),
        Closed::Remote(DisconnectReason::TooManyPeers)
    );
    assert_eq!(server.peer_count(), 2);
    c1.disconnect(DisconnectReason::ClientQuitting).await;
    eventually("the slot is free", || server.peer_count() == 1).await;
    let _c4 = client(&server, key()).await.unwrap();
    // Held: a session the application drops ends, and frees its slot.
    let _s4 = timeout(LIMIT, sessions.recv()).await.unwrap().unwrap();
    assert_eq!(server.peer_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_reported_below_the_threshold_is_dropped_and_banned() {
    let (server, mut sessions) = server(50, 50).await;
    let client_key = key();
    let c = client(&server, client_key.clone()).await.unwrap();
    let s = timeout(LIMIT, sessions.recv()).await.unwrap().unwrap();
    let id = s.remote_id();
    assert!(!server.report(id, PeerEvent::BadMessage));
    assert!(!server.report(id, PeerEvent::BadMessage));
    assert!(
        server.report(id, PeerEvent::BadMessage),
        "-150 is below -100"
    );
    assert_eq!(
        timeout(LIMIT, c.closed()).await.unwrap(),
        Closed::Remote(DisconnectReason::UselessPeer)
    );
    // Back with the same key: refused while banned.
    let again = client(&server, client_key).await.unwrap();
    assert_eq!(
        timeout(LIMIT, again.closed()).await.unwrap(),
        Closed::Remote(DisconnectReason::UselessPeer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_dial_each_other_but_not_themselves() {
    let (a, mut a_sessions) = server(50, 50).await;
    let (b, mut b_sessions) = server(50, 50).await;
    a.dial(b.local_id(), b.local_addr()).await.unwrap();
    let on_a = timeout(LIMIT, a_sessions.recv()).await.unwrap().unwrap();
    let on_b = timeout(LIMIT, b_sessions.recv()).await.unwrap().unwrap();
    assert_eq!(on_a.remote_id(), b.local_id());
    assert_eq!(on_b.remote_id(), a.local_id());
    assert!(
        a.dial(a.local_id(), a.local_addr()).await.is_err(),
        "ourselves"
    );
    assert!(
        a.dial(b.local_id(), b.local_addr()).await.is_err(),
        "already connected"
    );
    let stranger = NodeId::from_public_key(&key().public_key());
    assert!(
        a.dial(stranger, "127.0.0.1:1".parse().unwrap())
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_unfinished_handshakes_is_capped_and_passes() {
    let (server, mut sessions) = server(50, 4).await;
    // 50 connections that never say a word.
    let mut flood = Vec::new();
    for _ in 0..50 {
        flood.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    eventually("the pending slots fill", || server.pending() == 4).await;
    // An honest peer retries until a slot frees (the stalled ones time out after 5 s).
    let honest = timeout(Duration::from_secs(30), async {
        loop {
            assert!(server.pending() <= 4);
            match client(&server, key()).await {
                Ok(peer) => return peer,
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    })
    .await
    .expect("the honest peer got in");
    assert!(timeout(LIMIT, sessions.recv()).await.unwrap().is_some());
    assert_eq!(honest.remote_id(), server.local_id());
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_peer_is_dialed_and_redialed_when_its_session_ends() {
    let (a, mut a_sessions) = server(50, 50).await;
    let (b, mut b_sessions) = server(50, 50).await;
    a.add_static(b.local_id(), b.local_addr());
    let first = timeout(LIMIT, a_sessions.recv()).await.unwrap().unwrap();
    assert_eq!(first.remote_id(), b.local_id());
    let on_b = timeout(LIMIT, b_sessions.recv()).await.unwrap().unwrap();
    // B ends the session; A dials again by itself.
    on_b.disconnect(DisconnectReason::Requested).await;
    assert_eq!(
        timeout(LIMIT, first.closed()).await.unwrap(),
        Closed::Remote(DisconnectReason::Requested)
    );
    let second = timeout(LIMIT, a_sessions.recv()).await.unwrap().unwrap();
    assert_eq!(second.remote_id(), b.local_id());
    assert!(timeout(LIMIT, b_sessions.recv()).await.unwrap().is_some());
}
