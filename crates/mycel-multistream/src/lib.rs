//! multistream-select 1.0: how two peers agree on the protocol of a connection or stream.
//!
//! Both sides send the header `/multistream/1.0.0`; the dialer then proposes protocol
//! ids until the listener echoes one back (accepted) instead of answering `na`. Every
//! message is `uvarint(len) || text || '\n'`.
//!
//! - [`dialer_select`]: propose several protocols in order of preference.
//! - [`dialer_select_lazy`]: propose one protocol and start sending at once; the
//!   listener's answer is checked on the first read. Saves a round trip.
//! - [`listener_select`]: answer proposals (and `ls`) against the protocols we serve.
//! - [`list_protocols`]: ask a listener what it serves (`ls`, optional in the spec).
//!
//! Works over any tokio `AsyncRead + AsyncWrite`: a raw TCP connection (to pick the
//! security protocol), a secured one (to pick the muxer) or a muxed stream.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mycel_core::ProtocolId;
//! use mycel_multistream::{dialer_select, listener_select};
//!
//! const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
//! let (a, b) = tokio::io::duplex(1024);
//! let listener = tokio::spawn(async move { listener_select(b, &[PING]).await.unwrap().0 });
//! let (chosen, _stream) = dialer_select(a, &[ProtocolId::from_static("/new/2.0.0"), PING])
//!     .await
//!     .unwrap();
//! assert_eq!(chosen, PING);
//! assert_eq!(listener.await.unwrap(), PING);
//! # }
//! ```
//!
//! # Limits
//! A message may be at most [`MAX_MESSAGE_LEN`] bytes (go-libp2p's bound; rust-libp2p
//! reads at most 16383, and mycel never sends more than that: protocol ids are at most
//! [`mycel_core::MAX_PROTOCOL_ID_LEN`] bytes). A listener answers at most
//! [`MAX_PROPOSALS`] proposals on one stream. Negotiation has no clock of its own:
//! callers bound it with a timeout.

mod error;
mod message;
mod negotiated;
mod select;

pub use crate::{
    error::NegotiationError,
    message::{HEADER, LS, NA},
    negotiated::Negotiated,
    select::{dialer_select, dialer_select_lazy, list_protocols, listener_select},
};

/// Longest message accepted, newline included.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Proposals (and `ls` requests) a listener answers on one stream before giving up.
pub const MAX_PROPOSALS: usize = 32;
