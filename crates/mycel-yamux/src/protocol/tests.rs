//! yamux's own rules: credit, window growth, violations, the ACK backlog.
use std::{
    pin::Pin,
    task::{Context, Poll},
};

use mycel_muxing::testing::Harness;
use tokio::io::AsyncRead;

use super::*;
use crate::{DEFAULT_MAX_WINDOW, Stream};

fn flags(id: u32, flags: u16) -> Frame {
    Frame::stream_flags(id, flags, 0)
}

fn data(id: u32, len: usize) -> Frame {
    Frame {
        header: Header::new(FrameType::Data, 0, id, len as u32),
        payload: Bytes::from(vec![0u8; len]),
    }
}

/// The credits (window updates without flags) sent since the last call.
fn credits(harness: &Harness<Yamux>) -> Vec<u32> {
    harness
        .take_sent()
        .into_iter()
        .filter(|f| f.header.kind == FrameType::WindowUpdate && f.header.flags == 0)
        .map(|f| f.header.length)
        .collect()
}

/// A listener's session with inbound stream 1 accepted.
fn with_inbound() -> (Harness<Yamux>, Stream) {
    let harness = Harness::new(Role::Responder, Config::default());
    harness.on_frame(flags(1, SYN)).unwrap();
    let stream = harness.accept().expect("stream 1");
    harness.take_sent();
    (harness, stream)
}

fn read_exactly(stream: &mut Stream, len: usize) {
    let mut buf = vec![0u8; len];
    let mut read = tokio::io::ReadBuf::new(&mut buf);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(matches!(
        Pin::new(stream).poll_read(&mut cx, &mut read),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(read.filled().len(), len);
}

fn window_max(harness: &Harness<Yamux>) -> u32 {
    harness.with(|_, core| core.stream(1).unwrap().proto.window_max)
}

#[test]
fn credit_is_returned_after_half_the_window_is_read() {
    let (harness, mut stream) = with_inbound();
    harness.on_frame(data(1, 100 * 1024)).unwrap();
    read_exactly(&mut stream, 100 * 1024);
    assert!(
        credits(&harness).is_empty(),
        "less than half the window read"
    );
    harness.on_frame(data(1, 50 * 1024)).unwrap();
    read_exactly(&mut stream, 50 * 1024);
    assert_eq!(
        credits(&harness),
        vec![150 * 1024],
        "no RTT known: no growth"
    );
    let recv_window = harness.with(|_, core| core.stream(1).unwrap().proto.recv_window);
    assert_eq!(recv_window, INITIAL_WINDOW);
}

#[test]
fn window_grows_when_updates_come_faster_than_the_round_trip() {
    let (harness, mut stream) = with_inbound();
    harness.with(|yamux, _| yamux.set_rtt(Duration::from_secs(3600)));
    let mut windows = Vec::new();
    for _ in 0..12 {
        let half = (window_max(&harness) / 2) as usize;
        harness.on_frame(data(1, half)).unwrap();
        read_exactly(&mut stream, half);
        windows.push(window_max(&harness));
    }
    assert_eq!(
        windows[0],
        2 * INITIAL_WINDOW,
        "doubled on the first fast update"
    );
    assert_eq!(
        *windows.last().unwrap(),
        DEFAULT_MAX_WINDOW,
        "capped at the maximum"
    );
    let credit: u32 = credits(&harness).iter().sum();
    let consumed: u32 =
        windows.iter().map(|w| w / 2).sum::<u32>() - windows[0] / 2 + INITIAL_WINDOW / 2;
    assert!(
        credit > consumed,
        "growth is granted on top of what was read"
    );
}

#[test]
fn data_past_the_window_is_a_violation() {
    let (harness, _stream) = with_inbound();
    harness.on_frame(data(1, INITIAL_WINDOW as usize)).unwrap();
    assert!(matches!(
        harness.on_frame(data(1, 1)),
        Err(YamuxError::WindowViolation(1))
    ));
}

#[test]
fn an_ack_frees_the_backlog_and_a_syn_past_the_limit_is_refused() {
    let config = Config {
        max_ack_backlog: 1,
        max_streams: 2,
        ..Config::default()
    };
    let harness = Harness::<Yamux>::new(Role::Initiator, config);
    let _first = harness.open().unwrap().expect("first stream");
    assert!(harness.open().unwrap().is_none(), "the backlog is full");
    harness.on_frame(flags(1, ACK)).unwrap();
    let _second = harness.open().unwrap().expect("room again after the ACK");
    harness.take_sent();
    // Two streams open: the remote's SYN is answered with RST.
    harness.on_frame(flags(2, SYN)).unwrap();
    let sent = harness.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].header.stream_id, sent[0].header.flags), (2, RST));
    assert!(harness.accept().is_none());
}
