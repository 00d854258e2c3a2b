//! Two mplex sessions over an in-memory pipe, and a raw peer that breaks the rules.

use std::time::Duration;

use bytes::BytesMut;
use mycel_core::Role;
use mycel_mplex::{
    Config, Connection,
    codec::{Message, Side},
};
use mycel_muxing::testing::pair;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Half-close and the rest are in the compliance suite; this is mplex's numbering.
#[tokio::test]
async fn both_sides_number_from_zero_and_the_flags_tell_the_streams_apart() {
    let (client, server) = pair::<mycel_mplex::Mplex>(Config::default(), Config::default());
    let mut c = client.open_stream().await.unwrap();
    let mut s_out = server.open_stream().await.unwrap();
    assert_eq!(c.id(), s_out.id(), "both sides number from 0");
    c.write_all(b"from the dialer").await.unwrap();
    c.shutdown().await.unwrap();
    s_out.write_all(b"from the listener").await.unwrap();
    s_out.shutdown().await.unwrap();
    for (conn, expected) in [
        (&server, &b"from the dialer"[..]),
        (&client, &b"from the listener"[..]),
    ] {
        let mut got = Vec::new();
        let mut inbound = conn.accept_stream().await.unwrap();
        inbound.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn a_stream_nobody_reads_is_reset_after_the_grace_period() {
    let server_config = Config {
        max_buffer_per_stream: 64 * 1024,
        slow_reader_grace: Duration::from_millis(100),
        ..Config::default()
    };
    let (client, server) = pair::<mycel_mplex::Mplex>(Config::default(), server_config);
    let mut slow = client.open_stream().await.unwrap();
    slow.write_all(b"x").await.unwrap();
    slow.flush().await.unwrap();
    let mut slow_in = server.accept_stream().await.unwrap();

    // More than the cap, never read on the other side.
    let blob = vec![1u8; 200 * 1024];
    slow.write_all(&blob).await.unwrap();
    slow.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The writer learns of the reset; the reader gets an error, not a silent gap.
    let write = slow.write_all(b"more").await;
    assert!(write.is_err(), "the stream was reset");
    let mut buf = vec![0u8; 300 * 1024];
    assert!(slow_in.read_exact(&mut buf).await.is_err());

    // The connection and new streams still work.
    let mut fresh = client.open_stream().await.unwrap();
    fresh.write_all(b"fine").await.unwrap();
    fresh.shutdown().await.unwrap();
    let mut got = Vec::new();
    server
        .accept_stream()
        .await
        .unwrap()
        .read_to_end(&mut got)
        .await
        .unwrap();
    assert_eq!(got, b"fine");
}

fn raw_peer() -> (Connection, DuplexStream) {
    let (a, b) = tokio::io::duplex(4 << 20);
    (
        Connection::new(Box::new(a), Role::Initiator, Config::default()),
        b,
    )
}

fn encode(msgs: &[Message]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for m in msgs {
        m.encode(&mut buf);
    }
    buf.to_vec()
}

#[tokio::test]
async fn protocol_violations_close_the_connection() {
    let open = Message::NewStream {
        id: 3,
        name: "a".into(),
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown flag", vec![8 | 7, 0]),
        ("message over 1 MiB", {
            let mut v = vec![8 | 2];
            v.extend_from_slice(&[0x81, 0x80, 0x40]);
            v
        }),
        ("stream opened twice", encode(&[open.clone(), open])),
        ("overlong varint", vec![0xff; 12]),
    ];
    for (name, bytes) in cases {
        let (conn, mut raw) = raw_peer();
        raw.write_all(&bytes).await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("{name}: connection not closed"))
            .unwrap();
        assert!(conn.is_closed(), "{name}");
    }
}

#[tokio::test]
async fn wire_messages_use_the_right_flags() {
    let (conn, mut raw) = raw_peer();
    // The remote opens stream 5 and sends on it as initiator.
    raw.write_all(&encode(&[
        Message::NewStream {
            id: 5,
            name: "5".into(),
        },
        Message::Data {
            id: 5,
            side: Side::Initiator,
            data: "hi".into(),
        },
    ]))
    .await
    .unwrap();
    let mut s = conn.accept_stream().await.unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");
    // Our answer on the remote's stream carries the receiver flags.
    s.write_all(b"yo").await.unwrap();
    s.shutdown().await.unwrap();
    let mut wire = [0u8; 6];
    raw.read_exact(&mut wire).await.unwrap();
    assert_eq!(wire, [(5 << 3) | 1, 2, b'y', b'o', (5 << 3) | 3, 0]);
    // And a stream we open starts with NewStream, then initiator flags.
    let mut ours = conn.open_stream().await.unwrap();
    ours.write_all(b"z").await.unwrap();
    ours.flush().await.unwrap();
    let mut wire = [0u8; 6];
    raw.read_exact(&mut wire).await.unwrap();
    assert_eq!(wire, [0, 1, b'0', 2, 1, b'z']);
}

#[tokio::test]
async fn the_connection_wide_buffer_cap_resets_the_stream_that_passes_it() {
    let server_config = Config {
        max_buffer_total: 128 * 1024,
        slow_reader_grace: Duration::from_millis(100),
        ..Config::default()
    };
    let (client, server) = pair::<mycel_mplex::Mplex>(Config::default(), server_config);
    let mut a = client.open_stream().await.unwrap();
    a.write_all(&[1u8; 100 * 1024]).await.unwrap();
    a.flush().await.unwrap();
    let mut a_in = server.accept_stream().await.unwrap();
    let mut b = client.open_stream().await.unwrap();
    b.write_all(&[2u8; 100 * 1024]).await.unwrap();
    b.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The stream that would have passed the cap is reset; the first one is intact.
    assert!(b.write_all(b"x").await.is_err());
    let mut got = vec![0u8; 100 * 1024];
    a_in.read_exact(&mut got).await.unwrap();
    assert!(got.iter().all(|&x| x == 1));
    assert!(!server.is_closed());
}

#[tokio::test]
async fn dropping_the_stream_the_reader_waits_for_frees_the_connection_at_once() {
    let server_config = Config {
        max_buffer_per_stream: 64 * 1024,
        slow_reader_grace: Duration::from_secs(10),
        ..Config::default()
    };
    let (client, server) = pair::<mycel_mplex::Mplex>(Config::default(), server_config);
    let mut full = client.open_stream().await.unwrap();
    full.write_all(&[0u8; 1]).await.unwrap();
    full.flush().await.unwrap();
    let full_in = server.accept_stream().await.unwrap();
    full.write_all(&[0u8; 200 * 1024]).await.unwrap();
    full.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // the reader is now waiting
    drop(full_in);
    let mut next = client.open_stream().await.unwrap();
    next.write_all(b"next").await.unwrap();
    next.shutdown().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), async {
        let mut s = server.accept_stream().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    })
    .await
    .expect("the reader went on without waiting out the grace");
    assert_eq!(got, b"next");
}
