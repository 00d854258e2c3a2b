//! Kademlia (`/ipfs/kad/1.0.0`) interop with rust-libp2p 0.57's libp2p-kad, over TCP on
//! 127.0.0.1.
//!
//! The file is laid out in sections:
//!
//! 1. Shared helpers: time limits, starting and wiring [`RustNode`]s with kad on.
//! 2. The rust-libp2p reference nodes among themselves: proves the [`RustNode`] kad
//!    plumbing (commands, query results) before anything of mycel's is checked with it.
//! 3. mycel's Kademlia against the rust-libp2p nodes: mycel as a client of rust
//!    servers, mycel as a server for rust clients (both over yamux and over mplex), and a
//!    mixed network of mycel and rust servers whose lookups must agree.
//!
//! Every test is bounded by [`TEST_LIMIT`]; every [`RustNode`] command by a limit of its
//! own.

mod common;

use common::{bounded_by, each_muxer, rust_muxer, to_mycel, to_rust};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use mycel::{DefaultStack, Host, Multiaddr, Muxer, PeerId, core::Protocol};
use mycel_interop::rust_node::{KAD, RustEvent, RustKadMode, RustMuxer, RustNode, RustOptions};
use mycel_kad::{
    AcceptAll, KadConfig, KadError, Kademlia, Key, Mode, ProviderRecord, Quorum, Record, Validators,
};

// ---------------------------------------------------------------------------------------
// 1. Shared helpers.
// ---------------------------------------------------------------------------------------

/// How long a whole test may take.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for one event.
const EVENT_LIMIT: Duration = Duration::from_secs(10);

/// Runs `test` within [`TEST_LIMIT`].
async fn bounded(test: impl std::future::Future<Output = ()>) {
    bounded_by(TEST_LIMIT, test).await;
}

/// A rust-libp2p node with kad in `mode`, over yamux.
async fn rust_kad_node(mode: RustKadMode) -> RustNode {
    rust_kad_node_over(RustMuxer::Yamux, mode).await
}

/// A rust-libp2p node with kad in `mode`, over `muxer`.
async fn rust_kad_node_over(muxer: RustMuxer, mode: RustKadMode) -> RustNode {
    RustNode::start_with(
        muxer,
        RustOptions {
            kad: Some(mode),
            ..RustOptions::default()
        },
    )
    .await
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

// ---------------------------------------------------------------------------------------
// 3. mycel's Kademlia against rust-libp2p's.
// ---------------------------------------------------------------------------------------

/// How long to poll for something another node does in the background.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// `peers` nearest to `key` first, as both implementations order lookup results.
fn by_distance(key: &[u8], mut peers: Vec<PeerId>) -> Vec<PeerId> {
    let target = Key::new(key.to_vec());
    peers.sort_by_key(|p| target.distance(&Key::from_peer(p)));
    peers
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// Polls `check` until it holds, for at most [`SETTLE_LIMIT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A mycel host over TCP on 127.0.0.1 with noise and one muxer, and a Kademlia node on it.
struct MycelKad {
    host: Host,
    kad: Kademlia,
}

impl MycelKad {
    async fn start(muxer: Muxer, mode: Mode) -> Self {
        let host = Host::builder()
            .with_tcp_noise(&[muxer])
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .await
            .expect("mycel host");
        let config = KadConfig::default()
            .with_mode(mode)
            .with_validators(Validators::with_defaults().with("test", AcceptAll))
            .with_bootstrap_interval(None)
            .with_request_timeout(Duration::from_secs(2));
        let kad = Kademlia::new(Arc::new(host.clone()), config);
        MycelKad { host, kad }
    }

    fn id(&self) -> PeerId {
        self.host.peer_id()
    }

    fn addr(&self) -> Multiaddr {
        self.host.listen_addrs()[0].clone()
    }

    fn local_record(&self, key: &[u8]) -> Option<Record> {
        self.kad
            .with_state(|s| s.store.get(key, Instant::now()).cloned())
    }

    fn local_providers(&self, key: &[u8]) -> Vec<ProviderRecord> {
        self.kad
            .with_state(|s| s.store.providers(key, Instant::now()))
    }

    async fn close(self) {
        self.kad.close().await;
        self.host.close().await;
    }
}

/// Whether `rust` stores a provider record of `key` for `provider` with `addr` among its
/// addresses (libp2p-kad appends `/p2p/<provider>` to the addresses it receives).
async fn rust_has_provider(
    rust: &RustNode,
    key: &[u8],
    provider: PeerId,
    addr: &Multiaddr,
) -> bool {
    let provider = to_rust(provider);
    let stored = addr.clone().with(Protocol::P2p(provider));
    let providers = rust
        .kad_local_providers(key.to_vec())
        .await
        .expect("local providers");
    providers
        .iter()
        .any(|(p, addrs)| *p == provider && addrs.contains(&stored))
}

/// `mycel` announces itself as a provider of `key`: every one of `servers` is told and
/// stores the record with mycel's address.
async fn provide_to_rust(mycel: &MycelKad, key: &[u8], servers: &[RustNode]) {
    let told = mycel
        .kad
        .start_providing(key.to_vec())
        .await
        .expect("mycel provides");
    assert_eq!(told, servers.len());
    let mycel_addr = mycel.addr();
    for node in servers {
        eventually("a rust server stores mycel's provider record", || {
            rust_has_provider(node, key, mycel.id(), &mycel_addr)
        })
        .await;
    }
}

/// mycel, a DHT client, uses a network of three rust-libp2p servers: FIND_NODE,
/// PUT_VALUE, GET_VALUE, ADD_PROVIDER and GET_PROVIDERS, all sent by mycel.
async fn mycel_client_of_rust_servers(muxer: Muxer) {
    let rust = vec![
        rust_kad_node_over(rust_muxer(muxer), RustKadMode::Server).await,
        rust_kad_node_over(rust_muxer(muxer), RustKadMode::Server).await,
        rust_kad_node_over(rust_muxer(muxer), RustKadMode::Server).await,
    ];
    connect_rust_mesh(&rust).await;
    let rust_ids: Vec<PeerId> = rust.iter().map(|r| to_mycel(r.peer_id)).collect();
    let mycel = MycelKad::start(muxer, Mode::Client).await;

    // Bootstrap from one rust server: the others come back in FIND_NODE answers.
    mycel
        .kad
        .add_address(rust_ids[0], rust[0].listen_addr.clone());
    let size = mycel.kad.bootstrap().await.expect("mycel bootstraps");
    assert_eq!(size, 3);
    assert_eq!(
        sorted(mycel.kad.routing_table_peers()),
        sorted(rust_ids.clone())
    );

    // FIND_NODE: every rust server, nearest first, with the address it listens on.
    let key = b"/test/closest".to_vec();
    let found = mycel
        .kad
        .find_closest_peers(key.clone())
        .await
        .expect("closest peers");
    let ids: Vec<PeerId> = found.iter().map(|p| p.id).collect();
    assert_eq!(ids, by_distance(&key, rust_ids.clone()));
    for peer in &found {
        let node = &rust[rust_ids.iter().position(|p| *p == peer.id).unwrap()];
        assert!(peer.addrs.contains(&node.listen_addr), "{:?}", peer.addrs);
    }
    let addrs = mycel.kad.find_peer(rust_ids[2]).await.expect("find peer");
    assert!(addrs.contains(&rust[2].listen_addr), "{addrs:?}");

    // PUT_VALUE: all three rust servers store the record and echo it as mycel expects.
    let key = b"/test/from-mycel".to_vec();
    let value = b"put by mycel".to_vec();
    let put = mycel
        .kad
        .put_record_with(Record::new(key.clone(), value.clone()), Quorum::All)
        .await
        .expect("mycel puts to rust");
    assert_eq!(put.stored, 3);
    for node in &rust {
        assert_eq!(
            node.kad_local_record(key.clone()).await,
            Ok(Some(value.clone()))
        );
    }

    // GET_VALUE: a record a rust server put.
    let key = b"/test/from-rust".to_vec();
    let value = b"put by rust-libp2p".to_vec();
    rust[1]
        .kad_put_record(key.clone(), value.clone(), 1)
        .await
        .expect("rust puts");
    let got = mycel
        .kad
        .get_record_with(key.clone(), Quorum::One)
        .await
        .expect("mycel gets the record rust put");
    assert_eq!(&got.record.value[..], &value[..]);
    assert!(got.peers.iter().all(|p| rust_ids.contains(p)));
    assert!(matches!(
        mycel.kad.get_record(b"/test/absent".to_vec()).await,
        Err(KadError::NotFound)
    ));

    // ADD_PROVIDER: each rust server stores mycel as a provider, with its address.
    let key = b"/test/provided-by-mycel".to_vec();
    provide_to_rust(&mycel, &key, &rust).await;

    // GET_PROVIDERS: a key a rust server provides (rust sends only external addresses).
    let key = b"/test/provided-by-rust".to_vec();
    rust[2]
        .add_external_address(rust[2].listen_addr.clone())
        .await
        .unwrap();
    rust[2]
        .kad_start_providing(key.clone())
        .await
        .expect("rust provides");
    for node in &rust[..2] {
        eventually("a rust server stores rust's provider record", || {
            rust_has_provider(node, &key, rust_ids[2], &rust[2].listen_addr)
        })
        .await;
    }
    let providers = mycel
        .kad
        .get_providers(key.clone())
        .await
        .expect("mycel gets providers");
    assert_eq!(providers.len(), 1, "{providers:?}");
    assert_eq!(providers[0].id, rust_ids[2]);
    assert!(
        providers[0].addrs.contains(&rust[2].listen_addr),
        "{:?}",
        providers[0].addrs
    );
    assert!(
        mycel
            .kad
            .get_providers(b"/test/unprovided".to_vec())
            .await
            .expect("no providers")
            .is_empty()
    );

    // A client stays out of the rust servers' tables.
    for node in &rust {
        let table = node.kad_routing_table_peers().await.unwrap();
        assert!(!table.contains(&to_rust(mycel.id())), "{table:?}");
    }
    mycel.close().await;
}

/// Two rust-libp2p servers and a rust-libp2p client use a mycel server: FIND_NODE,
/// PUT_VALUE, GET_VALUE, ADD_PROVIDER and GET_PROVIDERS, all answered by mycel.
async fn rust_clients_of_mycel_server(muxer: Muxer) {
    let mycel = MycelKad::start(muxer, Mode::Server).await;
    let servers = vec![
        rust_kad_node_over(rust_muxer(muxer), RustKadMode::Server).await,
        rust_kad_node_over(rust_muxer(muxer), RustKadMode::Server).await,
    ];
    let client = rust_kad_node_over(rust_muxer(muxer), RustKadMode::Client).await;
    let server_ids: Vec<PeerId> = servers.iter().map(|r| to_mycel(r.peer_id)).collect();
    let client_id = to_mycel(client.peer_id);
    for node in servers.iter().chain([&client]) {
        node.kad_add_address(to_rust(mycel.id()), mycel.addr())
            .await
            .expect("rust adds mycel");
    }

    // The rust servers bootstrap from mycel; mycel learns them by identify (they offer
    // kad), so the second one hears of the first from mycel.
    servers[0].kad_bootstrap().await.expect("bootstrap");
    eventually("mycel adds the first rust server", || async {
        mycel.kad.routing_table_peers().contains(&server_ids[0])
    })
    .await;
    servers[1].kad_bootstrap().await.expect("bootstrap");
    eventually("mycel adds the second rust server", || async {
        mycel.kad.routing_table_peers().contains(&server_ids[1])
    })
    .await;
    assert_eq!(
        sorted(servers[1].kad_routing_table_peers().await.unwrap()),
        sorted(vec![to_rust(mycel.id()), servers[0].peer_id])
    );

    // FIND_NODE answered by mycel (with addresses rust can dial).
    let key = b"/test/closest".to_vec();
    let expected = by_distance(&key, vec![mycel.id(), server_ids[1]]);
    let found = servers[0]
        .kad_get_closest_peers(key.clone())
        .await
        .expect("closest peers");
    assert_eq!(
        found,
        expected.iter().map(|p| to_rust(*p)).collect::<Vec<_>>()
    );
    let expected = by_distance(&key, vec![mycel.id(), server_ids[0], server_ids[1]]);
    let found = client
        .kad_get_closest_peers(key.clone())
        .await
        .expect("closest peers");
    assert_eq!(
        found,
        expected.iter().map(|p| to_rust(*p)).collect::<Vec<_>>()
    );
    // The client used mycel but does not serve: mycel keeps it out of its table.
    assert_eq!(
        sorted(mycel.kad.routing_table_peers()),
        sorted(server_ids.clone())
    );

    // PUT_VALUE into mycel: with a quorum of all three, mycel's echo must satisfy rust.
    let key = b"/test/from-rust".to_vec();
    let value = b"put by rust-libp2p".to_vec();
    client
        .kad_put_record(key.clone(), value.clone(), 3)
        .await
        .expect("rust puts to mycel and the servers");
    let stored = mycel.local_record(&key).expect("mycel stores the record");
    assert_eq!(&stored.value[..], &value[..]);
    assert_eq!(stored.publisher, Some(client_id));
    // A record mycel refuses (an unknown namespace) fails rust's quorum.
    assert!(
        client
            .kad_put_record(b"/nons/x".to_vec(), b"v".to_vec(), 3)
            .await
            .is_err()
    );
    assert!(mycel.local_record(b"/nons/x").is_none());

    // GET_VALUE answered by mycel: a record only mycel holds.
    let key = b"/test/only-in-mycel".to_vec();
    let value = b"held by mycel".to_vec();
    mycel
        .kad
        .with_state(|s| {
            s.store
                .put(Record::new(key.clone(), value.clone()), Instant::now())
        })
        .unwrap();
    assert_eq!(client.kad_local_record(key.clone()).await, Ok(None));
    assert_eq!(
        client.kad_get_record(key.clone()).await,
        Ok(Some(value.clone()))
    );

    // ADD_PROVIDER into mycel (rust sends only external addresses).
    let key = b"/test/provided-by-rust".to_vec();
    servers[0]
        .add_external_address(servers[0].listen_addr.clone())
        .await
        .unwrap();
    servers[0]
        .kad_start_providing(key.clone())
        .await
        .expect("rust provides");
    eventually("mycel stores rust's provider record", || async {
        mycel
            .local_providers(&key)
            .iter()
            .any(|p| p.provider == server_ids[0] && p.addrs.contains(&servers[0].listen_addr))
    })
    .await;

    // GET_PROVIDERS answered by mycel: a key only mycel's store knows a provider of...
    let key = b"/test/provider-only-in-mycel".to_vec();
    let now = Instant::now();
    mycel
        .kad
        .with_state(|s| {
            s.store.add_provider(
                ProviderRecord {
                    key: key.clone().into(),
                    provider: mycel.id(),
                    addrs: vec![mycel.addr()],
                    expires: now + Duration::from_secs(3600),
                },
                now,
            )
        })
        .unwrap();
    assert_eq!(
        client.kad_get_providers(key.clone()).await,
        Ok(vec![to_rust(mycel.id())])
    );
    // ...and one mycel announced to the rust servers.
    let key = b"/test/provided-by-mycel".to_vec();
    provide_to_rust(&mycel, &key, &servers).await;
    assert_eq!(
        client.kad_get_providers(key.clone()).await,
        Ok(vec![to_rust(mycel.id())])
    );
    mycel.close().await;
}

each_muxer!(mycel_client_of_rust_servers, rust_clients_of_mycel_server);

/// Two mycel and two rust-libp2p servers, all bootstrapped from the first mycel node:
/// every node's FIND_NODE lookup returns the same peers in the same order, and records
/// cross between the implementations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_network_lookups_agree() {
    bounded(async {
        let mycel = vec![
            MycelKad::start(Muxer::Yamux, Mode::Server).await,
            MycelKad::start(Muxer::Yamux, Mode::Server).await,
        ];
        let rust = vec![
            rust_kad_node(RustKadMode::Server).await,
            rust_kad_node(RustKadMode::Server).await,
        ];
        let (seed, seed_addr) = (mycel[0].id(), mycel[0].addr());
        let all: Vec<PeerId> = mycel
            .iter()
            .map(|m| m.id())
            .chain(rust.iter().map(|r| to_mycel(r.peer_id)))
            .collect();

        // One by one, each joins through the seed, which must have learnt the one
        // before (by identify) for the next to hear of it.
        mycel[1].kad.add_address(seed, seed_addr.clone());
        mycel[1].kad.bootstrap().await.expect("bootstrap");
        let mut joined = vec![mycel[1].id()];
        for node in &rust {
            eventually("the seed learns every node that joined", || async {
                let table = mycel[0].kad.routing_table_peers();
                joined.iter().all(|p| table.contains(p))
            })
            .await;
            node.kad_add_address(to_rust(seed), seed_addr.clone())
                .await
                .unwrap();
            node.kad_bootstrap().await.expect("bootstrap");
            joined.push(to_mycel(node.peer_id));
        }
        // A second round for the mycel nodes, which joined early.
        for node in &mycel {
            node.kad.bootstrap().await.expect("bootstrap");
        }
        for node in &mycel {
            let others: Vec<PeerId> = all.iter().copied().filter(|p| *p != node.id()).collect();
            assert_eq!(sorted(node.kad.routing_table_peers()), sorted(others));
        }
        // rust-libp2p adds a peer only after dialing it: each rust node dialed both
        // mycel nodes (the seed returned the second one), the later also the earlier.
        for (i, node) in rust.iter().enumerate() {
            let table = node.kad_routing_table_peers().await.unwrap();
            for peer in all
                .iter()
                .take(2 + i)
                .filter(|p| **p != to_mycel(node.peer_id))
            {
                assert!(table.contains(&to_rust(*peer)), "{i}: {table:?}");
            }
        }

        // FIND_NODE, from every node, for a content key and for each node's own id.
        let mut keys = vec![b"/test/mixed".to_vec()];
        keys.extend(all.iter().map(|p| p.to_bytes()));
        for key in &keys {
            for node in &mycel {
                let found: Vec<PeerId> = node
                    .kad
                    .find_closest_peers(key.clone())
                    .await
                    .expect("closest peers")
                    .iter()
                    .map(|p| p.id)
                    .collect();
                let others = all.iter().copied().filter(|p| *p != node.id()).collect();
                assert_eq!(found, by_distance(key, others), "mycel {}", node.id());
            }
            for node in &rust {
                let found = node
                    .kad_get_closest_peers(key.clone())
                    .await
                    .expect("closest peers");
                let others = all
                    .iter()
                    .copied()
                    .filter(|p| *p != to_mycel(node.peer_id))
                    .collect();
                let expected: Vec<_> = by_distance(key, others).into_iter().map(to_rust).collect();
                assert_eq!(found, expected, "rust {}", node.peer_id);
            }
        }

        // Records cross: mycel puts to all three others, rust to all three others.
        let key = b"/test/mixed-from-mycel".to_vec();
        let put = mycel[1]
            .kad
            .put_record_with(Record::new(key.clone(), b"m".to_vec()), Quorum::All)
            .await
            .expect("mycel puts");
        assert_eq!(put.stored, 3);
        for node in &rust {
            assert_eq!(
                node.kad_local_record(key.clone()).await,
                Ok(Some(b"m".to_vec()))
            );
        }
        let key = b"/test/mixed-from-rust".to_vec();
        rust[0]
            .kad_put_record(key.clone(), b"r".to_vec(), 3)
            .await
            .expect("rust puts");
        for node in &mycel {
            assert_eq!(
                node.local_record(&key).map(|r| r.value.to_vec()),
                Some(b"r".to_vec())
            );
        }
        for node in mycel {
            node.close().await;
        }
    })
    .await;
}
