//! Noise transport throughput against the AEAD's own limit, in one run.
//!
//! - `seal_open_raw`: the chosen backend sealing and opening 65519-byte frames in place,
//!   nothing else: the most any Noise stream on one core can do.
//! - `noise_pair`: 1 GiB written through one `NoiseOutput` and read from its peer over an
//!   in-memory pipe, on a single-threaded runtime (one core seals and opens, as above).
//!
//! Run: `cargo bench -p mycel-noise --bench noise`

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mycel_core::Keypair;
use mycel_noise::{
    Config, MAX_PLAINTEXT_LEN,
    cipher::{Backend, Cipher},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOTAL: usize = 1 << 30;

fn seal_open_raw(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let frames = TOTAL / MAX_PLAINTEXT_LEN;
    for &backend in Backend::ALL {
        let cipher = Cipher::new(backend, &[9; 32]);
        let mut buf = vec![0x5a; MAX_PLAINTEXT_LEN];
        group.bench_function(format!("seal_open_raw/{backend:?}"), |b| {
            b.iter(|| {
                for n in 0..frames as u64 {
                    let tag = cipher.seal(n, &[], &mut buf);
                    cipher.open(n, &[], &mut buf, &tag).unwrap();
                }
            })
        });
    }
    group.finish();
}

fn noise_pair(c: &mut Criterion) {
    let mut group = c.benchmark_group("noise");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for &backend in Backend::ALL {
        group.bench_function(format!("pair_1GiB/{backend:?}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (a, bside) = tokio::io::duplex(256 * 1024);
                    let dialer = Config::new(Keypair::generate()).with_backend(backend);
                    let listener = Config::new(Keypair::generate()).with_backend(backend);
                    let (out, inb) = tokio::join!(
                        dialer.upgrade_outbound(a, None),
                        listener.upgrade_inbound(bside)
                    );
                    let (mut tx, mut rx) = (out.unwrap().0, inb.unwrap().0);
                    let chunk = vec![0xa5u8; 64 * 1024];
                    let write = async {
                        for _ in 0..TOTAL / chunk.len() {
                            tx.write_all(&chunk).await.unwrap();
                        }
                        tx.shutdown().await.unwrap();
                    };
                    let read = async {
                        let mut buf = vec![0u8; 128 * 1024];
                        let mut total = 0;
                        loop {
                            let n = rx.read(&mut buf).await.unwrap();
                            if n == 0 {
                                break total;
                            }
                            total += n;
                        }
                    };
                    let ((), received) = tokio::join!(write, read);
                    assert_eq!(received, TOTAL);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, seal_open_raw, noise_pair);
criterion_main!(benches);
