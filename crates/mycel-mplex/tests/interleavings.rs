//! Random interleavings of open, write, close and reset on both sides: every stream
//! delivers its bytes in order; a reset stream delivers what was sent before the reset,
//! then an error.

use std::sync::Arc;

use mycel_core::Role;
use mycel_mplex::{Config, Connection};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
struct Plan {
    from_client: bool,
    len: usize,
    chunk: usize,
    /// Reset after this many bytes instead of closing.
    reset_at: Option<usize>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<bool>(),
        0usize..300_000,
        1usize..70_000,
        proptest::option::of(0usize..300_000),
    )
        .prop_map(|(from_client, len, chunk, reset)| Plan {
            from_client,
            len,
            chunk,
            reset_at: reset.map(|r| r.min(len)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_stream_delivers_in_order(plans in proptest::collection::vec(plan(), 1..10)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let client = Arc::new(Connection::new(Box::new(a), Role::Initiator, Config::default()));
            let server = Arc::new(Connection::new(Box::new(b), Role::Responder, Config::default()));
            let mut tasks = Vec::new();
            for (i, plan) in plans.into_iter().enumerate() {
                let (opener, acceptor) = if plan.from_client {
                    (client.clone(), server.clone())
                } else {
                    (server.clone(), client.clone())
                };
                let data: Vec<u8> = (0..plan.len).map(|b| (b * 13 + i) as u8).collect();
                let mut out = opener.open_stream().await.unwrap();
                // The first byte tells the acceptor which plan this stream follows.
                out.write_all(&[i as u8]).await.unwrap();
                out.flush().await.unwrap();
                let mut inbound = acceptor.accept_stream().await.unwrap();
                let mut tag = [0u8; 1];
                inbound.read_exact(&mut tag).await.unwrap();
                assert_eq!(tag[0], i as u8);
                let sent = data.clone();
                tasks.push(tokio::spawn(async move {
                    let limit = plan.reset_at.unwrap_or(plan.len);
                    for chunk in sent[..limit].chunks(plan.chunk) {
                        out.write_all(chunk).await.unwrap();
                    }
                    if plan.reset_at.is_some() {
                        out.flush().await.unwrap();
                        drop(out); // reset
                    } else {
                        out.shutdown().await.unwrap();
                    }
                }));
                tasks.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    let result = inbound.read_to_end(&mut got).await;
                    match plan.reset_at {
                        None => {
                            result.unwrap();
                            assert!(got == data, "stream {i}: {} of {} bytes", got.len(), data.len());
                        }
                        Some(at) => {
                            assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
                            assert!(got == data[..at], "stream {i}: prefix of {} bytes, got {}", at, got.len());
                        }
                    }
                }));
            }
            for t in tasks {
                tokio::time::timeout(std::time::Duration::from_secs(20), t).await.unwrap().unwrap();
            }
        });
    }
}
