//! The switch: connection pool, dialer, listeners and inbound stream dispatch.
//!
//! By job: `connection.rs` (a pooled connection), `listen.rs`, `dial.rs`, `inbound.rs`
//! (an upgraded connection entering the pool, and its inbound streams), `streams.rs`
//! (opening streams, the handler table, serving an inbound stream); the pool's rules are
//! `crate::pool`.

mod connection;
mod dial;
mod inbound;
mod listen;
mod streams;

pub use connection::{ConnectionId, PeerConnection};
use connection::{ConnectionState, close_all};

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
    BoxedIo, BoxedListener, BoxedTransport, BufferBudget, Direction, Limit, Multiaddr,
    MuxedConnection, MuxerError, NegotiatedStream, NetworkError, NetworkEvent, PeerId,
    PendingSecured, ProtocolId, PublicKey, SecuredConnection, SecuredListener, SecuredTransport,
    StreamHandler, TransportError, addr::split_peer_id, tasks::TaskGroup,
};
use mycel_multistream::{NegotiationError, dialer_select, dialer_select_lazy, listener_select};
use tokio::{sync::broadcast, task::JoinHandle, time::timeout};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{
    ConnectError, DialError, ListenError, Stage, SwitchConfig, Upgraded, Upgrader,
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

/// The registered protocol handlers; replaced whole on change, so an inbound stream
/// negotiates against one consistent snapshot.
#[derive(Default)]
struct Handlers {
    protocols: Vec<ProtocolId>,
    map: HashMap<ProtocolId, StreamHandler>,
}

/// A connection after its handshake, with our and the remote's address.
type Handshaken = (Upgraded, Multiaddr, Multiaddr);

/// A secured transport's connection in the form the upgrader gives.
fn from_secured(conn: SecuredConnection) -> Handshaken {
    (
        Upgraded {
            peer: conn.remote_peer,
            public_key: conn.remote_key,
            muxer_protocol: conn.muxer_protocol,
            connection: conn.muxer,
        },
        conn.local_addr,
        conn.remote_addr,
    )
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
    /// Transports whose connections arrive secured and multiplexed; preferred for the
    /// addresses they support.
    secured: Vec<Arc<dyn SecuredTransport>>,
    upgrader: Upgrader,
    state: Mutex<State>,
    handlers: RwLock<Arc<Handlers>>,
    on_connection: RwLock<Option<ConnectionHook>>,
    events: broadcast::Sender<NetworkEvent>,
    tasks: TaskGroup,
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
pub struct StopOnDrop {
    _guard: DropGuard,
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
        Self::with_secured_transports(local_peer_id, transports, Vec::new(), upgrader, config)
    }

    /// A switch over byte-stream `transports` (upgraded with `upgrader`) and `secured`
    /// ones, whose connections arrive authenticated and multiplexed (QUIC). For an
    /// address both kinds support, the secured transport is used.
    pub fn with_secured_transports(
        local_peer_id: PeerId,
        transports: Vec<BoxedTransport>,
        secured: Vec<Arc<dyn SecuredTransport>>,
        upgrader: Upgrader,
        config: SwitchConfig,
    ) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let tasks = TaskGroup::new();
        let budget = BufferBudget::new(config.max_buffered_bytes);
        let upgrader = upgrader.with_buffer_budget(budget.clone());
        Self {
            _guard: Arc::new(tasks.drop_guard()),
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
                secured,
                upgrader,
                handlers: RwLock::default(),
                on_connection: RwLock::default(),
                events,
                tasks,
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
        StopOnDrop {
            _guard: self.inner.tasks.drop_guard(),
        }
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
        inner.tasks.stop().await;
        inner.finished.cancel();
        tracing::debug!("switch closed");
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes a connection that never made it into the pool, in a short tracked task.
    fn close_in_background(&self, conn: &PeerConnection) {
        let conn = conn.clone();
        self.tasks.spawn_to_completion(async move {
            let _ = timeout(CLOSE_GRACE, conn.0.muxer.close()).await;
        });
    }

    fn emit(&self, event: NetworkEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Spawns `fut` in the switch's task group; it is dropped at shutdown (then yields `None`).
    fn spawn<F>(&self, fut: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(fut)
    }
}
