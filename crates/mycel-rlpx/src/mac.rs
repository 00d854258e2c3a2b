//! [`MacState`]: one direction's running keccak256 MAC (devp2p `rlpx.md`, "MAC").

use aes::cipher::{BlockEncrypt, KeyInit};
use sha3::{Digest, Keccak256};

/// A keccak256 state fed with every byte one side sends (egress) or receives
/// (ingress), from which each frame's header and body MACs are taken.
#[derive(Clone)]
pub struct MacState {
    hash: Keccak256,
    /// AES-256 keyed with the session's mac-secret, used as a block function.
    cipher: aes::Aes256,
}

impl std::fmt::Debug for MacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacState").finish_non_exhaustive()
    }
}

impl MacState {
    /// `keccak256.init(init)` with AES keyed by `mac_secret`.
    pub(crate) fn new(mac_secret: &[u8; 32], init: &[&[u8]]) -> Self {
        let mut hash = Keccak256::new();
        for part in init {
            hash.update(part);
        }
        MacState {
            hash,
            cipher: aes::Aes256::new(mac_secret.into()),
        }
    }

    /// Feeds `data` into the state.
    pub fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
    }

    /// The state's current keccak256 digest (the state goes on).
    pub fn digest(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }

    /// The MAC of a 16-byte header ciphertext:
    /// `update(aes(mac-secret, digest[:16]) ^ header-ciphertext)`, then `digest[:16]`.
    pub(crate) fn header_mac(&mut self, header_ciphertext: &[u8; 16]) -> [u8; 16] {
        let mut seed = self.encrypt(self.prefix());
        for (s, h) in seed.iter_mut().zip(header_ciphertext) {
            *s ^= h;
        }
        self.hash.update(seed);
        self.prefix()
    }

    /// The MAC of a frame ciphertext: `update(frame-ciphertext)`, then
    /// `update(aes(mac-secret, digest[:16]) ^ digest[:16])`, then `digest[:16]`.
    pub(crate) fn body_mac(&mut self, frame_ciphertext: &[u8]) -> [u8; 16] {
        self.hash.update(frame_ciphertext);
        let prefix = self.prefix();
        let mut seed = self.encrypt(prefix);
        for (s, p) in seed.iter_mut().zip(prefix) {
            *s ^= p;
        }
        self.hash.update(seed);
        self.prefix()
    }

    fn prefix(&self) -> [u8; 16] {
        let digest = self.digest();
        digest[..16].try_into().expect("32-byte digest")
    }

    /// `aes(mac-secret, block)`.
    fn encrypt(&self, block: [u8; 16]) -> [u8; 16] {
        let mut block = block.into();
        self.cipher.encrypt_block(&mut block);
        block.into()
    }
}
