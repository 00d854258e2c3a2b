//! [`PeerId`]: the multihash of a peer's encoded public key, per the peer-ids spec.

use std::{fmt, str::FromStr};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::identity::PublicKey;

/// Encoded public keys up to this length are inlined (identity multihash); longer ones
/// are hashed with sha2-256.
pub const MAX_INLINE_KEY_LEN: usize = 42;

/// Longest binary PeerId: an identity multihash of a 42-byte key (code, length, key).
pub const MAX_PEER_ID_LEN: usize = 2 + MAX_INLINE_KEY_LEN;

/// Longest text form accepted by [`PeerId::from_str`]; real ones take at most 64
/// characters (base32 CIDv1 of an inlined key), so anything longer is rejected before
/// decoding.
pub const MAX_PEER_ID_TEXT_LEN: usize = 128;

const IDENTITY_CODE: u8 = 0x00;
const SHA2_256_CODE: u8 = 0x12;
const SHA2_256_LEN: u8 = 32;
/// Multicodec of a CIDv1 that carries a PeerId.
const LIBP2P_KEY_CODEC: u8 = 0x72;
const CID_V1: u8 = 0x01;

/// Why bytes or text are not a PeerId.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerIdError {
    /// The bytes are not an identity (at most 42 bytes) or sha2-256 multihash.
    #[error("not an identity or sha2-256 multihash")]
    InvalidMultihash,
    /// The text is neither base58btc nor a multibase CIDv1.
    #[error("invalid peer id encoding: {0}")]
    InvalidEncoding(String),
    /// The CID is not version 1 with the `libp2p-key` codec.
    #[error("CID is not a v1 libp2p-key CID")]
    InvalidCid,
    /// The text is longer than any PeerId.
    #[error("peer id text is {0} characters, more than {MAX_PEER_ID_TEXT_LEN}")]
    TooLong(usize),
}

/// The identity of a peer: a multihash of its protobuf-encoded public key.
///
/// Stored inline (no allocation), so it is `Copy` and cheap to hash and compare. The text
/// form is base58btc (`12D3Koo…` for ed25519 keys); parsing also takes the CIDv1 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    len: u8,
    bytes: [u8; MAX_PEER_ID_LEN],
}

impl PeerId {
    /// The PeerId of a public key: identity multihash of its encoding when that is at
    /// most 42 bytes, sha2-256 otherwise.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let encoded = key.encode_protobuf();
        let mut bytes = [0u8; MAX_PEER_ID_LEN];
        if encoded.len() <= MAX_INLINE_KEY_LEN {
            bytes[0] = IDENTITY_CODE;
            bytes[1] = encoded.len() as u8;
            bytes[2..2 + encoded.len()].copy_from_slice(&encoded);
            PeerId {
                len: (2 + encoded.len()) as u8,
                bytes,
            }
        } else {
            bytes[0] = SHA2_256_CODE;
            bytes[1] = SHA2_256_LEN;
            bytes[2..34].copy_from_slice(&Sha256::digest(&encoded));
            PeerId { len: 34, bytes }
        }
    }

    /// Parses the binary form (a multihash).
    pub fn from_bytes(data: &[u8]) -> Result<Self, PeerIdError> {
        let valid = match data {
            [IDENTITY_CODE, len, rest @ ..] => {
                usize::from(*len) <= MAX_INLINE_KEY_LEN && usize::from(*len) == rest.len()
            }
            [SHA2_256_CODE, SHA2_256_LEN, rest @ ..] => rest.len() == usize::from(SHA2_256_LEN),
            _ => false,
        };
        if !valid {
            return Err(PeerIdError::InvalidMultihash);
        }
        let mut bytes = [0u8; MAX_PEER_ID_LEN];
        bytes[..data.len()].copy_from_slice(data);
        Ok(PeerId {
            len: data.len() as u8,
            bytes,
        })
    }

    /// A PeerId of a freshly generated ed25519 key (for tests and simulations).
    pub fn random() -> Self {
        crate::Keypair::generate().peer_id()
    }

    /// The binary form: the multihash bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The binary form as an owned vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// The legacy (and default) text form: base58btc of the multihash.
    pub fn to_base58(&self) -> String {
        bs58::encode(self.as_bytes()).into_string()
    }

    /// The CIDv1 text form (`libp2p-key` codec, base32 multibase): `bafz…`.
    pub fn to_cid_string(&self) -> String {
        let mut cid = Vec::with_capacity(2 + usize::from(self.len));
        cid.extend_from_slice(&[CID_V1, LIBP2P_KEY_CODEC]);
        cid.extend_from_slice(self.as_bytes());
        multibase::encode(multibase::Base::Base32Lower, cid)
    }

    /// The public key inlined in an identity-hashed PeerId, if it is one (ed25519 and
    /// secp256k1 keys are). A sha2-256 PeerId gives `None`: the key must come from the peer.
    pub fn public_key(&self) -> Option<PublicKey> {
        match self.as_bytes() {
            [IDENTITY_CODE, _, key @ ..] => PublicKey::decode_protobuf(key).ok(),
            _ => None,
        }
    }

    /// Whether `key` is the key this PeerId was derived from.
    pub fn is_public_key(&self, key: &PublicKey) -> bool {
        PeerId::from_public_key(key) == *self
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.to_base58())
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    /// Parses either text form: bare base58btc (`1…`, `Qm…`) or a multibase CIDv1.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_PEER_ID_TEXT_LEN {
            return Err(PeerIdError::TooLong(s.len()));
        }
        if s.starts_with('1') || s.starts_with("Qm") {
            let bytes = bs58::decode(s)
                .into_vec()
                .map_err(|e| PeerIdError::InvalidEncoding(e.to_string()))?;
            return PeerId::from_bytes(&bytes);
        }
        let (_, cid) =
            multibase::decode(s).map_err(|e| PeerIdError::InvalidEncoding(e.to_string()))?;
        match cid.as_slice() {
            [CID_V1, LIBP2P_KEY_CODEC, multihash @ ..] => PeerId::from_bytes(multihash),
            _ => Err(PeerIdError::InvalidCid),
        }
    }
}

impl TryFrom<&[u8]> for PeerId {
    type Error = PeerIdError;

    fn try_from(value: &[u8]) -> Result<Self, Self::Error> {
        PeerId::from_bytes(value)
    }
}
