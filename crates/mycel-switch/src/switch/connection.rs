//! [`PeerConnection`]: an established, upgraded connection in the pool.

use super::*;

/// Identifies one connection for as long as the switch lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(super) u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An established, upgraded connection in the pool. Cheap to clone (one reference
/// count).
#[derive(Clone)]
pub struct PeerConnection(pub(super) Arc<ConnectionState>);

/// What a [`PeerConnection`] shares among its clones.
pub(super) struct ConnectionState {
    pub(super) id: ConnectionId,
    pub(super) peer: PeerId,
    pub(super) public_key: PublicKey,
    pub(super) remote_addr: Multiaddr,
    pub(super) local_addr: Multiaddr,
    pub(super) direction: Direction,
    pub(super) muxer_protocol: ProtocolId,
    pub(super) muxer: Box<dyn MuxedConnection>,
    /// Set when we close it, or when it refused a new stream (the remote said goodbye):
    /// no new streams are opened on it, and the pool looks past it.
    pub(super) closing: AtomicBool,
    /// Set when we close it (for the reason given in `Disconnected`).
    pub(super) closed_locally: AtomicBool,
    /// Its open streams and keep-alives.
    pub(super) activity: Arc<Activity>,
}

impl fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConnection")
            .field("id", &self.0.id)
            .field("peer", &self.0.peer)
            .field("remote_addr", &self.0.remote_addr)
            .field("direction", &self.0.direction)
            .field("muxer", &self.0.muxer_protocol)
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    /// This connection's id.
    pub fn id(&self) -> ConnectionId {
        self.0.id
    }

    /// The authenticated remote peer.
    pub fn peer(&self) -> PeerId {
        self.0.peer
    }

    /// The remote's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0.public_key
    }

    /// The remote's address (for inbound connections, as the transport saw it).
    pub fn remote_addr(&self) -> &Multiaddr {
        &self.0.remote_addr
    }

    /// Our side's address.
    pub fn local_addr(&self) -> &Multiaddr {
        &self.0.local_addr
    }

    /// Who dialed.
    pub fn direction(&self) -> Direction {
        self.0.direction
    }

    /// The muxer in use.
    pub fn muxer_protocol(&self) -> &ProtocolId {
        &self.0.muxer_protocol
    }

    /// Streams open on it now: (inbound, outbound).
    pub fn open_streams(&self) -> (usize, usize) {
        (
            self.0.activity.streams(Kind::Inbound),
            self.0.activity.streams(Kind::Outbound),
        )
    }

    /// Keeps the connection open past the idle timeout while the returned value lives.
    pub fn keep_alive(&self) -> KeepAlive {
        KeepAlive::new(
            self.0
                .activity
                .try_add(Kind::Hold, usize::MAX)
                .expect("no limit on holds"),
        )
    }

    /// Maps a failure to open a stream; a closed muxer marks the connection closing so
    /// the pool looks past it.
    pub(super) fn refused_stream(&self, e: MuxerError) -> NetworkError {
        if matches!(e, MuxerError::Closed) {
            self.0.closing.store(true, Ordering::Relaxed);
        }
        muxer_to_network(e, self.0.peer)
    }

    /// Whether the connection has closed, or is closing (no new streams).
    pub fn is_closed(&self) -> bool {
        self.0.closing.load(Ordering::Relaxed) || self.0.muxer.is_closed()
    }
}

impl PoolConnection for PeerConnection {
    fn is_closed(&self) -> bool {
        PeerConnection::is_closed(self)
    }
}

/// Closes `conns` as ours (each muxer gets [`CLOSE_GRACE`] to say goodbye), together.
pub(super) async fn close_all(conns: Vec<PeerConnection>) {
    let closes = conns.into_iter().map(|conn| async move {
        conn.0.closing.store(true, Ordering::Relaxed);
        conn.0.closed_locally.store(true, Ordering::Relaxed);
        let _ = timeout(CLOSE_GRACE, conn.0.muxer.close()).await;
    });
    futures::future::join_all(closes).await;
}
