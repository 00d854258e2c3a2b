//! What an idle connection costs the listener that holds it: 10,000 connections (tcp +
//! noise + yamux, ping and identify served) held by one mycel host, by one rust-libp2p
//! node, and, as the floor, by a plain TCP listener that only keeps the sockets.
//!
//! `cargo bench -p mycel-interop --bench idle` (10,000 connections each, about a minute).
//! `IDLE_BENCH_CONNS=1000` changes the count; `IDLE_BENCH_ONLY=mycel` (or `rust`, `tcp`)
//! measures one listener.
//!
//! Each listener runs in a child process (this program again, with `IDLE_BENCH_ROLE`
//! set), so its resident memory is its own: the clients (one mycel host per connection,
//! as separate peers would be) live in this process. The child's memory is read before
//! the first connection and once every connection is up and identify has run; the
//! difference, divided by the count, is the cost of one idle connection. Both processes
//! raise their open-file limit to the hard limit first.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use mycel::{DefaultStack, Host, Muxer};
use mycel_interop::rust_node::{RustEvent, RustMuxer, RustNode, RustOptions};

const DEFAULT_CONNS: usize = 10_000;
/// Connections being set up at once (the listener's pending-handshake cap is 256).
const AT_ONCE: usize = 128;
/// How long the connections stay idle before the listener's memory is read: identify
/// (both ways) and the first pings are over by then.
const SETTLE: Duration = Duration::from_secs(5);
/// The most one listener may take to see every connection.
const CONNECT_LIMIT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Listener {
    Tcp,
    Mycel,
    Rust,
}

impl Listener {
    fn name(self) -> &'static str {
        match self {
            Listener::Tcp => "tcp",
            Listener::Mycel => "mycel",
            Listener::Rust => "rust",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Listener::Tcp, Listener::Mycel, Listener::Rust]
            .into_iter()
            .find(|l| l.name() == name)
    }
}

fn main() {
    raise_open_file_limit();
    match std::env::var("IDLE_BENCH_ROLE") {
        Ok(role) => {
            listen(Listener::from_name(&role).expect("IDLE_BENCH_ROLE: tcp, mycel or rust"))
        }
        Err(_) => drive(),
    }
}

/// Raises the soft open-file limit to the hard one; returns the limit now in force.
fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.maximum.is_some() && limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            eprintln!("cannot raise the open-file limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The resident memory of this process (VmRSS), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---- the child: one listener, answering `stat` lines on stdin ----

/// What a listener reports on `stat`: its memory, its connections, its live tasks.
struct Stat {
    rss_kib: u64,
    connections: usize,
    tasks: usize,
}

fn listen(kind: Listener) {
    let rt = runtime();
    let connections: Box<dyn Fn() -> usize> = rt.block_on(async move {
        match kind {
            Listener::Tcp => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                println!("addr {}", listener.local_addr().unwrap());
                let (count_tx, count_rx) = tokio::sync::watch::channel(0usize);
                tokio::spawn(async move {
                    let mut held = Vec::new();
                    while let Ok((socket, _)) = listener.accept().await {
                        held.push(socket);
                        count_tx.send_replace(held.len());
                    }
                });
                Box::new(move || *count_rx.borrow()) as Box<dyn Fn() -> usize>
            }
            Listener::Mycel => {
                let config = mycel::switch::SwitchConfig::default()
                    .with_max_established_inbound(usize::MAX)
                    .with_idle_timeout(None);
                let host = Host::builder()
                    .with_tcp_noise(&[Muxer::Yamux])
                    .with_config(config)
                    .with_max_peers(usize::MAX)
                    .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
                    .build()
                    .await
                    .unwrap();
                let addr =
                    mycel::core::addr::with_peer_id(&host.listen_addrs()[0], &host.peer_id())
                        .unwrap();
                println!("addr {addr}");
                Box::new(move || host.switch().connected_peers().len())
            }
            Listener::Rust => {
                let options = RustOptions {
                    idle_timeout: Some(Duration::from_secs(3600)),
                    ..RustOptions::default()
                };
                let mut node = RustNode::start_with(RustMuxer::Yamux, options).await;
                println!("addr {}", node.p2p_addr());
                let (count_tx, count_rx) = tokio::sync::watch::channel(0usize);
                tokio::spawn(async move {
                    // Drained, so that unread events do not count as connection memory.
                    let mut open = 0usize;
                    while let Some(event) = node.events.recv().await {
                        match event {
                            RustEvent::Connected(_) => open += 1,
                            RustEvent::Closed(_) => open = open.saturating_sub(1),
                            _ => {}
                        }
                        count_tx.send_replace(open);
                    }
                });
                Box::new(move || *count_rx.borrow())
            }
        }
    });
    // The runtime's workers go on serving while this thread answers the driver.
    for line in std::io::stdin().lock().lines() {
        if line.as_deref().ok() == Some("stat") {
            let tasks = rt.metrics().num_alive_tasks();
            println!("stat {} {} {}", rss_kib(), connections(), tasks);
        }
    }
    // The driver is gone: the sockets go with the process.
    std::process::exit(0);
}

// ---- the driver ----

struct ListenerProcess {
    process: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    addr: String,
}

impl ListenerProcess {
    fn start(kind: Listener) -> Self {
        let exe = std::env::current_exe().unwrap();
        // A profiling aid: `IDLE_BENCH_WRAP=heaptrack` runs the listener under it.
        let mut command = match std::env::var("IDLE_BENCH_WRAP") {
            Ok(wrapper) => {
                let mut c = Command::new(wrapper);
                c.arg(exe);
                c
            }
            Err(_) => Command::new(exe),
        };
        let mut process = command
            .env("IDLE_BENCH_ROLE", kind.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the listener process");
        let stdin = process.stdin.take().unwrap();
        let mut stdout = BufReader::new(process.stdout.take().unwrap());
        let addr = read_line(&mut stdout, "addr ");
        ListenerProcess {
            process,
            stdin: Some(stdin),
            stdout,
            addr,
        }
    }

    fn stat(&mut self) -> Stat {
        writeln!(self.stdin.as_mut().unwrap(), "stat").unwrap();
        let line = read_line(&mut self.stdout, "stat ");
        let v: Vec<u64> = line.split(' ').map(|n| n.parse().unwrap()).collect();
        Stat {
            rss_kib: v[0],
            connections: v[1] as usize,
            tasks: v[2] as usize,
        }
    }
}

impl Drop for ListenerProcess {
    fn drop(&mut self) {
        // The end of its input tells the listener to exit; a killed one is not waited on.
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.process.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The rest of the listener's next line that starts with `prefix` (a wrapper may print
/// lines of its own).
fn read_line(from: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    loop {
        let mut line = String::new();
        from.read_line(&mut line).expect("read from the listener");
        assert!(!line.is_empty(), "the listener process ended");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

fn drive() {
    let limit = raise_open_file_limit();
    let wanted = std::env::var("IDLE_BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CONNS);
    let room = usize::try_from(limit.saturating_sub(512)).unwrap_or(usize::MAX);
    let conns = wanted.min(room);
    if conns < wanted {
        println!("open-file limit {limit} allows {conns} of {wanted} connections");
    }
    let only = std::env::var("IDLE_BENCH_ONLY").ok();
    println!("{conns} idle connections held by one listener (tcp + noise + yamux; ping, identify)");
    println!(
        "{:<8} {:>8} {:>10} {:>12} {:>14} {:>10}",
        "listener", "held", "connect s", "RSS MiB", "KiB/conn", "tasks/conn"
    );
    for kind in [Listener::Tcp, Listener::Mycel, Listener::Rust] {
        if only.as_deref().is_some_and(|o| o != kind.name()) {
            continue;
        }
        measure(kind, conns);
    }
}

fn measure(kind: Listener, conns: usize) {
    let mut child = ListenerProcess::start(kind);
    std::thread::sleep(Duration::from_secs(1));
    let before = child.stat();
    let rt = runtime();
    let started = Instant::now();
    // The clients stay alive (in this runtime) until the measurement is over.
    let clients = rt.block_on(connect_all(kind, &child.addr, conns));
    let deadline = Instant::now() + CONNECT_LIMIT;
    while child.stat().connections < conns && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let connect_secs = started.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let held = child.stat();
    let grown = held.rss_kib.saturating_sub(before.rss_kib) as f64;
    let n = held.connections.max(1) as f64;
    println!(
        "{:<8} {:>8} {:>10.1} {:>12.1} {:>14.1} {:>10.2}",
        kind.name(),
        held.connections,
        connect_secs,
        held.rss_kib as f64 / 1024.0,
        grown / n,
        held.tasks.saturating_sub(before.tasks) as f64 / n,
    );
    if held.connections < conns {
        println!(
            "  {}: only {} of {conns} connections up",
            kind.name(),
            held.connections
        );
    }
    drop(child);
    drop(clients);
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// What keeps one connection open from this side.
enum Client {
    Tcp(#[allow(dead_code)] tokio::net::TcpStream),
    Host(#[allow(dead_code)] Host),
}

async fn connect_all(kind: Listener, addr: &str, conns: usize) -> Vec<Client> {
    let clients: Vec<Option<Client>> = stream::iter(0..conns)
        .map(|_| async move {
            let result = match kind {
                Listener::Tcp => tokio::net::TcpStream::connect(addr)
                    .await
                    .map(Client::Tcp)
                    .map_err(|e| e.to_string()),
                Listener::Mycel | Listener::Rust => connect_host(addr).await.map(Client::Host),
            };
            result.map_err(|e| eprintln!("connection failed: {e}")).ok()
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    clients.into_iter().flatten().collect()
}

async fn connect_host(addr: &str) -> Result<Host, String> {
    let addr: mycel::Multiaddr = addr.parse().map_err(|e| format!("{e}"))?;
    let config = mycel::switch::SwitchConfig::default().with_idle_timeout(None);
    let host = Host::builder()
        .with_tcp_noise(&[Muxer::Yamux])
        .with_config(config)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    host.connect(&addr).await.map_err(|e| e.to_string())?;
    Ok(host)
}
