//! Two yamux sessions over an in-memory pipe, and a raw peer that breaks the rules.

use std::time::Duration;

use mycel_core::Role;
use mycel_muxing::testing::pair;
use mycel_yamux::{
    Config, Connection, YamuxError,
    frame::{ACK, FrameType, GO_AWAY_NORMAL, GO_AWAY_PROTOCOL_ERROR, HEADER_LEN, Header, SYN},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Half-close and the rest are in the compliance suite; this is yamux's numbering.
#[tokio::test]
async fn dialer_streams_are_odd_and_listener_streams_even() {
    let (client, server) = pair::<mycel_yamux::Yamux>(Config::default(), Config::default());
    let mut c = client.open_stream().await.unwrap();
    assert_eq!(c.id() % 2, 1, "dialer streams are odd");
    let mut s = server.open_stream().await.unwrap();
    assert_eq!(s.id() % 2, 0, "listener streams are even");
    // Each side's stream arrives at the other with the same id.
    for (out, conn) in [(&mut c, &server), (&mut s, &client)] {
        out.write_all(b"x").await.unwrap();
        out.flush().await.unwrap();
        let mut inbound = conn.accept_stream().await.unwrap();
        assert_eq!(inbound.id(), out.id());
        let mut got = [0u8; 1];
        inbound.read_exact(&mut got).await.unwrap();
    }
}

#[tokio::test]
async fn a_reader_that_does_not_read_stops_only_its_sender() {
    let (client, server) = pair::<mycel_yamux::Yamux>(Config::default(), Config::default());
    let mut slow = client.open_stream().await.unwrap();
    let fast = client.open_stream().await.unwrap();
    let _slow_in = server.accept_stream().await.unwrap(); // never read
    let mut fast_in = server.accept_stream().await.unwrap();

    // The slow stream takes the initial 256 KiB window, then blocks.
    let blob = vec![7u8; 512 * 1024];
    let written = tokio::time::timeout(Duration::from_millis(300), slow.write_all(&blob)).await;
    assert!(written.is_err(), "writing past the window must wait");

    // The other stream is unaffected.
    let mut fast = fast;
    let send = async {
        fast.write_all(&blob).await.unwrap();
        fast.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let recv = fast_in.read_to_end(&mut got);
    let ((), read) =
        tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(send, recv) })
            .await
            .expect("the other stream is not blocked");
    read.unwrap();
    assert_eq!(got.len(), blob.len());
}

#[tokio::test]
async fn keep_alive_closes_a_silent_connection() {
    let (a, _silent_peer) = tokio::io::duplex(1024);
    let config = Config {
        keep_alive: Some(Duration::from_millis(50)),
        ..Config::default()
    };
    let conn = Connection::new(Box::new(a), Role::Initiator, config);
    let r = tokio::time::timeout(Duration::from_secs(2), conn.accept_stream()).await;
    assert!(matches!(r, Ok(Err(YamuxError::Closed))));
}

/// A session against a raw peer: returns the session and the raw end.
fn raw_peer(role: Role) -> (Connection, DuplexStream) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (Connection::new(Box::new(a), role, Config::default()), b)
}

async fn read_frame(raw: &mut DuplexStream) -> Header {
    let mut h = [0u8; HEADER_LEN];
    raw.read_exact(&mut h).await.unwrap();
    let header = Header::decode(&h).unwrap();
    if header.kind == FrameType::Data {
        let mut payload = vec![0u8; header.length as usize];
        raw.read_exact(&mut payload).await.unwrap();
    }
    header
}

/// Reads frames until a go-away; returns its code.
async fn go_away_code(raw: &mut DuplexStream) -> u32 {
    loop {
        let h = tokio::time::timeout(Duration::from_secs(5), read_frame(raw))
            .await
            .unwrap();
        if h.kind == FrameType::GoAway {
            return h.length;
        }
    }
}

#[tokio::test]
async fn protocol_violations_end_in_a_protocol_error_go_away() {
    let bad_version = {
        let mut b = Header::new(FrameType::Data, SYN, 1, 0).to_bytes();
        b[0] = 7;
        b.to_vec()
    };
    let bad_type = {
        let mut b = Header::new(FrameType::Data, SYN, 1, 0).to_bytes();
        b[1] = 9;
        b.to_vec()
    };
    let unknown_stream = Header::new(FrameType::Data, 0, 99, 0).to_bytes().to_vec();
    let window_violation = {
        let mut b = Header::new(FrameType::WindowUpdate, SYN, 1, 0)
            .to_bytes()
            .to_vec();
        let over = 256 * 1024 + 1;
        b.extend_from_slice(&Header::new(FrameType::Data, 0, 1, over).to_bytes());
        b.extend(std::iter::repeat_n(0u8, over as usize));
        b
    };
    let wrong_parity_syn = Header::new(FrameType::WindowUpdate, SYN, 2, 0)
        .to_bytes()
        .to_vec();
    let stream_frame_on_zero = Header::new(FrameType::Data, 0, 0, 0).to_bytes().to_vec();
    for (name, bytes) in [
        ("bad version", bad_version),
        ("bad type", bad_type),
        ("unknown stream", unknown_stream),
        ("window violation", window_violation),
        (
            "syn with the listener's parity from the dialer",
            wrong_parity_syn,
        ),
        ("stream frame on id 0", stream_frame_on_zero),
    ] {
        // We are the listener; the raw peer plays the dialer (odd ids).
        let (conn, mut raw) = raw_peer(Role::Responder);
        raw.write_all(&bytes).await.unwrap();
        assert_eq!(
            go_away_code(&mut raw).await,
            GO_AWAY_PROTOCOL_ERROR,
            "{name}"
        );
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).await.unwrap();
        assert!(conn.is_closed(), "{name}: session ends");
    }
}

#[tokio::test]
async fn pings_are_answered_with_the_same_value() {
    let (_conn, mut raw) = raw_peer(Role::Responder);
    raw.write_all(&Header::new(FrameType::Ping, SYN, 0, 0xdead_beef).to_bytes())
        .await
        .unwrap();
    loop {
        let h = read_frame(&mut raw).await;
        if h.kind == FrameType::Ping && h.flags & ACK != 0 {
            assert_eq!(h.length, 0xdead_beef);
            break;
        }
    }
}

#[tokio::test]
async fn opening_sends_syn_and_accepting_sends_ack() {
    let (conn, mut raw) = raw_peer(Role::Initiator);
    let _s = conn.open_stream().await.unwrap();
    loop {
        let h = read_frame(&mut raw).await;
        if h.kind == FrameType::WindowUpdate {
            assert_eq!((h.flags, h.stream_id, h.length), (SYN, 1, 0));
            break;
        }
    }
    raw.write_all(&Header::new(FrameType::WindowUpdate, SYN, 2, 0).to_bytes())
        .await
        .unwrap();
    let _inbound = conn.accept_stream().await.unwrap();
    let h = read_frame(&mut raw).await;
    assert_eq!(
        (h.kind, h.flags, h.stream_id),
        (FrameType::WindowUpdate, ACK, 2)
    );
    // A normal go-away from the remote stops new streams but not the session.
    raw.write_all(&Header::new(FrameType::GoAway, 0, 0, GO_AWAY_NORMAL).to_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(conn.open_stream().await, Err(YamuxError::Closed)));
}

#[tokio::test]
async fn an_opener_blocked_by_the_ack_backlog_goes_on_when_an_ack_arrives() {
    let client_config = Config {
        max_ack_backlog: 2,
        ..Config::default()
    };
    let (client, server) = pair::<mycel_yamux::Yamux>(client_config, Config::default());
    let _a = client.open_stream().await.unwrap();
    let _b = client.open_stream().await.unwrap();
    // Both unacknowledged: a third open waits.
    let third = tokio::time::timeout(Duration::from_millis(200), client.open_stream()).await;
    assert!(third.is_err(), "the backlog is full");
    // The server accepts one (and ACKs it); nothing else is sent by the client.
    let _accepted = server.accept_stream().await.unwrap();
    let third = tokio::time::timeout(Duration::from_secs(2), client.open_stream()).await;
    assert!(third.expect("woken by the ACK").is_ok());
}
