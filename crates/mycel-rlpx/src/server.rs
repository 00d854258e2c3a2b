//! [`Server`]: a devp2p node's listener and dialer with the peer policy applied: it
//! accepts and dials sessions, admits them through a [`PeerManager`], hands the admitted
//! ones to the application, and follows them until they end.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use k256::SecretKey;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
    task::{AbortHandle, JoinHandle},
};

use crate::{
    Closed, NodeId, Peer, PeerConfig, PeerError, PeerHandle, enode_url,
    p2p::DisconnectReason,
    peers::{Admission, Direction, PeerEvent, PeerManager, PeerManagerConfig},
};

/// How long a dial may take to reach the remote's TCP port.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
const STATIC_BACKOFF_MIN: Duration = Duration::from_secs(1);
const STATIC_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// How a [`Server`] runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Every session's settings (capabilities, pings, limits).
    pub peer: PeerConfig,
    /// Whom to keep.
    pub policy: PeerManagerConfig,
    /// Inbound handshakes in progress at once (go-ethereum: 50). A connection arriving
    /// while all are taken is closed at once; each handshake ends within its timeouts.
    pub max_pending: usize,
    /// Admitted sessions waiting for the application to take them.
    pub backlog: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            peer: PeerConfig::default(),
            policy: PeerManagerConfig::default(),
            max_pending: 50,
            backlog: 16,
        }
    }
}

struct Inner {
    key: SecretKey,
    id: NodeId,
    config: ServerConfig,
    policy: Mutex<PeerManager>,
    handles: Mutex<HashMap<NodeId, PeerHandle>>,
    pending: Arc<Semaphore>,
    sessions: mpsc::Sender<Peer>,
}

impl Inner {
    async fn dial(self: &Arc<Self>, id: NodeId, addr: SocketAddr) -> Result<(), PeerError> {
        if !self.policy().should_dial(&id, Instant::now()) {
            return Err(PeerError::Closed(Closed::Local(
                DisconnectReason::TooManyPeers,
            )));
        }
        let socket = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| PeerError::Timeout)?
            .map_err(|e| PeerError::Rlpx(e.into()))?;
        let peer = Peer::connect(socket, self.key.clone(), id, self.config.peer.clone()).await?;
        self.deliver(peer, Direction::Outbound).await
    }

    fn policy(&self) -> MutexGuard<'_, PeerManager> {
        self.policy.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handles(&self) -> MutexGuard<'_, HashMap<NodeId, PeerHandle>> {
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a session through the policy and hands it over, or ends it.
    async fn deliver(self: &Arc<Self>, peer: Peer, direction: Direction) -> Result<(), PeerError> {
        let id = peer.remote_id();
        let admission = self.policy().admit(id, direction, Instant::now());
        match admission {
            Admission::Accept => {}
            Admission::AcceptReplacing(worst) => {
                tracing::debug!(%worst, "devp2p peer replaced by a better one");
                if let Some(handle) = self.handles().get(&worst) {
                    handle.disconnect(DisconnectReason::TooManyPeers);
                }
            }
            Admission::Refuse(reason) => {
                tracing::debug!(remote = %id, %reason, "devp2p session refused");
                peer.disconnect(reason).await;
                return Err(PeerError::Closed(Closed::Local(reason)));
            }
        }
        let handle = peer.handle();
        self.handles().insert(id, handle.clone());
        let inner = self.clone();
        tokio::spawn(async move {
            let how = handle.closed().await;
            let mut policy = inner.policy();
            policy.disconnected(&id);
            if let Closed::Local(reason) = how {
                // Our own verdict on the peer counts against it.
                policy.report(id, PeerEvent::Disconnected(reason), Instant::now());
            }
            drop(policy);
            let mut handles = inner.handles();
            if handles.get(&id).is_some_and(|h| h.same_session(&handle)) {
                handles.remove(&id);
            }
        });
        if self.sessions.send(peer).await.is_err() {
            tracing::debug!("no one takes devp2p sessions any more");
        }
        Ok(())
    }
}

/// A devp2p node's listener and dialer. Dropping it stops accepting and redialing;
/// sessions already handed out live on.
pub struct Server {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
    static_tasks: Mutex<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.inner.id)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on `addr`; admitted sessions (inbound and dialed) arrive on the receiver.
    pub async fn bind(
        addr: SocketAddr,
        key: SecretKey,
        config: ServerConfig,
    ) -> io::Result<(Server, mpsc::Receiver<Peer>)> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let id = NodeId::from_public_key(&key.public_key());
        let (sessions, rx) = mpsc::channel(config.backlog.max(1));
        let inner = Arc::new(Inner {
            key,
            id,
            policy: Mutex::new(PeerManager::new(id, config.policy.clone())),
            handles: Mutex::new(HashMap::new()),
            pending: Arc::new(Semaphore::new(config.max_pending.max(1))),
            config,
            sessions,
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Ok((
            Server {
                inner,
                local_addr,
                accept,
                static_tasks: Mutex::new(Vec::new()),
            },
            rx,
        ))
    }

    /// Our node id.
    pub fn local_id(&self) -> NodeId {
        self.inner.id
    }

    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `enode://<id>@<ip>:<port>`.
    pub fn enode(&self) -> String {
        enode_url(&self.inner.id, self.local_addr)
    }

    /// See [`PeerManager::add_trusted`].
    pub fn add_trusted(&self, id: NodeId) {
        self.inner.policy().add_trusted(id);
    }

    /// Sessions admitted and not yet ended.
    pub fn peer_count(&self) -> usize {
        self.inner.policy().connected().count()
    }

    /// Inbound handshakes in progress.
    pub fn pending(&self) -> usize {
        self.inner.config.max_pending.max(1) - self.inner.pending.available_permits()
    }

    /// Dials `id` at `addr` if the policy wants it; the session, once admitted, arrives
    /// on the receiver like an inbound one.
    pub async fn dial(&self, id: NodeId, addr: SocketAddr) -> Result<(), PeerError> {
        self.inner.dial(id, addr).await
    }

    /// Keeps `id` at `addr` connected: dials it now, and again whenever its session
    /// ends (waiting 1 s after a failed dial, doubling up to 60 s; never while it is
    /// banned). Static peers pass the dial ratio and are never replaced.
    pub fn add_static(&self, id: NodeId, addr: SocketAddr) {
        self.inner.policy().add_static(id);
        let inner = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut backoff = STATIC_BACKOFF_MIN;
            loop {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                let session = strong.handles().get(&id).cloned();
                if let Some(session) = session {
                    drop(strong);
                    session.closed().await;
                    // Let the session's watcher free its slot before dialing again.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    backoff = STATIC_BACKOFF_MIN;
                    continue;
                }
                match strong.dial(id, addr).await {
                    Ok(()) => {
                        backoff = STATIC_BACKOFF_MIN;
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(%id, %addr, error = %e, ?backoff, "static peer not reached")
                    }
                }
                drop(strong);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(STATIC_BACKOFF_MAX);
            }
        });
        self.static_tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task.abort_handle());
    }

    /// Records `event` for `id`; a peer whose score falls below the ban threshold is
    /// disconnected (`UselessPeer`) and banned. Returns whether it was.
    pub fn report(&self, id: NodeId, event: PeerEvent) -> bool {
        let verdict = self.inner.policy().report(id, event, Instant::now());
        match verdict {
            Some(reason) => {
                if let Some(handle) = self.inner.handles().get(&id) {
                    handle.disconnect(reason);
                }
                true
            }
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self
            .static_tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let (socket, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "devp2p accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !inner.policy().allow_inbound_ip(from.ip(), Instant::now()) {
            tracing::debug!(%from, "inbound connection throttled");
            continue;
        }
        let Ok(permit) = inner.pending.clone().try_acquire_owned() else {
            tracing::debug!(%from, "too many handshakes in progress: connection closed");
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let accepted = Peer::accept(socket, inner.key.clone(), inner.config.peer.clone()).await;
            drop(permit);
            match accepted {
                Ok(peer) => {
                    let _ = inner.deliver(peer, Direction::Inbound).await;
                }
                Err(e) => tracing::debug!(%from, error = %e, "devp2p handshake failed"),
            }
        });
    }
}
