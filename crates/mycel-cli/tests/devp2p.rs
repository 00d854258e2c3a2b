//! The `devp2p-listen` / `devp2p-dial` contract, mycel against mycel.

use std::{
    io::{BufRead, BufReader, Lines},
    process::{ChildStdout, Command, Stdio},
};

const MYCEL: &str = env!("CARGO_BIN_EXE_mycel");

#[test]
fn dial_echoes_pings_and_the_listener_prints_each_hello() {
    let mut listener = Command::new(MYCEL)
        .arg("devp2p-listen")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mycel devp2p-listen");
    let mut lines: Lines<BufReader<ChildStdout>> =
        BufReader::new(listener.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let enode = first
        .strip_prefix("LISTEN ")
        .expect("LISTEN line")
        .to_string();
    let id = enode
        .strip_prefix("enode://")
        .and_then(|rest| rest.split('@').next())
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 128);
    assert!(enode.contains("@127.0.0.1:"), "{enode}");

    for _ in 0..2 {
        let out = Command::new(MYCEL)
            .args(["devp2p-dial", &enode, "--timeout-s", "20"])
            .output()
            .unwrap();
        let json = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{json}");
        for field in [
            "\"ok\":true".to_string(),
            format!("\"remote_id\":\"{id}\""),
            "\"client_id\":\"mycel/".to_string(),
            "\"caps\":[\"test/1\"]".to_string(),
            "\"echo_ok\":true".to_string(),
            "\"ping_ms\":".to_string(),
        ] {
            assert!(json.contains(&field), "{field} missing in {json}");
        }
        let hello = lines.next().unwrap().unwrap();
        let parts: Vec<&str> = hello.splitn(3, ' ').collect();
        assert_eq!(parts[0], "HELLO", "{hello}");
        assert_eq!(parts[1].len(), 128, "{hello}");
        assert!(parts[2].starts_with("mycel/"), "{hello}");
    }
    drop(listener.stdin.take()); // the end of stdin stops it
    assert!(listener.wait().unwrap().success());
}

#[test]
fn dial_failures_are_one_json_line_and_exit_1() {
    let id = "1".repeat(128);
    for (enode, error) in [
        ("enode://zz@127.0.0.1:1".to_string(), "bad node id"),
        (format!("enode://{id}@127.0.0.1:1"), "bad node id"),
        ("http://x".to_string(), "not an enode URL"),
    ] {
        let out = Command::new(MYCEL)
            .args(["devp2p-dial", &enode])
            .output()
            .unwrap();
        let json = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert!(json.starts_with("{\"ok\":false,\"error\":\""), "{json}");
        assert!(json.contains(error), "{json}");
    }
}
