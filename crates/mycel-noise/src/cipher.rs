//! The AEAD seam: ChaCha20-Poly1305 from one of two backends, chosen by cargo feature.
//!
//! - `ring` (default): ring's assembly implementation, the faster one.
//! - `rustcrypto`: the pure-Rust `chacha20poly1305` crate.
//!
//! With both features on, `ring` is used and both are available through [`Backend`]
//! (tests run every vector through each compiled backend). Noise's nonce for ChaChaPoly
//! is 32 zero bits followed by the 64-bit counter, little-endian.

#[cfg(not(any(feature = "ring", feature = "rustcrypto")))]
compile_error!("mycel-noise needs a ChaCha20-Poly1305 backend: enable `ring` or `rustcrypto`");

/// Length of the Poly1305 authentication tag.
pub const TAG_LEN: usize = 16;

/// A ChaCha20-Poly1305 implementation compiled into this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// ring's ChaCha20-Poly1305.
    #[cfg(feature = "ring")]
    Ring,
    /// The `chacha20poly1305` crate.
    #[cfg(feature = "rustcrypto")]
    RustCrypto,
}

impl Backend {
    /// The backend connections use: `Ring` when compiled in, else `RustCrypto`.
    #[cfg(feature = "ring")]
    pub const DEFAULT: Backend = Backend::Ring;
    /// The backend connections use: `Ring` when compiled in, else `RustCrypto`.
    #[cfg(not(feature = "ring"))]
    pub const DEFAULT: Backend = Backend::RustCrypto;

    /// Every backend compiled into this build.
    pub const ALL: &'static [Backend] = &[
        #[cfg(feature = "ring")]
        Backend::Ring,
        #[cfg(feature = "rustcrypto")]
        Backend::RustCrypto,
    ];
}

/// The decryption failed: wrong key, wrong nonce, or tampered data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

/// A ChaCha20-Poly1305 key, ready to seal and open.
pub struct Cipher(Inner);

// One per direction of a connection: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Inner {
    #[cfg(feature = "ring")]
    Ring(ring::aead::LessSafeKey),
    #[cfg(feature = "rustcrypto")]
    RustCrypto(chacha20poly1305::ChaCha20Poly1305),
}

fn nonce_bytes(n: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    nonce
}

impl Cipher {
    /// A cipher for `key` on `backend`.
    pub fn new(backend: Backend, key: &[u8; 32]) -> Self {
        match backend {
            #[cfg(feature = "ring")]
            Backend::Ring => {
                let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, key)
                    .expect("a 32-byte key is valid for ChaCha20-Poly1305");
                Cipher(Inner::Ring(ring::aead::LessSafeKey::new(key)))
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use chacha20poly1305::KeyInit;
                Cipher(Inner::RustCrypto(chacha20poly1305::ChaCha20Poly1305::new(
                    key.into(),
                )))
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal(&self, nonce: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = nonce_bytes(nonce);
        match &self.0 {
            #[cfg(feature = "ring")]
            Inner::Ring(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::from(ad),
                        buf,
                    )
                    .expect("ChaCha20-Poly1305 seals any frame of at most 64 KiB");
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(tag.as_ref());
                out
            }
            #[cfg(feature = "rustcrypto")]
            Inner::RustCrypto(key) => {
                use chacha20poly1305::AeadInPlace;
                key.encrypt_in_place_detached(&nonce.into(), ad, buf)
                    .expect("ChaCha20-Poly1305 seals any frame of at most 64 KiB")
                    .into()
            }
        }
    }

    /// Checks `tag` and decrypts `buf` in place. On failure `buf` is garbage.
    pub fn open(
        &self,
        nonce: u64,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        let nonce = nonce_bytes(nonce);
        match &self.0 {
            #[cfg(feature = "ring")]
            Inner::Ring(key) => {
                let tag = ring::aead::Tag::from(*tag);
                key.open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(ad),
                    tag,
                    buf,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| OpenError)
            }
            #[cfg(feature = "rustcrypto")]
            Inner::RustCrypto(key) => {
                use chacha20poly1305::AeadInPlace;
                key.decrypt_in_place_detached(&nonce.into(), ad, buf, tag.into())
                    .map_err(|_| OpenError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backends produce identical output and both reject tampering. (The Noise
    /// test vectors in `tests/` check each against published ciphertexts.)
    #[test]
    fn backends_agree_and_detect_tampering() {
        let key = [7u8; 32];
        let mut outputs = Vec::new();
        for &backend in Backend::ALL {
            let cipher = Cipher::new(backend, &key);
            let mut buf = b"attack at dawn".to_vec();
            let tag = cipher.seal(5, b"ad", &mut buf);
            outputs.push((buf.clone(), tag));
            let mut opened = buf.clone();
            cipher.open(5, b"ad", &mut opened, &tag).unwrap();
            assert_eq!(opened, b"attack at dawn");
            let mut tampered = buf.clone();
            tampered[0] ^= 1;
            assert_eq!(cipher.open(5, b"ad", &mut tampered, &tag), Err(OpenError));
            let mut wrong_nonce = buf.clone();
            assert_eq!(
                cipher.open(6, b"ad", &mut wrong_nonce, &tag),
                Err(OpenError)
            );
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    }
}
