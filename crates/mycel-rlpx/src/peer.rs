//! [`Peer`]: a devp2p session over a byte stream: the RLPx handshake, Hello both ways,
//! then one [`CapabilityStream`] per shared capability, with Ping/Pong, Disconnect and
//! the fair egress queue handled by the session's tasks.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use k256::SecretKey;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf},
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

use crate::{
    FrameDecoder, FrameEncoder, NodeId, RlpxError, RlpxStream,
    caps::{FairQueue, Protocol, SharedCapability, match_capabilities},
    p2p::{self, DisconnectReason, Hello, MessageError, id},
};

/// How long the Hello exchange may take.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a side that sent Disconnect waits for the remote to close.
pub const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// How a [`Peer`] behaves.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Our client id in Hello.
    pub client_id: String,
    /// The capabilities we speak.
    pub protocols: Vec<Protocol>,
    /// How often we ping (go-ethereum: 15 s).
    pub ping_interval: Duration,
    /// How long a Pong may take before the peer is dropped with `PingTimeout`.
    pub ping_timeout: Duration,
    /// The largest message accepted, compressed or not (16 MiB).
    pub max_message: usize,
    /// Frames queued per capability before its sender waits.
    pub queue_limit: usize,
    /// Messages received per capability and not yet taken before the session stops
    /// reading the connection.
    pub inbound_limit: usize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            client_id: concat!("mycel/", env!("CARGO_PKG_VERSION")).to_string(),
            protocols: Vec::new(),
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(20),
            max_message: p2p::MAX_MESSAGE_LEN,
            queue_limit: 64,
            inbound_limit: 64,
        }
    }
}

/// Why a session could not start, or a send failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The RLPx layer failed.
    #[error(transparent)]
    Rlpx(#[from] RlpxError),
    /// A message was malformed.
    #[error("message: {0}")]
    Message(#[from] MessageError),
    /// The remote disconnected (during Hello, or since).
    #[error("disconnected by the remote: {0}")]
    Disconnected(DisconnectReason),
    /// The first message was not Hello.
    #[error("expected Hello, got message {0:#x}")]
    ExpectedHello(u64),
    /// The Hello named another node than the handshake proved.
    #[error("Hello from an unexpected identity")]
    UnexpectedIdentity,
    /// We connected to ourselves.
    #[error("connected to ourselves")]
    SelfConnection,
    /// No capability in common.
    #[error("no shared capability")]
    UselessPeer,
    /// Hello did not arrive in time.
    #[error("Hello timed out")]
    Timeout,
    /// No Pong came back in time.
    #[error("no Pong within {0:?}")]
    PingTimeout(Duration),
    /// The session is over.
    #[error("session closed: {0}")]
    Closed(Closed),
    /// A message id outside the capability's range.
    #[error("message id {id} outside the capability's {messages}")]
    BadMessageId {
        /// The id given.
        id: u64,
        /// How many the capability has.
        messages: u64,
    },
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// We sent Disconnect with this reason.
    Local(DisconnectReason),
    /// The remote sent Disconnect with this reason.
    Remote(DisconnectReason),
    /// The connection failed or closed without a Disconnect.
    Error(String),
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Local(r) => write!(f, "we disconnected: {r}"),
            Closed::Remote(r) => write!(f, "the remote disconnected: {r}"),
            Closed::Error(e) => write!(f, "{e}"),
        }
    }
}

/// What the session's tasks and handles share.
struct Shared {
    queue: Mutex<FairQueue<Bytes>>,
    /// Something was queued.
    work: Notify,
    /// A capability queue has room again (or the session closed).
    room: Notify,
    closed: watch::Sender<Option<Closed>>,
    /// When the last Pong arrived, and whether a Ping is outstanding since when.
    ping: Mutex<PingState>,
    /// A Pong arrived.
    pong: Notify,
    compress: bool,
}

#[derive(Debug, Default)]
struct PingState {
    outstanding_since: Option<Instant>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, FairQueue<Bytes>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn control(&self, msg_id: u64, data: &[u8]) {
        let mut frame = BytesMut::new();
        p2p::encode_message(msg_id, data, self.compress, &mut frame);
        self.queue().push_control(frame.freeze());
        self.work.notify_one();
    }

    /// Queues Disconnect with `reason` and ends the session as ours (once: a session
    /// already ending sends nothing more). The writer sends what is queued, then shuts
    /// the connection down.
    fn disconnect(&self, reason: DisconnectReason) {
        if self.is_closed().is_none() {
            let mut data = BytesMut::new();
            reason.encode(&mut data);
            self.control(id::DISCONNECT, &data);
            self.close(Closed::Local(reason));
        }
    }

    fn close(&self, how: Closed) {
        self.closed.send_if_modified(|c| {
            if c.is_none() {
                tracing::debug!(%how, "devp2p session closed");
                *c = Some(how);
                true
            } else {
                false
            }
        });
        self.room.notify_waiters();
        self.work.notify_one();
    }

    fn is_closed(&self) -> Option<Closed> {
        self.closed.borrow().clone()
    }
}

/// A devp2p session with one remote node.
pub struct Peer {
    remote: Hello,
    remote_id: NodeId,
    shared_caps: Vec<SharedCapability>,
    streams: Vec<Option<CapabilityStream>>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("remote_id", &self.remote_id)
            .field("client_id", &self.remote.client_id)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Connects to `remote` over `io` (we opened it) and exchanges Hellos.
    pub async fn connect<Io>(
        io: Io,
        key: SecretKey,
        remote: NodeId,
        config: PeerConfig,
    ) -> Result<Peer, PeerError>
    where
        Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let our_id = NodeId::from_public_key(&key.public_key());
        let stream = RlpxStream::connect(io, key, remote).await?;
        Self::start(stream, our_id, config).await
    }

    /// Accepts a session over `io` (the remote opened it) and exchanges Hellos.
    pub async fn accept<Io>(io: Io, key: SecretKey, config: PeerConfig) -> Result<Peer, PeerError>
    where
        Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let our_id = NodeId::from_public_key(&key.public_key());
        let stream = RlpxStream::accept(io, key).await?;
        Self::start(stream, our_id, config).await
    }

    async fn start<Io>(
        mut stream: RlpxStream<Io>,
        our_id: NodeId,
        config: PeerConfig,
    ) -> Result<Peer, PeerError>
    where
        Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let ours = Hello {
            protocol_version: p2p::PROTOCOL_VERSION,
            client_id: config.client_id.clone(),
            capabilities: config
                .protocols
                .iter()
                .map(|p| p.capability.clone())
                .collect(),
            listen_port: 0,
            node_id: our_id,
        };
        let mut frame = BytesMut::new();
        let mut data = BytesMut::new();
        ours.encode(&mut data);
        p2p::encode_message(id::HELLO, &data, false, &mut frame);
        let exchange = async {
            stream.send(&frame).await?;
            let reply = stream.recv().await?;
            let (msg, data) = p2p::decode_message(&reply, false, p2p::MAX_HELLO_LEN)?;
            match msg {
                id::HELLO => Ok(Hello::decode(&data)?),
                id::DISCONNECT => Err(PeerError::Disconnected(DisconnectReason::decode(&data)?)),
                other => Err(PeerError::ExpectedHello(other)),
            }
        };
        let remote = tokio::time::timeout(HELLO_TIMEOUT, exchange)
            .await
            .map_err(|_| PeerError::Timeout)??;
        let remote_id = stream.remote_id();
        let refusal = if remote.node_id != remote_id {
            Some((
                DisconnectReason::UnexpectedIdentity,
                PeerError::UnexpectedIdentity,
            ))
        } else if remote_id == our_id {
            Some((DisconnectReason::SelfConnection, PeerError::SelfConnection))
        } else {
            None
        };
        let shared_caps = match_capabilities(&config.protocols, &remote.capabilities);
        let refusal = refusal.or_else(|| {
            (shared_caps.is_empty() && !config.protocols.is_empty())
                .then_some((DisconnectReason::UselessPeer, PeerError::UselessPeer))
        });
        let compress = remote.protocol_version >= 5;
        if let Some((reason, error)) = refusal {
            let mut data = BytesMut::new();
            reason.encode(&mut data);
            let mut frame = BytesMut::new();
            p2p::encode_message(id::DISCONNECT, &data, compress, &mut frame);
            let _ = stream.send(&frame).await;
            return Err(error);
        }
        tracing::debug!(remote = %remote_id, client = %remote.client_id, caps = shared_caps.len(), "devp2p session up");

        let (io, encoder, decoder, leftover) = stream.into_parts();
        let (read, write) = tokio::io::split(io);
        let shared = Arc::new(Shared {
            queue: Mutex::new(FairQueue::new(shared_caps.len(), config.queue_limit)),
            work: Notify::new(),
            room: Notify::new(),
            closed: watch::channel(None).0,
            ping: Mutex::new(PingState::default()),
            pong: Notify::new(),
            compress,
        });
        let mut inbound = Vec::new();
        let mut streams = Vec::new();
        for (index, cap) in shared_caps.iter().enumerate() {
            let (tx, rx) = mpsc::channel(config.inbound_limit.max(1));
            inbound.push(tx);
            streams.push(Some(CapabilityStream {
                capability: cap.clone(),
                index,
                shared: shared.clone(),
                inbound: rx,
            }));
        }
        let reader = Reader {
            io: read,
            decoder,
            buf: leftover,
            shared: shared.clone(),
            caps: shared_caps.clone(),
            inbound,
            max_message: config.max_message,
        };
        let tasks = vec![
            tokio::spawn(reader.run()),
            tokio::spawn(write_loop(write, encoder, shared.clone())),
            tokio::spawn(ping_loop(
                shared.clone(),
                config.ping_interval,
                config.ping_timeout,
            )),
        ];
        Ok(Peer {
            remote,
            remote_id,
            shared_caps,
            streams,
            shared,
            tasks,
        })
    }

    /// The remote's Hello.
    pub fn remote_hello(&self) -> &Hello {
        &self.remote
    }

    /// The remote's node id.
    pub fn remote_id(&self) -> NodeId {
        self.remote_id
    }

    /// The capabilities both sides speak, as placed in the message-id space.
    pub fn shared_capabilities(&self) -> &[SharedCapability] {
        &self.shared_caps
    }

    /// Takes the stream of the shared capability named `name` (once).
    pub fn capability(&mut self, name: &str) -> Option<CapabilityStream> {
        let index = self
            .shared_caps
            .iter()
            .position(|c| c.capability.name == name)?;
        self.streams[index].take()
    }

    /// Sends Disconnect with `reason`, gives the remote [`DISCONNECT_GRACE`] to close,
    /// then closes.
    pub async fn disconnect(mut self, reason: DisconnectReason) {
        if self.shared.is_closed().is_none() {
            self.shared.disconnect(reason);
            // The writer sends what is queued and shuts down; the reader ends when the
            // remote closes, or the grace runs out.
            let _ = tokio::time::timeout(DISCONNECT_GRACE, &mut self.tasks[0]).await;
        }
    }

    /// Sends a Ping and waits (at most `limit`) for a Pong; the round-trip time.
    pub async fn ping(&self, limit: Duration) -> Result<Duration, PeerError> {
        let pong = self.shared.pong.notified();
        let started = Instant::now();
        self.shared.control(id::PING, &p2p::EMPTY_LIST);
        let mut closed = self.shared.closed.subscribe();
        tokio::select! {
            _ = pong => Ok(started.elapsed()),
            _ = tokio::time::sleep(limit) => Err(PeerError::PingTimeout(limit)),
            _ = closed.wait_for(Option::is_some) => {
                Err(PeerError::Closed(self.shared.is_closed().unwrap_or(Closed::Error("closed".into()))))
            }
        }
    }

    /// Resolves once the session has ended, with how.
    pub async fn closed(&self) -> Closed {
        closed(&self.shared).await
    }

    /// A handle that can end this session and watch it end.
    pub fn handle(&self) -> PeerHandle {
        PeerHandle {
            shared: self.shared.clone(),
        }
    }
}

/// A handle on a session, for whoever watches over it (a [`crate::Server`]): it can end
/// the session and learn how it ended, without owning it.
#[derive(Clone)]
pub struct PeerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHandle").finish_non_exhaustive()
    }
}

impl PeerHandle {
    /// Queues Disconnect with `reason` and ends the session: the writer sends what is
    /// queued, then shuts the connection down.
    pub fn disconnect(&self, reason: DisconnectReason) {
        self.shared.disconnect(reason);
    }

    /// Resolves once the session has ended, with how.
    pub async fn closed(&self) -> Closed {
        closed(&self.shared).await
    }

    /// Whether both handles are of one session.
    pub fn same_session(&self, other: &PeerHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

async fn closed(shared: &Shared) -> Closed {
    let mut rx = shared.closed.subscribe();
    loop {
        if let Some(how) = rx.borrow_and_update().clone() {
            return how;
        }
        if rx.changed().await.is_err() {
            return Closed::Error("session dropped".into());
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.shared.close(Closed::Error("session dropped".into()));
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One shared capability of a [`Peer`]: its messages out (numbered from 0) and in.
pub struct CapabilityStream {
    capability: SharedCapability,
    index: usize,
    shared: Arc<Shared>,
    inbound: mpsc::Receiver<(u64, Bytes)>,
}

impl std::fmt::Debug for CapabilityStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapabilityStream")
            .field("capability", &self.capability)
            .finish_non_exhaustive()
    }
}

impl CapabilityStream {
    /// The capability and where it sits in the message-id space.
    pub fn capability(&self) -> &SharedCapability {
        &self.capability
    }

    /// Sends message `id` (0-based within the capability) with RLP `data`; waits while
    /// the capability's queue is full.
    pub async fn send(&self, id: u64, data: &[u8]) -> Result<(), PeerError> {
        if id >= self.capability.messages {
            return Err(PeerError::BadMessageId {
                id,
                messages: self.capability.messages,
            });
        }
        let mut frame = BytesMut::new();
        p2p::encode_message(
            self.capability.offset + id,
            data,
            self.shared.compress,
            &mut frame,
        );
        let mut frame = frame.freeze();
        loop {
            let room = self.shared.room.notified();
            if let Some(how) = self.shared.is_closed() {
                return Err(PeerError::Closed(how));
            }
            match self.shared.queue().push(self.index, frame) {
                Ok(()) => {
                    self.shared.work.notify_one();
                    return Ok(());
                }
                Err(back) => frame = back,
            }
            room.await;
        }
    }

    /// The next message for this capability: (id within the capability, RLP data), or
    /// `None` once the session has ended and everything received was taken.
    pub async fn recv(&mut self) -> Option<(u64, Bytes)> {
        self.inbound.recv().await
    }
}

struct Reader<Io> {
    io: ReadHalf<Io>,
    decoder: FrameDecoder,
    buf: BytesMut,
    shared: Arc<Shared>,
    caps: Vec<SharedCapability>,
    inbound: Vec<mpsc::Sender<(u64, Bytes)>>,
    max_message: usize,
}

impl<Io: AsyncRead + Unpin> Reader<Io> {
    async fn run(mut self) {
        let how = match self.read_loop().await {
            Ok(how) => how,
            Err(e) => Closed::Error(e),
        };
        match how {
            // Our own refusal of what the remote sent: tell it why.
            Closed::Local(reason) => self.shared.disconnect(reason),
            how => self.shared.close(how),
        }
    }

    async fn read_loop(&mut self) -> Result<Closed, String> {
        loop {
            let frame = loop {
                if let Some(frame) = self
                    .decoder
                    .decode(&mut self.buf)
                    .map_err(|e| e.to_string())?
                {
                    break frame;
                }
                self.buf.reserve(4096);
                if self
                    .io
                    .read_buf(&mut self.buf)
                    .await
                    .map_err(|e| e.to_string())?
                    == 0
                {
                    return Err("connection closed".into());
                }
            };
            let (msg, data) =
                match p2p::decode_message(&frame, self.shared.compress, self.max_message) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(error = %e, "bad devp2p message");
                        return Ok(Closed::Local(DisconnectReason::ProtocolBreach));
                    }
                };
            tracing::trace!(msg, len = data.len(), "devp2p message received");
            match msg {
                id::PING => self.shared.control(id::PONG, &p2p::EMPTY_LIST),
                id::PONG => {
                    self.shared
                        .ping
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .outstanding_since = None;
                    self.shared.pong.notify_waiters();
                }
                id::DISCONNECT => {
                    let reason =
                        DisconnectReason::decode(&data).unwrap_or(DisconnectReason::ProtocolBreach);
                    return Ok(Closed::Remote(reason));
                }
                _ => {
                    let Some(index) = self.caps.iter().position(|c| c.contains(msg)) else {
                        tracing::debug!(msg, "devp2p message id of no shared capability");
                        return Ok(Closed::Local(DisconnectReason::ProtocolBreach));
                    };
                    let relative = msg - self.caps[index].offset;
                    // A full inbound queue stops reading: the remote's sends back up.
                    // A capability nobody took has no receiver: its messages are dropped.
                    let _ = self.inbound[index]
                        .send((relative, Bytes::from(data)))
                        .await;
                }
            }
        }
    }
}

async fn write_loop<Io: AsyncWrite>(
    mut io: WriteHalf<Io>,
    mut encoder: FrameEncoder,
    shared: Arc<Shared>,
) {
    let mut buf = BytesMut::new();
    loop {
        let work = shared.work.notified();
        let next = shared.queue().pop();
        match next {
            Some(frame) => {
                tracing::trace!(len = frame.len(), "devp2p frame sent");
                shared.room.notify_waiters();
                buf.clear();
                if encoder.encode(&frame, &mut buf).is_err() {
                    shared.close(Closed::Error("a message too large for a frame".into()));
                    break;
                }
                if let Err(e) = io.write_all(&buf).await {
                    shared.close(Closed::Error(e.to_string()));
                    break;
                }
                if shared.queue().is_empty() && io.flush().await.is_err() {
                    break;
                }
            }
            None => {
                if shared.is_closed().is_some() {
                    let _ = io.flush().await;
                    let _ = io.shutdown().await;
                    break;
                }
                work.await;
            }
        }
    }
}

async fn ping_loop(shared: Arc<Shared>, interval: Duration, timeout: Duration) {
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    let mut closed = shared.closed.subscribe();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = closed.changed() => return,
        }
        if shared.is_closed().is_some() {
            return;
        }
        let now = Instant::now();
        let overdue = {
            let mut ping = shared.ping.lock().unwrap_or_else(|e| e.into_inner());
            match ping.outstanding_since {
                Some(since) => now.duration_since(since) >= timeout,
                None => {
                    ping.outstanding_since = Some(now);
                    false
                }
            }
        };
        if overdue {
            shared.disconnect(DisconnectReason::PingTimeout);
            return;
        }
        shared.control(id::PING, &p2p::EMPTY_LIST);
    }
}
