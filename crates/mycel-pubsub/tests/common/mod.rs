//! Floodsub nodes on real hosts over the memory transport, shared by the integration
//! tests.

use std::sync::Arc;

use mycel_core::{Multiaddr, PeerId};
use mycel_host::Host;
use mycel_memory::MemoryHub;
use mycel_pubsub::{Pubsub, PubsubConfig, SigningPolicy, floodsub::FloodsubConfig};

/// A host with its floodsub node.
pub(crate) struct Node {
    pub(crate) host: Host,
    pub(crate) pubsub: Pubsub,
}

impl Node {
    /// A host on `hub` (Noise, yamux) running floodsub with signed messages.
    pub(crate) async fn start(hub: &MemoryHub) -> Node {
        let host = mycel_host::testing::memory_host(hub).await;
        let config = PubsubConfig::new(SigningPolicy::StrictSign(host.keypair().clone()));
        let pubsub = Pubsub::floodsub(Arc::new(host.clone()), config, FloodsubConfig::default());
        Node { host, pubsub }
    }

    pub(crate) fn id(&self) -> PeerId {
        self.host.peer_id()
    }

    pub(crate) fn addr(&self) -> Multiaddr {
        self.host.listen_addrs()[0].clone()
    }
}
