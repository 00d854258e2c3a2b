//! What the router does with peer scores. Scores are set through the scoring API only
//! (the application score P5 with weight 1, and behaviour penalties P7), so these tests
//! hold for any correct implementation of `score.rs`.

use super::*;
use crate::PeerScoreParams;

/// Scoring on, P5 counted one for one, default thresholds (gossip -10, publish -50,
/// graylist -80, accept PX 10, opportunistic graft 20).
fn scored(config: GossipsubConfig) -> GossipsubConfig {
    GossipsubConfig {
        score_params: Some(PeerScoreParams {
            app_specific_weight: 1.0,
            ..PeerScoreParams::default()
        }),
        ..config
    }
}

/// A mesh of one, so that other subscribers stay outside it.
fn mesh_of_one() -> GossipsubConfig {
    scored(GossipsubConfig {
        d: 1,
        d_lo: 1,
        d_hi: 1,
        d_out: 0,
        d_score: 1,
        ..GossipsubConfig::default()
    })
}

#[test]
fn a_graylisted_peers_rpcs_are_ignored_entirely() {
    let mut bench = Bench::new(scored(GossipsubConfig::default()));
    let t = topic();
    bench.subscribe(&t);
    let grey = bench.peer(GOSSIPSUB_1_1, false);
    let fine = bench.peer(GOSSIPSUB_1_1, false);
    assert!(bench.router.set_app_score(&grey, -100.0));
    assert!(bench.router.score(&grey, bench.now) < -80.0);
    let message = |n| signed(&key(1), n, &t, "from a grey peer");
    let rpc = |m: Message| Rpc {
        subscriptions: vec![SubOpt::subscribe(t.clone())],
        messages: vec![m],
        control: graft_rpc(&t).control,
    };
    assert!(bench.rpc(grey, rpc(message(1))).is_empty());
    assert!(!bench.router.subscriptions().is_peer_subscribed(&grey, &t));
    assert!(bench.mesh(&t).is_empty());
    let events = bench.rpc(fine, rpc(message(2)));
    assert!(events.iter().any(|e| matches!(e, Event::Deliver { .. })));
    assert_eq!(bench.mesh(&t), BTreeSet::from([fine]));
}

#[test]
fn gossip_is_neither_sent_to_nor_taken_from_peers_below_the_gossip_threshold() {
    let mut bench = Bench::new(mesh_of_one());
    let t = topic();
    bench.subscribe(&t);
    let (meshed, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let (low, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let (good, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    assert_eq!(bench.mesh(&t), BTreeSet::from([meshed]));
    bench.router.set_app_score(&low, -20.0);
    bench.publish(signed(&key(2), 1, &t, "gossip me"));
    let events = bench.heartbeat();
    assert!(!control_to(&events, &good).ihave.is_empty());
    assert!(control_to(&events, &low).ihave.is_empty());
    let events = bench.rpc(low, ihave_rpc(&t, vec![MessageId::from(vec![1])]));
    assert!(events.is_empty(), "its IHAVE is ignored");
    let events = bench.rpc(good, ihave_rpc(&t, vec![MessageId::from(vec![1])]));
    assert_eq!(control_to(&events, &good).iwant.len(), 1);
}

#[test]
fn peers_with_a_negative_score_are_pruned_at_the_heartbeat_without_px() {
    let mut bench = Bench::new(scored(GossipsubConfig {
        do_px: true,
        ..GossipsubConfig::default()
    }));
    let t = topic();
    bench.subscribe(&t);
    let peers: Vec<PeerId> = (0..4)
        .map(|_| bench.subscriber(GOSSIPSUB_1_1, false, &t).0)
        .collect();
    assert_eq!(bench.mesh(&t).len(), 4);
    bench.router.set_app_score(&peers[0], -1.0);
    let events = bench.heartbeat();
    let prune = &control_to(&events, &peers[0]).prune;
    assert_eq!(prune.len(), 1);
    assert!(prune[0].peers.is_empty(), "no PX to a negative peer");
    assert!(!bench.mesh(&t).contains(&peers[0]));
    // Nor is it grafted back, though the mesh is short.
    bench.router.set_app_score(&peers[0], -1.0);
    let events = bench.heartbeat();
    assert!(sent_to(&events, &peers[0]).is_none());
    // And a negative peer's GRAFT is refused.
    let events = bench.rpc(peers[0], graft_rpc(&t));
    assert_eq!(control_to(&events, &peers[0]).prune.len(), 1);
}

#[test]
fn opportunistic_grafting_brings_in_peers_above_a_poor_median() {
    let mut bench = Bench::new(scored(GossipsubConfig {
        d: 2,
        d_lo: 2,
        d_hi: 4,
        d_out: 0,
        d_score: 2,
        opportunistic_graft_ticks: 1,
        ..GossipsubConfig::default()
    }));
    let t = topic();
    bench.subscribe(&t);
    let poor: Vec<PeerId> = (0..2)
        .map(|_| bench.subscriber(GOSSIPSUB_1_1, false, &t).0)
        .collect();
    let good: Vec<PeerId> = (0..3)
        .map(|_| bench.subscriber(GOSSIPSUB_1_1, false, &t).0)
        .collect();
    assert_eq!(bench.mesh(&t), poor.iter().copied().collect());
    for peer in &poor {
        bench.router.set_app_score(peer, 1.0);
    }
    for peer in &good {
        bench.router.set_app_score(peer, 50.0);
    }
    let events = bench.heartbeat();
    let mesh = bench.mesh(&t);
    assert_eq!(mesh.len(), 4, "two grafted opportunistically");
    let grafted: Vec<&PeerId> = good.iter().filter(|p| mesh.contains(p)).collect();
    assert_eq!(grafted.len(), 2);
    for peer in grafted {
        assert_eq!(control_to(&events, peer).graft.len(), 1);
    }
}

#[test]
fn peer_exchange_is_followed_only_from_peers_above_accept_px_threshold() {
    let mut bench = Bench::new(scored(GossipsubConfig::default()));
    let t = topic();
    bench.subscribe(&t);
    let (trusted, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let (stranger, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    bench.router.set_app_score(&trusted, 100.0);
    let px = [PeerId::random(), PeerId::random()];
    let events = bench.rpc(stranger, prune_rpc(&t, Some(60), &px));
    assert!(!events.iter().any(|e| matches!(e, Event::Connect { .. })));
    let events = bench.rpc(trusted, prune_rpc(&t, Some(60), &px));
    let connects: BTreeSet<PeerId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Connect { peer } => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(connects, BTreeSet::from(px));
}

#[test]
fn behaviour_penalties_lower_the_score() {
    let mut bench = Bench::new(scored(GossipsubConfig::default()));
    let t = topic();
    bench.subscribe(&t);
    let (grafter, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    bench.rpc(grafter, prune_rpc(&t, Some(60), &[]));
    bench.rpc(grafter, graft_rpc(&t));
    assert!(
        bench.router.score(&grafter, bench.now) < 0.0,
        "GRAFT in backoff"
    );

    let liar = bench.peer(GOSSIPSUB_1_1, false);
    bench.rpc(liar, ihave_rpc(&t, vec![MessageId::from(vec![0xba, 0xd0])]));
    for _ in 0..3 {
        bench.heartbeat();
    }
    assert!(bench.router.score(&liar, bench.now) < 0.0, "broken promise");
}

#[test]
fn scoring_is_off_without_params() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let peer = bench.peer(GOSSIPSUB_1_1, false);
    assert!(!bench.router.set_app_score(&peer, -1000.0));
    assert_eq!(bench.router.score(&peer, bench.now), 0.0);
    assert!(
        bench
            .router
            .set_topic_score_params(topic(), crate::TopicScoreParams::default())
            .is_err()
    );
    assert!(
        !bench.rpc(peer, sub_rpc(&topic())).is_empty(),
        "not graylisted"
    );
}
