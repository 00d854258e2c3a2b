//! The mplex stream multiplexer, `/mplex/6.7.0`.
//!
//! Messages are `uvarint(id << 3 | flag) || uvarint(len) || data` ([`codec`]):
//! NewStream (with the stream's name), Message, Close and Reset, the last three in an
//! initiator and a receiver flavour, since both sides number their own streams.
//! Close is a half-close; Reset ends both directions with an error.
//!
//! mplex has no flow control. Each stream buffers at most
//! [`Config::max_buffer_per_stream`] bytes of unread data. When a message would pass
//! that, reading from the connection pauses for up to [`Config::slow_reader_grace`] while
//! the application catches up (back pressure for bulk transfers); after that the stream
//! is reset, not the connection, and no memory grows without bound. Messages are at most 1 MiB;
//! a larger one, a malformed varint or an unknown flag ends the connection.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mycel_mplex::{Config, Connection};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let client = Connection::new(Box::new(a), Config::default());
//! let server = Connection::new(Box::new(b), Config::default());
//! let mut out = client.open_stream().await.unwrap();
//! out.write_all(b"hello").await.unwrap();
//! out.shutdown().await.unwrap();
//! let mut got = Vec::new();
//! server.accept_stream().await.unwrap().read_to_end(&mut got).await.unwrap();
//! assert_eq!(got, b"hello");
//! # }
//! ```
//!
//! The connection runs a reader and a writer task on the current tokio runtime (which
//! needs its timer enabled, for the slow-reader grace); they end when the connection
//! closes or its handle is dropped.

pub mod codec;
mod connection;
mod error;
mod stream;

use std::{future::poll_fn, sync::Arc, task::Poll, time::Duration};

use async_trait::async_trait;
use mycel_core::{
    BoxedIo, BufferBudget, MuxedConnection, MuxerError, MuxerUpgrade, ProtocolId, Role,
};
use tokio::task::AbortHandle;

use crate::connection::{Shared, reader_task, writer_task};
pub use crate::{error::MplexError, stream::Stream};

/// The protocol id negotiated for mplex.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/mplex/6.7.0");

/// Default [`Config::max_streams`].
pub const DEFAULT_MAX_STREAMS: usize = 512;
/// Default [`Config::max_buffer_per_stream`]: 4 MiB.
pub const DEFAULT_MAX_BUFFER_PER_STREAM: usize = 4 * 1024 * 1024;
/// Default [`Config::max_buffer_total`]: 64 MiB.
pub const DEFAULT_MAX_BUFFER_TOTAL: usize = 64 * 1024 * 1024;
/// Default [`Config::slow_reader_grace`]: one second.
pub const DEFAULT_SLOW_READER_GRACE: Duration = Duration::from_secs(1);
/// Default [`Config::max_message_len`]: 256 KiB.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 256 * 1024;

/// Settings of an mplex connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// Open streams at most, both directions together; a NewStream past it is reset.
    pub max_streams: usize,
    /// Unread bytes buffered per stream before the stream is reset.
    pub max_buffer_per_stream: usize,
    /// Unread bytes buffered across all streams of the connection; past it, reading
    /// pauses as for one full stream.
    pub max_buffer_total: usize,
    /// Largest message we send (the spec allows up to 1 MiB).
    pub max_message_len: usize,
    /// How long the connection waits for a full stream to be read before resetting it.
    pub slow_reader_grace: Duration,
    /// A cap shared with other connections on the bytes held for streams that have not
    /// read them; the connection stops reading its socket while it is spent. `None` by
    /// default (see [`MuxerUpgrade::upgrade_with_budget`]).
    pub buffer_budget: Option<BufferBudget>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_streams: DEFAULT_MAX_STREAMS,
            max_buffer_per_stream: DEFAULT_MAX_BUFFER_PER_STREAM,
            max_buffer_total: DEFAULT_MAX_BUFFER_TOTAL,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            slow_reader_grace: DEFAULT_SLOW_READER_GRACE,
            buffer_budget: None,
        }
    }
}

/// An mplex session over one connection. Both sides are symmetric: no role is needed.
pub struct Connection {
    shared: Arc<Shared>,
    tasks: [AbortHandle; 2],
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a session over `io`. Must be called inside a tokio runtime.
    pub fn new(io: BoxedIo, mut config: Config) -> Self {
        config.max_message_len = config.max_message_len.clamp(1, codec::MAX_MESSAGE_LEN);
        let shared = Shared::new(config);
        let (read, write) = tokio::io::split(io);
        let reader = tokio::spawn(reader_task(shared.clone(), read));
        let writer = tokio::spawn(writer_task(shared.clone(), write));
        Connection {
            shared,
            tasks: [reader.abort_handle(), writer.abort_handle()],
        }
    }

    /// Opens a stream.
    pub async fn open_stream(&self) -> Result<Stream, MplexError> {
        let key = self.shared.with(|state| state.open())?;
        Ok(Stream::new(key, self.shared.clone()))
    }

    /// Waits for the next stream the remote opens; [`MplexError::Closed`] once the
    /// session has ended.
    pub async fn accept_stream(&self) -> Result<Stream, MplexError> {
        poll_fn(|cx| {
            self.shared.with(|state| {
                if let Some(key) = state.accept() {
                    return Poll::Ready(Ok(key));
                }
                if state.is_closed() {
                    return Poll::Ready(Err(MplexError::Closed));
                }
                state.accept_waker = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
        .map(|key| Stream::new(key, self.shared.clone()))
    }

    /// Closes the session: pending messages are sent, then the IO is shut down.
    pub async fn close(&self) -> Result<(), MplexError> {
        self.shared.close();
        loop {
            let progress = self.shared.progress.notified();
            if self.shared.lock().is_closed() {
                break;
            }
            progress.await;
        }
        self.tasks[0].abort();
        Ok(())
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().is_closed()
    }

    /// Streams currently open.
    pub fn num_streams(&self) -> usize {
        self.shared.lock().streams.len()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared
            .with(|state| state.fail("connection handle dropped".into()));
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn to_muxer_error(e: MplexError) -> MuxerError {
    match e {
        MplexError::Closed => MuxerError::Closed,
        MplexError::TooManyStreams => MuxerError::TooManyStreams,
        MplexError::Io(e) => MuxerError::Io(e),
        e => MuxerError::Protocol(Box::new(e)),
    }
}

#[async_trait]
impl MuxedConnection for Connection {
    async fn open_stream(&self) -> Result<BoxedIo, MuxerError> {
        Connection::open_stream(self)
            .await
            .map(|s| Box::new(s) as BoxedIo)
            .map_err(to_muxer_error)
    }

    async fn accept_stream(&self) -> Result<BoxedIo, MuxerError> {
        Connection::accept_stream(self)
            .await
            .map(|s| Box::new(s) as BoxedIo)
            .map_err(to_muxer_error)
    }

    async fn close(&self) -> Result<(), MuxerError> {
        Connection::close(self).await.map_err(to_muxer_error)
    }

    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }
}

impl MuxerUpgrade for Config {
    fn protocol(&self) -> ProtocolId {
        PROTOCOL_ID
    }

    fn upgrade(&self, io: BoxedIo, _role: Role) -> Box<dyn MuxedConnection> {
        Box::new(Connection::new(io, self.clone()))
    }

    fn upgrade_with_budget(
        &self,
        io: BoxedIo,
        _role: Role,
        budget: BufferBudget,
    ) -> Box<dyn MuxedConnection> {
        let mut config = self.clone();
        config.buffer_budget = Some(budget);
        Box::new(Connection::new(io, config))
    }
}
