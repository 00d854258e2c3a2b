//! The wire: a big-endian `u64` (the bytes the client wants back), the upload, the
//! client's close; then the response and the server's close.

use std::{
    future::Future,
    io,
    time::{Duration, Instant},
};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{BUFFER_SIZE, IDLE_TIMEOUT, PerfError};

/// Length of the request: one big-endian `u64`.
pub(crate) const HEADER_LEN: usize = 8;

/// The payload every write sends from: zeros, in static memory, never copied.
static ZEROS: [u8; BUFFER_SIZE] = [0; BUFFER_SIZE];

/// What a client run should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunParams {
    /// Bytes the client sends to the server.
    pub upload_bytes: u64,
    /// Bytes the client asks the server to send back.
    pub download_bytes: u64,
}

/// What a client run moved, and how long it took. Times cover the stream only: opening
/// it (and any dial) is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Bytes sent, not counting the 8-byte request.
    pub upload_bytes: u64,
    /// Bytes received.
    pub download_bytes: u64,
    /// From the start of writing the request until our write side was closed.
    pub upload: Duration,
    /// From the close of our write side until the end of the response.
    pub download: Duration,
    /// From the start of writing the request until the end of the response
    /// (`upload + download`).
    pub elapsed: Duration,
}

/// What a server moved on one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeStats {
    /// Bytes the client uploaded, not counting the 8-byte request.
    pub bytes_received: u64,
    /// Bytes sent back: what the client asked for.
    pub bytes_sent: u64,
}

/// Runs the client side on an open perf stream: requests `params.download_bytes`,
/// uploads `params.upload_bytes`, closes the write side, then reads the response to its
/// end.
///
/// A response shorter than requested is [`PerfError::ResponseTooShort`]; a longer one is
/// [`PerfError::ResponseTooLong`] as soon as it passes the count. No timeout: bound the
/// call yourself if you need to.
pub async fn client<S>(mut stream: S, params: RunParams) -> Result<RunStats, PerfError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER_SIZE];

    let started = Instant::now();
    stream
        .write_all(&params.download_bytes.to_be_bytes())
        .await?;
    write_zeros(&mut stream, params.upload_bytes, None).await?;
    stream.shutdown().await?;
    let upload = started.elapsed();

    let expected = params.download_bytes;
    let mut received: u64 = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        received = received.saturating_add(n as u64);
        if received > expected {
            return Err(PerfError::ResponseTooLong { expected });
        }
    }
    let elapsed = started.elapsed();
    if received < expected {
        return Err(PerfError::ResponseTooShort { expected, received });
    }

    Ok(RunStats {
        upload_bytes: params.upload_bytes,
        download_bytes: received,
        upload,
        download: elapsed.saturating_sub(upload),
        elapsed,
    })
}

/// Serves one inbound perf stream: reads the request, reads the upload to its end, then
/// (not before: the spec forbids overlapping the two) sends the requested number of
/// bytes and closes the stream.
///
/// Memory is one [`BUFFER_SIZE`] read buffer whatever the sizes. Gives up with
/// [`PerfError::Timeout`] when a read or write makes no progress for [`IDLE_TIMEOUT`].
pub async fn serve<S>(mut stream: S) -> Result<ServeStats, PerfError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let idle = Some(IDLE_TIMEOUT);

    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = within(idle, stream.read(&mut header[filled..])).await?;
        if n == 0 {
            return Err(PerfError::TruncatedHeader { received: filled });
        }
        filled += n;
    }
    let bytes_to_send = u64::from_be_bytes(header);

    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut bytes_received: u64 = 0;
    loop {
        let n = within(idle, stream.read(&mut buf)).await?;
        if n == 0 {
            break;
        }
        bytes_received = bytes_received.saturating_add(n as u64);
    }

    write_zeros(&mut stream, bytes_to_send, idle).await?;
    within(idle, stream.shutdown()).await?;
    Ok(ServeStats {
        bytes_received,
        bytes_sent: bytes_to_send,
    })
}

/// Writes `count` zero bytes from [`ZEROS`], each write bounded by `idle` if given.
async fn write_zeros<S>(stream: &mut S, count: u64, idle: Option<Duration>) -> Result<(), PerfError>
where
    S: AsyncWrite + Unpin,
{
    let mut left = count;
    while left > 0 {
        let len = usize::try_from(left).map_or(BUFFER_SIZE, |left| left.min(BUFFER_SIZE));
        let written = within(idle, stream.write(&ZEROS[..len])).await?;
        if written == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero).into());
        }
        left = left.saturating_sub(written as u64);
    }
    Ok(())
}

/// Runs one IO operation, failing with [`PerfError::Timeout`] if `idle` passes first.
async fn within<T>(
    idle: Option<Duration>,
    op: impl Future<Output = io::Result<T>>,
) -> Result<T, PerfError> {
    match idle {
        None => Ok(op.await?),
        Some(limit) => Ok(tokio::time::timeout(limit, op)
            .await
            .map_err(|_| PerfError::Timeout(limit))??),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{DuplexStream, duplex};

    use super::*;

    const PIPE_SIZE: usize = 1 << 20;
    const MIB: u64 = 1 << 20;

    async fn round_trip(params: RunParams) -> (RunStats, ServeStats) {
        let (a, b) = duplex(PIPE_SIZE);
        let server = tokio::spawn(serve(b));
        let run = client(a, params).await.unwrap();
        (run, server.await.unwrap().unwrap())
    }

    /// A server that reads the request and the upload, then answers `answer` bytes.
    fn server_answering(answer: u64) -> DuplexStream {
        let (a, mut b) = duplex(PIPE_SIZE);
        tokio::spawn(async move {
            let mut sink = Vec::new();
            b.read_to_end(&mut sink).await.unwrap();
            write_zeros(&mut b, answer, None).await.unwrap();
            b.shutdown().await.unwrap();
        });
        a
    }

    #[tokio::test]
    async fn perf_round_trip_with_nothing_either_way() {
        let (run, served) = round_trip(RunParams::default()).await;
        assert_eq!((run.upload_bytes, run.download_bytes), (0, 0));
        assert_eq!(
            served,
            ServeStats {
                bytes_received: 0,
                bytes_sent: 0
            }
        );
    }

    #[tokio::test]
    async fn perf_round_trip_moves_a_few_mib_each_way() {
        // Not multiples of the buffer size, so the last chunk is a short one.
        let params = RunParams {
            upload_bytes: 3 * MIB + 17,
            download_bytes: 5 * MIB + 3,
        };
        let (run, served) = round_trip(params).await;
        assert_eq!(run.upload_bytes, params.upload_bytes);
        assert_eq!(run.download_bytes, params.download_bytes);
        assert_eq!(served.bytes_received, params.upload_bytes);
        assert_eq!(served.bytes_sent, params.download_bytes);
        assert_eq!(run.elapsed, run.upload + run.download);
    }

    #[tokio::test]
    async fn perf_upload_only_and_download_only() {
        let up = RunParams {
            upload_bytes: 2 * MIB,
            download_bytes: 0,
        };
        let (run, served) = round_trip(up).await;
        assert_eq!((run.download_bytes, served.bytes_received), (0, 2 * MIB));

        let down = RunParams {
            upload_bytes: 0,
            download_bytes: 2 * MIB,
        };
        let (run, served) = round_trip(down).await;
        assert_eq!((run.download_bytes, served.bytes_received), (2 * MIB, 0));
    }

    #[tokio::test]
    async fn client_sends_big_endian_request_then_upload_then_closes() {
        let (a, mut b) = duplex(PIPE_SIZE);
        let params = RunParams {
            upload_bytes: 5,
            download_bytes: 0x0102_0304_0506_0708,
        };
        let run = tokio::spawn(client(a, params));
        let mut sent = Vec::new();
        b.read_to_end(&mut sent).await.unwrap();
        assert_eq!(sent, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0]);
        drop(b);
        assert!(run.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn client_rejects_a_short_response() {
        let stream = server_answering(MIB - 1);
        let params = RunParams {
            upload_bytes: 10,
            download_bytes: MIB,
        };
        let err = client(stream, params).await.unwrap_err();
        assert!(
            matches!(
                err,
                PerfError::ResponseTooShort { expected, received }
                    if expected == MIB && received == MIB - 1
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn client_rejects_a_long_response() {
        let stream = server_answering(MIB + 1);
        let params = RunParams {
            upload_bytes: 0,
            download_bytes: MIB,
        };
        let err = client(stream, params).await.unwrap_err();
        assert!(
            matches!(err, PerfError::ResponseTooLong { expected } if expected == MIB),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn serve_sends_nothing_until_the_upload_ends() {
        let (mut a, b) = duplex(PIPE_SIZE);
        let server = tokio::spawn(serve(b));
        a.write_all(&100u64.to_be_bytes()).await.unwrap();
        a.write_all(&[9; 10]).await.unwrap();
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(50), a.read(&mut byte)).await;
        assert!(early.is_err(), "server answered before the upload ended");

        a.shutdown().await.unwrap();
        let mut response = Vec::new();
        a.read_to_end(&mut response).await.unwrap();
        assert_eq!(response, [0u8; 100]);
        let served = server.await.unwrap().unwrap();
        assert_eq!(
            served,
            ServeStats {
                bytes_received: 10,
                bytes_sent: 100
            }
        );
    }

    #[tokio::test]
    async fn serve_rejects_a_truncated_request() {
        let (mut a, b) = duplex(PIPE_SIZE);
        let server = tokio::spawn(serve(b));
        a.write_all(&[0, 0, 1]).await.unwrap();
        a.shutdown().await.unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(err, PerfError::TruncatedHeader { received: 3 }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn serve_stops_when_the_client_leaves_mid_download() {
        let (mut a, b) = duplex(PIPE_SIZE);
        let server = tokio::spawn(serve(b));
        a.write_all(&u64::MAX.to_be_bytes()).await.unwrap();
        a.shutdown().await.unwrap();
        let mut chunk = vec![0u8; BUFFER_SIZE];
        a.read_exact(&mut chunk).await.unwrap();
        drop(a);
        let err = server.await.unwrap().unwrap_err();
        assert!(matches!(err, PerfError::Io(_)), "{err:?}");
    }

    // The paused clock jumps ahead to the timeout once nothing else can run.
    #[tokio::test(start_paused = true)]
    async fn serve_gives_up_on_a_silent_client() {
        let (_a, b) = duplex(PIPE_SIZE);
        let err = serve(b).await.unwrap_err();
        assert!(
            matches!(err, PerfError::Timeout(d) if d == IDLE_TIMEOUT),
            "{err:?}"
        );
    }
}
