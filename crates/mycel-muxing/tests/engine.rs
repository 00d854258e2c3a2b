//! The engine's behaviours, whatever the protocol: a toy protocol whose frames name the
//! table changes directly drives it through the test harness.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use mycel_core::{MuxerError, Role, testing::read_now};
use mycel_muxing::{
    Codec, Core, Decoded, Delivery, OutFrame, Protocol, ProtocolError, Settings, testing::Harness,
};
use tokio::io::AsyncWrite;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Toy {
    Open(u32),
    Data(u32, Bytes),
    Fin(u32),
    Reset(u32),
}

impl OutFrame for Toy {
    fn encode_head(&self, _dst: &mut BytesMut) {}

    fn body(&self) -> &Bytes {
        static EMPTY: Bytes = Bytes::new();
        match self {
            Toy::Data(_, data) => data,
            _ => &EMPTY,
        }
    }
}

#[derive(Debug)]
struct ToyError(String);

impl fmt::Display for ToyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToyError {}

impl From<std::io::Error> for ToyError {
    fn from(e: std::io::Error) -> Self {
        ToyError(e.to_string())
    }
}

impl ProtocolError for ToyError {
    fn closed() -> Self {
        ToyError("closed".into())
    }

    fn too_many_streams() -> Self {
        ToyError("too many streams".into())
    }

    fn into_muxer_error(self) -> MuxerError {
        MuxerError::Closed
    }
}

struct ToyCodec;

impl Codec for ToyCodec {
    type Frame = Toy;
    type Error = ToyError;

    fn decode(&mut self, _buf: &mut BytesMut) -> Result<Decoded<Toy>, ToyError> {
        Err(ToyError("the toy has no wire format".into()))
    }
}

/// The toy: stream ids from 1, no flow control, limits from `Settings` as given.
struct ToyProtocol {
    next_id: u32,
}

impl Protocol for ToyProtocol {
    type Config = Settings;
    type Id = u32;
    type Number = u32;
    type Stream = ();
    type Codec = ToyCodec;
    type Frame = Toy;
    type Out = Toy;
    type Error = ToyError;

    const NAME: &'static str = "toy";

    fn new(_role: Role, settings: Settings) -> (Self, ToyCodec, Settings) {
        (ToyProtocol { next_id: 1 }, ToyCodec, settings)
    }

    fn number(id: u32) -> u32 {
        id
    }

    fn on_frame(
        &mut self,
        frame: Toy,
        core: &mut Core<Self>,
        _now: Instant,
    ) -> Result<(), ToyError> {
        match frame {
            Toy::Open(id) => {
                if !core.insert_inbound(id, ()) {
                    core.send(Toy::Reset(id));
                }
            }
            Toy::Data(id, data) => {
                core.deliver(id, data);
            }
            Toy::Fin(id) => core.remote_finished(id),
            Toy::Reset(id) => core.remote_reset(id),
        }
        Ok(())
    }

    fn open(&mut self, core: &mut Core<Self>, _now: Instant) -> Result<Option<u32>, ToyError> {
        let id = self.next_id;
        self.next_id += 1;
        core.insert_outbound(id, ());
        core.send(Toy::Open(id));
        Ok(Some(id))
    }

    fn send_window(_stream: &()) -> usize {
        usize::MAX
    }

    fn data_frame(id: u32, _stream: &mut (), payload: Bytes) -> Toy {
        Toy::Data(id, payload)
    }

    fn fin_frame(id: u32) -> Toy {
        Toy::Fin(id)
    }

    fn reset_frame(id: u32) -> Toy {
        Toy::Reset(id)
    }
}

fn settings() -> Settings {
    Settings {
        max_streams: 4,
        max_frame_payload: 16,
        max_buffer_per_stream: Some(100),
        max_buffer_total: Some(150),
        slow_reader_grace: Duration::from_secs(1),
        buffer_budget: None,
        keep_alive: None,
    }
}

fn harness() -> Harness<ToyProtocol> {
    Harness::new(Role::Initiator, settings())
}

/// Inbound stream `id` with `data` held, accepted.
fn inbound_with(
    harness: &Harness<ToyProtocol>,
    id: u32,
    data: &'static [u8],
) -> mycel_muxing::Stream<ToyProtocol> {
    harness.on_frame(Toy::Open(id)).unwrap();
    harness
        .on_frame(Toy::Data(id, Bytes::from_static(data)))
        .unwrap();
    harness.accept().expect("the stream")
}

fn cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

#[test]
fn discarded_data_reads_as_a_reset_whichever_comes_first_fin_or_relief() {
    // The remote's FIN first, then the budget's relief throws the data away.
    let h = harness();
    let mut stream = inbound_with(&h, 1, b"unread");
    h.on_frame(Toy::Fin(1)).unwrap();
    h.relieve();
    assert_eq!(
        read_now(&mut stream),
        Some(Err(std::io::ErrorKind::ConnectionReset))
    );
    assert!(
        h.take_sent().contains(&Toy::Reset(1)),
        "the remote hears of it"
    );
    // The relief first, then more data and the remote's FIN arrive.
    let h = harness();
    let mut stream = inbound_with(&h, 1, b"unread");
    h.relieve();
    h.on_frame(Toy::Data(1, Bytes::from_static(b"late")))
        .unwrap();
    h.on_frame(Toy::Fin(1)).unwrap();
    assert_eq!(
        read_now(&mut stream),
        Some(Err(std::io::ErrorKind::ConnectionReset))
    );
}

#[test]
fn a_fin_then_a_remote_reset_still_ends_cleanly_after_the_data() {
    // A peer that finishes and then drops its stream resets only its unread side:
    // everything it sent is still read, then a clean end.
    let h = harness();
    let mut stream = inbound_with(&h, 1, b"answer");
    h.on_frame(Toy::Fin(1)).unwrap();
    h.on_frame(Toy::Reset(1)).unwrap();
    assert_eq!(read_now(&mut stream), Some(Ok(6)));
    assert_eq!(read_now(&mut stream), Some(Ok(0)));
}

#[test]
fn a_flush_waits_for_the_writer_even_after_the_session_closed() {
    let h = harness();
    let mut stream = h.open().unwrap().expect("a stream");
    let mut cx = cx();
    assert!(matches!(
        Pin::new(&mut stream).poll_write(&mut cx, b"data"),
        Poll::Ready(Ok(4))
    ));
    // The remote went away, but the writer may still be writing what was queued.
    h.fail("remote closed");
    assert!(Pin::new(&mut stream).poll_flush(&mut cx).is_pending());
    // It wrote everything: the flush succeeds.
    h.flush_all();
    assert!(matches!(
        Pin::new(&mut stream).poll_flush(&mut cx),
        Poll::Ready(Ok(()))
    ));
    // Had it stopped first, the flush would have failed.
    let h = harness();
    let mut stream = h.open().unwrap().expect("a stream");
    assert!(
        Pin::new(&mut stream)
            .poll_write(&mut cx, b"data")
            .is_ready()
    );
    h.fail("remote closed");
    h.stop_writer();
    assert!(matches!(
        Pin::new(&mut stream).poll_flush(&mut cx),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn writes_are_cut_to_the_largest_frame_and_dropping_follows_the_stream_state() {
    let h = harness();
    let mut cx = cx();
    // Open both ways: dropped means reset.
    let mut a = h.open().unwrap().unwrap();
    assert!(matches!(
        Pin::new(&mut a).poll_write(&mut cx, &[7; 40]),
        Poll::Ready(Ok(16))
    ));
    drop(a);
    assert_eq!(
        h.take_sent(),
        vec![
            Toy::Open(1),
            Toy::Data(1, Bytes::from_static(&[7; 16])),
            Toy::Reset(1)
        ]
    );
    // The remote finished it: dropped means our FIN, so what we wrote arrives.
    let b = h.open().unwrap().unwrap();
    h.on_frame(Toy::Fin(2)).unwrap();
    drop(b);
    assert_eq!(h.take_sent(), vec![Toy::Open(2), Toy::Fin(2)]);
    // We finished it: nothing more.
    let mut c = h.open().unwrap().unwrap();
    assert!(Pin::new(&mut c).poll_shutdown(&mut cx).is_pending());
    drop(c);
    assert_eq!(h.take_sent(), vec![Toy::Open(3), Toy::Fin(3)]);
    // Reset by the remote: nothing more, and writes fail.
    let mut d = h.open().unwrap().unwrap();
    h.on_frame(Toy::Reset(4)).unwrap();
    assert!(matches!(
        Pin::new(&mut d).poll_write(&mut cx, b"x"),
        Poll::Ready(Err(_))
    ));
    drop(d);
    assert_eq!(h.take_sent(), vec![Toy::Open(4)]);
}

#[test]
fn streams_past_the_limit_are_refused_and_data_past_a_cap_waits() {
    let h = harness();
    let _held: Vec<_> = (1..=4).map(|id| inbound_with(&h, id, b"x")).collect();
    h.take_sent();
    h.on_frame(Toy::Open(5)).unwrap();
    assert_eq!(h.take_sent(), vec![Toy::Reset(5)]);
    assert!(h.accept().is_none());
    // Stream 1 holds 1 byte; 100 more pass its cap of 100: the engine keeps them aside.
    let full = h.with(|_, core| core.deliver(1, Bytes::from(vec![0; 100])));
    assert_eq!(full, Delivery::Full);
    // Data for a stream nobody knows is dropped.
    let dropped = h.with(|_, core| core.deliver(99, Bytes::from_static(b"?")));
    assert_eq!(dropped, Delivery::Dropped);
}

#[tokio::test]
async fn a_session_whose_bytes_make_no_frame_ends_and_refuses_streams() {
    use tokio::io::AsyncWriteExt;

    let (a, mut b) = tokio::io::duplex(1 << 16);
    let conn =
        mycel_muxing::Connection::<ToyProtocol>::new(Box::new(a), Role::Initiator, settings());
    // The toy's codec refuses every byte.
    b.write_all(b"garbage").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !conn.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the session ends");
    assert!(conn.open_stream().await.is_err());
    assert!(conn.accept_stream().await.is_err());
}
