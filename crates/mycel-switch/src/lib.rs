//! The switch of the mycel libp2p stack: it turns transports, a security protocol and
//! muxers into a pool of authenticated connections with negotiated streams.
//!
//! - [`Upgrader`]: raw connection -> multistream-select `/noise` -> Noise -> muxer (from
//!   Noise's `stream_muxers` extension when both sides offered one, else
//!   multistream-select among the configured muxers, the first preferred).
//! - [`Switch`]: the connection pool keyed by [`PeerId`](mycel_core::PeerId); dialing by
//!   peer (its addresses tried in parallel, bounded, and concurrent dials to one peer
//!   sharing one attempt) or by `/p2p/` multiaddr; listeners; inbound streams negotiated
//!   against the registered handlers (an unknown protocol gets `na`, the stream closes,
//!   the connection lives on); outbound streams; events.
//!
//! Most users want `mycel-host`, which adds a peer store, a builder and the
//! [`Network`](mycel_core::Network) trait on top.
//!
//! ```no_run
//! # async fn run(switch: mycel_switch::Switch, addr: mycel_core::Multiaddr) -> Result<(), Box<dyn std::error::Error>> {
//! use mycel_core::ProtocolId;
//!
//! let conn = switch.dial_addr(&addr).await?;
//! let stream = switch
//!     .open_stream(conn.peer(), &[ProtocolId::from_static("/ipfs/ping/1.0.0")])
//!     .await?;
//! # drop(stream); Ok(()) }
//! ```
//!
//! # Limits and timeouts
//! See [`SwitchConfig`]: dial, upgrade and negotiation timeouts; established
//! connections by direction and per peer; connections being set up by direction; open
//! streams per connection by direction and those still negotiating; the idle timeout
//! after which a connection without streams closes. Each has a named default.

mod config;
mod error;
pub mod pool;
mod stream;
mod switch;
mod upgrade;

pub use crate::{
    config::{
        DEFAULT_DIAL_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED_BYTES,
        DEFAULT_MAX_CONNECTIONS_PER_PEER, DEFAULT_MAX_ESTABLISHED_INBOUND,
        DEFAULT_MAX_ESTABLISHED_OUTBOUND, DEFAULT_MAX_INBOUND_STREAMS_PER_CONNECTION,
        DEFAULT_MAX_NEGOTIATING_INBOUND_STREAMS, DEFAULT_MAX_OUTBOUND_STREAMS_PER_CONNECTION,
        DEFAULT_MAX_PARALLEL_DIALS, DEFAULT_MAX_PENDING_INBOUND, DEFAULT_MAX_PENDING_OUTBOUND,
        DEFAULT_NEGOTIATION_TIMEOUT, DEFAULT_UPGRADE_TIMEOUT, EVENT_BUFFER, SwitchConfig,
    },
    error::{ConnectError, DialError, ListenError, Stage},
    stream::KeepAlive,
    switch::{ConnectionHook, ConnectionId, PeerConnection, StopOnDrop, Switch},
    upgrade::{Upgraded, Upgrader},
};
