//! Runs the pubsub simulation and prints what it measured.
//!
//! `cargo run --release -p mycel-sim --bin pubsub-sim -- --router gossipsub --nodes 1000 --seed 1`

use std::time::Instant;

use clap::{Parser, ValueEnum};
use mycel_sim::pubsub::{Adversary, PubsubSim, PubsubSimConfig, RouterKind};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RouterArg {
    Floodsub,
    Gossipsub,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AdversaryArg {
    Drop,
    Spam,
}

/// Simulate a pubsub network of mycel-pubsub routers on a virtual clock.
#[derive(Debug, Parser)]
struct Args {
    /// The router every node runs.
    #[arg(long, value_enum, default_value_t = RouterArg::Gossipsub)]
    router: RouterArg,
    /// Turn gossipsub's peer scoring off.
    #[arg(long)]
    no_scoring: bool,
    /// Nodes in the network.
    #[arg(long, default_value_t = 1_000)]
    nodes: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Messages published by random honest nodes.
    #[arg(long, default_value_t = 1_000)]
    messages: usize,
    /// Fraction of adversarial nodes.
    #[arg(long, default_value_t = 0.0)]
    adversarial: f64,
    /// What adversarial nodes do.
    #[arg(long, value_enum, default_value_t = AdversaryArg::Drop)]
    adversary: AdversaryArg,
}

fn main() {
    let args = Args::parse();
    let router = match args.router {
        RouterArg::Floodsub => RouterKind::Floodsub,
        RouterArg::Gossipsub => RouterKind::Gossipsub {
            scoring: !args.no_scoring,
        },
    };
    let config = PubsubSimConfig {
        seed: args.seed,
        nodes: args.nodes,
        messages: args.messages,
        router,
        adversarial: args.adversarial,
        adversary: match args.adversary {
            AdversaryArg::Drop => Adversary::Drop,
            AdversaryArg::Spam => Adversary::DropAndSpam,
        },
        ..PubsubSimConfig::default()
    };
    let started = Instant::now();
    let r = PubsubSim::new(config).run();
    println!(
        "pubsub-sim: {:?}, {} nodes ({} honest), mean degree {:.1}, seed {}",
        router, r.nodes, r.honest, r.mean_degree, args.seed
    );
    println!(
        "messages {}  delivery {:.3}% (worst message {:.3}%)",
        r.messages,
        r.delivery_ratio * 100.0,
        r.min_delivery_ratio * 100.0
    );
    println!("hops  {}", r.hops);
    println!("ms    {}", r.millis);
    println!(
        "duplicates per message per node {:.2}  invalid delivered {}  mean mesh {:.1} ({:.1}% adversarial)",
        r.duplicates_per_node_message,
        r.invalid_delivered,
        r.mean_mesh,
        r.adversarial_mesh_share * 100.0
    );
    println!(
        "rpcs {}  bytes {}  virtual time {:.1} s  wall time {:.1} s",
        r.rpcs,
        r.bytes,
        r.virtual_secs,
        started.elapsed().as_secs_f64()
    );
}
