//! The ground every mycel crate stands on.
//!
//! - Identities: a [`Keypair`] and the [`PublicKey`] of any peer, of every key type of
//!   the libp2p peer-ids spec (Ed25519, Secp256k1, ECDSA P-256, RSA), each signing and
//!   verifying as the spec says; and [`PeerId`], in both text forms.
//! - [`Multiaddr`] (re-exported from the `multiaddr` crate) with helpers for the
//!   `/p2p/<peer-id>` suffix ([`addr`]).
//! - Signed envelopes and peer records ([`record`]): a peer's addresses, signed by it.
//! - [`ProtocolId`] and unsigned-varint length-prefixed [`framing`] with a caller-given
//!   maximum.
//! - The traits that join the crates: [`Transport`]/[`Listener`], [`SecureUpgrade`],
//!   [`MuxerUpgrade`]/[`MuxedConnection`], and [`Network`], the one trait protocol crates
//!   see.
//!
//! ```
//! use mycel_core::{Keypair, PeerId};
//!
//! let keypair = Keypair::generate();
//! let peer_id = keypair.peer_id();
//! let text = peer_id.to_string();
//! assert!(text.starts_with("12D3Koo"));
//! assert_eq!(text.parse::<PeerId>().unwrap(), peer_id);
//!
//! let sig = keypair.sign(b"hello");
//! keypair.public().verify(b"hello", &sig).unwrap();
//! ```

pub mod addr;
mod budget;
pub mod framing;
pub mod identity;
mod network;
mod peer_id;
mod protocol;
pub mod record;
pub mod tasks;
#[cfg(feature = "test-util")]
pub mod testing;
mod transport;
mod upgrade;

pub use multiaddr::{self, Multiaddr, Protocol};

pub use crate::{
    budget::{BudgetShare, BufferBudget, Relief},
    identity::{KeyError, KeyType, Keypair, PublicKey},
    network::{
        BoxError, Direction, Limit, NegotiatedStream, Network, NetworkError, NetworkEvent,
        StreamHandler, stream_handler,
    },
    peer_id::{MAX_INLINE_KEY_LEN, MAX_PEER_ID_LEN, MAX_PEER_ID_TEXT_LEN, PeerId, PeerIdError},
    protocol::{MAX_PROTOCOL_ID_LEN, ProtocolId, ProtocolIdError},
    transport::{
        AsyncReadWrite, BoxedIo, BoxedListener, BoxedTransport, Connection, Listener,
        PendingSecured, SecuredConnection, SecuredListener, SecuredTransport, Transport,
        TransportError, TransportExt,
    },
    upgrade::{
        MuxedConnection, MuxerError, MuxerUpgrade, Role, SecureUpgrade, Secured, UpgradeError,
    },
};
