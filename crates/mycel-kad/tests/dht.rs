//! Kademlia nodes on real hosts over the memory transport.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use mycel_core::{Multiaddr, Network, PeerId};
use mycel_host::Host;
use mycel_kad::{
    AcceptAll, KadConfig, KadError, Kademlia, Key, Mode, PROTOCOL_ID, Quorum, Record, Validators,
};
use mycel_memory::MemoryHub;
use tokio::io::AsyncWriteExt;

async fn host(hub: &MemoryHub) -> Host {
    mycel_host::testing::memory_host(hub).await
}

fn config(mode: Mode) -> KadConfig {
    KadConfig::default()
        .with_mode(mode)
        .with_validators(Validators::with_defaults().with("test", AcceptAll))
        .with_bootstrap_interval(None)
        .with_request_timeout(Duration::from_secs(2))
}

struct Node {
    host: Host,
    kad: Kademlia,
}

impl Node {
    async fn start(hub: &MemoryHub, mode: Mode) -> Node {
        let host = host(hub).await;
        let kad = Kademlia::new(Arc::new(host.clone()), config(mode));
        Node { host, kad }
    }

    fn addr(&self) -> Multiaddr {
        self.host.listen_addrs()[0].clone()
    }
}

/// `n` servers, each bootstrapped from the first.
async fn network(hub: &MemoryHub, n: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(Node::start(hub, Mode::Server).await);
    }
    let (seed, seed_addr) = (nodes[0].host.peer_id(), nodes[0].addr());
    for node in &nodes[1..] {
        node.kad.add_address(seed, seed_addr.clone());
        node.kad.bootstrap().await.expect("bootstrap");
    }
    // A second round lets early nodes learn of late ones.
    for node in &nodes {
        node.kad.bootstrap().await.expect("bootstrap");
    }
    nodes
}

fn true_closest(nodes: &[Node], key: &Key, k: usize) -> Vec<PeerId> {
    let mut ids: Vec<PeerId> = nodes.iter().map(|n| n.host.peer_id()).collect();
    ids.sort_by_key(|p| key.distance(&Key::from_peer(p)));
    ids.truncate(k);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_find_the_true_closest_peers() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 25))
        .await
        .unwrap();
    for node in &nodes {
        assert!(node.kad.routing_table_peers().len() >= 10, "tables fill up");
    }
    let target = Key::new(&b"some key"[..]);
    let found = nodes[7]
        .kad
        .find_closest_peers(target.preimage().clone())
        .await
        .unwrap();
    let found: Vec<PeerId> = found.iter().map(|p| p.id).collect();
    let mut expected = true_closest(&nodes, &target, 21);
    expected.retain(|p| *p != nodes[7].host.peer_id());
    expected.truncate(20);
    assert_eq!(found, expected);

    let wanted = nodes[19].host.peer_id();
    let addrs = nodes[3].kad.find_peer(wanted).await.unwrap();
    assert!(addrs.contains(&nodes[19].addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_put_on_one_node_are_got_from_another() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 12))
        .await
        .unwrap();
    let record = Record::new(&b"/test/hello"[..], &b"world"[..]);
    let put = nodes[2]
        .kad
        .put_record_with(record.clone(), Quorum::Majority)
        .await
        .unwrap();
    assert!(put.stored >= 6, "stored at {}", put.stored);
    let got = nodes[9].kad.get_record(&b"/test/hello"[..]).await.unwrap();
    assert_eq!(got.value, record.value);

    let missing = nodes[9].kad.get_record(&b"/test/missing"[..]).await;
    assert!(matches!(missing, Err(KadError::NotFound)));

    let refused = nodes[2]
        .kad
        .put_record(Record::new(&b"/nons/x"[..], &b"v"[..]))
        .await;
    assert!(matches!(refused, Err(KadError::InvalidRecord(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_announced_and_found() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 10))
        .await
        .unwrap();
    let told = nodes[4].kad.start_providing(&b"content"[..]).await.unwrap();
    assert!(told >= 5);
    let providers = nodes[8].kad.get_providers(&b"content"[..]).await.unwrap();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].id, nodes[4].host.peer_id());
    assert!(providers[0].addrs.contains(&nodes[4].addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_query_but_never_enter_tables_or_answer() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 6))
        .await
        .unwrap();
    let client = Node::start(&hub, Mode::Client).await;
    client
        .kad
        .add_address(nodes[0].host.peer_id(), nodes[0].addr());
    client.kad.bootstrap().await.unwrap();
    assert!(client.kad.routing_table_peers().len() >= 5);
    client
        .kad
        .put_record(Record::new(&b"/test/from-client"[..], &b"x"[..]))
        .await
        .unwrap();
    assert_eq!(
        nodes[5]
            .kad
            .get_record(&b"/test/from-client"[..])
            .await
            .unwrap()
            .value,
        Bytes::from_static(b"x")
    );
    let me = client.host.peer_id();
    for node in &nodes {
        assert!(
            !node.kad.routing_table_peers().contains(&me),
            "a client is never a table entry"
        );
    }
    // Two protocols make the negotiation eager, so the refusal shows here.
    let other = mycel_core::ProtocolId::from_static("/other/1.0.0");
    let refused = nodes[1].host.new_stream(me, &[PROTOCOL_ID, other]).await;
    assert!(refused.is_err(), "a client does not serve the protocol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversize_requests_close_the_stream_and_the_server_lives() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 3))
        .await
        .unwrap();
    let server = nodes[0].host.peer_id();
    let attacker = host(&hub).await;
    attacker
        .connect(&mycel_core::addr::with_peer_id(&nodes[0].addr(), &server).unwrap())
        .await
        .unwrap();
    for garbage in [
        vec![0x05, 0xff, 0xff, 0xff, 0xff, 0xff], // undecodable protobuf
        vec![0xff, 0xff, 0xff, 0xff, 0x7f],       // length far over the maximum
        vec![0x10, 0x08],                         // truncated
    ] {
        let mut stream = attacker.new_stream(server, &[PROTOCOL_ID]).await.unwrap();
        stream.io.write_all(&garbage).await.unwrap();
        let _ = stream.io.shutdown().await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            Duration::from_secs(15),
            tokio::io::AsyncReadExt::read_to_end(&mut stream.io, &mut rest),
        )
        .await;
        assert!(read.is_ok(), "the server ends the stream");
        assert!(rest.is_empty(), "and answers nothing");
    }
    let still = nodes[1]
        .kad
        .find_closest_peers(Bytes::copy_from_slice(server.as_bytes()))
        .await
        .unwrap();
    assert!(
        still.iter().any(|p| p.id == server),
        "the server still answers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dht_map_is_a_shared_dictionary() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 8))
        .await
        .unwrap();
    let maps: Vec<mycel_kad::DhtMap> = nodes
        .iter()
        .map(|n| mycel_kad::DhtMap::new(n.kad.clone()))
        .collect();
    maps[1].put("colour", "green").await.unwrap();
    assert_eq!(
        maps[6].get("colour").await.unwrap().as_deref(),
        Some(&b"green"[..])
    );
    assert_eq!(maps[6].get("shape").await.unwrap(), None);
    maps[3].put("colour", "blue").await.unwrap();
    // With fewer than k nodes every node is among the closest: all hold the new value.
    assert_eq!(
        maps[5].get("colour").await.unwrap().as_deref(),
        Some(&b"blue"[..])
    );
}

/// A receiver that reads an ADD_PROVIDER but never closes the stream (rust-libp2p over
/// mplex queues its close without flushing it) got the announcement: the sender counts
/// it at once, neither waiting for the close nor timing the request out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_provider_to_a_peer_that_never_closes_the_stream_counts_at_once() {
    use mycel_core::framing::{read_length_prefixed, write_length_prefixed};
    use mycel_kad::{Request, Response, decode_request, encode_response};

    let hub = MemoryHub::default();
    let sloppy = host(&hub).await;
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    sloppy.set_stream_handler(
        PROTOCOL_ID,
        mycel_core::stream_handler(move |mut stream| {
            let seen_tx = seen_tx.clone();
            async move {
                while let Ok(bytes) = read_length_prefixed(&mut stream.io, 1 << 16).await {
                    match decode_request(&bytes) {
                        Ok(Request::FindNode { .. }) => {
                            let answer = Response::FindNode {
                                closer_peers: Vec::new(),
                            };
                            let _ =
                                write_length_prefixed(&mut stream.io, &encode_response(&answer))
                                    .await;
                            let _ = stream.io.flush().await;
                        }
                        Ok(Request::AddProvider { key, .. }) => {
                            let _ = seen_tx.send(key);
                        }
                        _ => return,
                    }
                }
                // Holds the stream, never closing it.
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(stream);
            }
        }),
    );
    let node = Node::start(&hub, Mode::Client).await;
    node.kad
        .add_address(sloppy.peer_id(), sloppy.listen_addrs()[0].clone());
    let started = tokio::time::Instant::now();
    let told = tokio::time::timeout(
        Duration::from_secs(10),
        node.kad.start_providing(&b"content"[..]),
    )
    .await
    .expect("start_providing returns")
    .expect("start_providing succeeds");
    assert_eq!(told, 1, "the announcement was delivered");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait for the close: {:?}",
        started.elapsed()
    );
    assert_eq!(
        seen.recv().await.as_deref(),
        Some(&b"content"[..]),
        "the receiver read it"
    );
    node.kad.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_records_are_republished_and_provided_keys_reannounced() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 4))
        .await
        .unwrap();
    let publisher = Node::start(&hub, Mode::Server).await;
    let fast = config(Mode::Server)
        .with_republish_interval(Duration::from_millis(500))
        .with_reprovide_interval(Duration::from_millis(500));
    let kad = Kademlia::new(Arc::new(publisher.host.clone()), fast);
    kad.add_address(nodes[0].host.peer_id(), nodes[0].addr());
    kad.bootstrap().await.unwrap();
    kad.put_record(Record::new(&b"/test/again"[..], &b"1"[..]))
        .await
        .unwrap();
    kad.start_providing(&b"again"[..]).await.unwrap();
    let holder = &nodes[2].kad;
    let me = publisher.host.peer_id();
    holder.with_state(|s| {
        assert!(s.store.remove(b"/test/again").is_some());
        s.store.remove_provider(b"again", &me);
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let back = holder.with_state(|s| {
                let now = std::time::Instant::now();
                s.store.get(b"/test/again", now).is_some()
                    && !s.store.providers(b"again", now).is_empty()
            });
            if back {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the record and the provider come back");
    kad.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_switch_the_handler_and_dropping_the_node_removes_it() {
    let hub = MemoryHub::default();
    let node = Node::start(&hub, Mode::Server).await;
    let kad_id = PROTOCOL_ID.as_str().to_string();
    let serves = |host: &Host| host.protocols().iter().any(|p| p.as_str() == kad_id);
    assert!(serves(&node.host));
    node.kad.set_mode(Mode::Client);
    assert!(!serves(&node.host));
    node.kad.set_mode(Mode::Server);
    assert!(serves(&node.host));
    let host = node.host.clone();
    drop(node);
    tokio::time::timeout(Duration::from_secs(5), async {
        while serves(&host) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the last handle dropped stops the node and removes its handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_below_its_quorum_fails() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 4))
        .await
        .unwrap();
    nodes[0]
        .kad
        .put_record(Record::new(&b"/test/few"[..], &b"v"[..]))
        .await
        .unwrap();
    let ten = Quorum::N(std::num::NonZeroUsize::new(10).unwrap());
    let got = nodes[3].kad.get_record_with(&b"/test/few"[..], ten).await;
    assert!(
        matches!(
            got,
            Err(KadError::GetQuorumFailed {
                found: 4,
                quorum: 10
            })
        ),
        "{got:?}"
    );
}

/// Values are decimal version numbers; the highest wins.
struct Versioned;

impl mycel_kad::Validator for Versioned {
    fn validate(&self, _key: &[u8], value: &[u8]) -> Result<(), mycel_kad::ValidationError> {
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(|_| ())
            .ok_or_else(|| mycel_kad::ValidationError::Invalid("not a version".to_string()))
    }

    fn select(&self, _key: &[u8], values: &[&[u8]]) -> usize {
        let version = |v: &[u8]| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
        };
        (0..values.len())
            .max_by_key(|&i| version(values[i]))
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_picks_the_best_record_and_corrects_outdated_peers() {
    let hub = MemoryHub::default();
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(&hub, 5))
        .await
        .unwrap();
    for node in &nodes {
        node.kad
            .with_state(|s| s.validators.insert("ver", Arc::new(Versioned)));
    }
    let key = Bytes::from_static(b"/ver/app");
    let now = std::time::Instant::now();
    // Two holders disagree; nobody else has the record.
    nodes[1]
        .kad
        .with_state(|s| s.store.put(Record::new(key.clone(), &b"3"[..]), now))
        .unwrap();
    nodes[2]
        .kad
        .with_state(|s| s.store.put(Record::new(key.clone(), &b"7"[..]), now))
        .unwrap();
    let all = Quorum::N(std::num::NonZeroUsize::new(2).unwrap());
    let got = nodes[4]
        .kad
        .get_record_with(key.clone(), all)
        .await
        .unwrap();
    assert_eq!(got.record.value, Bytes::from_static(b"7"));
    assert_eq!(got.peers, vec![nodes[2].host.peer_id()]);
    // The holder of the older version is sent the newer one.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let value = nodes[1].kad.with_state(|s| {
                s.store
                    .get(&key, std::time::Instant::now())
                    .map(|r| r.value.clone())
            });
            if value.as_deref() == Some(&b"7"[..]) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("entry correction reaches the outdated peer");
    // And a put of an older version is refused where the newer one is held.
    let stale = nodes[0]
        .kad
        .put_record_with(Record::new(key.clone(), &b"5"[..]), Quorum::All)
        .await;
    assert!(
        matches!(stale, Err(KadError::QuorumFailed { .. })),
        "{stale:?}"
    );
}
