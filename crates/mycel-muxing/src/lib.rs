//! The engine under mycel's stream multiplexers (yamux, mplex): everything a muxer does
//! that is not its wire format.
//!
//! A protocol front implements [`Protocol`]: a codec that cuts frames out of the bytes
//! read ([`Codec`]), and rules that turn each frame into changes of the stream table
//! ([`Core`]) and frames to send ([`OutFrame`]). The front holds no waker, spawns no
//! task and takes no lock; the clock comes in as `now`.
//!
//! The engine ([`Connection`], [`Stream`]) owns the rest:
//! - the session IO: one task reads and decodes frames, one writes queued frames in
//!   batches (header and body written separately, the body never copied);
//! - the stream table: per stream its received data, its read and write side
//!   ([`ReadSide`], [`WriteSide`]) and the wakers of the application's handle;
//! - bounded memory: at most [`Settings::max_streams`] streams, 1 MiB of data queued
//!   for the writer (writers wait past it), a reader that stops reading the socket while
//!   its answers pile up, optional per-stream and per-connection caps on unread data
//!   (the reader waits [`Settings::slow_reader_grace`] for the application, then resets
//!   the stream), and a node-wide [`BufferBudget`] whose relief resets the stream unread
//!   longest;
//! - the stream handle: `AsyncRead + AsyncWrite`, where `poll_flush` waits until what
//!   was written is on the IO, `poll_shutdown` half-closes, and dropping a stream open
//!   both ways resets it (one the remote finished gets our half-close instead).
//!
//! A reader never takes a clean end of stream for data the engine threw away: a stream
//! whose data was discarded reads as reset, whatever the order in which the remote's
//! half-close and the discard came.

mod connection;
mod core;
mod front;
mod session;
mod stream;
#[cfg(feature = "test-util")]
pub mod testing;

use std::{fmt::Debug, hash::Hash, io, time::Duration};

use bytes::{Bytes, BytesMut};
use mycel_core::{BufferBudget, MuxerError, Role};
use std::time::Instant;

#[doc(hidden)]
pub use mycel_core as __core;

pub use crate::{
    connection::Connection,
    core::{Core, Delivery, ReadSide, Slot, WriteSide},
    stream::Stream,
};

/// What a codec found at the front of the bytes read.
#[derive(Debug)]
pub enum Decoded<F> {
    /// One whole frame, removed from the buffer.
    Frame(F),
    /// Not enough bytes yet: the frame needs this many in all (a hint for the read).
    Need(usize),
}

/// Cuts frames out of the bytes read from the connection.
pub trait Codec: Send + 'static {
    /// A decoded inbound frame.
    type Frame: Send + 'static;
    /// Why the bytes are not a valid frame (the session ends).
    type Error;

    /// Decodes the frame at the front of `buf`, taking its bytes out; payloads should be
    /// split off `buf` (no copy). Must refuse a frame longer than it will ever accept
    /// before asking for its bytes.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Self::Frame>, Self::Error>;
}

/// A frame to send.
pub trait OutFrame: Send + 'static {
    /// Appends everything but the body to `dst`.
    fn encode_head(&self, dst: &mut BytesMut);
    /// The data after the header (empty for control frames), written as is.
    fn body(&self) -> &Bytes;
}

/// The errors of a protocol front.
pub trait ProtocolError: std::error::Error + From<io::Error> + Send + Sync + 'static {
    /// The session has ended (or is ending).
    fn closed() -> Self;
    /// Opening a stream would pass [`Settings::max_streams`].
    fn too_many_streams() -> Self;
    /// The error as the switch sees it.
    fn into_muxer_error(self) -> MuxerError;
}

/// The engine's limits, as a front configures them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Open streams at most, both directions together; an inbound stream past it is
    /// refused (reset).
    pub max_streams: usize,
    /// Largest body of one data frame we send.
    pub max_frame_payload: usize,
    /// Unread bytes one stream may hold; `None` when flow control bounds it already.
    pub max_buffer_per_stream: Option<usize>,
    /// Unread bytes all streams of the connection may hold; `None` for no cap.
    pub max_buffer_total: Option<usize>,
    /// How long the reader waits for an application to read when a cap above is
    /// reached, and for a spent buffer budget to free up.
    pub slow_reader_grace: Duration,
    /// A node-wide cap on unread bytes shared with other connections.
    pub buffer_budget: Option<BufferBudget>,
    /// Call [`Protocol::on_keep_alive`] this often.
    pub keep_alive: Option<Duration>,
}

/// The rules of one multiplexing protocol (see the crate docs).
pub trait Protocol: Send + Sized + 'static {
    /// What the user configures.
    type Config: Clone + Send + 'static;
    /// How a stream is named inside the session.
    type Id: Copy + Eq + Hash + Ord + Debug + Send + Sync + Unpin + 'static;
    /// How a stream's number is shown to users ([`Stream::id`]).
    type Number: Copy + Debug + Eq;
    /// Per-stream protocol state (flow-control windows, …), kept in the stream's slot.
    type Stream: Send + 'static;
    /// The codec of inbound frames.
    type Codec: Codec<Frame = Self::Frame, Error = Self::Error>;
    /// A decoded inbound frame.
    type Frame: Send + 'static;
    /// A frame to send.
    type Out: OutFrame;
    /// Errors; one returned from a hook ends the session.
    type Error: ProtocolError;

    /// The protocol's name, for messages.
    const NAME: &'static str;

    /// The protocol state, its codec and the engine's limits for a new session.
    fn new(role: Role, config: Self::Config) -> (Self, Self::Codec, Settings);

    /// The number users see for `id`.
    fn number(id: Self::Id) -> Self::Number;

    /// The session starts (a first ping, say).
    fn start(&mut self, _core: &mut Core<Self>, _now: Instant) {}

    /// Handles one frame from the remote.
    fn on_frame(
        &mut self,
        frame: Self::Frame,
        core: &mut Core<Self>,
        now: Instant,
    ) -> Result<(), Self::Error>;

    /// Opens an outbound stream: its id, inserted into `core` with
    /// [`Core::insert_outbound`] and announced. `Ok(None)`: not now, try again when the
    /// engine makes progress. The engine has checked that the session is open and below
    /// [`Settings::max_streams`].
    fn open(
        &mut self,
        core: &mut Core<Self>,
        now: Instant,
    ) -> Result<Option<Self::Id>, Self::Error>;

    /// The application took inbound stream `id`.
    fn on_accept(&mut self, _id: Self::Id, _core: &mut Core<Self>) {}

    /// Bytes of data `stream` may send now (its window).
    fn send_window(stream: &Self::Stream) -> usize;

    /// A data frame carrying `payload` on `id` (whose window it uses up).
    fn data_frame(id: Self::Id, stream: &mut Self::Stream, payload: Bytes) -> Self::Out;

    /// The frame that half-closes `id`.
    fn fin_frame(id: Self::Id) -> Self::Out;

    /// The frame that resets `id`.
    fn reset_frame(id: Self::Id) -> Self::Out;

    /// The application read `n` bytes of `id` (its read side still open when
    /// `read_open`): a frame to send in return (a window update), if any.
    fn on_read(
        &mut self,
        _id: Self::Id,
        _stream: &mut Self::Stream,
        _n: usize,
        _read_open: bool,
        _now: Instant,
    ) -> Option<Self::Out> {
        None
    }

    /// Stream `id` left the table (its handle is gone).
    fn on_removed(&mut self, _id: Self::Id, _stream: Self::Stream, _core: &mut Core<Self>) {}

    /// The user closes the session: say goodbye if the protocol has a way.
    fn on_close(&mut self, _core: &mut Core<Self>) {}

    /// The session fails with `error`: tell the remote if the protocol has a way.
    fn on_fail(&mut self, _error: &Self::Error, _core: &mut Core<Self>) {}

    /// [`Settings::keep_alive`] passed; an error ends the session.
    fn on_keep_alive(&mut self, _core: &mut Core<Self>, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }
}
