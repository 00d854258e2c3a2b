//! Runs the Kademlia simulation and prints what it measured.
//!
//! `cargo run --release -p mycel-sim --bin kad-sim -- --nodes 10000 --seed 1`

use std::time::{Duration, Instant};

use clap::Parser;
use mycel_sim::kad::{KadSim, KadSimConfig, QueryReport};

/// Simulate a Kademlia network of mycel-kad nodes on a virtual clock.
#[derive(Debug, Parser)]
struct Args {
    /// Nodes in the network.
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Random lookups to measure.
    #[arg(long, default_value_t = 1_000)]
    lookups: usize,
    /// Put/get pairs to measure.
    #[arg(long, default_value_t = 1_000)]
    records: usize,
    /// Fraction of nodes that leave without warning before the last gets.
    #[arg(long, default_value_t = 0.10)]
    churn: f64,
    /// Requests in flight per lookup.
    #[arg(long, default_value_t = 3)]
    alpha: usize,
}

fn line(name: &str, r: &QueryReport) {
    println!(
        "{name:<24} {:>5}/{:<5} ({:>6.2}%)  hops {}  msgs {}  ms {}",
        r.succeeded,
        r.count,
        r.success_rate() * 100.0,
        r.hops,
        r.messages,
        r.millis
    );
}

fn main() {
    let args = Args::parse();
    let mut config = KadSimConfig {
        seed: args.seed,
        nodes: args.nodes,
        lookups: args.lookups,
        records: args.records,
        churn: args.churn,
        progress: true,
        ..KadSimConfig::default()
    };
    config.lookup.alpha = args.alpha.max(1);
    config.join_interval = Duration::from_millis(20);
    let started = Instant::now();
    let report = KadSim::new(config).run();
    println!(
        "kad-sim: {} nodes, seed {}, alpha {}, k 20, churn {:.0}%",
        report.nodes,
        args.seed,
        args.alpha,
        args.churn * 100.0
    );
    println!("mean routing table size  {:.1}", report.mean_table_size);
    line("lookups", &report.lookups);
    println!(
        "lookup recall of true k closest  {:.2}%",
        report.lookup_recall * 100.0
    );
    line("puts", &report.puts);
    line("gets", &report.gets);
    line("gets (run to k closest)", &report.gets_to_completion);
    line("gets after churn", &report.gets_after_churn);
    println!(
        "total requests {}  bytes {}  virtual time {:.1} s  wall time {:.1} s",
        report.total_requests,
        report.total_bytes,
        report.virtual_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
