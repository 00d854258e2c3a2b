//! The `mycel` binary's contract: output lines, JSON fields and exit codes.

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdin, Command, Output, Stdio},
    time::Duration,
};

const MYCEL: &str = env!("CARGO_BIN_EXE_mycel");

/// A `mycel listen` child, killed on drop.
struct Listener {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: String,
}

impl Listener {
    fn start(muxer: &str) -> Self {
        Self::with_args(&["--muxer", muxer])
    }

    /// `mycel listen` with these flags.
    fn with_args(flags: &[&str]) -> Self {
        let mut child = Command::new(MYCEL)
            .arg("listen")
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mycel listen");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read LISTEN line");
        let addr = line
            .trim_end()
            .strip_prefix("LISTEN ")
            .unwrap_or_else(|| panic!("first line is not LISTEN: {line:?}"))
            .to_string();
        assert!(addr.starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
        assert!(addr.contains("/p2p/"), "{addr}");
        Self { child, stdin, addr }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mycel(args: &[&str]) -> Output {
    Command::new(MYCEL)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mycel")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The value of `"key":` in a flat JSON line, as written.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 3;
    let rest = &line[start..];
    let end = if rest.starts_with('[') {
        rest.find(']').unwrap() + 1
    } else if let Some(stripped) = rest.strip_prefix('"') {
        stripped.find('"').unwrap() + 2
    } else {
        rest.find([',', '}']).unwrap()
    };
    &rest[..end]
}

#[test]
fn dial_pings_a_listener_with_each_muxer() {
    for muxer in ["yamux", "mplex"] {
        let listener = Listener::start(muxer);
        let out = mycel(&["dial", &listener.addr, "--muxer", muxer]);
        let line = stdout(&out);
        assert!(out.status.success(), "{line}");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert_eq!(field(&line, "ok"), "true");
        let peer = listener.addr.rsplit('/').next().unwrap();
        assert_eq!(field(&line, "peer"), format!("\"{peer}\""));
        let rtt: f64 = field(&line, "rtt_ms").parse().unwrap();
        let connect: f64 = field(&line, "connect_ms").parse().unwrap();
        assert!(rtt > 0.0 && connect > 0.0, "{line}");
        assert_eq!(
            field(&line, "agent"),
            format!("\"mycel/{}\"", env!("CARGO_PKG_VERSION"))
        );
        let protocols = field(&line, "protocols");
        for p in [
            "/ipfs/ping/1.0.0",
            "/ipfs/id/1.0.0",
            "/ipfs/id/push/1.0.0",
            "/perf/1.0.0",
        ] {
            assert!(protocols.contains(&format!("\"{p}\"")), "{protocols}");
        }
    }
}

#[test]
fn every_key_type_listens_and_dials() {
    // (key type, how its peer id starts): ed25519 and secp256k1 keys are inlined in the
    // id, ECDSA and RSA keys hashed.
    let types = [
        ("ed25519", "12D3KooW"),
        ("secp256k1", "16Uiu2"),
        ("ecdsa", "Qm"),
        ("rsa", "Qm"),
    ];
    for (i, (listen_type, listen_prefix)) in types.iter().enumerate() {
        // Each type dials the listener of its own type and of the next one.
        let (dial_type, _) = types[(i + 1) % types.len()];
        let listener = Listener::with_args(&["--key-type", listen_type]);
        let peer = listener.addr.rsplit('/').next().unwrap().to_string();
        assert!(peer.starts_with(listen_prefix), "{listen_type}: {peer}");
        for dialer in [*listen_type, dial_type] {
            let out = mycel(&["dial", &listener.addr, "--key-type", dialer]);
            let line = stdout(&out);
            assert!(out.status.success(), "{dialer} -> {listen_type}: {line}");
            assert_eq!(field(&line, "peer"), format!("\"{peer}\""));
        }
        let out = mycel(&[
            "perf",
            &listener.addr,
            "--upload-bytes",
            "1000",
            "--download-bytes",
            "1000",
            "--key-type",
            dial_type,
        ]);
        assert!(
            out.status.success(),
            "perf {dial_type} -> {listen_type}: {}",
            stdout(&out)
        );
    }
    let out = mycel(&["listen", "--key-type", "dsa"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn listener_prints_identify_lines() {
    let mut child = Command::new(MYCEL)
        .args(["listen"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mycel listen");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("LISTEN ").unwrap().to_string();
    let out = mycel(&["dial", &addr]);
    assert!(out.status.success(), "{}", stdout(&out));
    // Read the next line on a thread, so a missing line fails the test instead of
    // hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lines.next().and_then(Result::ok));
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .ok()
        .flatten();
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("an IDENTIFY line within 20 s");
    let mut words = line.split(' ');
    assert_eq!(words.next(), Some("IDENTIFY"), "{line}");
    assert!(words.next().unwrap().starts_with("12D3KooW"), "{line}");
    assert_eq!(
        words.next(),
        Some(format!("mycel/{}", env!("CARGO_PKG_VERSION")).as_str()),
        "{line}"
    );
}

#[test]
fn perf_moves_the_bytes_asked_for() {
    let listener = Listener::start("yamux");
    let out = mycel(&[
        "perf",
        &listener.addr,
        "--upload-bytes",
        "1048576",
        "--download-bytes",
        "3000000",
    ]);
    let line = stdout(&out);
    assert!(out.status.success(), "{line}");
    assert_eq!(field(&line, "upload_bytes"), "1048576");
    assert_eq!(field(&line, "download_bytes"), "3000000");
    let seconds: f64 = field(&line, "seconds").parse().unwrap();
    assert!(seconds > 0.0, "{line}");
}

#[test]
fn dial_puts_and_gets_dht_records_at_a_kad_listener() {
    let listener = Listener::with_args(&["--kad"]);
    let dial = |flags: &[&str]| {
        let mut args = vec!["dial", &listener.addr, "--timeout-s", "10"];
        args.extend_from_slice(flags);
        mycel(&args)
    };

    let out = dial(&["--kad-put", "/test/k=v", "--kad-get", "/test/k"]);
    let line = stdout(&out);
    assert!(out.status.success(), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(field(&line, "ok"), "true");
    assert_eq!(field(&line, "kad_get"), "\"v\"");
    assert!(
        field(&line, "protocols").contains("\"/ipfs/kad/1.0.0\""),
        "{line}"
    );

    // Another process, with an empty store of its own, finds the record at the listener.
    let out = dial(&["--kad-get", "/test/k"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(field(&stdout(&out), "kad_get"), "\"v\"");

    let out = dial(&["--kad-get", "/test/missing"]);
    let line = stdout(&out);
    assert!(out.status.success(), "{line}");
    assert_eq!(field(&line, "ok"), "true");
    assert_eq!(field(&line, "kad_get"), "null");

    // A put alone adds no field; the value is there afterwards.
    let out = dial(&["--kad-put", "/test/k=w"]);
    let line = stdout(&out);
    assert!(out.status.success(), "{line}");
    assert!(!line.contains("kad_get"), "{line}");
    let out = dial(&["--kad-get", "/test/k"]);
    assert_eq!(field(&stdout(&out), "kad_get"), "\"w\"");

    // The listener stores /test/ keys only: the put reaches no quorum.
    let out = dial(&["--kad-put", "/other/k=v"]);
    assert_eq!(out.status.code(), Some(1));
    let line = stdout(&out);
    assert_eq!(field(&line, "ok"), "false");
    assert!(field(&line, "error").contains("quorum"), "{line}");
}

#[test]
fn dht_flags_against_a_peer_without_the_dht_fail() {
    let listener = Listener::start("yamux");
    for flags in [["--kad-get", "/test/k"], ["--kad-put", "/test/k=v"]] {
        let out = mycel(&["dial", &listener.addr, flags[0], flags[1]]);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        let line = stdout(&out);
        assert_eq!(field(&line, "ok"), "false");
        assert!(field(&line, "error").contains("/ipfs/kad/1.0.0"), "{line}");
    }
}

#[test]
fn listener_exits_at_end_of_stdin() {
    let mut listener = Listener::start("yamux");
    drop(listener.stdin.take());
    for _ in 0..100 {
        if let Some(status) = listener.child.try_wait().unwrap() {
            assert!(status.success());
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("listener still running 5 s after stdin closed");
}

#[test]
fn failures_print_ok_false_and_exit_1() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let addr = format!(
        "/ip4/127.0.0.1/tcp/{port}/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
    );
    let out = mycel(&["dial", &addr, "--timeout-s", "5"]);
    assert_eq!(out.status.code(), Some(1));
    let line = stdout(&out);
    assert_eq!(field(&line, "ok"), "false");
    assert!(field(&line, "error").contains("refused"), "{line}");

    // Wrong muxer: the handshake finds none in common.
    let listener = Listener::start("yamux");
    let out = mycel(&["dial", &listener.addr, "--muxer", "mplex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("muxer"), "{}", stdout(&out));
}

#[test]
fn timeout_is_reported_as_json() {
    // A TCP server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let addr = format!(
        "/ip4/127.0.0.1/tcp/{port}/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
    );
    let out = mycel(&["dial", &addr, "--timeout-s", "0.5"]);
    assert_eq!(out.status.code(), Some(1));
    let line = stdout(&out);
    assert_eq!(field(&line, "error"), "\"timed out after 0.5 s\"");
    drop(silent);
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    for (args, expected) in [
        (&["dial", "/ip4/1.2.3"][..], "not a multiaddr"),
        (&["dial", "/ip4/127.0.0.1/tcp/1"][..], "/p2p/<peer-id>"),
        (&["dial", "x", "--bogus"][..], "--bogus"),
        (&["listen", "--muxer", "spdy"][..], "spdy"),
        (
            &[
                "perf",
                "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "--upload-bytes",
                "1",
            ][..],
            "--download-bytes",
        ),
        (
            &[
                "dial",
                "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "--timeout-s",
                "0",
            ][..],
            "seconds",
        ),
        (&["frobnicate"][..], "frobnicate"),
        (
            &[
                "dial",
                "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "--kad-put",
                "/test/novalue",
            ][..],
            "KEY=VALUE",
        ),
        (
            &[
                "dial",
                "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "--kad-get",
                "",
            ][..],
            "empty",
        ),
        (&["listen", "--kad=yes"][..], "--kad"),
    ] {
        let out = mycel(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

/// Sends SIGTERM (the CLI's shutdown signal) with the system's `kill`.
fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    panic!("process still running 5 s after SIGTERM");
}

#[test]
fn node_prints_its_identity_serves_ping_and_stops_on_sigterm() {
    let mut node = Command::new(MYCEL)
        .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mycel node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let id_line = lines.next().unwrap().unwrap();
    let peer = id_line
        .strip_prefix("peer id: ")
        .unwrap_or_else(|| panic!("unexpected first line {id_line:?}"))
        .to_string();
    let addr_line = lines.next().unwrap().unwrap();
    let addr = addr_line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected second line {addr_line:?}"))
        .to_string();
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
    assert!(addr.ends_with(&format!("/p2p/{peer}")), "{addr}");

    // A second node bootstraps from the first; the first answers pings meanwhile.
    let mut second = Command::new(MYCEL)
        .args([
            "node",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--bootstrap",
            &addr,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn second node");
    let second_addr = BufReader::new(second.stdout.take().unwrap())
        .lines()
        .nth(1)
        .unwrap()
        .unwrap()
        .strip_prefix("listening on ")
        .expect("second node's address line")
        .to_string();
    let out = mycel(&["dial", &addr]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(field(&stdout(&out), "peer"), format!("\"{peer}\""));

    let mut log = BufReader::new(second.stderr.take().unwrap()).lines();
    let reached = log
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .any(|l| l.contains("bootstrap peer reachable"));
    assert!(reached, "the second node never reached its bootstrap peer");
    let bootstrapped = log
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .find(|l| l.contains("DHT bootstrap"))
        .expect("the second node never bootstrapped its DHT");
    assert!(
        bootstrapped.contains("DHT bootstrap done routing_table=1"),
        "{bootstrapped}"
    );

    // Both nodes serve the DHT, DhtMap keys included: a record put through the first is
    // found through the second.
    let out = mycel(&["dial", &addr, "--kad-put", "/map/colour=green"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let out = mycel(&["dial", &second_addr, "--kad-get", "/map/colour"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(field(&stdout(&out), "kad_get"), "\"green\"");

    terminate(&second);
    assert!(wait_exit(&mut second).success());
    terminate(&node);
    assert!(wait_exit(&mut node).success());
}

#[test]
fn node_refuses_an_address_it_cannot_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = mycel(&["node", "--listen", &format!("/ip4/127.0.0.1/tcp/{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("cannot listen on /ip4/127.0.0.1/tcp/{port}")),
        "{err}"
    );
    let out = mycel(&["node", "--listen", "/ip4/nope"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `listen --pubsub R --topic news --publish from-listener` and a dialer doing the same
/// the other way: each side gets the other's message.
fn pubsub_pair(router: &str) {
    let mut child = Command::new(MYCEL)
        .args(["listen", "--pubsub", router, "--topic", "news"])
        .args(["--publish", "from-listener"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mycel listen");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("LISTEN ").unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.starts_with("MSG ") && tx.send(line).is_err() {
                return;
            }
        }
    });
    let out = mycel(&[
        "dial",
        &addr,
        "--pubsub",
        router,
        "--topic",
        "news",
        "--publish",
        "from-dialer",
        "--wait-msgs",
        "2",
        "--timeout-s",
        "20",
    ]);
    let line = stdout(&out);
    let got = rx.recv_timeout(Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{line}");
    assert_eq!(field(&line, "ok"), "true", "{line}");
    assert_eq!(
        field(&line, "received"),
        "[\"from-listener\",\"from-listener\"]",
        "{line}"
    );
    assert_eq!(got.expect("a MSG line within 20 s"), "MSG news from-dialer");
}

#[test]
fn floodsub_messages_cross_between_listener_and_dialer() {
    pubsub_pair("floodsub");
}

#[test]
fn gossipsub_messages_cross_between_listener_and_dialer() {
    pubsub_pair("gossipsub");
}

#[test]
fn pubsub_flags_need_each_other() {
    for args in [
        &["listen", "--pubsub", "gossipsub"][..],
        &["listen", "--topic", "t"][..],
        &[
            "dial",
            "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "--wait-msgs",
            "1",
        ][..],
    ] {
        let out = mycel(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
