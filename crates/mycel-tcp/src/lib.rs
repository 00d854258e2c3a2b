//! The TCP transport: dials and listens on `/ip4/<addr>/tcp/<port>` and
//! `/ip6/<addr>/tcp/<port>`, and dials `/dns4/<name>/tcp/<port>`, `/dns6/...` and
//! `/dns/...` after resolving the name.
//!
//! Every socket gets `TCP_NODELAY` (libp2p protocols are chatty: a handshake waits on
//! small writes) and listeners `SO_REUSEADDR`. With [`TcpConfig::port_reuse`], listeners
//! also set `SO_REUSEPORT` and dials leave from a listening port of the same family, so
//! the remote sees the address we listen on (needed for hole punching).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mycel_core::{Listener, Transport};
//! use mycel_tcp::TcpTransport;
//!
//! let transport = TcpTransport::default();
//! let listener = transport.listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
//! println!("listening on {}", listener.local_addr()); // the real port, not 0
//! let conn = transport.dial(&listener.local_addr()).await.unwrap();
//! # }
//! ```

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use mycel_core::{Connection, Listener, Multiaddr, Protocol, Transport, TransportError};
use tokio::net::{TcpSocket, TcpStream};

/// Listen backlog handed to the operating system.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Settings of a [`TcpTransport`].
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Set `TCP_NODELAY` on every connection (default: true).
    pub nodelay: bool,
    /// `SO_REUSEPORT` on listeners, and dials bound to a listening port (default: false).
    pub port_reuse: bool,
    /// Listen backlog ([`DEFAULT_BACKLOG`]).
    pub backlog: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            nodelay: true,
            port_reuse: false,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

/// The TCP transport. Cloning shares the set of listening ports used for port reuse.
#[derive(Debug, Clone, Default)]
pub struct TcpTransport {
    config: TcpConfig,
    listen_addrs: Arc<Mutex<Vec<SocketAddr>>>,
}

impl TcpTransport {
    /// A transport with the given settings.
    pub fn new(config: TcpConfig) -> Self {
        TcpTransport {
            config,
            listen_addrs: Arc::default(),
        }
    }

    fn listen_addrs(&self) -> std::sync::MutexGuard<'_, Vec<SocketAddr>> {
        self.listen_addrs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The local address a dial to `remote` should leave from, with port reuse on.
    fn reuse_source(&self, remote: &SocketAddr) -> Option<SocketAddr> {
        if !self.config.port_reuse {
            return None;
        }
        let listening = self.listen_addrs();
        // A listener on the same family, and one that can reach the remote: a loopback
        // listener cannot be the source of a dial to a public address.
        listening
            .iter()
            .find(|l| {
                l.is_ipv4() == remote.is_ipv4()
                    && (l.ip().is_unspecified()
                        || l.ip().is_loopback() == remote.ip().is_loopback())
            })
            .copied()
    }

    async fn connect(&self, remote: SocketAddr) -> io::Result<TcpStream> {
        let socket = new_socket(&remote)?;
        if let Some(source) = self.reuse_source(&remote) {
            socket.set_reuseaddr(true)?;
            #[cfg(unix)]
            socket.set_reuseport(true)?;
            socket.bind(source)?;
        }
        let stream = socket.connect(remote).await?;
        stream.set_nodelay(self.config.nodelay)?;
        Ok(stream)
    }
}

/// A socket to listen on. An IPv6 one is IPv6 only, so `/ip4/0.0.0.0` and `/ip6/::` can
/// listen on the same port side by side (as other libp2p implementations do).
fn new_listen_socket(addr: &SocketAddr) -> io::Result<TcpSocket> {
    if addr.is_ipv4() {
        return TcpSocket::new_v4();
    }
    let socket = socket2::Socket::new(
        socket2::Domain::IPV6,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_only_v6(true)?;
    socket.set_nonblocking(true)?;
    Ok(TcpSocket::from_std_stream(socket.into()))
}

fn new_socket(addr: &SocketAddr) -> io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

/// What a multiaddr asks of TCP.
enum Target {
    Socket(SocketAddr),
    Dns {
        name: String,
        port: u16,
        family: Family,
    },
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
    Any,
}

/// Parses `/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>[/p2p/<id>]`.
fn parse_target(addr: &Multiaddr) -> Option<Target> {
    let mut iter = addr.iter();
    let host = iter.next()?;
    let Some(Protocol::Tcp(port)) = iter.next() else {
        return None;
    };
    match iter.next() {
        None => {}
        Some(Protocol::P2p(_)) if iter.next().is_none() => {}
        _ => return None,
    }
    Some(match host {
        Protocol::Ip4(ip) => Target::Socket(SocketAddr::new(ip.into(), port)),
        Protocol::Ip6(ip) => Target::Socket(SocketAddr::new(ip.into(), port)),
        Protocol::Dns(name) => Target::Dns {
            name: name.into_owned(),
            port,
            family: Family::Any,
        },
        Protocol::Dns4(name) => Target::Dns {
            name: name.into_owned(),
            port,
            family: Family::V4,
        },
        Protocol::Dns6(name) => Target::Dns {
            name: name.into_owned(),
            port,
            family: Family::V6,
        },
        _ => return None,
    })
}

/// The multiaddr `/ip4|ip6/<ip>/tcp/<port>` of a socket address.
pub fn socket_addr_to_multiaddr(addr: &SocketAddr) -> Multiaddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(addr.port()))
}

/// The socket address of `/ip4|ip6/<ip>/tcp/<port>` (a trailing `/p2p/` is ignored).
pub fn multiaddr_to_socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    match parse_target(addr)? {
        Target::Socket(s) => Some(s),
        Target::Dns { .. } => None,
    }
}

#[async_trait]
impl Transport for TcpTransport {
    type Io = TcpStream;
    type Listener = TcpListener;

    fn supports(&self, addr: &Multiaddr) -> bool {
        parse_target(addr).is_some()
    }

    async fn dial(&self, addr: &Multiaddr) -> Result<Connection<TcpStream>, TransportError> {
        let candidates = match parse_target(addr) {
            Some(Target::Socket(s)) => vec![s],
            Some(Target::Dns { name, port, family }) => {
                let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                    .await?
                    .filter(|a| match family {
                        Family::V4 => a.is_ipv4(),
                        Family::V6 => a.is_ipv6(),
                        Family::Any => true,
                    })
                    .collect();
                if resolved.is_empty() {
                    return Err(TransportError::NoAddressResolved(name));
                }
                resolved
            }
            None => return Err(TransportError::UnsupportedAddress(addr.clone())),
        };
        let mut last_error = None;
        for remote in candidates {
            match self.connect(remote).await {
                Ok(stream) => {
                    let local_addr = socket_addr_to_multiaddr(&stream.local_addr()?);
                    tracing::debug!(%remote, %local_addr, "tcp connection dialed");
                    return Ok(Connection {
                        io: stream,
                        local_addr,
                        remote_addr: socket_addr_to_multiaddr(&remote),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    last_error = Some(TransportError::ConnectionRefused(socket_addr_to_multiaddr(
                        &remote,
                    )));
                }
                Err(e) => last_error = Some(e.into()),
            }
        }
        Err(last_error.expect("at least one candidate address"))
    }

    async fn listen(&self, addr: &Multiaddr) -> Result<TcpListener, TransportError> {
        let Some(Target::Socket(requested)) = parse_target(addr) else {
            return Err(TransportError::UnsupportedAddress(addr.clone()));
        };
        let socket = new_listen_socket(&requested)?;
        socket.set_reuseaddr(true)?;
        #[cfg(unix)]
        if self.config.port_reuse {
            socket.set_reuseport(true)?;
        }
        socket.bind(requested).map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => TransportError::AddrInUse(addr.clone()),
            _ => e.into(),
        })?;
        let inner = socket.listen(self.config.backlog)?;
        let local = inner.local_addr()?;
        if self.config.port_reuse {
            self.listen_addrs().push(local);
        }
        tracing::debug!(%local, "tcp listening");
        Ok(TcpListener {
            inner,
            local,
            nodelay: self.config.nodelay,
            registry: self.config.port_reuse.then(|| self.listen_addrs.clone()),
        })
    }
}

/// A listening TCP socket. Dropping it closes the socket.
#[derive(Debug)]
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    local: SocketAddr,
    nodelay: bool,
    registry: Option<Arc<Mutex<Vec<SocketAddr>>>>,
}

#[async_trait]
impl Listener for TcpListener {
    type Io = TcpStream;

    fn local_addr(&self) -> Multiaddr {
        socket_addr_to_multiaddr(&self.local)
    }

    async fn accept(&mut self) -> Result<Connection<TcpStream>, TransportError> {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    if let Err(e) = stream.set_nodelay(self.nodelay) {
                        tracing::debug!(%remote, error = %e, "dropping inbound connection");
                        continue;
                    }
                    let local_addr = stream
                        .local_addr()
                        .map(|a| socket_addr_to_multiaddr(&a))
                        .unwrap_or_else(|_| self.local_addr());
                    return Ok(Connection {
                        io: stream,
                        local_addr,
                        remote_addr: socket_addr_to_multiaddr(&remote),
                    });
                }
                // The remote gave up before we accepted: not the listener's fault.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Some(registry) = &self.registry {
            let mut addrs = registry.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = addrs.iter().position(|a| *a == self.local) {
                addrs.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipv6_listeners_are_ipv6_only() {
        let transport = TcpTransport::default();
        let listener = match transport.listen(&"/ip6/::1/tcp/0".parse().unwrap()).await {
            Ok(listener) => listener,
            // No IPv6 on this machine: nothing to check.
            Err(TransportError::Io(_)) => return,
            Err(e) => panic!("{e}"),
        };
        assert!(socket2::SockRef::from(&listener.inner).only_v6().unwrap());
        let v4 = transport
            .listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .await
            .unwrap();
        assert!(socket2::SockRef::from(&v4.inner).domain().unwrap() == socket2::Domain::IPV4);
    }
}
