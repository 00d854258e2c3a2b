//! mycel's yamux and mplex against rust-libp2p's, each side opening streams to the other.

use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use libp2p::core::{
    StreamMuxer,
    upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade},
};
use mycel_core::Role;
use mycel_interop::{DrivenMuxer, pipe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STREAMS: usize = 8;
/// More than yamux's 256 KiB initial window, so window updates must work both ways.
const LEN: usize = 600_000;

fn payload(i: usize) -> Vec<u8> {
    (0..LEN).map(|b| (b * 7 + i) as u8).collect()
}

/// Echoes every stream rust-libp2p accepts; returns the muxer, still running, so that
/// the caller decides when the connection ends.
async fn rust_echo<M>(mut rust: DrivenMuxer<M>) -> DrivenMuxer<M>
where
    M: StreamMuxer + Unpin + Send + 'static,
    M::Substream: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
    M::Error: std::fmt::Debug,
{
    let mut tasks = Vec::new();
    for _ in 0..STREAMS {
        let mut s = rust.accept().await;
        tasks.push(tokio::spawn(async move {
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            s.close().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rust
}

/// rust-libp2p opens streams, sends, and checks the echo.
async fn rust_sends<M>(rust: &DrivenMuxer<M>)
where
    M: StreamMuxer + Unpin + Send + 'static,
    M::Substream: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
    M::Error: std::fmt::Debug,
{
    let mut tasks = Vec::new();
    for i in 0..STREAMS {
        let s = rust.open().await;
        tasks.push(tokio::spawn(async move {
            let data = payload(i);
            let (mut r, mut w) = s.split();
            let send = async {
                w.write_all(&data).await.unwrap();
                w.close().await.unwrap();
            };
            let recv = async {
                let mut back = Vec::new();
                r.read_to_end(&mut back).await.unwrap();
                back
            };
            let ((), back) = futures::join!(send, recv);
            assert!(back == data, "rust stream {i}: echo differs");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

macro_rules! mycel_roundtrips {
    ($conn:expr) => {{
        let conn = std::sync::Arc::new($conn);
        let mut tasks = Vec::new();
        for i in 0..STREAMS {
            let mut s = conn.open_stream().await.unwrap();
            tasks.push(tokio::spawn(async move {
                let data = payload(i);
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
                assert!(back == data, "mycel stream {i}: echo differs");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        conn
    }};
}

macro_rules! mycel_echo {
    ($conn:expr) => {{
        let mut tasks = Vec::new();
        for _ in 0..STREAMS {
            let mut s = $conn.accept_stream().await.unwrap();
            tasks.push(tokio::spawn(async move {
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
                s.shutdown().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yamux_mycel_dialer_rust_listener() {
    let (ours, theirs) = pipe();
    let rust = libp2p::yamux::Config::default()
        .upgrade_inbound(theirs, "/yamux/1.0.0")
        .await
        .unwrap();
    let rust = DrivenMuxer::new(rust);
    let mycel = mycel_yamux::Connection::new(Box::new(ours), Role::Initiator, Default::default());
    let echo = tokio::spawn(rust_echo(rust));
    let _conn = mycel_roundtrips!(mycel);
    let _rust = echo.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yamux_rust_dialer_mycel_listener() {
    let (ours, theirs) = pipe();
    let rust = libp2p::yamux::Config::default()
        .upgrade_outbound(theirs, "/yamux/1.0.0")
        .await
        .unwrap();
    let rust = DrivenMuxer::new(rust);
    let mycel = std::sync::Arc::new(mycel_yamux::Connection::new(
        Box::new(ours),
        Role::Responder,
        Default::default(),
    ));
    let m = mycel.clone();
    let echo = tokio::spawn(async move { mycel_echo!(m) });
    rust_sends(&rust).await;
    echo.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mplex_mycel_dialer_rust_listener() {
    let (ours, theirs) = pipe();
    let rust = libp2p_mplex::Config::default()
        .upgrade_inbound(theirs, "/mplex/6.7.0")
        .await
        .unwrap();
    let rust = DrivenMuxer::new(rust);
    let mycel = mycel_mplex::Connection::new(Box::new(ours), Role::Initiator, Default::default());
    let echo = tokio::spawn(rust_echo(rust));
    let _conn = mycel_roundtrips!(mycel);
    let _rust = echo.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mplex_rust_dialer_mycel_listener() {
    let (ours, theirs) = pipe();
    let rust = libp2p_mplex::Config::default()
        .upgrade_outbound(theirs, "/mplex/6.7.0")
        .await
        .unwrap();
    let rust = DrivenMuxer::new(rust);
    let mycel = std::sync::Arc::new(mycel_mplex::Connection::new(
        Box::new(ours),
        Role::Responder,
        Default::default(),
    ));
    let m = mycel.clone();
    let echo = tokio::spawn(async move { mycel_echo!(m) });
    rust_sends(&rust).await;
    echo.await.unwrap();
}
