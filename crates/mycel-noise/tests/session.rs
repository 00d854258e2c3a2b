//! Two mycel peers over an in-memory pipe: handshake, identities, data, bad input.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use mycel_core::{Keypair, PeerId, ProtocolId};
use mycel_noise::{Config, MAX_FRAME_LEN, MAX_PLAINTEXT_LEN, NoiseError, cipher::Backend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

const YAMUX: ProtocolId = ProtocolId::from_static("/yamux/1.0.0");
const MPLEX: ProtocolId = ProtocolId::from_static("/mplex/6.7.0");

/// Records every byte written through it.
struct Tap {
    inner: DuplexStream,
    written: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = poll {
            self.written.lock().unwrap().extend_from_slice(&data[..n]);
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn peers_authenticate_each_other_and_agree_on_a_muxer() {
    for &backend in Backend::ALL {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (ka, kb) = (Keypair::generate(), Keypair::generate());
        let dialer = Config::new(ka.clone())
            .with_muxers(vec![YAMUX, MPLEX])
            .with_backend(backend);
        let listener = Config::new(kb.clone())
            .with_muxers(vec![MPLEX, YAMUX])
            .with_backend(backend);
        let expected = kb.peer_id();
        let (out, inb) = tokio::join!(
            dialer.upgrade_outbound(a, Some(expected)),
            listener.upgrade_inbound(b)
        );
        let ((mut a, remote_b), (mut b, remote_a)) = (out.unwrap(), inb.unwrap());
        assert_eq!(remote_b.peer_id, kb.peer_id());
        assert_eq!(remote_a.peer_id, ka.peer_id());
        assert_eq!(remote_a.public_key, ka.public());
        // The initiator's preference wins on both sides.
        assert_eq!(remote_b.muxer, Some(YAMUX));
        assert_eq!(remote_a.muxer, Some(YAMUX));

        a.write_all(b"hello").await.unwrap();
        a.flush().await.unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        b.write_all(b"world").await.unwrap();
        b.shutdown().await.unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"world");
    }
}

#[tokio::test]
async fn no_muxer_offered_means_none_agreed() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let dialer = Config::new(Keypair::generate());
    let listener = Config::new(Keypair::generate()).with_muxers(vec![YAMUX]);
    let (out, inb) = tokio::join!(
        dialer.upgrade_outbound(a, None),
        listener.upgrade_inbound(b)
    );
    assert_eq!(out.unwrap().1.muxer, None);
    assert_eq!(inb.unwrap().1.muxer, None);
}

#[tokio::test]
async fn disjoint_muxer_lists_fail_the_handshake() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let dialer = Config::new(Keypair::generate()).with_muxers(vec![MPLEX]);
    let listener = Config::new(Keypair::generate()).with_muxers(vec![YAMUX]);
    let (out, inb) = tokio::join!(
        dialer.upgrade_outbound(a, None),
        listener.upgrade_inbound(b)
    );
    assert!(matches!(out, Err(NoiseError::NoCommonMuxer { .. })));
    assert!(inb.is_err(), "the listener sees the dialer go away");
}

#[tokio::test]
async fn dialing_the_wrong_peer_is_a_typed_error() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let wrong = PeerId::random();
    let kb = Keypair::generate();
    let dialer = Config::new(Keypair::generate());
    let listener = Config::new(kb.clone());
    let (out, inb) = tokio::join!(
        dialer.upgrade_outbound(a, Some(wrong)),
        listener.upgrade_inbound(b)
    );
    match out {
        Err(NoiseError::PeerIdMismatch { expected, actual }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, kb.peer_id());
        }
        other => panic!("expected a mismatch, got {:?}", other.map(|o| o.1)),
    }
    assert!(inb.is_err(), "the connection is closed, not left hanging");
}

#[tokio::test]
async fn large_writes_are_split_into_full_frames() {
    let (a, b) = tokio::io::duplex(1 << 20);
    let written = Arc::new(Mutex::new(Vec::new()));
    let a = Tap {
        inner: a,
        written: written.clone(),
    };
    let dialer = Config::new(Keypair::generate());
    let listener = Config::new(Keypair::generate());
    let (out, inb) = tokio::join!(
        dialer.upgrade_outbound(a, None),
        listener.upgrade_inbound(b)
    );
    let (mut a, mut b) = (out.unwrap().0, inb.unwrap().0);
    let handshake_bytes = written.lock().unwrap().len();

    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        got
    });
    a.write_all(&data).await.unwrap();
    a.shutdown().await.unwrap();
    assert_eq!(reader.await.unwrap(), data);

    let wire = written.lock().unwrap()[handshake_bytes..].to_vec();
    let mut frames = Vec::new();
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        frames.push(len);
        rest = &rest[2 + len..];
    }
    let full = data.len() / MAX_PLAINTEXT_LEN;
    assert_eq!(frames.len(), full + 1);
    assert!(
        frames[..full].iter().all(|&l| l == MAX_FRAME_LEN),
        "{frames:?}"
    );
    assert_eq!(frames[full], data.len() % MAX_PLAINTEXT_LEN + 16);
}

/// A handshaken pair whose responder reads through a raw pipe we can write into.
async fn pair_with_raw_sender() -> (
    mycel_noise::NoiseOutput<DuplexStream>,
    DuplexStream,
    Vec<u8>,
) {
    // dialer <-> relay (raw) <-> listener
    let (a, relay_a) = tokio::io::duplex(1 << 16);
    let (relay_b, b) = tokio::io::duplex(1 << 16);
    let dialer = Config::new(Keypair::generate());
    let listener = Config::new(Keypair::generate());
    let relay = tokio::spawn(async move {
        let (mut ra_r, mut ra_w) = tokio::io::split(relay_a);
        let (mut rb_r, mut rb_w) = tokio::io::split(relay_b);
        // Relay the three handshake messages only, then hand the raw ends back.
        for (from_a, _) in [(true, 0), (false, 1), (true, 2)] {
            let (r, w): (
                &mut (dyn AsyncRead + Unpin + Send),
                &mut (dyn AsyncWrite + Unpin + Send),
            ) = if from_a {
                (&mut ra_r, &mut rb_w)
            } else {
                (&mut rb_r, &mut ra_w)
            };
            let mut len = [0u8; 2];
            r.read_exact(&mut len).await.unwrap();
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            r.read_exact(&mut msg).await.unwrap();
            w.write_all(&len).await.unwrap();
            w.write_all(&msg).await.unwrap();
        }
        (ra_r.unsplit(ra_w), rb_r.unsplit(rb_w))
    });
    let (out, inb) = tokio::join!(
        dialer.upgrade_outbound(a, None),
        listener.upgrade_inbound(b)
    );
    let (mut dialer_side, _) = out.unwrap();
    let (listener_side, _) = inb.unwrap();
    let (mut raw_from_dialer, raw_to_listener) = relay.await.unwrap();
    // Capture one genuine frame from the dialer to tamper with.
    dialer_side.write_all(b"genuine").await.unwrap();
    dialer_side.flush().await.unwrap();
    let mut frame = vec![0u8; 2 + 7 + 16];
    raw_from_dialer.read_exact(&mut frame).await.unwrap();
    (listener_side, raw_to_listener, frame)
}

#[tokio::test]
async fn tampered_truncated_and_short_frames_are_errors() {
    // The genuine frame, passed on as is, decrypts.
    let (mut listener, mut raw, frame) = pair_with_raw_sender().await;
    raw.write_all(&frame).await.unwrap();
    let mut buf = [0u8; 7];
    listener.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"genuine");

    // The same frame with one bit flipped, in the ciphertext or in the tag.
    for at in [2, frame.len() - 1] {
        let (mut listener, mut raw, mut frame) = pair_with_raw_sender().await;
        frame[at] ^= 0x01;
        raw.write_all(&frame).await.unwrap();
        let err = listener.read(&mut [0u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    // A frame shorter than a tag.
    let (mut listener, mut raw, _) = pair_with_raw_sender().await;
    raw.write_all(&[0, 3, 1, 2, 3]).await.unwrap();
    let err = listener.read(&mut [0u8; 64]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);

    // The stream ends inside a frame.
    let (mut listener, mut raw, _) = pair_with_raw_sender().await;
    raw.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    drop(raw);
    let err = listener.read(&mut [0u8; 64]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn garbage_instead_of_a_handshake_is_an_error() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let dialer = Config::new(Keypair::generate());
    let peer = tokio::spawn(async move {
        let mut msg1 = [0u8; 34];
        b.read_exact(&mut msg1).await.unwrap();
        // A message 2 of the right shape but random content.
        let mut reply = vec![0, 200];
        reply.extend((0..200u32).map(|i| (i * 7) as u8));
        b.write_all(&reply).await.unwrap();
        b
    });
    let err = dialer.upgrade_outbound(a, None).await.unwrap_err();
    assert!(
        matches!(err, NoiseError::DecryptionFailed | NoiseError::InvalidDhKey),
        "{err:?}"
    );
    drop(peer.await.unwrap());
}

mod prop {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any mix of write sizes, read buffer sizes and pipe capacities (small pipes force
        /// reads to stop mid-frame) delivers every byte in order.
        #[test]
        fn any_chunking_delivers_every_byte(
            writes in proptest::collection::vec(1usize..150_000, 1..8),
            reads in proptest::collection::vec(1usize..140_000, 1..8),
            pipe in prop_oneof![Just(64usize), Just(4096), Just(70_000), Just(1 << 20)],
            flush_each in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let (a, b) = tokio::io::duplex(pipe);
                let dialer = Config::new(Keypair::generate());
                let listener = Config::new(Keypair::generate());
                let (out, inb) = tokio::join!(dialer.upgrade_outbound(a, None), listener.upgrade_inbound(b));
                let (mut tx, mut rx) = (out.unwrap().0, inb.unwrap().0);
                let total: usize = writes.iter().sum();
                let data: Vec<u8> = (0..total).map(|i| (i * 31 % 256) as u8).collect();
                let sent = data.clone();
                let writer = async move {
                    let mut at = 0;
                    for w in writes {
                        tx.write_all(&sent[at..at + w]).await.unwrap();
                        if flush_each {
                            tx.flush().await.unwrap();
                        }
                        at += w;
                    }
                    tx.shutdown().await.unwrap();
                };
                let reader = async move {
                    let mut got = Vec::with_capacity(total);
                    let mut i = 0;
                    loop {
                        let mut buf = vec![0u8; reads[i % reads.len()]];
                        i += 1;
                        let n = rx.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break got;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                };
                let ((), got) = tokio::join!(writer, reader);
                assert!(got == data, "received {} of {} bytes, content differs", got.len(), data.len());
            });
        }
    }
}
