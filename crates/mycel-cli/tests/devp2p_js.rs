//! mycel against @ethereumjs/devp2p 10, both directions: `mycel devp2p-listen` /
//! `devp2p-dial` and the js test peer (`tests/devp2p-js/peer.mjs`, the same contract) as
//! two processes on 127.0.0.1: the RLPx handshake, Hello, the `test/1` echo, Ping/Pong,
//! and the Disconnect reason seen by the other side.
//!
//! Needs Node.js 20 or newer; the js peer's pinned packages are installed with `npm ci`
//! (by `.ci/run`, or here on first use). Without Node the tests print why and pass,
//! except under CI (`CI` set), where they fail.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        OnceLock,
        mpsc::{Receiver, channel},
    },
    time::Duration,
};

const MYCEL: &str = env!("CARGO_BIN_EXE_mycel");
const LINE_LIMIT: Duration = Duration::from_secs(30);

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/devp2p-js")
}

/// Whether the js peer can run (see `common::node_peer_ready`).
fn js_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    common::node_peer_ready(
        &READY,
        &js_dir(),
        "node_modules/@ethereumjs/devp2p",
        "devp2p",
    )
}

fn js() -> Command {
    let mut c = Command::new("node");
    c.arg(js_dir().join("peer.mjs"));
    c
}

/// A listening child, killed on drop; its stdout lines arrive on a channel.
struct Listener {
    child: Child,
    _stdin: ChildStdin,
    enode: String,
    lines: Receiver<String>,
    logs: Receiver<String>,
}

impl Listener {
    fn start(mut command: Command, subcommand: &str) -> Self {
        let mut child = command
            .arg(subcommand)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a listener");
        let stdin = child.stdin.take().unwrap();
        let lines = forward(child.stdout.take().unwrap());
        let logs = forward(child.stderr.take().unwrap());
        let first = lines.recv_timeout(LINE_LIMIT).expect("a LISTEN line");
        let enode = first
            .strip_prefix("LISTEN ")
            .unwrap_or_else(|| panic!("first line is not LISTEN: {first:?}"))
            .to_string();
        Listener {
            child,
            _stdin: stdin,
            enode,
            lines,
            logs,
        }
    }

    fn id(&self) -> &str {
        let rest = self.enode.strip_prefix("enode://").unwrap();
        &rest[..128]
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(LINE_LIMIT)
            .expect("a line from the listener")
    }
}

/// The lines of `from`, on a channel.
fn forward(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a dialer and checks its JSON line against the listener it dialed.
fn dial(mut command: Command, subcommand: &str, listener: &Listener, client: &str) {
    let out = command
        .args([subcommand, &listener.enode, "--timeout-s", "20"])
        .output()
        .expect("run the dialer");
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{json}");
    for field in [
        "\"ok\":true".to_string(),
        format!("\"remote_id\":\"{}\"", listener.id()),
        format!("\"client_id\":\"{client}"),
        "\"caps\":[\"test/1\"]".to_string(),
        "\"echo_ok\":true".to_string(),
        "\"ping_ms\":".to_string(),
    ] {
        assert!(json.contains(&field), "{field} missing in {json}");
    }
}

fn hello_from(line: &str, client: &str) -> String {
    let parts: Vec<&str> = line.splitn(3, ' ').collect();
    assert_eq!(parts[0], "HELLO", "{line}");
    assert_eq!(parts[1].len(), 128, "{line}");
    assert!(parts[2].starts_with(client), "{line}");
    parts[1].to_string()
}

#[test]
fn mycel_dials_ethereumjs() {
    if !js_ready() {
        return;
    }
    let listener = Listener::start(js(), "listen");
    dial(
        Command::new(MYCEL),
        "devp2p-dial",
        &listener,
        "ethereumjs-devp2p/",
    );
    let id = hello_from(&listener.next_line(), "mycel/");
    // mycel ended the session with Disconnect 0x08 (client quitting).
    assert_eq!(listener.next_line(), format!("DISCONNECT {id} 8 they"));
}

#[test]
fn ethereumjs_dials_mycel() {
    if !js_ready() {
        return;
    }
    let mut mycel = Command::new(MYCEL);
    mycel.env("RUST_LOG", "mycel=info").env("NO_COLOR", "1");
    let listener = Listener::start(mycel, "devp2p-listen");
    dial(js(), "dial", &listener, "mycel/");
    hello_from(&listener.next_line(), "ethereumjs-devp2p/");
    // The js peer ended the session with Disconnect 0x08, which mycel logs.
    let wanted = "the remote disconnected: ClientQuitting (0x08)";
    loop {
        let log = listener
            .logs
            .recv_timeout(LINE_LIMIT)
            .unwrap_or_else(|_| panic!("mycel never logged {wanted:?}"));
        if log.contains(wanted) {
            break;
        }
    }
}
