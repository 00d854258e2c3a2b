//! `mycel interop`, the libp2p test-plans transport-interop binary, with a real Redis
//! server (Debian's `redis-server`, started here on a free port and stopped after):
//! mycel as listener and dialer over each muxer, a listener that is never dialed, and
//! mycel with a rust-libp2p 0.57 counterpart following the same protocol both ways.
//!
//! Without `redis-server` the tests print why and pass, except under CI (`CI` set),
//! where they fail; `.ci/run` installs it.

use std::{
    net::TcpListener,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use mycel_interop::rust_node::{RustEvent, RustMuxer, RustNode};

const MYCEL: &str = env!("CARGO_BIN_EXE_mycel");
/// The Redis list the test-plans runner's peers meet on.
const KEY: &str = "listenerAddr";

/// A `redis-server` on 127.0.0.1 and a free port, stopped on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one, or says why it cannot (`None` outside CI; a panic in CI).
    fn start() -> Option<Redis> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("redis-server is needed in CI (.ci/run installs it): {e}")
            }
            Err(e) => {
                eprintln!(
                    "skipping: cannot start redis-server ({e}); apt-get install redis-server"
                );
                return None;
            }
        };
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://{}/", self.addr()))?.get_connection()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mycel interop` with the runner's variables.
fn interop(redis: &Redis, muxer: &str, is_dialer: bool, timeout_s: u64) -> Command {
    let mut cmd = Command::new(MYCEL);
    cmd.arg("interop")
        .env("transport", "tcp")
        .env("muxer", muxer)
        .env("security", "noise")
        .env("is_dialer", is_dialer.to_string())
        .env("ip", "127.0.0.1")
        .env("redis_addr", redis.addr())
        .env("test_timeout_seconds", timeout_s.to_string())
        .stdin(Stdio::null());
    cmd
}

/// The dialer's one stdout line: exactly the two keys, both positive numbers.
fn check_result(out: &Output) -> (f64, f64) {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "dialer failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text.trim_end();
    assert_eq!(line.lines().count(), 1, "{text:?}");
    let body = line
        .strip_prefix("{\"handshakePlusOneRTTMillis\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("unexpected line {line}"));
    let (handshake, ping) = body
        .split_once(",\"pingRTTMilllis\":")
        .unwrap_or_else(|| panic!("unexpected line {line}"));
    let (handshake, ping): (f64, f64) = (handshake.parse().unwrap(), ping.parse().unwrap());
    assert!(handshake > 0.0 && ping > 0.0 && ping <= handshake, "{line}");
    (handshake, ping)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mycel_listens_and_dials_over_each_muxer() {
    let Some(redis) = Redis::start() else { return };
    for muxer in ["yamux", "mplex"] {
        let _listener = Killed(
            interop(&redis, muxer, false, 30)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let out = interop(&redis, muxer, true, 30).output().unwrap();
        check_result(&out);
    }
}

#[test]
fn a_listener_never_dialed_and_a_dialer_never_served_fail_in_time() {
    let Some(redis) = Redis::start() else { return };
    let started = Instant::now();
    let out = interop(&redis, "yamux", false, 1).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    // The address it published is still queued; take it so the dialer finds none.
    let mut conn = redis.connection().unwrap();
    let queued: String = redis::cmd("LPOP").arg(KEY).query(&mut conn).unwrap();
    assert!(queued.starts_with("/ip4/127.0.0.1/tcp/"), "{queued}");
    assert!(queued.contains("/p2p/"), "{queued}");
    let out = interop(&redis, "yamux", true, 1).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10));
    // Bad settings are refused before anything runs.
    let out = interop(&redis, "yamux", true, 1)
        .env("transport", "quic-v1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mycel_dials_a_rust_libp2p_listener() {
    let Some(redis) = Redis::start() else { return };
    for (muxer, rust_muxer) in [("yamux", RustMuxer::Yamux), ("mplex", RustMuxer::Mplex)] {
        // The rust-libp2p listener's side of the protocol: RPUSH its address.
        let rust = RustNode::start(rust_muxer).await;
        let mut conn = redis.connection().unwrap();
        let _: i64 = redis::cmd("RPUSH")
            .arg(KEY)
            .arg(rust.p2p_addr().to_string())
            .query(&mut conn)
            .unwrap();
        let mut dialer = interop(&redis, muxer, true, 30);
        let out = tokio::task::spawn_blocking(move || dialer.output().unwrap())
            .await
            .unwrap();
        check_result(&out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_libp2p_dialer_reaches_the_mycel_listener() {
    let Some(redis) = Redis::start() else { return };
    for (muxer, rust_muxer) in [("yamux", RustMuxer::Yamux), ("mplex", RustMuxer::Mplex)] {
        let _listener = Killed(
            interop(&redis, muxer, false, 30)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // The rust-libp2p dialer's side: BLPOP the address, dial, ping.
        let mut conn = redis.connection().unwrap();
        let (_, addr): (String, String) = tokio::task::spawn_blocking(move || {
            redis::cmd("BLPOP")
                .arg(KEY)
                .arg(10)
                .query(&mut conn)
                .unwrap()
        })
        .await
        .unwrap();
        let mut rust = RustNode::start(rust_muxer).await;
        rust.dial(addr.parse().unwrap())
            .await
            .expect("rust dials mycel");
        let rtt = rust
            .wait_for(Duration::from_secs(10), |e| match e {
                RustEvent::Ping { result, .. } => Some(result.clone()),
                _ => None,
            })
            .await
            .expect("rust-libp2p pings the mycel listener");
        assert!(rtt.is_ok(), "{rtt:?}");
    }
}
