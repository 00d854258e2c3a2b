//! The [`Network`] trait: everything a protocol (ping, identify, kad, pubsub, …) needs
//! from a host. Protocol crates depend on this, never on the switch or host, so they can
//! be tested against the memory transport or a fake.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{future::BoxFuture, stream::BoxStream};
use multiaddr::Multiaddr;
use thiserror::Error;

use crate::{BoxedIo, PeerId, ProtocolId};

/// A stream whose protocol has been negotiated.
pub struct NegotiatedStream {
    /// The peer at the other end.
    pub peer: PeerId,
    /// The protocol both sides agreed on.
    pub protocol: ProtocolId,
    /// The remote address of the connection the stream runs on, when known (identify
    /// reports it back to the peer as the address it was seen at).
    pub remote_addr: Option<Multiaddr>,
    /// The stream.
    pub io: BoxedIo,
}

impl fmt::Debug for NegotiatedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NegotiatedStream")
            .field("peer", &self.peer)
            .field("protocol", &self.protocol)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// Handles inbound streams of one protocol. The host runs each returned future in a
/// task it owns.
pub type StreamHandler = Arc<dyn Fn(NegotiatedStream) -> BoxFuture<'static, ()> + Send + Sync>;

/// Wraps an async function as a [`StreamHandler`].
pub fn stream_handler<F, Fut>(f: F) -> StreamHandler
where
    F: Fn(NegotiatedStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |stream| Box::pin(f(stream)))
}

/// Which side opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialed.
    Outbound,
    /// The remote dialed us.
    Inbound,
}

/// Something that happened on the network.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NetworkEvent {
    /// The first connection to `peer` is established (and upgraded): the peer is now
    /// connected. Further connections to it send no event.
    Connected {
        /// The remote peer.
        peer: PeerId,
        /// The remote address of the connection.
        remote_addr: Multiaddr,
        /// Who dialed.
        direction: Direction,
    },
    /// The last connection to `peer` closed: the peer is no longer connected.
    Disconnected {
        /// The remote peer.
        peer: PeerId,
        /// Why, in words (for logs).
        reason: String,
    },
    /// `peer` told us about itself (identify), on connecting or in a push.
    Identified {
        /// The peer.
        peer: PeerId,
        /// Its implementation, e.g. `mycel/0.1.0` (empty if it did not say).
        agent_version: String,
        /// Its protocol family, e.g. `ipfs/0.1.0` (empty if it did not say).
        protocol_version: String,
        /// The protocols it accepts streams for.
        protocols: Vec<String>,
        /// Where it listens.
        listen_addrs: Vec<Multiaddr>,
        /// Our address as it sees it, if it said.
        observed_addr: Option<Multiaddr>,
    },
    /// Several peers report seeing us at this address (identify's observed address): a
    /// candidate for our external address, not yet confirmed reachable.
    ExternalAddrCandidate(Multiaddr),
    /// We now listen on this address.
    ListenAddrAdded(Multiaddr),
    /// We no longer listen on this address.
    ListenAddrExpired(Multiaddr),
}

/// A limit of a host's connections or streams (the switch's configuration names the
/// numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Established inbound connections.
    EstablishedInbound,
    /// Established outbound connections.
    EstablishedOutbound,
    /// Live connections to one peer.
    ConnectionsPerPeer,
    /// Inbound handshakes in progress.
    PendingInbound,
    /// Outbound connection attempts in progress.
    PendingOutbound,
    /// Inbound streams open on one connection.
    InboundStreams,
    /// Outbound streams open on one connection.
    OutboundStreams,
    /// Inbound streams of one connection still negotiating their protocol.
    NegotiatingStreams,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::EstablishedInbound => "established inbound connections",
            Limit::EstablishedOutbound => "established outbound connections",
            Limit::ConnectionsPerPeer => "connections per peer",
            Limit::PendingInbound => "pending inbound connections",
            Limit::PendingOutbound => "pending outbound connections",
            Limit::InboundStreams => "inbound streams per connection",
            Limit::OutboundStreams => "outbound streams per connection",
            Limit::NegotiatingStreams => "negotiating inbound streams per connection",
        })
    }
}

/// Any error, boxed: the source of a [`NetworkError`] from a layer `mycel-core` does
/// not know.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why opening a stream failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The peer is not connected and no address is known for it.
    #[error("no known address for {0}")]
    NoAddresses(PeerId),
    /// Every dial failed.
    #[error("dial to {peer} failed: {source}")]
    DialFailed {
        /// The peer dialed.
        peer: PeerId,
        /// Why (the switch's `DialError`, with every address's error).
        source: BoxError,
    },
    /// The peer supports none of the protocols offered.
    #[error("{peer} supports none of {protocols:?}")]
    ProtocolNotSupported {
        /// The peer asked.
        peer: PeerId,
        /// The protocols offered.
        protocols: Vec<ProtocolId>,
    },
    /// There is no connection to the peer (and the operation does not dial).
    #[error("not connected to {0}")]
    NotConnected(PeerId),
    /// The connection to the peer closed, or refuses new streams (the remote is
    /// leaving); a new connection may succeed.
    #[error("connection to {0} closed")]
    ConnectionClosed(PeerId),
    /// A configured limit refused the operation.
    #[error("limit reached: {0}")]
    LimitReached(Limit),
    /// An operation took longer than its deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The host is shutting down.
    #[error("host closed")]
    Closed,
    /// Anything else (a muxer, negotiation or IO failure).
    #[error("{0}")]
    Other(#[source] BoxError),
}

/// What a protocol sees of the host it runs on.
#[async_trait]
pub trait Network: Send + Sync + 'static {
    /// Our own peer id.
    fn local_peer_id(&self) -> PeerId;

    /// Opens a stream to `peer` speaking the first of `protocols` it supports, dialing
    /// it first if needed.
    async fn new_stream(
        &self,
        peer: PeerId,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError>;

    /// Routes inbound streams of `protocol` to `handler` (replacing any previous one).
    fn set_stream_handler(&self, protocol: ProtocolId, handler: StreamHandler);

    /// Stops accepting inbound streams of `protocol`.
    fn remove_stream_handler(&self, protocol: &ProtocolId);

    /// Peers with at least one live connection.
    fn connected_peers(&self) -> Vec<PeerId>;

    /// Remembers addresses at which `peer` can be dialed.
    fn add_addrs(&self, peer: PeerId, addrs: Vec<Multiaddr>);

    /// Addresses the local node listens on (what it tells others to dial). Empty by
    /// default.
    fn listen_addrs(&self) -> Vec<Multiaddr> {
        Vec::new()
    }

    /// Addresses known for `peer`, best first (hosts answer from their peer store).
    /// Empty by default.
    fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let _ = peer;
        Vec::new()
    }

    /// Notes a measured round-trip time to `peer` (ping reports here); hosts keep it in
    /// their peer store. Does nothing by default.
    fn record_latency(&self, peer: PeerId, rtt: Duration) {
        let _ = (peer, rtt);
    }

    /// A stream of every event from now on. A subscriber that falls too far behind
    /// misses events rather than holding memory.
    fn events(&self) -> BoxStream<'static, NetworkEvent>;
}
