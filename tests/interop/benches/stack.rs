//! The whole stack on loopback, in one run: perf throughput and dial-to-first-ping for
//! mycel<->mycel, rust-libp2p<->rust-libp2p (tcp + noise + yamux both) and raw TCP.
//!
//! `cargo bench -p mycel-interop --bench stack` (1 GiB each way, median of 3; dial to
//! first ping median of 20). `STACK_BENCH_MIB=64` shrinks the transfers for a quick look;
//! `STACK_BENCH_ONLY=mycel-upload` (or `mycel-download`, `rust-upload`, `rust-download`)
//! runs one transfer, for a profiler.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use mycel::{DefaultStack, Host, Muxer, Network, ping};
use mycel_interop::rust_node::{PERF, RustEvent, RustMuxer, RustNode, perf_client};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const RUNS: usize = 3;
const PING_RUNS: usize = 20;
const CHUNK: usize = 256 * 1024;

#[derive(Clone, Copy)]
enum Way {
    Upload,
    Download,
}

impl Way {
    fn bytes(self, n: u64) -> (u64, u64) {
        match self {
            Way::Upload => (n, 0),
            Way::Download => (0, n),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

async fn repeat<F, Fut>(n: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = f64>,
{
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        values.push(f().await);
    }
    median(values)
}

// ---- mycel ----

/// yamux, or mplex with `STACK_BENCH_MUXER=mplex` (mycel only: a profiling aid).
fn mycel_muxer() -> Muxer {
    match std::env::var("STACK_BENCH_MUXER").as_deref() {
        Ok("mplex") => Muxer::Mplex,
        _ => Muxer::Yamux,
    }
}

async fn mycel_server() -> (Host, mycel::Multiaddr) {
    let host = Host::builder()
        .with_tcp_noise(&[mycel_muxer()])
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .build()
        .await
        .unwrap();
    host.set_stream_handler(ping::PROTOCOL_ID, ping::handler());
    host.set_stream_handler(mycel::perf::PROTOCOL_ID, mycel::perf::handler());
    let addr = mycel::core::addr::with_peer_id(&host.listen_addrs()[0], &host.peer_id()).unwrap();
    (host, addr)
}

async fn mycel_client() -> Host {
    Host::builder()
        .with_tcp_noise(&[mycel_muxer()])
        .build()
        .await
        .unwrap()
}

async fn mycel_throughput(way: Way, bytes: u64) -> f64 {
    let (server, addr) = mycel_server().await;
    let client = mycel_client().await;
    let peer = client.connect(&addr).await.unwrap();
    let (upload_bytes, download_bytes) = way.bytes(bytes);
    let stats = mycel::perf::run(
        &client,
        peer,
        mycel::perf::RunParams {
            upload_bytes,
            download_bytes,
        },
    )
    .await
    .unwrap();
    client.close().await;
    server.close().await;
    mib_per_s(bytes, stats.elapsed)
}

async fn mycel_dial_to_ping(server_addr: &mycel::Multiaddr) -> f64 {
    let client = mycel_client().await;
    let started = Instant::now();
    let peer = client.connect(server_addr).await.unwrap();
    ping::ping_peer(&client, peer).await.unwrap();
    let elapsed = started.elapsed();
    client.close().await;
    elapsed.as_secs_f64() * 1000.0
}

// ---- rust-libp2p ----

async fn rust_throughput(way: Way, bytes: u64) -> f64 {
    let mut server = RustNode::start(RustMuxer::Yamux).await;
    let _serving = server.serve_perf();
    let mut client = RustNode::start(RustMuxer::Yamux).await;
    client.dial(server.p2p_addr()).await.unwrap();
    let stream = client
        .control
        .open_stream(server.peer_id, PERF)
        .await
        .unwrap();
    let (up, down) = way.bytes(bytes);
    let started = Instant::now();
    let received = perf_client(stream, up, down).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(received, down);
    mib_per_s(bytes, elapsed)
}

async fn rust_dial_to_ping(server: &RustNode) -> f64 {
    let mut client = RustNode::start(RustMuxer::Yamux).await;
    let target = server.peer_id;
    let started = Instant::now();
    client.dial(server.p2p_addr()).await.unwrap();
    let ok = client
        .wait_for(Duration::from_secs(10), |e| match e {
            RustEvent::Ping { peer, result } if *peer == target => Some(result.is_ok()),
            _ => None,
        })
        .await;
    let elapsed = started.elapsed();
    assert_eq!(ok, Some(true), "rust-libp2p ping failed");
    elapsed.as_secs_f64() * 1000.0
}

// ---- raw TCP ----

async fn tcp_throughput(way: Way, bytes: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        move_bytes(&mut s, way, bytes, false).await;
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.set_nodelay(true).unwrap();
    let started = Instant::now();
    move_bytes(&mut c, way, bytes, true).await;
    let elapsed = started.elapsed();
    server.await.unwrap();
    mib_per_s(bytes, elapsed)
}

/// The client sends on upload, the server on download; the other side reads to EOF.
async fn move_bytes(s: &mut TcpStream, way: Way, bytes: u64, client: bool) {
    let sends = matches!((way, client), (Way::Upload, true) | (Way::Download, false));
    let mut buf = vec![0u8; CHUNK];
    if sends {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            s.write_all(&buf[..n]).await.unwrap();
            left -= n as u64;
        }
        s.shutdown().await.unwrap();
        // Wait for the reader to finish, so both sides time the same transfer.
        let _ = s.read(&mut buf).await;
    } else {
        while s.read(&mut buf).await.unwrap() != 0 {}
        s.shutdown().await.unwrap();
    }
}

async fn tcp_dial_to_ping(addr: std::net::SocketAddr) -> f64 {
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.set_nodelay(true).unwrap();
    let mut buf = [7u8; 32];
    c.write_all(&buf).await.unwrap();
    c.read_exact(&mut buf).await.unwrap();
    started.elapsed().as_secs_f64() * 1000.0
}

async fn tcp_echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 32];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: only run when
    // asked to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mib: u64 = std::env::var("STACK_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bytes = mib * 1024 * 1024;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("stack benchmark: {mib} MiB each way, median of {RUNS}; dial to first ping, median of {PING_RUNS}");
        if let Ok(only) = std::env::var("STACK_BENCH_ONLY") {
            // Profiling aid: one stack, one direction.
            let way = if only.ends_with("download") { Way::Download } else { Way::Upload };
            let v = if only.starts_with("rust") {
                rust_throughput(way, bytes).await
            } else {
                mycel_throughput(way, bytes).await
            };
            println!("{only}: {v:.0} MiB/s");
            return;
        }
        let mut rows = Vec::new();
        for (name, way) in [("upload", Way::Upload), ("download", Way::Download)] {
            let m = repeat(RUNS, || mycel_throughput(way, bytes)).await;
            let r = repeat(RUNS, || rust_throughput(way, bytes)).await;
            let t = repeat(RUNS, || tcp_throughput(way, bytes)).await;
            println!(
                "{name:>8}: mycel {m:8.0} MiB/s | rust-libp2p {r:8.0} MiB/s | raw tcp {t:8.0} MiB/s | mycel/rust {:.2}x | mycel/tcp {:.0}%",
                m / r,
                100.0 * m / t
            );
            rows.push((m, r));
        }

        let (server, addr) = mycel_server().await;
        let m = repeat(PING_RUNS, || mycel_dial_to_ping(&addr)).await;
        server.close().await;
        let mut rust_server = RustNode::start(RustMuxer::Yamux).await;
        let r = repeat(PING_RUNS, || rust_dial_to_ping(&rust_server)).await;
        while rust_server.events.try_recv().is_ok() {}
        let echo = tcp_echo_server().await;
        let t = repeat(PING_RUNS, || tcp_dial_to_ping(echo)).await;
        println!(
            "dial to first ping: mycel {m:.2} ms | rust-libp2p {r:.2} ms | raw tcp {t:.2} ms | mycel/rust {:.2}",
            m / r
        );
    });
}
