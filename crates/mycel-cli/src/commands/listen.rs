//! `mycel listen`: serve ping, identify, perf (and the DHT, pubsub) for a test peer.

use std::sync::Arc;

use futures::StreamExt;
use mycel::{
    DefaultStack, Host, Muxer, Network, NetworkEvent,
    kad::{KadConfig, Kademlia, Mode},
    perf,
};

use crate::{
    args::KeyTypeArg,
    node::{Node, ShutdownSignal, loopback, stdin_closed, test_validators, with_p2p},
    output::emit,
    pubsub,
};

pub(crate) async fn run(
    muxer: Muxer,
    kad: bool,
    key_type: KeyTypeArg,
    pubsub_args: pubsub::PubsubArgs,
) -> i32 {
    let keypair = match key_type.generate() {
        Ok(keypair) => keypair,
        Err(e) => {
            eprintln!("mycel: {e}");
            return 1;
        }
    };
    let host = match Host::builder()
        .with_keypair(keypair)
        .with_tcp_noise(&[muxer])
        .listen_on(loopback())
        .build()
        .await
    {
        Ok(host) => host,
        Err(e) => {
            eprintln!("mycel: {e}");
            return 1;
        }
    };
    host.set_stream_handler(perf::PROTOCOL_ID, perf::handler());
    let dht = kad.then(|| {
        let config = KadConfig::default()
            .with_mode(Mode::Server)
            .with_validators(test_validators())
            .with_bootstrap_interval(None);
        Kademlia::new(Arc::new(host.clone()), config)
    });
    let pubsub_node = match pubsub_args.selected() {
        Some((router, topic)) => match pubsub::start(&host, router) {
            Ok(node) => {
                let serving = node.clone();
                let publish = pubsub_args.publish.clone();
                host.switch().spawn(async move {
                    if let Err(e) = pubsub::serve(serving, topic, publish, emit).await {
                        eprintln!("mycel: pubsub: {e}");
                    }
                });
                Some(node)
            }
            Err(e) => {
                eprintln!("mycel: {e}");
                return 1;
            }
        },
        None => None,
    };
    let shutdown = ShutdownSignal::install();
    let mut events = host.events();
    host.switch().spawn(async move {
        while let Some(event) = events.next().await {
            if let NetworkEvent::Identified {
                peer,
                agent_version,
                ..
            } = event
            {
                emit(&format!("IDENTIFY {peer} {agent_version}"));
            }
        }
    });
    let Some(addr) = host.listen_addrs().into_iter().next() else {
        eprintln!("mycel: no listen address");
        return 1;
    };
    emit(&format!("LISTEN {}", with_p2p(addr, host.peer_id())));
    tokio::select! {
        _ = shutdown.wait() => {}
        _ = stdin_closed() => {}
    }
    Node {
        host,
        dht,
        pubsub: pubsub_node,
    }
    .close()
    .await;
    0
}
