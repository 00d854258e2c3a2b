//! Ed25519 (ed25519-dalek): 32-byte public keys, 64-byte signatures.

use ed25519_dalek::{Signer, Verifier};

use super::{KeyError, KeyType};

/// An ed25519 key pair.
#[derive(Clone)]
pub(super) struct Keypair(ed25519_dalek::SigningKey);

impl Keypair {
    pub(super) fn generate() -> Self {
        Keypair(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub(super) fn from_seed(seed: [u8; 32]) -> Self {
        Keypair(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub(super) fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The spec's `Data`: `secret || public` (64 bytes), or the legacy 96-byte form that
    /// repeats the public key.
    pub(super) fn from_private_data(data: &[u8]) -> Result<Self, KeyError> {
        let (secret, public) = match data.len() {
            64 => (&data[..32], &data[32..]),
            96 if data[32..64] == data[64..] => (&data[..32], &data[32..64]),
            96 => return Err(KeyError::MismatchedPublicKey),
            len => {
                return Err(KeyError::InvalidLength {
                    key_type: KeyType::Ed25519,
                    len,
                });
            }
        };
        let keypair = Keypair::from_seed(secret.try_into().expect("32 bytes"));
        if keypair.0.verifying_key().as_bytes() != public {
            return Err(KeyError::MismatchedPublicKey);
        }
        Ok(keypair)
    }

    pub(super) fn private_data(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&self.0.to_bytes());
        data.extend_from_slice(self.0.verifying_key().as_bytes());
        data
    }

    pub(super) fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub(super) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).to_bytes().to_vec()
    }
}

/// An ed25519 public key.
#[derive(Clone)]
pub(super) struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidLength {
            key_type: KeyType::Ed25519,
            len: bytes.len(),
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::InvalidKey(KeyType::Ed25519))
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let sig =
            ed25519_dalek::Signature::from_slice(sig).map_err(|_| KeyError::InvalidSignature)?;
        self.0
            .verify(msg, &sig)
            .map_err(|_| KeyError::InvalidSignature)
    }
}
