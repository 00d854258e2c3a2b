//! A small Kademlia network in the simulator: the properties the 10,000-node run
//! reports, asserted at a size CI can afford.

use std::time::Duration;

use mycel_sim::kad::{KadSim, KadSimConfig};

fn small(seed: u64) -> KadSimConfig {
    KadSimConfig {
        seed,
        nodes: 300,
        lookups: 60,
        records: 60,
        join_interval: Duration::from_millis(20),
        ..KadSimConfig::default()
    }
}

#[test]
fn lookups_puts_and_gets_succeed_and_survive_churn() {
    let report = KadSim::new(small(7)).run();
    assert!(
        report.mean_table_size > 60.0,
        "tables fill: {}",
        report.mean_table_size
    );
    assert_eq!(report.lookups.success_rate(), 1.0, "{:?}", report.lookups);
    assert!(
        report.lookup_recall > 0.95,
        "recall {}",
        report.lookup_recall
    );
    assert!(report.lookups.hops.p50 <= 4.0, "{:?}", report.lookups.hops);
    assert_eq!(report.puts.success_rate(), 1.0);
    assert_eq!(report.gets.success_rate(), 1.0);
    assert!(
        report.gets_after_churn.success_rate() >= 0.99,
        "{:?}",
        report.gets_after_churn
    );
    // A get that stops at its first record costs a fraction of one run to the end.
    assert!(
        report.gets.messages.mean * 2.0 < report.gets_to_completion.messages.mean,
        "{} vs {}",
        report.gets.messages.mean,
        report.gets_to_completion.messages.mean
    );
}

fn tiny(seed: u64) -> KadSimConfig {
    KadSimConfig {
        nodes: 120,
        lookups: 20,
        records: 20,
        ..small(seed)
    }
}

#[test]
fn a_seed_repeats_a_run_exactly() {
    let a = KadSim::new(tiny(3)).run();
    let b = KadSim::new(tiny(3)).run();
    assert_eq!(a.total_requests, b.total_requests);
    assert_eq!(a.total_bytes, b.total_bytes);
    assert_eq!(a.lookups, b.lookups);
    assert_eq!(a.gets_after_churn, b.gets_after_churn);
    let c = KadSim::new(tiny(4)).run();
    assert_ne!(a.total_bytes, c.total_bytes, "another seed, another run");
}
