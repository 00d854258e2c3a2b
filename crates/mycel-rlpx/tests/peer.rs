//! Whole devp2p sessions between mycel peers (and a hand-driven remote) over loopback
//! TCP: capability streams, fair queuing, Disconnect reasons, Ping timeouts.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use k256::SecretKey;
use mycel_rlpx::{
    Closed, NodeId, Peer, PeerConfig, PeerError, RlpxStream,
    caps::Protocol,
    p2p::{self, Capability, DisconnectReason, Hello, MAX_MESSAGE_LEN, id},
};
use rand::rngs::OsRng;
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(30);

fn protocol(name: &str, version: u64, messages: u64) -> Protocol {
    Protocol {
        capability: Capability {
            name: name.into(),
            version,
        },
        messages,
    }
}

fn config(protocols: Vec<Protocol>) -> PeerConfig {
    PeerConfig {
        protocols,
        ..PeerConfig::default()
    }
}

/// (dialer, listener) over loopback TCP.
async fn pair(a: PeerConfig, b: PeerConfig) -> (Result<Peer, PeerError>, Result<Peer, PeerError>) {
    let (ka, kb) = (SecretKey::random(&mut OsRng), SecretKey::random(&mut OsRng));
    let b_id = NodeId::from_public_key(&kb.public_key());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        Peer::accept(socket, kb, b).await
    });
    let socket = TcpStream::connect(addr).await.unwrap();
    let client = Peer::connect(socket, ka, b_id, a).await;
    (client, server.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_are_matched_and_messages_cross_both_ways() {
    tokio::time::timeout(LIMIT, async {
        let (a, b) = pair(
            config(vec![
                protocol("test", 1, 2),
                protocol("aaa", 1, 3),
                protocol("onlya", 1, 1),
            ]),
            config(vec![
                protocol("test", 1, 2),
                protocol("aaa", 1, 3),
                protocol("onlyb", 1, 1),
            ]),
        )
        .await;
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        let names = |p: &Peer| -> Vec<(String, u64)> {
            p.shared_capabilities()
                .iter()
                .map(|c| (c.capability.to_string(), c.offset))
                .collect()
        };
        assert_eq!(
            names(&a),
            [("aaa/1".to_string(), 0x10), ("test/1".to_string(), 0x13)]
        );
        assert_eq!(names(&a), names(&b));
        assert_eq!(a.remote_hello().node_id, a.remote_id());
        assert_eq!(b.remote_hello().node_id, b.remote_id());
        assert_ne!(a.remote_id(), b.remote_id());

        let (ta, mut tb) = (a.capability("test").unwrap(), b.capability("test").unwrap());
        assert!(a.capability("test").is_none(), "taken once");
        ta.send(0, b"\x85hello").await.unwrap();
        assert_eq!(
            tb.recv().await.unwrap(),
            (0, bytes::Bytes::from_static(b"\x85hello"))
        );
        tb.send(1, b"\x85world").await.unwrap();
        let mut ta = ta;
        assert_eq!(ta.recv().await.unwrap().0, 1);
        assert!(matches!(
            ta.send(2, b"\xc0").await,
            Err(PeerError::BadMessageId { id: 2, messages: 2 })
        ));

        let rtt = a.ping(Duration::from_secs(5)).await.unwrap();
        assert!(rtt < Duration::from_secs(5));
        a.disconnect(DisconnectReason::ClientQuitting).await;
        assert_eq!(
            b.closed().await,
            Closed::Remote(DisconnectReason::ClientQuitting)
        );
        assert!(
            tb.recv().await.is_none(),
            "the stream ends with the session"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_capability_does_not_hold_back_a_small_one() {
    tokio::time::timeout(LIMIT, async {
        let protocols = vec![protocol("bulk", 1, 1), protocol("small", 1, 1)];
        let (a, b) = pair(config(protocols.clone()), config(protocols)).await;
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        let (bulk_out, small_out) = (
            a.capability("bulk").unwrap(),
            a.capability("small").unwrap(),
        );
        let (mut bulk_in, mut small_in) = (
            b.capability("bulk").unwrap(),
            b.capability("small").unwrap(),
        );

        // 64 MiB in 1 MiB messages on one capability...
        const MESSAGES: usize = 64;
        let started = Instant::now();
        let sender = tokio::spawn(async move {
            let chunk = vec![0x42u8; 1 << 20];
            for _ in 0..MESSAGES {
                bulk_out.send(0, &chunk).await.unwrap();
            }
        });
        let receiver = tokio::spawn(async move {
            for _ in 0..MESSAGES {
                assert_eq!(bulk_in.recv().await.unwrap().1.len(), 1 << 20);
            }
            started.elapsed()
        });
        // ...while small messages, stamped when sent, cross on the other. Queued behind
        // the bulk (up to 64 frames), one would wait about as long as the bulk takes.
        let mut worst = Duration::ZERO;
        let mut sent = 0;
        while !receiver.is_finished() && sent < 200 {
            let t = Instant::now();
            small_out.send(0, b"\x81\x01").await.unwrap();
            small_in.recv().await.unwrap();
            worst = worst.max(t.elapsed());
            sent += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sender.await.unwrap();
        let bulk = receiver.await.unwrap();
        println!("bulk 64 MiB in {bulk:?}; {sent} small messages, worst latency {worst:?}");
        assert!(
            sent >= 3,
            "the small capability got through while the bulk ran"
        );
        assert!(
            worst < bulk / 2,
            "a small message waited {worst:?} while the bulk took {bulk:?}"
        );
        a.disconnect(DisconnectReason::Requested).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn no_shared_capability_is_a_useless_peer_on_both_sides() {
    let (a, b) = pair(
        config(vec![protocol("x", 1, 1)]),
        config(vec![protocol("y", 1, 1)]),
    )
    .await;
    assert!(matches!(a, Err(PeerError::UselessPeer)), "{a:?}");
    assert!(matches!(b, Err(PeerError::UselessPeer)), "{b:?}");
}

/// A remote driven by hand: the handshake and Hello done, then whatever the test sends.
async fn raw_remote(
    config: PeerConfig,
) -> (
    RlpxStream<TcpStream>,
    tokio::task::JoinHandle<Result<Peer, PeerError>>,
) {
    let (ka, kb) = (SecretKey::random(&mut OsRng), SecretKey::random(&mut OsRng));
    let b_id = NodeId::from_public_key(&kb.public_key());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        Peer::accept(socket, kb, config).await
    });
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut raw = RlpxStream::connect(socket, ka.clone(), b_id).await.unwrap();
    let hello = Hello {
        protocol_version: 5,
        client_id: "raw".into(),
        capabilities: vec![Capability {
            name: "test".into(),
            version: 1,
        }],
        listen_port: 0,
        node_id: NodeId::from_public_key(&ka.public_key()),
    };
    let mut data = BytesMut::new();
    hello.encode(&mut data);
    let mut frame = BytesMut::new();
    p2p::encode_message(id::HELLO, &data, false, &mut frame);
    raw.send(&frame).await.unwrap();
    let their = raw.recv().await.unwrap();
    assert_eq!(
        p2p::decode_message(&their, false, 4096).unwrap().0,
        id::HELLO
    );
    (raw, server)
}

async fn raw_send(raw: &mut RlpxStream<TcpStream>, msg: u64, data: &[u8]) {
    let mut frame = BytesMut::new();
    p2p::encode_message(msg, data, true, &mut frame);
    raw.send(&frame).await.unwrap();
}

/// The next message the raw remote receives that is not a Ping.
async fn raw_recv(raw: &mut RlpxStream<TcpStream>) -> (u64, Vec<u8>) {
    loop {
        let frame = raw.recv().await.unwrap();
        let (msg, data) = p2p::decode_message(&frame, true, MAX_MESSAGE_LEN).unwrap();
        if msg != id::PING {
            return (msg, data);
        }
    }
}

#[tokio::test]
async fn pings_are_answered_and_a_silent_remote_times_out() {
    let quick = PeerConfig {
        ping_interval: Duration::from_millis(100),
        ping_timeout: Duration::from_millis(250),
        ..config(vec![protocol("test", 1, 2)])
    };
    let (mut raw, server) = raw_remote(quick).await;
    let peer = server.await.unwrap().unwrap();
    // Our Ping is answered.
    raw_send(&mut raw, id::PING, &p2p::EMPTY_LIST).await;
    assert_eq!(
        tokio::time::timeout(LIMIT, raw_recv(&mut raw))
            .await
            .unwrap()
            .0,
        id::PONG
    );
    // Its Pings are not: it gives up with PingTimeout.
    let (msg, data) = tokio::time::timeout(LIMIT, raw_recv(&mut raw))
        .await
        .unwrap();
    assert_eq!(msg, id::DISCONNECT);
    assert_eq!(
        DisconnectReason::decode(&data).unwrap(),
        DisconnectReason::PingTimeout
    );
    assert_eq!(
        peer.closed().await,
        Closed::Local(DisconnectReason::PingTimeout)
    );
}

/// Sends `msg` after the Hellos; the session must end with a protocol breach on both
/// sides.
async fn breach_by(msg: u64) {
    let (mut raw, server) = raw_remote(config(vec![protocol("test", 1, 2)])).await;
    let peer = server.await.unwrap().unwrap();
    raw_send(&mut raw, msg, b"\xc0").await;
    let (got, data) = tokio::time::timeout(LIMIT, raw_recv(&mut raw))
        .await
        .unwrap();
    assert_eq!(got, id::DISCONNECT);
    assert_eq!(
        DisconnectReason::decode(&data).unwrap(),
        DisconnectReason::ProtocolBreach
    );
    assert_eq!(
        peer.closed().await,
        Closed::Local(DisconnectReason::ProtocolBreach)
    );
}

#[tokio::test]
async fn an_unknown_message_id_is_a_protocol_breach() {
    // test/1 holds ids 0x10 and 0x11; 0x12 belongs to nothing.
    breach_by(0x12).await;
}

#[tokio::test]
async fn a_second_hello_is_a_protocol_breach() {
    breach_by(id::HELLO).await;
}
