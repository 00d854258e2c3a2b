//! `mycel`: run a libp2p node, or pair with another implementation's node.
//!
//! - `mycel node [--listen ADDR]... [--bootstrap ADDR]...`: a long-running node, serving
//!   the Kademlia DHT.
//! - `mycel listen [--muxer yamux|mplex] [--kad]`: serve ping, identify and perf (and
//!   with `--kad` the DHT) on 127.0.0.1 for a test peer; the first stdout line is
//!   `LISTEN <multiaddr>/p2p/<peer-id>`, then `IDENTIFY <peer-id> <agent-version>` for
//!   each identify received.
//! - `mycel dial <multiaddr>/p2p/<id> [--kad-put KEY=VALUE] [--kad-get KEY]`: connect,
//!   ping once, optionally store and fetch a DHT record at the peer, print one JSON line.
//! - `listen` and `dial` with `--pubsub floodsub|gossipsub --topic T [--publish MSG]`
//!   also run a pubsub router on T: the listener prints `MSG <topic> <data>` for each
//!   message and publishes MSG (once a peer is subscribed, every second, 10 times); the
//!   dialer waits until the peer is subscribed (and in its gossipsub mesh), publishes
//!   MSG, waits for `--wait-msgs N` messages and adds `"received":[...]` to its JSON.
//! - `mycel perf <multiaddr>/p2p/<id> --upload-bytes N --download-bytes M`: one perf run,
//!   one JSON line.
//! - `mycel interop`: the libp2p test-plans transport-interop binary, configured by
//!   environment variables (see `interop.rs`).
//!
//! Exit status: 0 success, 1 failure (the JSON line says why), 2 bad usage.

mod interop;
mod json;
mod pubsub;

use std::{
    io::{IsTerminal, Write},
    process,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand, ValueEnum, error::ErrorKind};
use futures::{StreamExt, future::join_all};
use mycel::{
    DefaultStack, Host, KeyType, Keypair, Multiaddr, Muxer, Network, NetworkEvent, PeerId,
    core::{Protocol, addr::split_peer_id},
    kad::{self, AcceptAll, KadConfig, KadError, Kademlia, Mode, Quorum, Record, Validators},
    perf, ping,
    switch::ListenError,
};
use tokio::io::AsyncReadExt;

use crate::json::{Value, object};

/// The port `mycel node` listens on unless told otherwise (the IPFS convention); a free
/// one is used when it is taken.
const DEFAULT_NODE_PORT: u16 = 4001;

#[derive(Debug, Parser)]
#[command(name = "mycel", version, about = "A libp2p node", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: listen (all interfaces, port 4001 or a free one), serve ping and the
    /// Kademlia DHT, log connections, until Ctrl-C.
    Node {
        /// Address to listen on (repeatable); default /ip4/0.0.0.0/tcp/4001 and
        /// /ip6/::/tcp/4001.
        #[arg(long = "listen", value_name = "ADDR")]
        listen: Vec<Multiaddr>,
        /// Peer to connect to at start, as <multiaddr>/p2p/<peer-id> (repeatable); it
        /// also seeds the DHT's routing table.
        #[arg(long = "bootstrap", value_name = "ADDR", value_parser = p2p_addr)]
        bootstrap: Vec<Multiaddr>,
    },
    /// Listen on 127.0.0.1 with a fresh identity and serve ping, identify and perf until
    /// SIGTERM, SIGINT or end of stdin. Prints `LISTEN <addr>/p2p/<id>` first, then
    /// `IDENTIFY <peer-id> <agent-version>` for each identify received.
    Listen {
        /// The one muxer offered.
        #[arg(long, value_enum, default_value_t = MuxerArg::Yamux)]
        muxer: MuxerArg,
        /// Also serve the Kademlia DHT (server mode), storing any record whose key starts
        /// with /test/.
        #[arg(long)]
        kad: bool,
        /// The type of the fresh identity key.
        #[arg(long = "key-type", value_enum, default_value_t = KeyTypeArg::Ed25519)]
        key_type: KeyTypeArg,
        #[command(flatten)]
        pubsub: pubsub::PubsubArgs,
    },
    /// Connect to a peer, ping it once and print one JSON line.
    Dial {
        /// The peer, as <multiaddr>/p2p/<peer-id>.
        #[arg(value_parser = p2p_addr)]
        addr: Multiaddr,
        /// The one muxer offered.
        #[arg(long, value_enum, default_value_t = MuxerArg::Yamux)]
        muxer: MuxerArg,
        /// Store a record at the peer through its Kademlia DHT (e.g. /test/colour=green).
        #[arg(long = "kad-put", value_name = "KEY=VALUE", value_parser = kad_put)]
        kad_put: Option<KadPut>,
        /// Fetch a record from the peer's DHT (after any --kad-put); the JSON line gains
        /// "kad_get", the value or null.
        #[arg(long = "kad-get", value_name = "KEY", value_parser = kad_key)]
        kad_get: Option<String>,
        #[command(flatten)]
        pubsub: pubsub::PubsubArgs,
        /// With --pubsub, wait for this many messages on the topic; the JSON line gains
        /// "received", their data.
        #[arg(
            long = "wait-msgs",
            value_name = "N",
            default_value_t = 0,
            requires = "pubsub"
        )]
        wait_msgs: usize,
        /// Give up after this many seconds.
        #[arg(long = "timeout-s", value_name = "S", default_value_t = 30.0, value_parser = seconds)]
        timeout_s: f64,
        /// The type of the fresh identity key.
        #[arg(long = "key-type", value_enum, default_value_t = KeyTypeArg::Ed25519)]
        key_type: KeyTypeArg,
    },
    /// The libp2p test-plans transport-interop test: configured by the environment
    /// variables transport (tcp), muxer (yamux|mplex), security (noise), is_dialer
    /// (true|false), ip (default 0.0.0.0), redis_addr (default redis:6379) and
    /// test_timeout_seconds (default 180). The listener publishes its address on the
    /// Redis list listenerAddr; the dialer takes it, dials, pings and prints
    /// {"handshakePlusOneRTTMillis":…,"pingRTTMilllis":…}.
    Interop,
    /// Run one /perf/1.0.0 exchange with a peer and print one JSON line.
    Perf {
        /// The peer, as <multiaddr>/p2p/<peer-id>.
        #[arg(value_parser = p2p_addr)]
        addr: Multiaddr,
        /// Bytes to send.
        #[arg(long = "upload-bytes", value_name = "N")]
        upload_bytes: u64,
        /// Bytes to ask the peer to send back.
        #[arg(long = "download-bytes", value_name = "M")]
        download_bytes: u64,
        /// The one muxer offered.
        #[arg(long, value_enum, default_value_t = MuxerArg::Yamux)]
        muxer: MuxerArg,
        /// Give up after this many seconds.
        #[arg(long = "timeout-s", value_name = "S", default_value_t = 30.0, value_parser = seconds)]
        timeout_s: f64,
        /// The type of the fresh identity key.
        #[arg(long = "key-type", value_enum, default_value_t = KeyTypeArg::Ed25519)]
        key_type: KeyTypeArg,
    },
}

/// `--key-type`: the identity key's type (peer-ids spec).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeyTypeArg {
    Ed25519,
    Secp256k1,
    Ecdsa,
    Rsa,
}

impl KeyTypeArg {
    /// A fresh key pair of this type (RSA: 2048 bits).
    fn generate(self) -> Result<Keypair, String> {
        let key_type = match self {
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
            KeyTypeArg::Secp256k1 => KeyType::Secp256k1,
            KeyTypeArg::Ecdsa => KeyType::Ecdsa,
            KeyTypeArg::Rsa => KeyType::Rsa,
        };
        Keypair::generate_of(key_type).map_err(|e| format!("cannot make a {key_type} key: {e}"))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MuxerArg {
    Yamux,
    Mplex,
}

impl From<MuxerArg> for Muxer {
    fn from(m: MuxerArg) -> Self {
        match m {
            MuxerArg::Yamux => Muxer::Yamux,
            MuxerArg::Mplex => Muxer::Mplex,
        }
    }
}

fn p2p_addr(s: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = s.parse().map_err(|e| format!("not a multiaddr: {e}"))?;
    match split_peer_id(&addr) {
        Ok((_, Some(_))) => Ok(addr),
        Ok((_, None)) => Err("the address must end with /p2p/<peer-id>".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A `--kad-put KEY=VALUE` argument.
#[derive(Debug, Clone)]
struct KadPut {
    key: String,
    value: String,
}

/// What `dial` does after the ping.
#[derive(Debug)]
struct DialOps {
    kad: KadOps,
    pubsub: pubsub::PubsubArgs,
    wait_msgs: usize,
}

/// The DHT work `dial` does after the ping.
#[derive(Debug, Default)]
struct KadOps {
    put: Option<KadPut>,
    get: Option<String>,
}

impl KadOps {
    fn is_empty(&self) -> bool {
        self.put.is_none() && self.get.is_none()
    }
}

fn kad_put(s: &str) -> Result<KadPut, String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err("expected KEY=VALUE".into());
    };
    Ok(KadPut {
        key: kad_key(key)?,
        value: value.to_string(),
    })
}

fn kad_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the key is empty".into())
    } else {
        Ok(s.to_string())
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err("expected a positive number of seconds".into()),
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                process::exit(0);
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                process::exit(2);
            }
            _ => {
                eprintln!("mycel: {}", one_line(&e.to_string()));
                process::exit(2);
            }
        },
    };
    init_logging(matches!(cli.command, Command::Node { .. }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mycel: cannot start the runtime: {e}");
            process::exit(1);
        }
    };
    let code = runtime.block_on(run(cli.command));
    let _ = std::io::stdout().flush();
    // Exit without waiting for the runtime: a blocking read of stdin may still be running.
    process::exit(code);
}

/// clap's message up to its usage hint, on one line.
fn one_line(text: &str) -> String {
    let message = text.split("\n\n").next().unwrap_or(text);
    let words: Vec<&str> = message.split_whitespace().collect();
    words.join(" ").trim_start_matches("error: ").to_string()
}

fn init_logging(node: bool) {
    let default = if node { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Prints one line on stdout and flushes it at once.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn fail(error: &str) -> i32 {
    emit(&object(&[
        ("ok", Value::Bool(false)),
        ("error", Value::Str(error)),
    ]));
    1
}

async fn run(command: Command) -> i32 {
    match command {
        Command::Interop => match interop::Settings::from_vars(|k| std::env::var(k).ok()) {
            Ok(settings) => interop::run(settings).await,
            Err(e) => {
                eprintln!("mycel interop: {e}");
                2
            }
        },
        Command::Node { listen, bootstrap } => node(listen, bootstrap).await,
        Command::Listen {
            muxer,
            kad,
            key_type,
            pubsub,
        } => listen(muxer.into(), kad, key_type, pubsub).await,
        Command::Dial {
            addr,
            muxer,
            kad_put,
            kad_get,
            pubsub,
            wait_msgs,
            timeout_s,
            key_type,
        } => {
            let ops = DialOps {
                kad: KadOps {
                    put: kad_put,
                    get: kad_get,
                },
                pubsub,
                wait_msgs,
            };
            dial(
                addr,
                muxer.into(),
                key_type,
                ops,
                Duration::from_secs_f64(timeout_s),
            )
            .await
        }
        Command::Perf {
            addr,
            upload_bytes,
            download_bytes,
            muxer,
            timeout_s,
            key_type,
        } => {
            let params = perf::RunParams {
                upload_bytes,
                download_bytes,
            };
            run_perf(
                addr,
                params,
                muxer.into(),
                key_type,
                Duration::from_secs_f64(timeout_s),
            )
            .await
        }
    }
}

async fn client_host(muxer: Muxer, key_type: KeyTypeArg) -> Result<Host, String> {
    Host::builder()
        .with_keypair(key_type.generate()?)
        .with_tcp_noise(&[muxer])
        .build()
        .await
        .map_err(|e| e.to_string())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn dial(
    addr: Multiaddr,
    muxer: Muxer,
    key_type: KeyTypeArg,
    ops: DialOps,
    limit: Duration,
) -> i32 {
    let host = match client_host(muxer, key_type).await {
        Ok(host) => host,
        Err(e) => return fail(&e),
    };
    let kad = ops.kad;
    // Started before connecting, so the node sees the peer's identify.
    let pubsub_node = match ops.pubsub.selected() {
        Some((router, topic)) => match pubsub::start(&host, router) {
            Ok(node) => Some((node, router, topic)),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let work = async {
        let started = Instant::now();
        let peer = host.connect(&addr).await.map_err(|e| e.to_string())?;
        let connect = started.elapsed();
        let rtt = ping::ping_peer(&host, peer)
            .await
            .map_err(|e| format!("ping: {e}"))?;
        // The host identified the peer on connecting; ask again for a sure answer (a
        // peer without identify leaves agent null and protocols empty).
        let identity = match host.identify(peer).await {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::debug!(error = %e, "identify failed");
                None
            }
        };
        let got = if kad.is_empty() {
            None
        } else {
            let protocols = identity.as_ref().map(|info| &info.protocols[..]);
            kad_exchange(&host, peer, &addr, &kad, protocols).await?
        };
        let received = match &pubsub_node {
            Some((node, router, topic)) => Some(
                pubsub::exchange(
                    node,
                    *router,
                    peer,
                    topic.clone(),
                    ops.pubsub.publish.clone(),
                    ops.wait_msgs,
                )
                .await?,
            ),
            None => None,
        };
        Ok::<_, String>((peer, connect, rtt, identity, got, received))
    };
    let code = match tokio::time::timeout(limit, work).await {
        Ok(Ok((peer, connect, rtt, identity, got, received))) => {
            let peer = peer.to_string();
            let (agent, protocols) = match identity {
                Some(info) => (Some(info.agent_version), info.protocols),
                None => (None, Vec::new()),
            };
            let mut fields = vec![
                ("ok", Value::Bool(true)),
                ("peer", Value::Str(&peer)),
                ("rtt_ms", Value::Num(ms(rtt))),
                ("connect_ms", Value::Num(ms(connect))),
                ("agent", agent.as_deref().map_or(Value::Null, Value::Str)),
                ("protocols", Value::StrList(&protocols)),
            ];
            if let Some(value) = &got {
                fields.push(("kad_get", value.as_deref().map_or(Value::Null, Value::Str)));
            }
            if let Some(received) = &received {
                fields.push(("received", Value::StrList(received)));
            }
            emit(&object(&fields));
            0
        }
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&format!("timed out after {} s", limit.as_secs_f64())),
    };
    // The answer is out. The remote identifies us on connecting too; give its request a
    // moment to be answered before the connection goes (closing is abrupt).
    if code == 0 {
        tokio::time::sleep(DIAL_LINGER).await;
    }
    if let Some((node, _, _)) = pubsub_node {
        node.close().await;
    }
    host.close().await;
    code
}

/// How long `dial` keeps its connection after printing, for the remote's own identify.
const DIAL_LINGER: Duration = Duration::from_millis(300);

/// Runs `ops` against the connected `peer` with a client-mode DHT node whose only known
/// server is that peer. Returns `Some(value or None)` when a get was asked for.
async fn kad_exchange(
    host: &Host,
    peer: PeerId,
    addr: &Multiaddr,
    ops: &KadOps,
    protocols: Option<&[String]>,
) -> Result<Option<Option<String>>, String> {
    let protocol = kad::PROTOCOL_ID;
    if protocols.is_some_and(|list| !list.iter().any(|p| p == protocol.as_str())) {
        return Err(format!(
            "kad: the peer does not serve {}",
            protocol.as_str()
        ));
    }
    let (remote_addr, _) = split_peer_id(addr).map_err(|e| e.to_string())?;
    // The peer judges the records: accept everything locally, store what it accepts.
    let config = KadConfig::default()
        .with_mode(Mode::Client)
        .with_validators(Validators::accept_all())
        .with_bootstrap_interval(None);
    let dht = Kademlia::new(Arc::new(host.clone()), config);
    dht.add_address(peer, remote_addr);
    let result = async {
        if let Some(put) = &ops.put {
            let record = Record::new(put.key.clone(), put.value.clone());
            dht.put_record_with(record, Quorum::One)
                .await
                .map_err(|e| format!("kad put: {e}"))?;
        }
        let Some(key) = &ops.get else {
            return Ok(None);
        };
        // A put also stored the record locally: drop that copy, so a value found comes
        // from the peer.
        dht.with_state(|s| s.store.remove(key.as_bytes()));
        match dht.get_record_with(key.clone(), Quorum::One).await {
            Ok(found) => Ok(Some(Some(
                String::from_utf8_lossy(&found.record.value).into_owned(),
            ))),
            Err(KadError::NotFound) => Ok(Some(None)),
            Err(e) => Err(format!("kad get: {e}")),
        }
    }
    .await;
    dht.close().await;
    result
}

/// The validators of `listen --kad` (and, extended, of `node`): the spec's, and any
/// record under `/test/`.
fn test_validators() -> Validators {
    Validators::with_defaults().with("test", AcceptAll)
}

async fn run_perf(
    addr: Multiaddr,
    params: perf::RunParams,
    muxer: Muxer,
    key_type: KeyTypeArg,
    limit: Duration,
) -> i32 {
    let host = match client_host(muxer, key_type).await {
        Ok(host) => host,
        Err(e) => return fail(&e),
    };
    let work = async {
        let started = Instant::now();
        let peer = host.connect(&addr).await.map_err(|e| e.to_string())?;
        let connect = started.elapsed();
        let stats = perf::run(&host, peer, params)
            .await
            .map_err(|e| format!("perf: {e}"))?;
        Ok::<_, String>((connect, stats))
    };
    let code = match tokio::time::timeout(limit, work).await {
        Ok(Ok((connect, stats))) => {
            emit(&object(&[
                ("ok", Value::Bool(true)),
                ("upload_bytes", Value::Int(stats.upload_bytes)),
                ("download_bytes", Value::Int(stats.download_bytes)),
                ("seconds", Value::Num(stats.elapsed.as_secs_f64())),
                ("connect_ms", Value::Num(ms(connect))),
            ]));
            0
        }
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&format!("timed out after {} s", limit.as_secs_f64())),
    };
    host.close().await;
    code
}

async fn listen(
    muxer: Muxer,
    kad: bool,
    key_type: KeyTypeArg,
    pubsub_args: pubsub::PubsubArgs,
) -> i32 {
    let keypair = match key_type.generate() {
        Ok(keypair) => keypair,
        Err(e) => {
            eprintln!("mycel: {e}");
            return 1;
        }
    };
    let host = match Host::builder()
        .with_keypair(keypair)
        .with_tcp_noise(&[muxer])
        .listen_on(loopback())
        .build()
        .await
    {
        Ok(host) => host,
        Err(e) => {
            eprintln!("mycel: {e}");
            return 1;
        }
    };
    host.set_stream_handler(perf::PROTOCOL_ID, perf::handler());
    let dht = kad.then(|| {
        let config = KadConfig::default()
            .with_mode(Mode::Server)
            .with_validators(test_validators())
            .with_bootstrap_interval(None);
        Kademlia::new(Arc::new(host.clone()), config)
    });
    let pubsub_node = match pubsub_args.selected() {
        Some((router, topic)) => match pubsub::start(&host, router) {
            Ok(node) => {
                let serving = node.clone();
                let publish = pubsub_args.publish.clone();
                host.switch().spawn(async move {
                    if let Err(e) = pubsub::serve(serving, topic, publish, emit).await {
                        eprintln!("mycel: pubsub: {e}");
                    }
                });
                Some(node)
            }
            Err(e) => {
                eprintln!("mycel: {e}");
                return 1;
            }
        },
        None => None,
    };
    let shutdown = ShutdownSignal::install();
    let mut events = host.events();
    host.switch().spawn(async move {
        while let Some(event) = events.next().await {
            if let NetworkEvent::Identified {
                peer,
                agent_version,
                ..
            } = event
            {
                emit(&format!("IDENTIFY {peer} {agent_version}"));
            }
        }
    });
    let Some(addr) = host.listen_addrs().into_iter().next() else {
        eprintln!("mycel: no listen address");
        return 1;
    };
    emit(&format!("LISTEN {}", with_p2p(addr, host.peer_id())));
    tokio::select! {
        _ = shutdown.wait() => {}
        _ = stdin_closed() => {}
    }
    if let Some(dht) = dht {
        dht.close().await;
    }
    if let Some(node) = pubsub_node {
        node.close().await;
    }
    host.close().await;
    0
}

fn loopback() -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([127, 0, 0, 1].into()))
        .with(Protocol::Tcp(0))
}

/// The loopback form of an all-interfaces address (`0.0.0.0` -> `127.0.0.1`, `::` ->
/// `::1`), to dial the node from the same machine.
fn loopback_of(addr: &Multiaddr) -> Option<Multiaddr> {
    let mut changed = false;
    let local = addr
        .iter()
        .map(|p| match p {
            Protocol::Ip4(ip) if ip.is_unspecified() => {
                changed = true;
                Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST)
            }
            Protocol::Ip6(ip) if ip.is_unspecified() => {
                changed = true;
                Protocol::Ip6(std::net::Ipv6Addr::LOCALHOST)
            }
            p => p,
        })
        .collect();
    changed.then_some(local)
}

fn with_p2p(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    mycel::core::addr::with_peer_id(&addr, &peer).unwrap_or(addr)
}

async fn node(listen: Vec<Multiaddr>, bootstrap: Vec<Multiaddr>) -> i32 {
    let shutdown = ShutdownSignal::install();
    let host = match Host::builder().with_default_stack().build().await {
        Ok(host) => host,
        Err(e) => {
            eprintln!("mycel: {e}");
            return 1;
        }
    };
    let validators = test_validators().with(kad::DEFAULT_MAP_NAMESPACE, AcceptAll);
    let dht = Kademlia::new(
        Arc::new(host.clone()),
        KadConfig::default()
            .with_mode(Mode::Server)
            .with_validators(validators),
    );
    let explicit = !listen.is_empty();
    let addrs = if explicit {
        listen
    } else {
        let port = |ip: Protocol<'static>| {
            Multiaddr::empty()
                .with(ip)
                .with(Protocol::Tcp(DEFAULT_NODE_PORT))
        };
        vec![
            port(Protocol::Ip4([0, 0, 0, 0].into())),
            port(Protocol::Ip6([0u16; 8].into())),
        ]
    };
    for addr in addrs {
        match listen_with_fallback(&host, &addr, !explicit).await {
            Ok(_) => {}
            Err(e) if explicit => {
                eprintln!("mycel: cannot listen on {addr}: {e}");
                dht.close().await;
                host.close().await;
                return 1;
            }
            Err(e) => tracing::warn!(%addr, error = %e, "not listening"),
        }
    }
    if host.listen_addrs().is_empty() {
        eprintln!("mycel: could not listen on any address");
        dht.close().await;
        host.close().await;
        return 1;
    }
    emit(&format!("peer id: {}", host.peer_id()));
    for addr in host.listen_addrs() {
        let local = loopback_of(&addr).map(|l| with_p2p(l, host.peer_id()));
        let addr = with_p2p(addr, host.peer_id());
        match local {
            Some(local) => emit(&format!("listening on {addr} (from this machine: {local})")),
            None => emit(&format!("listening on {addr}")),
        }
    }

    let mut events = host.events();
    host.switch().spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                NetworkEvent::Connected {
                    peer,
                    remote_addr,
                    direction,
                } => tracing::info!(%peer, addr = %remote_addr, ?direction, "peer connected"),
                NetworkEvent::Disconnected { peer, reason } => {
                    tracing::info!(%peer, %reason, "peer disconnected")
                }
                NetworkEvent::ListenAddrExpired(addr) => {
                    tracing::info!(%addr, "listen address expired")
                }
                _ => {}
            }
        }
    });
    for addr in &bootstrap {
        if let Ok((base, Some(peer))) = split_peer_id(addr) {
            dht.add_address(peer, base);
        }
    }
    if !bootstrap.is_empty() {
        let (host, dht) = (host.clone(), dht.clone());
        host.switch().clone().spawn(async move {
            let reached = join_all(bootstrap.iter().map(|addr| connect_bootstrap(&host, addr)))
                .await
                .into_iter()
                .filter(|reached| *reached)
                .count();
            if reached == 0 {
                return;
            }
            match dht.bootstrap().await {
                Ok(size) => tracing::info!(routing_table = size, "DHT bootstrap done"),
                Err(e) => tracing::warn!(error = %e, "DHT bootstrap failed"),
            }
        });
    }
    shutdown.wait().await;
    tracing::info!("shutting down");
    dht.close().await;
    host.close().await;
    0
}

/// Connects to a bootstrap peer and pings it; whether it is connected.
async fn connect_bootstrap(host: &Host, addr: &Multiaddr) -> bool {
    match host.connect(addr).await {
        Ok(peer) => {
            match ping::ping_peer(host, peer).await {
                Ok(rtt) => tracing::info!(%peer, ?rtt, "bootstrap peer reachable"),
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "bootstrap peer does not answer ping")
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(%addr, error = %e, "bootstrap failed");
            false
        }
    }
}

/// Listens on `addr`; when `fallback` is set and the port is taken, on a free port of
/// the same interface instead.
async fn listen_with_fallback(
    host: &Host,
    addr: &Multiaddr,
    fallback: bool,
) -> Result<Multiaddr, ListenError> {
    match host.listen_on(addr).await {
        Err(ListenError::Transport(mycel::core::TransportError::AddrInUse(_))) if fallback => {
            let any_port: Multiaddr = addr
                .iter()
                .map(|p| match p {
                    Protocol::Tcp(_) => Protocol::Tcp(0),
                    p => p,
                })
                .collect();
            tracing::info!(%addr, "address in use, picking a free port");
            host.listen_on(&any_port).await
        }
        other => other,
    }
}

/// SIGTERM and SIGINT, caught from the moment this is made (so a signal sent right
/// after the first output line is not missed).
struct ShutdownSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignal {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0; 1024];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
