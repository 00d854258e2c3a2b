//! Secp256k1 (k256): compressed 33-byte public keys (65-byte uncompressed ones are read),
//! a 32-byte secret scalar, DER ECDSA signatures over SHA-256 (the Bitcoin encoding; not
//! devp2p's 65-byte recoverable signatures over keccak256).

use bytes::Bytes;
use k256::ecdsa::{
    Signature, SigningKey, VerifyingKey,
    signature::{Signer, Verifier},
};

use super::{KeyError, KeyType};

/// A secp256k1 key pair.
#[derive(Clone)]
pub(super) struct Keypair(SigningKey);

impl Keypair {
    pub(super) fn generate() -> Self {
        Keypair(SigningKey::random(&mut rand::rngs::OsRng))
    }

    pub(super) fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() != 32 {
            return Err(KeyError::InvalidLength {
                key_type: KeyType::Secp256k1,
                len: secret.len(),
            });
        }
        SigningKey::from_slice(secret)
            .map(Keypair)
            .map_err(|_| KeyError::InvalidKey(KeyType::Secp256k1))
    }

    pub(super) fn private_data(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    pub(super) fn public(&self) -> PublicKey {
        let key = *self.0.verifying_key();
        let data = Bytes::copy_from_slice(key.to_encoded_point(true).as_bytes());
        PublicKey { key, data }
    }

    pub(super) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        // RFC 6979 nonces; k256 signs with a low S.
        let sig: Signature = self.0.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }
}

/// A secp256k1 public key, with the bytes it was received as.
#[derive(Clone)]
pub(super) struct PublicKey {
    key: VerifyingKey,
    data: Bytes,
}

impl PublicKey {
    pub(super) fn decode(data: Bytes) -> Result<Self, KeyError> {
        if data.len() != 33 && data.len() != 65 {
            return Err(KeyError::InvalidLength {
                key_type: KeyType::Secp256k1,
                len: data.len(),
            });
        }
        let key = VerifyingKey::from_sec1_bytes(&data)
            .map_err(|_| KeyError::InvalidKey(KeyType::Secp256k1))?;
        Ok(PublicKey { key, data })
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let sig = Signature::from_der(sig).map_err(|_| KeyError::InvalidSignature)?;
        // k256 accepts only low-S signatures; go-libp2p's btcec accepts both, so a high S
        // (the same signature, mirrored) is normalised rather than refused.
        let sig = sig.normalize_s().unwrap_or(sig);
        self.key
            .verify(msg, &sig)
            .map_err(|_| KeyError::InvalidSignature)
    }
}
