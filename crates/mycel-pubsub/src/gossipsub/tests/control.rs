//! One router and hand-made peers: GRAFT, PRUNE, backoff, peer exchange, IHAVE, IWANT,
//! IDONTWANT, and the limits on each.

use super::*;
use crate::{GOSSIPSUB_1_0, GOSSIPSUB_1_2};

/// The topics a control message grafts.
fn grafts(control: &Control) -> Vec<&str> {
    control.graft.iter().map(|g| g.topic.as_str()).collect()
}

#[test]
fn a_pruned_peer_is_backed_off_and_a_graft_during_the_backoff_is_refused_and_penalised() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    // A subscriber of a short mesh is grafted at once.
    let (peer, events) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    assert_eq!(grafts(&control_to(&events, &peer)), ["t"]);
    assert!(events.contains(&Event::Grafted {
        peer,
        topic: t.clone()
    }));

    let events = bench.rpc(peer, prune_rpc(&t, Some(60), &[]));
    assert!(events.contains(&Event::Pruned {
        peer,
        topic: t.clone()
    }));
    assert!(bench.mesh(&t).is_empty());
    assert!(bench.router.is_backed_off(&peer, &t, bench.now));
    let events = bench.heartbeat();
    assert!(
        sent_to(&events, &peer).is_none(),
        "no GRAFT while backing off"
    );
    assert!(bench.mesh(&t).is_empty());

    // A GRAFT 2 s after its own PRUNE: refused, penalised twice (a flood).
    bench.advance(Duration::from_secs(1));
    let events = bench.rpc(peer, graft_rpc(&t));
    let control = control_to(&events, &peer);
    assert_eq!(control.prune.len(), 1);
    assert_eq!(control.prune[0].backoff, Some(60));
    assert!(
        control.prune[0].peers.is_empty(),
        "no PX for a misbehaving peer"
    );
    assert!(bench.mesh(&t).is_empty());
    assert_eq!(bench.penalties(&peer), 2);

    // Later in the (extended) backoff: refused again, one penalty.
    bench.advance(Duration::from_secs(28));
    let events = bench.rpc(peer, graft_rpc(&t));
    assert_eq!(control_to(&events, &peer).prune.len(), 1);
    assert_eq!(bench.penalties(&peer), 3);

    // The backoff ends 60 s after the last refusal, plus a heartbeat of slack: then we
    // graft the peer again ourselves.
    bench.advance(Duration::from_secs(59));
    let events = bench.heartbeat();
    assert!(sent_to(&events, &peer).is_none(), "still within the slack");
    let events = bench.heartbeat();
    assert_eq!(grafts(&control_to(&events, &peer)), ["t"]);
    assert_eq!(bench.mesh(&t), BTreeSet::from([peer]));
}

#[test]
fn an_accepted_graft_joins_the_mesh_without_an_answer_and_unknown_topics_are_ignored() {
    let config = GossipsubConfig {
        d: 1,
        d_lo: 1,
        d_hi: 2,
        d_out: 0,
        d_score: 1,
        ..GossipsubConfig::default()
    };
    let mut bench = Bench::new(config);
    let t = topic();
    bench.subscribe(&t);
    let (first, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let (second, events) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    assert!(
        sent_to(&events, &second).is_none(),
        "the mesh was not short"
    );
    let events = bench.rpc(second, graft_rpc(&t));
    assert!(sent_to(&events, &second).is_none());
    assert_eq!(
        events,
        vec![Event::Grafted {
            peer: second,
            topic: t.clone()
        }]
    );
    assert_eq!(bench.mesh(&t), BTreeSet::from([first, second]));

    let events = bench.rpc(second, graft_rpc(&TopicHash::from("other")));
    assert!(events.is_empty(), "no PRUNE for a topic we are not in");
}

#[test]
fn a_full_mesh_takes_grafts_only_from_outbound_peers_and_the_heartbeat_cuts_it_to_d() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    let mut inbound = Vec::new();
    for _ in 0..13 {
        let peer = bench.peer(GOSSIPSUB_1_1, false);
        let mut rpc = sub_rpc(&t);
        rpc.control = graft_rpc(&t).control;
        let events = bench.rpc(peer, rpc);
        inbound.push((peer, control_to(&events, &peer)));
    }
    assert_eq!(bench.mesh(&t).len(), 12, "D_hi inbound peers");
    let (refused, answer) = &inbound[12];
    assert!(!bench.mesh(&t).contains(refused));
    assert_eq!(answer.prune.len(), 1, "the thirteenth is refused");
    assert!(bench.router.is_backed_off(refused, &t, bench.now));

    let mut outbound = Vec::new();
    for _ in 0..3 {
        let peer = bench.peer(GOSSIPSUB_1_1, true);
        let mut rpc = sub_rpc(&t);
        rpc.control = graft_rpc(&t).control;
        let events = bench.rpc(peer, rpc);
        assert!(control_to(&events, &peer).prune.is_empty());
        outbound.push(peer);
    }
    assert_eq!(bench.mesh(&t).len(), 15, "outbound peers get in over D_hi");

    let events = bench.heartbeat();
    let mesh = bench.mesh(&t);
    assert_eq!(mesh.len(), 6, "cut to D");
    let kept_outbound = outbound.iter().filter(|p| mesh.contains(p)).count();
    assert!(kept_outbound >= 2, "D_out outbound peers stay");
    let pruned: Vec<&PeerId> = inbound
        .iter()
        .map(|(p, _)| p)
        .chain(&outbound)
        .filter(|p| !mesh.contains(p) && *p != refused)
        .collect();
    assert_eq!(pruned.len(), 9);
    for peer in pruned {
        let control = control_to(&events, peer);
        assert_eq!(control.prune.len(), 1);
        assert_eq!(control.prune[0].backoff, Some(60));
        assert!(events.contains(&Event::Pruned {
            peer: *peer,
            topic: t.clone()
        }));
    }
}

#[test]
fn a_1_0_peer_gets_a_prune_without_backoff_or_peer_exchange() {
    let mut bench = Bench::new(GossipsubConfig {
        do_px: true,
        ..GossipsubConfig::default()
    });
    let t = topic();
    bench.subscribe(&t);
    let (old, _) = bench.subscriber(GOSSIPSUB_1_0, false, &t);
    let (v11, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let (v12, _) = bench.subscriber(GOSSIPSUB_1_2, false, &t);
    assert_eq!(bench.mesh(&t).len(), 3);

    let events = bench.router.unsubscribe(&t, bench.now);
    let to_old = sent_to(&events, &old).unwrap();
    assert_eq!(to_old.subscriptions, [SubOpt::unsubscribe(t.clone())]);
    let prune = &to_old.control.as_ref().unwrap().prune[0];
    assert_eq!((prune.backoff, prune.peers.len()), (None, 0));

    for (peer, others) in [(v11, [old, v12]), (v12, [old, v11])] {
        let prune = &control_to(&events, &peer).prune[0];
        assert_eq!(prune.backoff, Some(10), "the unsubscribe backoff");
        let px: BTreeSet<PeerId> = prune.peers.iter().map(|p| p.peer_id).collect();
        assert_eq!(px, BTreeSet::from(others));
    }
    assert!(bench.router.is_backed_off(&v11, &t, bench.now));
    assert!(
        !bench
            .router
            .is_backed_off(&v11, &t, bench.now + Duration::from_secs(10))
    );
}

#[test]
fn peer_exchange_yields_at_most_prune_peers_connect_events_for_unknown_peers() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    let (peer, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let known = bench.peer(GOSSIPSUB_1_1, false);
    let mut px: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
    px.push(known);
    let events = bench.rpc(peer, prune_rpc(&t, None, &px));
    let connects: Vec<PeerId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Connect { peer } => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(connects.len(), 16);
    assert!(!connects.contains(&known), "not a peer we already have");
    assert!(connects.iter().all(|p| px.contains(p)));
    // No backoff field: the default applies.
    assert!(
        bench
            .router
            .is_backed_off(&peer, &t, bench.now + Duration::from_secs(59))
    );
}

#[test]
fn iwant_is_answered_from_the_cache_at_most_gossip_retransmission_times() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    let peer = bench.peer(GOSSIPSUB_1_1, false);
    let message = signed(&key(9), 1, &t, "cached");
    let (id, _) = bench.publish(message.clone());
    for round in 0..4 {
        let events = bench.rpc(peer, iwant_rpc(vec![id.clone(), id.clone()]));
        let sent = sent_to(&events, &peer).map(|r| r.messages.clone());
        if round < 3 {
            assert_eq!(sent, Some(vec![message.clone()]), "round {round}");
        } else {
            assert_eq!(sent, None, "a fourth request is ignored");
        }
    }
    let unknown = MessageId::from(vec![1, 2, 3]);
    assert!(bench.rpc(peer, iwant_rpc(vec![unknown])).is_empty());
    // Five heartbeats later the message has left the cache.
    let other = bench.peer(GOSSIPSUB_1_1, false);
    for _ in 0..5 {
        bench.heartbeat();
    }
    assert!(bench.rpc(other, iwant_rpc(vec![id])).is_empty());
}

fn ids(range: std::ops::Range<u32>) -> Vec<MessageId> {
    range
        .map(|n| MessageId::from(n.to_be_bytes().to_vec()))
        .collect()
}

fn asked(events: &[Event], peer: &PeerId) -> usize {
    control_to(events, peer)
        .iwant
        .iter()
        .map(|i| i.message_ids.len())
        .sum()
}

#[test]
fn ihave_is_heeded_for_max_ihave_messages_rpcs_and_max_ihave_length_ids_per_heartbeat() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    let peer = bench.peer(GOSSIPSUB_1_1, false);
    for n in 0..10 {
        let events = bench.rpc(peer, ihave_rpc(&t, ids(n * 10..n * 10 + 10)));
        assert_eq!(asked(&events, &peer), 10);
    }
    assert_eq!(
        asked(&bench.rpc(peer, ihave_rpc(&t, ids(500..510))), &peer),
        0
    );
    bench.heartbeat();
    // A new heartbeat: 6000 advertised, 5000 asked, then nothing more.
    let events = bench.rpc(peer, ihave_rpc(&t, ids(1000..7000)));
    assert_eq!(asked(&events, &peer), 5000);
    assert_eq!(
        asked(&bench.rpc(peer, ihave_rpc(&t, ids(8000..8001))), &peer),
        0
    );
    // Topics we are not in and ids we have seen are not asked for.
    bench.heartbeat();
    let other = TopicHash::from("other");
    assert_eq!(
        asked(&bench.rpc(peer, ihave_rpc(&other, ids(0..5))), &peer),
        0
    );
    let (seen, _) = bench.publish(signed(&key(3), 1, &t, "mine"));
    assert_eq!(asked(&bench.rpc(peer, ihave_rpc(&t, vec![seen])), &peer), 0);
}

#[test]
fn an_unkept_iwant_promise_is_penalised_and_a_kept_one_is_not() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    let liar = bench.peer(GOSSIPSUB_1_1, false);
    let honest = bench.peer(GOSSIPSUB_1_1, false);
    let bogus = MessageId::from(vec![0xba, 0xd0]);
    let real = signed(&key(4), 1, &t, "real");
    let real_id = default_message_id(&real);
    assert_eq!(
        asked(&bench.rpc(liar, ihave_rpc(&t, vec![bogus])), &liar),
        1
    );
    let events = bench.rpc(honest, ihave_rpc(&t, vec![real_id.clone()]));
    assert_eq!(control_to(&events, &honest).iwant[0].message_ids, [real_id]);
    bench.advance(Duration::from_secs(1));
    bench.rpc(honest, message_rpc(real));

    bench.heartbeat();
    assert_eq!(bench.penalties(&liar), 0, "not due yet");
    bench.heartbeat();
    assert_eq!(
        bench.penalties(&liar),
        1,
        "broken after iwant_followup_time"
    );
    assert_eq!(bench.penalties(&honest), 0);
    bench.heartbeat();
    assert_eq!(bench.penalties(&liar), 1, "counted once");
}

/// A router subscribed to the topic with a 1.2 source, a 1.2 and a 1.1 mesh peer.
fn idontwant_bench() -> (Bench, PeerId, PeerId, PeerId) {
    let mut bench = Bench::new(GossipsubConfig::default());
    bench.subscribe(&topic());
    let (source, _) = bench.subscriber(GOSSIPSUB_1_2, false, &topic());
    let (v12, _) = bench.subscriber(GOSSIPSUB_1_2, false, &topic());
    let (v11, _) = bench.subscriber(GOSSIPSUB_1_1, false, &topic());
    assert_eq!(bench.mesh(&topic()).len(), 3);
    (bench, source, v12, v11)
}

#[test]
fn idontwant_goes_to_1_2_mesh_peers_but_the_sender_for_large_messages_only() {
    let (mut bench, source, v12, v11) = idontwant_bench();
    let large = signed(&key(5), 1, &topic(), vec![0u8; 1000]);
    let id = default_message_id(&large);
    let events = bench.rpc(source, message_rpc(large.clone()));
    let to_v12 = sent_to(&events, &v12).unwrap();
    assert_eq!(to_v12.messages, std::slice::from_ref(&large));
    let idontwant = &to_v12.control.as_ref().unwrap().idontwant;
    assert_eq!(idontwant[0].message_ids, [id]);
    let to_v11 = sent_to(&events, &v11).unwrap();
    assert_eq!(to_v11.messages, [large]);
    assert!(to_v11.control.is_none(), "a 1.1 peer gets no IDONTWANT");
    assert!(sent_to(&events, &source).is_none());

    let small = signed(&key(5), 2, &topic(), vec![0u8; 10]);
    let events = bench.rpc(source, message_rpc(small));
    assert!(sent_to(&events, &v12).unwrap().control.is_none());
}

#[test]
fn an_idontwant_is_honoured_when_forwarding() {
    let (mut bench, source, v12, v11) = idontwant_bench();
    let message = signed(&key(6), 1, &topic(), "not for v12");
    let id = default_message_id(&message);
    assert!(bench.rpc(v12, idontwant_rpc(vec![id])).is_empty());
    let events = bench.rpc(source, message_rpc(message.clone()));
    assert!(sent_to(&events, &v12).is_none());
    assert_eq!(sent_to(&events, &v11).unwrap().messages, [message]);
    // Honoured for a few heartbeats only.
    for _ in 0..3 {
        bench.heartbeat();
    }
    let later = signed(&key(6), 2, &topic(), "later");
    let id = default_message_id(&later);
    bench.rpc(v12, idontwant_rpc(vec![id]));
    for _ in 0..3 {
        bench.heartbeat();
    }
    let events = bench.rpc(source, message_rpc(later.clone()));
    assert_eq!(sent_to(&events, &v12).unwrap().messages, [later]);
}

#[test]
fn a_peer_that_leaves_the_topic_leaves_the_mesh_and_a_removed_peer_is_forgotten() {
    let mut bench = Bench::new(GossipsubConfig::default());
    let t = topic();
    bench.subscribe(&t);
    let (leaver, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let (gone, _) = bench.subscriber(GOSSIPSUB_1_1, false, &t);
    let events = bench.rpc(
        leaver,
        Rpc {
            subscriptions: vec![SubOpt::unsubscribe(t.clone())],
            ..Rpc::default()
        },
    );
    assert!(events.contains(&Event::Pruned {
        peer: leaver,
        topic: t.clone()
    }));
    assert!(events.contains(&Event::Unsubscribed {
        peer: leaver,
        topic: t.clone()
    }));
    assert_eq!(bench.mesh(&t), BTreeSet::from([gone]));

    bench.rpc(gone, ihave_rpc(&t, ids(0..1)));
    let events = bench.router.remove_peer(&gone, bench.now);
    assert!(events.contains(&Event::Pruned {
        peer: gone,
        topic: t.clone()
    }));
    assert!(events.contains(&Event::Unsubscribed {
        peer: gone,
        topic: t.clone()
    }));
    assert!(bench.mesh(&t).is_empty());
    assert_eq!(bench.router.promises.len(), 0, "its promise is dropped");
    assert!(bench.router.peers().all(|p| *p != gone));
    // Its RPCs are ignored from now on.
    assert!(bench.rpc(gone, sub_rpc(&t)).is_empty());
}

#[test]
fn a_new_peer_learns_our_topics_and_joining_grafts_fanout_peers_first() {
    let mut bench = Bench::new(GossipsubConfig {
        flood_publish: false,
        ..GossipsubConfig::default()
    });
    let t = topic();
    let mut subscribers = Vec::new();
    for _ in 0..8 {
        subscribers.push(bench.subscriber(GOSSIPSUB_1_1, false, &t).0);
    }
    bench.publish(signed(&key(8), 1, &t, "fanout"));
    let fanout: BTreeSet<PeerId> = bench.router.fanout_peers(&t).into_iter().collect();
    assert_eq!(fanout.len(), 6);
    let events = bench.subscribe(&t);
    assert_eq!(bench.mesh(&t), fanout, "the fanout becomes the mesh");
    assert!(bench.router.fanout_peers(&t).is_empty());
    for peer in &subscribers {
        let rpc = sent_to(&events, peer).unwrap();
        assert_eq!(rpc.subscriptions, [SubOpt::subscribe(t.clone())]);
        let grafted = rpc.control.as_ref().is_some_and(|c| !c.graft.is_empty());
        assert_eq!(grafted, fanout.contains(peer));
    }
    let newcomer = PeerId::random();
    let events = bench
        .router
        .add_peer(newcomer, conn(GOSSIPSUB_1_1, true), bench.now);
    assert_eq!(
        sent_to(&events, &newcomer).unwrap().subscriptions,
        [SubOpt::subscribe(t)]
    );
}

#[test]
fn messages_of_topics_we_are_not_in_and_structurally_invalid_ones_are_not_delivered() {
    let mut bench = Bench::new(GossipsubConfig::default());
    bench.subscribe(&topic());
    let peer = bench.peer(GOSSIPSUB_1_1, false);
    let elsewhere = signed(&key(2), 1, &TopicHash::from("other"), "x");
    assert!(bench.rpc(peer, message_rpc(elsewhere)).is_empty());

    // An empty seqno: set aside by the codec, reported by the router.
    let good = signed(&key(2), 2, &topic(), "y");
    let mut proto: mycel_proto::pubsub::Message = (&good).into();
    proto.seqno = Some(Bytes::new());
    let bytes = mycel_proto::prost::Message::encode_to_vec(&mycel_proto::pubsub::Rpc {
        subscriptions: vec![],
        publish: vec![proto],
        control: None,
    });
    let decoded = decode_rpc(Bytes::from(bytes), &RpcLimits::default()).unwrap();
    let events = bench.router.on_rpc(peer, decoded, bench.now);
    assert!(matches!(events.as_slice(), [Event::Invalid { from, .. }] if *from == peer));
}
