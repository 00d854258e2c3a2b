//! The yamux stream multiplexer, `/yamux/1.0.0`: many independent byte streams over one
//! connection, with per-stream flow control.
//!
//! - Frames: data, window update, ping, go away; SYN/ACK/FIN/RST flags ([`frame`]).
//! - Stream ids are odd for the dialer ([`Role::Initiator`](mycel_core::Role::Initiator)) and even for the listener.
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
//! yamux is a front on the muxing engine (`mycel-muxing`): [`Yamux`] holds the rules
//! (`protocol.rs`), the engine the session's IO, stream table and buffers. The
//! connection runs two tasks (one reads frames, one writes them) on the current tokio
//! runtime; they end when the connection closes or its handle is dropped.

mod error;
pub mod frame;
mod protocol;

use std::time::Duration;

use mycel_core::{BufferBudget, ProtocolId};

pub use crate::{
    error::YamuxError,
    frame::{Frame, YamuxCodec},
    protocol::{INITIAL_WINDOW, Yamux, YamuxStream},
};

/// A yamux session over one connection: `Connection::new(io, role, config)`.
pub type Connection = mycel_muxing::Connection<Yamux>;

/// A yamux stream: an `AsyncRead + AsyncWrite` whose writes wait while the remote's
/// window is exhausted.
pub type Stream = mycel_muxing::Stream<Yamux>;

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
    /// default (see [`MuxerUpgrade::upgrade_with_budget`](mycel_core::MuxerUpgrade::upgrade_with_budget)).
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

mycel_muxing::front! {
    protocol: Yamux,
    config: Config,
    error: YamuxError,
    id: PROTOCOL_ID,
}
