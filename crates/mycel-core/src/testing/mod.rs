//! Helpers for tests of crates built on mycel (the `test-util` feature): a loopback
//! [`Network`], [`eventually`], and the compliance suite every muxer runs ([`muxer`]).

pub mod muxer;

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use crate::{
    Multiaddr, NegotiatedStream, Network, NetworkError, NetworkEvent, PeerId, ProtocolId,
    StreamHandler,
};
use futures::{
    StreamExt,
    future::{self, BoxFuture},
    stream::{self, BoxStream},
};
use tokio::task::JoinSet;

/// Bytes buffered in each direction of a stream.
const PIPE_SIZE: usize = 64 * 1024;

/// A loopback [`Network`]: a stream opened to any peer is served by this network's own
/// handlers, over an in-memory pipe, and the serving side sees this network's peer id as
/// the remote. Enough to test a protocol's two sides without a host.
pub struct LoopbackNetwork {
    local: PeerId,
    handlers: Mutex<HashMap<ProtocolId, StreamHandler>>,
    /// Handler tasks; dropping the network aborts those still running.
    tasks: Mutex<JoinSet<()>>,
}

impl Default for LoopbackNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl LoopbackNetwork {
    /// A network with a random peer id and no handlers.
    pub fn new() -> Self {
        LoopbackNetwork {
            local: PeerId::random(),
            handlers: Mutex::default(),
            tasks: Mutex::default(),
        }
    }

    fn open(
        &self,
        peer: PeerId,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError> {
        let handlers = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((protocol, handler)) = protocols
            .iter()
            .find_map(|p| handlers.get(p).map(|h| (p.clone(), h.clone())))
        else {
            return Err(NetworkError::ProtocolNotSupported {
                peer,
                protocols: protocols.to_vec(),
            });
        };
        drop(handlers);

        let (ours, theirs) = tokio::io::duplex(PIPE_SIZE);
        let inbound = handler(NegotiatedStream {
            remote_addr: None,
            peer: self.local,
            protocol: protocol.clone(),
            io: Box::new(theirs),
        });
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(inbound);
        Ok(NegotiatedStream {
            remote_addr: None,
            peer,
            protocol,
            io: Box::new(ours),
        })
    }
}

// Written out rather than with `#[async_trait]`; the signatures are what that macro
// generates.
impl Network for LoopbackNetwork {
    fn local_peer_id(&self) -> PeerId {
        self.local
    }

    fn new_stream<'life0, 'life1, 'async_trait>(
        &'life0 self,
        peer: PeerId,
        protocols: &'life1 [ProtocolId],
    ) -> BoxFuture<'async_trait, Result<NegotiatedStream, NetworkError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(future::ready(self.open(peer, protocols)))
    }

    fn set_stream_handler(&self, protocol: ProtocolId, handler: StreamHandler) {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(protocol, handler);
    }

    fn remove_stream_handler(&self, protocol: &ProtocolId) {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(protocol);
    }

    fn connected_peers(&self) -> Vec<PeerId> {
        Vec::new()
    }

    fn add_addrs(&self, _peer: PeerId, _addrs: Vec<Multiaddr>) {}

    fn events(&self) -> BoxStream<'static, NetworkEvent> {
        stream::empty().boxed()
    }
}

/// Waits until `check` holds, looking every 20 ms; panics naming `what` after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(limit, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "timed out after {limit:?} waiting until {what}"
    );
}

/// Polls `reader` once for up to 64 bytes without blocking: `Some(Ok(n))` (0 at a clean
/// end), `Some(Err(kind))`, or `None` while it would wait.
pub fn read_now<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
) -> Option<Result<usize, std::io::ErrorKind>> {
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut buf = [0u8; 64];
    let mut read = tokio::io::ReadBuf::new(&mut buf);
    match std::pin::Pin::new(reader).poll_read(&mut cx, &mut read) {
        std::task::Poll::Ready(Ok(())) => Some(Ok(read.filled().len())),
        std::task::Poll::Ready(Err(e)) => Some(Err(e.kind())),
        std::task::Poll::Pending => None,
    }
}
