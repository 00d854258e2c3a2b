//! Keys: the [`Keypair`] a node signs with, and the [`PublicKey`] of any peer.
//!
//! Keys cross the wire in the protobuf encoding of the libp2p peer-ids spec
//! (`KeyType` + `Data`). All four key types of the spec sign and verify:
//!
//! | type | public `Data` | private `Data` | signature |
//! |---|---|---|---|
//! | Ed25519 | the 32-byte key | secret ‖ public (64 bytes; 96-byte legacy form read) | 64 bytes |
//! | Secp256k1 | the compressed point (33 bytes; 65 uncompressed read) | the 32-byte scalar | DER ECDSA over SHA-256 |
//! | ECDSA (P-256) | DER `SubjectPublicKeyInfo` | DER SEC1 `ECPrivateKey` | DER ECDSA over SHA-256 |
//! | RSA | DER `SubjectPublicKeyInfo` | DER PKCS#1 `RSAPrivateKey` | PKCS#1 v1.5 over SHA-256 |
//!
//! RSA keys of 2048 to 8192 bits are accepted; a larger encoding is refused before it is
//! parsed, and a modulus outside that range before any signature work. ECDSA keys on
//! curves other than P-256 decode (so the peer gets a [`PeerId`]) but cannot verify, as
//! in rust-libp2p.
//!
//! The crates underneath: ed25519-dalek, k256 and p256 (RustCrypto) for the curves,
//! ring for RSA signatures, and the `rsa` crate only to generate RSA keys.

mod ecdsa;
mod ed25519;
mod rsa;
mod secp256k1;

use std::{fmt, sync::Arc};

use bytes::Bytes;
use mycel_proto::{keys as pb, prost::Message};
use thiserror::Error;

use crate::PeerId;

/// Largest RSA public key (DER-encoded PKIX) accepted: about 8192 bits of modulus.
///
/// Larger keys only burn CPU on verification; the libp2p specs cap RSA at 8192 bits.
pub const MAX_RSA_PUBLIC_KEY_LEN: usize = 1100;

/// Fewest bits of RSA modulus accepted (as go-libp2p and ring).
pub const MIN_RSA_BITS: usize = 2048;

/// Most bits of RSA modulus accepted (the peer-ids spec's cap).
pub const MAX_RSA_BITS: usize = 8192;

/// Largest ECDSA public key (DER-encoded) accepted; P-521 keys take 158 bytes.
pub const MAX_ECDSA_PUBLIC_KEY_LEN: usize = 256;

/// Largest protobuf-encoded public key accepted by [`PublicKey::decode_protobuf`].
pub const MAX_PUBLIC_KEY_PROTOBUF_LEN: usize = MAX_RSA_PUBLIC_KEY_LEN + 16;

/// Largest protobuf-encoded private key accepted by [`Keypair::from_protobuf_encoding`]:
/// room for an 8192-bit RSA key in PKCS#1 (about 4.7 KB).
pub const MAX_PRIVATE_KEY_PROTOBUF_LEN: usize = 6 * 1024;

/// Largest signature any key type makes or accepts: an 8192-bit RSA signature.
pub const MAX_SIGNATURE_LEN: usize = MAX_RSA_BITS / 8;

/// What went wrong with a key or a signature.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a valid key protobuf.
    #[error("malformed key protobuf: {0}")]
    Malformed(String),
    /// The encoding is longer than this key type allows.
    #[error("encoded key is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// The `Type` field names no key type of the spec.
    #[error("unknown key type {0}")]
    UnknownKeyType(i32),
    /// The key data has a length this key type never has.
    #[error("{key_type:?} key data has invalid length {len}")]
    InvalidLength {
        /// The key type of the protobuf.
        key_type: KeyType,
        /// Length of the `Data` field.
        len: usize,
    },
    /// The key data is not a valid key of its type.
    #[error("invalid {0:?} key")]
    InvalidKey(KeyType),
    /// An RSA modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    #[error("RSA key of {0} bits; 2048 to 8192 are accepted")]
    RsaKeySize(usize),
    /// The legacy 96-byte ed25519 private key repeats a different public key.
    #[error("ed25519 private key carries two different public keys")]
    MismatchedPublicKey,
    /// mycel cannot sign or verify with this key (an ECDSA curve other than P-256).
    #[error("{0:?} keys of this kind are not supported for signatures")]
    UnsupportedKeyType(KeyType),
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generation(String),
}

/// The key types of the peer-ids spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA, public key as DER-encoded PKIX.
    Rsa,
    /// Ed25519, the 32-byte public key.
    Ed25519,
    /// Secp256k1, the compressed (33-byte) or uncompressed (65-byte) point.
    Secp256k1,
    /// ECDSA, public key as DER-encoded ASN.1.
    Ecdsa,
}

impl KeyType {
    /// Every key type, in the spec's order.
    pub const ALL: [KeyType; 4] = [
        KeyType::Rsa,
        KeyType::Ed25519,
        KeyType::Secp256k1,
        KeyType::Ecdsa,
    ];

    /// The lower-case name (`rsa`, `ed25519`, `secp256k1`, `ecdsa`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
            KeyType::Secp256k1 => "secp256k1",
            KeyType::Ecdsa => "ecdsa",
        }
    }

    fn from_proto(value: i32) -> Result<Self, KeyError> {
        match pb::KeyType::try_from(value) {
            Ok(pb::KeyType::Rsa) => Ok(KeyType::Rsa),
            Ok(pb::KeyType::Ed25519) => Ok(KeyType::Ed25519),
            Ok(pb::KeyType::Secp256k1) => Ok(KeyType::Secp256k1),
            Ok(pb::KeyType::Ecdsa) => Ok(KeyType::Ecdsa),
            Err(_) => Err(KeyError::UnknownKeyType(value)),
        }
    }

    fn to_proto(self) -> pb::KeyType {
        match self {
            KeyType::Rsa => pb::KeyType::Rsa,
            KeyType::Ed25519 => pb::KeyType::Ed25519,
            KeyType::Secp256k1 => pb::KeyType::Secp256k1,
            KeyType::Ecdsa => pb::KeyType::Ecdsa,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KeyType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        KeyType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown key type {s:?} (ed25519, secp256k1, ecdsa or rsa)"))
    }
}

/// A node's identity: a key pair of any spec'd type. Cheap to clone.
#[derive(Clone)]
pub struct Keypair(KeypairRepr);

#[derive(Clone)]
enum KeypairRepr {
    Ed25519(ed25519::Keypair),
    Secp256k1(secp256k1::Keypair),
    Ecdsa(ecdsa::Keypair),
    Rsa(Arc<rsa::Keypair>),
}

impl Keypair {
    /// A fresh ed25519 key pair from the operating system's random source.
    pub fn generate() -> Self {
        Self::generate_ed25519()
    }

    /// A fresh ed25519 key pair.
    pub fn generate_ed25519() -> Self {
        Keypair(KeypairRepr::Ed25519(ed25519::Keypair::generate()))
    }

    /// A fresh secp256k1 key pair.
    pub fn generate_secp256k1() -> Self {
        Keypair(KeypairRepr::Secp256k1(secp256k1::Keypair::generate()))
    }

    /// A fresh ECDSA key pair on P-256.
    pub fn generate_ecdsa() -> Self {
        Keypair(KeypairRepr::Ecdsa(ecdsa::Keypair::generate()))
    }

    /// A fresh 2048-bit RSA key pair. Slow (tens to hundreds of milliseconds in an
    /// optimised build); prefer another key type unless RSA is required.
    pub fn generate_rsa() -> Result<Self, KeyError> {
        Ok(Keypair(KeypairRepr::Rsa(Arc::new(rsa::Keypair::generate(
            MIN_RSA_BITS,
        )?))))
    }

    /// A fresh key pair of `key_type` (RSA: 2048 bits).
    pub fn generate_of(key_type: KeyType) -> Result<Self, KeyError> {
        Ok(match key_type {
            KeyType::Ed25519 => Self::generate_ed25519(),
            KeyType::Secp256k1 => Self::generate_secp256k1(),
            KeyType::Ecdsa => Self::generate_ecdsa(),
            KeyType::Rsa => Self::generate_rsa()?,
        })
    }

    /// The ed25519 key pair whose 32-byte secret (seed) is `secret`.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Keypair(KeypairRepr::Ed25519(ed25519::Keypair::from_seed(secret)))
    }

    /// The secp256k1 key pair whose 32-byte secret scalar is `secret`.
    pub fn secp256k1_from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        secp256k1::Keypair::from_secret(secret).map(|k| Keypair(KeypairRepr::Secp256k1(k)))
    }

    /// An RSA key pair from a DER-encoded PKCS#8 `PrivateKeyInfo` (what
    /// `openssl genpkey -algorithm RSA -outform DER` writes).
    pub fn rsa_from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        rsa::Keypair::from_pkcs8(der).map(|k| Keypair(KeypairRepr::Rsa(Arc::new(k))))
    }

    /// The 32-byte ed25519 secret, for an ed25519 key pair. Keep it secret.
    pub fn secret_bytes(&self) -> Option<[u8; 32]> {
        match &self.0 {
            KeypairRepr::Ed25519(k) => Some(k.seed()),
            _ => None,
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match &self.0 {
            KeypairRepr::Ed25519(_) => KeyType::Ed25519,
            KeypairRepr::Secp256k1(_) => KeyType::Secp256k1,
            KeypairRepr::Ecdsa(_) => KeyType::Ecdsa,
            KeypairRepr::Rsa(_) => KeyType::Rsa,
        }
    }

    /// Decodes a `PrivateKey` protobuf (the spec's on-disk format) of any key type.
    pub fn from_protobuf_encoding(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_PRIVATE_KEY_PROTOBUF_LEN {
            return Err(KeyError::TooLarge {
                len: bytes.len(),
                max: MAX_PRIVATE_KEY_PROTOBUF_LEN,
            });
        }
        let msg = pb::PrivateKey::decode(bytes).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let data = &msg.data[..];
        Ok(Keypair(match KeyType::from_proto(msg.r#type)? {
            KeyType::Ed25519 => KeypairRepr::Ed25519(ed25519::Keypair::from_private_data(data)?),
            KeyType::Secp256k1 => KeypairRepr::Secp256k1(secp256k1::Keypair::from_secret(data)?),
            KeyType::Ecdsa => KeypairRepr::Ecdsa(ecdsa::Keypair::from_sec1_der(data)?),
            KeyType::Rsa => KeypairRepr::Rsa(Arc::new(rsa::Keypair::from_pkcs1(data)?)),
        }))
    }

    /// Encodes the key pair as a `PrivateKey` protobuf.
    pub fn to_protobuf_encoding(&self) -> Vec<u8> {
        let data = match &self.0 {
            KeypairRepr::Ed25519(k) => k.private_data(),
            KeypairRepr::Secp256k1(k) => k.private_data(),
            KeypairRepr::Ecdsa(k) => k.private_data(),
            KeypairRepr::Rsa(k) => k.private_data(),
        };
        pb::PrivateKey {
            r#type: self.key_type().to_proto() as i32,
            data: Bytes::copy_from_slice(&data),
        }
        .encode_to_vec()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        match &self.0 {
            KeypairRepr::Ed25519(k) => PublicKey(PublicRepr::Ed25519(k.public())),
            KeypairRepr::Secp256k1(k) => PublicKey(PublicRepr::Secp256k1(k.public())),
            KeypairRepr::Ecdsa(k) => PublicKey(PublicRepr::Ecdsa(k.public())),
            KeypairRepr::Rsa(k) => PublicKey(PublicRepr::Rsa(k.public().clone())),
        }
    }

    /// The [`PeerId`] of this key pair.
    pub fn peer_id(&self) -> PeerId {
        self.public().to_peer_id()
    }

    /// Signs `msg` as the peer-ids spec says for the key type.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.0 {
            KeypairRepr::Ed25519(k) => k.sign(msg),
            KeypairRepr::Secp256k1(k) => k.sign(msg),
            KeypairRepr::Ecdsa(k) => k.sign(msg),
            KeypairRepr::Rsa(k) => k.sign(msg),
        }
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("key_type", &self.key_type())
            .field("peer_id", &self.peer_id())
            .finish_non_exhaustive()
    }
}

/// The public key of a peer, of any type the spec defines.
#[derive(Clone)]
pub struct PublicKey(PublicRepr);

#[derive(Clone)]
enum PublicRepr {
    Ed25519(ed25519::PublicKey),
    Secp256k1(secp256k1::PublicKey),
    Ecdsa(ecdsa::PublicKey),
    Rsa(rsa::PublicKey),
}

impl PublicKey {
    /// An ed25519 public key from its 32 bytes.
    pub fn from_ed25519_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        ed25519::PublicKey::from_bytes(bytes).map(|k| PublicKey(PublicRepr::Ed25519(k)))
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match &self.0 {
            PublicRepr::Ed25519(_) => KeyType::Ed25519,
            PublicRepr::Secp256k1(_) => KeyType::Secp256k1,
            PublicRepr::Ecdsa(_) => KeyType::Ecdsa,
            PublicRepr::Rsa(_) => KeyType::Rsa,
        }
    }

    /// The key's `Data` bytes, as the spec encodes them for its type (for a key that
    /// came off the wire, exactly the bytes received).
    pub fn key_data(&self) -> &[u8] {
        match &self.0 {
            PublicRepr::Ed25519(k) => k.as_bytes(),
            PublicRepr::Secp256k1(k) => k.as_bytes(),
            PublicRepr::Ecdsa(k) => k.as_bytes(),
            PublicRepr::Rsa(k) => k.as_bytes(),
        }
    }

    /// Checks `sig` over `msg` as the peer-ids spec says for the key type.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        if sig.len() > MAX_SIGNATURE_LEN {
            return Err(KeyError::InvalidSignature);
        }
        match &self.0 {
            PublicRepr::Ed25519(k) => k.verify(msg, sig),
            PublicRepr::Secp256k1(k) => k.verify(msg, sig),
            PublicRepr::Ecdsa(k) => k.verify(msg, sig),
            PublicRepr::Rsa(k) => k.verify(msg, sig),
        }
    }

    /// The spec's deterministic protobuf encoding (`Type`, then `Data`, both present).
    pub fn encode_protobuf(&self) -> Vec<u8> {
        pb::PublicKey {
            r#type: self.key_type().to_proto() as i32,
            data: Bytes::copy_from_slice(self.key_data()),
        }
        .encode_to_vec()
    }

    /// Decodes a `PublicKey` protobuf of any spec'd key type, checking the size of its
    /// data before parsing it.
    pub fn decode_protobuf(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_PUBLIC_KEY_PROTOBUF_LEN {
            return Err(KeyError::TooLarge {
                len: bytes.len(),
                max: MAX_PUBLIC_KEY_PROTOBUF_LEN,
            });
        }
        let msg = pb::PublicKey::decode(bytes).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let key_type = KeyType::from_proto(msg.r#type)?;
        let len = msg.data.len();
        let max = match key_type {
            KeyType::Ed25519 => 32,
            KeyType::Secp256k1 => 65,
            KeyType::Ecdsa => MAX_ECDSA_PUBLIC_KEY_LEN,
            KeyType::Rsa => MAX_RSA_PUBLIC_KEY_LEN,
        };
        if len == 0 || len > max {
            return Err(KeyError::InvalidLength { key_type, len });
        }
        Ok(PublicKey(match key_type {
            KeyType::Ed25519 => PublicRepr::Ed25519(ed25519::PublicKey::from_bytes(&msg.data)?),
            KeyType::Secp256k1 => PublicRepr::Secp256k1(secp256k1::PublicKey::decode(msg.data)?),
            KeyType::Ecdsa => PublicRepr::Ecdsa(ecdsa::PublicKey::decode(msg.data)?),
            KeyType::Rsa => PublicRepr::Rsa(rsa::PublicKey::decode(msg.data)?),
        }))
    }

    /// The [`PeerId`] of this key.
    pub fn to_peer_id(&self) -> PeerId {
        PeerId::from_public_key(self)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_type() == other.key_type() && self.key_data() == other.key_data()
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?}, {})", self.key_type(), self.to_peer_id())
    }
}
