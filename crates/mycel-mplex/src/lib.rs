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
//! use mycel_core::Role;
//! use mycel_mplex::{Config, Connection};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let client = Connection::new(Box::new(a), Role::Initiator, Config::default());
//! let server = Connection::new(Box::new(b), Role::Responder, Config::default());
//! let mut out = client.open_stream().await.unwrap();
//! out.write_all(b"hello").await.unwrap();
//! out.shutdown().await.unwrap();
//! let mut got = Vec::new();
//! server.accept_stream().await.unwrap().read_to_end(&mut got).await.unwrap();
//! assert_eq!(got, b"hello");
//! # }
//! ```
//!
//! mplex is a front on the muxing engine (`mycel-muxing`): [`Mplex`] holds the rules
//! (`protocol.rs`), the engine the session's IO, stream table and buffers. The
//! connection runs a reader and a writer task on the current tokio runtime (which needs
//! its timer enabled, for the slow-reader grace); they end when the connection closes or
//! its handle is dropped.

pub mod codec;
mod error;
mod protocol;

use std::time::Duration;

use mycel_core::{BufferBudget, ProtocolId};

pub use crate::{
    error::MplexError,
    protocol::{Mplex, MplexCodec, StreamKey},
};

/// An mplex session over one connection: `Connection::new(io, role, config)` (mplex
/// gives both sides the same part; the role is not used).
pub type Connection = mycel_muxing::Connection<Mplex>;

/// An mplex stream. mplex has no flow control: data from the remote is buffered up to
/// [`Config::max_buffer_per_stream`], past which the reader waits
/// [`Config::slow_reader_grace`] and then resets the stream.
pub type Stream = mycel_muxing::Stream<Mplex>;

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
    /// default (see [`MuxerUpgrade::upgrade_with_budget`](mycel_core::MuxerUpgrade::upgrade_with_budget)).
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

mycel_muxing::front! {
    protocol: Mplex,
    config: Config,
    error: MplexError,
    id: PROTOCOL_ID,
}
