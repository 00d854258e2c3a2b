//! A rust-libp2p 0.57 node (tcp + noise + yamux or mplex, ping, libp2p-stream) driven
//! by a task of its own, and the perf protocol written on rust-libp2p's streams.

use std::{
    collections::HashMap,
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol, Swarm, identify,
    identity::PublicKey,
    noise, ping,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

/// The perf protocol id, as rust-libp2p spells it.
pub const PERF: StreamProtocol = StreamProtocol::new("/perf/1.0.0");

/// Which muxer the rust-libp2p node offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RustMuxer {
    /// libp2p-yamux.
    Yamux,
    /// libp2p-mplex.
    Mplex,
}

/// The behaviours of the node.
#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// What the node reports.
#[derive(Debug)]
pub enum RustEvent {
    /// A connection is up.
    Connected(PeerId),
    /// A connection closed.
    Closed(PeerId),
    /// A ping (ours, outbound) finished.
    Ping {
        /// The peer pinged.
        peer: PeerId,
        /// Its RTT, or the error in words.
        result: Result<Duration, String>,
    },
    /// An outbound dial failed.
    DialFailed(String),
    /// Identify with a peer failed.
    IdentifyFailed(String),
    /// The peer told us about itself (identify answer or push).
    Identified {
        /// The peer.
        peer: PeerId,
        /// Its agent version.
        agent_version: String,
        /// Its protocols.
        protocols: Vec<String>,
        /// Its listen addresses.
        listen_addrs: Vec<Multiaddr>,
    },
}

enum Command {
    Dial(Multiaddr, oneshot::Sender<Result<(), String>>),
}

/// What a rust-libp2p node last learnt of each peer by identify.
pub type IdentifiedPeers = Arc<Mutex<HashMap<PeerId, RustIdentified>>>;

/// One identify result as rust-libp2p saw it.
#[derive(Debug, Clone)]
pub struct RustIdentified {
    /// The agent version.
    pub agent_version: String,
    /// The protocols.
    pub protocols: Vec<String>,
    /// The listen addresses.
    pub listen_addrs: Vec<Multiaddr>,
    /// Where the peer says it sees us.
    pub observed_addr: Multiaddr,
}

/// A running rust-libp2p node; stops when dropped.
pub struct RustNode {
    /// Its peer id.
    pub peer_id: PeerId,
    /// Where it listens (with no `/p2p/`).
    pub listen_addr: Multiaddr,
    /// Opens and accepts streams (libp2p-stream).
    pub control: libp2p_stream::Control,
    /// What happened, in order.
    pub events: mpsc::UnboundedReceiver<RustEvent>,
    /// The latest identify result per peer: (agent version, protocols).
    pub identified: IdentifiedPeers,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

/// How long a rust-libp2p connection may sit without streams before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent version the rust-libp2p node announces.
pub const RUST_AGENT: &str = "rust-libp2p-interop/0.57";

fn behaviour(key: PublicKey) -> Behaviour {
    Behaviour {
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(1))),
        identify: identify::Behaviour::new(
            identify::Config::new("ipfs/0.1.0".into(), key).with_agent_version(RUST_AGENT.into()),
        ),
        stream: libp2p_stream::Behaviour::new(),
    }
}

impl RustNode {
    /// Starts a node listening on 127.0.0.1 (a free port).
    pub async fn start(muxer: RustMuxer) -> Self {
        let tcp_config = tcp::Config::default().nodelay(true);
        let builder = libp2p::SwarmBuilder::with_new_identity().with_tokio();
        let mut swarm: Swarm<Behaviour> = match muxer {
            RustMuxer::Yamux => builder
                .with_tcp(tcp_config, noise::Config::new, yamux::Config::default)
                .expect("tcp")
                .with_behaviour(|key| behaviour(key.public()))
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
                .build(),
            RustMuxer::Mplex => builder
                .with_tcp(
                    tcp_config,
                    noise::Config::new,
                    libp2p_mplex::Config::default,
                )
                .expect("tcp")
                .with_behaviour(|key| behaviour(key.public()))
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
                .build(),
        };
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .expect("listen");
        let listen_addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer_id = *swarm.local_peer_id();
        let control = swarm.behaviour().stream.new_control();
        let (events_tx, events) = mpsc::unbounded_channel();
        let identified = Arc::new(Mutex::new(HashMap::new()));
        let record = identified.clone();
        let (commands, mut commands_rx) = mpsc::channel(16);
        let task = tokio::spawn(async move {
            let mut pending_dials: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
            loop {
                tokio::select! {
                    command = commands_rx.recv() => match command {
                        Some(Command::Dial(addr, done)) => match swarm.dial(addr) {
                            Ok(()) => pending_dials.push(done),
                            Err(e) => { let _ = done.send(Err(e.to_string())); }
                        },
                        None => break,
                    },
                    event = swarm.select_next_some() => {
                        let report = match event {
                            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                                if endpoint.is_dialer() {
                                    for done in pending_dials.drain(..) {
                                        let _ = done.send(Ok(()));
                                    }
                                }
                                Some(RustEvent::Connected(peer_id))
                            }
                            SwarmEvent::ConnectionClosed { peer_id, .. } => Some(RustEvent::Closed(peer_id)),
                            SwarmEvent::OutgoingConnectionError { error, .. } => {
                                for done in pending_dials.drain(..) {
                                    let _ = done.send(Err(error.to_string()));
                                }
                                Some(RustEvent::DialFailed(error.to_string()))
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => {
                                Some(RustEvent::Ping { peer, result: result.map_err(|e| e.to_string()) })
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error { error, .. })) => {
                                Some(RustEvent::IdentifyFailed(error.to_string()))
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                                let protocols: Vec<String> = info.protocols.iter().map(|p| p.to_string()).collect();
                                record.lock().unwrap().insert(peer_id, RustIdentified {
                                    agent_version: info.agent_version.clone(),
                                    protocols,
                                    listen_addrs: info.listen_addrs.clone(),
                                    observed_addr: info.observed_addr.clone(),
                                });
                                Some(RustEvent::Identified {
                                    peer: peer_id,
                                    agent_version: info.agent_version,
                                    protocols: info.protocols.iter().map(|p| p.to_string()).collect(),
                                    listen_addrs: info.listen_addrs,
                                })
                            }
                            _ => None,
                        };
                        if let Some(report) = report {
                            let _ = events_tx.send(report);
                        }
                    }
                }
            }
        });
        RustNode {
            peer_id,
            listen_addr,
            control,
            events,
            identified,
            commands,
            task,
        }
    }

    /// The listen address with `/p2p/<id>`.
    pub fn p2p_addr(&self) -> Multiaddr {
        self.listen_addr
            .clone()
            .with(libp2p::multiaddr::Protocol::P2p(self.peer_id))
    }

    /// Dials `addr`; returns once a connection is up or the dial failed.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        self.commands
            .send(Command::Dial(addr, done))
            .await
            .map_err(|_| "node stopped".to_string())?;
        result.await.map_err(|_| "node stopped".to_string())?
    }

    /// Waits (at most `limit`) for the first event `pick` accepts, skipping others.
    pub async fn wait_for<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&RustEvent) -> Option<T>,
    ) -> Option<T> {
        tokio::time::timeout(limit, async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// Serves perf on every inbound `/perf/1.0.0` stream, in tasks of its own.
    pub fn serve_perf(&mut self) -> JoinHandle<()> {
        let mut incoming = self.control.accept(PERF).expect("perf registered once");
        tokio::spawn(async move {
            while let Some((_, stream)) = incoming.next().await {
                tokio::spawn(async move {
                    let _ = perf_serve(stream).await;
                });
            }
        })
    }
}

impl Drop for RustNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const PERF_CHUNK: usize = 256 * 1024;

/// perf, server side, on a rust-libp2p stream: read the u64, drain to EOF, send back.
pub async fn perf_serve(mut stream: Stream) -> io::Result<()> {
    let mut len = [0; 8];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0; PERF_CHUNK];
    while stream.read(&mut buf).await? != 0 {}
    let mut left = u64::from_be_bytes(len);
    buf.fill(0);
    while left > 0 {
        let n = left.min(PERF_CHUNK as u64) as usize;
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    stream.close().await
}

/// perf, client side, on a rust-libp2p stream; returns the bytes received.
pub async fn perf_client(mut stream: Stream, upload: u64, download: u64) -> io::Result<u64> {
    stream.write_all(&download.to_be_bytes()).await?;
    let mut buf = vec![0; PERF_CHUNK];
    let mut left = upload;
    while left > 0 {
        let n = left.min(PERF_CHUNK as u64) as usize;
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    stream.close().await?;
    let mut received = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(received);
        }
        received += n as u64;
    }
}
