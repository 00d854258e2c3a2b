//! How floodsub's RPCs reach peers that treat streams as the other implementations do:
//! one that reads a single RPC per stream and resets it (rust-libp2p's floodsub), and
//! one that accepts a single inbound stream and resets any other while it is open
//! (js-libp2p's). The default, `OutboundStreams::Adaptive`, must deliver every message
//! to both; each fixed choice fails one of them.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use mycel_core::{Network, PeerId, stream_handler};
use mycel_host::Host;
use mycel_memory::MemoryHub;
use mycel_pubsub::{
    OutboundStreams, Pubsub, PubsubConfig, SigningPolicy, Topic,
    floodsub::{FloodsubConfig, PROTOCOL as FLOODSUB_PROTOCOL},
    wire::{RpcLimits, SubOpt, read_rpc, write_rpc},
};

/// How the fake peer treats the streams we open to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerKind {
    /// Reads one RPC from each stream, then drops it (a reset): rust-libp2p.
    OneRpcPerStream,
    /// Reads every RPC of the first stream; any other stream is dropped unread, for the
    /// first is never released (js-libp2p never closes its side, so the stream stays
    /// listed on the connection even after our side closed).
    SingleStream,
}

/// What the fake peer saw.
#[derive(Debug, Default)]
struct Seen {
    /// Message payloads, in arrival order (duplicates included).
    messages: Vec<Vec<u8>>,
    /// Streams dropped unread.
    refused: usize,
    /// Whether the one stream was taken (SingleStream).
    open: bool,
}

async fn host(hub: &MemoryHub) -> Host {
    mycel_host::testing::memory_host(hub).await
}

/// A host that speaks floodsub's wire as `kind` does, recording what arrives.
async fn fake_peer(hub: &MemoryHub, kind: PeerKind) -> (Host, Arc<Mutex<Seen>>) {
    let host = host(hub).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    host.set_stream_handler(
        FLOODSUB_PROTOCOL,
        stream_handler(move |mut stream| {
            let seen = record.clone();
            async move {
                let limits = RpcLimits::default();
                if kind == PeerKind::SingleStream {
                    let mut s = seen.lock().unwrap();
                    if s.open {
                        s.refused += 1;
                        return;
                    }
                    s.open = true;
                }
                while let Ok(Some(rpc)) = read_rpc(&mut stream.io, &limits).await {
                    let mut s = seen.lock().unwrap();
                    s.messages
                        .extend(rpc.rpc.messages.iter().map(|m| m.data.to_vec()));
                    if kind == PeerKind::OneRpcPerStream {
                        return;
                    }
                }
            }
        }),
    );
    (host, seen)
}

/// Publishes ten messages from a floodsub node using `streams` to a fake peer of `kind`
/// and returns the distinct payloads the peer got, in order of first arrival.
async fn deliver(kind: PeerKind, streams: OutboundStreams) -> (Vec<Vec<u8>>, Arc<Mutex<Seen>>) {
    let hub = MemoryHub::new();
    let node = host(&hub).await;
    let pubsub = Pubsub::floodsub(
        Arc::new(node.clone()),
        PubsubConfig::new(SigningPolicy::StrictSign(node.keypair().clone())),
        FloodsubConfig {
            streams,
            ..FloodsubConfig::default()
        },
    );
    let topic = Topic::new("news").hash();
    let _sub = pubsub.subscribe(topic.clone()).await.unwrap();
    let (peer, seen) = fake_peer(&hub, kind).await;
    peer.add_addrs(node.peer_id(), node.listen_addrs());
    // The fake peer announces its subscription as rust and js do: on a stream of its own.
    let mut stream = peer
        .new_stream(node.peer_id(), &[FLOODSUB_PROTOCOL])
        .await
        .unwrap();
    let hello = mycel_pubsub::wire::Rpc {
        subscriptions: vec![SubOpt {
            topic: topic.clone(),
            subscribe: true,
        }],
        ..Default::default()
    };
    write_rpc(&mut stream.io, &hello).await.unwrap();
    let peer_id: PeerId = peer.peer_id();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !pubsub.topic_peers(topic.clone()).await.contains(&peer_id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the node learns the subscription");
    for i in 0..10u8 {
        pubsub
            .publish(topic.clone(), vec![b'm', b'0' + i])
            .await
            .unwrap();
    }
    // Longer than the probation, so a late resend would still land.
    let deadline =
        tokio::time::Instant::now() + mycel_pubsub::defaults::PROBATION + Duration::from_secs(1);
    let distinct = loop {
        let mut distinct: Vec<Vec<u8>> = Vec::new();
        for m in &seen.lock().unwrap().messages {
            if !distinct.contains(m) {
                distinct.push(m.clone());
            }
        }
        if distinct.len() == 10 || tokio::time::Instant::now() > deadline {
            break distinct;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(stream);
    pubsub.close().await;
    (distinct, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_streams_reach_a_peer_that_reads_one_rpc_per_stream() {
    let (got, _) = deliver(PeerKind::OneRpcPerStream, OutboundStreams::Adaptive).await;
    assert_eq!(got.len(), 10, "every message arrives: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_streams_reach_a_peer_that_takes_one_stream() {
    let (got, seen) = deliver(PeerKind::SingleStream, OutboundStreams::Adaptive).await;
    assert_eq!(got.len(), 10, "every message arrives: {got:?}");
    assert_eq!(seen.lock().unwrap().refused, 0, "a single stream was used");
    // In order, too: one stream keeps them so.
    let expected: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'm', b'0' + i]).collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fixed_choice_fails_one_kind_of_peer() {
    // A stream per RPC: the single-stream peer takes the first (our subscriptions) and
    // refuses every other, so no message arrives.
    let (got, seen) = deliver(PeerKind::SingleStream, OutboundStreams::PerRpc).await;
    assert!(got.is_empty(), "{got:?}");
    assert!(seen.lock().unwrap().refused >= 10);
    // One stream: the one-RPC-per-stream peer reads only the first RPC on it.
    let (got, _) = deliver(PeerKind::OneRpcPerStream, OutboundStreams::Single).await;
    assert!(got.len() < 10, "{got:?}");
}
