//! The yamux stream multiplexer, `/yamux/1.0.0`: many independent byte streams over one
//! connection, with per-stream flow control.
//!
//! - Frames: data, window update, ping, go away; SYN/ACK/FIN/RST flags ([`frame`]).
//! - Stream ids are odd for the dialer ([`Role::Initiator`]) and even for the listener.
//! - Each stream starts with the spec's 256 KiB receive window, returned to the sender
//!   as the application reads. The window grows (auto-tuning, up to
//!   [`Config::max_window`], 16 MiB by default) when updates come faster than the round
//!   trip, so one stream can fill a fast link. A stream nobody reads stops its sender,
//!   never the connection.
//! - Limits: [`Config::max_streams`] open streams (a SYN past it is answered with RST),
//!   [`Config::max_ack_backlog`] unacknowledged outbound streams (opening waits), and a
//!   cap on the total receive window of a connection. A bad version, an unknown frame
//!   type, a window violation or a frame for a stream that never existed ends the
//!   session with a go-away carrying the protocol-error code.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mycel_core::Role;
//! use mycel_yamux::{Config, Connection};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let client = Connection::new(Box::new(a), Role::Initiator, Config::default());
//! let server = Connection::new(Box::new(b), Role::Responder, Config::default());
//!
//! let mut out = client.open_stream().await.unwrap();
//! out.write_all(b"ping").await.unwrap();
//! out.shutdown().await.unwrap(); // FIN: we are done writing
//!
//! let mut inbound = server.accept_stream().await.unwrap();
//! let mut got = Vec::new();
//! inbound.read_to_end(&mut got).await.unwrap();
//! assert_eq!(got, b"ping");
//! # }
//! ```
//!
//! The connection runs two tasks (one reads frames, one writes them) on the current
//! tokio runtime; they end when the connection closes or its handle is dropped.

mod connection;
mod error;
pub mod frame;
mod stream;

use std::{future::poll_fn, sync::Arc, task::Poll, time::Duration};

use async_trait::async_trait;
use mycel_core::{
    BoxedIo, BufferBudget, MuxedConnection, MuxerError, MuxerUpgrade, ProtocolId, Role,
};
use tokio::task::AbortHandle;

use crate::connection::{Shared, reader_task, writer_task};
pub use crate::{connection::INITIAL_WINDOW, error::YamuxError, stream::Stream};

/// The protocol id negotiated for yamux.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/yamux/1.0.0");

/// Default [`Config::max_streams`].
pub const DEFAULT_MAX_STREAMS: usize = 512;
/// Default [`Config::max_window`]: 16 MiB.
pub const DEFAULT_MAX_WINDOW: u32 = 16 * 1024 * 1024;
/// Default [`Config::max_ack_backlog`], as the spec recommends.
pub const DEFAULT_MAX_ACK_BACKLOG: usize = 256;
/// Default [`Config::max_connection_window`]: 64 MiB.
pub const DEFAULT_MAX_CONNECTION_WINDOW: usize = 64 * 1024 * 1024;
/// Default [`Config::max_frame_payload`]: 256 KiB.
pub const DEFAULT_MAX_FRAME_PAYLOAD: usize = 256 * 1024;

/// Settings of a yamux connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// Open streams at most, both directions together.
    pub max_streams: usize,
    /// Largest receive window one stream's auto-tuning may reach.
    pub max_window: u32,
    /// Sum of all streams' receive windows past which no window grows: a bound on what
    /// one connection may buffer.
    pub max_connection_window: usize,
    /// Outbound streams not yet acknowledged before opening another waits.
    pub max_ack_backlog: usize,
    /// Largest data frame we send.
    pub max_frame_payload: usize,
    /// Send a ping this often and close the connection when one goes unanswered for a
    /// whole period. Off by default.
    pub keep_alive: Option<Duration>,
    /// A cap shared with other connections on the bytes held for streams that have not
    /// read them; the connection stops reading its socket while it is spent. `None` by
    /// default (see [`MuxerUpgrade::upgrade_with_budget`]).
    pub buffer_budget: Option<BufferBudget>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_streams: DEFAULT_MAX_STREAMS,
            max_window: DEFAULT_MAX_WINDOW,
            max_connection_window: DEFAULT_MAX_CONNECTION_WINDOW,
            max_ack_backlog: DEFAULT_MAX_ACK_BACKLOG,
            max_frame_payload: DEFAULT_MAX_FRAME_PAYLOAD,
            keep_alive: None,
            buffer_budget: None,
        }
    }
}

/// A yamux session over one connection.
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
    /// Starts a session over `io`. Must be called inside a tokio runtime. Sends one ping
    /// at once to learn the round-trip time that window auto-tuning uses.
    pub fn new(io: BoxedIo, role: Role, config: Config) -> Self {
        let shared = Shared::new(config, role);
        let (read, write) = tokio::io::split(io);
        let reader = tokio::spawn(reader_task(shared.clone(), read));
        let writer = tokio::spawn(writer_task(shared.clone(), write));
        shared.send_ping();
        Connection {
            shared,
            tasks: [reader.abort_handle(), writer.abort_handle()],
        }
    }

    /// Opens a stream. Waits while [`Config::max_ack_backlog`] streams are unacknowledged.
    pub async fn open_stream(&self) -> Result<Stream, YamuxError> {
        loop {
            let progress = self.shared.progress.notified();
            if let Some(id) = self.shared.with(|state| state.open())? {
                return Ok(Stream::new(id, self.shared.clone()));
            }
            progress.await;
        }
    }

    /// Waits for the next stream the remote opens; [`YamuxError::Closed`] once the
    /// session has ended.
    pub async fn accept_stream(&self) -> Result<Stream, YamuxError> {
        poll_fn(|cx| {
            self.shared.with(|state| {
                if let Some(id) = state.accept() {
                    return Poll::Ready(Ok(id));
                }
                if state.is_closed() {
                    return Poll::Ready(Err(YamuxError::Closed));
                }
                state.accept_waker = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
        .map(|id| Stream::new(id, self.shared.clone()))
    }

    /// Closes the session: sends a go-away, flushes, and shuts the IO down. Streams end.
    pub async fn close(&self) -> Result<(), YamuxError> {
        self.shared.go_away();
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

    /// The round-trip time measured by the last answered ping.
    pub fn rtt(&self) -> Option<Duration> {
        self.shared.lock().rtt()
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

fn to_muxer_error(e: YamuxError) -> MuxerError {
    match e {
        YamuxError::Closed => MuxerError::Closed,
        YamuxError::TooManyStreams => MuxerError::TooManyStreams,
        YamuxError::Io(e) => MuxerError::Io(e),
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

    fn upgrade(&self, io: BoxedIo, role: Role) -> Box<dyn MuxedConnection> {
        Box::new(Connection::new(io, role, self.clone()))
    }

    fn upgrade_with_budget(
        &self,
        io: BoxedIo,
        role: Role,
        budget: BufferBudget,
    ) -> Box<dyn MuxedConnection> {
        let mut config = self.clone();
        config.buffer_budget = Some(budget);
        Box::new(Connection::new(io, role, config))
    }
}
