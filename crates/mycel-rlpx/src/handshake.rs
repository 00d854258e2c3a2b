//! The RLPx handshake (devp2p `rlpx.md`, "Initial Handshake"; EIP-8), sans IO.
//!
//! The initiator sends `auth`, the recipient answers `ack`; both then hold the same
//! [`Secrets`]. mycel sends the EIP-8 formats (an RLP list, 100–300 random bytes of
//! padding, a 2-byte size bound into the ECIES tag) and reads both those and the legacy
//! fixed-size formats (307-byte auth, 210-byte ack, told apart by their first byte, the
//! `0x04` of an uncompressed key). Unknown trailing list elements and any version
//! number are accepted, as the spec requires.

use alloy_rlp::{Decodable, Encodable, Header};
use k256::{
    PublicKey, SecretKey,
    ecdh::diffie_hellman,
    ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey},
    elliptic_curve::sec1::ToEncodedPoint,
};
use rand::{CryptoRng, Rng, RngCore, rngs::OsRng};
use sha3::{Digest, Keccak256};

use crate::{
    NodeId,
    ecies::{self, EciesError},
    mac::MacState,
};

/// Size of a legacy (pre-EIP-8) auth message.
pub const LEGACY_AUTH_LEN: usize = ecies::OVERHEAD + 65 + 32 + 64 + 32 + 1;
/// Size of a legacy (pre-EIP-8) ack message.
pub const LEGACY_ACK_LEN: usize = ecies::OVERHEAD + 64 + 32 + 1;
/// The largest EIP-8 handshake message accepted (size prefix included). Ours are under
/// 700 bytes; the bound keeps a peer from making us buffer 64 KiB per connection.
pub const MAX_MESSAGE_LEN: usize = 2048;
/// The version both messages carry.
const VERSION: u64 = 4;
const NONCE_LEN: usize = 32;

/// Why a handshake failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The message's size prefix is outside what is accepted.
    #[error("handshake message of {len} bytes (at most {max})")]
    BadLength {
        /// The size the message claims (prefix included) or has.
        len: usize,
        /// The most accepted.
        max: usize,
    },
    /// Its encryption did not check out.
    #[error("handshake message: {0}")]
    Ecies(#[from] EciesError),
    /// The decrypted body is not the list the spec describes.
    #[error("malformed handshake body: {0}")]
    Malformed(&'static str),
    /// A public key in the message is not a point on secp256k1.
    #[error("handshake carries an invalid public key")]
    InvalidKey,
    /// The auth signature does not recover a key, or not the one it claims.
    #[error("handshake signature does not verify")]
    BadSignature,
}

/// Which handshake message a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Initiator to recipient.
    Auth,
    /// Recipient to initiator.
    Ack,
}

/// The whole length of the handshake message that starts with `prefix` (its first two
/// bytes): a legacy message's fixed size, or 2 + its EIP-8 size prefix.
pub fn message_len(prefix: [u8; 2], kind: Message) -> Result<usize, HandshakeError> {
    if prefix[0] == 0x04 {
        return Ok(match kind {
            Message::Auth => LEGACY_AUTH_LEN,
            Message::Ack => LEGACY_ACK_LEN,
        });
    }
    let len = 2 + usize::from(u16::from_be_bytes(prefix));
    if !(2 + ecies::OVERHEAD..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(HandshakeError::BadLength {
            len,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(len)
}

/// What the recipient learns from an auth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The initiator's node id (its static public key).
    pub remote_id: NodeId,
    /// The initiator's ephemeral public key, recovered from its signature.
    pub remote_ephemeral: PublicKey,
    /// The initiator's nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The version it announced (legacy messages: 4).
    pub version: u64,
    /// Whether it came in the EIP-8 format (the ack answers in the same one).
    pub eip8: bool,
}

/// What the initiator learns from an ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The recipient's ephemeral public key.
    pub remote_ephemeral: PublicKey,
    /// The recipient's nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The version it announced (legacy messages: 4).
    pub version: u64,
}

/// The session keys both sides derive once auth and ack are exchanged.
pub struct Secrets {
    /// The remote's node id.
    pub remote_id: NodeId,
    /// The key of the frames' AES-256-CTR streams.
    pub aes_secret: [u8; 32],
    /// The key of the MAC states' AES.
    pub mac_secret: [u8; 32],
    /// The MAC of what we send.
    pub egress_mac: MacState,
    /// The MAC of what we receive.
    pub ingress_mac: MacState,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.aes_secret.zeroize();
        self.mac_secret.zeroize();
    }
}

/// The side that opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sent auth.
    Initiator,
    /// Sent ack.
    Recipient,
}

impl Secrets {
    /// Derives the session from the ephemeral keys, both nonces and the two messages
    /// exactly as they went over the wire.
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        role: Role,
        remote_id: NodeId,
        ephemeral: &SecretKey,
        remote_ephemeral: &PublicKey,
        initiator_nonce: &[u8; NONCE_LEN],
        recipient_nonce: &[u8; NONCE_LEN],
        auth: &[u8],
        ack: &[u8],
    ) -> Secrets {
        let shared = diffie_hellman(ephemeral.to_nonzero_scalar(), remote_ephemeral.as_affine());
        let ephemeral_key = shared.raw_secret_bytes();
        let nonces = keccak(&[recipient_nonce, initiator_nonce]);
        let shared_secret = keccak(&[ephemeral_key, &nonces]);
        let aes_secret = keccak(&[ephemeral_key, &shared_secret]);
        let mac_secret = keccak(&[ephemeral_key, &aes_secret]);
        let xor = |nonce: &[u8; NONCE_LEN]| {
            let mut out = mac_secret;
            out.iter_mut().zip(nonce).for_each(|(o, n)| *o ^= n);
            out
        };
        let (egress_mac, ingress_mac) = match role {
            Role::Initiator => (
                MacState::new(&mac_secret, &[&xor(recipient_nonce), auth]),
                MacState::new(&mac_secret, &[&xor(initiator_nonce), ack]),
            ),
            Role::Recipient => (
                MacState::new(&mac_secret, &[&xor(initiator_nonce), ack]),
                MacState::new(&mac_secret, &[&xor(recipient_nonce), auth]),
            ),
        };
        Secrets {
            remote_id,
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
        }
    }
}

/// The initiator's half: [`Initiator::auth`] to send, then [`Initiator::read_ack`].
pub struct Initiator {
    static_key: SecretKey,
    remote_id: NodeId,
    remote: PublicKey,
    ephemeral: SecretKey,
    nonce: [u8; NONCE_LEN],
    auth: Vec<u8>,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts a handshake with `remote`, with a fresh ephemeral key and nonce.
    pub fn new(static_key: SecretKey, remote: NodeId) -> Result<Self, HandshakeError> {
        let ephemeral = SecretKey::random(&mut OsRng);
        let nonce = OsRng.r#gen();
        Self::with_ephemeral(static_key, remote, ephemeral, nonce)
    }

    /// As [`Initiator::new`], with the ephemeral key and nonce given (test vectors).
    pub fn with_ephemeral(
        static_key: SecretKey,
        remote_id: NodeId,
        ephemeral: SecretKey,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, HandshakeError> {
        let remote = remote_id.public_key()?;
        Ok(Initiator {
            static_key,
            remote_id,
            remote,
            ephemeral,
            nonce,
            auth: Vec::new(),
        })
    }

    /// The auth message to send (EIP-8 format); kept for the MAC.
    pub fn auth(&mut self) -> Vec<u8> {
        let signed = xor32(&static_shared(&self.static_key, &self.remote), &self.nonce);
        let signature = sign_recoverable(&self.ephemeral, &signed);
        let our_id = NodeId::from_public_key(&self.static_key.public_key());
        let mut body = Vec::new();
        encode_list(
            &[&signature[..], &our_id.0[..], &self.nonce[..]],
            VERSION,
            &mut body,
        );
        self.auth = seal_eip8(&self.remote, body, &mut OsRng);
        self.auth.clone()
    }

    /// Reads the recipient's ack (either format) and derives the session.
    pub fn read_ack(self, ack: &[u8]) -> Result<(Ack, Secrets), HandshakeError> {
        let decoded = decode_ack(&self.static_key, ack)?;
        let secrets = Secrets::derive(
            Role::Initiator,
            self.remote_id,
            &self.ephemeral,
            &decoded.remote_ephemeral,
            &self.nonce,
            &decoded.nonce,
            &self.auth,
            ack,
        );
        Ok((decoded, secrets))
    }
}

/// The recipient's half: [`Recipient::read_auth`], then [`Recipient::ack`].
pub struct Recipient {
    static_key: SecretKey,
    ephemeral: SecretKey,
    nonce: [u8; NONCE_LEN],
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient").finish_non_exhaustive()
    }
}

impl Recipient {
    /// Waits for a handshake, with a fresh ephemeral key and nonce.
    pub fn new(static_key: SecretKey) -> Self {
        let ephemeral = SecretKey::random(&mut OsRng);
        let nonce = OsRng.r#gen();
        Self::with_ephemeral(static_key, ephemeral, nonce)
    }

    /// As [`Recipient::new`], with the ephemeral key and nonce given (test vectors).
    pub fn with_ephemeral(
        static_key: SecretKey,
        ephemeral: SecretKey,
        nonce: [u8; NONCE_LEN],
    ) -> Self {
        Recipient {
            static_key,
            ephemeral,
            nonce,
        }
    }

    /// Reads the initiator's auth message (either format).
    pub fn read_auth(&self, auth: &[u8]) -> Result<Auth, HandshakeError> {
        decode_auth(&self.static_key, auth)
    }

    /// The ack answering `auth` (the message `read_auth` accepted, as received), in
    /// the auth's format, and the session.
    pub fn ack(self, auth: &[u8], read: &Auth) -> Result<(Vec<u8>, Secrets), HandshakeError> {
        let remote = read.remote_id.public_key()?;
        let ephemeral_public = NodeId::from_public_key(&self.ephemeral.public_key());
        let ack = if read.eip8 {
            let mut body = Vec::new();
            encode_list(
                &[&ephemeral_public.0[..], &self.nonce[..]],
                VERSION,
                &mut body,
            );
            seal_eip8(&remote, body, &mut OsRng)
        } else {
            let mut plain = Vec::with_capacity(97);
            plain.extend_from_slice(&ephemeral_public.0);
            plain.extend_from_slice(&self.nonce);
            plain.push(0);
            ecies::encrypt(&remote, &plain, &[], &mut OsRng)
        };
        let secrets = Secrets::derive(
            Role::Recipient,
            read.remote_id,
            &self.ephemeral,
            &read.remote_ephemeral,
            &read.nonce,
            &self.nonce,
            auth,
            &ack,
        );
        Ok((ack, secrets))
    }
}

/// Decodes an auth message sent to `secret`.
pub fn decode_auth(secret: &SecretKey, msg: &[u8]) -> Result<Auth, HandshakeError> {
    let (plain, eip8) = open(secret, msg, Message::Auth)?;
    let (signature, id, nonce, version, ephemeral_hash) = if eip8 {
        let mut body = list_body(&plain)?;
        let signature: [u8; 65] = fixed(&mut body, "signature")?;
        let id: [u8; 64] = fixed(&mut body, "public key")?;
        let nonce: [u8; 32] = fixed(&mut body, "nonce")?;
        let version = version(&mut body)?;
        (signature, id, nonce, version, None)
    } else {
        // sig(65) || keccak256(ephemeral-pubk)(32) || pubk(64) || nonce(32) || 0x00
        if plain.len() != 194 {
            return Err(HandshakeError::Malformed("legacy auth body size"));
        }
        let take = |range: std::ops::Range<usize>| &plain[range];
        (
            take(0..65).try_into().expect("65 bytes"),
            take(97..161).try_into().expect("64 bytes"),
            take(161..193).try_into().expect("32 bytes"),
            VERSION,
            Some(<[u8; 32]>::try_from(take(65..97)).expect("32 bytes")),
        )
    };
    let remote_id = NodeId(id);
    let remote = remote_id.public_key()?;
    let signed = xor32(&static_shared(secret, &remote), &nonce);
    let remote_ephemeral = recover(&signed, &signature)?;
    if let Some(hash) = ephemeral_hash {
        let id = NodeId::from_public_key(&remote_ephemeral);
        if keccak(&[&id.0]) != hash {
            return Err(HandshakeError::BadSignature);
        }
    }
    Ok(Auth {
        remote_id,
        remote_ephemeral,
        nonce,
        version,
        eip8,
    })
}

/// Decodes an ack message sent to `secret`.
pub fn decode_ack(secret: &SecretKey, msg: &[u8]) -> Result<Ack, HandshakeError> {
    let (plain, eip8) = open(secret, msg, Message::Ack)?;
    let (key, nonce, version) = if eip8 {
        let mut body = list_body(&plain)?;
        let key: [u8; 64] = fixed(&mut body, "ephemeral key")?;
        let nonce: [u8; 32] = fixed(&mut body, "nonce")?;
        (key, nonce, version(&mut body)?)
    } else {
        // ephemeral-pubk(64) || nonce(32) || 0x00
        if plain.len() != 97 {
            return Err(HandshakeError::Malformed("legacy ack body size"));
        }
        (
            plain[..64].try_into().expect("64 bytes"),
            plain[64..96].try_into().expect("32 bytes"),
            VERSION,
        )
    };
    Ok(Ack {
        remote_ephemeral: NodeId(key).public_key()?,
        nonce,
        version,
    })
}

/// Decrypts a whole handshake message: (plaintext, whether it is EIP-8).
fn open(secret: &SecretKey, msg: &[u8], kind: Message) -> Result<(Vec<u8>, bool), HandshakeError> {
    let Some(prefix) = msg.get(..2) else {
        return Err(HandshakeError::BadLength {
            len: msg.len(),
            max: MAX_MESSAGE_LEN,
        });
    };
    let len = message_len([prefix[0], prefix[1]], kind)?;
    if msg.len() != len {
        return Err(HandshakeError::BadLength {
            len: msg.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    if prefix[0] == 0x04 {
        Ok((ecies::decrypt(secret, msg, &[])?, false))
    } else {
        Ok((ecies::decrypt(secret, &msg[2..], prefix)?, true))
    }
}

/// `size || ecies(remote, body || padding, size)`, 100–300 bytes of random padding.
fn seal_eip8<R: RngCore + CryptoRng>(
    remote: &PublicKey,
    mut body: Vec<u8>,
    rng: &mut R,
) -> Vec<u8> {
    let padding = rng.gen_range(100..=300);
    let start = body.len();
    body.resize(start + padding, 0);
    rng.fill_bytes(&mut body[start..]);
    let size = u16::try_from(body.len() + ecies::OVERHEAD).expect("a handshake body is small");
    let prefix = size.to_be_bytes();
    let mut msg = prefix.to_vec();
    msg.extend_from_slice(&ecies::encrypt(remote, &body, &prefix, rng));
    msg
}

/// `[items..., version]` as an RLP list.
fn encode_list(items: &[&[u8]], version: u64, out: &mut Vec<u8>) {
    let payload_length = items.iter().map(|i| i.length()).sum::<usize>() + version.length();
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
    for item in items {
        item.encode(out);
    }
    version.encode(out);
}

/// The payload of the RLP list at the front of `plain` (padding after it is ignored).
fn list_body(plain: &[u8]) -> Result<&[u8], HandshakeError> {
    let mut buf = plain;
    Header::decode_bytes(&mut buf, true).map_err(|_| HandshakeError::Malformed("not an RLP list"))
}

/// The next list element, a byte string of exactly `N` bytes.
fn fixed<const N: usize>(body: &mut &[u8], what: &'static str) -> Result<[u8; N], HandshakeError> {
    let bytes = Header::decode_bytes(body, false).map_err(|_| HandshakeError::Malformed(what))?;
    bytes
        .try_into()
        .map_err(|_| HandshakeError::Malformed(what))
}

/// The version element; any value is accepted (the rest of the list is ignored).
fn version(body: &mut &[u8]) -> Result<u64, HandshakeError> {
    u64::decode(body).map_err(|_| HandshakeError::Malformed("version"))
}

/// `ecdh.agree(secret, public)`: the shared point's x coordinate.
fn static_shared(secret: &SecretKey, public: &PublicKey) -> [u8; 32] {
    let shared = diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    (*shared.raw_secret_bytes()).into()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = *a;
    out.iter_mut().zip(b).for_each(|(o, b)| *o ^= b);
    out
}

/// A 65-byte recoverable signature `r || s || v` over the 32 bytes `msg` as they are.
fn sign_recoverable(key: &SecretKey, msg: &[u8; 32]) -> [u8; 65] {
    let (signature, recovery) = SigningKey::from(key)
        .sign_prehash_recoverable(msg)
        .expect("a 32-byte prehash signs");
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&signature.to_bytes());
    out[64] = recovery.to_byte();
    out
}

fn recover(msg: &[u8; 32], signature: &[u8; 65]) -> Result<PublicKey, HandshakeError> {
    let sig = Signature::from_slice(&signature[..64]).map_err(|_| HandshakeError::BadSignature)?;
    let recovery = RecoveryId::from_byte(signature[64]).ok_or(HandshakeError::BadSignature)?;
    let key = VerifyingKey::recover_from_prehash(msg, &sig, recovery)
        .map_err(|_| HandshakeError::BadSignature)?;
    Ok(PublicKey::from(&key))
}

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Keccak256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

impl NodeId {
    /// The id of a public key: its uncompressed point without the `0x04` prefix.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let point = key.to_encoded_point(false);
        NodeId(
            point.as_bytes()[1..]
                .try_into()
                .expect("65-byte uncompressed point"),
        )
    }

    /// The public key this id names, if it is a point on the curve.
    pub fn public_key(&self) -> Result<PublicKey, HandshakeError> {
        let mut point = [0u8; 65];
        point[0] = 0x04;
        point[1..].copy_from_slice(&self.0);
        PublicKey::from_sec1_bytes(&point).map_err(|_| HandshakeError::InvalidKey)
    }
}
