//! Pubsub networks in the simulator: the properties the 1,000-node runs report,
//! asserted at a size CI can afford.

use std::time::Duration;

use mycel_sim::pubsub::{Adversary, PubsubSim, PubsubSimConfig, RouterKind};

fn small(router: RouterKind) -> PubsubSimConfig {
    PubsubSimConfig {
        seed: 3,
        nodes: 150,
        messages: 60,
        router,
        warmup: Duration::from_secs(3),
        drain: Duration::from_secs(5),
        ..PubsubSimConfig::default()
    }
}

#[test]
fn floodsub_reaches_every_node_with_a_copy_from_most_links() {
    let r = PubsubSim::new(small(RouterKind::Floodsub)).run();
    assert_eq!(r.messages, 60);
    assert_eq!(r.delivery_ratio, 1.0, "{r:?}");
    assert!(r.mean_degree >= 8.0 && r.mean_degree <= 12.0, "{r:?}");
    // Every node hears each message from nearly every neighbour.
    assert!(r.duplicates_per_node_message > r.mean_degree - 3.0, "{r:?}");
    assert!(r.hops.p50 >= 1.0 && r.hops.p99 <= 8.0, "{r:?}");
    assert!(r.millis.p50 > 10.0, "latency is simulated: {r:?}");
}

#[test]
fn gossipsub_reaches_every_node_with_far_fewer_copies_than_floodsub() {
    let flood = PubsubSim::new(small(RouterKind::Floodsub)).run();
    let gossip = PubsubSim::new(small(RouterKind::Gossipsub { scoring: true })).run();
    assert_eq!(gossip.delivery_ratio, 1.0, "{gossip:?}");
    assert!(
        gossip.mean_mesh >= 5.0 && gossip.mean_mesh <= 12.0,
        "{gossip:?}"
    );
    assert!(
        gossip.duplicates_per_node_message * 1.5 < flood.duplicates_per_node_message,
        "gossip {gossip:?} flood {flood:?}"
    );
}

#[test]
fn gossipsub_with_scoring_keeps_delivering_with_a_tenth_of_nodes_adversarial() {
    for adversary in [Adversary::Drop, Adversary::DropAndSpam] {
        let config = PubsubSimConfig {
            adversarial: 0.10,
            adversary,
            messages: 200,
            ..small(RouterKind::Gossipsub { scoring: true })
        };
        let r = PubsubSim::new(config).run();
        assert_eq!(r.honest, 135);
        assert_eq!(r.messages, 200);
        assert!(r.delivery_ratio >= 0.99, "{adversary:?}: {r:?}");
        assert_eq!(r.invalid_delivered, 0, "{r:?}");
        // Scoring pushes the droppers out of honest meshes.
        assert!(r.adversarial_mesh_share < 0.05, "{adversary:?}: {r:?}");
    }
}
