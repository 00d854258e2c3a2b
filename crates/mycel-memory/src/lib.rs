//! An in-process transport: `/memory/<n>` addresses, connections made of in-memory pipes.
//!
//! It implements the same [`Transport`] trait as TCP, so whole nodes run in one process
//! for tests and simulations. Listeners register in a [`MemoryHub`]; the default
//! transport uses one hub per process, and [`MemoryTransport::with_hub`] gives a
//! simulation its own isolated address space.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mycel_core::{Listener, Transport};
//! use mycel_memory::MemoryTransport;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let transport = MemoryTransport::default();
//! let mut listener = transport.listen(&"/memory/0".parse().unwrap()).await.unwrap();
//! let addr = listener.local_addr(); // `/memory/<n>` with the port chosen
//! let mut client = transport.dial(&addr).await.unwrap();
//! let mut server = listener.accept().await.unwrap();
//! client.io.write_all(b"hi").await.unwrap();
//! let mut buf = [0u8; 2];
//! server.io.read_exact(&mut buf).await.unwrap();
//! assert_eq!(&buf, b"hi");
//! # }
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use async_trait::async_trait;
use mycel_core::{Connection, Listener, Multiaddr, Protocol, Transport, TransportError};
use tokio::{io::DuplexStream, sync::mpsc};

/// Bytes buffered in each direction of a connection before the writer waits.
pub const DEFAULT_PIPE_BUFFER: usize = 256 * 1024;

/// Connections a listener holds before `accept` takes them; dials past that are refused.
pub const DEFAULT_BACKLOG: usize = 128;

/// The byte stream of a memory connection.
pub type MemoryStream = DuplexStream;

/// A registry of memory listeners: one address space.
#[derive(Clone, Default)]
pub struct MemoryHub {
    inner: Arc<Mutex<HubInner>>,
}

#[derive(Default)]
struct HubInner {
    listeners: HashMap<u64, mpsc::Sender<Connection<MemoryStream>>>,
    next_port: u64,
}

impl HubInner {
    fn free_port(&mut self) -> u64 {
        loop {
            self.next_port = self.next_port.wrapping_add(1).max(1);
            if !self.listeners.contains_key(&self.next_port) {
                return self.next_port;
            }
        }
    }
}

impl MemoryHub {
    /// A new, empty address space.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        // A panic while holding this lock leaves the map consistent, so poison is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static GLOBAL_HUB: LazyLock<MemoryHub> = LazyLock::new(MemoryHub::new);

/// Settings of a [`MemoryTransport`].
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Bytes buffered per direction ([`DEFAULT_PIPE_BUFFER`]).
    pub pipe_buffer: usize,
    /// Pending connections per listener ([`DEFAULT_BACKLOG`]).
    pub backlog: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            pipe_buffer: DEFAULT_PIPE_BUFFER,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

/// The `/memory/<n>` transport.
#[derive(Clone)]
pub struct MemoryTransport {
    hub: MemoryHub,
    config: MemoryConfig,
}

impl Default for MemoryTransport {
    /// A transport on the process-wide hub.
    fn default() -> Self {
        MemoryTransport::with_hub(GLOBAL_HUB.clone())
    }
}

impl MemoryTransport {
    /// A transport on the given hub.
    pub fn with_hub(hub: MemoryHub) -> Self {
        MemoryTransport {
            hub,
            config: MemoryConfig::default(),
        }
    }

    /// The same transport with other settings.
    pub fn with_config(mut self, config: MemoryConfig) -> Self {
        self.config = config;
        self
    }
}

/// The port of a `/memory/<n>` address, ignoring a trailing `/p2p/`.
fn memory_port(addr: &Multiaddr) -> Option<u64> {
    let mut iter = addr.iter();
    let Protocol::Memory(port) = iter.next()? else {
        return None;
    };
    match iter.next() {
        None | Some(Protocol::P2p(_)) if iter.next().is_none() => Some(port),
        _ => None,
    }
}

fn memory_addr(port: u64) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Memory(port))
}

#[async_trait]
impl Transport for MemoryTransport {
    type Io = MemoryStream;
    type Listener = MemoryListener;

    fn supports(&self, addr: &Multiaddr) -> bool {
        memory_port(addr).is_some()
    }

    async fn dial(&self, addr: &Multiaddr) -> Result<Connection<MemoryStream>, TransportError> {
        let port = memory_port(addr)
            .filter(|p| *p != 0)
            .ok_or_else(|| TransportError::UnsupportedAddress(addr.clone()))?;
        let (sender, local_port) = {
            let mut hub = self.hub.lock();
            let sender = hub.listeners.get(&port).cloned();
            (sender, hub.free_port())
        };
        let refused = || TransportError::ConnectionRefused(memory_addr(port));
        let sender = sender.ok_or_else(refused)?;
        let (ours, theirs) = tokio::io::duplex(self.config.pipe_buffer);
        let (local_addr, remote_addr) = (memory_addr(local_port), memory_addr(port));
        sender
            .try_send(Connection {
                io: theirs,
                local_addr: remote_addr.clone(),
                remote_addr: local_addr.clone(),
            })
            .map_err(|_| refused())?;
        tracing::trace!(%remote_addr, "memory connection dialed");
        Ok(Connection {
            io: ours,
            local_addr,
            remote_addr,
        })
    }

    async fn listen(&self, addr: &Multiaddr) -> Result<MemoryListener, TransportError> {
        let port =
            memory_port(addr).ok_or_else(|| TransportError::UnsupportedAddress(addr.clone()))?;
        let (tx, rx) = mpsc::channel(self.config.backlog.max(1));
        let mut hub = self.hub.lock();
        let port = if port == 0 { hub.free_port() } else { port };
        if hub.listeners.contains_key(&port) {
            return Err(TransportError::AddrInUse(memory_addr(port)));
        }
        hub.listeners.insert(port, tx);
        Ok(MemoryListener {
            hub: self.hub.clone(),
            port,
            incoming: rx,
        })
    }
}

/// Accepts connections at one `/memory/<n>` address; dropping it frees the address.
pub struct MemoryListener {
    hub: MemoryHub,
    port: u64,
    incoming: mpsc::Receiver<Connection<MemoryStream>>,
}

#[async_trait]
impl Listener for MemoryListener {
    type Io = MemoryStream;

    fn local_addr(&self) -> Multiaddr {
        memory_addr(self.port)
    }

    async fn accept(&mut self) -> Result<Connection<MemoryStream>, TransportError> {
        self.incoming
            .recv()
            .await
            .ok_or(TransportError::ListenerClosed)
    }
}

impl Drop for MemoryListener {
    fn drop(&mut self) {
        self.hub.lock().listeners.remove(&self.port);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn hub_transport() -> MemoryTransport {
        MemoryTransport::with_hub(MemoryHub::new())
    }

    #[tokio::test]
    async fn dial_listen_and_exchange_bytes_with_half_close() {
        let t = hub_transport();
        let mut listener = t.listen(&"/memory/0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr();
        assert!(
            memory_port(&addr).unwrap() != 0,
            "port 0 is replaced by the real one"
        );
        let mut client = t.dial(&addr).await.unwrap();
        let mut server = listener.accept().await.unwrap();
        assert_eq!(server.local_addr, addr);
        assert_eq!(server.remote_addr, client.local_addr);
        assert_eq!(client.remote_addr, addr);

        client.io.write_all(b"ping").await.unwrap();
        client.io.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.io.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        // The other direction still works after the client's half-close.
        server.io.write_all(b"pong").await.unwrap();
        drop(server);
        let mut got = Vec::new();
        client.io.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong");
    }

    #[tokio::test]
    async fn unknown_port_is_refused_and_taken_port_is_in_use() {
        let t = hub_transport();
        assert!(matches!(
            t.dial(&"/memory/77".parse().unwrap()).await,
            Err(TransportError::ConnectionRefused(_))
        ));
        let listener = t.listen(&"/memory/77".parse().unwrap()).await.unwrap();
        assert!(matches!(
            t.listen(&"/memory/77".parse().unwrap()).await,
            Err(TransportError::AddrInUse(_))
        ));
        drop(listener);
        assert!(matches!(
            t.dial(&"/memory/77".parse().unwrap()).await,
            Err(TransportError::ConnectionRefused(_))
        ));
        t.listen(&"/memory/77".parse().unwrap())
            .await
            .expect("port freed on drop");
    }

    #[tokio::test]
    async fn hubs_are_isolated_and_other_addresses_unsupported() {
        let (a, b) = (hub_transport(), hub_transport());
        let l = a.listen(&"/memory/5".parse().unwrap()).await.unwrap();
        assert!(b.dial(&l.local_addr()).await.is_err());
        for bad in ["/ip4/127.0.0.1/tcp/1", "/memory/1/tcp/2"] {
            let addr: Multiaddr = bad.parse().unwrap();
            assert!(!a.supports(&addr));
            assert!(matches!(
                a.dial(&addr).await,
                Err(TransportError::UnsupportedAddress(_))
            ));
        }
        let with_peer: Multiaddr = format!("/memory/5/p2p/{}", mycel_core::PeerId::random())
            .parse()
            .unwrap();
        assert!(a.dial(&with_peer).await.is_ok());
    }

    #[tokio::test]
    async fn full_backlog_refuses_new_dials() {
        let t = hub_transport().with_config(MemoryConfig {
            backlog: 2,
            ..Default::default()
        });
        let mut l = t.listen(&"/memory/0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr();
        let _c1 = t.dial(&addr).await.unwrap();
        let _c2 = t.dial(&addr).await.unwrap();
        assert!(matches!(
            t.dial(&addr).await,
            Err(TransportError::ConnectionRefused(_))
        ));
        l.accept().await.unwrap();
        t.dial(&addr).await.expect("room again after an accept");
    }
}
