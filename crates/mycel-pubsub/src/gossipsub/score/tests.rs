//! Each score term proved alone, with the values the spec's formulas give.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use mycel_core::PeerId;

use super::{
    MAX_RETAINED_PEERS, PeerScore, PeerScoreParams, PeerScoreThresholds, RejectReason,
    ScoreParamsError, TopicScoreParams,
    deliveries::{DELIVERY_RECORD_TTL, MAX_DELIVERY_RECORDS},
};
use crate::{MessageId, TopicHash};

fn topic() -> TopicHash {
    TopicHash::from_raw("scored")
}

fn id(n: usize) -> MessageId {
    MessageId::from((n as u64).to_be_bytes().to_vec())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Topic parameters with every term off (and valid decays): a test turns on its own.
fn silent_topic() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        time_in_mesh_quantum: secs(1),
        time_in_mesh_cap: 10.0,
        first_message_deliveries_weight: 0.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 100.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_cap: 100.0,
        mesh_message_deliveries_threshold: 10.0,
        mesh_message_deliveries_window: ms(10),
        mesh_message_deliveries_activation: secs(1),
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.5,
        invalid_message_deliveries_weight: 0.0,
        invalid_message_deliveries_decay: 0.5,
    }
}

/// [`topic`] scored under `topic_params`, P5 to P7 off, no topic cap.
fn scoring(topic_params: TopicScoreParams) -> PeerScoreParams {
    PeerScoreParams {
        topics: HashMap::from([(topic(), topic_params)]),
        topic_score_cap: 0.0,
        app_specific_weight: 0.0,
        ip_colocation_factor_weight: 0.0,
        ip_colocation_factor_threshold: 1.0,
        ip_colocation_factor_whitelist: Vec::new(),
        behaviour_penalty_weight: 0.0,
        behaviour_penalty_threshold: 0.0,
        behaviour_penalty_decay: 0.5,
        decay_interval: secs(1),
        decay_to_zero: 0.01,
        retain_score: secs(10),
    }
}

/// A score under `params` with `peers` connected at `now`, no IP known.
fn connected(params: PeerScoreParams, peers: &[PeerId], now: Instant) -> PeerScore {
    let mut score = PeerScore::new(params);
    for peer in peers {
        score.add_peer(*peer, None, now);
    }
    score
}

/// `from` is the first to deliver message `n` of [`topic`], and it is valid.
fn first_delivery(score: &mut PeerScore, from: &PeerId, n: usize, now: Instant) {
    score.validate_message(from, &id(n), &topic(), now);
    score.deliver_message(from, &id(n), &topic(), now);
}

/// `from` is the first to deliver message `n` of [`topic`], and it is rejected.
fn rejected(score: &mut PeerScore, from: &PeerId, n: usize, reason: RejectReason, now: Instant) {
    score.validate_message(from, &id(n), &topic(), now);
    score.reject_message(from, &id(n), &topic(), reason, now);
}

#[test]
fn p1_counts_whole_quanta_in_the_mesh_weighted_and_capped() {
    let t0 = Instant::now();
    let a = PeerId::random();
    let params = scoring(TopicScoreParams {
        topic_weight: 2.0,
        time_in_mesh_weight: 0.5,
        time_in_mesh_quantum: secs(1),
        time_in_mesh_cap: 10.0,
        ..silent_topic()
    });
    let mut score = connected(params, &[a], t0);
    assert_eq!(score.score(&a, t0), 0.0);

    score.graft(&a, &topic(), t0);
    assert_eq!(score.score(&a, t0), 0.0);
    // 3.5 s: 3 whole quanta × w1 0.5 × topic weight 2.
    assert_eq!(score.score(&a, t0 + ms(3500)), 3.0);
    // Grafting again does not restart the clock: 5 quanta at t0 + 5 s.
    score.graft(&a, &topic(), t0 + secs(4));
    assert_eq!(score.score(&a, t0 + secs(5)), 5.0);
    // Capped at 10 quanta.
    assert_eq!(score.score(&a, t0 + secs(100)), 10.0);
    // Outside the mesh, no P1.
    score.prune(&a, &topic(), t0 + secs(100));
    assert_eq!(score.score(&a, t0 + secs(101)), 0.0);
}

#[test]
fn p2_credits_only_the_first_deliverer_up_to_the_cap_and_decays() {
    let t0 = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    let params = scoring(TopicScoreParams {
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 3.0,
        first_message_deliveries_decay: 0.5,
        ..silent_topic()
    });
    let mut score = connected(params, &[a, b], t0);

    // b's copy arrives during validation, a's first: only a is credited.
    score.validate_message(&a, &id(1), &topic(), t0);
    score.duplicate_message(&b, &id(1), &topic(), t0);
    score.deliver_message(&a, &id(1), &topic(), t0);
    score.duplicate_message(&b, &id(1), &topic(), t0);
    assert_eq!(score.score(&a, t0), 1.0);
    assert_eq!(score.score(&b, t0), 0.0);
    // A second verdict on the same message credits nothing more.
    score.deliver_message(&a, &id(1), &topic(), t0);
    assert_eq!(score.score(&a, t0), 1.0);

    for n in 2..=5 {
        first_delivery(&mut score, &a, n, t0);
    }
    assert_eq!(score.score(&a, t0), 3.0, "capped at 3");
    score.refresh(t0 + secs(1));
    assert_eq!(score.score(&a, t0), 1.5);
    score.refresh(t0 + secs(2));
    assert_eq!(score.score(&a, t0), 0.75);
}

#[test]
fn p3_penalises_the_square_of_a_deficit_only_after_activation() {
    let t0 = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    let params = scoring(TopicScoreParams {
        mesh_message_deliveries_weight: -1.0,
        mesh_message_deliveries_threshold: 4.0,
        mesh_message_deliveries_cap: 10.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_activation: secs(5),
        ..silent_topic()
    });
    let mut score = connected(params, &[a, b], t0);
    score.graft(&a, &topic(), t0);

    assert_eq!(score.score(&a, t0 + secs(4)), 0.0, "before activation");
    assert_eq!(score.score(&a, t0 + secs(6)), -16.0, "deficit 4, squared");

    let t = t0 + secs(6);
    for n in 0..3 {
        first_delivery(&mut score, &a, n, t);
    }
    assert_eq!(score.score(&a, t), -1.0, "deficit 1");
    first_delivery(&mut score, &a, 3, t);
    assert_eq!(score.score(&a, t), 0.0, "at the threshold");

    // Capped at 10, then decays to 5 (above 4) and 2.5 (deficit 1.5).
    for n in 4..30 {
        first_delivery(&mut score, &a, n, t);
    }
    score.refresh(t);
    assert_eq!(score.score(&a, t), 0.0);
    score.refresh(t);
    assert_eq!(score.score(&a, t), -2.25);

    // A peer outside the mesh earns no P3 by first deliveries: grafted later, it starts
    // from zero.
    for n in 30..40 {
        first_delivery(&mut score, &b, n, t);
    }
    score.graft(&b, &topic(), t);
    assert_eq!(score.score(&b, t + secs(6)), -16.0);
}

#[test]
fn p3_counts_a_mesh_peers_copy_during_validation_or_within_the_window_after() {
    let t0 = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    let params = scoring(TopicScoreParams {
        mesh_message_deliveries_weight: -1.0,
        mesh_message_deliveries_threshold: 10.0,
        mesh_message_deliveries_window: ms(10),
        mesh_message_deliveries_activation: secs(1),
        ..silent_topic()
    });
    let mut score = connected(params, &[a, b], t0);
    score.graft(&b, &topic(), t0);
    let t = t0 + secs(2);

    // 5 ms after validation: counts, once however often b sends it.
    first_delivery(&mut score, &a, 1, t);
    score.duplicate_message(&b, &id(1), &topic(), t + ms(5));
    score.duplicate_message(&b, &id(1), &topic(), t + ms(6));
    assert_eq!(score.score(&b, t + ms(6)), -81.0, "1 delivery: deficit 9");

    // 20 ms after validation: outside the window.
    first_delivery(&mut score, &a, 2, t);
    score.duplicate_message(&b, &id(2), &topic(), t + ms(20));
    assert_eq!(score.score(&b, t + ms(20)), -81.0);

    // During a long validation: counts when the message is found valid.
    score.validate_message(&a, &id(3), &topic(), t);
    score.duplicate_message(&b, &id(3), &topic(), t + ms(1));
    score.deliver_message(&a, &id(3), &topic(), t + ms(500));
    assert_eq!(
        score.score(&b, t + secs(1)),
        -64.0,
        "2 deliveries: deficit 8"
    );

    // a, outside the mesh, has no P3 at all.
    assert_eq!(score.score(&a, t + secs(1)), 0.0);
}

#[test]
fn p3b_keeps_the_squared_deficit_of_a_peer_pruned_or_removed_with_one() {
    let t0 = Instant::now();
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    let params = scoring(TopicScoreParams {
        mesh_message_deliveries_weight: -1.0,
        mesh_message_deliveries_threshold: 4.0,
        mesh_message_deliveries_activation: secs(1),
        mesh_failure_penalty_weight: -2.0,
        mesh_failure_penalty_decay: 0.5,
        ..silent_topic()
    });
    let mut score = connected(params, &[a, b, c], t0);
    for peer in [a, b, c] {
        score.graft(&peer, &topic(), t0);
    }
    first_delivery(&mut score, &a, 1, t0);

    // a: 1 delivery of 4 when pruned: P3b = 3² = 9, × -2. P3 no longer applies.
    score.prune(&a, &topic(), t0 + secs(2));
    assert_eq!(score.score(&a, t0 + secs(3)), -18.0);
    score.refresh(t0 + secs(3));
    assert_eq!(score.score(&a, t0 + secs(3)), -9.0, "decays");

    // b: pruned before activation, no penalty.
    score.prune(&b, &topic(), t0 + ms(500));
    assert_eq!(score.score(&b, t0 + secs(3)), 0.0);

    // c: disconnected in the mesh with a deficit of 4: P3b = 16, × -2, retained.
    score.remove_peer(&c, t0 + secs(2));
    assert_eq!(score.score(&c, t0 + secs(3)), -32.0);
}

#[test]
fn p4_squares_rejections_not_ignores_and_every_copy_of_an_invalid_message_costs() {
    let t0 = Instant::now();
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    let params = scoring(TopicScoreParams {
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.5,
        ..silent_topic()
    });
    let mut score = connected(params, &[a, b, c], t0);

    rejected(&mut score, &a, 1, RejectReason::ValidationFailed, t0);
    score.reject_message(&a, &id(2), &topic(), RejectReason::InvalidSignature, t0);
    rejected(&mut score, &a, 3, RejectReason::ValidationIgnored, t0);
    score.reject_message(&a, &id(4), &topic(), RejectReason::Oversize, t0);
    assert_eq!(
        score.score(&a, t0),
        -9.0,
        "3 rejections, the ignored one free"
    );

    // b forwards the rejected message twice (2), the ignored one (free), and the one
    // with a bad signature (its id may be forged: not remembered as invalid).
    score.duplicate_message(&b, &id(1), &topic(), t0);
    score.duplicate_message(&b, &id(3), &topic(), t0);
    score.duplicate_message(&b, &id(2), &topic(), t0);
    score.duplicate_message(&b, &id(1), &topic(), t0);
    assert_eq!(score.score(&b, t0), -4.0);

    // c's copy arrived during validation: penalised with the verdict. Then c sends one
    // the router knows to be invalid.
    score.validate_message(&a, &id(5), &topic(), t0);
    score.duplicate_message(&c, &id(5), &topic(), t0);
    score.reject_message(&a, &id(5), &topic(), RejectReason::ValidationFailed, t0);
    score.reject_message(&c, &id(6), &topic(), RejectReason::KnownInvalid, t0);
    assert_eq!(score.score(&c, t0), -4.0);
    assert_eq!(score.score(&a, t0), -16.0);

    score.refresh(t0 + secs(1));
    assert_eq!(score.score(&a, t0), -4.0, "4 decays to 2");
    assert_eq!(score.score(&b, t0), -1.0);
    assert_eq!(score.score(&c, t0), -1.0);
}

#[test]
fn p5_is_the_application_score_times_its_weight() {
    let t0 = Instant::now();
    let (a, stranger) = (PeerId::random(), PeerId::random());
    let params = PeerScoreParams {
        app_specific_weight: 2.0,
        ..scoring(silent_topic())
    };
    let mut score = connected(params, &[a], t0);
    score.set_app_score(&a, 3.5);
    assert_eq!(score.score(&a, t0), 7.0);
    score.set_app_score(&a, -4.0);
    assert_eq!(score.score(&a, t0), -8.0);
    score.set_app_score(&a, f64::NAN);
    assert_eq!(score.score(&a, t0), 0.0);
    // Untracked peers are not scored, nor remembered.
    score.set_app_score(&stranger, 5.0);
    assert_eq!(score.score(&stranger, t0), 0.0);
    assert!(!score.peers.contains_key(&stranger));
}

#[test]
fn p6_penalises_peers_beyond_the_threshold_on_one_ip_but_not_whitelisted_ones() {
    let t0 = Instant::now();
    let shared = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
    let alone = IpAddr::V4(Ipv4Addr::new(5, 6, 7, 8));
    let params = PeerScoreParams {
        ip_colocation_factor_weight: -1.0,
        ip_colocation_factor_threshold: 1.0,
        ..scoring(silent_topic())
    };
    let [a, b, c, d, e] = [(); 5].map(|()| PeerId::random());
    let mut score = PeerScore::new(params.clone());
    for peer in [a, b, c] {
        score.add_peer(peer, Some(shared), t0);
    }
    score.add_peer(d, Some(alone), t0);
    score.add_peer(e, None, t0);
    for peer in [a, b, c] {
        assert_eq!(score.score(&peer, t0), -4.0, "(3 - 1)²");
    }
    assert_eq!(score.score(&d, t0), 0.0);
    assert_eq!(score.score(&e, t0), 0.0);
    // Only connected peers count.
    score.remove_peer(&c, t0);
    assert_eq!(score.score(&a, t0), -1.0, "(2 - 1)²");
    assert_eq!(score.score(&c, t0), 0.0);
    // An IPv4-mapped IPv6 address is its IPv4 address.
    score.add_peer(
        c,
        Some(IpAddr::V6(Ipv4Addr::new(5, 6, 7, 8).to_ipv6_mapped())),
        t0,
    );
    assert_eq!(score.score(&d, t0), -1.0);

    let mut whitelisted = PeerScore::new(PeerScoreParams {
        ip_colocation_factor_whitelist: vec![shared],
        ..params.clone()
    });
    for peer in [a, b, c] {
        whitelisted.add_peer(peer, Some(shared), t0);
    }
    for peer in [a, b, c] {
        assert_eq!(whitelisted.score(&peer, t0), 0.0);
    }

    // IPv6: one /64 is one host's.
    let mut v6 = PeerScore::new(params);
    let addr =
        |last: u16, net: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, net, 0, 0, 0, last));
    v6.add_peer(a, Some(addr(1, 0)), t0);
    v6.add_peer(b, Some(addr(2, 0)), t0);
    v6.add_peer(c, Some(addr(1, 1)), t0);
    assert_eq!(v6.score(&a, t0), -1.0, "two peers in 2001:db8::/64");
    assert_eq!(v6.score(&b, t0), -1.0);
    assert_eq!(v6.score(&c, t0), 0.0);
}

#[test]
fn p7_squares_the_penalty_beyond_the_threshold_and_decays() {
    let t0 = Instant::now();
    let a = PeerId::random();
    let params = PeerScoreParams {
        behaviour_penalty_weight: -1.0,
        behaviour_penalty_threshold: 2.0,
        behaviour_penalty_decay: 0.5,
        decay_to_zero: 0.1,
        ..scoring(silent_topic())
    };
    let mut score = connected(params, &[a], t0);
    score.add_penalty(&a, 1);
    assert_eq!(score.score(&a, t0), 0.0, "within the threshold");
    score.add_penalty(&a, 4);
    assert_eq!(score.score(&a, t0), -9.0, "5 - 2 = 3, squared");
    score.refresh(t0 + secs(1));
    assert_eq!(score.score(&a, t0), -0.25, "2.5 - 2 = 0.5, squared");
    score.refresh(t0 + secs(2));
    assert_eq!(score.score(&a, t0), 0.0, "1.25: within the threshold");
}

#[test]
fn topic_score_cap_caps_only_the_positive_sum_of_topics() {
    let t0 = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    let other = TopicHash::from_raw("other");
    let topic_params = TopicScoreParams {
        first_message_deliveries_weight: 1.0,
        invalid_message_deliveries_weight: -1.0,
        ..silent_topic()
    };
    let mut params = PeerScoreParams {
        topic_score_cap: 5.0,
        app_specific_weight: 1.0,
        ..scoring(topic_params.clone())
    };
    params.topics.insert(other.clone(), topic_params);
    let mut score = connected(params, &[a, b], t0);

    // 3 first deliveries in each topic: 6, capped to 5; P5 is outside the cap.
    for n in 0..3 {
        first_delivery(&mut score, &a, n, t0);
        score.validate_message(&a, &id(100 + n), &other, t0);
        score.deliver_message(&a, &id(100 + n), &other, t0);
    }
    assert_eq!(score.score(&a, t0), 5.0);
    score.set_app_score(&a, 10.0);
    assert_eq!(score.score(&a, t0), 15.0);

    // Negative sums are not capped.
    for n in 10..14 {
        score.reject_message(&b, &id(n), &topic(), RejectReason::InvalidSignature, t0);
    }
    assert_eq!(score.score(&b, t0), -16.0);
}

#[test]
fn counters_below_decay_to_zero_become_zero() {
    let t0 = Instant::now();
    let a = PeerId::random();
    let params = PeerScoreParams {
        decay_to_zero: 0.3,
        ..scoring(TopicScoreParams {
            first_message_deliveries_weight: 1.0,
            first_message_deliveries_decay: 0.5,
            ..silent_topic()
        })
    };
    let mut score = connected(params, &[a], t0);
    first_delivery(&mut score, &a, 1, t0);
    score.refresh(t0);
    assert_eq!(score.score(&a, t0), 0.5);
    score.refresh(t0);
    assert_eq!(score.score(&a, t0), 0.0, "0.25 is below 0.3");
    assert_eq!(
        score.peers[&a].topics[&topic()].first_message_deliveries,
        0.0
    );
}

#[test]
fn a_removed_peer_keeps_its_score_for_retain_score_then_is_forgotten() {
    let t0 = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    let params = PeerScoreParams {
        retain_score: secs(10),
        ..scoring(TopicScoreParams {
            invalid_message_deliveries_weight: -1.0,
            invalid_message_deliveries_decay: 0.5,
            ..silent_topic()
        })
    };
    let mut score = connected(params, &[a, b], t0);
    for peer in [a, a, b] {
        score.reject_message(&peer, &id(0), &topic(), RejectReason::InvalidSignature, t0);
    }
    assert_eq!(score.score(&a, t0), -4.0);

    score.remove_peer(&a, t0);
    assert_eq!(score.score(&a, t0), -4.0);
    score.refresh(t0 + secs(5));
    assert_eq!(score.score(&a, t0), -4.0, "no decay while away");
    // Reconnecting does not reset it.
    score.add_peer(a, None, t0 + secs(6));
    assert_eq!(score.score(&a, t0), -4.0);
    score.refresh(t0 + secs(7));
    assert_eq!(score.score(&a, t0), -1.0, "decays again once back");

    score.remove_peer(&a, t0 + secs(8));
    score.refresh(t0 + secs(17));
    assert_eq!(score.score(&a, t0), -1.0);
    score.refresh(t0 + secs(18));
    assert!(
        !score.peers.contains_key(&a),
        "forgotten after retain_score"
    );
    score.add_peer(a, None, t0 + secs(18));
    assert_eq!(score.score(&a, t0), 0.0);

    // Retention over but not yet swept by refresh: a fresh start too.
    score.remove_peer(&b, t0);
    score.add_peer(b, None, t0 + secs(11));
    assert_eq!(score.score(&b, t0), 0.0);
    assert_eq!(score.retained, 0);
}

#[test]
fn a_peer_with_nothing_to_remember_is_not_retained() {
    let t0 = Instant::now();
    let a = PeerId::random();
    let mut score = connected(scoring(silent_topic()), &[a], t0);
    score.remove_peer(&a, t0);
    assert!(score.peers.is_empty());
    assert_eq!(score.retained, 0);
}

#[test]
fn retained_peers_are_bounded_and_the_best_scores_forgotten_first() {
    let t0 = Instant::now();
    let params = PeerScoreParams {
        retain_score: secs(3600),
        app_specific_weight: 1.0,
        ..scoring(TopicScoreParams {
            invalid_message_deliveries_weight: -1.0,
            ..silent_topic()
        })
    };
    let mut score = PeerScore::new(params);
    let (worst, best) = (PeerId::random(), PeerId::random());
    score.add_peer(worst, None, t0);
    for _ in 0..10 {
        score.reject_message(&worst, &id(0), &topic(), RejectReason::Oversize, t0);
    }
    score.add_peer(best, None, t0);
    score.set_app_score(&best, 5.0);
    score.remove_peer(&worst, t0);
    score.remove_peer(&best, t0);
    for _ in 0..MAX_RETAINED_PEERS {
        let peer = PeerId::random();
        score.add_peer(peer, None, t0);
        score.reject_message(&peer, &id(0), &topic(), RejectReason::Oversize, t0);
        score.remove_peer(&peer, t0);
    }
    assert!(score.retained <= MAX_RETAINED_PEERS);
    assert_eq!(score.peers.len(), score.retained);
    assert_eq!(score.score(&worst, t0), -100.0, "the worst is kept");
    assert!(!score.peers.contains_key(&best), "the best went first");
}

#[test]
fn delivery_records_are_bounded_under_a_flood_of_distinct_ids() {
    let t0 = Instant::now();
    let a = PeerId::random();
    let params = scoring(TopicScoreParams {
        first_message_deliveries_weight: 1.0,
        ..silent_topic()
    });
    let mut score = connected(params, &[a], t0);
    let flood = MAX_DELIVERY_RECORDS + 1000;
    for n in 0..flood {
        score.validate_message(&a, &id(n), &topic(), t0);
    }
    assert_eq!(score.deliveries.len(), MAX_DELIVERY_RECORDS);
    assert!(
        score.deliveries.get_mut(&id(999)).is_none(),
        "oldest dropped"
    );
    assert!(score.deliveries.get_mut(&id(flood - 1)).is_some());

    // Time expires them too: a minute later, one more; at the TTL only it remains.
    first_delivery(&mut score, &a, flood, t0 + secs(60));
    score.refresh(t0 + DELIVERY_RECORD_TTL);
    assert_eq!(score.deliveries.len(), 1);
    score.refresh(t0 + secs(60) + DELIVERY_RECORD_TTL);
    assert_eq!(score.deliveries.len(), 0);
}

#[test]
fn topics_without_parameters_count_nothing_and_keep_nothing() {
    let t0 = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    let unscored = TopicHash::from_raw("unscored");
    let params = scoring(TopicScoreParams {
        time_in_mesh_weight: 1.0,
        first_message_deliveries_weight: 1.0,
        mesh_message_deliveries_weight: -1.0,
        invalid_message_deliveries_weight: -1.0,
        ..silent_topic()
    });
    let mut score = connected(params, &[a, b], t0);
    score.graft(&a, &unscored, t0);
    score.validate_message(&a, &id(1), &unscored, t0);
    score.deliver_message(&a, &id(1), &unscored, t0);
    score.duplicate_message(&b, &id(1), &unscored, t0);
    score.reject_message(&b, &id(2), &unscored, RejectReason::ValidationFailed, t0);
    score.reject_message(&b, &id(3), &unscored, RejectReason::InvalidSignature, t0);
    score.prune(&a, &unscored, t0 + secs(10));
    assert_eq!(score.score(&a, t0 + secs(10)), 0.0);
    assert_eq!(score.score(&b, t0 + secs(10)), 0.0);
    assert!(score.peers.values().all(|stats| stats.topics.is_empty()));
    assert_eq!(score.deliveries.len(), 0);
}

#[test]
fn scores_are_never_nan() {
    let t0 = Instant::now();
    let a = PeerId::random();
    // Everything the validation refuses, at once.
    let params = PeerScoreParams {
        app_specific_weight: f64::INFINITY,
        behaviour_penalty_weight: f64::NAN,
        behaviour_penalty_decay: f64::NAN,
        decay_to_zero: f64::NAN,
        topic_score_cap: f64::NAN,
        ..scoring(TopicScoreParams {
            topic_weight: f64::INFINITY,
            time_in_mesh_weight: f64::INFINITY,
            time_in_mesh_quantum: Duration::ZERO,
            time_in_mesh_cap: f64::NAN,
            invalid_message_deliveries_weight: f64::NEG_INFINITY,
            invalid_message_deliveries_decay: f64::NAN,
            ..silent_topic()
        })
    };
    let mut score = connected(params, &[a], t0);
    score.graft(&a, &topic(), t0);
    score.reject_message(&a, &id(1), &topic(), RejectReason::Oversize, t0);
    score.set_app_score(&a, f64::NEG_INFINITY);
    score.add_penalty(&a, 3);
    assert!(!score.score(&a, t0 + secs(1)).is_nan());
    score.refresh(t0 + secs(1));
    assert!(!score.score(&a, t0 + secs(2)).is_nan());
}

/// A way to spoil one field of a `T`, and the field's name.
type Spoil<T> = (fn(&mut T), &'static str);

/// The error's `(topic, param)`.
fn fault(result: Result<(), ScoreParamsError>) -> (Option<String>, &'static str) {
    let e = result.expect_err("invalid parameters accepted");
    (e.topic.map(|t| t.to_string()), e.param)
}

#[test]
fn validation_accepts_the_defaults_and_rejects_what_the_spec_forbids() {
    let mut defaults = PeerScoreParams::default();
    defaults.topics.insert(topic(), TopicScoreParams::default());
    defaults.validate().unwrap();
    PeerScoreThresholds::default().validate().unwrap();

    let topic_cases: [Spoil<TopicScoreParams>; 8] = [
        (|p| p.topic_weight = -1.0, "topic_weight"),
        (
            |p| p.time_in_mesh_quantum = Duration::ZERO,
            "time_in_mesh_quantum",
        ),
        (
            |p| p.first_message_deliveries_decay = 1.0,
            "first_message_deliveries_decay",
        ),
        (
            |p| p.mesh_message_deliveries_weight = 1.0,
            "mesh_message_deliveries_weight",
        ),
        (
            |p| p.mesh_message_deliveries_cap = 19.0,
            "mesh_message_deliveries_cap",
        ),
        (
            |p| p.mesh_failure_penalty_weight = 0.5,
            "mesh_failure_penalty_weight",
        ),
        (
            |p| p.invalid_message_deliveries_weight = f64::NAN,
            "invalid_message_deliveries_weight",
        ),
        (
            |p| p.invalid_message_deliveries_decay = 0.0,
            "invalid_message_deliveries_decay",
        ),
    ];
    for (spoil, param) in topic_cases {
        let mut params = defaults.clone();
        spoil(params.topics.get_mut(&topic()).unwrap());
        assert_eq!(
            fault(params.validate()),
            (Some("scored".to_string()), param)
        );
    }

    let global_cases: [Spoil<PeerScoreParams>; 8] = [
        (|p| p.topic_score_cap = -1.0, "topic_score_cap"),
        (|p| p.app_specific_weight = -1.0, "app_specific_weight"),
        (
            |p| p.ip_colocation_factor_weight = 1.0,
            "ip_colocation_factor_weight",
        ),
        (
            |p| p.ip_colocation_factor_threshold = 0.5,
            "ip_colocation_factor_threshold",
        ),
        (
            |p| p.behaviour_penalty_weight = f64::INFINITY,
            "behaviour_penalty_weight",
        ),
        (
            |p| p.behaviour_penalty_decay = 1.5,
            "behaviour_penalty_decay",
        ),
        (|p| p.decay_interval = Duration::ZERO, "decay_interval"),
        (|p| p.decay_to_zero = 0.0, "decay_to_zero"),
    ];
    for (spoil, param) in global_cases {
        let mut params = defaults.clone();
        spoil(&mut params);
        assert_eq!(fault(params.validate()), (None, param));
    }

    // A term turned off is not checked further.
    let mut off = defaults.clone();
    let topic_params = off.topics.get_mut(&topic()).unwrap();
    topic_params.first_message_deliveries_weight = 0.0;
    topic_params.first_message_deliveries_decay = 7.0;
    off.validate().unwrap();

    let threshold_cases: [Spoil<PeerScoreThresholds>; 6] = [
        (|t| t.gossip_threshold = 1.0, "gossip_threshold"),
        (|t| t.gossip_threshold = f64::NAN, "gossip_threshold"),
        (|t| t.publish_threshold = -5.0, "publish_threshold"),
        (|t| t.graylist_threshold = -20.0, "graylist_threshold"),
        (|t| t.accept_px_threshold = -1.0, "accept_px_threshold"),
        (
            |t| t.opportunistic_graft_threshold = -1.0,
            "opportunistic_graft_threshold",
        ),
    ];
    for (spoil, param) in threshold_cases {
        let mut thresholds = PeerScoreThresholds::default();
        spoil(&mut thresholds);
        assert_eq!(fault(thresholds.validate()), (None, param));
    }
    // Equal thresholds are allowed.
    PeerScoreThresholds {
        gossip_threshold: 0.0,
        publish_threshold: 0.0,
        graylist_threshold: 0.0,
        accept_px_threshold: 0.0,
        opportunistic_graft_threshold: 0.0,
    }
    .validate()
    .unwrap();

    let mut spoilt = defaults;
    spoilt
        .topics
        .get_mut(&topic())
        .unwrap()
        .mesh_message_deliveries_weight = 1.0;
    assert_eq!(
        spoilt.validate().unwrap_err().to_string(),
        "invalid peer score parameter mesh_message_deliveries_weight of topic scored: \
         must be a finite number <= 0"
    );
}
