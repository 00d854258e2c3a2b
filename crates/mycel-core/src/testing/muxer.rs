//! One compliance suite every stream muxer runs (yamux and mplex each call every
//! function from a test of their own): what a stream promises whatever the muxer
//! underneath. Each function builds two sessions of `muxer` over an in-memory pipe and
//! panics on a broken promise.

use std::{sync::Arc, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{MuxedConnection, MuxerError, MuxerUpgrade, Role};

/// How long any one step may take before the suite calls it stuck.
const STEP: Duration = Duration::from_secs(20);

/// Two sessions of `muxer` over an in-memory pipe: (dialer, listener).
pub fn pair(muxer: &dyn MuxerUpgrade) -> (Arc<dyn MuxedConnection>, Arc<dyn MuxedConnection>) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    (
        Arc::from(muxer.upgrade(Box::new(a), Role::Initiator)),
        Arc::from(muxer.upgrade(Box::new(b), Role::Responder)),
    )
}

async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("stuck: {what}"))
}

/// Closing our side flushes what we wrote: the remote reads all of it, then the end.
pub async fn close_implies_flush(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut c = client.open_stream().await.unwrap();
    c.write_all(&data).await.unwrap();
    c.shutdown().await.unwrap();
    let mut s = step("accept", server.accept_stream()).await.unwrap();
    let mut got = Vec::new();
    step("read to the end", s.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, data);
}

/// After closing our side we still read what the remote sends, and it still reads what
/// we sent: a half-close ends one direction only.
pub async fn half_close_keeps_the_other_direction_open(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let mut c = client.open_stream().await.unwrap();
    c.write_all(b"request").await.unwrap();
    c.shutdown().await.unwrap();
    assert!(
        c.write_all(b"more").await.is_err(),
        "no writing after our close"
    );
    let mut s = step("accept", server.accept_stream()).await.unwrap();
    let mut req = Vec::new();
    step("read the request", s.read_to_end(&mut req))
        .await
        .unwrap();
    assert_eq!(req, b"request");
    s.write_all(b"response").await.unwrap();
    s.shutdown().await.unwrap();
    let mut resp = Vec::new();
    step("read after close", c.read_to_end(&mut resp))
        .await
        .unwrap();
    assert_eq!(resp, b"response");
}

/// 64 streams opened from both sides at once, each echoing up to 300 KB: every byte
/// comes back on its own stream, in order.
pub async fn many_streams_both_ways_at_once(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let mut echoes = tokio::task::JoinSet::new();
    for conn in [client.clone(), server.clone()] {
        echoes.spawn(async move {
            while let Ok(mut s) = conn.accept_stream().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    if s.read_to_end(&mut buf).await.is_ok() {
                        let _ = s.write_all(&buf).await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64usize {
        let conn = if i % 2 == 0 {
            client.clone()
        } else {
            server.clone()
        };
        tasks.spawn(async move {
            let data: Vec<u8> = (0..(i * 7919 % 300_000)).map(|b| (b * i) as u8).collect();
            let mut s = conn.open_stream().await.unwrap();
            let (mut r, mut w) = tokio::io::split(&mut s);
            let send = async {
                w.write_all(&data).await.unwrap();
                w.shutdown().await.unwrap();
            };
            let recv = async {
                let mut back = Vec::new();
                r.read_to_end(&mut back).await.unwrap();
                back
            };
            let ((), back) = tokio::join!(send, recv);
            assert!(back == data, "stream {i} came back different");
        });
    }
    while let Some(done) = step("64 streams", tasks.join_next()).await {
        done.unwrap();
    }
    echoes.abort_all();
}

/// A stream whose reader never reads does not stop another stream of the session
/// (a window holds its writer back, or its data is dropped and it is reset).
pub async fn an_unread_stream_does_not_stop_another(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let mut slow = client.open_stream().await.unwrap();
    slow.write_all(b"s").await.unwrap();
    slow.flush().await.unwrap();
    let _slow_in = step("accept the slow one", server.accept_stream())
        .await
        .unwrap();
    let flood = tokio::spawn(async move {
        let chunk = vec![1u8; 64 * 1024];
        for _ in 0..128 {
            if slow.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut fast = client.open_stream().await.unwrap();
    fast.write_all(b"ping").await.unwrap();
    fast.flush().await.unwrap();
    let mut fast_in = step("accept the fast one", server.accept_stream())
        .await
        .unwrap();
    let mut got = [0u8; 4];
    step("the fast stream", fast_in.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got, b"ping");
    fast_in.write_all(b"pong").await.unwrap();
    fast_in.flush().await.unwrap();
    step("the answer", fast.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"pong");
    flood.abort();
}

/// A stream dropped after the remote closed its side, with an answer written: the
/// answer arrives, then a clean end (not a reset, which would make some muxers
/// discard it unread).
pub async fn dropping_a_stream_the_remote_finished_delivers_what_was_written(
    muxer: &dyn MuxerUpgrade,
) {
    let (client, server) = pair(muxer);
    let mut c = client.open_stream().await.unwrap();
    c.write_all(b"request").await.unwrap();
    c.shutdown().await.unwrap();
    let mut s = step("accept", server.accept_stream()).await.unwrap();
    let mut req = Vec::new();
    step("read", s.read_to_end(&mut req)).await.unwrap();
    s.write_all(b"answer").await.unwrap();
    drop(s);
    let mut answer = Vec::new();
    step("the answer", c.read_to_end(&mut answer))
        .await
        .unwrap();
    assert_eq!(answer, b"answer");
}

/// A stream dropped after we closed it sends no reset: the remote reads the whole
/// answer and a clean end, may go on writing, and the session lives on.
pub async fn dropping_a_stream_after_closing_it_sends_no_reset(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let mut c = client.open_stream().await.unwrap();
    c.write_all(b"hello").await.unwrap();
    c.flush().await.unwrap();
    let mut s = step("accept", server.accept_stream()).await.unwrap();
    s.write_all(b"answer").await.unwrap();
    s.shutdown().await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut answer = Vec::new();
    step("the answer", c.read_to_end(&mut answer))
        .await
        .unwrap();
    assert_eq!(answer, b"answer");
    c.write_all(b"more").await.unwrap();
    c.flush().await.unwrap();
    let mut again = client.open_stream().await.unwrap();
    again.write_all(b"x").await.unwrap();
    again.flush().await.unwrap();
    let mut s2 = step("accept again", server.accept_stream()).await.unwrap();
    let mut one = [0u8; 1];
    step("read again", s2.read_exact(&mut one)).await.unwrap();
    assert_eq!(&one, b"x");
}

/// A stream dropped while open both ways is reset: the remote reads what arrived, then
/// a `ConnectionReset` error, never a clean end.
pub async fn dropping_a_stream_resets_it(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let mut c = client.open_stream().await.unwrap();
    c.write_all(b"x").await.unwrap();
    c.flush().await.unwrap();
    let mut s = step("accept", server.accept_stream()).await.unwrap();
    drop(c);
    let mut buf = [0u8; 8];
    assert_eq!(step("read", s.read(&mut buf)).await.unwrap(), 1);
    let err = step("the reset", s.read(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

/// Closing the session ends it on both sides: no new streams either way, and open
/// streams fail.
pub async fn close_ends_the_session_on_both_sides(muxer: &dyn MuxerUpgrade) {
    let (client, server) = pair(muxer);
    let mut s = client.open_stream().await.unwrap();
    s.write_all(b"x").await.unwrap();
    s.flush().await.unwrap();
    let mut inbound = step("accept", server.accept_stream()).await.unwrap();
    let mut one = [0u8; 1];
    step("read", inbound.read_exact(&mut one)).await.unwrap();
    client.close().await.unwrap();
    assert!(client.is_closed());
    assert!(matches!(
        step("accept after close", server.accept_stream()).await,
        Err(MuxerError::Closed)
    ));
    let mut rest = Vec::new();
    let ended = step("read after close", inbound.read_to_end(&mut rest)).await;
    assert!(
        ended.is_err() || rest.is_empty(),
        "an open stream ends with the session"
    );
    assert!(matches!(
        client.open_stream().await,
        Err(MuxerError::Closed)
    ));
}

/// One stream's part in [`every_stream_delivers_in_order`].
#[derive(Debug, Clone)]
struct Plan {
    from_dialer: bool,
    len: usize,
    chunk: usize,
    /// Reset after this many bytes instead of closing.
    reset_at: Option<usize>,
}

/// Random interleavings (24 seeded rounds of 1 to 9 streams) of open, write, close and
/// reset on both sides: every stream delivers its bytes in order, written in random
/// chunks; a reset stream delivers what was sent before the reset, then an error.
pub async fn every_stream_delivers_in_order(muxer: &dyn MuxerUpgrade) {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    let mut rng = StdRng::seed_from_u64(0x006d_7963_656c);
    for round in 0..24 {
        let plans: Vec<Plan> = (0..rng.gen_range(1..10))
            .map(|_| {
                let len = rng.gen_range(0..300_000);
                Plan {
                    from_dialer: rng.r#gen(),
                    len,
                    chunk: rng.gen_range(1..70_000),
                    reset_at: rng
                        .gen_bool(0.5)
                        .then(|| rng.gen_range(0..300_000usize).min(len)),
                }
            })
            .collect();
        let (dialer, listener) = pair(muxer);
        let mut tasks = Vec::new();
        for (i, plan) in plans.into_iter().enumerate() {
            let (opener, acceptor) = if plan.from_dialer {
                (dialer.clone(), listener.clone())
            } else {
                (listener.clone(), dialer.clone())
            };
            let data: Vec<u8> = (0..plan.len).map(|b| (b * 13 + i) as u8).collect();
            let mut out = step("open", opener.open_stream()).await.unwrap();
            // The first byte tells the acceptor which plan this stream follows.
            out.write_all(&[i as u8]).await.unwrap();
            out.flush().await.unwrap();
            let mut inbound = step("accept", acceptor.accept_stream()).await.unwrap();
            let mut tag = [0u8; 1];
            step("tag", inbound.read_exact(&mut tag)).await.unwrap();
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
                let (len, at) = (data.len(), plan.reset_at);
                match at {
                    None => {
                        result.unwrap();
                        assert!(
                            got == data,
                            "round {round}, stream {i}: {} of {len} bytes",
                            got.len()
                        );
                    }
                    Some(at) => {
                        let kind = result.unwrap_err().kind();
                        assert_eq!(kind, std::io::ErrorKind::ConnectionReset);
                        assert!(
                            got == data[..at],
                            "round {round}, stream {i}: {} of {at} bytes",
                            got.len()
                        );
                    }
                }
            }));
        }
        for task in tasks {
            step("a stream's transfer", task).await.unwrap();
        }
    }
}

/// A writer whose remote reads everything and then drops the whole connection at once
/// still sees its shutdown succeed: what it wrote was delivered (50 rounds).
pub async fn shutdown_succeeds_when_the_remote_closes_right_after_reading(
    muxer: &dyn MuxerUpgrade,
) {
    for _ in 0..50 {
        let (dialer, listener) = pair(muxer);
        let reader = tokio::spawn(async move {
            let mut s = listener.accept_stream().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            drop(s);
            drop(listener); // the whole connection goes away at once
            got.len()
        });
        let mut out = step("open", dialer.open_stream()).await.unwrap();
        out.write_all(&[5u8; 4096]).await.unwrap();
        step("shutdown", out.shutdown())
            .await
            .expect("everything was written before the remote left");
        assert_eq!(step("the reader", reader).await.unwrap(), 4096);
    }
}

/// Two connections given one 1 MiB budget, each receiving 6 MiB nobody reads: together
/// they stop at the budget (plus at most a frame each). Reading one stream drains it
/// whole; the other, never read, either fits (held back by flow control) or is reset
/// once the budget stays spent, never ending cleanly short of its data. Everything is
/// given back when the streams and sessions go.
pub async fn a_shared_budget_caps_unread_data_across_connections(muxer: &dyn MuxerUpgrade) {
    const BUDGET: usize = 1024 * 1024;
    const SENT: usize = 6 * 1024 * 1024;
    let budget = crate::BufferBudget::new(BUDGET);
    let mut sessions = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..2 {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let client: Arc<dyn MuxedConnection> =
            Arc::from(muxer.upgrade(Box::new(a), Role::Initiator));
        let server: Arc<dyn MuxedConnection> =
            Arc::from(muxer.upgrade_with_budget(Box::new(b), Role::Responder, budget.clone()));
        let mut out = step("open", client.open_stream()).await.unwrap();
        writers.push(tokio::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            for _ in 0..SENT / chunk.len() {
                if out.write_all(&chunk).await.is_err() {
                    return; // reset by the receiver
                }
            }
            let _ = out.shutdown().await;
        }));
        sessions.push((client, server));
    }
    let mut inbound = Vec::new();
    for (_, server) in &sessions {
        inbound.push(step("accept", server.accept_stream()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = budget.used();
    assert!(held >= BUDGET / 2, "only {held} bytes arrived");
    assert!(
        held <= BUDGET + 2 * 256 * 1024,
        "{held} bytes held past the budget"
    );
    let mut inbound = inbound.into_iter();
    let mut first = inbound.next().unwrap();
    let mut all = Vec::new();
    step("draining the read stream", first.read_to_end(&mut all))
        .await
        .unwrap();
    assert_eq!(all.len(), SENT);
    let mut second = inbound.next().unwrap();
    let mut rest = Vec::new();
    match step("the unread stream's end", second.read_to_end(&mut rest)).await {
        Ok(n) => assert_eq!(n, SENT, "a clean end short of the data"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    for writer in writers {
        let _ = writer.await;
    }
    drop((first, second));
    drop(sessions);
    assert_eq!(budget.used(), 0);
}

/// A listener that allows 3 streams resets the 4th the dialer opens; both sessions and
/// the streams they kept live on. `limited` is `muxer` configured for 3 streams.
pub async fn streams_past_the_limit_are_reset_and_the_connection_lives(
    muxer: &dyn MuxerUpgrade,
    limited: &dyn MuxerUpgrade,
) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let client = muxer.upgrade(Box::new(a), Role::Initiator);
    let server = limited.upgrade(Box::new(b), Role::Responder);
    let mut streams = Vec::new();
    for _ in 0..4 {
        let mut s = client.open_stream().await.unwrap();
        s.write_all(b"hi").await.unwrap();
        s.flush().await.unwrap();
        streams.push(s);
    }
    let mut accepted = Vec::new();
    for _ in 0..3 {
        accepted.push(step("accept", server.accept_stream()).await.unwrap());
    }
    let mut refused = streams.pop().unwrap();
    let err = step("read the refused stream", refused.read(&mut [0u8; 4]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(!client.is_closed() && !server.is_closed());
    // A kept stream still carries data.
    streams[0].write_all(b", still here").await.unwrap();
    streams[0].shutdown().await.unwrap();
    let mut got = Vec::new();
    step("read a kept stream", accepted[0].read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"hi, still here");
}

/// Writes one `#[tokio::test]` per function of the suite for the muxer `$muxer` (an
/// expression of a type implementing `MuxerUpgrade`), in the calling test crate:
///
/// ```ignore
/// mycel_core::muxer_compliance_tests!(mycel_yamux::Config::default());
/// ```
#[macro_export]
macro_rules! muxer_compliance_tests {
    ($muxer:expr) => {
        $crate::muxer_compliance_tests!(@tests $muxer;
            close_implies_flush,
            half_close_keeps_the_other_direction_open,
            many_streams_both_ways_at_once,
            an_unread_stream_does_not_stop_another,
            dropping_a_stream_the_remote_finished_delivers_what_was_written,
            dropping_a_stream_after_closing_it_sends_no_reset,
            dropping_a_stream_resets_it,
            close_ends_the_session_on_both_sides,
            every_stream_delivers_in_order,
            shutdown_succeeds_when_the_remote_closes_right_after_reading,
            a_shared_budget_caps_unread_data_across_connections
        );
    };
    ($muxer:expr, streams_limited_to_3: $limited:expr) => {
        $crate::muxer_compliance_tests!($muxer);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn streams_past_the_limit_are_reset_and_the_connection_lives() {
            $crate::testing::muxer::streams_past_the_limit_are_reset_and_the_connection_lives(
                &$muxer, &$limited,
            )
            .await;
        }
    };
    (@tests $muxer:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::testing::muxer::$name(&$muxer).await;
            }
        )*
    };
}
