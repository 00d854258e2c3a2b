//! ECDSA (p256): public keys as DER `SubjectPublicKeyInfo`, private keys as DER SEC1
//! `ECPrivateKey`, DER signatures over SHA-256. Only P-256 signs and verifies; keys on
//! other curves decode so that their peer gets a PeerId.

use bytes::Bytes;
use p256::elliptic_curve::pkcs8::AssociatedOid;
use p256::{
    ecdsa::{
        Signature, SigningKey, VerifyingKey,
        signature::{Signer, Verifier},
    },
    pkcs8::{DecodePublicKey, EncodePublicKey},
};

use super::{KeyError, KeyType};

/// The object identifier of `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// An ECDSA P-256 key pair.
#[derive(Clone)]
pub(super) struct Keypair(SigningKey);

impl Keypair {
    pub(super) fn generate() -> Self {
        Keypair(SigningKey::random(&mut rand::rngs::OsRng))
    }

    pub(super) fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let secret = p256::SecretKey::from_sec1_der(der)
            .map_err(|_| KeyError::InvalidKey(KeyType::Ecdsa))?;
        Ok(Keypair(SigningKey::from(secret)))
    }

    /// SEC1 `ECPrivateKey` with the curve's name and the public point, as go-libp2p
    /// (`x509.MarshalECPrivateKey`) writes it.
    pub(super) fn private_data(&self) -> Vec<u8> {
        use der::Encode;
        let scalar = self.0.to_bytes();
        let point = self.0.verifying_key().to_encoded_point(false);
        sec1::EcPrivateKey {
            private_key: &scalar,
            parameters: Some(sec1::EcParameters::NamedCurve(p256::NistP256::OID)),
            public_key: Some(point.as_bytes()),
        }
        .to_der()
        .expect("a P-256 key encodes")
    }

    pub(super) fn public(&self) -> PublicKey {
        let key = *self.0.verifying_key();
        let der = p256::PublicKey::from(&key)
            .to_public_key_der()
            .expect("a P-256 point encodes as SubjectPublicKeyInfo");
        PublicKey {
            key: Some(key),
            data: Bytes::copy_from_slice(der.as_bytes()),
        }
    }

    pub(super) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: Signature = self.0.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }
}

/// An ECDSA public key with the bytes it was received as; `key` is `None` for a curve
/// other than P-256.
#[derive(Clone)]
pub(super) struct PublicKey {
    key: Option<VerifyingKey>,
    data: Bytes,
}

impl PublicKey {
    pub(super) fn decode(data: Bytes) -> Result<Self, KeyError> {
        let info = spki::SubjectPublicKeyInfoRef::try_from(&data[..])
            .map_err(|_| KeyError::InvalidKey(KeyType::Ecdsa))?;
        if info.algorithm.oid != EC_PUBLIC_KEY {
            return Err(KeyError::InvalidKey(KeyType::Ecdsa));
        }
        let p256 = info
            .algorithm
            .parameters_oid()
            .is_ok_and(|curve| curve == p256::NistP256::OID);
        let key = if p256 {
            let key = p256::PublicKey::from_public_key_der(&data)
                .map_err(|_| KeyError::InvalidKey(KeyType::Ecdsa))?;
            Some(VerifyingKey::from(key))
        } else {
            None
        };
        Ok(PublicKey { key, data })
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let key = self
            .key
            .ok_or(KeyError::UnsupportedKeyType(KeyType::Ecdsa))?;
        let sig = Signature::from_der(sig).map_err(|_| KeyError::InvalidSignature)?;
        key.verify(msg, &sig)
            .map_err(|_| KeyError::InvalidSignature)
    }
}
