//! Bulk transfers far larger than a stream's buffer: the slow-reader pause acts as back
//! pressure, and nothing is reset while the application keeps reading.

use std::{sync::Arc, time::Duration};

use mycel_core::Role;
use mycel_mplex::{Config, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn transfer(streams: usize, per_stream: usize) {
    let (a, b) = tokio::io::duplex(1 << 20);
    // A generous grace: on a loaded CI machine a debug-build reader may stall for a
    // while, and this test is about back pressure, not about the reset.
    let config = Config {
        slow_reader_grace: Duration::from_secs(10),
        ..Config::default()
    };
    let client = Arc::new(Connection::new(
        Box::new(a),
        Role::Initiator,
        config.clone(),
    ));
    let server = Arc::new(Connection::new(Box::new(b), Role::Responder, config));
    let receiver = tokio::spawn(async move {
        let mut readers = Vec::new();
        for _ in 0..streams {
            let mut s = server.accept_stream().await.unwrap();
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return total;
                    }
                    total += n;
                }
            }));
        }
        let mut total = 0;
        for r in readers {
            total += r.await.unwrap();
        }
        total
    });
    let mut senders = Vec::new();
    for _ in 0..streams {
        let mut s = client.open_stream().await.unwrap();
        senders.push(tokio::spawn(async move {
            let chunk = vec![7u8; 256 * 1024];
            for _ in 0..per_stream / chunk.len() {
                s.write_all(&chunk).await.unwrap();
            }
            s.shutdown().await.unwrap();
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    assert_eq!(receiver.await.unwrap(), streams * per_stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_streams_of_eight_mib_arrive_whole() {
    tokio::time::timeout(Duration::from_secs(60), transfer(16, 8 << 20))
        .await
        .expect("transfer finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_of_sixty_four_mib_arrives_whole() {
    tokio::time::timeout(Duration::from_secs(60), transfer(1, 64 << 20))
        .await
        .expect("transfer finished");
}
