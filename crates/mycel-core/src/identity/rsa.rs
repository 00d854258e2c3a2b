//! RSA: public keys as DER `SubjectPublicKeyInfo`, private keys as DER PKCS#1
//! `RSAPrivateKey`, RSASSA-PKCS1-v1_5 signatures over SHA-256. ring signs and verifies;
//! the `rsa` crate only generates keys.

use bytes::Bytes;
use der::{
    Decode, Encode, Reader,
    asn1::{AnyRef, BitStringRef, UintRef},
};
use ring::signature as ring_sig;
use zeroize::Zeroizing;

use super::{KeyError, KeyType, MAX_RSA_BITS, MIN_RSA_BITS};

/// The object identifier of `rsaEncryption` (PKCS#1).
const RSA_ENCRYPTION: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// An RSA key pair: ring's signing key, the PKCS#1 encoding it came from, and the public
/// key.
pub(super) struct Keypair {
    signing: ring_sig::RsaKeyPair,
    pkcs1: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl Keypair {
    pub(super) fn generate(bits: usize) -> Result<Self, KeyError> {
        use ::rsa::pkcs1::EncodeRsaPrivateKey;
        let key = ::rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        Self::from_pkcs1(der.as_bytes())
    }

    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let info =
            pkcs8::PrivateKeyInfo::try_from(der).map_err(|_| KeyError::InvalidKey(KeyType::Rsa))?;
        if info.algorithm.oid != RSA_ENCRYPTION {
            return Err(KeyError::InvalidKey(KeyType::Rsa));
        }
        Self::from_pkcs1(info.private_key)
    }

    pub(super) fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        // The modulus comes first: check its size before ring does any work on the key.
        let bits = der::SliceReader::new(der)
            .and_then(|mut r| {
                r.sequence(|r| {
                    let _version = UintRef::decode(r)?;
                    let modulus = UintRef::decode(r)?;
                    // The rest (exponents, primes) is ring's to check.
                    r.read_slice(r.remaining_len())?;
                    Ok(bit_length(modulus.as_bytes()))
                })
            })
            .map_err(|_| KeyError::InvalidKey(KeyType::Rsa))?;
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError::RsaKeySize(bits));
        }
        let signing =
            ring_sig::RsaKeyPair::from_der(der).map_err(|_| KeyError::InvalidKey(KeyType::Rsa))?;
        let public = PublicKey::from_pkcs1(signing.public().as_ref())?;
        Ok(Keypair {
            signing,
            pkcs1: Zeroizing::new(der.to_vec()),
            public,
        })
    }

    pub(super) fn private_data(&self) -> Vec<u8> {
        self.pkcs1.to_vec()
    }

    pub(super) fn public(&self) -> &PublicKey {
        &self.public
    }

    pub(super) fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; self.signing.public().modulus_len()];
        self.signing
            .sign(
                &ring_sig::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                msg,
                &mut sig,
            )
            .expect("the buffer is exactly the modulus long");
        sig
    }
}

/// Bits of a big-endian unsigned integer without its leading zeros.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

/// An RSA public key: the `SubjectPublicKeyInfo` it travels as, and where the PKCS#1
/// `RSAPublicKey` inside it starts.
#[derive(Clone)]
pub(super) struct PublicKey {
    spki: Bytes,
    pkcs1_at: usize,
}

impl PublicKey {
    pub(super) fn decode(spki_der: Bytes) -> Result<Self, KeyError> {
        let info = spki::SubjectPublicKeyInfoRef::try_from(&spki_der[..])
            .map_err(|_| KeyError::InvalidKey(KeyType::Rsa))?;
        if info.algorithm.oid != RSA_ENCRYPTION {
            return Err(KeyError::InvalidKey(KeyType::Rsa));
        }
        let pkcs1 = info
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::InvalidKey(KeyType::Rsa))?;
        let bits = modulus_bits(pkcs1)?;
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError::RsaKeySize(bits));
        }
        // The BIT STRING's contents end the encoding.
        let pkcs1_at = spki_der.len() - pkcs1.len();
        Ok(PublicKey {
            spki: spki_der,
            pkcs1_at,
        })
    }

    fn from_pkcs1(pkcs1: &[u8]) -> Result<Self, KeyError> {
        let info = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            subject_public_key: BitStringRef::from_bytes(pkcs1)
                .map_err(|_| KeyError::InvalidKey(KeyType::Rsa))?,
        };
        let der = info
            .to_der()
            .map_err(|_| KeyError::InvalidKey(KeyType::Rsa))?;
        Self::decode(der.into())
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.spki
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        ring_sig::UnparsedPublicKey::new(
            &ring_sig::RSA_PKCS1_2048_8192_SHA256,
            &self.spki[self.pkcs1_at..],
        )
        .verify(msg, sig)
        .map_err(|_| KeyError::InvalidSignature)
    }
}

/// The size of the modulus of a PKCS#1 `RSAPublicKey`.
fn modulus_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    der::SliceReader::new(pkcs1)
        .and_then(|mut r| {
            let bits = r.sequence(|r| {
                let modulus = UintRef::decode(r)?;
                let _exponent = UintRef::decode(r)?;
                Ok(bit_length(modulus.as_bytes()))
            })?;
            r.finish(bits)
        })
        .map_err(|_| KeyError::InvalidKey(KeyType::Rsa))
}
