//! The wire: [`PING_SIZE`] random bytes out, the same bytes back, until the dialer closes.

use std::{
    io,
    time::{Duration, Instant},
};

use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{IDLE_TIMEOUT, PING_SIZE, PingError};

/// One ping on an open ping stream: writes [`PING_SIZE`] random bytes, flushes, reads
/// the echo and returns the round-trip time (from the start of the write to the end of
/// the echo).
///
/// Call it again on the same stream to ping again; close the write side
/// (`shutdown`) after the last one. Fails with [`PingError::Mismatch`] if the echo
/// differs and [`PingError::UnexpectedEof`] if the stream ends first. It has no timeout
/// of its own: wrap it in one (see [`crate::PING_TIMEOUT`]).
pub async fn ping<S>(stream: &mut S) -> Result<Duration, PingError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut payload = [0u8; PING_SIZE];
    rand::thread_rng().fill_bytes(&mut payload);

    let started = Instant::now();
    stream.write_all(&payload).await?;
    stream.flush().await?;
    let mut echo = [0u8; PING_SIZE];
    let received = read_payload(stream, &mut echo).await?;
    let rtt = started.elapsed();

    if received < PING_SIZE {
        return Err(PingError::UnexpectedEof { received });
    }
    if echo != payload {
        return Err(PingError::Mismatch);
    }
    Ok(rtt)
}

/// Serves one inbound ping stream: echoes each [`PING_SIZE`]-byte payload until the
/// dialer closes its write side, then closes ours.
///
/// Returns `Ok` when the stream ends cleanly between payloads,
/// [`PingError::UnexpectedEof`] when it ends inside one, and [`PingError::Timeout`] when
/// no ping arrives (or its echo cannot be written) within [`IDLE_TIMEOUT`].
pub async fn serve<S>(mut stream: S) -> Result<(), PingError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut payload = [0u8; PING_SIZE];
    loop {
        let round = async {
            let received = read_payload(&mut stream, &mut payload).await?;
            if received == PING_SIZE {
                stream.write_all(&payload).await?;
                stream.flush().await?;
            }
            Ok::<_, io::Error>(received)
        };
        let received = tokio::time::timeout(IDLE_TIMEOUT, round)
            .await
            .map_err(|_| PingError::Timeout(IDLE_TIMEOUT))??;
        match received {
            PING_SIZE => continue,
            0 => break,
            received => return Err(PingError::UnexpectedEof { received }),
        }
    }
    tokio::time::timeout(IDLE_TIMEOUT, stream.shutdown())
        .await
        .map_err(|_| PingError::Timeout(IDLE_TIMEOUT))??;
    Ok(())
}

/// Reads until `payload` is full or the stream ends; returns the bytes read (0 at a clean
/// end of stream).
async fn read_payload<S>(stream: &mut S, payload: &mut [u8; PING_SIZE]) -> io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    let mut filled = 0;
    while filled < PING_SIZE {
        let n = stream.read(&mut payload[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use tokio::io::{DuplexStream, duplex};

    use super::*;

    const PIPE_SIZE: usize = 1024;

    fn pipe_with_server() -> (DuplexStream, tokio::task::JoinHandle<Result<(), PingError>>) {
        let (client, server) = duplex(PIPE_SIZE);
        (client, tokio::spawn(serve(server)))
    }

    #[tokio::test]
    async fn ping_round_trip_then_clean_close() {
        let (mut client, server) = pipe_with_server();
        ping(&mut client).await.unwrap();
        client.shutdown().await.unwrap();
        // The server closes its side after the dialer's clean close.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn repeated_pings_share_one_stream() {
        let (mut client, server) = pipe_with_server();
        for _ in 0..5 {
            ping(&mut client).await.unwrap();
        }
        client.shutdown().await.unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn ping_sends_a_fresh_random_payload_each_round() {
        let (mut client, mut server) = duplex(PIPE_SIZE);
        let recorder = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut payload = [0u8; PING_SIZE];
            while read_payload(&mut server, &mut payload).await.unwrap() == PING_SIZE {
                seen.push(payload);
                server.write_all(&payload).await.unwrap();
            }
            seen
        });
        ping(&mut client).await.unwrap();
        ping(&mut client).await.unwrap();
        client.shutdown().await.unwrap();
        let seen = recorder.await.unwrap();
        assert_eq!(seen.len(), 2);
        assert_ne!(seen[0], seen[1]);
        assert_ne!(seen[0], [0u8; PING_SIZE]);
    }

    #[tokio::test]
    async fn ping_detects_mismatched_echo() {
        let (mut client, mut server) = duplex(PIPE_SIZE);
        tokio::spawn(async move {
            let mut payload = [0u8; PING_SIZE];
            server.read_exact(&mut payload).await.unwrap();
            payload[PING_SIZE - 1] ^= 1;
            server.write_all(&payload).await.unwrap();
            // Keep the stream open so the only failure can be the mismatch.
            let _ = server.read(&mut payload).await;
        });
        let err = ping(&mut client).await.unwrap_err();
        assert!(matches!(err, PingError::Mismatch), "{err:?}");
    }

    #[tokio::test]
    async fn ping_reports_truncated_echo() {
        let (mut client, mut server) = duplex(PIPE_SIZE);
        tokio::spawn(async move {
            let mut payload = [0u8; PING_SIZE];
            server.read_exact(&mut payload).await.unwrap();
            server.write_all(&payload[..10]).await.unwrap();
            server.shutdown().await.unwrap();
            let _ = server.read(&mut payload).await;
        });
        let err = ping(&mut client).await.unwrap_err();
        assert!(
            matches!(err, PingError::UnexpectedEof { received: 10 }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn serve_echoes_exact_bytes_sent_in_pieces() {
        let (mut client, server) = pipe_with_server();
        let payload: [u8; PING_SIZE] = std::array::from_fn(|i| i as u8);
        client.write_all(&payload[..5]).await.unwrap();
        client.flush().await.unwrap();
        tokio::task::yield_now().await;
        client.write_all(&payload[5..]).await.unwrap();
        let mut echo = [0u8; PING_SIZE];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, payload);
        client.shutdown().await.unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn serve_rejects_stream_ending_mid_payload() {
        let (mut client, server) = pipe_with_server();
        client.write_all(&[7u8; PING_SIZE + 10]).await.unwrap();
        client.shutdown().await.unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(err, PingError::UnexpectedEof { received: 10 }),
            "{err:?}"
        );
    }

    // The paused clock jumps ahead to the timeout once nothing else can run.
    #[tokio::test(start_paused = true)]
    async fn serve_gives_up_on_an_idle_stream() {
        let (_client, server) = duplex(PIPE_SIZE);
        let err = serve(server).await.unwrap_err();
        assert!(
            matches!(err, PingError::Timeout(d) if d == IDLE_TIMEOUT),
            "{err:?}"
        );
    }
}
