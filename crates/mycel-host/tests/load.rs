//! Load and abuse on loopback TCP: many clients, half-open connections, stream floods.
//! Each test bounds itself in time.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use mycel_core::{Multiaddr, NetworkError, ProtocolId, addr::with_peer_id, stream_handler};
use mycel_host::{Host, HostBuilder, Network, SwitchConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, timeout},
};

const ECHO: ProtocolId = ProtocolId::from_static("/test/echo/1.0.0");

fn stack(builder: HostBuilder) -> HostBuilder {
    builder
        .with_transport(mycel_tcp::TcpTransport::default())
        .with_security(|keypair, muxers| {
            Arc::new(mycel_noise::Config::new(keypair.clone()).with_muxers(muxers.to_vec()))
        })
        .with_muxer(mycel_yamux::Config::default())
}

async fn server(config: SwitchConfig) -> (Host, Multiaddr) {
    let host = stack(Host::builder())
        .with_config(config)
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .build()
        .await
        .unwrap();
    host.set_stream_handler(mycel_ping::PROTOCOL_ID, mycel_ping::handler());
    host.set_stream_handler(
        ECHO,
        stream_handler(|mut s| async move {
            let mut buf = [0u8; 64];
            while let Ok(n) = s.io.read(&mut buf).await {
                if n == 0 || s.io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }),
    );
    let addr = with_peer_id(&host.listen_addrs()[0], &host.peer_id()).unwrap();
    (host, addr)
}

async fn client() -> Host {
    stack(Host::builder()).build().await.unwrap()
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The soft limit on open files, from /proc (Linux).
fn max_open_files() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1024)
}

/// How many of `wanted` connections fit in the file limit, with both ends in this
/// process and room to spare; says so when it had to scale down.
fn fit(wanted: usize, fds_per_item: usize) -> usize {
    let room = max_open_files().saturating_sub(256) / fds_per_item;
    if room < wanted {
        println!("open-file limit allows {room} of {wanted}: scaled down");
    }
    wanted.min(room)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_connect_at_once_and_all_ping() {
    let clients = fit(1000, 3);
    // Sized for the load: every handshake may be pending at once.
    let (host, addr) = server(SwitchConfig::default().with_max_pending_inbound(clients)).await;
    let started = Instant::now();
    let pings = (0..clients).map(|_| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let client = client().await;
            let result = async {
                let peer = client.connect(&addr).await.map_err(|e| e.to_string())?;
                mycel_ping::ping_peer(&client, peer)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            (client, result)
        })
    });
    let results = timeout(Duration::from_secs(240), join_all(pings))
        .await
        .expect("all clients done within 240 s");
    let mut failures = Vec::new();
    let mut hosts = Vec::new();
    for result in results {
        let (client, outcome) = result.unwrap();
        if let Err(e) = outcome {
            failures.push(e);
        }
        hosts.push(client);
    }
    let elapsed = started.elapsed();
    let connected = host.connected_peers().len();
    let rss = peak_rss_mib();
    println!(
        "{clients} clients: {} pings ok in {elapsed:?}; host connected to {connected}; peak RSS {rss:?} MiB (whole process, clients included)",
        clients - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(connected, clients);
    // Bounded: well under 1 GiB for the server and every client in one process.
    if let Some(rss) = rss {
        assert!(rss < 1024.0, "peak RSS {rss} MiB");
    }
    for client in hosts {
        client.close().await;
    }
    host.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_lock_out_honest_peers() {
    let half_open = fit(2000, 2);
    let handshake_timeout = Duration::from_secs(2);
    let (host, addr) =
        server(SwitchConfig::default().with_upgrade_timeout(handshake_timeout)).await;
    let socket = mycel_tcp::multiaddr_to_socket_addr(&host.listen_addrs()[0]).unwrap();
    // Connections that never send a byte.
    let mut stalled = Vec::with_capacity(half_open);
    for _ in 0..half_open {
        stalled.push(TcpStream::connect(socket).await.unwrap());
    }
    let opened = Instant::now();
    // Honest peers still get through, promptly.
    let honest = (0..20).map(|_| {
        let addr = addr.clone();
        async move {
            let client = client().await;
            let peer = client.connect(&addr).await.map_err(|e| e.to_string())?;
            let rtt = mycel_ping::ping_peer(&client, peer)
                .await
                .map_err(|e| e.to_string());
            client.close().await;
            rtt
        }
    });
    let results = timeout(Duration::from_secs(30), join_all(honest))
        .await
        .expect("honest peers done within 30 s");
    let served = results.iter().filter(|r| r.is_ok()).count();
    println!(
        "{half_open} half-open connections: {served}/20 honest peers served in {:?}",
        opened.elapsed()
    );
    assert_eq!(served, 20, "{results:?}");
    // Every half-open connection is closed by the handshake timeout (those pushed out
    // to make room, sooner).
    let deadline = opened + handshake_timeout + Duration::from_secs(5);
    for mut stream in stalled {
        let mut byte = [0u8; 1];
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(_)) => {} // the listener's multistream header: fine, it then closes
            Err(_) => panic!("a half-open connection outlived the handshake timeout"),
        }
    }
    assert_eq!(
        host.connected_peers().len(),
        0,
        "only honest peers, all gone"
    );
    host.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_flood_is_refused_past_the_cap_and_the_connection_lives() {
    let cap = 64;
    let (host, addr) =
        server(SwitchConfig::default().with_max_inbound_streams_per_connection(cap)).await;
    let flooder = stack(Host::builder())
        .with_config(SwitchConfig::default().with_max_outbound_streams_per_connection(10_000))
        .build()
        .await
        .unwrap();
    let peer = flooder.connect(&addr).await.unwrap();
    // Hold every stream open: each writes a byte and waits for its echo.
    let attempts = 400;
    let streams = (0..attempts).map(|_| {
        let flooder = flooder.clone();
        async move {
            let mut s = flooder.new_stream(peer, &[ECHO]).await.ok()?;
            s.io.write_all(b"x").await.ok()?;
            s.io.flush().await.ok()?;
            let mut one = [0u8; 1];
            match timeout(Duration::from_secs(10), s.io.read(&mut one)).await {
                Ok(Ok(1)) => Some(s),
                _ => None,
            }
        }
    });
    let held: Vec<_> = timeout(Duration::from_secs(60), join_all(streams))
        .await
        .expect("flood done within 60 s")
        .into_iter()
        .flatten()
        .collect();
    println!(
        "{attempts} streams opened at once: {} served (cap {cap})",
        held.len()
    );
    assert!(
        held.len() <= cap,
        "{} served past the cap of {cap}",
        held.len()
    );
    assert!(held.len() >= cap / 2, "only {} served", held.len());
    // The connection lives: once streams are released, new ones work on it.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rtt = mycel_ping::ping_peer(&flooder, peer).await;
    assert!(rtt.is_ok(), "{rtt:?}");
    assert_eq!(flooder.switch().connections().len(), 1);
    let err = host.new_stream(flooder.peer_id(), &[]).await.unwrap_err();
    assert!(matches!(err, NetworkError::ProtocolNotSupported { .. }));
    flooder.close().await;
    host.close().await;
}
