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
mod stream;

pub use crate::{
    frame::{FrameCodec, FrameDecoder, FrameEncoder, FrameError},
    handshake::{Ack, Auth, HandshakeError, Initiator, Recipient, Role, Secrets},
    mac::MacState,
    peer::{
        CapabilityStream, Closed, DISCONNECT_GRACE, HELLO_TIMEOUT, Peer, PeerConfig, PeerError,
    },
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
