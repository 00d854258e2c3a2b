//! The ping protocol, `/ipfs/ping/1.0.0` (libp2p specs, `ping/ping.md`): a liveness check
//! and round-trip time on an already established connection.
//!
//! - Dialer: writes [`PING_SIZE`] random bytes on a ping stream and measures the time
//!   until the same bytes come back. It may repeat on the same stream, then closes its
//!   write side. [`ping`] is one round on a stream you hold; [`ping_peer`] opens a stream
//!   through a [`Network`](mycel_core::Network), pings once and closes it.
//! - Listener: echoes every [`PING_SIZE`]-byte payload until the dialer closes its write
//!   side, then closes the stream. [`serve`] does that on one stream; [`handler`] is the
//!   [`StreamHandler`](mycel_core::StreamHandler) to register, which also serves at most
//!   [`MAX_INBOUND_STREAMS_PER_PEER`] streams per peer at once, as the spec asks.
//!
//! ```no_run
//! use mycel_core::{Network, PeerId};
//!
//! async fn check(network: &dyn Network, peer: PeerId) -> Result<(), mycel_ping::PingError> {
//!     // Listener: answer pings from every peer.
//!     network.set_stream_handler(mycel_ping::PROTOCOL_ID, mycel_ping::handler());
//!
//!     // Dialer: one ping, bounded by `PING_TIMEOUT`.
//!     let rtt = mycel_ping::ping_peer(network, peer).await?;
//!     println!("{peer}: {rtt:?}");
//!     Ok(())
//! }
//! ```
//!
//! # Caveats
//! - The spec says a dialer must not keep more than one outbound ping stream per peer.
//!   [`ping_peer`] opens a fresh stream each time and closes it; a caller that pings a
//!   peer periodically should not run two `ping_peer` calls to one peer at once, or
//!   should hold one stream and call [`ping`] on it.
//! - [`ping`] has no clock of its own beyond measuring the round trip: bound it with a
//!   timeout ([`PING_TIMEOUT`] is the usual choice). [`serve`] gives up after
//!   [`IDLE_TIMEOUT`] without a ping.

mod error;
mod limit;
mod network;
mod protocol;

use std::time::Duration;

use mycel_core::ProtocolId;

pub use crate::{
    error::PingError,
    network::{handler, ping_peer, ping_peer_with_timeout},
    protocol::{ping, serve},
};

/// The protocol id of ping.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");

/// Size of a ping payload and of its echo, in bytes (fixed by the spec).
pub const PING_SIZE: usize = 32;

/// How long [`ping_peer`] waits, from opening the stream to the echo, before failing
/// with [`PingError::Timeout`]. rust-libp2p's default ping timeout.
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`serve`] waits for the next ping (and to echo it) before giving up on the
/// stream. rust-libp2p keeps one ping stream per connection and pings on it every 15 s,
/// so a minute leaves room for a late ping on a slow link while still freeing the
/// streams of peers that stopped pinging without closing.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Inbound ping streams [`handler`] serves at once for one peer; more are dropped. The
/// spec: a listener "SHOULD accept at most two streams per peer", since a dialer's
/// close of its old stream and open of a new one may arrive in either order.
pub const MAX_INBOUND_STREAMS_PER_PEER: usize = 2;

/// Peers [`handler`] serves at once. A stream from one more peer is dropped. Large
/// enough for a node with thousands of connections, each holding a ping stream, and
/// small enough that the handler's per-peer table stays a few hundred kilobytes.
pub const MAX_INBOUND_PEERS: usize = 8192;
