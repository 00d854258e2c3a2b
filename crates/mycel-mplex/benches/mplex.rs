//! mplex throughput in memory against a plain copy over the same kind of pipe.
//!
//! - `plain_copy`: 1 GiB written into a tokio duplex pipe and read out: the baseline.
//! - `one_stream`: 1 GiB over one mplex stream on such a pipe.
//! - `16_streams`: 1 GiB split over 16 concurrent streams.
//!
//! Run: `cargo bench -p mycel-mplex --bench mplex`

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mycel_core::Role;
use mycel_mplex::{Config, Connection};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const TOTAL: usize = 1 << 30;
const CHUNK: usize = 256 * 1024;
const PIPE: usize = 1 << 20;

async fn send(mut w: impl AsyncWrite + Unpin, bytes: usize) {
    let chunk = vec![0x42u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK);
        w.write_all(&chunk[..n]).await.unwrap();
        left -= n;
    }
    w.shutdown().await.unwrap();
}

async fn drain(mut r: impl AsyncRead + Unpin) -> usize {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

async fn over_mplex(streams: usize) {
    let (a, b) = tokio::io::duplex(PIPE);
    let client = Arc::new(Connection::new(
        Box::new(a),
        Role::Initiator,
        Config::default(),
    ));
    let server = Arc::new(Connection::new(
        Box::new(b),
        Role::Responder,
        Config::default(),
    ));
    let receiver = tokio::spawn(async move {
        let mut readers = Vec::new();
        for _ in 0..streams {
            let s = server.accept_stream().await.unwrap();
            readers.push(tokio::spawn(drain(s)));
        }
        let mut total = 0;
        for r in readers {
            total += r.await.unwrap();
        }
        total
    });
    let mut senders = Vec::new();
    for _ in 0..streams {
        let s = client.open_stream().await.unwrap();
        senders.push(tokio::spawn(send(s, TOTAL / streams)));
    }
    for s in senders {
        s.await.unwrap();
    }
    assert_eq!(receiver.await.unwrap(), TOTAL);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("mplex");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("plain_copy", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (a, r) = tokio::io::duplex(PIPE);
                let reader = tokio::spawn(drain(r));
                send(a, TOTAL).await;
                assert_eq!(reader.await.unwrap(), TOTAL);
            })
        })
    });
    group.bench_function("one_stream", |b| b.iter(|| rt.block_on(over_mplex(1))));
    group.bench_function("16_streams", |b| b.iter(|| rt.block_on(over_mplex(16))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
