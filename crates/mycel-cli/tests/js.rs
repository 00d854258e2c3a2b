//! mycel against js-libp2p 2.9, both directions: the `mycel` command and the js test peer
//! (`tests/js/peer.mjs`, the same `listen`/`dial`/`perf` contract) as two processes on
//! 127.0.0.1. Ping and identify over yamux and mplex, perf of 10 MiB each way, gossipsub,
//! floodsub, and Kademlia put/get.
//!
//! Needs Node.js 20 or newer; the js peer's pinned packages are installed with `npm ci`
//! (by `.ci/run`, or here on first use). Without Node the tests print why and pass,
//! except under CI (`CI` set), where they fail.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Output, Stdio},
    sync::{
        Mutex, OnceLock,
        mpsc::{Receiver, channel},
    },
    time::Duration,
};

const MYCEL: &str = env!("CARGO_BIN_EXE_mycel");
const TEN_MIB: &str = "10485760";
/// How long one side may wait for the other's line.
const LINE_LIMIT: Duration = Duration::from_secs(30);

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

/// Whether the js peer can run (see `common::node_peer_ready`).
fn js_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    common::node_peer_ready(&READY, &js_dir(), "node_modules/libp2p", "js-libp2p")
}

/// The program of one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Mycel,
    Js,
}

impl Side {
    fn command(self) -> Command {
        match self {
            Side::Mycel => Command::new(MYCEL),
            Side::Js => {
                let mut c = Command::new("node");
                c.arg(js_dir().join("peer.mjs"));
                c
            }
        }
    }
}

/// A `listen` child, killed on drop; its stdout lines arrive on a channel.
struct Listener {
    child: Child,
    _stdin: ChildStdin,
    addr: String,
    lines: Receiver<String>,
}

impl Listener {
    fn start(side: Side, flags: &[&str]) -> Self {
        let mut child = side
            .command()
            .arg("listen")
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a listener");
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let first = lines
            .recv_timeout(LINE_LIMIT)
            .unwrap_or_else(|_| panic!("{side:?} listener printed no LISTEN line"));
        let addr = first
            .strip_prefix("LISTEN ")
            .unwrap_or_else(|| panic!("first line is not LISTEN: {first:?}"))
            .to_string();
        Listener {
            child,
            _stdin: stdin,
            addr,
            lines,
        }
    }

    fn peer(&self) -> &str {
        self.addr.rsplit('/').next().unwrap()
    }

    /// The next line starting with `prefix`, within [`LINE_LIMIT`].
    fn line_starting(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + LINE_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line starting with {prefix:?}"),
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(side: Side, args: &[&str]) -> (Output, String) {
    let out = side
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run a dialer");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out, line)
}

/// The value of `"key":` in a flat JSON line, as written.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 3;
    let rest = &line[start..];
    let end = if rest.starts_with('[') || rest.starts_with('{') {
        rest.find([']', '}']).unwrap() + 1
    } else if let Some(stripped) = rest.strip_prefix('"') {
        stripped.find('"').unwrap() + 2
    } else {
        rest.find([',', '}']).unwrap()
    };
    &rest[..end]
}

fn other(side: Side) -> Side {
    match side {
        Side::Mycel => Side::Js,
        Side::Js => Side::Mycel,
    }
}

/// One dial per test at a time keeps two cores from starving the peers' timers.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `dialer` dials a listener of the other side over `muxer`: ping and identify, seen
/// from both sides.
fn ping_and_identify(dialer: Side, muxer: &str) {
    let listener = Listener::start(other(dialer), &["--muxer", muxer]);
    let (out, line) = run(dialer, &["dial", &listener.addr, "--muxer", muxer]);
    assert!(out.status.success(), "{dialer:?} dial over {muxer}: {line}");
    assert_eq!(field(&line, "ok"), "true");
    assert_eq!(field(&line, "peer"), format!("\"{}\"", listener.peer()));
    let rtt: f64 = field(&line, "rtt_ms").parse().unwrap();
    assert!(rtt >= 0.0, "{line}");
    let (agent, theirs) = match dialer {
        Side::Mycel => ("\"js-libp2p/", "mycel/"),
        Side::Js => ("\"mycel/", "js-libp2p/"),
    };
    assert!(field(&line, "agent").starts_with(agent), "{line}");
    let protocols = field(&line, "protocols");
    for p in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0"] {
        assert!(protocols.contains(p), "{protocols}");
    }
    // The listener identified the dialer too.
    let identify = listener.line_starting("IDENTIFY ");
    let mut words = identify.split(' ').skip(1);
    assert!(
        words.next().is_some_and(|p| p != listener.peer()),
        "{identify}"
    );
    assert!(
        words.next().is_some_and(|a| a.starts_with(theirs)),
        "{identify}"
    );
}

#[test]
fn mycel_dials_js_ping_identify_yamux() {
    if js_ready() {
        let _one = serial();
        ping_and_identify(Side::Mycel, "yamux");
    }
}

#[test]
fn mycel_dials_js_ping_identify_mplex() {
    if js_ready() {
        let _one = serial();
        ping_and_identify(Side::Mycel, "mplex");
    }
}

#[test]
fn js_dials_mycel_ping_identify_yamux() {
    if js_ready() {
        let _one = serial();
        ping_and_identify(Side::Js, "yamux");
    }
}

#[test]
fn js_dials_mycel_ping_identify_mplex() {
    if js_ready() {
        let _one = serial();
        ping_and_identify(Side::Js, "mplex");
    }
}

#[test]
fn perf_10_mib_each_way_both_directions() {
    if !js_ready() {
        return;
    }
    let _one = serial();
    for client in [Side::Mycel, Side::Js] {
        let listener = Listener::start(other(client), &[]);
        let (out, line) = run(
            client,
            &[
                "perf",
                &listener.addr,
                "--upload-bytes",
                TEN_MIB,
                "--download-bytes",
                TEN_MIB,
            ],
        );
        assert!(out.status.success(), "{client:?} perf: {line}");
        assert_eq!(field(&line, "upload_bytes"), TEN_MIB, "{line}");
        assert_eq!(field(&line, "download_bytes"), TEN_MIB, "{line}");
    }
}

/// The dialer publishes and waits for the listener's message; the listener prints the
/// dialer's.
fn pubsub(router: &str, dialer: Side) {
    let topic = format!("{router}-{dialer:?}");
    let listener = Listener::start(
        other(dialer),
        &[
            "--pubsub",
            router,
            "--topic",
            &topic,
            "--publish",
            "from-listener",
        ],
    );
    let (out, line) = run(
        dialer,
        &[
            "dial",
            &listener.addr,
            "--pubsub",
            router,
            "--topic",
            &topic,
            "--publish",
            "from-dialer",
            "--wait-msgs",
            "1",
            "--timeout-s",
            "25",
        ],
    );
    assert!(out.status.success(), "{dialer:?} {router}: {line}");
    assert!(
        field(&line, "received").contains("\"from-listener\""),
        "{line}"
    );
    let msg = listener.line_starting("MSG ");
    assert_eq!(msg, format!("MSG {topic} from-dialer"));
}

#[test]
fn gossipsub_both_directions() {
    if js_ready() {
        let _one = serial();
        pubsub("gossipsub", Side::Mycel);
        pubsub("gossipsub", Side::Js);
    }
}

#[test]
fn floodsub_both_directions() {
    if js_ready() {
        let _one = serial();
        pubsub("floodsub", Side::Mycel);
        pubsub("floodsub", Side::Js);
    }
}

#[test]
fn kad_put_and_get_both_directions() {
    if !js_ready() {
        return;
    }
    let _one = serial();
    for dialer in [Side::Mycel, Side::Js] {
        let listener = Listener::start(other(dialer), &["--kad"]);
        let key = format!("/test/{dialer:?}");
        let put = format!("{key}=green");
        let (out, line) = run(
            dialer,
            &["dial", &listener.addr, "--kad-put", &put, "--kad-get", &key],
        );
        assert!(out.status.success(), "{dialer:?} kad: {line}");
        assert_eq!(field(&line, "kad_get"), "\"green\"", "{line}");
    }
}

#[test]
fn the_js_peer_refuses_bad_usage() {
    if js_ready() {
        let (out, _) = run(Side::Js, &["dial", "not-an-address"]);
        assert_eq!(out.status.code(), Some(2));
    }
}
