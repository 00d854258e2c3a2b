//! The host over the memory and TCP transports.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use mycel_core::{
    Keypair, Multiaddr, NetworkError, NetworkEvent, PeerId, ProtocolId, addr::with_peer_id,
    stream_handler,
};
use mycel_host::{BuildError, Host, HostBuilder, Network};
use mycel_memory::{MemoryHub, MemoryTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UPPER: ProtocolId = ProtocolId::from_static("/test/upper/1.0.0");

fn stack(builder: HostBuilder) -> HostBuilder {
    builder
        .with_security(|keypair, muxers| {
            Arc::new(mycel_noise::Config::new(keypair.clone()).with_muxers(muxers.to_vec()))
        })
        .with_muxer(mycel_yamux::Config::default())
        .with_muxer(mycel_mplex::Config::default())
}

async fn memory_host(hub: &MemoryHub) -> Host {
    let host = stack(Host::builder())
        .with_transport(MemoryTransport::with_hub(hub.clone()))
        .listen_on("/memory/0".parse().unwrap())
        .build()
        .await
        .expect("build");
    host.set_stream_handler(UPPER, stream_handler(serve_upper));
    host
}

/// The next `Identified` event: (peer, protocols, observed address).
async fn identified(
    events: &mut futures::stream::BoxStream<'static, NetworkEvent>,
) -> (PeerId, Vec<String>, Option<Multiaddr>) {
    loop {
        if let Some(NetworkEvent::Identified {
            peer,
            protocols,
            observed_addr,
            ..
        }) = next(events).await
        {
            return (peer, protocols, observed_addr);
        }
    }
}

/// The next event, failing the test instead of hanging if none comes.
async fn next(
    events: &mut futures::stream::BoxStream<'static, NetworkEvent>,
) -> Option<NetworkEvent> {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
}

async fn serve_upper(mut s: mycel_core::NegotiatedStream) {
    let mut buf = Vec::new();
    if s.io.read_to_end(&mut buf).await.is_ok() {
        let _ = s.io.write_all(&buf.to_ascii_uppercase()).await;
    }
    let _ = s.io.shutdown().await;
}

/// What a protocol crate does: it only sees `&dyn Network`.
async fn upper(net: &dyn Network, peer: PeerId, text: &str) -> Result<String, NetworkError> {
    let mut stream = net.new_stream(peer, &[UPPER]).await?;
    stream.io.write_all(text.as_bytes()).await.unwrap();
    stream.io.shutdown().await.unwrap();
    let mut out = String::new();
    stream.io.read_to_string(&mut out).await.unwrap();
    Ok(out)
}

#[tokio::test]
async fn new_stream_dials_from_the_peer_store() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    // Unknown peer: a typed error, no dial.
    assert!(matches!(
        upper(&a, b.peer_id(), "x").await,
        Err(NetworkError::NoAddresses(p)) if p == b.peer_id()
    ));
    a.add_addrs(b.peer_id(), b.listen_addrs());
    assert_eq!(upper(&a, b.peer_id(), "mycel").await.unwrap(), "MYCEL");
    assert_eq!(a.connected_peers(), vec![b.peer_id()]);
    assert_eq!(b.connected_peers(), vec![a.peer_id()]);
    // b never learnt a's address, but the connection exists: streams flow back.
    assert_eq!(upper(&b, a.peer_id(), "back").await.unwrap(), "BACK");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn connect_by_p2p_address_remembers_it() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    let addr = with_peer_id(&b.listen_addrs()[0], &b.peer_id()).unwrap();
    assert_eq!(a.connect(&addr).await.unwrap(), b.peer_id());
    assert_eq!(a.addrs_of(&b.peer_id()), b.listen_addrs());
    a.disconnect(&b.peer_id()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !a.connected_peers().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still connected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Reconnects from the store.
    assert_eq!(upper(&a, b.peer_id(), "again").await.unwrap(), "AGAIN");
}

#[tokio::test]
async fn new_stream_redials_after_the_remote_closed_the_connection() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    a.add_addrs(b.peer_id(), b.listen_addrs());
    assert_eq!(upper(&a, b.peer_id(), "one").await.unwrap(), "ONE");
    let first = a.switch().connection(&b.peer_id()).unwrap().id();
    b.disconnect(&a.peer_id()).await;
    // Whether or not a has noticed yet, the next stream gets through on a new connection.
    assert_eq!(upper(&a, b.peer_id(), "two").await.unwrap(), "TWO");
    assert_ne!(a.switch().connection(&b.peer_id()).unwrap().id(), first);
}

#[tokio::test]
async fn removed_handler_refuses_the_protocol() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    a.add_addrs(b.peer_id(), b.listen_addrs());
    assert_eq!(upper(&a, b.peer_id(), "on").await.unwrap(), "ON");
    b.remove_stream_handler(&UPPER);
    assert!(!b.protocols().contains(&UPPER));
    let err = a
        .new_stream(b.peer_id(), &[UPPER, ProtocolId::from_static("/x/1")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetworkError::ProtocolNotSupported { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn events_stream_reports_what_happens() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    let mut events = a.events();
    let extra = a.listen_on(&"/memory/0".parse().unwrap()).await.unwrap();
    assert!(
        matches!(next(&mut events).await, Some(NetworkEvent::ListenAddrAdded(x)) if x == extra)
    );
    a.add_addrs(b.peer_id(), b.listen_addrs());
    upper(&a, b.peer_id(), "e").await.unwrap();
    assert!(matches!(
        next(&mut events).await,
        Some(NetworkEvent::Connected { peer, .. }) if peer == b.peer_id()
    ));
    // Identify runs on the new connection.
    match next(&mut events).await {
        Some(NetworkEvent::Identified {
            peer,
            agent_version,
            protocols,
            listen_addrs,
            ..
        }) => {
            assert_eq!(peer, b.peer_id());
            assert_eq!(agent_version, mycel_identify::AGENT_VERSION);
            assert!(
                protocols.contains(&UPPER.as_str().to_string()),
                "{protocols:?}"
            );
            assert_eq!(listen_addrs, b.listen_addrs());
        }
        other => panic!("expected Identified, got {other:?}"),
    }
    b.close().await;
    assert!(matches!(
        next(&mut events).await,
        Some(NetworkEvent::Disconnected { peer, .. }) if peer == b.peer_id()
    ));
    a.close().await;
    // Closing expires both listen addresses, then ends the stream.
    let mut expired = Vec::new();
    while let Some(event) = next(&mut events).await {
        if let NetworkEvent::ListenAddrExpired(addr) = event {
            expired.push(addr);
        }
    }
    assert_eq!(expired.len(), 2, "{expired:?}");
}

#[tokio::test]
async fn handlers_changed_together_go_out_in_one_push() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    let mut a_events = a.events();
    let addr = with_peer_id(&b.listen_addrs()[0], &b.peer_id()).unwrap();
    a.connect(&addr).await.unwrap();
    identified(&mut a_events).await;
    let news: Vec<ProtocolId> = (0..3)
        .map(|i| ProtocolId::new(format!("/test/batch/{i}")).unwrap())
        .collect();
    for protocol in &news {
        b.set_stream_handler(protocol.clone(), stream_handler(serve_upper));
    }
    let (peer, protocols, _) = identified(&mut a_events).await;
    assert_eq!(peer, b.peer_id());
    for protocol in &news {
        assert!(
            protocols.contains(&protocol.as_str().to_string()),
            "{protocols:?}"
        );
    }
    // Nothing more follows: the three changes were one push.
    let more = tokio::time::timeout(Duration::from_millis(300), async {
        while let Some(event) = a_events.next().await {
            if matches!(event, NetworkEvent::Identified { .. }) {
                return;
            }
        }
    })
    .await;
    assert!(more.is_err(), "a second push arrived");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn identify_fills_the_peer_store_both_ways_and_pushes_changes() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = memory_host(&hub).await;
    let mut a_events = a.events();
    let mut b_events = b.events();
    let addr = with_peer_id(&b.listen_addrs()[0], &b.peer_id()).unwrap();
    a.connect(&addr).await.unwrap();
    // Both sides identify each other.
    let (peer, _, observed) = identified(&mut a_events).await;
    assert_eq!(peer, b.peer_id());
    assert!(observed.is_some(), "b reports the address it sees a at");
    let (peer, _, _) = identified(&mut b_events).await;
    assert_eq!(peer, a.peer_id());
    let record = a.peer_record(&b.peer_id()).unwrap();
    assert_eq!(
        record.agent_version.as_deref(),
        Some(mycel_identify::AGENT_VERSION)
    );
    assert_eq!(record.public_key, Some(b.keypair().public()));
    assert!(record.protocols.contains(&"/ipfs/id/1.0.0".to_string()));

    // b serves a new protocol: a hears of it by push.
    const NEW: ProtocolId = ProtocolId::from_static("/test/new/1.0.0");
    b.set_stream_handler(NEW, stream_handler(serve_upper));
    let (peer, protocols, _) = identified(&mut a_events).await;
    assert_eq!(peer, b.peer_id());
    assert!(
        protocols.contains(&NEW.as_str().to_string()),
        "{protocols:?}"
    );
    assert!(
        a.peer_record(&b.peer_id())
            .unwrap()
            .protocols
            .contains(&NEW.as_str().to_string())
    );
    // So does a new listen address.
    let extra = b.listen_on(&"/memory/0".parse().unwrap()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !a.addrs_of(&b.peer_id()).contains(&extra) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no push of the new address"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // An explicit request gets the same.
    let info = a.identify(b.peer_id()).await.unwrap();
    assert!(info.protocols.contains(&NEW.as_str().to_string()));
}

#[tokio::test]
async fn an_address_two_peers_observe_becomes_a_candidate() {
    // Dialing from the listening port (port reuse), so every peer sees the same address.
    let reuse = mycel_tcp::TcpConfig {
        port_reuse: true,
        ..Default::default()
    };
    let a = stack(Host::builder())
        .with_transport(mycel_tcp::TcpTransport::new(reuse))
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .build()
        .await
        .unwrap();
    let mut events = a.events();
    let others = [tcp_host().await, tcp_host().await];
    for other in &others {
        let addr = with_peer_id(&other.listen_addrs()[0], &other.peer_id()).unwrap();
        a.connect(&addr).await.unwrap();
    }
    let candidate = loop {
        if let Some(NetworkEvent::ExternalAddrCandidate(addr)) = next(&mut events).await {
            break addr;
        }
    };
    assert_eq!(candidate, a.listen_addrs()[0]);
    assert_eq!(a.external_addr_candidates(), vec![candidate]);
}

async fn tcp_host() -> Host {
    stack(Host::builder())
        .with_transport(mycel_tcp::TcpTransport::default())
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn ping_latency_reaches_the_peer_store() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    // No handler registered: every host answers ping unless built without it.
    let b = memory_host(&hub).await;
    a.add_addrs(b.peer_id(), b.listen_addrs());
    mycel_ping::ping_peer(&a, b.peer_id()).await.unwrap();
    let record = a.peer_record(&b.peer_id()).unwrap();
    assert!(record.latency.is_some());
    assert_eq!(record.addrs, b.listen_addrs());
}

#[tokio::test]
async fn a_host_built_without_ping_refuses_it() {
    let hub = MemoryHub::new();
    let a = memory_host(&hub).await;
    let b = stack(Host::builder().with_ping(false))
        .with_transport(MemoryTransport::with_hub(hub.clone()))
        .listen_on("/memory/0".parse().unwrap())
        .build()
        .await
        .unwrap();
    assert!(!b.protocols().contains(&mycel_ping::PROTOCOL_ID));
    assert!(a.protocols().contains(&mycel_ping::PROTOCOL_ID));
    a.add_addrs(b.peer_id(), b.listen_addrs());
    let err = mycel_ping::ping_peer(&a, b.peer_id()).await.unwrap_err();
    // One protocol offered: negotiation is lazy, so the refusal surfaces on the read.
    assert!(
        matches!(&err, mycel_ping::PingError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData),
        "{err:?}"
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn build_fails_clearly() {
    let err = Host::builder().build().await.unwrap_err();
    assert!(matches!(err, BuildError::NoTransport));
    let err = Host::builder()
        .with_transport(MemoryTransport::default())
        .with_muxer(mycel_yamux::Config::default())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::NoSecurity));
    let err = stack(Host::builder())
        .with_transport(MemoryTransport::default())
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/ip4/127.0.0.1/tcp/0"), "{err}");
}

#[tokio::test]
async fn keypair_given_is_the_identity() {
    let keypair = Keypair::generate();
    let host = stack(Host::builder().with_keypair(keypair.clone()))
        .with_transport(MemoryTransport::default())
        .build()
        .await
        .unwrap();
    assert_eq!(host.peer_id(), keypair.public().to_peer_id());
    assert!(host.listen_addrs().is_empty());
}

#[test]
fn close_leaves_no_task_running() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let baseline = metrics.num_alive_tasks();
        let a = stack(Host::builder())
            .with_transport(mycel_tcp::TcpTransport::default())
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .await
            .unwrap();
        let b = stack(Host::builder())
            .with_transport(mycel_tcp::TcpTransport::default())
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .await
            .unwrap();
        a.set_stream_handler(UPPER, stream_handler(serve_upper));
        b.set_stream_handler(UPPER, stream_handler(serve_upper));
        let addr: Multiaddr = with_peer_id(&b.listen_addrs()[0], &b.peer_id()).unwrap();
        a.connect(&addr).await.unwrap();
        assert_eq!(upper(&a, b.peer_id(), "tcp").await.unwrap(), "TCP");
        // A stream held open by the remote handler while we close.
        let mut held = a.new_stream(b.peer_id(), &[UPPER]).await.unwrap();
        held.io.write_all(b"pending").await.unwrap();
        held.io.flush().await.unwrap();
        assert!(metrics.num_alive_tasks() > baseline);

        let closing = async { tokio::join!(a.close(), b.close()) };
        tokio::time::timeout(Duration::from_secs(10), closing)
            .await
            .expect("close finishes");
        drop(held);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let alive = metrics.num_alive_tasks();
            if alive <= baseline {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{alive} tasks alive, {baseline} before"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn dropping_the_last_host_without_close_ends_everything() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let baseline = metrics.num_alive_tasks();
        let hub = MemoryHub::new();
        let a = memory_host(&hub).await;
        let b = memory_host(&hub).await;
        let addr = with_peer_id(&b.listen_addrs()[0], &b.peer_id()).unwrap();
        a.connect(&addr).await.unwrap();
        // Identify ran both ways, so the hosts' own tasks and handlers are in play.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while a
            .peer_record(&b.peer_id())
            .and_then(|r| r.agent_version)
            .is_none()
        {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(metrics.num_alive_tasks() > baseline);
        drop(a);
        drop(b);
        mycel_core::testing::eventually(
            "every task ends with its handles",
            Duration::from_secs(5),
            || metrics.num_alive_tasks() <= baseline,
        )
        .await;
    });
}
