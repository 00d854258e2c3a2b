//! The libp2p identify protocol: peers tell each other their public key, listen
//! addresses, the address they see us at, their protocols and their agent.
//!
//! - `/ipfs/id/1.0.0` ([`PROTOCOL_ID`]): the requester opens a stream, the other side
//!   answers with one message and closes ([`request`], [`respond`]).
//! - `/ipfs/id/push/1.0.0` ([`PUSH_PROTOCOL_ID`]): a peer whose addresses or protocols
//!   changed opens a stream and sends them ([`respond`] again), the receiver merges the
//!   fields it got ([`receive_push`], [`Info::apply`]).
//!
//! Messages are `uvarint(len) || protobuf` (proto/identify.proto). A public key that is
//! not the connection's peer's is an error; the host drops such a message.
//!
//! ```no_run
//! # async fn run(stream: tokio::io::DuplexStream, peer: mycel_core::PeerId) -> Result<(), mycel_identify::IdentifyError> {
//! let info = mycel_identify::request(stream, peer).await?;
//! println!("{} runs {} and speaks {:?}", info.peer_id(), info.agent_version, info.protocols);
//! # Ok(()) }
//! ```
//!
//! # Limits
//! A message may be at most [`MAX_MESSAGE_SIZE`] bytes, and a stream carry at most
//! [`MAX_MESSAGES`] of them (go-libp2p may send a second one).
//!
//! # Signed peer records
//! `signedPeerRecord` (field 8) carries a signed envelope of the peer's addresses
//! ([`mycel_core::record`]). A received one is kept in [`Update::signed_peer_record`] only
//! when it is at most 4 KiB, its signature checks and it names the peer on the
//! connection; otherwise it is dropped and the rest of the message stands.

mod error;
mod protocol;

use std::time::Duration;

use mycel_core::ProtocolId;

pub use crate::{
    error::IdentifyError,
    protocol::{Info, MAX_TRAILING_BYTES, Update, receive_push, request, respond},
};

/// The request protocol.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/ipfs/id/1.0.0");

/// The push protocol.
pub const PUSH_PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/ipfs/id/push/1.0.0");

/// Largest message accepted (the spec's messages are typically under 4 KiB).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Listen addresses kept from one answer (more are dropped).
pub const MAX_LISTEN_ADDRS: usize = 128;

/// Protocols kept from one answer (more are dropped).
pub const MAX_PROTOCOLS: usize = 512;

/// Messages accepted on one stream.
pub const MAX_MESSAGES: usize = 4;

/// How long one exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The protocol family mycel announces.
pub const PROTOCOL_VERSION: &str = "ipfs/0.1.0";

/// mycel's agent version: `mycel/<version>`.
pub const AGENT_VERSION: &str = concat!("mycel/", env!("CARGO_PKG_VERSION"));
