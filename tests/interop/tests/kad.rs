//! Kademlia (`/ipfs/kad/1.0.0`) interop with rust-libp2p 0.57's libp2p-kad, over TCP on
//! 127.0.0.1.
//!
//! The file is laid out in sections:
//!
//! 1. Shared helpers: time limits, starting and wiring [`RustNode`]s with kad on.
//! 2. The rust-libp2p reference nodes among themselves: proves the [`RustNode`] kad
//!    plumbing (commands, query results) before anything of mycel's is checked with it.
//! 3. (To come) mycel's Kademlia against the rust-libp2p nodes, each direction.
//!
//! Every test is bounded by [`TEST_LIMIT`]; every [`RustNode`] command by a limit of its
//! own.

use std::time::Duration;

use mycel_interop::rust_node::{KAD, RustEvent, RustKadMode, RustMuxer, RustNode, RustOptions};

// ---------------------------------------------------------------------------------------
// 1. Shared helpers.
// ---------------------------------------------------------------------------------------

/// How long a whole test may take.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for one event.
const EVENT_LIMIT: Duration = Duration::from_secs(10);

/// Runs `test` within [`TEST_LIMIT`].
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("kad interop test finished in time");
}

/// A rust-libp2p node with kad in `mode`, over yamux.
async fn rust_kad_node(mode: RustKadMode) -> RustNode {
    RustNode::start_with(RustMuxer::Yamux, RustOptions { kad: Some(mode) }).await
}

/// Puts each node in every other node's routing table and dials every pair once.
async fn connect_rust_mesh(nodes: &[RustNode]) {
    for (i, a) in nodes.iter().enumerate() {
        for (j, b) in nodes.iter().enumerate() {
            if i == j {
                continue;
            }
            a.kad_add_address(b.peer_id, b.listen_addr.clone())
                .await
                .expect("add address");
            if i < j {
                a.dial(b.p2p_addr()).await.expect("dial");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. rust-libp2p reference nodes among themselves.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_reference_nodes_store_and_find_records() {
    bounded(async {
        let nodes = vec![
            rust_kad_node(RustKadMode::Server).await,
            rust_kad_node(RustKadMode::Server).await,
            rust_kad_node(RustKadMode::Server).await,
        ];
        connect_rust_mesh(&nodes).await;
        let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);

        for node in &nodes {
            let mut table = node.kad_routing_table_peers().await.unwrap();
            table.sort();
            let mut others: Vec<_> = nodes
                .iter()
                .map(|n| n.peer_id)
                .filter(|p| *p != node.peer_id)
                .collect();
            others.sort();
            assert_eq!(table, others);
        }
        a.kad_bootstrap().await.expect("bootstrap");

        // FIND_NODE: the closest peers to c, as a sees them, are the other two.
        let mut closest = a
            .kad_get_closest_peers(c.peer_id.to_bytes())
            .await
            .expect("closest peers");
        closest.sort();
        let mut expected = vec![b.peer_id, c.peer_id];
        expected.sort();
        assert_eq!(closest, expected);

        // PUT_VALUE on a, GET_VALUE on c.
        let key = b"/mycel-interop/record".to_vec();
        let value = b"hello from rust-libp2p".to_vec();
        a.kad_put_record(key.clone(), value.clone(), 1)
            .await
            .expect("put record");
        assert_eq!(
            a.kad_local_record(key.clone()).await.unwrap(),
            Some(value.clone())
        );
        assert_eq!(
            c.kad_get_record(key.clone()).await.expect("get record"),
            Some(value.clone())
        );
        // Quorum 1 reached, but the put goes on to every closest peer: b and c store it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for node in [b, c] {
            while node.kad_local_record(key.clone()).await.unwrap() != Some(value.clone()) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "record not replicated"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        assert_eq!(
            b.kad_get_record(b"/mycel-interop/absent".to_vec())
                .await
                .expect("get absent record"),
            None
        );

        // ADD_PROVIDER from b, GET_PROVIDERS from c.
        let provided = b"/mycel-interop/provided".to_vec();
        b.kad_start_providing(provided.clone())
            .await
            .expect("start providing");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let providers = a.kad_local_providers(provided.clone()).await.unwrap();
            if providers.iter().any(|(p, _)| *p == b.peer_id) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "provider not stored at a"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            c.kad_get_providers(provided.clone())
                .await
                .expect("get providers"),
            vec![b.peer_id]
        );
        assert_eq!(
            c.kad_get_providers(b"/mycel-interop/unprovided".to_vec())
                .await
                .expect("get no providers"),
            Vec::new()
        );
    })
    .await;
}

/// Which protocols `node` learnt by identify that `peer` offers (waits for identify).
async fn identified_protocols(node: &RustNode, peer: libp2p::PeerId) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    loop {
        if let Some(seen) = node.identified.lock().unwrap().get(&peer) {
            return seen.protocols.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never identified");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_kad_modes_and_protocol_offers() {
    bounded(async {
        let plain = RustNode::start(RustMuxer::Yamux).await;
        assert!(plain.kad_routing_table_peers().await.is_err());
        assert!(plain.kad_bootstrap().await.is_err());
        let client = rust_kad_node(RustKadMode::Client).await;
        assert_eq!(client.kad_routing_table_peers().await, Ok(Vec::new()));
        assert!(client.kad_bootstrap().await.is_err(), "empty routing table");
        let server = rust_kad_node(RustKadMode::Server).await;

        // Only the server offers /ipfs/kad/1.0.0.
        for (node, offers) in [(&plain, false), (&client, false), (&server, true)] {
            let probe = rust_kad_node(RustKadMode::Client).await;
            probe.dial(node.p2p_addr()).await.expect("dial");
            let protocols = identified_protocols(&probe, node.peer_id).await;
            assert_eq!(
                protocols.contains(&KAD.to_string()),
                offers,
                "{protocols:?}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_routing_table_learns_dialed_kad_servers_only() {
    bounded(async {
        let mut dialer = rust_kad_node(RustKadMode::Server).await;
        let listener = rust_kad_node(RustKadMode::Server).await;
        dialer.dial(listener.p2p_addr()).await.expect("dial");
        // The dialer adds the listener once identify says it speaks kad...
        let listener_id = listener.peer_id;
        let added = dialer
            .wait_for(EVENT_LIMIT, |e| match e {
                RustEvent::KadRoutingUpdated { peer, addresses } if *peer == listener_id => {
                    Some(addresses.clone())
                }
                _ => None,
            })
            .await
            .expect("dialer adds the listener to its routing table");
        assert_eq!(added, vec![listener.p2p_addr()]);
        assert_eq!(
            dialer.kad_routing_table_peers().await,
            Ok(vec![listener_id])
        );
        // ...but the listener never adds a peer that dialed it.
        identified_protocols(&listener, dialer.peer_id).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(listener.kad_routing_table_peers().await, Ok(Vec::new()));
    })
    .await;
}
