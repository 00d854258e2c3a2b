//! The mycel host: a libp2p node you build once and use through plain async calls.
//!
//! [`HostBuilder`] takes an identity, transports, a security protocol, muxers, listen
//! addresses and limits; [`HostBuilder::build`] starts listening and returns a
//! [`Host`]. The host dials (by `/p2p/` address or by peer id from its [`PeerStore`]),
//! keeps the connections, opens streams with [`Network::new_stream`] and serves
//! inbound ones with [`Network::set_stream_handler`]. Protocol crates take it as a
//! [`Network`], the trait from `mycel-core` re-exported here.
//!
//! ```no_run
//! # async fn run(host: mycel_host::Host, peer: mycel_core::PeerId) -> Result<(), Box<dyn std::error::Error>> {
//! use mycel_core::{ProtocolId, stream_handler};
//! use mycel_host::Network;
//! use tokio::io::AsyncWriteExt;
//!
//! const HELLO: ProtocolId = ProtocolId::from_static("/hello/1.0.0");
//! host.set_stream_handler(HELLO, stream_handler(|mut s| async move {
//!     let _ = s.io.write_all(b"hello\n").await;
//!     let _ = s.io.shutdown().await;
//! }));
//! let mut stream = host.new_stream(peer, &[HELLO]).await?;
//! # drop(stream); Ok(()) }
//! ```
//!
//! Every host runs identify (`/ipfs/id/1.0.0` and `/ipfs/id/push/1.0.0`): it asks each
//! new connection's peer who it is, answers the same question, and pushes its own
//! protocols and addresses to connected peers when they change. Answers land in the
//! peer store ([`Host::peer_record`]) and as [`mycel_core::NetworkEvent::Identified`].
//!
//! Closing ([`Host::close`]) stops the listeners, then the connections, then every
//! task the host started, and returns once they have ended.

mod host;
mod identify;
mod observed;
mod peer_store;
#[cfg(feature = "test-util")]
pub mod testing;

pub use mycel_core::Network;
pub use mycel_switch::{DialError, ListenError, PeerConnection, SwitchConfig};

pub use mycel_identify::{self as identify_protocol, IdentifyError, Info as IdentifyInfo};

pub use crate::{
    host::{BuildError, Host, HostBuilder, SecurityFactory},
    observed::{MAX_CANDIDATES, MAX_OBSERVERS, OBSERVATIONS_FOR_CANDIDATE},
    peer_store::{
        AddrSource, DEFAULT_MAX_PEERS, IDENTIFY_ADDR_TTL, Identity, MAX_ADDRS_PER_PEER,
        MAX_PROTOCOLS_PER_PEER, MAX_VERSION_LEN, PeerRecord, PeerStore,
        RECENTLY_CONNECTED_ADDR_TTL,
    },
};
