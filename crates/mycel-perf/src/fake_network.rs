//! A loopback [`Network`] for tests: a stream opened to any peer is served by this
//! network's own handlers, over an in-memory pipe, and the serving side sees this
//! network's peer id as the remote.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use futures::{
    StreamExt,
    future::{self, BoxFuture},
    stream::{self, BoxStream},
};
use mycel_core::{
    Multiaddr, NegotiatedStream, Network, NetworkError, NetworkEvent, PeerId, ProtocolId,
    StreamHandler,
};
use tokio::task::JoinSet;

/// Bytes buffered in each direction of a stream.
const PIPE_SIZE: usize = 64 * 1024;

pub(crate) struct FakeNetwork {
    local: PeerId,
    handlers: Mutex<HashMap<ProtocolId, StreamHandler>>,
    /// Handler tasks; dropping the network aborts those still running.
    tasks: Mutex<JoinSet<()>>,
}

impl FakeNetwork {
    pub(crate) fn new() -> Self {
        FakeNetwork {
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

// Written out rather than with `#[async_trait]`, which this crate does not depend on;
// the signatures are what that macro generates.
impl Network for FakeNetwork {
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
