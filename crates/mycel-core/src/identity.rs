//! Keys: the ed25519 [`Keypair`] a node signs with, and the [`PublicKey`] of any peer.
//!
//! Keys cross the wire in the protobuf encoding of the libp2p peer-ids spec
//! (`KeyType` + `Data`). mycel signs with ed25519 only, but decodes public keys of all four
//! spec'd types (RSA, Ed25519, Secp256k1, ECDSA) so that any peer gets a [`PeerId`]; a
//! signature made with a key type mycel cannot verify yet is a [`KeyError::UnsupportedKeyType`].

use std::fmt;

use bytes::Bytes;
use ed25519_dalek::{Signer, Verifier};
use mycel_proto::{keys as pb, prost::Message};
use thiserror::Error;

use crate::PeerId;

/// Largest RSA public key (DER-encoded PKIX) accepted: about 8192 bits of modulus.
///
/// Larger keys only burn CPU on verification; the libp2p specs cap RSA at 8192 bits.
pub const MAX_RSA_PUBLIC_KEY_LEN: usize = 1100;

/// Largest ECDSA public key (DER-encoded) accepted; P-521 keys take 158 bytes.
pub const MAX_ECDSA_PUBLIC_KEY_LEN: usize = 256;

/// Largest protobuf-encoded public key accepted by [`PublicKey::decode_protobuf`].
pub const MAX_PUBLIC_KEY_PROTOBUF_LEN: usize = MAX_RSA_PUBLIC_KEY_LEN + 16;

/// Largest protobuf-encoded private key accepted by [`Keypair::from_protobuf_encoding`].
pub const MAX_PRIVATE_KEY_PROTOBUF_LEN: usize = 128;

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
    /// The legacy 96-byte ed25519 private key repeats a different public key.
    #[error("ed25519 private key carries two different public keys")]
    MismatchedPublicKey,
    /// mycel cannot sign or verify with this key type.
    #[error("{0:?} keys are not supported for signatures")]
    UnsupportedKeyType(KeyType),
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
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

/// An ed25519 key pair: a node's identity.
#[derive(Clone)]
pub struct Keypair {
    signing: ed25519_dalek::SigningKey,
}

impl Keypair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Self {
        Keypair {
            signing: ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The key pair whose 32-byte ed25519 secret (seed) is `secret`.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Keypair {
            signing: ed25519_dalek::SigningKey::from_bytes(&secret),
        }
    }

    /// The 32-byte ed25519 secret. Keep it secret.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// Decodes a `PrivateKey` protobuf (the spec's on-disk format). Ed25519 only; both the
    /// 64-byte `secret || public` layout and the legacy 96-byte one are accepted.
    pub fn from_protobuf_encoding(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() > MAX_PRIVATE_KEY_PROTOBUF_LEN {
            return Err(KeyError::TooLarge {
                len: bytes.len(),
                max: MAX_PRIVATE_KEY_PROTOBUF_LEN,
            });
        }
        let msg = pb::PrivateKey::decode(bytes).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let key_type = KeyType::from_proto(msg.r#type)?;
        if key_type != KeyType::Ed25519 {
            return Err(KeyError::UnsupportedKeyType(key_type));
        }
        let data = &msg.data[..];
        let (secret, public) = match data.len() {
            64 => (&data[..32], &data[32..]),
            96 if data[32..64] == data[64..] => (&data[..32], &data[32..64]),
            96 => return Err(KeyError::MismatchedPublicKey),
            len => return Err(KeyError::InvalidLength { key_type, len }),
        };
        let keypair = Keypair::from_secret_bytes(secret.try_into().expect("32 bytes"));
        if keypair.signing.verifying_key().as_bytes() != public {
            return Err(KeyError::MismatchedPublicKey);
        }
        Ok(keypair)
    }

    /// Encodes the key pair as a `PrivateKey` protobuf (64-byte `secret || public` data).
    pub fn to_protobuf_encoding(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&self.signing.to_bytes());
        data.extend_from_slice(self.signing.verifying_key().as_bytes());
        pb::PrivateKey {
            r#type: pb::KeyType::Ed25519 as i32,
            data: data.into(),
        }
        .encode_to_vec()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(Repr::Ed25519(self.signing.verifying_key()))
    }

    /// The [`PeerId`] of this key pair.
    pub fn peer_id(&self) -> PeerId {
        self.public().to_peer_id()
    }

    /// Signs `msg` (ed25519, 64-byte signature).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.signing.sign(msg).to_bytes().to_vec()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("peer_id", &self.peer_id())
            .finish_non_exhaustive()
    }
}

/// The public key of a peer, of any type the spec defines.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A key mycel can name (and derive a PeerId from) but not verify with.
    Opaque {
        key_type: KeyType,
        data: Bytes,
    },
}

impl PublicKey {
    /// An ed25519 public key from its 32 bytes.
    pub fn from_ed25519_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidLength {
            key_type: KeyType::Ed25519,
            len: bytes.len(),
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(|k| PublicKey(Repr::Ed25519(k)))
            .map_err(|_| KeyError::InvalidKey(KeyType::Ed25519))
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match &self.0 {
            Repr::Ed25519(_) => KeyType::Ed25519,
            Repr::Opaque { key_type, .. } => *key_type,
        }
    }

    /// The key's `Data` bytes, as the spec encodes them for its type.
    pub fn key_data(&self) -> &[u8] {
        match &self.0 {
            Repr::Ed25519(k) => k.as_bytes(),
            Repr::Opaque { data, .. } => data,
        }
    }

    /// Checks `sig` over `msg`. Only ed25519 keys can verify today; other types return
    /// [`KeyError::UnsupportedKeyType`].
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        match &self.0 {
            Repr::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| KeyError::InvalidSignature)?;
                key.verify(msg, &sig)
                    .map_err(|_| KeyError::InvalidSignature)
            }
            Repr::Opaque { key_type, .. } => Err(KeyError::UnsupportedKeyType(*key_type)),
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

    /// Decodes a `PublicKey` protobuf of any spec'd key type, checking the size of its data.
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
        let valid_len = match key_type {
            KeyType::Ed25519 => return PublicKey::from_ed25519_bytes(&msg.data),
            KeyType::Secp256k1 => len == 33 || len == 65,
            KeyType::Ecdsa => (1..=MAX_ECDSA_PUBLIC_KEY_LEN).contains(&len),
            KeyType::Rsa => (1..=MAX_RSA_PUBLIC_KEY_LEN).contains(&len),
        };
        if !valid_len {
            return Err(KeyError::InvalidLength { key_type, len });
        }
        Ok(PublicKey(Repr::Opaque {
            key_type,
            data: msg.data,
        }))
    }

    /// The [`PeerId`] of this key.
    pub fn to_peer_id(&self) -> PeerId {
        PeerId::from_public_key(self)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?}, {})", self.key_type(), self.to_peer_id())
    }
}
