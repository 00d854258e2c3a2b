//! A mycel host and a rust-libp2p 0.57 node over TCP on 127.0.0.1, each direction and
//! each muxer: connect, ping both ways, a 10 MiB perf round trip both ways, an unknown
//! protocol that fails cleanly on both sides without harming the connection, and
//! identify both ways (with a push from mycel).

mod common;

use common::{bounded_by, each_muxer, rust_muxer, to_mycel, to_rust};
use std::time::Duration;

use libp2p::StreamProtocol;
use mycel::core::record::PeerRecordFormat;
use mycel::{DefaultStack, Host, Muxer, Network, NetworkError, PeerId, ProtocolId, perf, ping};
use mycel_interop::rust_node::{
    RUST_AGENT, RustEvent, RustIdentified, RustNode, RustOptions, perf_client,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEN_MIB: u64 = 10 * 1024 * 1024;
const TEST_LIMIT: Duration = Duration::from_secs(60);
const EVENT_LIMIT: Duration = Duration::from_secs(10);
const UNKNOWN: &str = "/mycel/interop/unknown/1.0.0";

async fn mycel_host(muxer: Muxer) -> Host {
    let host = Host::builder()
        .with_tcp_noise(&[muxer])
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .build()
        .await
        .expect("mycel host");
    host.set_stream_handler(perf::PROTOCOL_ID, perf::handler());
    host
}

fn muxer_id(muxer: Muxer) -> ProtocolId {
    match muxer {
        Muxer::Yamux => mycel::yamux::PROTOCOL_ID,
        Muxer::Mplex => mycel::mplex::PROTOCOL_ID,
    }
}

/// rust-libp2p's ping behaviour pings every connected peer: wait for its verdict on mycel.
async fn rust_pinged(rust: &mut RustNode, mycel: PeerId) -> Result<Duration, String> {
    let mycel = to_rust(mycel);
    rust.wait_for(EVENT_LIMIT, |e| match e {
        RustEvent::Ping { peer, result } if *peer == mycel => Some(result.clone()),
        _ => None,
    })
    .await
    .unwrap_or_else(|| Err("no ping event from rust-libp2p".into()))
}

/// What rust-libp2p last learnt of `mycel` by identify, once `accept` likes it.
async fn rust_identified(
    rust: &mut RustNode,
    mycel: PeerId,
    accept: impl Fn(&RustIdentified) -> bool,
) -> RustIdentified {
    let mycel = to_rust(mycel);
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    loop {
        let seen = rust.identified.lock().unwrap().get(&mycel).cloned();
        if let Some(seen) = seen.as_ref().filter(|s| accept(s)) {
            return seen.clone();
        }
        if tokio::time::Instant::now() > deadline {
            let mut events = Vec::new();
            while let Ok(e) = rust.events.try_recv() {
                events.push(format!("{e:?}"));
            }
            panic!(
                "rust-libp2p never identified mycel as expected; last seen {seen:?}; events {events:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Everything both directions share once a connection exists.
async fn exercise(host: &Host, rust: &mut RustNode) {
    let rust_peer = to_mycel(rust.peer_id);
    let mycel_peer = host.peer_id();

    // Ping, each way.
    let rtt = ping::ping_peer(host, rust_peer)
        .await
        .expect("mycel pings rust");
    assert!(rtt > Duration::ZERO);
    let rtt = rust_pinged(rust, mycel_peer)
        .await
        .expect("rust pings mycel");
    assert!(rtt > Duration::ZERO);

    // perf, mycel client against the rust server.
    let stats = perf::run(
        host,
        rust_peer,
        perf::RunParams {
            upload_bytes: TEN_MIB,
            download_bytes: TEN_MIB,
        },
    )
    .await
    .expect("mycel perf against rust");
    assert_eq!(
        (stats.upload_bytes, stats.download_bytes),
        (TEN_MIB, TEN_MIB)
    );

    // perf, rust client against the mycel server.
    let stream = rust
        .control
        .open_stream(to_rust(mycel_peer), mycel_interop::rust_node::PERF)
        .await
        .expect("rust opens a perf stream");
    let received = perf_client(stream, TEN_MIB, TEN_MIB)
        .await
        .expect("rust perf against mycel");
    assert_eq!(received, TEN_MIB);

    // Unknown protocol from mycel: several offered -> typed error; one (lazy) -> the
    // first read fails.
    let unknown = ProtocolId::new(UNKNOWN).unwrap();
    let other = ProtocolId::new("/mycel/interop/unknown/2.0.0").unwrap();
    match host.new_stream(rust_peer, &[unknown.clone(), other]).await {
        Err(NetworkError::ProtocolNotSupported { peer, .. }) => assert_eq!(peer, rust_peer),
        other => panic!("expected ProtocolNotSupported, got {other:?}"),
    }
    let mut lazy = host.new_stream(rust_peer, &[unknown]).await.unwrap();
    let _ = lazy.io.write_all(b"hello?").await;
    let _ = lazy.io.flush().await;
    let mut buf = [0; 8];
    assert!(lazy.io.read(&mut buf).await.is_err());

    // Unknown protocol from rust-libp2p: it gets "na".
    match rust
        .control
        .open_stream(to_rust(mycel_peer), StreamProtocol::new(UNKNOWN))
        .await
    {
        Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(p)) => {
            assert_eq!(p.as_ref(), UNKNOWN)
        }
        Err(e) => panic!("expected UnsupportedProtocol, got {e}"),
        Ok(_) => panic!("mycel accepted a protocol it does not serve"),
    }

    // Identify, each way: mycel learnt rust-libp2p's agent and protocols...
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    loop {
        let record = host.peer_record(&rust_peer);
        if let Some(agent) = record.as_ref().and_then(|r| r.agent_version.clone()) {
            assert_eq!(agent, RUST_AGENT);
            let protocols = record.unwrap().protocols;
            assert!(
                protocols.contains(&"/ipfs/ping/1.0.0".to_string()),
                "{protocols:?}"
            );
            assert!(
                protocols.contains(&"/ipfs/id/1.0.0".to_string()),
                "{protocols:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mycel never identified rust-libp2p"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let info = host
        .identify(rust_peer)
        .await
        .expect("mycel identifies rust");
    assert_eq!(info.agent_version, RUST_AGENT);
    assert!(
        info.listen_addrs.contains(&rust.listen_addr),
        "{:?}",
        info.listen_addrs
    );
    assert!(host.addrs_of(&rust_peer).contains(&rust.listen_addr));
    let conn = host.switch().connection(&rust_peer).unwrap();
    assert_eq!(info.observed_addr.as_ref(), Some(conn.local_addr()));
    // ...and rust-libp2p learnt mycel's.
    let seen = rust_identified(rust, mycel_peer, |_| true).await;
    assert_eq!(seen.agent_version, mycel::identify::AGENT_VERSION);
    for p in [
        "/ipfs/ping/1.0.0",
        "/perf/1.0.0",
        "/ipfs/id/1.0.0",
        "/ipfs/id/push/1.0.0",
    ] {
        assert!(
            seen.protocols.contains(&p.to_string()),
            "{:?}",
            seen.protocols
        );
    }
    assert_eq!(seen.listen_addrs, host.listen_addrs());
    assert_eq!(&seen.observed_addr, conn.remote_addr());
    // A new protocol on mycel reaches rust-libp2p by push.
    let fresh = ProtocolId::from_static("/mycel/interop/fresh/1.0.0");
    host.set_stream_handler(fresh.clone(), mycel::ping::handler());
    let fresh_name = fresh.as_str().to_string();
    rust_identified(rust, mycel_peer, |seen| {
        seen.protocols.contains(&fresh_name)
    })
    .await;

    // The connection survived all of it.
    assert_eq!(host.connected_peers(), vec![rust_peer]);
    ping::ping_peer(host, rust_peer)
        .await
        .expect("mycel still pings rust");
    rust_pinged(rust, mycel_peer)
        .await
        .expect("rust still pings mycel");
    while let Ok(event) = rust.events.try_recv() {
        assert!(
            !matches!(event, RustEvent::Closed(_)),
            "rust-libp2p saw the connection close"
        );
    }
}

async fn mycel_dials_rust(muxer: Muxer) {
    let mut rust = RustNode::start(rust_muxer(muxer)).await;
    let _perf = rust.serve_perf();
    let host = mycel_host(muxer).await;
    let peer = host
        .connect(&rust.p2p_addr())
        .await
        .expect("mycel dials rust");
    assert_eq!(peer, to_mycel(rust.peer_id));
    let conn = host.switch().connection(&peer).unwrap();
    assert_eq!(conn.direction(), mycel::Direction::Outbound);
    assert_eq!(conn.muxer_protocol(), &muxer_id(muxer));
    exercise(&host, &mut rust).await;
    host.close().await;
}

async fn rust_dials_mycel(muxer: Muxer) {
    let mut rust = RustNode::start(rust_muxer(muxer)).await;
    let _perf = rust.serve_perf();
    let host = mycel_host(muxer).await;
    let addr = mycel::core::addr::with_peer_id(&host.listen_addrs()[0], &host.peer_id()).unwrap();
    rust.dial(addr).await.expect("rust dials mycel");
    let rust_peer = to_mycel(rust.peer_id);
    // The inbound connection is registered once mycel's side of the upgrade is done.
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    while !host.switch().is_connected(&rust_peer) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mycel never saw the connection"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let conn = host.switch().connection(&rust_peer).unwrap();
    assert_eq!(conn.direction(), mycel::Direction::Inbound);
    assert_eq!(conn.muxer_protocol(), &muxer_id(muxer));
    exercise(&host, &mut rust).await;
    host.close().await;
}

async fn bounded(test: impl std::future::Future<Output = ()>) {
    bounded_by(TEST_LIMIT, test).await;
}

each_muxer!(mycel_dials_rust, rust_dials_mycel);

/// rust-libp2p's ping handler gives up on a connection once its own ping there was
/// refused, and then never answers the remote's pings on it. A host that did not serve
/// ping therefore saw its own ping hang whenever rust's ping came first. Every host now
/// serves ping without being asked: rust's ping is answered, and ours is too. (Built
/// `with_ping(false)`, this fails both ways: rust's ping is refused, ours times out.)
async fn rust_pings_first_then_mycel_pings(muxer: Muxer) {
    let mut rust = RustNode::start(rust_muxer(muxer)).await;
    // A host with no handler registered by the application.
    let host = Host::builder()
        .with_tcp_noise(&[muxer])
        .build()
        .await
        .expect("mycel host");
    let rust_peer = host
        .connect(&rust.p2p_addr())
        .await
        .expect("mycel dials rust");
    // rust-libp2p pings as soon as the connection is up; wait for its verdict first.
    rust_pinged(&mut rust, host.peer_id())
        .await
        .expect("rust-libp2p's ping is answered");
    let rtt = ping::ping_peer_with_timeout(&host, rust_peer, Duration::from_secs(5))
        .await
        .expect("rust-libp2p answers mycel's ping after its own");
    assert!(rtt > Duration::ZERO);
    host.close().await;
}

each_muxer!(rust_pings_first_then_mycel_pings);

/// Signed peer records in identify, both ways. rust-libp2p sends its record in the
/// format of RFC 0003's text (domain `libp2p-routing-state`): mycel checks it and keeps
/// its addresses. mycel's record in that format is accepted by rust-libp2p; in the
/// format go and js use (mycel's default) rust-libp2p cannot check it and falls back to
/// the unsigned addresses.
async fn signed_peer_records(muxer: Muxer) {
    let mut rust = RustNode::start_with(
        rust_muxer(muxer),
        RustOptions {
            signed_peer_record: true,
            ..RustOptions::default()
        },
    )
    .await;
    for (format, rust_accepts) in [
        (PeerRecordFormat::Legacy, true),
        (PeerRecordFormat::Standard, false),
    ] {
        let host = Host::builder()
            .with_signed_peer_record(Some(format))
            .with_tcp_noise(&[muxer])
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .await
            .expect("mycel host");
        let rust_peer = host.connect(&rust.p2p_addr()).await.expect("dial rust");
        let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
        let signed = loop {
            if let Some(signed) = host.peer_record(&rust_peer).and_then(|r| r.signed_record) {
                break signed;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mycel never took rust-libp2p's signed record"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(signed.format(), PeerRecordFormat::Legacy);
        assert_eq!(signed.record().peer_id, rust_peer);
        assert!(
            signed.record().addrs.contains(&rust.listen_addr),
            "{signed:?}"
        );
        assert_eq!(host.addrs_of(&rust_peer)[0], rust.listen_addr);

        let seen = rust_identified(&mut rust, host.peer_id(), |_| true).await;
        assert_eq!(seen.signed_peer_record, rust_accepts, "{format:?}");
        assert_eq!(seen.listen_addrs, host.listen_addrs());
        host.close().await;
    }
}

each_muxer!(signed_peer_records);
