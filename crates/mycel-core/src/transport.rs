//! The [`Transport`] and [`Listener`] traits: how raw connections are made.

use std::{fmt, io};

use async_trait::async_trait;
use multiaddr::Multiaddr;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};

/// Anything that reads and writes bytes asynchronously and can move between tasks.
pub trait AsyncReadWrite: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncReadWrite for T {}

/// A type-erased byte stream: a raw connection, a secured one, or a muxed stream.
pub type BoxedIo = Box<dyn AsyncReadWrite>;

/// A raw connection with the addresses of both ends.
pub struct Connection<Io> {
    /// The byte stream.
    pub io: Io,
    /// Our end.
    pub local_addr: Multiaddr,
    /// The remote end, as this transport sees it (for identify's observed address).
    pub remote_addr: Multiaddr,
}

impl<Io> Connection<Io> {
    /// The same connection with its IO mapped (for example, boxed).
    pub fn map<T>(self, f: impl FnOnce(Io) -> T) -> Connection<T> {
        Connection {
            io: f(self.io),
            local_addr: self.local_addr,
            remote_addr: self.remote_addr,
        }
    }
}

impl<Io> fmt::Debug for Connection<Io> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// What went wrong dialing, listening or accepting.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// This transport does not handle this kind of address.
    #[error("address not supported by this transport: {0}")]
    UnsupportedAddress(Multiaddr),
    /// A DNS name resolved to no address of the wanted family.
    #[error("{0} resolved to no usable address")]
    NoAddressResolved(String),
    /// Nobody listens at the address.
    #[error("connection refused by {0}")]
    ConnectionRefused(Multiaddr),
    /// The address (or port) is already taken.
    #[error("address in use: {0}")]
    AddrInUse(Multiaddr),
    /// The listener was closed.
    #[error("listener closed")]
    ListenerClosed,
    /// An operating system error.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The handshake of a transport that authenticates (QUIC) failed, or the remote is
    /// not the peer dialed.
    #[error("handshake: {0}")]
    Handshake(String),
}

/// Makes raw connections to, and accepts them at, multiaddrs.
///
/// Implementations: `mycel-tcp` (`/ip4|ip6|dns4|dns6/.../tcp/<port>`) and `mycel-memory`
/// (`/memory/<n>`). [`TransportExt::boxed`] erases the IO type so that several transports
/// can sit behind one switch.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// The byte stream of a connection.
    type Io: AsyncReadWrite + 'static;
    /// What [`Transport::listen`] returns.
    type Listener: Listener<Io = Self::Io>;

    /// Whether this transport can dial or listen on `addr` (a trailing `/p2p/` is ignored).
    fn supports(&self, addr: &Multiaddr) -> bool;

    /// Opens a connection to `addr`.
    async fn dial(&self, addr: &Multiaddr) -> Result<Connection<Self::Io>, TransportError>;

    /// Starts listening on `addr`. A port of 0 picks a free one; the listener's
    /// [`Listener::local_addr`] tells which.
    async fn listen(&self, addr: &Multiaddr) -> Result<Self::Listener, TransportError>;
}

/// Accepts inbound connections at one address. Dropping it stops listening.
#[async_trait]
pub trait Listener: Send + 'static {
    /// The byte stream of a connection.
    type Io: AsyncReadWrite + 'static;

    /// The address actually bound (with the real port when 0 was asked for).
    fn local_addr(&self) -> Multiaddr;

    /// Waits for the next inbound connection.
    async fn accept(&mut self) -> Result<Connection<Self::Io>, TransportError>;
}

/// A listener with its IO type erased.
pub type BoxedListener = Box<dyn Listener<Io = BoxedIo>>;

/// A transport with its IO and listener types erased.
pub type BoxedTransport = Box<dyn Transport<Io = BoxedIo, Listener = BoxedListener>>;

#[async_trait]
impl Listener for BoxedListener {
    type Io = BoxedIo;

    fn local_addr(&self) -> Multiaddr {
        (**self).local_addr()
    }

    async fn accept(&mut self) -> Result<Connection<BoxedIo>, TransportError> {
        (**self).accept().await
    }
}

/// Adapters for every [`Transport`].
pub trait TransportExt: Transport + Sized {
    /// Erases the IO and listener types.
    fn boxed(self) -> BoxedTransport {
        Box::new(Boxed(self))
    }
}

impl<T: Transport> TransportExt for T {}

struct Boxed<T>(T);
struct BoxedL<L>(L);

#[async_trait]
impl<T: Transport> Transport for Boxed<T> {
    type Io = BoxedIo;
    type Listener = BoxedListener;

    fn supports(&self, addr: &Multiaddr) -> bool {
        self.0.supports(addr)
    }

    async fn dial(&self, addr: &Multiaddr) -> Result<Connection<BoxedIo>, TransportError> {
        Ok(self.0.dial(addr).await?.map(|io| Box::new(io) as BoxedIo))
    }

    async fn listen(&self, addr: &Multiaddr) -> Result<BoxedListener, TransportError> {
        Ok(Box::new(BoxedL(self.0.listen(addr).await?)))
    }
}

#[async_trait]
impl<L: Listener> Listener for BoxedL<L> {
    type Io = BoxedIo;

    fn local_addr(&self) -> Multiaddr {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> Result<Connection<BoxedIo>, TransportError> {
        Ok(self.0.accept().await?.map(|io| Box::new(io) as BoxedIo))
    }
}

/// A connection that arrives authenticated and multiplexed (QUIC does both in its own
/// handshake): no security or muxer upgrade follows, the switch takes it as it is.
pub struct SecuredConnection {
    /// The authenticated remote peer.
    pub remote_peer: crate::PeerId,
    /// Its public key.
    pub remote_key: crate::PublicKey,
    /// What multiplexes it, named as a protocol (`/quic-v1` for QUIC's own streams).
    pub muxer_protocol: crate::ProtocolId,
    /// The streams.
    pub muxer: Box<dyn crate::MuxedConnection>,
    /// Our end.
    pub local_addr: Multiaddr,
    /// The remote end.
    pub remote_addr: Multiaddr,
}

impl fmt::Debug for SecuredConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecuredConnection")
            .field("remote_peer", &self.remote_peer)
            .field("muxer_protocol", &self.muxer_protocol)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// An inbound connection of a [`SecuredTransport`] still in its handshake. The switch
/// counts it as a pending inbound connection, bounds it with its upgrade timeout, and
/// aborts it by dropping `handshake` (when a flood of newer ones pushes it out).
pub struct PendingSecured {
    /// Where it comes from.
    pub remote_addr: Multiaddr,
    /// The rest of the handshake.
    pub handshake: futures::future::BoxFuture<'static, Result<SecuredConnection, TransportError>>,
}

impl fmt::Debug for PendingSecured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSecured")
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// A transport whose connections arrive secured and multiplexed (QUIC): the switch
/// holds these beside the byte-stream [`Transport`]s it upgrades, and prefers them for
/// the addresses they support.
#[async_trait]
pub trait SecuredTransport: Send + Sync + 'static {
    /// Whether this transport can dial or listen on `addr`.
    fn supports(&self, addr: &Multiaddr) -> bool;

    /// Connects and authenticates; with `peer`, the remote must be that peer
    /// ([`TransportError::Handshake`] otherwise).
    async fn dial(
        &self,
        addr: &Multiaddr,
        peer: Option<crate::PeerId>,
    ) -> Result<SecuredConnection, TransportError>;

    /// Starts accepting connections at `addr`.
    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn SecuredListener>, TransportError>;
}

/// Accepts the connections of a [`SecuredTransport`].
#[async_trait]
pub trait SecuredListener: Send + 'static {
    /// The address actually bound.
    fn local_addr(&self) -> Multiaddr;

    /// The next inbound connection, its handshake still to run.
    async fn accept(&mut self) -> Result<PendingSecured, TransportError>;
}
