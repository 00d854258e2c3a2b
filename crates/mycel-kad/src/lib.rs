//! The libp2p Kademlia DHT (`/ipfs/kad/1.0.0`, libp2p/specs kad-dht/README.md).
//!
//! A [`Kademlia`] node runs on anything that implements [`mycel_core::Network`] (a mycel
//! `Host`, or a test double). It finds the peers closest to a key, stores and fetches
//! records, and announces and finds content providers:
//!
//! ```no_run
//! # async fn run(host: std::sync::Arc<dyn mycel_core::Network>, seed: mycel_core::PeerId, addr: mycel_core::Multiaddr) -> Result<(), mycel_kad::KadError> {
//! use mycel_kad::{AcceptAll, KadConfig, Kademlia, Mode, Record, Validators};
//!
//! let config = KadConfig::default()
//!     .with_mode(Mode::Server)
//!     .with_validators(Validators::with_defaults().with("test", AcceptAll));
//! let kad = Kademlia::new(host, config);
//! kad.add_address(seed, addr);
//! kad.bootstrap().await?;
//! kad.put_record(Record::new("/test/greeting", "hello")).await?;
//! let record = kad.get_record("/test/greeting").await?;
//! # Ok(()) }
//! ```
//!
//! # Layers
//! - The wire ([`Request`], [`Response`], [`encode_request`], [`decode_response`], ...):
//!   `uvarint(len) || protobuf` per proto/kad.proto, at most
//!   [`DEFAULT_MAX_MESSAGE_SIZE`] bytes, peer lists and addresses capped.
//! - State machines without IO or clock: the [`RoutingTable`] (256 k-buckets; a full
//!   bucket probes its least recently seen entry before replacing it), the iterative
//!   [`Lookup`] (alpha requests in flight, slow peers stop counting after the request
//!   timeout, done when the k closest have answered), the bounded [`MemoryStore`] and
//!   the answering side ([`DhtState::handle_request`]). Simulations drive these
//!   directly.
//! - [`Kademlia`], the async node: it answers on a stream handler in server mode, puts
//!   peers that identify reports as DHT servers in its table, runs queries, bootstraps
//!   periodically, expires records and republishes its own.
//! - [`DhtMap`]: a string-keyed dictionary on top.
//!
//! # Modes
//! In [`Mode::Server`] the node registers the protocol (identify announces it) and
//! answers; in [`Mode::Client`] it only asks, and others keep it out of their tables.
//! Without a forced mode a node starts as a client and turns server when the network
//! reports an external address.
//!
//! # Records
//! A record's key picks its validator by namespace (`/pk/...` is built in and checks
//! that the value is the public key of the peer id in the key). Keys in no known
//! namespace are refused, as go-libp2p does; [`Validators::accept_all`] accepts
//! everything, as rust-libp2p does.

mod config;
mod dht;
mod dht_map;
mod error;
mod key;
mod protocol;
mod queries;
mod query;
mod record;
mod routing;
mod server;
mod store;
mod validator;

use std::time::Duration;

use mycel_core::ProtocolId;

pub use crate::{
    config::{
        DEFAULT_BOOTSTRAP_INTERVAL, DEFAULT_QUERY_TIMEOUT, DEFAULT_REPROVIDE_INTERVAL,
        DEFAULT_REPUBLISH_INTERVAL, INBOUND_IDLE_TIMEOUT, KadConfig, MAX_REQUESTS_PER_STREAM, Mode,
        Quorum,
    },
    dht::{GetRecordOk, Kademlia, PutRecordOk},
    dht_map::{DEFAULT_MAP_NAMESPACE, DhtMap},
    error::KadError,
    key::{Distance, Key},
    protocol::{
        ConnectionType, MAX_WIRE_ADDRS, MAX_WIRE_PEERS, MessageType, PeerInfo, Request, Response,
        decode_request, decode_response, encode_request, encode_response,
    },
    queries::{GetOutcome, GetQuery, HasLookup, PutQuery, Refresh},
    query::{Lookup, LookupConfig, LookupPoll, LookupStats},
    record::{ProviderRecord, Record},
    routing::{Entry, InsertOutcome, MAX_REFRESH_PREFIX, PENDING_TIMEOUT, RoutingTable},
    server::DhtState,
    store::{
        DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_PROVIDER_KEYS, DEFAULT_MAX_PROVIDERS_PER_KEY,
        DEFAULT_MAX_RECORDS, DEFAULT_MAX_VALUE_BYTES, DEFAULT_PROVIDER_TTL, DEFAULT_RECORD_TTL,
        MemoryStore, StoreConfig, StoreError,
    },
    validator::{
        AcceptAll, PUBLIC_KEY_NAMESPACE, PublicKeyValidator, ValidationError, Validator, Validators,
    },
};

/// The protocol id every libp2p implementation uses for the public DHT.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/ipfs/kad/1.0.0");

/// The replication parameter: bucket size, and how many peers a lookup returns and a
/// record is stored at.
pub const K_VALUE: usize = 20;

/// Requests one lookup keeps in flight.
pub const ALPHA_VALUE: usize = 3;

/// Default largest message accepted. rust-libp2p sends at most 16 KiB and go-libp2p
/// accepts up to 4 MiB; real answers (20 peers with their addresses, a record of at most
/// a few KiB) stay far below 1 MiB, which bounds what one request can make us hold.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Peers kept from one message's `closerPeers` or `providerPeers` (more are dropped).
pub const MAX_PEERS_PER_MESSAGE: usize = 64;

/// Addresses kept per peer in a message (more are dropped).
pub const MAX_ADDRS_PER_PEER: usize = 32;

/// Default time one request may take before a lookup stops waiting for it.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
