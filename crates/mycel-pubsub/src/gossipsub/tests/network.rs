//! Several routers wired together: meshes, publishing, gossip, validation.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::GOSSIPSUB_1_2;

/// Links every node to `degree` random others (more for nodes others chose), mixing
/// 1.1 and 1.2 links.
fn random_links(net: &mut Net, degree: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = net.ids.len();
    for a in 0..n {
        let mut added = 0;
        while added < degree {
            let b = rng.gen_range(0..n);
            if b == a || net.linked(a, b) {
                if (0..n).all(|b| b == a || net.linked(a, b)) {
                    break;
                }
                continue;
            }
            let protocol = if (a + b) % 2 == 0 {
                GOSSIPSUB_1_2
            } else {
                GOSSIPSUB_1_1
            };
            net.link(a, b, protocol);
            added += 1;
        }
    }
}

fn mesh_only() -> GossipsubConfig {
    GossipsubConfig {
        flood_publish: false,
        ..GossipsubConfig::default()
    }
}

#[test]
fn a_mesh_of_twenty_settles_between_d_lo_and_d_hi_and_delivers_each_message_once() {
    let mut net = Net::new(20, |_| mesh_only(), 1);
    random_links(&mut net, 8, 42);
    let t = topic();
    for i in 0..20 {
        net.subscribe(i, &t);
    }
    net.heartbeats(10);
    let config = GossipsubConfig::default();
    for i in 0..20 {
        let mesh = net.router(i).mesh_peers(&t);
        assert!(
            (config.d_lo..=config.d_hi).contains(&mesh.len()),
            "node {i} has a mesh of {}",
            mesh.len()
        );
        for peer in &mesh {
            assert!(
                net.routers[peer].mesh_peers(&t).contains(&net.ids[i]),
                "mesh links are symmetric"
            );
        }
    }
    for publisher in [0, 7, 13] {
        let before = net.log.len();
        let id = net.publish(publisher, &t, "hello");
        assert_eq!(
            net.deliveries_of(&id),
            net.all_but(&[publisher]),
            "every other node once"
        );
        // Through the mesh alone: each copy travels a mesh link.
        for (from, to, rpc) in &net.log[before..] {
            if !rpc.messages.is_empty() {
                assert!(net.routers[from].mesh_peers(&t).contains(to));
            }
        }
    }
    assert!(net.invalid.is_empty());
}

#[test]
fn two_networks_built_from_one_seed_behave_identically() {
    let build = || {
        let mut net = Net::new(12, |_| mesh_only(), 9);
        random_links(&mut net, 6, 9);
        for i in 0..12 {
            net.subscribe(i, &topic());
        }
        net.heartbeats(5);
        net.publish(3, &topic(), "same");
        net.heartbeats(2);
        net
    };
    let (a, b) = (build(), build());
    assert_eq!(a.log, b.log);
    for i in 0..12 {
        assert_eq!(
            a.router(i).mesh_peers(&topic()),
            b.router(i).mesh_peers(&topic())
        );
    }
}

/// Node 0 is linked to nodes 1 to 9, which are all linked together and subscribed.
fn publisher_outside_the_topic(config: impl Fn(usize) -> GossipsubConfig) -> Net {
    let mut net = Net::new(10, config, 2);
    for i in 1..10 {
        net.link(0, i, GOSSIPSUB_1_1);
        for j in i + 1..10 {
            net.link(i, j, GOSSIPSUB_1_1);
        }
    }
    for i in 1..10 {
        net.subscribe(i, &topic());
    }
    net.heartbeats(3);
    net
}

#[test]
fn a_node_outside_the_topic_publishes_through_its_fanout_until_it_expires() {
    let mut net = publisher_outside_the_topic(|_| mesh_only());
    let t = topic();
    let before = net.log.len();
    let id = net.publish(0, &t, "via fanout");
    let fanout: BTreeSet<PeerId> = net.router(0).fanout_peers(&t).into_iter().collect();
    assert_eq!(fanout.len(), 6, "D peers");
    let direct: BTreeSet<PeerId> = net.log[before..]
        .iter()
        .filter(|(from, _, rpc)| *from == net.ids[0] && !rpc.messages.is_empty())
        .map(|(_, to, _)| *to)
        .collect();
    assert_eq!(direct, fanout, "sent to the fanout only");
    assert_eq!(net.deliveries_of(&id), net.all_but(&[0]));
    assert!(net.router(0).mesh_peers(&t).is_empty());
    assert_eq!(
        Router::mesh_peers(net.router(0), &t),
        fanout.iter().copied().collect::<Vec<_>>(),
        "the Router view of an unsubscribed topic is its fanout"
    );

    // A second publish reuses the same fanout.
    net.heartbeats(30);
    let before = net.log.len();
    net.publish(0, &t, "again");
    let direct: BTreeSet<PeerId> = net.log[before..]
        .iter()
        .filter(|(from, _, rpc)| *from == net.ids[0] && !rpc.messages.is_empty())
        .map(|(_, to, _)| *to)
        .collect();
    assert_eq!(direct, fanout);

    net.heartbeats(59);
    assert_eq!(net.router(0).fanout_peers(&t).len(), 6);
    net.heartbeats(1);
    assert!(
        net.router(0).fanout_peers(&t).is_empty(),
        "forgotten fanout_ttl after the last publish"
    );
}

#[test]
fn flood_publishing_sends_our_message_to_every_topic_peer() {
    let mut net = publisher_outside_the_topic(|_| GossipsubConfig::default());
    let before = net.log.len();
    let id = net.publish(0, &topic(), "flooded");
    let direct: BTreeSet<PeerId> = net.log[before..]
        .iter()
        .filter(|(from, _, rpc)| *from == net.ids[0] && !rpc.messages.is_empty())
        .map(|(_, to, _)| *to)
        .collect();
    assert_eq!(direct.len(), 9);
    assert!(
        net.router(0).fanout_peers(&topic()).is_empty(),
        "no fanout when flooding"
    );
    assert_eq!(net.deliveries_of(&id), net.all_but(&[0]));
}

#[test]
fn ihave_and_iwant_recover_a_message_the_mesh_did_not_carry() {
    // Node 0 keeps no mesh (a bootstrapper's settings) and refuses node 1's GRAFT, so
    // its message can reach node 1 only through gossip.
    let config = |i: usize| {
        if i == 0 {
            GossipsubConfig {
                d: 0,
                d_lo: 0,
                d_hi: 0,
                d_out: 0,
                d_score: 0,
                flood_publish: false,
                ..GossipsubConfig::default()
            }
        } else {
            GossipsubConfig::default()
        }
    };
    let mut net = Net::new(2, config, 3);
    net.link(1, 0, GOSSIPSUB_1_1);
    let t = topic();
    net.subscribe(0, &t);
    net.subscribe(1, &t);
    assert!(net.router(0).mesh_peers(&t).is_empty());
    assert!(
        net.router(1).mesh_peers(&t).is_empty(),
        "its GRAFT was refused"
    );

    let id = net.publish(0, &t, "gossiped");
    assert!(net.deliveries_of(&id).is_empty());
    let before = net.log.len();
    net.heartbeats(1);
    assert_eq!(net.deliveries_of(&id), vec![net.ids[1]]);
    let (a, b) = (net.ids[0], net.ids[1]);
    let control = |from: PeerId, to: PeerId| {
        net.log[before..]
            .iter()
            .filter(move |(f, t, _)| *f == from && *t == to)
            .filter_map(|(_, _, rpc)| rpc.control.clone())
    };
    assert!(control(a, b).any(|c| c.ihave.iter().any(|i| i.message_ids.contains(&id))));
    assert!(control(b, a).any(|c| c.iwant.iter().any(|i| i.message_ids.contains(&id))));

    net.heartbeats(5);
    assert_eq!(
        net.router(1).penalties.get(&a),
        None,
        "the promise was kept"
    );
    assert_eq!(net.deliveries_of(&id).len(), 1, "and never delivered twice");
}

#[test]
fn forged_messages_are_counted_and_not_forwarded() {
    let mut net = Net::new(3, |_| GossipsubConfig::default(), 4);
    net.link(0, 1, GOSSIPSUB_1_1);
    net.link(1, 2, GOSSIPSUB_1_2);
    let t = topic();
    for i in 0..3 {
        net.subscribe(i, &t);
    }
    net.heartbeats(2);
    let mut forged = signed(&net.keys[0], 77, &t, "real");
    forged.data = Bytes::from_static(b"changed");
    let before = net.log.len();
    let forged_id = net.publish_message(0, forged);
    assert_eq!(net.invalid, vec![(net.ids[1], net.ids[0])]);
    assert!(net.deliveries_of(&forged_id).is_empty());
    assert!(
        !net.log[before..]
            .iter()
            .any(|(from, _, rpc)| *from == net.ids[1] && !rpc.messages.is_empty()),
        "node 1 forwards nothing"
    );

    // The genuine message with the same id still gets through: the forgery did not
    // mark it seen.
    let genuine = signed(&net.keys[0], 77, &t, "real");
    assert_eq!(default_message_id(&genuine), forged_id);
    // Node 0 took the forgery for its own publish; node 1 gets the genuine copy.
    let (now, from) = (net.now, net.ids[0]);
    let events = net
        .router_mut(1)
        .on_rpc(from, wire(&message_rpc(genuine)), now);
    net.run(net.ids[1], events);
    assert_eq!(net.deliveries_of(&forged_id), net.all_but(&[0]));
}
