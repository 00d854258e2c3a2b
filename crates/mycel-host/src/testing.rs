//! Hosts for tests (the `test-util` feature): real hosts, Noise and yamux, over an
//! in-process memory transport.

use std::sync::Arc;

use mycel_memory::{MemoryHub, MemoryTransport};

use crate::{Host, HostBuilder};

/// `builder` with the memory transport of `hub`, Noise (offering the muxers inside its
/// handshake) and yamux, listening on a fresh `/memory` address.
pub fn memory_builder(builder: HostBuilder, hub: &MemoryHub) -> HostBuilder {
    builder
        .with_transport(MemoryTransport::with_hub(hub.clone()))
        .with_security(|keypair, muxers| {
            Arc::new(mycel_noise::Config::new(keypair.clone()).with_muxers(muxers.to_vec()))
        })
        .with_muxer(mycel_yamux::Config::default())
        .listen_on("/memory/0".parse().expect("a memory address"))
}

/// A started host on `hub` (see [`memory_builder`]).
///
/// # Panics
/// If the host cannot start: a test has nothing to do then.
pub async fn memory_host(hub: &MemoryHub) -> Host {
    memory_builder(Host::builder(), hub)
        .build()
        .await
        .expect("a memory host starts")
}
