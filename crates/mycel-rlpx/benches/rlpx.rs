//! RLPx frame throughput against the raw cost of its crypto, and handshakes per second,
//! in one run (one core).
//!
//! - `frames/raw`: per 16 KiB of data, what a frame's crypto costs at the least: the
//!   data run through AES-256-CTR twice (seal, open) and fed into keccak256 twice (the
//!   egress and ingress MACs).
//! - `frames/codec`: the same data as one frame sealed by one `FrameCodec` and opened by
//!   its peer (headers, MAC seeds, padding, buffers included).
//! - `handshake`: auth, ack and both sides' secrets, one full handshake.
//!
//! Run: `cargo bench -p mycel-rlpx --bench rlpx`

use std::time::Duration;

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use k256::SecretKey;
use mycel_rlpx::{FrameCodec, Initiator, NodeId, Recipient, Secrets};
use rand::rngs::OsRng;
use sha3::{Digest, Keccak256};

const FRAME: usize = 16 * 1024;
/// Frames per iteration: 1 GiB in all.
const FRAMES: usize = (1 << 30) / FRAME;

fn handshake() -> (Secrets, Secrets) {
    let (a, b) = (SecretKey::random(&mut OsRng), SecretKey::random(&mut OsRng));
    let mut initiator = Initiator::new(a, NodeId::from_public_key(&b.public_key())).unwrap();
    let recipient = Recipient::new(b);
    let auth = initiator.auth();
    let read = recipient.read_auth(&auth).unwrap();
    let (ack, b_secrets) = recipient.ack(&auth, &read).unwrap();
    let (_, a_secrets) = initiator.read_ack(&ack).unwrap();
    (a_secrets, b_secrets)
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    group.throughput(Throughput::Bytes((FRAMES * FRAME) as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));

    let data = vec![0x5au8; FRAME];
    group.bench_function("raw", |b| {
        let mut seal = ctr::Ctr128BE::<aes::Aes256>::new(&[1; 32].into(), &[0; 16].into());
        let mut open = ctr::Ctr128BE::<aes::Aes256>::new(&[1; 32].into(), &[0; 16].into());
        let (mut egress, mut ingress) = (Keccak256::new(), Keccak256::new());
        let mut buf = data.clone();
        b.iter(|| {
            for _ in 0..FRAMES {
                seal.apply_keystream(&mut buf);
                egress.update(&buf);
                ingress.update(&buf);
                open.apply_keystream(&mut buf);
            }
            std::hint::black_box((&egress, &ingress, &buf));
        })
    });

    group.bench_function("codec", |b| {
        let (a, z) = handshake();
        let (mut out, mut inb) = (FrameCodec::new(&a), FrameCodec::new(&z));
        let mut wire = BytesMut::with_capacity(2 * FRAME);
        b.iter(|| {
            for _ in 0..FRAMES {
                out.encode(&data, &mut wire).unwrap();
                let got = inb.decode(&mut wire).unwrap().unwrap();
                std::hint::black_box(&got);
                drop(got);
                wire.clear();
            }
        })
    });
    group.finish();
}

fn handshakes(c: &mut Criterion) {
    c.bench_function("handshake", |b| b.iter(handshake));
}

criterion_group!(benches, frames, handshakes);
criterion_main!(benches);
