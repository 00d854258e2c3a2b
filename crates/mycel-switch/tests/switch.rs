//! The switch over the memory transport with Noise and both muxers.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use mycel_core::{
    Direction, Keypair, Listener, Multiaddr, MuxerUpgrade, NetworkError, NetworkEvent, PeerId,
    ProtocolId, Transport, TransportExt, addr::with_peer_id, stream_handler,
};
use mycel_memory::{MemoryHub, MemoryTransport};
use mycel_switch::{ConnectError, DialError, Switch, SwitchConfig, Upgrader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO: ProtocolId = ProtocolId::from_static("/test/echo/1.0.0");
const OTHER: ProtocolId = ProtocolId::from_static("/test/other/1.0.0");

struct Node {
    switch: Switch,
    addr: Multiaddr,
}

impl Node {
    fn peer(&self) -> PeerId {
        self.switch.local_peer_id()
    }

    fn p2p_addr(&self) -> Multiaddr {
        with_peer_id(&self.addr, &self.peer()).unwrap()
    }
}

fn yamux() -> Arc<dyn MuxerUpgrade> {
    Arc::new(mycel_yamux::Config::default())
}

fn mplex() -> Arc<dyn MuxerUpgrade> {
    Arc::new(mycel_mplex::Config::default())
}

/// A switch on `hub` listening on a fresh memory address; `inline` offers the muxers
/// inside the Noise handshake too.
async fn node_with(
    hub: &MemoryHub,
    muxers: Vec<Arc<dyn MuxerUpgrade>>,
    inline: bool,
    config: SwitchConfig,
) -> Node {
    let keypair = Keypair::generate();
    let mut noise = mycel_noise::Config::new(keypair.clone());
    if inline {
        noise = noise.with_muxers(muxers.iter().map(|m| m.protocol()).collect());
    }
    let switch = Switch::new(
        keypair.public().to_peer_id(),
        vec![MemoryTransport::with_hub(hub.clone()).boxed()],
        Upgrader::new(Arc::new(noise), muxers),
        config,
    );
    switch.set_stream_handler(
        ECHO,
        stream_handler(|mut s| async move {
            let mut buf = vec![0; 4096];
            loop {
                match s.io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        let _ = s.io.flush().await;
                    }
                }
            }
            let _ = s.io.shutdown().await;
        }),
    );
    let addr = switch
        .listen(&"/memory/0".parse().unwrap())
        .await
        .expect("listen");
    Node { switch, addr }
}

async fn node(hub: &MemoryHub) -> Node {
    node_with(hub, vec![yamux(), mplex()], true, SwitchConfig::default()).await
}

async fn echo_round(switch: &Switch, peer: PeerId, protocols: &[ProtocolId]) -> Vec<u8> {
    let mut stream = switch.open_stream(peer, protocols).await.expect("stream");
    stream.io.write_all(b"hello switch").await.unwrap();
    stream.io.shutdown().await.unwrap();
    let mut back = Vec::new();
    stream.io.read_to_end(&mut back).await.unwrap();
    back
}

/// The next event, failing the test instead of hanging if none comes.
async fn next(
    events: &mut futures::stream::BoxStream<'static, NetworkEvent>,
) -> Option<NetworkEvent> {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[tokio::test]
async fn dial_by_p2p_addr_opens_negotiated_streams() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    let conn = a.switch.dial_addr(&b.p2p_addr()).await.expect("dial");
    assert_eq!(conn.peer(), b.peer());
    assert_eq!(conn.direction(), Direction::Outbound);
    assert_eq!(conn.muxer_protocol().as_str(), "/yamux/1.0.0");
    // Lazy (one protocol) and full (several) negotiation.
    assert_eq!(
        echo_round(&a.switch, b.peer(), &[ECHO]).await,
        b"hello switch"
    );
    assert_eq!(
        echo_round(&a.switch, b.peer(), &[OTHER, ECHO]).await,
        b"hello switch"
    );
    // The listener sees the connection too, and can open streams back.
    assert!(b.switch.is_connected(&a.peer()));
    assert_eq!(
        echo_round(&b.switch, a.peer(), &[ECHO]).await,
        b"hello switch"
    );
    a.switch.close().await;
    b.switch.close().await;
}

#[tokio::test]
async fn muxer_negotiated_with_multistream_when_not_in_handshake() {
    for (dialer, listener, expected) in [
        (
            vec![yamux(), mplex()],
            vec![mplex(), yamux()],
            "/yamux/1.0.0",
        ),
        (
            vec![mplex(), yamux()],
            vec![yamux(), mplex()],
            "/mplex/6.7.0",
        ),
        (vec![mplex()], vec![yamux(), mplex()], "/mplex/6.7.0"),
    ] {
        let hub = MemoryHub::new();
        let a = node_with(&hub, dialer, false, SwitchConfig::default()).await;
        let b = node_with(&hub, listener, false, SwitchConfig::default()).await;
        let conn = a.switch.dial_addr(&b.p2p_addr()).await.expect("dial");
        assert_eq!(conn.muxer_protocol().as_str(), expected);
        assert_eq!(
            echo_round(&a.switch, b.peer(), &[ECHO]).await,
            b"hello switch"
        );
        a.switch.close().await;
        b.switch.close().await;
    }
}

#[tokio::test]
async fn muxer_from_noise_extension_is_the_dialers_first_choice() {
    let hub = MemoryHub::new();
    let a = node_with(&hub, vec![mplex(), yamux()], true, SwitchConfig::default()).await;
    let b = node(&hub).await;
    let conn = a.switch.dial_addr(&b.p2p_addr()).await.expect("dial");
    assert_eq!(conn.muxer_protocol().as_str(), "/mplex/6.7.0");
    assert_eq!(
        echo_round(&a.switch, b.peer(), &[ECHO]).await,
        b"hello switch"
    );
}

#[tokio::test]
async fn unknown_protocol_gets_na_and_connection_lives_on() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    a.switch.dial_addr(&b.p2p_addr()).await.expect("dial");
    // Several protocols: a typed error naming them.
    match a.switch.open_stream(b.peer(), &[OTHER, OTHER]).await {
        Err(NetworkError::ProtocolNotSupported { peer, protocols }) => {
            assert_eq!(peer, b.peer());
            assert_eq!(protocols, vec![OTHER, OTHER]);
        }
        other => panic!("expected ProtocolNotSupported, got {other:?}"),
    }
    // One protocol (lazy): the refusal surfaces on the first read.
    let mut stream = a.switch.open_stream(b.peer(), &[OTHER]).await.unwrap();
    let _ = stream.io.write_all(b"x").await;
    let _ = stream.io.flush().await;
    let mut buf = [0; 1];
    assert!(stream.io.read(&mut buf).await.is_err());
    // Same connection still carries streams.
    assert_eq!(
        echo_round(&a.switch, b.peer(), &[ECHO]).await,
        b"hello switch"
    );
    assert_eq!(a.switch.connections().len(), 1);
}

#[tokio::test]
async fn concurrent_dials_to_one_peer_share_one_connection() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    let mut b_events = b.switch.events();
    let dials = (0..16).map(|_| a.switch.dial_peer(b.peer(), vec![b.addr.clone()]));
    let conns = futures::future::join_all(dials).await;
    let first = conns[0].as_ref().expect("dial").id();
    for conn in &conns {
        assert_eq!(conn.as_ref().expect("dial").id(), first);
    }
    assert_eq!(a.switch.connections().len(), 1);
    match next(&mut b_events).await {
        Some(NetworkEvent::Connected {
            peer, direction, ..
        }) => {
            assert_eq!(peer, a.peer());
            assert_eq!(direction, Direction::Inbound);
        }
        other => panic!("unexpected {other:?}"),
    }
    // A dial with a live connection returns it without dialing.
    let again = a.switch.dial_peer(b.peer(), Vec::new()).await.unwrap();
    assert_eq!(again.id(), first);
    assert_eq!(b.switch.connections().len(), 1);
}

#[tokio::test]
async fn concurrent_dials_from_many_tasks_share_one_attempt() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    let dials: Vec<_> = (0..16)
        .map(|_| {
            let switch = a.switch.clone();
            let (peer, addr) = (b.peer(), b.addr.clone());
            tokio::spawn(async move { switch.dial_peer(peer, vec![addr]).await.map(|c| c.id()) })
        })
        .collect();
    let mut ids = Vec::new();
    for dial in dials {
        ids.push(dial.await.unwrap().expect("dial"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(b.switch.connections().len(), 1);
}

#[tokio::test]
async fn connection_limits_refuse_extra_connections() {
    let hub = MemoryHub::new();
    let config = SwitchConfig::default().with_max_established_inbound(1);
    let b = node_with(&hub, vec![yamux()], true, config).await;
    let a1 = node(&hub).await;
    let a2 = node(&hub).await;
    a1.switch
        .dial_addr(&b.p2p_addr())
        .await
        .expect("first fits");
    // The second is dropped (before or right after its upgrade): it never becomes
    // usable, and b keeps one connection.
    let second = a2.switch.dial_addr(&b.p2p_addr()).await;
    if second.is_ok() {
        assert!(
            a2.switch
                .open_stream(b.peer(), &[ECHO, OTHER])
                .await
                .is_err(),
            "a refused connection carried a stream"
        );
    }
    assert_eq!(b.switch.connections().len(), 1);
    assert_eq!(b.switch.connected_peers(), vec![a1.peer()]);

    // Per peer: a second connection from the same peer is closed at once.
    let config = SwitchConfig::default().with_max_connections_per_peer(1);
    let c = node_with(&hub, vec![yamux()], true, config).await;
    let first = a1.switch.dial_addr(&c.p2p_addr()).await.unwrap();
    // Force a second connection by dialing c without the pool (an address without id).
    let _ = a1.switch.dial_addr(&c.addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while c.switch.connections().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "c kept two connections"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(a1.switch.connection(&c.peer()).unwrap().id(), first.id());
}

#[test]
fn dropping_the_switch_without_close_ends_its_tasks() {
    let rt = rt();
    rt.block_on(async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let baseline = metrics.num_alive_tasks();
        let hub = MemoryHub::new();
        let a = node(&hub).await;
        let b = node(&hub).await;
        a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
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

#[tokio::test]
async fn failed_dial_reports_every_address() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    let bad: Vec<Multiaddr> = ["/memory/999001", "/memory/999002", "/ip4/127.0.0.1/tcp/1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    match a.switch.dial_peer(b.peer(), bad.clone()).await {
        Err(DialError::Failed { errors }) => {
            let mut tried: Vec<_> = errors.iter().map(|(addr, _)| addr.clone()).collect();
            tried.sort_by_key(|a| a.to_string());
            let mut expected = bad.clone();
            expected.sort_by_key(|a| a.to_string());
            assert_eq!(tried, expected);
            assert!(
                errors
                    .iter()
                    .any(|(_, e)| matches!(**e, ConnectError::NoTransport))
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    // One good address among bad ones is enough.
    let mut mixed = bad;
    mixed.push(b.addr.clone());
    let conn = a.switch.dial_peer(b.peer(), mixed).await.expect("dial");
    assert_eq!(conn.peer(), b.peer());
    assert!(matches!(
        a.switch.dial_peer(a.peer(), vec![b.addr.clone()]).await,
        Err(DialError::DialSelf)
    ));
    let c = Keypair::generate().public().to_peer_id();
    assert!(matches!(
        a.switch.dial_peer(c, Vec::new()).await,
        Err(DialError::NoAddresses(p)) if p == c
    ));
}

#[tokio::test]
async fn dial_to_the_wrong_peer_fails_with_mismatch() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    let impostor = Keypair::generate().public().to_peer_id();
    let err = a
        .switch
        .dial_peer(impostor, vec![b.addr.clone()])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&impostor.to_string()), "{text}");
    assert!(text.contains(&b.peer().to_string()), "{text}");
    assert!(a.switch.connections().is_empty());
}

#[tokio::test]
async fn upgrade_times_out_on_a_silent_listener() {
    let hub = MemoryHub::new();
    let config = SwitchConfig::default().with_upgrade_timeout(Duration::from_millis(200));
    let a = node_with(&hub, vec![yamux()], true, config).await;
    // A raw listener that accepts and never answers.
    let mut raw = MemoryTransport::with_hub(hub.clone())
        .listen(&"/memory/0".parse().unwrap())
        .await
        .unwrap();
    let addr = raw.local_addr();
    let held = tokio::spawn(async move { raw.accept().await.map(|c| c.io) });
    let peer = Keypair::generate().public().to_peer_id();
    let started = tokio::time::Instant::now();
    let err = a.switch.dial_peer(peer, vec![addr]).await.unwrap_err();
    assert!(err.to_string().contains("upgrade timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
}

#[tokio::test]
async fn events_report_connections_and_listen_addresses() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    let mut a_events = a.switch.events();
    let mut b_events = b.switch.events();
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    assert!(matches!(
        next(&mut a_events).await,
        Some(NetworkEvent::Connected { peer, direction: Direction::Outbound, .. }) if peer == b.peer()
    ));
    assert!(matches!(
        next(&mut b_events).await,
        Some(NetworkEvent::Connected { peer, direction: Direction::Inbound, .. }) if peer == a.peer()
    ));
    a.switch.disconnect(&b.peer()).await;
    match next(&mut a_events).await {
        Some(NetworkEvent::Disconnected { peer, reason }) => {
            assert_eq!(peer, b.peer());
            assert!(reason.contains("closed locally"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        next(&mut b_events).await,
        Some(NetworkEvent::Disconnected { peer, .. }) if peer == a.peer()
    ));
    assert!(!a.switch.is_connected(&b.peer()));
    assert!(b.switch.connected_peers().is_empty());

    let extra = a
        .switch
        .listen(&"/memory/0".parse().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(next(&mut a_events).await, Some(NetworkEvent::ListenAddrAdded(x)) if x == extra)
    );
    assert!(a.switch.remove_listener(&extra));
    assert!(
        matches!(next(&mut a_events).await, Some(NetworkEvent::ListenAddrExpired(x)) if x == extra)
    );
    assert_eq!(a.switch.listen_addrs(), vec![a.addr.clone()]);
}

#[test]
fn close_ends_every_task() {
    let rt = rt();
    rt.block_on(async {
        let baseline = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let hub = MemoryHub::new();
        let a = node(&hub).await;
        let b = node(&hub).await;
        a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
        // A stream left open in a handler, and a user task that never ends.
        let mut open = a.switch.open_stream(b.peer(), &[ECHO]).await.unwrap();
        open.io.write_all(b"ping").await.unwrap();
        open.io.flush().await.unwrap();
        let mut buf = [0; 4];
        open.io.read_exact(&mut buf).await.unwrap();
        b.switch.spawn(futures::future::pending());
        assert!(a.switch.running_tasks() > 0);
        assert!(b.switch.running_tasks() > 0);

        let closing = async { tokio::join!(a.switch.close(), b.switch.close()) };
        tokio::time::timeout(Duration::from_secs(10), closing)
            .await
            .expect("close finishes although a task never ends");
        drop(open);
        assert_eq!(a.switch.running_tasks(), 0);
        assert_eq!(b.switch.running_tasks(), 0);
        assert!(a.switch.dial_addr(&b.p2p_addr()).await.is_err());
        // The muxers' own tasks end once their connections are gone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let alive = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
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

#[tokio::test]
async fn many_streams_in_both_directions() {
    let hub = MemoryHub::new();
    let a = node(&hub).await;
    let b = node(&hub).await;
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    let mut rounds = Vec::new();
    for i in 0..32 {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let switch = from.switch.clone();
        let peer = to.peer();
        rounds.push(tokio::spawn(async move {
            echo_round(&switch, peer, &[ECHO]).await
        }));
    }
    for round in rounds {
        assert_eq!(round.await.unwrap(), b"hello switch");
    }
}

#[tokio::test]
async fn outbound_streams_per_connection_are_capped() {
    let hub = MemoryHub::new();
    let config = SwitchConfig::default().with_max_outbound_streams_per_connection(2);
    let a = node_with(&hub, vec![yamux()], true, config).await;
    let b = node(&hub).await;
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    let first = a.switch.open_stream(b.peer(), &[ECHO]).await.unwrap();
    let _second = a.switch.open_stream(b.peer(), &[ECHO]).await.unwrap();
    assert_eq!(a.switch.connection(&b.peer()).unwrap().open_streams().1, 2);
    assert!(matches!(
        a.switch.open_stream(b.peer(), &[ECHO]).await,
        Err(NetworkError::LimitReached(_))
    ));
    drop(first);
    assert_eq!(
        echo_round(&a.switch, b.peer(), &[ECHO]).await,
        b"hello switch"
    );
}

#[tokio::test]
async fn inbound_streams_past_the_cap_are_reset_and_the_connection_lives() {
    let hub = MemoryHub::new();
    let config = SwitchConfig::default().with_max_inbound_streams_per_connection(2);
    let b = node_with(&hub, vec![yamux()], true, config).await;
    let a = node(&hub).await;
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    // Two streams held open by b's echo handler.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = a.switch.open_stream(b.peer(), &[ECHO]).await.unwrap();
        s.io.write_all(b"x").await.unwrap();
        s.io.flush().await.unwrap();
        let mut one = [0u8; 1];
        s.io.read_exact(&mut one).await.unwrap();
        held.push(s);
    }
    // A third is reset by b.
    let mut third = a.switch.open_stream(b.peer(), &[ECHO]).await.unwrap();
    let _ = third.io.write_all(b"x").await;
    let _ = third.io.flush().await;
    let mut one = [0u8; 1];
    let refused = tokio::time::timeout(Duration::from_secs(5), third.io.read(&mut one))
        .await
        .expect("the third stream ends");
    assert!(!matches!(refused, Ok(1)), "the third stream was served");
    // Freeing one lets the next through, on the same connection.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        echo_round(&a.switch, b.peer(), &[ECHO]).await,
        b"hello switch"
    );
    assert_eq!(a.switch.connections().len(), 1);
}

#[tokio::test]
async fn idle_connections_close_unless_kept_alive() {
    let hub = MemoryHub::new();
    let idle = SwitchConfig::default().with_idle_timeout(Some(Duration::from_millis(300)));
    let a = node_with(&hub, vec![yamux()], true, idle.clone()).await;
    let b = node_with(&hub, vec![yamux()], true, idle).await;
    let c = node(&hub).await;
    let mut events = a.switch.events();
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    a.switch.dial_addr(&c.p2p_addr()).await.unwrap();
    let _hold = a.switch.keep_alive(&c.peer()).expect("connected to c");
    // b goes idle and is closed; c is held.
    loop {
        match next(&mut events).await {
            Some(NetworkEvent::Disconnected { peer, reason }) => {
                assert_eq!(peer, b.peer());
                assert!(reason.contains("idle"), "{reason}");
                break;
            }
            Some(_) => continue,
            None => panic!("events ended"),
        }
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(a.switch.is_connected(&c.peer()));
    // A stream in use keeps a connection too.
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    let mut s = a.switch.open_stream(b.peer(), &[ECHO]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.io.write_all(b"still here").await.unwrap();
    s.io.flush().await.unwrap();
    let mut back = [0u8; 10];
    s.io.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"still here");
}

#[tokio::test]
async fn outbound_connection_limits_are_typed_errors() {
    let hub = MemoryHub::new();
    let config = SwitchConfig::default().with_max_established_outbound(1);
    let a = node_with(&hub, vec![yamux()], true, config).await;
    let b = node(&hub).await;
    let c = node(&hub).await;
    a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
    let err = a.switch.dial_addr(&c.p2p_addr()).await.unwrap_err();
    assert!(err.to_string().contains("established outbound"), "{err}");

    let config = SwitchConfig::default().with_max_pending_outbound(0);
    let d = node_with(&hub, vec![yamux()], true, config).await;
    let err = d.switch.dial_addr(&b.p2p_addr()).await.unwrap_err();
    assert!(err.to_string().contains("pending outbound"), "{err}");
    assert!(d.switch.connections().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_data_is_capped_across_connections() {
    const SINK: ProtocolId = ProtocolId::from_static("/test/sink/1.0.0");
    const BUDGET: usize = 512 * 1024;
    let hub = MemoryHub::new();
    let config = SwitchConfig::default().with_max_buffered_bytes(BUDGET);
    let b = node_with(&hub, vec![yamux(), mplex()], true, config).await;
    // A handler that holds its streams and never reads.
    b.switch.set_stream_handler(
        SINK,
        stream_handler(|s| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        }),
    );
    let mut writers = Vec::new();
    let mut senders = Vec::new();
    for muxer in [yamux(), mplex()] {
        let a = node_with(&hub, vec![muxer], true, SwitchConfig::default()).await;
        a.switch.dial_addr(&b.p2p_addr()).await.unwrap();
        for _ in 0..3 {
            let mut s = a.switch.open_stream(b.peer(), &[SINK]).await.unwrap();
            writers.push(tokio::spawn(async move {
                let chunk = vec![1u8; 64 * 1024];
                for _ in 0..64 {
                    if s.io.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            }));
        }
        senders.push(a);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = b.switch.buffered_bytes();
    assert!(held > 0);
    // Past the budget by at most a frame per connection.
    assert!(held <= BUDGET + 2 * 256 * 1024, "{held} bytes held");
    for w in writers {
        w.abort();
    }
    drop(senders);
    // Everything charged is released once the connections are gone.
    b.switch.close().await;
    assert_eq!(b.switch.buffered_bytes(), 0);
}
