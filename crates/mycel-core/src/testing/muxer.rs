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
            close_ends_the_session_on_both_sides
        );
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
