//! The switch: connection pool, dialer, listeners and inbound stream dispatch.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{
    FutureExt, StreamExt,
    future::{BoxFuture, Shared},
    stream::{self, BoxStream},
};
use mycel_core::{
    BoxedIo, BoxedTransport, BufferBudget, Direction, Limit, Multiaddr, MuxedConnection,
    MuxerError, NegotiatedStream, NetworkError, NetworkEvent, PeerId, ProtocolId, PublicKey,
    StreamHandler, TransportError, addr::split_peer_id,
};
use mycel_multistream::{NegotiationError, dialer_select, dialer_select_lazy, listener_select};
use tokio::{sync::broadcast, task::JoinHandle, time::timeout};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    ConnectError, DialError, ListenError, SwitchConfig, Upgraded, Upgrader,
    config::EVENT_BUFFER,
    error::muxer_to_network,
    pool::{PendingId, Pool, PoolConnection, PoolEvent, PoolLimits, Refusal},
    stream::{Activity, CountedStream, KeepAlive, Kind},
};

/// Pause after a listener's accept fails for a reason other than closing (out of file
/// descriptors, …), so a persistent error does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How long [`Switch::close`] waits for each connection's muxer to say goodbye.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Identifies one connection for as long as the switch lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An established, upgraded connection in the pool. Cheap to clone.
#[derive(Clone)]
pub struct PeerConnection {
    id: ConnectionId,
    peer: PeerId,
    public_key: PublicKey,
    remote_addr: Multiaddr,
    local_addr: Multiaddr,
    direction: Direction,
    muxer_protocol: ProtocolId,
    muxer: Arc<dyn MuxedConnection>,
    /// Set when we close it, or when it refused a new stream (the remote said goodbye):
    /// no new streams are opened on it, and the pool looks past it.
    closing: Arc<AtomicBool>,
    /// Set when we close it (for the reason given in `Disconnected`).
    closed_locally: Arc<AtomicBool>,
    /// Its open streams and keep-alives.
    activity: Arc<Activity>,
}

impl fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConnection")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("remote_addr", &self.remote_addr)
            .field("direction", &self.direction)
            .field("muxer", &self.muxer_protocol)
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    /// This connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The authenticated remote peer.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The remote's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The remote's address (for inbound connections, as the transport saw it).
    pub fn remote_addr(&self) -> &Multiaddr {
        &self.remote_addr
    }

    /// Our side's address.
    pub fn local_addr(&self) -> &Multiaddr {
        &self.local_addr
    }

    /// Who dialed.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The muxer in use.
    pub fn muxer_protocol(&self) -> &ProtocolId {
        &self.muxer_protocol
    }

    /// Streams open on it now: (inbound, outbound).
    pub fn open_streams(&self) -> (usize, usize) {
        (
            self.activity.streams(Kind::Inbound),
            self.activity.streams(Kind::Outbound),
        )
    }

    /// Keeps the connection open past the idle timeout while the returned value lives.
    pub fn keep_alive(&self) -> KeepAlive {
        KeepAlive::new(
            self.activity
                .try_add(Kind::Hold, usize::MAX)
                .expect("no limit on holds"),
        )
    }

    /// Maps a failure to open a stream; a closed muxer marks the connection closing so
    /// the pool looks past it.
    fn refused_stream(&self, e: MuxerError) -> NetworkError {
        if matches!(e, MuxerError::Closed) {
            self.closing.store(true, Ordering::Relaxed);
        }
        muxer_to_network(e, self.peer)
    }

    /// Whether the connection has closed, or is closing (no new streams).
    pub fn is_closed(&self) -> bool {
        self.closing.load(Ordering::Relaxed) || self.muxer.is_closed()
    }
}

/// The registered protocol handlers; replaced whole on change, so an inbound stream
/// negotiates against one consistent snapshot.
#[derive(Default)]
struct Handlers {
    protocols: Vec<ProtocolId>,
    map: HashMap<ProtocolId, StreamHandler>,
}

/// A pool refusal as a connection error.
fn refused(refusal: Refusal) -> ConnectError {
    match refusal {
        Refusal::Limit(limit) => ConnectError::Limit(limit),
        Refusal::Closed => ConnectError::Closed,
    }
}

/// Called with every connection that enters the pool (see [`Switch::on_connection`]).
pub type ConnectionHook = Arc<dyn Fn(&PeerConnection) + Send + Sync>;

type SharedDial = Shared<BoxFuture<'static, Result<PeerConnection, DialError>>>;

struct State {
    /// The connections, their counts and the handshakes in progress.
    pool: Pool<PeerConnection>,
    /// How to abort each inbound handshake the pool counts as pending.
    pending_inbound: HashMap<PendingId, CancellationToken>,
    dials: HashMap<PeerId, SharedDial>,
    listeners: Vec<(Multiaddr, CancellationToken)>,
}

impl State {
    fn live_connection(&self, peer: &PeerId) -> Option<PeerConnection> {
        self.pool.live_connection(peer)
    }
}

impl PoolConnection for PeerConnection {
    fn is_closed(&self) -> bool {
        PeerConnection::is_closed(self)
    }
}

/// An outbound attempt counted by the pool, until dropped.
struct PendingOutbound<'a>(&'a Inner);

impl Drop for PendingOutbound<'_> {
    fn drop(&mut self) {
        self.0.lock().pool.end_outbound();
    }
}

struct Inner {
    local_peer_id: PeerId,
    config: SwitchConfig,
    transports: Vec<BoxedTransport>,
    upgrader: Upgrader,
    state: Mutex<State>,
    handlers: RwLock<Arc<Handlers>>,
    on_connection: RwLock<Option<ConnectionHook>>,
    events: broadcast::Sender<NetworkEvent>,
    tasks: TaskTracker,
    /// Cancelled to stop every task.
    shutdown: CancellationToken,
    /// Cancelled once every task has ended (ends the event streams).
    finished: CancellationToken,
    budget: BufferBudget,
    next_id: AtomicU64,
}

/// Owns every connection of a node: dials (de-duplicated per peer, addresses in
/// parallel), listens, upgrades, and routes inbound streams to protocol handlers.
///
/// Cheap to clone; all clones are one switch. Must be created inside a tokio runtime.
/// [`Switch::close`] ends every task it started.
#[derive(Clone)]
pub struct Switch {
    inner: Arc<Inner>,
    _guard: Arc<DropGuard>,
}

/// Stops a switch's tasks when dropped (see [`Switch::stop_on_drop`]).
#[derive(Debug)]
pub struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Held only by the user-facing handles: when the last one goes without
/// [`Switch::close`], every task is told to stop, so nothing outlives the switch.
struct DropGuard(CancellationToken);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("local_peer_id", &self.inner.local_peer_id)
            .finish_non_exhaustive()
    }
}

impl Switch {
    /// A switch for `local_peer_id` over `transports`, upgrading with `upgrader`.
    pub fn new(
        local_peer_id: PeerId,
        transports: Vec<BoxedTransport>,
        upgrader: Upgrader,
        config: SwitchConfig,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shutdown = CancellationToken::new();
        let budget = BufferBudget::new(config.max_buffered_bytes);
        let upgrader = upgrader.with_buffer_budget(budget.clone());
        Self {
            _guard: Arc::new(DropGuard(shutdown.clone())),
            inner: Arc::new(Inner {
                local_peer_id,
                budget,
                state: Mutex::new(State {
                    pool: Pool::new(PoolLimits::from(&config)),
                    pending_inbound: HashMap::new(),
                    dials: HashMap::new(),
                    listeners: Vec::new(),
                }),
                config,
                transports,
                upgrader,
                handlers: RwLock::default(),
                on_connection: RwLock::default(),
                events,
                tasks: TaskTracker::new(),
                shutdown,
                finished: CancellationToken::new(),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.local_peer_id
    }

    /// The configuration.
    pub fn config(&self) -> &SwitchConfig {
        &self.inner.config
    }

    /// Starts listening on `addr`; returns the address actually bound (port 0 resolved).
    pub async fn listen(&self, addr: &Multiaddr) -> Result<Multiaddr, ListenError> {
        let inner = &self.inner;
        let transport = inner
            .transports
            .iter()
            .find(|t| t.supports(addr))
            .ok_or_else(|| ListenError::NoTransport(addr.clone()))?;
        let mut listener = transport.listen(addr).await?;
        let local = listener.local_addr();
        let token = inner.shutdown.child_token();
        {
            let mut state = inner.lock();
            if state.pool.is_closed() {
                return Err(ListenError::Closed);
            }
            state.listeners.push((local.clone(), token.clone()));
        }
        tracing::info!(addr = %local, "listening");
        inner.emit(NetworkEvent::ListenAddrAdded(local.clone()));
        let weak = Arc::downgrade(&self.inner);
        let addr = local.clone();
        inner.tasks.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Some(inner) = weak.upgrade() else { break };
                match accepted {
                    Ok(conn) => inner.on_inbound(conn),
                    Err(TransportError::ListenerClosed) => break,
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "accept failed");
                        drop(inner);
                        tokio::select! {
                            _ = token.cancelled() => break,
                            _ = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => {}
                        }
                    }
                }
            }
            drop(listener);
            if let Some(inner) = weak.upgrade() {
                inner.lock().listeners.retain(|(a, _)| a != &addr);
                tracing::info!(%addr, "stopped listening");
                inner.emit(NetworkEvent::ListenAddrExpired(addr));
            }
        });
        Ok(local)
    }

    /// Stops listening on `addr` (as returned by [`Switch::listen`]). Returns whether
    /// such a listener existed.
    pub fn remove_listener(&self, addr: &Multiaddr) -> bool {
        let state = self.inner.lock();
        let found = state.listeners.iter().find(|(a, _)| a == addr);
        if let Some((_, token)) = found {
            token.cancel();
        }
        found.is_some()
    }

    /// The addresses we listen on.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let state = self.inner.lock();
        state.listeners.iter().map(|(a, _)| a.clone()).collect()
    }

    /// Connects to `peer`, trying `addrs` (at most [`SwitchConfig::max_parallel_dials`]
    /// at a time) unless a connection exists. Concurrent calls for one peer share one
    /// attempt (and the addresses of the first call).
    pub async fn dial_peer(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<PeerConnection, DialError> {
        if peer == self.inner.local_peer_id {
            return Err(DialError::DialSelf);
        }
        let dial = {
            let mut state = self.inner.lock();
            if state.pool.is_closed() {
                return Err(DialError::Closed);
            }
            if let Some(conn) = state.live_connection(&peer) {
                return Ok(conn);
            }
            match state.dials.get(&peer) {
                Some(dial) => dial.clone(),
                None => {
                    if addrs.is_empty() {
                        return Err(DialError::NoAddresses(peer));
                    }
                    let inner = self.inner.clone();
                    let task = self.inner.spawn(async move {
                        // However the dial ends (even by a panic), it leaves the map.
                        let _forget = ForgetDial {
                            inner: inner.clone(),
                            peer,
                        };
                        inner.dial_addrs(Some(peer), addrs).await
                    });
                    let dial = join_dial(task).boxed().shared();
                    state.dials.insert(peer, dial.clone());
                    dial
                }
            }
        };
        dial.await
    }

    /// Dials `addr`. With a `/p2p/<id>` suffix the remote must be that peer and an
    /// existing connection to it is reused; without one, any peer is accepted.
    pub async fn dial_addr(&self, addr: &Multiaddr) -> Result<PeerConnection, DialError> {
        let (base, peer) = split_peer_id(addr).map_err(|e| DialError::Failed {
            errors: vec![(addr.clone(), e.to_string())],
        })?;
        match peer {
            Some(peer) => self.dial_peer(peer, vec![base]).await,
            None => {
                if self.inner.lock().pool.is_closed() {
                    return Err(DialError::Closed);
                }
                let inner = self.inner.clone();
                join_dial(
                    self.inner
                        .spawn(async move { inner.dial_addrs(None, vec![base]).await }),
                )
                .await
            }
        }
    }

    /// Keeps the newest connection to `peer` open past the idle timeout while the
    /// returned value lives; `None` when not connected.
    pub fn keep_alive(&self, peer: &PeerId) -> Option<KeepAlive> {
        self.connection(peer).map(|c| c.keep_alive())
    }

    /// A live connection to `peer`, if any (the newest).
    pub fn connection(&self, peer: &PeerId) -> Option<PeerConnection> {
        self.inner.lock().live_connection(peer)
    }

    /// Every live connection.
    pub fn connections(&self) -> Vec<PeerConnection> {
        self.inner.lock().pool.connections()
    }

    /// Peers with at least one connection.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.inner.lock().pool.peers()
    }

    /// Whether we have a connection to `peer`.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.inner.lock().live_connection(peer).is_some()
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: &PeerId) {
        // The connections leave the pool (and `Disconnected` is sent) as their tasks see
        // them close.
        let conns = self.inner.lock().pool.connections_of(peer);
        close_all(conns).await;
    }

    /// Opens a stream on an existing connection to `peer` and negotiates one of
    /// `protocols` (lazily when there is only one: the proposal then rides with the first
    /// write, and a refusal surfaces as an error on the first read).
    pub async fn open_stream(
        &self,
        peer: PeerId,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError> {
        let conn = self
            .connection(&peer)
            .ok_or(NetworkError::NotConnected(peer))?;
        self.open_stream_on(&conn, protocols).await
    }

    /// Opens a stream on `conn` and negotiates one of `protocols`.
    pub async fn open_stream_on(
        &self,
        conn: &PeerConnection,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError> {
        let limit = self.inner.config.negotiation_timeout;
        let peer = conn.peer;
        let token = conn
            .activity
            .try_add(
                Kind::Outbound,
                self.inner.config.max_outbound_streams_per_connection,
            )
            .ok_or(NetworkError::LimitReached(Limit::OutboundStreams))?;
        let (protocol, io): (_, BoxedIo) = match protocols {
            [] => {
                return Err(NetworkError::ProtocolNotSupported {
                    peer,
                    protocols: Vec::new(),
                });
            }
            [protocol] => {
                let stream = timeout(limit, conn.muxer.open_stream())
                    .await
                    .map_err(|_| NetworkError::Timeout(limit))?
                    .map_err(|e| conn.refused_stream(e))?;
                (
                    protocol.clone(),
                    Box::new(dialer_select_lazy(stream, protocol.clone())),
                )
            }
            _ => {
                let negotiate = async {
                    let stream = conn
                        .muxer
                        .open_stream()
                        .await
                        .map_err(|e| conn.refused_stream(e))?;
                    dialer_select(stream, protocols).await.map_err(|e| match e {
                        NegotiationError::ProtocolNotSupported => {
                            NetworkError::ProtocolNotSupported {
                                peer,
                                protocols: protocols.to_vec(),
                            }
                        }
                        e => NetworkError::Other(format!("negotiation: {e}")),
                    })
                };
                let (protocol, io) = timeout(limit, negotiate)
                    .await
                    .map_err(|_| NetworkError::Timeout(limit))??;
                (protocol, Box::new(io))
            }
        };
        tracing::trace!(%peer, %protocol, "outbound stream");
        Ok(NegotiatedStream {
            peer,
            protocol,
            remote_addr: Some(conn.remote_addr.clone()),
            io: Box::new(CountedStream::new(io, token)),
        })
    }

    /// Routes inbound streams of `protocol` to `handler`, replacing any previous one.
    pub fn set_stream_handler(&self, protocol: ProtocolId, handler: StreamHandler) {
        let mut handlers = write(&self.inner.handlers);
        let mut next = Handlers {
            protocols: handlers.protocols.clone(),
            map: handlers.map.clone(),
        };
        if next.map.insert(protocol.clone(), handler).is_none() {
            next.protocols.push(protocol);
        }
        *handlers = Arc::new(next);
    }

    /// Stops routing inbound streams of `protocol`; proposals of it get `na`.
    pub fn remove_stream_handler(&self, protocol: &ProtocolId) {
        let mut handlers = write(&self.inner.handlers);
        let mut next = Handlers {
            protocols: handlers.protocols.clone(),
            map: handlers.map.clone(),
        };
        next.map.remove(protocol);
        next.protocols.retain(|p| p != protocol);
        *handlers = Arc::new(next);
    }

    /// The protocols we have handlers for, in registration order.
    pub fn protocols(&self) -> Vec<ProtocolId> {
        read(&self.inner.handlers).protocols.clone()
    }

    /// Every event from now on; the stream ends once the switch has closed. A
    /// subscriber more than [`crate::EVENT_BUFFER`] events behind skips the oldest.
    pub fn events(&self) -> BoxStream<'static, NetworkEvent> {
        let rx = self.inner.events.subscribe();
        let closed = self.inner.finished.clone();
        // After the switch closes, the events already sent are still delivered, then
        // the stream ends.
        stream::unfold((rx, closed), |(mut rx, closed)| async move {
            loop {
                let received = tokio::select! {
                    biased;
                    received = rx.recv() => received,
                    _ = closed.cancelled() => match rx.try_recv() {
                        Ok(event) => Ok(event),
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            Err(broadcast::error::RecvError::Lagged(n))
                        }
                        Err(_) => Err(broadcast::error::RecvError::Closed),
                    },
                };
                match received {
                    Ok(event) => return Some((event, (rx, closed))),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "event subscriber lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    /// Calls `hook` with every connection that enters the pool, both directions, right
    /// after it does (before its streams are served). Keep it short: spawn the work.
    /// Replaces any previous hook.
    pub fn on_connection(&self, hook: ConnectionHook) {
        *self
            .inner
            .on_connection
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Sends `event` to every subscriber of [`Switch::events`] (for the layers above:
    /// the host reports identify results this way).
    pub fn publish(&self, event: NetworkEvent) {
        self.inner.emit(event);
    }

    /// Runs `fut` in a task the switch owns: it is dropped when the switch closes.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.inner.spawn(fut));
    }

    /// A guard that stops the switch (as [`Switch::close`] would, without waiting) when
    /// dropped: for layers above that keep their own handles to the switch alive
    /// internally and want their users' last handle to end it.
    pub fn stop_on_drop(&self) -> StopOnDrop {
        StopOnDrop(self.inner.shutdown.clone())
    }

    /// Bytes all connections hold for streams that have not read them yet.
    pub fn buffered_bytes(&self) -> usize {
        self.inner.budget.used()
    }

    /// Tasks the switch has running (listeners, connections, streams, dials).
    pub fn running_tasks(&self) -> usize {
        self.inner.tasks.len()
    }

    /// Whether [`Switch::close`] has been called.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().pool.is_closed()
    }

    /// Shuts down: closes the listeners, then every connection (each muxer gets a short
    /// grace to say goodbye), then ends every task the switch started and waits for them.
    pub async fn close(&self) {
        let inner = &self.inner;
        let (listeners, conns) = {
            let mut state = inner.lock();
            let conns = state.pool.close();
            for (_, token) in state.pending_inbound.drain() {
                token.cancel();
            }
            state.dials.clear();
            let listeners = std::mem::take(&mut state.listeners);
            (listeners, conns)
        };
        for (_, token) in &listeners {
            token.cancel();
        }
        close_all(conns).await;
        inner.shutdown.cancel();
        inner.tasks.close();
        inner.tasks.wait().await;
        inner.finished.cancel();
        tracing::debug!("switch closed");
    }
}

async fn close_all(conns: Vec<PeerConnection>) {
    let closes = conns.into_iter().map(|conn| async move {
        conn.closing.store(true, Ordering::Relaxed);
        conn.closed_locally.store(true, Ordering::Relaxed);
        let _ = timeout(CLOSE_GRACE, conn.muxer.close()).await;
    });
    futures::future::join_all(closes).await;
}

async fn join_dial(
    task: JoinHandle<Option<Result<PeerConnection, DialError>>>,
) -> Result<PeerConnection, DialError> {
    match task.await {
        Ok(Some(result)) => result,
        Ok(None) => Err(DialError::Closed),
        Err(e) if e.is_panic() => Err(DialError::Internal("the dial task panicked".into())),
        Err(_) => Err(DialError::Closed),
    }
}

struct ForgetDial {
    inner: Arc<Inner>,
    peer: PeerId,
}

impl Drop for ForgetDial {
    fn drop(&mut self) {
        self.inner.lock().dials.remove(&self.peer);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes a connection that never made it into the pool, in a short tracked task.
    fn close_in_background(&self, conn: &PeerConnection) {
        let muxer = conn.muxer.clone();
        self.tasks.spawn(async move {
            let _ = timeout(CLOSE_GRACE, muxer.close()).await;
        });
    }

    fn emit(&self, event: NetworkEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Spawns `fut` on the tracker; it is dropped at shutdown (then yields `None`).
    fn spawn<F>(&self, fut: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => None,
                out = fut => Some(out),
            }
        })
    }

    /// Tries `addrs` (bounded in parallel); the first success is registered, the rest
    /// are dropped.
    async fn dial_addrs(
        self: &Arc<Self>,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> Result<PeerConnection, DialError> {
        let mut attempts = stream::iter(addrs)
            .map(|addr| async move {
                let result = self.connect(&addr, peer).await;
                (addr, result)
            })
            .buffer_unordered(self.config.max_parallel_dials.max(1));
        let mut errors = Vec::new();
        while let Some((addr, result)) = attempts.next().await {
            match result {
                Ok((upgraded, conn_local, conn_remote)) => {
                    tracing::debug!(%addr, peer = %upgraded.peer, "dial succeeded");
                    let remote = upgraded.peer;
                    match self.register(upgraded, Direction::Outbound, conn_local, conn_remote) {
                        Ok(conn) => return Ok(conn),
                        Err(ConnectError::Closed) => return Err(DialError::Closed),
                        Err(e) => {
                            // Over the per-peer limit: the connections we have will do.
                            if let Some(conn) = self.lock().live_connection(&remote) {
                                return Ok(conn);
                            }
                            errors.push((addr, e.to_string()));
                            return Err(DialError::Failed { errors });
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "dial failed");
                    errors.push((addr, e.to_string()));
                }
            }
        }
        Err(DialError::Failed { errors })
    }

    async fn connect(
        &self,
        addr: &Multiaddr,
        peer: Option<PeerId>,
    ) -> Result<(Upgraded, Multiaddr, Multiaddr), ConnectError> {
        let transport = self
            .transports
            .iter()
            .find(|t| t.supports(addr))
            .ok_or(ConnectError::NoTransport)?;
        self.lock().pool.begin_outbound().map_err(refused)?;
        let _pending = PendingOutbound(self);
        let dial_timeout = self.config.dial_timeout;
        let conn = timeout(dial_timeout, transport.dial(addr))
            .await
            .map_err(|_| ConnectError::Timeout {
                stage: "dial",
                after: dial_timeout,
            })??;
        let upgrade_timeout = self.config.upgrade_timeout;
        let upgraded = timeout(upgrade_timeout, self.upgrader.outbound(conn.io, peer))
            .await
            .map_err(|_| ConnectError::Timeout {
                stage: "upgrade",
                after: upgrade_timeout,
            })??;
        Ok((upgraded, conn.local_addr, conn.remote_addr))
    }

    fn on_inbound(self: &Arc<Self>, conn: mycel_core::Connection<BoxedIo>) {
        let (id, cancelled) = {
            let mut state = self.lock();
            let (id, evicted) = match state.pool.begin_inbound() {
                Ok(admitted) => admitted,
                Err(refusal) => {
                    tracing::debug!(remote = %conn.remote_addr, ?refusal, "dropping inbound connection");
                    return;
                }
            };
            if let Some(oldest) = evicted.and_then(|e| state.pending_inbound.remove(&e)) {
                tracing::debug!(remote = %conn.remote_addr, "pending inbound full, dropping the oldest handshake");
                oldest.cancel();
            }
            let token = CancellationToken::new();
            state.pending_inbound.insert(id, token.clone());
            (id, token)
        };
        let inner = self.clone();
        drop(self.spawn(async move {
            let remote = conn.remote_addr.clone();
            let limit = inner.config.upgrade_timeout;
            let upgrade = timeout(limit, inner.upgrader.inbound(conn.io));
            let outcome = tokio::select! {
                outcome = upgrade => Some(outcome),
                _ = cancelled.cancelled() => None,
            };
            {
                let mut state = inner.lock();
                state.pool.end_inbound(id);
                state.pending_inbound.remove(&id);
            }
            let result = match outcome {
                Some(Ok(Ok(upgraded))) => inner.register(
                    upgraded,
                    Direction::Inbound,
                    conn.local_addr,
                    conn.remote_addr,
                ),
                Some(Ok(Err(e))) => Err(e),
                Some(Err(_)) => Err(ConnectError::Timeout {
                    stage: "upgrade",
                    after: limit,
                }),
                None => Err(ConnectError::Limit(Limit::PendingInbound)),
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "inbound connection failed");
            }
        }));
    }

    /// Adds an upgraded connection to the pool and starts serving its inbound streams.
    fn register(
        self: &Arc<Self>,
        upgraded: Upgraded,
        direction: Direction,
        local_addr: Multiaddr,
        remote_addr: Multiaddr,
    ) -> Result<PeerConnection, ConnectError> {
        let conn = PeerConnection {
            id: ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed)),
            peer: upgraded.peer,
            public_key: upgraded.public_key,
            remote_addr,
            local_addr,
            direction,
            muxer_protocol: upgraded.muxer_protocol,
            muxer: Arc::from(upgraded.connection),
            closing: Arc::new(AtomicBool::new(false)),
            closed_locally: Arc::new(AtomicBool::new(false)),
            activity: Activity::new(),
        };
        {
            let mut state = self.lock();
            let event = match state
                .pool
                .admit(conn.id.0, conn.peer, direction, conn.clone())
            {
                Ok(event) => event,
                Err(refusal) => {
                    drop(state);
                    self.close_in_background(&conn);
                    return Err(refused(refusal));
                }
            };
            tracing::info!(
                peer = %conn.peer,
                addr = %conn.remote_addr,
                ?direction,
                muxer = %conn.muxer_protocol,
                "connection established"
            );
            // Sent under the lock, so `Connected` and `Disconnected` of one peer
            // alternate in the order they happened.
            if let Some(PoolEvent::Connected { .. }) = event {
                self.emit(NetworkEvent::Connected {
                    peer: conn.peer,
                    remote_addr: conn.remote_addr.clone(),
                    direction,
                });
            }
        }
        let hook = self
            .on_connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(&conn);
        }
        let inner = self.clone();
        let serve = conn.clone();
        drop(self.spawn(async move { inner.serve_connection(serve).await }));
        Ok(conn)
    }

    /// Accepts the connection's inbound streams until it closes, then removes it.
    async fn serve_connection(self: Arc<Self>, conn: PeerConnection) {
        let negotiating = Arc::new(AtomicUsize::new(0));
        let idle = async {
            match self.config.idle_timeout {
                Some(timeout) => conn.activity.idle_for(timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(idle);
        let reason = loop {
            let accepted = tokio::select! {
                accepted = conn.muxer.accept_stream() => accepted,
                _ = &mut idle => {
                    tracing::debug!(peer = %conn.peer, id = %conn.id, "connection idle, closing");
                    conn.closing.store(true, Ordering::Relaxed);
                    let _ = timeout(CLOSE_GRACE, conn.muxer.close()).await;
                    break "idle timeout".to_string();
                }
            };
            match accepted {
                Ok(stream) => {
                    let Some(token) = conn.activity.try_add(
                        Kind::Inbound,
                        self.config.max_inbound_streams_per_connection,
                    ) else {
                        tracing::debug!(peer = %conn.peer, "inbound stream limit reached, resetting");
                        continue;
                    };
                    if negotiating.load(Ordering::Relaxed)
                        >= self.config.max_negotiating_inbound_streams
                    {
                        tracing::debug!(peer = %conn.peer, "too many negotiating streams, resetting");
                        continue;
                    }
                    negotiating.fetch_add(1, Ordering::Relaxed);
                    let inner = self.clone();
                    let counter = negotiating.clone();
                    let (peer, remote) = (conn.peer, conn.remote_addr.clone());
                    let stream: BoxedIo = Box::new(CountedStream::new(stream, token));
                    drop(self.spawn(async move {
                        inner.serve_stream(peer, remote, stream, counter).await;
                    }));
                }
                Err(e) if conn.closed_locally.load(Ordering::Relaxed) => {
                    break format!("closed locally ({e})");
                }
                Err(e) => break e.to_string(),
            }
        };
        tracing::info!(peer = %conn.peer, id = %conn.id, %reason, "connection closed");
        let mut state = self.lock();
        if let Some(PoolEvent::Disconnected { peer }) = state.pool.remove(conn.id.0, &conn.peer) {
            self.emit(NetworkEvent::Disconnected { peer, reason });
        }
    }

    async fn serve_stream(
        &self,
        peer: PeerId,
        remote_addr: Multiaddr,
        stream: BoxedIo,
        negotiating: Arc<AtomicUsize>,
    ) {
        let handlers = read(&self.handlers).clone();
        let limit = self.config.negotiation_timeout;
        let negotiated = timeout(limit, listener_select(stream, &handlers.protocols)).await;
        negotiating.fetch_sub(1, Ordering::Relaxed);
        let (protocol, io) = match negotiated {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "inbound stream negotiation failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "inbound stream negotiation timed out");
                return;
            }
        };
        let Some(handler) = handlers.map.get(&protocol) else {
            return;
        };
        tracing::trace!(%peer, %protocol, "inbound stream");
        handler(NegotiatedStream {
            peer,
            protocol,
            remote_addr: Some(remote_addr),
            io: Box::new(io),
        })
        .await;
    }
}

fn read(lock: &RwLock<Arc<Handlers>>) -> Arc<Handlers> {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write(lock: &RwLock<Arc<Handlers>>) -> std::sync::RwLockWriteGuard<'_, Arc<Handlers>> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
