//! `mycel`: run a libp2p node, or pair with another implementation's node.
//!
//! - `mycel node [--listen ADDR]... [--bootstrap ADDR]...`: a long-running node, serving
//!   the Kademlia DHT.
//! - `mycel listen [--muxer yamux|mplex] [--kad]`: serve ping, identify and perf (and
//!   with `--kad` the DHT) on 127.0.0.1 for a test peer; the first stdout line is
//!   `LISTEN <multiaddr>/p2p/<peer-id>`, then `IDENTIFY <peer-id> <agent-version>` for
//!   each identify received.
//! - `mycel dial <multiaddr>/p2p/<id> [--kad-put KEY=VALUE] [--kad-get KEY]`: connect,
//!   ping once, optionally store and fetch a DHT record at the peer, print one JSON line.
//! - `listen` and `dial` with `--pubsub floodsub|gossipsub --topic T [--publish MSG]`
//!   also run a pubsub router on T: the listener prints `MSG <topic> <data>` for each
//!   message and publishes MSG (once a peer is subscribed, every second, 10 times); the
//!   dialer waits until the peer is subscribed (and in its gossipsub mesh), publishes
//!   MSG, waits for `--wait-msgs N` messages and adds `"received":[...]` to its JSON.
//! - `mycel perf <multiaddr>/p2p/<id> --upload-bytes N --download-bytes M`: one perf run,
//!   one JSON line.
//! - `mycel devp2p-listen [--listen-ip IP]` and `mycel devp2p-dial <enode>`: an RLPx
//!   node with the `test/1` echo capability, and a client that checks one (one JSON
//!   line).
//! - `mycel interop`: the libp2p test-plans transport-interop binary, configured by
//!   environment variables (see `interop.rs`).
//!
//! Exit status: 0 success, 1 failure (the JSON line says why), 2 bad usage.

mod args;
mod commands;
mod json;
mod node;
mod output;
mod pubsub;

use std::{
    io::{IsTerminal, Write},
    process,
    time::Duration,
};

use clap::{Parser, error::ErrorKind};
use mycel::perf;

use crate::args::{Cli, Command, DialOps, KadOps};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                process::exit(0);
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                process::exit(2);
            }
            _ => {
                eprintln!("mycel: {}", one_line(&e.to_string()));
                process::exit(2);
            }
        },
    };
    init_logging(matches!(cli.command, Command::Node { .. }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mycel: cannot start the runtime: {e}");
            process::exit(1);
        }
    };
    let code = runtime.block_on(run(cli.command));
    let _ = std::io::stdout().flush();
    // Exit without waiting for the runtime: a blocking read of stdin may still be running.
    process::exit(code);
}

/// clap's message up to its usage hint, on one line.
fn one_line(text: &str) -> String {
    let message = text.split("\n\n").next().unwrap_or(text);
    let words: Vec<&str> = message.split_whitespace().collect();
    words.join(" ").trim_start_matches("error: ").to_string()
}

fn init_logging(node: bool) {
    let default = if node { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn run(command: Command) -> i32 {
    match command {
        Command::Interop => match commands::interop::Settings::from_vars(|k| std::env::var(k).ok())
        {
            Ok(settings) => commands::interop::run(settings).await,
            Err(e) => {
                eprintln!("mycel interop: {e}");
                2
            }
        },
        Command::Node { listen, bootstrap } => commands::node::run(listen, bootstrap).await,
        Command::Devp2pListen { listen_ip } => commands::devp2p::listen(listen_ip).await,
        Command::Devp2pDial { enode, timeout_s } => {
            commands::devp2p::dial(enode, Duration::from_secs_f64(timeout_s)).await
        }
        Command::Listen {
            muxer,
            kad,
            key_type,
            pubsub,
        } => commands::listen::run(muxer.into(), kad, key_type, pubsub).await,
        Command::Dial {
            addr,
            muxer,
            kad_put,
            kad_get,
            pubsub,
            wait_msgs,
            timeout_s,
            key_type,
        } => {
            let ops = DialOps {
                kad: KadOps {
                    put: kad_put,
                    get: kad_get,
                },
                pubsub,
                wait_msgs,
            };
            commands::dial::run(
                addr,
                muxer.into(),
                key_type,
                ops,
                Duration::from_secs_f64(timeout_s),
            )
            .await
        }
        Command::Perf {
            addr,
            upload_bytes,
            download_bytes,
            muxer,
            timeout_s,
            key_type,
        } => {
            let params = perf::RunParams {
                upload_bytes,
                download_bytes,
            };
            commands::perf::run(
                addr,
                params,
                muxer.into(),
                key_type,
                Duration::from_secs_f64(timeout_s),
            )
            .await
        }
    }
}
