//! Pubsub nodes for tests (the `test-util` feature): real hosts (Noise, yamux) over the
//! in-process memory transport, each running floodsub with signed messages.

use std::{sync::Arc, time::Duration};

use mycel_core::{Multiaddr, PeerId};
use mycel_host::Host;
use mycel_memory::MemoryHub;

use crate::{Pubsub, PubsubConfig, SigningPolicy, TopicHash, floodsub::FloodsubConfig};

/// A host with its floodsub node.
pub struct Node {
    /// The host.
    pub host: Host,
    /// Floodsub on it.
    pub pubsub: Pubsub,
}

impl Node {
    /// A host on `hub` running floodsub with signed messages.
    ///
    /// # Panics
    /// If the host cannot start: a test has nothing to do then.
    pub async fn start(hub: &MemoryHub) -> Node {
        let host = mycel_host::testing::memory_host(hub).await;
        let signing = SigningPolicy::StrictSign(host.keypair().clone());
        let pubsub = Pubsub::floodsub(
            Arc::new(host.clone()),
            PubsubConfig::new(signing),
            FloodsubConfig::default(),
        );
        Node { host, pubsub }
    }

    /// The host's peer id.
    pub fn id(&self) -> PeerId {
        self.host.peer_id()
    }

    /// The host's first listen address.
    pub fn addr(&self) -> Multiaddr {
        self.host.listen_addrs()[0].clone()
    }
}

/// Waits (at most ten seconds) until `pubsub` knows each of `peers` to be subscribed to
/// `topic`.
///
/// # Panics
/// If they are not by then.
pub async fn until_subscribed(pubsub: &Pubsub, peers: &[PeerId], topic: &TopicHash) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let known = pubsub.topic_peers(topic.clone()).await;
            if peers.iter().all(|p| known.contains(p)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("subscriptions propagate");
}
