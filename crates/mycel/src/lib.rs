//! mycel: a libp2p networking stack, wire-compatible with the other libp2p
//! implementations.
//!
//! This crate re-exports the mycel crates (each usable alone) behind cargo features and
//! adds [`DefaultStack`]: TCP, Noise, yamux (preferred) and mplex in one call.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mycel::{DefaultStack, Host, Network};
//!
//! let host = Host::builder()
//!     .with_default_stack()
//!     .listen_on("/ip4/0.0.0.0/tcp/0".parse()?)
//!     .build()
//!     .await?;
//! // Every host answers ping; add your own protocols with `set_stream_handler`.
//! println!("{} on {:?}", host.peer_id(), host.listen_addrs());
//! # Ok(()) }
//! ```
//!
//! | feature | crate | default |
//! |---|---|---|
//! | `tcp` | [`tcp`] (mycel-tcp) | yes |
//! | `memory` | [`memory`] (mycel-memory) | yes |
//! | `noise` | [`noise`] (mycel-noise) | yes |
//! | `yamux`, `mplex` | [`yamux`], [`mplex`] | yes |
//! | `ping`, `perf` | [`ping`], [`perf`] | yes |
//! | `kad` | [`kad`] (mycel-kad, the Kademlia DHT) | yes |
//! | `pubsub` | [`pubsub`] (mycel-pubsub: floodsub and gossipsub) | yes |
//! | `sync-table` | [`sync_table`] (mycel-sync-table: a map replicated over pubsub) | yes |
//!
//! [`core`], [`multistream`], [`switch`], [`host`] and [`identify`] are always there.

pub use mycel_core::{
    self as core, Direction, KeyType, Keypair, Multiaddr, NegotiatedStream, Network, NetworkError,
    NetworkEvent, PeerId, ProtocolId, PublicKey, StreamHandler, stream_handler,
};
pub use mycel_host::{self as host, Host, HostBuilder};
pub use mycel_identify as identify;
#[cfg(feature = "kad")]
pub use mycel_kad as kad;
#[cfg(feature = "memory")]
pub use mycel_memory as memory;
#[cfg(feature = "mplex")]
pub use mycel_mplex as mplex;
pub use mycel_multistream as multistream;
#[cfg(feature = "noise")]
pub use mycel_noise as noise;
#[cfg(feature = "perf")]
pub use mycel_perf as perf;
#[cfg(feature = "ping")]
pub use mycel_ping as ping;
#[cfg(feature = "pubsub")]
pub use mycel_pubsub as pubsub;
pub use mycel_switch as switch;
#[cfg(feature = "sync-table")]
pub use mycel_sync_table as sync_table;
#[cfg(feature = "tcp")]
pub use mycel_tcp as tcp;
#[cfg(feature = "yamux")]
pub use mycel_yamux as yamux;

/// The stack every libp2p implementation shares, for a [`HostBuilder`].
#[cfg(all(
    feature = "tcp",
    feature = "noise",
    feature = "yamux",
    feature = "mplex"
))]
pub trait DefaultStack {
    /// TCP, Noise (offering the muxers inside its handshake), yamux then mplex.
    fn with_default_stack(self) -> HostBuilder;

    /// TCP and Noise with the given muxers, in order of preference.
    fn with_tcp_noise(self, muxers: &[Muxer]) -> HostBuilder;
}

/// A muxer the default stack can use.
#[cfg(all(
    feature = "tcp",
    feature = "noise",
    feature = "yamux",
    feature = "mplex"
))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Muxer {
    /// `/yamux/1.0.0`
    Yamux,
    /// `/mplex/6.7.0`
    Mplex,
}

#[cfg(all(
    feature = "tcp",
    feature = "noise",
    feature = "yamux",
    feature = "mplex"
))]
impl DefaultStack for HostBuilder {
    fn with_default_stack(self) -> HostBuilder {
        self.with_tcp_noise(&[Muxer::Yamux, Muxer::Mplex])
    }

    fn with_tcp_noise(self, muxers: &[Muxer]) -> HostBuilder {
        let mut builder = self
            .with_transport(mycel_tcp::TcpTransport::default())
            .with_security(|keypair, muxers| {
                std::sync::Arc::new(
                    mycel_noise::Config::new(keypair.clone()).with_muxers(muxers.to_vec()),
                )
            });
        for muxer in muxers {
            builder = match muxer {
                Muxer::Yamux => builder.with_muxer(mycel_yamux::Config::default()),
                Muxer::Mplex => builder.with_muxer(mycel_mplex::Config::default()),
            };
        }
        builder
    }
}

#[cfg(all(test, feature = "ping", feature = "tcp"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn default_stack_pings_over_tcp() {
        let listen = || "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        let a = Host::builder().with_default_stack().build().await.unwrap();
        let b = Host::builder()
            .with_default_stack()
            .listen_on(listen())
            .build()
            .await
            .unwrap();
        a.add_addrs(b.peer_id(), b.listen_addrs());
        let rtt = ping::ping_peer(&a, b.peer_id()).await.unwrap();
        assert!(rtt > std::time::Duration::ZERO);
        let conn = a.switch().connection(&b.peer_id()).unwrap();
        assert_eq!(conn.muxer_protocol(), &yamux::PROTOCOL_ID);
        a.close().await;
        b.close().await;
    }
}
