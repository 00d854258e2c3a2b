//! RLPx, the transport of Ethereum's devp2p (devp2p `rlpx.md`, protocol version 5;
//! EIP-8), as sans-IO pieces: bytes in, bytes out, no sockets, no tasks.
//!
//! - [`ecies`]: the asymmetric encryption of the handshake messages.
//! - [`handshake`]: [`Initiator`] sends auth and reads ack, [`Recipient`] reads auth and
//!   answers ack; both end with the same [`Secrets`]. EIP-8 formats are sent; legacy
//!   ones are read too.
//! - [`FrameCodec`]: the encrypted, authenticated frames that follow.
//! - [`p2p`]: the messages of the "p2p" capability (Hello, Disconnect, Ping, Pong) and
//!   the message framing with snappy.
//! - [`RlpxStream`]: the handshake and frames over a tokio byte stream (a TCP
//!   connection), with a handshake timeout.
//! - [`caps`]: shared capabilities placed in the message-id space, and the fair queue.
//! - [`Peer`]: a whole session: handshake, Hellos, one [`CapabilityStream`] per shared
//!   capability (send and receive by message id), Ping every 15 s, Disconnect with a
//!   reason, frames of the capabilities sent in turn so that none starves another.
//! - [`peers`]: the peer policy ([`peers::PeerManager`]): max peers and dial ratio,
//!   inbound throttle per IP, static and trusted peers, reputation with decay and bans,
//!   replacement of the worst peer when full.
//! - [`Server`]: a node's listener and dialer with that policy applied (per-IP throttle,
//!   a cap on handshakes in progress, admission, replacement, bans); admitted sessions
//!   arrive on a channel.
//!
//! ```
//! use bytes::BytesMut;
//! use k256::SecretKey;
//! use mycel_rlpx::{FrameCodec, Initiator, NodeId, Recipient};
//!
//! let (a, b) = (SecretKey::random(&mut rand::rngs::OsRng), SecretKey::random(&mut rand::rngs::OsRng));
//! let mut initiator = Initiator::new(a, NodeId::from_public_key(&b.public_key())).unwrap();
//! let recipient = Recipient::new(b);
//!
//! let auth = initiator.auth();
//! let read = recipient.read_auth(&auth).unwrap();
//! let (ack, recipient_secrets) = recipient.ack(&auth, &read).unwrap();
//! let (_, initiator_secrets) = initiator.read_ack(&ack).unwrap();
//!
//! let (mut out, mut inb) = (FrameCodec::new(&initiator_secrets), FrameCodec::new(&recipient_secrets));
//! let mut wire = BytesMut::new();
//! out.encode(b"\x80hello", &mut wire).unwrap();
//! assert_eq!(&inb.decode(&mut wire).unwrap().unwrap()[..], b"\x80hello");
//! ```

pub mod caps;
pub mod ecies;
pub mod frame;
pub mod handshake;
mod mac;
pub mod p2p;
mod peer;
pub mod peers;
mod server;
mod stream;

/// RLP (`alloy-rlp`), to encode and decode capability messages.
pub use alloy_rlp as rlp;
/// A node's secret key (secp256k1).
pub use k256::SecretKey;

pub use crate::{
    frame::{FrameCodec, FrameDecoder, FrameEncoder, FrameError},
    handshake::{Ack, Auth, HandshakeError, Initiator, Recipient, Role, Secrets},
    mac::MacState,
    peer::{
        CapabilityStream, Closed, DISCONNECT_GRACE, HELLO_TIMEOUT, Peer, PeerConfig, PeerError,
        PeerHandle,
    },
    server::{DIAL_TIMEOUT, Server, ServerConfig},
    stream::{HANDSHAKE_TIMEOUT, RlpxError, RlpxStream},
};

/// A node's identity on devp2p: its secp256k1 public key, uncompressed, without the
/// `0x04` prefix (the 128 hex characters of an `enode://` URL).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub [u8; 64]);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// Why a node id or an enode URL could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnodeError {
    /// Not `enode://<128 hex>@<ip>:<port>`.
    #[error("not an enode URL (enode://<128 hex digits>@<ip>:<port>): {0}")]
    Syntax(String),
    /// The id is not 128 hex digits naming a point on secp256k1.
    #[error("bad node id: {0}")]
    BadId(String),
}

impl std::str::FromStr for NodeId {
    type Err = EnodeError;

    /// 128 hex digits (the key must be a point on the curve).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EnodeError::BadId(s.to_string());
        if s.len() != 128 || !s.is_ascii() {
            return Err(bad());
        }
        let mut id = [0u8; 64];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let id = NodeId(id);
        id.public_key().map_err(|_| bad())?;
        Ok(id)
    }
}

/// Reads `enode://<id>@<ip>:<port>` (a `?discport=` query is ignored).
pub fn parse_enode(url: &str) -> Result<(NodeId, std::net::SocketAddr), EnodeError> {
    let syntax = || EnodeError::Syntax(url.to_string());
    let rest = url.strip_prefix("enode://").ok_or_else(syntax)?;
    let (id, addr) = rest.split_once('@').ok_or_else(syntax)?;
    let addr = addr.split('?').next().unwrap_or(addr);
    let addr: std::net::SocketAddr = addr.parse().map_err(|_| syntax())?;
    Ok((id.parse()?, addr))
}

/// `enode://<id>@<ip>:<port>`.
pub fn enode_url(id: &NodeId, addr: std::net::SocketAddr) -> String {
    format!("enode://{id}@{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enode_urls_round_trip_and_bad_ones_are_typed_errors() {
        let key = k256::SecretKey::random(&mut rand::rngs::OsRng);
        let id = NodeId::from_public_key(&key.public_key());
        let addr: std::net::SocketAddr = "127.0.0.1:30303".parse().unwrap();
        let url = enode_url(&id, addr);
        assert_eq!(url.len(), "enode://".len() + 128 + "@127.0.0.1:30303".len());
        assert_eq!(parse_enode(&url).unwrap(), (id, addr));
        assert_eq!(
            parse_enode(&format!("{url}?discport=30301")).unwrap(),
            (id, addr)
        );
        assert!(matches!(
            parse_enode("enode://abc@1.2.3.4:1"),
            Err(EnodeError::BadId(_))
        ));
        assert!(matches!(
            parse_enode(&url.replace("enode", "http")),
            Err(EnodeError::Syntax(_))
        ));
        assert!(matches!(
            parse_enode(&url.replace(":30303", "")),
            Err(EnodeError::Syntax(_))
        ));
        let not_on_curve = format!("enode://{}@127.0.0.1:1", "ff".repeat(64));
        assert!(matches!(
            parse_enode(&not_on_curve),
            Err(EnodeError::BadId(_))
        ));
    }
}
