//! Muxer throughput in memory, in one run against the same baselines.
//!
//! - `plain_copy`: 1 GiB written into a tokio duplex pipe and read out: the baseline.
//! - `plain_copy_plus_one`: the same, with the reader copying every byte once more: what
//!   one extra copy costs, the least any muxer that copies adds.
//! - `yamux/one_stream`, `mplex/one_stream`: 1 GiB over one stream on such a pipe.
//! - `yamux/16_streams`, `mplex/16_streams`: 1 GiB split over 16 concurrent streams.
//!
//! Run: `cargo bench -p mycel-interop --bench muxers`

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mycel_core::{MuxedConnection, MuxerUpgrade, Role};
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

/// Reads to the end; with `copy`, copies each read once more, as a muxer handing data
/// on would.
async fn drain(mut r: impl AsyncRead + Unpin, copy: bool) -> usize {
    let mut buf = vec![0u8; CHUNK];
    let mut again = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            std::hint::black_box(&again);
            return total;
        }
        if copy {
            again[..n].copy_from_slice(&buf[..n]);
        }
        total += n;
    }
}

async fn plain(copy: bool) {
    let (a, r) = tokio::io::duplex(PIPE);
    let reader = tokio::spawn(drain(r, copy));
    send(a, TOTAL).await;
    assert_eq!(reader.await.unwrap(), TOTAL);
}

async fn over(muxer: &dyn MuxerUpgrade, streams: usize) {
    let (a, b) = tokio::io::duplex(PIPE);
    let client: Arc<dyn MuxedConnection> = Arc::from(muxer.upgrade(Box::new(a), Role::Initiator));
    let server: Arc<dyn MuxedConnection> = Arc::from(muxer.upgrade(Box::new(b), Role::Responder));
    let receiver = tokio::spawn(async move {
        let mut readers = Vec::new();
        for _ in 0..streams {
            let s = server.accept_stream().await.unwrap();
            readers.push(tokio::spawn(drain(s, false)));
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
    let mut group = c.benchmark_group("muxers");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("plain_copy", |b| b.iter(|| rt.block_on(plain(false))));
    group.bench_function("plain_copy_plus_one", |b| {
        b.iter(|| rt.block_on(plain(true)))
    });
    let muxers: [(&str, Box<dyn MuxerUpgrade>); 2] = [
        ("yamux", Box::new(mycel_yamux::Config::default())),
        ("mplex", Box::new(mycel_mplex::Config::default())),
    ];
    for (name, muxer) in &muxers {
        for streams in [1, 16] {
            let id = if streams == 1 {
                format!("{name}/one_stream")
            } else {
                format!("{name}/{streams}_streams")
            };
            group.bench_function(id, |b| {
                b.iter(|| rt.block_on(over(muxer.as_ref(), streams)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
