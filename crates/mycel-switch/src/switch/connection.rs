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

/// An established, upgraded connection in the pool. Cheap to clone.
#[derive(Clone)]
pub struct PeerConnection {
    pub(super) id: ConnectionId,
    pub(super) peer: PeerId,
    pub(super) public_key: PublicKey,
    pub(super) remote_addr: Multiaddr,
    pub(super) local_addr: Multiaddr,
    pub(super) direction: Direction,
    pub(super) muxer_protocol: ProtocolId,
    pub(super) muxer: Arc<dyn MuxedConnection>,
    /// Set when we close it, or when it refused a new stream (the remote said goodbye):
    /// no new streams are opened on it, and the pool looks past it.
    pub(super) closing: Arc<AtomicBool>,
    /// Set when we close it (for the reason given in `Disconnected`).
    pub(super) closed_locally: Arc<AtomicBool>,
    /// Its open streams and keep-alives.
    pub(super) activity: Arc<Activity>,
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
    pub(super) fn refused_stream(&self, e: MuxerError) -> NetworkError {
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
