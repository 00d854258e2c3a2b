//! The perf protocol, `/perf/1.0.0` (libp2p specs, `perf/perf.md`): a client-driven
//! throughput benchmark on one stream.
//!
//! - Client ([`client`], or [`run`] to open the stream through a
//!   [`Network`](mycel_core::Network)): sends the number of bytes it wants back as a
//!   big-endian `u64`, uploads some bytes, closes its write side, then reads the response
//!   to its end and checks its length.
//! - Server ([`serve`], or the [`handler`] to register): reads the `u64`, reads the
//!   upload to its end, only then sends that many bytes, and closes the stream.
//!
//! Payload bytes are zeros. Both sides write from one static buffer of [`BUFFER_SIZE`]
//! bytes and read into one buffer of that size allocated per stream, so a transfer of
//! any size costs no allocation per chunk, and a server holds the same memory whatever
//! it is asked to send or receive.
//!
//! ```no_run
//! use mycel_core::{Network, PeerId};
//! use mycel_perf::RunParams;
//!
//! async fn benchmark(network: &dyn Network, peer: PeerId) -> Result<(), mycel_perf::PerfError> {
//!     // The server side: opt in explicitly (see the security note below).
//!     network.set_stream_handler(mycel_perf::PROTOCOL_ID, mycel_perf::handler());
//!
//!     // The client side: upload 100 MiB, download 1 GiB.
//!     let params = RunParams { upload_bytes: 100 << 20, download_bytes: 1 << 30 };
//!     let stats = mycel_perf::run(network, peer, params).await?;
//!     let secs = stats.download.as_secs_f64();
//!     println!("download: {:.1} MiB/s", stats.download_bytes as f64 / secs / (1 << 20) as f64);
//!     Ok(())
//! }
//! ```
//!
//! # Security
//! The spec: "Since this protocol lets clients ask servers to do significant work, it
//! SHOULD NOT be enabled by default in any implementation. Users are advised not to
//! enable this on publicly reachable nodes." Nothing here registers the handler; a host
//! should do it only when asked, and only on nodes that are not publicly reachable (or
//! behind a check of the remote peer id, which [`serve`] leaves to the caller).
//!
//! # Caveats
//! - A client may ask for up to `u64::MAX` bytes (the spec's timer-based variant: ask for
//!   everything, close the stream when the timer ends). The server then sends until the
//!   stream breaks, and [`serve`] ends with an IO error, which is expected.
//! - [`client`] has no timeout: how long a benchmark may take is the caller's choice.
//!   [`serve`] gives up when the stream makes no progress for [`IDLE_TIMEOUT`].

mod error;
mod network;
mod protocol;

use std::time::Duration;

use mycel_core::ProtocolId;

pub use crate::{
    error::PerfError,
    network::{handler, run},
    protocol::{RunParams, RunStats, ServeStats, client, serve},
};

/// The protocol id of perf.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/perf/1.0.0");

/// Bytes moved per write and read. Large enough that per-call overhead does not show at
/// multi-GiB/s and that a whole Noise frame (up to 65535 bytes) fits the read buffer;
/// mycel's muxer benchmarks use the same size.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// How long [`serve`] waits for any progress (a read returning, a write accepted) before
/// giving up on the stream, so a silent client cannot hold a server task forever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
