//! Pubsub interop with rust-libp2p 0.57: floodsub (libp2p-floodsub 0.48) and gossipsub
//! (libp2p-gossipsub 0.50) against mycel's, over TCP on 127.0.0.1.
//!
//! The file is laid out in sections:
//!
//! 1. Shared helpers: time limits, mycel nodes, waiting for subscriptions and meshes,
//!    receiving an exact set of messages and nothing more.
//! 2. Floodsub: one mycel and one rust-libp2p node, over yamux and over mplex, either
//!    side dialing; messages both ways.
//! 3. Gossipsub: the same pairs (meshes formed on both sides, the negotiated protocol
//!    checked, message ids compared with both id functions), a mixed line of two mycel
//!    and two rust-libp2p nodes, and messages near rust-libp2p's 64 KiB frame cap in a
//!    triangle where IDONTWANTs flow both ways.
//!
//! Every test is bounded by [`TEST_LIMIT`], every wait by a limit of its own.

mod common;

use common::{bounded_by, each_muxer, rust_muxer, to_mycel, to_rust};
use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use mycel::{
    DefaultStack, Host, Multiaddr, Muxer, PeerId,
    pubsub::{
        MessageId, Pubsub, PubsubConfig, PubsubEvent, Received, SigningPolicy, Subscription, Topic,
        TopicHash, ValidationMode,
        floodsub::FloodsubConfig,
        gossipsub::{Gossipsub, GossipsubConfig, PROTOCOL_1_2 as GOSSIPSUB_1_2},
        rust_default_message_id,
    },
};
use mycel_interop::rust_node::{
    RustEvent, RustMessageIds, RustNode, RustOptions, RustPubsubMessage, RustRouter,
    gossipsub_config,
};
use tokio::sync::broadcast;

// ---------------------------------------------------------------------------------------
// 1. Shared helpers.
// ---------------------------------------------------------------------------------------

/// How long a whole test may take.
const TEST_LIMIT: Duration = Duration::from_secs(20);
/// How long to wait for one message, or for subscriptions and meshes to settle.
const EVENT_LIMIT: Duration = Duration::from_secs(5);
/// How long nothing more may arrive once the expected messages did.
const QUIET: Duration = Duration::from_millis(300);
/// The topic every test uses (a raw topic string, as rust-libp2p's `IdentTopic`).
const TOPIC: &str = "mycel-interop/pubsub";

/// Runs `test` within [`TEST_LIMIT`].
async fn bounded(test: impl std::future::Future<Output = ()>) {
    bounded_by(TEST_LIMIT, test).await;
}

fn topic() -> TopicHash {
    Topic::new(TOPIC).hash()
}

/// Polls `check` until it holds, for at most [`EVENT_LIMIT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A rust-libp2p node over `muxer` running floodsub.
async fn rust_floodsub(muxer: Muxer) -> RustNode {
    RustNode::start_with(
        rust_muxer(muxer),
        RustOptions {
            floodsub: true,
            ..RustOptions::default()
        },
    )
    .await
}

/// A rust-libp2p node over `muxer` running gossipsub with message ids `ids`.
async fn rust_gossipsub(muxer: Muxer, ids: RustMessageIds) -> RustNode {
    RustNode::start_with(
        rust_muxer(muxer),
        RustOptions {
            gossipsub: Some(gossipsub_config(ids)),
            ..RustOptions::default()
        },
    )
    .await
}

/// A mycel host (TCP on 127.0.0.1, noise, `muxers`) with a pubsub service on it, created
/// before any connection so that it hears of every peer.
struct MycelNode {
    host: Host,
    pubsub: Pubsub,
    events: broadcast::Receiver<PubsubEvent>,
}

impl MycelNode {
    async fn host(muxers: &[Muxer]) -> Host {
        Host::builder()
            .with_tcp_noise(muxers)
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .await
            .expect("mycel host")
    }

    fn with(host: Host, pubsub: Pubsub) -> Self {
        let events = pubsub.events();
        MycelNode {
            host,
            pubsub,
            events,
        }
    }

    /// Floodsub, signing what it publishes, accepting unsigned messages (rust-libp2p's
    /// floodsub signs nothing).
    async fn floodsub(muxers: &[Muxer]) -> Self {
        let host = Self::host(muxers).await;
        let config = PubsubConfig::new(SigningPolicy::StrictSign(host.keypair().clone()));
        let floodsub = FloodsubConfig {
            validation: ValidationMode::Permissive,
            ..FloodsubConfig::default()
        };
        let pubsub = Pubsub::floodsub(Arc::new(host.clone()), config, floodsub);
        Self::with(host, pubsub)
    }

    /// Gossipsub with `config`, signing what it publishes.
    async fn gossipsub(muxers: &[Muxer], config: GossipsubConfig) -> Self {
        let host = Self::host(muxers).await;
        let pubsub_config = PubsubConfig::new(SigningPolicy::StrictSign(host.keypair().clone()));
        let router = Gossipsub::new(config).expect("valid gossipsub configuration");
        let pubsub = Pubsub::new(Arc::new(host.clone()), pubsub_config, router);
        Self::with(host, pubsub)
    }

    fn id(&self) -> PeerId {
        self.host.peer_id()
    }

    fn p2p_addr(&self) -> Multiaddr {
        mycel::core::addr::with_peer_id(&self.host.listen_addrs()[0], &self.id()).unwrap()
    }

    async fn dial(&self, rust: &RustNode) {
        let peer = self
            .host
            .connect(&rust.p2p_addr())
            .await
            .expect("mycel dials rust");
        assert_eq!(peer, to_mycel(rust.peer_id));
    }

    /// Every invalid-input report so far (none expected in any test).
    fn invalid_reports(&mut self) -> Vec<String> {
        let mut reasons = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(PubsubEvent::Invalid { peer, reason }) => {
                    reasons.push(format!("{peer}: {reason}"))
                }
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return reasons,
            }
        }
    }

    /// Asserts that nothing invalid was reported, by events and by the counters.
    async fn assert_nothing_invalid(&mut self) {
        let reports = self.invalid_reports();
        assert!(
            reports.is_empty(),
            "mycel reported invalid input: {reports:?}"
        );
        assert_eq!(self.pubsub.stats().await.invalid, 0);
    }

    async fn close(self) {
        self.pubsub.close().await;
        self.host.close().await;
    }
}

/// Waits until `mycel` and `rust` each know the other subscribed to [`TOPIC`].
async fn await_subscribed(mycel: &MycelNode, rust: &RustNode, router: RustRouter) {
    let rust_id = to_mycel(rust.peer_id);
    eventually("mycel sees rust subscribed", || async {
        mycel.pubsub.topic_peers(topic()).await.contains(&rust_id)
    })
    .await;
    let mycel_id = to_rust(mycel.id());
    eventually("rust sees mycel subscribed", || async {
        rust.topic_peers(router, TOPIC)
            .await
            .expect("topic peers")
            .contains(&mycel_id)
    })
    .await;
}

/// Waits until `mycel` and `rust` are in each other's gossipsub mesh of [`TOPIC`].
async fn await_mesh(mycel: &MycelNode, rust: &RustNode) {
    let rust_id = to_mycel(rust.peer_id);
    eventually("rust in mycel's mesh", || async {
        mycel.pubsub.mesh_peers(topic()).await.contains(&rust_id)
    })
    .await;
    let mycel_id = to_rust(mycel.id());
    eventually("mycel in rust's mesh", || async {
        rust.mesh_peers(TOPIC)
            .await
            .expect("mesh peers")
            .contains(&mycel_id)
    })
    .await;
}

/// Waits until two rust-libp2p nodes are in each other's mesh of [`TOPIC`].
async fn await_rust_mesh(a: &RustNode, b: &RustNode) {
    for (x, y) in [(a, b), (b, a)] {
        eventually("rust nodes in each other's mesh", || async {
            x.mesh_peers(TOPIC).await.unwrap().contains(&y.peer_id)
        })
        .await;
    }
}

/// Receives exactly the messages whose payloads are `expected` (in any order) on `sub`,
/// then nothing more for [`QUIET`]; returns them in `expected`'s order.
async fn mycel_receives(
    mycel: &mut MycelNode,
    sub: &mut Subscription,
    expected: &[Vec<u8>],
) -> Vec<Received> {
    let mut got: Vec<Received> = Vec::new();
    while got.len() < expected.len() {
        match tokio::time::timeout(EVENT_LIMIT, sub.next()).await {
            Ok(Some(received)) => got.push(received),
            Ok(None) => panic!("mycel's subscription ended"),
            Err(_) => panic!(
                "mycel received {} of {} messages; invalid reports: {:?}",
                got.len(),
                expected.len(),
                mycel.invalid_reports()
            ),
        }
    }
    if let Ok(extra) = tokio::time::timeout(QUIET, sub.next()).await {
        panic!("mycel received one message too many: {extra:?}");
    }
    in_order_of(expected, got, |r| &r.message.data[..])
}

/// Receives exactly the messages whose payloads are `expected` (in any order) on `rust`,
/// then nothing more for [`QUIET`]; returns them in `expected`'s order.
async fn rust_receives(rust: &mut RustNode, expected: &[Vec<u8>]) -> Vec<RustPubsubMessage> {
    match try_rust_receives(rust, expected).await {
        Ok(got) => got,
        Err(e) => panic!("{e}"),
    }
}

/// [`rust_receives`], failing with an error rather than a panic when messages are
/// missing.
async fn try_rust_receives(
    rust: &mut RustNode,
    expected: &[Vec<u8>],
) -> Result<Vec<RustPubsubMessage>, String> {
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match rust.next_message(EVENT_LIMIT).await {
            Some(message) => got.push(message),
            None => {
                return Err(format!(
                    "rust-libp2p received {} of {} messages",
                    got.len(),
                    expected.len()
                ));
            }
        }
    }
    if let Some(extra) = rust.next_message(QUIET).await {
        panic!("rust-libp2p received one message too many: {extra:?}");
    }
    Ok(in_order_of(expected, got, |m| &m.data[..]))
}

/// `got` sorted as `expected` (payloads); each expected payload exactly once.
fn in_order_of<T: std::fmt::Debug>(
    expected: &[Vec<u8>],
    mut got: Vec<T>,
    data: impl Fn(&T) -> &[u8],
) -> Vec<T> {
    let mut ordered = Vec::with_capacity(expected.len());
    for payload in expected {
        let Some(at) = got.iter().position(|m| data(m) == &payload[..]) else {
            panic!(
                "payload {:?} (len {}) missing; received {} others",
                String::from_utf8_lossy(&payload[..payload.len().min(64)]),
                payload.len(),
                got.len()
            );
        };
        ordered.push(got.swap_remove(at));
    }
    ordered
}

/// `count` distinct small payloads naming their origin.
fn payloads(origin: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("{origin} #{i}").into_bytes())
        .collect()
}

/// Asserts the rust-libp2p node never saw a connection close or a gossipsub failure.
fn assert_rust_undisturbed(rust: &mut RustNode) {
    while let Ok(event) = rust.events.try_recv() {
        assert!(
            !matches!(
                event,
                RustEvent::Closed(_) | RustEvent::GossipsubNotSupported(_) | RustEvent::SlowPeer(_)
            ),
            "rust-libp2p: {event:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. Floodsub.
// ---------------------------------------------------------------------------------------

/// Which side opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialer {
    Mycel,
    Rust,
}

/// A mycel and a rust-libp2p floodsub node, both subscribed to [`TOPIC`], connected
/// (dialed by `dialer`) and aware of each other's subscription.
async fn floodsub_pair(muxer: Muxer, dialer: Dialer) -> (MycelNode, Subscription, RustNode) {
    let rust = rust_floodsub(muxer).await;
    let mycel = MycelNode::floodsub(&[muxer]).await;
    let sub = mycel.pubsub.subscribe(topic()).await.expect("subscribe");
    assert!(rust.subscribe(RustRouter::Floodsub, TOPIC).await.unwrap());
    match dialer {
        Dialer::Mycel => mycel.dial(&rust).await,
        Dialer::Rust => rust.dial(mycel.p2p_addr()).await.expect("rust dials mycel"),
    }
    await_subscribed(&mycel, &rust, RustRouter::Floodsub).await;
    (mycel, sub, rust)
}

/// mycel publishes three messages: rust-libp2p receives each once, with the exact data,
/// mycel as the author and mycel's 8-byte seqno.
async fn floodsub_mycel_to_rust(mycel: &MycelNode, rust: &mut RustNode, origin: &str) {
    let sent = payloads(origin, 3);
    let mut ids = Vec::new();
    for data in &sent {
        ids.push(mycel.pubsub.publish(topic(), data.clone()).await.unwrap());
    }
    let got = match try_rust_receives(rust, &sent).await {
        Ok(got) => got,
        Err(e) => panic!(
            "{e}; mycel now counts {:?} as subscribed and exchanges RPCs with {} peers",
            mycel.pubsub.topic_peers(topic()).await,
            mycel.pubsub.stats().await.peers
        ),
    };
    let author = to_rust(mycel.id());
    for (message, id) in got.iter().zip(&ids) {
        assert_eq!(message.topics, vec![TOPIC.to_string()]);
        assert_eq!(message.source, Some(author));
        // mycel's id is from || seqno: the seqno is the id's last 8 bytes.
        let seqno = &id.as_bytes()[id.as_bytes().len() - 8..];
        assert_eq!(message.seqno.as_deref(), Some(seqno));
    }
}

/// rust-libp2p publishes three messages: mycel delivers each once, with the exact data,
/// rust-libp2p as author and forwarder, and rust-libp2p's 20-byte seqno, which ends the
/// (go-style) message id.
async fn floodsub_rust_to_mycel(
    mycel: &mut MycelNode,
    sub: &mut Subscription,
    rust: &RustNode,
    origin: &str,
) {
    let sent = payloads(origin, 3);
    for data in &sent {
        rust.publish(RustRouter::Floodsub, TOPIC, data.clone())
            .await
            .unwrap();
    }
    let got = mycel_receives(mycel, sub, &sent).await;
    let author = to_mycel(rust.peer_id);
    for received in &got {
        assert_eq!(received.from, author);
        assert_eq!(received.message.from, Some(author));
        assert_eq!(received.message.topic, topic());
        assert_eq!(received.message.signature, None);
        let seqno = received.message.seqno.as_ref().expect("a seqno").as_bytes();
        assert_eq!(seqno.len(), 20, "libp2p-floodsub's random seqno");
        assert_eq!(
            received.id.as_bytes(),
            [author.to_bytes().as_slice(), seqno].concat()
        );
    }
}

/// rust-libp2p publishes to mycel, twice three messages.
async fn floodsub_rust_publishes(muxer: Muxer, dialer: Dialer) {
    let (mut mycel, mut sub, mut rust) = floodsub_pair(muxer, dialer).await;
    let tag = format!("floodsub over {muxer:?}, {dialer:?} dialed");
    floodsub_rust_to_mycel(&mut mycel, &mut sub, &rust, &format!("rust, {tag}")).await;
    floodsub_rust_to_mycel(&mut mycel, &mut sub, &rust, &format!("rust again, {tag}")).await;
    mycel.assert_nothing_invalid().await;
    assert_rust_undisturbed(&mut rust);
    mycel.close().await;
}

/// mycel publishes to rust-libp2p, twice three messages.
async fn floodsub_mycel_publishes(muxer: Muxer, dialer: Dialer) {
    let (mut mycel, _sub, mut rust) = floodsub_pair(muxer, dialer).await;
    let tag = format!("floodsub over {muxer:?}, {dialer:?} dialed");
    floodsub_mycel_to_rust(&mycel, &mut rust, &format!("mycel, {tag}")).await;
    floodsub_mycel_to_rust(&mycel, &mut rust, &format!("mycel again, {tag}")).await;
    mycel.assert_nothing_invalid().await;
    assert_rust_undisturbed(&mut rust);
    mycel.close().await;
}

/// Messages both ways, alternating.
async fn floodsub_both_ways(muxer: Muxer, dialer: Dialer) {
    let (mut mycel, mut sub, mut rust) = floodsub_pair(muxer, dialer).await;
    let tag = format!("floodsub over {muxer:?}, {dialer:?} dialed");
    floodsub_rust_to_mycel(&mut mycel, &mut sub, &rust, &format!("rust, {tag}")).await;
    floodsub_mycel_to_rust(&mycel, &mut rust, &format!("mycel, {tag}")).await;
    floodsub_rust_to_mycel(&mut mycel, &mut sub, &rust, &format!("rust again, {tag}")).await;
    floodsub_mycel_to_rust(&mycel, &mut rust, &format!("mycel again, {tag}")).await;
    mycel.assert_nothing_invalid().await;
    assert_rust_undisturbed(&mut rust);
    mycel.close().await;
}

/// Subscriptions cross both ways (each side learns the other's from its first RPC), and
/// rust-libp2p sees mycel offer `/floodsub/1.0.0`.
async fn floodsub_subscriptions_cross(muxer: Muxer, dialer: Dialer) {
    let (mut mycel, _sub, mut rust) = floodsub_pair(muxer, dialer).await;
    // For floodsub, mycel's "mesh" is every subscribed peer.
    assert_eq!(
        mycel.pubsub.mesh_peers(topic()).await,
        vec![to_mycel(rust.peer_id)]
    );
    // rust's identify of mycel may still be on its way.
    let mut offered = Vec::new();
    for _ in 0..100 {
        offered = rust
            .identified
            .lock()
            .unwrap()
            .get(&to_rust(mycel.id()))
            .map(|seen| seen.protocols.clone())
            .unwrap_or_default();
        if !offered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        offered.contains(&"/floodsub/1.0.0".to_string()),
        "{offered:?}"
    );
    mycel.assert_nothing_invalid().await;
    assert_rust_undisturbed(&mut rust);
    mycel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_subscriptions_cross_over_yamux() {
    bounded(floodsub_subscriptions_cross(Muxer::Yamux, Dialer::Mycel)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_subscriptions_cross_over_mplex() {
    bounded(floodsub_subscriptions_cross(Muxer::Mplex, Dialer::Mycel)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_subscriptions_cross_when_rust_dials() {
    bounded(floodsub_subscriptions_cross(Muxer::Yamux, Dialer::Rust)).await;
}

// Floodsub messages. rust-libp2p's floodsub stamps each message with a random 20-byte
// seqno, unsigned (mycel keeps a seqno of 1 to `MAX_SEQNO_LEN` bytes as sent), and reads
// exactly one RPC (of at most 2,048 bytes) from each inbound stream before dropping it
// (mycel's floodsub sends each RPC on a stream of its own by default).

/// Three and three more messages from rust-libp2p to mycel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_rust_to_mycel_over_yamux() {
    bounded(floodsub_rust_publishes(Muxer::Yamux, Dialer::Mycel)).await;
}

/// Three and three more messages from rust-libp2p to mycel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_rust_to_mycel_over_mplex() {
    bounded(floodsub_rust_publishes(Muxer::Mplex, Dialer::Mycel)).await;
}

/// Three and three more messages from mycel to rust-libp2p.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_mycel_to_rust_over_yamux() {
    bounded(floodsub_mycel_publishes(Muxer::Yamux, Dialer::Mycel)).await;
}

/// Three and three more messages from mycel to rust-libp2p.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_mycel_to_rust_over_mplex() {
    bounded(floodsub_mycel_publishes(Muxer::Mplex, Dialer::Mycel)).await;
}

/// rust-libp2p dials; messages both ways, alternating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floodsub_rust_dials_mycel_both_ways() {
    bounded(floodsub_both_ways(Muxer::Yamux, Dialer::Rust)).await;
}

// ---------------------------------------------------------------------------------------
// 3. Gossipsub.
// ---------------------------------------------------------------------------------------

/// mycel's gossipsub configuration for a network whose ids are `ids`.
fn mycel_gossipsub_config(ids: RustMessageIds) -> GossipsubConfig {
    match ids {
        RustMessageIds::Go => GossipsubConfig::default(),
        RustMessageIds::RustDefault => GossipsubConfig {
            message_id: Arc::new(rust_default_message_id),
            ..GossipsubConfig::default()
        },
    }
}

/// The protocol rust-libp2p negotiated with `peer`.
async fn negotiated(rust: &RustNode, peer: PeerId) -> Option<String> {
    let peer = to_rust(peer);
    rust.gossipsub_peer_protocols()
        .await
        .unwrap()
        .into_iter()
        .find(|(p, _)| *p == peer)
        .map(|(_, protocol)| protocol)
}

/// Asserts that rust-libp2p and `mycel` speak `/meshsub/1.2.0` (rust-libp2p offers 1.3.0
/// first; mycel does not offer it).
async fn assert_meshsub_1_2(rust: &RustNode, mycel: &MycelNode) {
    assert_eq!(mycel.pubsub.protocols()[0], GOSSIPSUB_1_2);
    eventually("rust-libp2p negotiated a gossipsub version", || async {
        negotiated(rust, mycel.id()).await.as_deref() != Some("/floodsub/1.0.0")
    })
    .await;
    assert_eq!(
        negotiated(rust, mycel.id()).await.as_deref(),
        Some("/meshsub/1.2.0")
    );
    // rust's identify of mycel may still be on its way.
    let mut offered = Vec::new();
    for _ in 0..100 {
        offered = rust
            .identified
            .lock()
            .unwrap()
            .get(&to_rust(mycel.id()))
            .map(|seen| seen.protocols.clone())
            .unwrap_or_default();
        if !offered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        offered.contains(&"/meshsub/1.2.0".to_string()),
        "{offered:?}"
    );
    assert!(
        !offered.contains(&"/meshsub/1.3.0".to_string()),
        "{offered:?}"
    );
}

/// A mycel and a rust-libp2p gossipsub node using message ids `ids`, both subscribed to
/// [`TOPIC`], connected (dialed by `dialer`), in each other's mesh.
async fn gossipsub_pair(
    muxer: Muxer,
    dialer: Dialer,
    ids: RustMessageIds,
) -> (MycelNode, Subscription, RustNode) {
    let rust = rust_gossipsub(muxer, ids).await;
    let mycel = MycelNode::gossipsub(&[muxer], mycel_gossipsub_config(ids)).await;
    let sub = mycel.pubsub.subscribe(topic()).await.expect("subscribe");
    assert!(rust.subscribe(RustRouter::Gossipsub, TOPIC).await.unwrap());
    match dialer {
        Dialer::Mycel => mycel.dial(&rust).await,
        Dialer::Rust => rust.dial(mycel.p2p_addr()).await.expect("rust dials mycel"),
    }
    await_subscribed(&mycel, &rust, RustRouter::Gossipsub).await;
    await_mesh(&mycel, &rust).await;
    (mycel, sub, rust)
}

/// rust-libp2p publishes `count` messages: mycel delivers each once, exact data, rust as
/// author and forwarder, and the same message id rust-libp2p computed.
async fn gossipsub_rust_to_mycel(
    mycel: &mut MycelNode,
    sub: &mut Subscription,
    rust: &RustNode,
    sent: &[Vec<u8>],
) {
    let mut ids = Vec::new();
    for data in sent {
        let id = rust
            .publish(RustRouter::Gossipsub, TOPIC, data.clone())
            .await
            .expect("rust publishes");
        ids.push(id.expect("gossipsub returns the id"));
    }
    let got = mycel_receives(mycel, sub, sent).await;
    let author = to_mycel(rust.peer_id);
    for (received, id) in got.iter().zip(&ids) {
        assert_eq!(received.from, author);
        assert_eq!(received.message.from, Some(author));
        assert_eq!(received.message.topic, topic());
        assert!(received.message.signature.is_some());
        assert_eq!(
            received.id.as_bytes(),
            &id[..],
            "both sides agree on the id"
        );
    }
}

/// mycel publishes `sent`: rust-libp2p delivers each once, exact data, mycel as author
/// and forwarder, and the same message id mycel computed.
async fn gossipsub_mycel_to_rust(mycel: &MycelNode, rust: &mut RustNode, sent: &[Vec<u8>]) {
    let mut ids: Vec<MessageId> = Vec::new();
    for data in sent {
        ids.push(mycel.pubsub.publish(topic(), data.clone()).await.unwrap());
    }
    let got = rust_receives(rust, sent).await;
    let author = to_rust(mycel.id());
    for (message, id) in got.iter().zip(&ids) {
        assert_eq!(message.topics, vec![TOPIC.to_string()]);
        assert_eq!(message.source, Some(author));
        assert_eq!(message.propagation_source, Some(author));
        assert_eq!(
            message.id.as_deref(),
            Some(id.as_bytes()),
            "both sides agree on the id"
        );
    }
}

async fn gossipsub_both_ways(muxer: Muxer, dialer: Dialer, ids: RustMessageIds) {
    let (mut mycel, mut sub, mut rust) = gossipsub_pair(muxer, dialer, ids).await;
    assert_meshsub_1_2(&rust, &mycel).await;
    let tag = format!("gossipsub over {muxer:?}, {dialer:?} dialed, {ids:?} ids");
    let sent = payloads(&format!("rust, {tag}"), 3);
    gossipsub_rust_to_mycel(&mut mycel, &mut sub, &rust, &sent).await;
    let sent = payloads(&format!("mycel, {tag}"), 3);
    gossipsub_mycel_to_rust(&mycel, &mut rust, &sent).await;
    let sent = payloads(&format!("rust again, {tag}"), 2);
    gossipsub_rust_to_mycel(&mut mycel, &mut sub, &rust, &sent).await;
    // Still in each other's mesh; nothing invalid, nothing closed.
    assert_eq!(
        mycel.pubsub.mesh_peers(topic()).await,
        vec![to_mycel(rust.peer_id)]
    );
    assert_eq!(
        rust.mesh_peers(TOPIC).await.unwrap(),
        vec![to_rust(mycel.id())]
    );
    mycel.assert_nothing_invalid().await;
    assert_rust_undisturbed(&mut rust);
    mycel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossipsub_mycel_dials_rust_over_yamux() {
    bounded(gossipsub_both_ways(
        Muxer::Yamux,
        Dialer::Mycel,
        RustMessageIds::Go,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossipsub_mycel_dials_rust_over_mplex() {
    bounded(gossipsub_both_ways(
        Muxer::Mplex,
        Dialer::Mycel,
        RustMessageIds::Go,
    ))
    .await;
}

/// rust-libp2p dials, and both sides use rust-libp2p's default message ids (mycel's
/// `rust_default_message_id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossipsub_rust_dials_mycel_with_rust_default_ids() {
    bounded(gossipsub_both_ways(
        Muxer::Yamux,
        Dialer::Rust,
        RustMessageIds::RustDefault,
    ))
    .await;
}

/// A line rust1 (yamux) — mycel1 — rust2 (mplex) — mycel2: a message from each end
/// reaches the three others exactly once, with one id everywhere, so each kind of node
/// forwards the other kind's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossipsub_mixed_line_of_four() {
    bounded(async {
        let muxers = [Muxer::Yamux, Muxer::Mplex];
        let mut r1 = rust_gossipsub(Muxer::Yamux, RustMessageIds::Go).await;
        let mut r2 = rust_gossipsub(Muxer::Mplex, RustMessageIds::Go).await;
        let mut m1 = MycelNode::gossipsub(&muxers, GossipsubConfig::default()).await;
        let mut m2 = MycelNode::gossipsub(&muxers, GossipsubConfig::default()).await;
        let mut sub1 = m1.pubsub.subscribe(topic()).await.unwrap();
        let mut sub2 = m2.pubsub.subscribe(topic()).await.unwrap();
        for rust in [&r1, &r2] {
            assert!(rust.subscribe(RustRouter::Gossipsub, TOPIC).await.unwrap());
        }
        m1.dial(&r1).await;
        m1.dial(&r2).await;
        m2.dial(&r2).await;
        for (m, r) in [(&m1, &r1), (&m1, &r2), (&m2, &r2)] {
            await_subscribed(m, r, RustRouter::Gossipsub).await;
            await_mesh(m, r).await;
        }

        // From rust1's end: mycel1 forwards to rust2, rust2 to mycel2.
        let sent = vec![b"from rust1, the first end".to_vec()];
        let id = r1
            .publish(RustRouter::Gossipsub, TOPIC, sent[0].clone())
            .await
            .unwrap()
            .unwrap();
        let author = to_mycel(r1.peer_id);
        let got = mycel_receives(&mut m1, &mut sub1, &sent).await;
        assert_eq!(got[0].from, author);
        assert_eq!(got[0].message.from, Some(author));
        assert_eq!(got[0].id.as_bytes(), &id[..]);
        let got = rust_receives(&mut r2, &sent).await;
        assert_eq!(got[0].source, Some(r1.peer_id));
        assert_eq!(got[0].propagation_source, Some(to_rust(m1.id())));
        assert_eq!(got[0].id.as_deref(), Some(&id[..]));
        let got = mycel_receives(&mut m2, &mut sub2, &sent).await;
        assert_eq!(got[0].from, to_mycel(r2.peer_id));
        assert_eq!(got[0].message.from, Some(author));
        assert_eq!(got[0].id.as_bytes(), &id[..]);

        // From mycel2's end: rust2 forwards to mycel1, mycel1 to rust1.
        let sent = vec![b"from mycel2, the other end".to_vec()];
        let id = m2.pubsub.publish(topic(), sent[0].clone()).await.unwrap();
        let author = m2.id();
        let got = rust_receives(&mut r2, &sent).await;
        assert_eq!(got[0].source, Some(to_rust(author)));
        assert_eq!(got[0].id.as_deref(), Some(id.as_bytes()));
        let got = mycel_receives(&mut m1, &mut sub1, &sent).await;
        assert_eq!(got[0].from, to_mycel(r2.peer_id));
        assert_eq!(got[0].message.from, Some(author));
        assert_eq!(got[0].id, id);
        let got = rust_receives(&mut r1, &sent).await;
        assert_eq!(got[0].source, Some(to_rust(author)));
        assert_eq!(got[0].propagation_source, Some(to_rust(m1.id())));
        assert_eq!(got[0].id.as_deref(), Some(id.as_bytes()));

        // Nobody got their own message back.
        assert!(tokio::time::timeout(QUIET, sub2.next()).await.is_err());
        assert!(r1.next_message(QUIET).await.is_none());
        for m in [&mut m1, &mut m2] {
            m.assert_nothing_invalid().await;
        }
        for r in [&mut r1, &mut r2] {
            assert_rust_undisturbed(r);
        }
        m1.close().await;
        m2.close().await;
    })
    .await;
}

/// A payload of `len` bytes that differs from any other `seed`'s.
fn large_payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Payload length of the large messages: 63 KiB, so the signed message and its RPC
/// frame (about 64.6 KB) stay just under rust-libp2p's 65,536-byte frame cap.
const LARGE: usize = 63 * 1024;

/// A triangle of two rust-libp2p nodes and one mycel node, all in each other's mesh:
/// messages of 63 KiB cross from each node to the two others exactly once. Every large
/// message makes the nodes that receive it send IDONTWANT to their other mesh peer
/// (rust-libp2p's threshold is 1000 bytes, mycel's too), so mycel both sends IDONTWANTs
/// to rust-libp2p and receives them; afterwards the connections are intact, nothing was
/// reported invalid, and small messages still flow.
async fn gossipsub_large_messages_and_idontwant(muxer: Muxer) {
    let mut r1 = rust_gossipsub(muxer, RustMessageIds::Go).await;
    let mut r2 = rust_gossipsub(muxer, RustMessageIds::Go).await;
    let mut mycel = MycelNode::gossipsub(&[muxer], GossipsubConfig::default()).await;
    let mut sub = mycel.pubsub.subscribe(topic()).await.unwrap();
    for rust in [&r1, &r2] {
        assert!(rust.subscribe(RustRouter::Gossipsub, TOPIC).await.unwrap());
    }
    mycel.dial(&r1).await;
    mycel.dial(&r2).await;
    r1.dial(r2.p2p_addr()).await.expect("rust dials rust");
    for r in [&r1, &r2] {
        await_subscribed(&mycel, r, RustRouter::Gossipsub).await;
        await_mesh(&mycel, r).await;
        assert_meshsub_1_2(r, &mycel).await;
    }
    await_rust_mesh(&r1, &r2).await;

    // rust1 → mycel and rust2.
    let sent = vec![large_payload(1, LARGE)];
    let id = r1
        .publish(RustRouter::Gossipsub, TOPIC, sent[0].clone())
        .await
        .expect("rust publishes 63 KiB")
        .unwrap();
    let got = mycel_receives(&mut mycel, &mut sub, &sent).await;
    assert_eq!(got[0].message.from, Some(to_mycel(r1.peer_id)));
    assert_eq!(got[0].id.as_bytes(), &id[..]);
    rust_receives(&mut r2, &sent).await;

    // mycel → rust1 and rust2.
    let sent = vec![large_payload(2, LARGE)];
    let id = mycel
        .pubsub
        .publish(topic(), sent[0].clone())
        .await
        .unwrap();
    for r in [&mut r1, &mut r2] {
        let got = rust_receives(r, &sent).await;
        assert_eq!(got[0].source, Some(to_rust(mycel.id())));
        assert_eq!(got[0].id.as_deref(), Some(id.as_bytes()));
    }

    // rust2 → mycel and rust1.
    let sent = vec![large_payload(3, LARGE)];
    r2.publish(RustRouter::Gossipsub, TOPIC, sent[0].clone())
        .await
        .expect("rust publishes 63 KiB")
        .unwrap();
    let got = mycel_receives(&mut mycel, &mut sub, &sent).await;
    assert_eq!(got[0].message.from, Some(to_mycel(r2.peer_id)));
    rust_receives(&mut r1, &sent).await;

    // Several large ones from mycel in a row: each in a frame of its own.
    let sent: Vec<Vec<u8>> = (10..13).map(|seed| large_payload(seed, LARGE)).collect();
    for data in &sent {
        mycel.pubsub.publish(topic(), data.clone()).await.unwrap();
    }
    for r in [&mut r1, &mut r2] {
        rust_receives(r, &sent).await;
    }

    // Small messages still flow both ways afterwards.
    let sent = payloads("small, from mycel after the large ones", 2);
    for data in &sent {
        mycel.pubsub.publish(topic(), data.clone()).await.unwrap();
    }
    for r in [&mut r1, &mut r2] {
        rust_receives(r, &sent).await;
    }
    let sent = payloads("small, from rust1 after the large ones", 2);
    for data in &sent {
        r1.publish(RustRouter::Gossipsub, TOPIC, data.clone())
            .await
            .unwrap();
    }
    mycel_receives(&mut mycel, &mut sub, &sent).await;
    rust_receives(&mut r2, &sent).await;

    let mut mesh = mycel.pubsub.mesh_peers(topic()).await;
    mesh.sort();
    let mut expected = vec![to_mycel(r1.peer_id), to_mycel(r2.peer_id)];
    expected.sort();
    assert_eq!(mesh, expected);
    for r in [&r1, &r2] {
        assert!(
            r.mesh_peers(TOPIC)
                .await
                .unwrap()
                .contains(&to_rust(mycel.id()))
        );
    }
    mycel.assert_nothing_invalid().await;
    for r in [&mut r1, &mut r2] {
        assert_rust_undisturbed(r);
    }
    mycel.close().await;
}

each_muxer!(gossipsub_large_messages_and_idontwant);
