//! The Noise protocol framework, as much of it as `Noise_XX_25519_ChaChaPoly_SHA256`
//! needs: `CipherState`, `SymmetricState` and the three XX handshake messages.
//!
//! Plain synchronous code over byte buffers: no IO. Keys (including ephemerals) come
//! from the caller, so the published test vectors can drive it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey as DhPublic, StaticSecret};

use crate::{
    NoiseError,
    cipher::{Backend, Cipher, TAG_LEN},
};

/// The protocol name; exactly 32 bytes, so it is the initial hash as is.
pub(crate) const PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_ChaChaPoly_SHA256";
/// Length of an X25519 public key.
pub(crate) const DH_LEN: usize = 32;
const HASH_LEN: usize = 32;

/// A key and its nonce counter (Noise's `CipherState`).
pub(crate) struct CipherState {
    cipher: Option<Cipher>,
    nonce: u64,
}

impl CipherState {
    fn empty() -> Self {
        CipherState {
            cipher: None,
            nonce: 0,
        }
    }

    fn with_key(backend: Backend, key: &[u8; 32]) -> Self {
        CipherState {
            cipher: Some(Cipher::new(backend, key)),
            nonce: 0,
        }
    }

    /// Encrypts `buf[..len - TAG_LEN]` in place and writes the tag into the last
    /// `TAG_LEN` bytes. Without a key (early handshake) the plaintext is left as is and
    /// `buf` must not have room for a tag.
    pub(crate) fn encrypt_in_place(&mut self, ad: &[u8], buf: &mut [u8]) -> Result<(), NoiseError> {
        if let Some(cipher) = &self.cipher {
            let n = next_nonce(&mut self.nonce)?;
            let split = buf.len() - TAG_LEN;
            let (plain, tag) = buf.split_at_mut(split);
            tag.copy_from_slice(&cipher.seal(n, ad, plain));
        }
        Ok(())
    }

    /// Decrypts `buf` (ciphertext then tag) in place; returns the plaintext length.
    pub(crate) fn decrypt_in_place(
        &mut self,
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, NoiseError> {
        let Some(cipher) = &self.cipher else {
            return Ok(buf.len());
        };
        if buf.len() < TAG_LEN {
            return Err(NoiseError::FrameTooShort(buf.len()));
        }
        let n = next_nonce(&mut self.nonce)?;
        let split = buf.len() - TAG_LEN;
        let (body, tag) = buf.split_at_mut(split);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("TAG_LEN bytes");
        cipher
            .open(n, ad, body, tag)
            .map_err(|_| NoiseError::DecryptionFailed)?;
        Ok(split)
    }

    fn has_key(&self) -> bool {
        self.cipher.is_some()
    }
}

fn next_nonce(nonce: &mut u64) -> Result<u64, NoiseError> {
    // 2^64 - 1 is reserved by the Noise spec; reaching it ends the session.
    if *nonce == u64::MAX {
        return Err(NoiseError::NonceExhausted);
    }
    let n = *nonce;
    *nonce += 1;
    Ok(n)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Noise's HKDF with two outputs.
fn hkdf(chaining_key: &[u8; HASH_LEN], input: &[u8]) -> ([u8; HASH_LEN], [u8; HASH_LEN]) {
    let temp = hmac(chaining_key, &[input]);
    let out1 = hmac(&temp, &[&[1]]);
    let out2 = hmac(&temp, &[&out1, &[2]]);
    (out1, out2)
}

/// Noise's `SymmetricState`.
struct SymmetricState {
    backend: Backend,
    ck: [u8; HASH_LEN],
    h: [u8; HASH_LEN],
    cipher: CipherState,
}

impl SymmetricState {
    fn new(backend: Backend, prologue: &[u8]) -> Self {
        let mut state = SymmetricState {
            backend,
            ck: *PROTOCOL_NAME,
            h: *PROTOCOL_NAME,
            cipher: CipherState::empty(),
        };
        state.mix_hash(prologue);
        state
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.h = Sha256::new()
            .chain_update(self.h)
            .chain_update(data)
            .finalize()
            .into();
    }

    fn mix_key(&mut self, input: &[u8]) {
        let (ck, key) = hkdf(&self.ck, input);
        self.ck = ck;
        self.cipher = CipherState::with_key(self.backend, &key);
    }

    /// Appends `plaintext`, encrypted when a key is set, to `out`.
    fn encrypt_and_hash(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        if self.cipher.has_key() {
            out.extend_from_slice(&[0; TAG_LEN]);
        }
        let h = self.h;
        self.cipher.encrypt_in_place(&h, &mut out[start..])?;
        self.mix_hash(&out[start..]);
        Ok(())
    }

    fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut buf = ciphertext.to_vec();
        let h = self.h;
        let len = self.cipher.decrypt_in_place(&h, &mut buf)?;
        self.mix_hash(ciphertext);
        buf.truncate(len);
        Ok(buf)
    }

    /// The sizes of an encrypted field of `len` plaintext bytes.
    fn sealed_len(&self, len: usize) -> usize {
        if self.cipher.has_key() {
            len + TAG_LEN
        } else {
            len
        }
    }

    fn split(&self) -> (CipherState, CipherState) {
        let (k1, k2) = hkdf(&self.ck, &[]);
        (
            CipherState::with_key(self.backend, &k1),
            CipherState::with_key(self.backend, &k2),
        )
    }
}

fn dh(secret: &StaticSecret, public: &[u8; DH_LEN]) -> Result<[u8; 32], NoiseError> {
    let shared = secret.diffie_hellman(&DhPublic::from(*public));
    // A low-order point from the remote would make the secret all zeros: refuse it.
    if !shared.was_contributory() {
        return Err(NoiseError::InvalidDhKey);
    }
    Ok(shared.to_bytes())
}

fn take<'a>(msg: &mut &'a [u8], n: usize) -> Result<&'a [u8], NoiseError> {
    if msg.len() < n {
        return Err(NoiseError::HandshakeMessageTooShort);
    }
    let (head, rest) = msg.split_at(n);
    *msg = rest;
    Ok(head)
}

/// The XX handshake: `-> e`, `<- e, ee, s, es`, `-> s, se`.
pub(crate) struct XxHandshake {
    initiator: bool,
    sym: SymmetricState,
    s: StaticSecret,
    e: StaticSecret,
    re: Option<[u8; DH_LEN]>,
    rs: Option<[u8; DH_LEN]>,
}

/// The result of a finished handshake.
pub(crate) struct Finished {
    /// Encrypts what we send.
    pub(crate) send: CipherState,
    /// Decrypts what we receive.
    pub(crate) recv: CipherState,
    /// The handshake hash (channel binding); the test vectors check it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) handshake_hash: [u8; HASH_LEN],
}

impl XxHandshake {
    /// A handshake with the given static and ephemeral DH keys.
    pub(crate) fn new(
        backend: Backend,
        initiator: bool,
        prologue: &[u8],
        s: StaticSecret,
        e: StaticSecret,
    ) -> Self {
        XxHandshake {
            initiator,
            sym: SymmetricState::new(backend, prologue),
            s,
            e,
            re: None,
            rs: None,
        }
    }

    fn e_pub(&self) -> [u8; DH_LEN] {
        DhPublic::from(&self.e).to_bytes()
    }

    fn s_pub(&self) -> [u8; DH_LEN] {
        DhPublic::from(&self.s).to_bytes()
    }

    fn remote(key: Option<[u8; DH_LEN]>) -> Result<[u8; DH_LEN], NoiseError> {
        key.ok_or(NoiseError::HandshakeOutOfOrder)
    }

    /// Initiator: `-> e` with `payload`.
    pub(crate) fn write_message_1(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut out = Vec::with_capacity(DH_LEN + payload.len());
        let e = self.e_pub();
        out.extend_from_slice(&e);
        self.sym.mix_hash(&e);
        self.sym.encrypt_and_hash(payload, &mut out)?;
        Ok(out)
    }

    /// Responder: reads `-> e`, returns the payload.
    pub(crate) fn read_message_1(&mut self, mut msg: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let re: [u8; DH_LEN] = take(&mut msg, DH_LEN)?.try_into().expect("DH_LEN");
        self.sym.mix_hash(&re);
        self.re = Some(re);
        self.sym.decrypt_and_hash(msg)
    }

    /// Responder: `<- e, ee, s, es` with `payload`.
    pub(crate) fn write_message_2(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let re = Self::remote(self.re)?;
        let mut out = Vec::with_capacity(2 * DH_LEN + 2 * TAG_LEN + payload.len());
        let e = self.e_pub();
        out.extend_from_slice(&e);
        self.sym.mix_hash(&e);
        self.sym.mix_key(&dh(&self.e, &re)?);
        let s = self.s_pub();
        self.sym.encrypt_and_hash(&s, &mut out)?;
        self.sym.mix_key(&dh(&self.s, &re)?);
        self.sym.encrypt_and_hash(payload, &mut out)?;
        Ok(out)
    }

    /// Initiator: reads `<- e, ee, s, es`, returns the payload.
    pub(crate) fn read_message_2(&mut self, mut msg: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let re: [u8; DH_LEN] = take(&mut msg, DH_LEN)?.try_into().expect("DH_LEN");
        self.sym.mix_hash(&re);
        self.re = Some(re);
        self.sym.mix_key(&dh(&self.e, &re)?);
        let sealed = self.sym.sealed_len(DH_LEN);
        let rs = self.sym.decrypt_and_hash(take(&mut msg, sealed)?)?;
        let rs: [u8; DH_LEN] = rs.try_into().expect("DH_LEN after decryption");
        self.rs = Some(rs);
        self.sym.mix_key(&dh(&self.e, &rs)?);
        self.sym.decrypt_and_hash(msg)
    }

    /// Initiator: `-> s, se` with `payload`.
    pub(crate) fn write_message_3(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let re = Self::remote(self.re)?;
        let mut out = Vec::with_capacity(DH_LEN + 2 * TAG_LEN + payload.len());
        let s = self.s_pub();
        self.sym.encrypt_and_hash(&s, &mut out)?;
        self.sym.mix_key(&dh(&self.s, &re)?);
        self.sym.encrypt_and_hash(payload, &mut out)?;
        Ok(out)
    }

    /// Responder: reads `-> s, se`, returns the payload.
    pub(crate) fn read_message_3(&mut self, mut msg: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let sealed = self.sym.sealed_len(DH_LEN);
        let rs = self.sym.decrypt_and_hash(take(&mut msg, sealed)?)?;
        let rs: [u8; DH_LEN] = rs.try_into().expect("DH_LEN after decryption");
        self.rs = Some(rs);
        self.sym.mix_key(&dh(&self.e, &rs)?);
        self.sym.decrypt_and_hash(msg)
    }

    /// The remote's static key, once received (message 2 for the initiator, 3 for the
    /// responder).
    pub(crate) fn remote_static(&self) -> Option<[u8; DH_LEN]> {
        self.rs
    }

    /// Ends the handshake: the two transport cipher states.
    pub(crate) fn finish(self) -> Result<Finished, NoiseError> {
        Self::remote(self.rs)?;
        let (c1, c2) = self.sym.split();
        let (send, recv) = if self.initiator { (c1, c2) } else { (c2, c1) };
        Ok(Finished {
            send,
            recv,
            handshake_hash: self.sym.h,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vector {
        fields: std::collections::HashMap<String, Vec<u8>>,
        messages: Vec<(Vec<u8>, Vec<u8>)>,
    }

    fn unhex(s: &str) -> Vec<u8> {
        if s == "-" {
            return Vec::new();
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn vectors() -> Vec<Vector> {
        let mut out = Vec::new();
        let mut current = None;
        for line in include_str!("../tests/data/xx-25519-chachapoly-sha256.txt").lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["vector"] => {
                    current = Some(Vector {
                        fields: Default::default(),
                        messages: Vec::new(),
                    })
                }
                ["end"] => out.push(current.take().unwrap()),
                ["message", payload, ciphertext] => current
                    .as_mut()
                    .unwrap()
                    .messages
                    .push((unhex(payload), unhex(ciphertext))),
                [key, value] if !key.starts_with('#') => {
                    current
                        .as_mut()
                        .unwrap()
                        .fields
                        .insert(key.to_string(), unhex(value));
                }
                _ => {}
            }
        }
        out
    }

    fn key(v: &Vector, name: &str) -> StaticSecret {
        let bytes: [u8; 32] = v.fields[name].clone().try_into().unwrap();
        StaticSecret::from(bytes)
    }

    fn seal(state: &mut CipherState, payload: &[u8]) -> Vec<u8> {
        let mut buf = payload.to_vec();
        buf.extend_from_slice(&[0; TAG_LEN]);
        state.encrypt_in_place(&[], &mut buf).unwrap();
        buf
    }

    fn open(state: &mut CipherState, ciphertext: &[u8]) -> Vec<u8> {
        let mut buf = ciphertext.to_vec();
        let n = state.decrypt_in_place(&[], &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn published_vectors_pass_byte_for_byte_on_every_backend() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 2, "the cacophony and snow vectors");
        for &backend in Backend::ALL {
            for v in &vectors {
                let prologue = &v.fields["init_prologue"];
                let mut init = XxHandshake::new(
                    backend,
                    true,
                    prologue,
                    key(v, "init_static"),
                    key(v, "init_ephemeral"),
                );
                let mut resp = XxHandshake::new(
                    backend,
                    false,
                    prologue,
                    key(v, "resp_static"),
                    key(v, "resp_ephemeral"),
                );
                let m = &v.messages;
                assert_eq!(
                    init.write_message_1(&m[0].0).unwrap(),
                    m[0].1,
                    "{backend:?} msg 1"
                );
                assert_eq!(resp.read_message_1(&m[0].1).unwrap(), m[0].0);
                assert_eq!(
                    resp.write_message_2(&m[1].0).unwrap(),
                    m[1].1,
                    "{backend:?} msg 2"
                );
                assert_eq!(init.read_message_2(&m[1].1).unwrap(), m[1].0);
                assert_eq!(
                    init.write_message_3(&m[2].0).unwrap(),
                    m[2].1,
                    "{backend:?} msg 3"
                );
                assert_eq!(resp.read_message_3(&m[2].1).unwrap(), m[2].0);
                let mut init = init.finish().unwrap();
                let mut resp = resp.finish().unwrap();
                if let Some(h) = v.fields.get("handshake_hash") {
                    assert_eq!(&init.handshake_hash[..], &h[..]);
                    assert_eq!(&resp.handshake_hash[..], &h[..]);
                }
                // Transport messages alternate, starting with the responder.
                for (i, (payload, ciphertext)) in m[3..].iter().enumerate() {
                    let (tx, rx) = if i % 2 == 0 {
                        (&mut resp, &mut init)
                    } else {
                        (&mut init, &mut resp)
                    };
                    assert_eq!(
                        &seal(&mut tx.send, payload),
                        ciphertext,
                        "{backend:?} msg {}",
                        i + 4
                    );
                    assert_eq!(&open(&mut rx.recv, ciphertext), payload);
                }
            }
        }
    }

    #[test]
    fn tampered_handshake_messages_are_rejected() {
        let v = &vectors()[0];
        let new = |initiator, s, e| {
            XxHandshake::new(
                Backend::DEFAULT,
                initiator,
                &v.fields["init_prologue"],
                key(v, s),
                key(v, e),
            )
        };
        let m = &v.messages;
        // Flip one bit of the encrypted static key in message 2.
        let mut init = new(true, "init_static", "init_ephemeral");
        init.write_message_1(&m[0].0).unwrap();
        let mut msg2 = m[1].1.clone();
        msg2[40] ^= 0x01;
        assert!(matches!(
            init.read_message_2(&msg2),
            Err(NoiseError::DecryptionFailed)
        ));
        // Truncated message 2 and message 3.
        let mut init = new(true, "init_static", "init_ephemeral");
        init.write_message_1(&m[0].0).unwrap();
        assert!(matches!(
            init.read_message_2(&m[1].1[..50]),
            Err(NoiseError::HandshakeMessageTooShort)
        ));
        let mut resp = new(false, "resp_static", "resp_ephemeral");
        resp.read_message_1(&m[0].1).unwrap();
        resp.write_message_2(&m[1].0).unwrap();
        assert!(matches!(
            resp.read_message_3(&m[2].1[..20]),
            Err(NoiseError::HandshakeMessageTooShort)
        ));
        // A low-order ephemeral key from the initiator.
        let mut resp = new(false, "resp_static", "resp_ephemeral");
        resp.read_message_1(&[0u8; 32]).unwrap();
        assert!(matches!(
            resp.write_message_2(&[]),
            Err(NoiseError::InvalidDhKey)
        ));
    }
}
