//! ECIES as RLPx uses it (devp2p `rlpx.md`, "ECIES Encryption"): secp256k1 ECDH with a
//! fresh key, the NIST SP 800-56 concatenation KDF over SHA-256, AES-128-CTR, and an
//! HMAC-SHA256 tag (keyed with `sha256(k_M)`) over `iv || c || auth_data`.
//!
//! A message is `R || iv || c || d`: the sender's one-time public key (65 bytes,
//! uncompressed), a random 16-byte IV, the ciphertext and the 32-byte tag. The tag is
//! checked before anything is decrypted.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use k256::{PublicKey, SecretKey, ecdh::diffie_hellman, elliptic_curve::sec1::ToEncodedPoint};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Uncompressed secp256k1 public key: `0x04 || x || y`.
pub(crate) const PUBLIC_KEY_LEN: usize = 65;
const IV_LEN: usize = 16;
const TAG_LEN: usize = 32;
/// What ECIES adds to a message.
pub const OVERHEAD: usize = PUBLIC_KEY_LEN + IV_LEN + TAG_LEN;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Why an ECIES message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EciesError {
    /// Shorter than the key, IV and tag alone.
    #[error("ECIES message of {0} bytes is shorter than its overhead")]
    TooShort(usize),
    /// The sender's key is not an uncompressed point on secp256k1.
    #[error("ECIES message carries an invalid public key")]
    InvalidKey,
    /// The tag does not match: wrong recipient, or the bytes were changed.
    #[error("ECIES tag mismatch")]
    BadTag,
}

/// Encrypts `plain` for `remote`, binding `auth_data` into the tag (not sent).
pub fn encrypt<R: RngCore + CryptoRng>(
    remote: &PublicKey,
    plain: &[u8],
    auth_data: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let ephemeral = SecretKey::random(rng);
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let shared = diffie_hellman(ephemeral.to_nonzero_scalar(), remote.as_affine());
    let (enc_key, mac_key) = derive_keys(shared.raw_secret_bytes());

    let mut out = Vec::with_capacity(OVERHEAD + plain.len());
    out.extend_from_slice(ephemeral.public_key().to_encoded_point(false).as_bytes());
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plain);
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut out[start..]);
    let tag = tag(&mac_key, &iv, &out[start..], auth_data);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts a message sent to `secret`, after checking its tag over `auth_data`.
pub fn decrypt(secret: &SecretKey, msg: &[u8], auth_data: &[u8]) -> Result<Vec<u8>, EciesError> {
    if msg.len() < OVERHEAD {
        return Err(EciesError::TooShort(msg.len()));
    }
    let (key, rest) = msg.split_at(PUBLIC_KEY_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (cipher, their_tag) = rest.split_at(rest.len() - TAG_LEN);
    if key[0] != 0x04 {
        return Err(EciesError::InvalidKey);
    }
    let sender = PublicKey::from_sec1_bytes(key).map_err(|_| EciesError::InvalidKey)?;
    let shared = diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());
    let (enc_key, mac_key) = derive_keys(shared.raw_secret_bytes());

    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).expect("any key length");
    mac.update(iv);
    mac.update(cipher);
    mac.update(auth_data);
    mac.verify_slice(their_tag)
        .map_err(|_| EciesError::BadTag)?;

    let mut plain = cipher.to_vec();
    let iv: [u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut plain);
    Ok(plain)
}

/// `k_E || k_M = KDF(S, 32)`; returns `k_E` and the MAC key `sha256(k_M)`.
fn derive_keys(shared: &[u8]) -> ([u8; 16], [u8; 32]) {
    let mut material = concat_kdf(shared);
    let mut enc_key = [0u8; 16];
    enc_key.copy_from_slice(&material[..16]);
    let mac_key: [u8; 32] = Sha256::digest(&material[16..]).into();
    material.zeroize();
    (enc_key, mac_key)
}

/// NIST SP 800-56 concatenation KDF with SHA-256 and no other info, 32 bytes: one
/// block, `sha256(counter = 1 (big-endian u32) || Z)`.
fn concat_kdf(shared: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(1u32.to_be_bytes());
    hash.update(shared);
    hash.finalize().into()
}

fn tag(mac_key: &[u8; 32], iv: &[u8], cipher: &[u8], auth_data: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).expect("any key length");
    mac.update(iv);
    mac.update(cipher);
    mac.update(auth_data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use rand::rngs::OsRng;

    use super::*;

    #[test]
    fn a_message_round_trips_and_any_change_is_refused() {
        let secret = SecretKey::random(&mut OsRng);
        let msg = encrypt(&secret.public_key(), b"hello rlpx", b"\x01\x02", &mut OsRng);
        assert_eq!(msg.len(), OVERHEAD + 10);
        assert_eq!(decrypt(&secret, &msg, b"\x01\x02").unwrap(), b"hello rlpx");

        // Other authenticated data, another recipient, any flipped byte: refused.
        assert_eq!(decrypt(&secret, &msg, b"\x01\x03"), Err(EciesError::BadTag));
        let other = SecretKey::random(&mut OsRng);
        assert_eq!(decrypt(&other, &msg, b"\x01\x02"), Err(EciesError::BadTag));
        for i in PUBLIC_KEY_LEN..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 1;
            assert_eq!(decrypt(&secret, &bad, b"\x01\x02"), Err(EciesError::BadTag));
        }
    }

    #[test]
    fn short_messages_and_bad_keys_are_typed_errors() {
        let secret = SecretKey::random(&mut OsRng);
        for len in [0, 1, OVERHEAD - 1] {
            assert_eq!(
                decrypt(&secret, &vec![4u8; len], &[]),
                Err(EciesError::TooShort(len))
            );
        }
        let mut msg = encrypt(&secret.public_key(), b"x", &[], &mut OsRng);
        msg[0] = 0x02; // a compressed-point prefix
        assert_eq!(decrypt(&secret, &msg, &[]), Err(EciesError::InvalidKey));
        msg[0] = 0x04;
        msg[1..65].fill(0xff); // not on the curve
        assert_eq!(decrypt(&secret, &msg, &[]), Err(EciesError::InvalidKey));
    }
}
