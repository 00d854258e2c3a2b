//! Signed envelopes (libp2p specs, RFC 0002) and the peer records they carry (RFC 0003):
//! a peer's own, signed list of its addresses, which others can pass on and still trust.
//!
//! - [`SignedEnvelope`]: a payload, its type, the signer's public key and a signature
//!   over `uvarint(len) || domain || uvarint(len) || payload_type || uvarint(len) ||
//!   payload`. [`SignedEnvelope::decode`] refuses encodings over [`MAX_ENVELOPE_LEN`]
//!   before looking inside; [`SignedEnvelope::open`] checks the type and the signature.
//! - [`PeerRecord`]: peer id, sequence number, addresses. [`SignedPeerRecord`] is one
//!   that was signed by its peer: made by [`SignedPeerRecord::new`], or checked by
//!   [`SignedPeerRecord::from_envelope`]; nothing else constructs one.
//!
//! # Two formats on the wire
//! go-libp2p and js-libp2p sign peer records with the domain `libp2p-peer-record` and the
//! payload type `0x0301` (the multicodec `libp2p-peer-record`); the RFC's text and
//! rust-libp2p's identify use the domain `libp2p-routing-state` and the payload type
//! `/libp2p/routing-state-record`. Each accepts only its own. mycel accepts both
//! ([`PeerRecordFormat`]) and signs with the one asked for, go's and js's by default.
//!
//! ```
//! use mycel_core::{Keypair, record::{PeerRecord, PeerRecordFormat, SignedEnvelope, SignedPeerRecord}};
//!
//! let keypair = Keypair::generate();
//! let record = PeerRecord::new(keypair.peer_id(), 1, vec!["/ip4/192.0.2.1/tcp/4001".parse().unwrap()]);
//! let signed = SignedPeerRecord::new(&keypair, record, PeerRecordFormat::Standard).unwrap();
//! let bytes = signed.envelope().encode();
//!
//! let received = SignedEnvelope::decode(&bytes).unwrap();
//! let checked = SignedPeerRecord::from_envelope(received).unwrap();
//! assert_eq!(checked.record().peer_id, keypair.peer_id());
//! ```

use bytes::{Bytes, BytesMut};
use mycel_proto::{envelope as pb, prost::Message};
use thiserror::Error;

use crate::{KeyError, Keypair, Multiaddr, PeerId, PublicKey, framing::encode_length_prefixed};

/// Largest encoded envelope accepted, checked before decoding or verifying anything.
pub const MAX_ENVELOPE_LEN: usize = 4096;

/// Most addresses kept from one peer record (more are dropped).
pub const MAX_RECORD_ADDRS: usize = 64;

/// What went wrong with an envelope or the record inside it.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The encoding is longer than [`MAX_ENVELOPE_LEN`].
    #[error("envelope is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Not a valid envelope or record protobuf.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// A field every envelope or record must have is missing.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// The signer's key is invalid, or cannot verify.
    #[error("signer key: {0}")]
    Key(#[from] KeyError),
    /// The payload type is not the one expected.
    #[error("unexpected payload type")]
    WrongPayloadType,
    /// The signature does not verify over the domain, type and payload.
    #[error("invalid envelope signature")]
    InvalidSignature,
    /// The record names a peer other than the envelope's signer.
    #[error("record of {record} signed by {signer}")]
    PeerMismatch {
        /// The peer the record is about.
        record: PeerId,
        /// The peer whose key signed it.
        signer: PeerId,
    },
}

/// A signed envelope (RFC 0002). Decoding does not check the signature;
/// [`SignedEnvelope::open`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEnvelope {
    public_key: PublicKey,
    payload_type: Bytes,
    payload: Bytes,
    signature: Bytes,
}

impl SignedEnvelope {
    /// Signs `payload` of `payload_type` for `domain` with `keypair`.
    pub fn seal(keypair: &Keypair, domain: &str, payload_type: &[u8], payload: &[u8]) -> Self {
        let signature = keypair.sign(&signing_input(domain, payload_type, payload));
        SignedEnvelope {
            public_key: keypair.public(),
            payload_type: Bytes::copy_from_slice(payload_type),
            payload: Bytes::copy_from_slice(payload),
            signature: signature.into(),
        }
    }

    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        pb::Envelope {
            public_key: Some(self.public_key.encode_protobuf().into()),
            payload_type: Some(self.payload_type.clone()),
            payload: Some(self.payload.clone()),
            signature: Some(self.signature.clone()),
        }
        .encode_to_vec()
    }

    /// Decodes an envelope of at most [`MAX_ENVELOPE_LEN`] bytes and its signer's key.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLarge {
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        let msg =
            pb::Envelope::decode(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let key = msg
            .public_key
            .ok_or(EnvelopeError::MissingField("public_key"))?;
        Ok(SignedEnvelope {
            public_key: PublicKey::decode_protobuf(&key)?,
            payload_type: msg.payload_type.unwrap_or_default(),
            payload: msg.payload.unwrap_or_default(),
            signature: msg
                .signature
                .ok_or(EnvelopeError::MissingField("signature"))?,
        })
    }

    /// The payload, once its type is `payload_type` and the signature verifies for
    /// `domain`.
    pub fn open(&self, domain: &str, payload_type: &[u8]) -> Result<&Bytes, EnvelopeError> {
        if self.payload_type != payload_type {
            return Err(EnvelopeError::WrongPayloadType);
        }
        let input = signing_input(domain, &self.payload_type, &self.payload);
        match self.public_key.verify(&input, &self.signature) {
            Ok(()) => Ok(&self.payload),
            Err(KeyError::InvalidSignature) => Err(EnvelopeError::InvalidSignature),
            Err(e) => Err(e.into()),
        }
    }

    /// The signer's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The payload type, as sent.
    pub fn payload_type(&self) -> &[u8] {
        &self.payload_type
    }
}

/// What the signature covers: each part with its uvarint length in front.
fn signing_input(domain: &str, payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::with_capacity(domain.len() + payload_type.len() + payload.len() + 15);
    encode_length_prefixed(domain.as_bytes(), &mut buf);
    encode_length_prefixed(payload_type, &mut buf);
    encode_length_prefixed(payload, &mut buf);
    buf.to_vec()
}

/// Which domain and payload type a peer record is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerRecordFormat {
    /// Domain `libp2p-peer-record`, payload type `0x0301`: go-libp2p and js-libp2p.
    #[default]
    Standard,
    /// Domain `libp2p-routing-state`, payload type `/libp2p/routing-state-record`: the
    /// text of RFC 0003, and rust-libp2p's identify.
    Legacy,
}

impl PeerRecordFormat {
    /// The signature's domain string.
    pub fn domain(self) -> &'static str {
        match self {
            PeerRecordFormat::Standard => "libp2p-peer-record",
            PeerRecordFormat::Legacy => "libp2p-routing-state",
        }
    }

    /// The envelope's payload type.
    pub fn payload_type(self) -> &'static [u8] {
        match self {
            PeerRecordFormat::Standard => &[0x03, 0x01],
            PeerRecordFormat::Legacy => b"/libp2p/routing-state-record",
        }
    }
}

/// A peer's addresses as it states them (RFC 0003).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// The peer.
    pub peer_id: PeerId,
    /// Increases with every new record of the peer; a lower one is stale.
    pub seq: u64,
    /// Where it can be reached.
    pub addrs: Vec<Multiaddr>,
}

impl PeerRecord {
    /// A record of `peer_id`'s addresses.
    pub fn new(peer_id: PeerId, seq: u64, addrs: Vec<Multiaddr>) -> Self {
        PeerRecord {
            peer_id,
            seq,
            addrs,
        }
    }

    /// The protobuf payload.
    pub fn encode(&self) -> Vec<u8> {
        pb::PeerRecord {
            peer_id: Some(Bytes::copy_from_slice(self.peer_id.as_bytes())),
            seq: Some(self.seq),
            addresses: self
                .addrs
                .iter()
                .map(|a| pb::peer_record::AddressInfo {
                    multiaddr: Some(a.to_vec().into()),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    /// Decodes a payload; undecodable addresses are skipped, at most
    /// [`MAX_RECORD_ADDRS`] kept.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let msg =
            pb::PeerRecord::decode(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let peer_id = msg.peer_id.ok_or(EnvelopeError::MissingField("peer_id"))?;
        let peer_id =
            PeerId::from_bytes(&peer_id).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let addrs = msg
            .addresses
            .into_iter()
            .filter_map(|a| Multiaddr::try_from(a.multiaddr?.to_vec()).ok())
            .take(MAX_RECORD_ADDRS)
            .collect();
        Ok(PeerRecord {
            peer_id,
            seq: msg.seq.unwrap_or(0),
            addrs,
        })
    }
}

/// A [`PeerRecord`] known to be signed by its own peer, with the envelope that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPeerRecord {
    record: PeerRecord,
    envelope: SignedEnvelope,
    format: PeerRecordFormat,
}

impl SignedPeerRecord {
    /// Signs `record` with `keypair`, which must be the record's peer's.
    pub fn new(
        keypair: &Keypair,
        record: PeerRecord,
        format: PeerRecordFormat,
    ) -> Result<Self, EnvelopeError> {
        let signer = keypair.peer_id();
        if record.peer_id != signer {
            return Err(EnvelopeError::PeerMismatch {
                record: record.peer_id,
                signer,
            });
        }
        let envelope = SignedEnvelope::seal(
            keypair,
            format.domain(),
            format.payload_type(),
            &record.encode(),
        );
        Ok(SignedPeerRecord {
            record,
            envelope,
            format,
        })
    }

    /// Checks an envelope in either format: the signature, and that the record's peer is
    /// the signer.
    pub fn from_envelope(envelope: SignedEnvelope) -> Result<Self, EnvelopeError> {
        let format = [PeerRecordFormat::Standard, PeerRecordFormat::Legacy]
            .into_iter()
            .find(|f| envelope.payload_type() == f.payload_type())
            .ok_or(EnvelopeError::WrongPayloadType)?;
        let payload = envelope.open(format.domain(), format.payload_type())?;
        let record = PeerRecord::decode(payload)?;
        let signer = envelope.public_key().to_peer_id();
        if record.peer_id != signer {
            return Err(EnvelopeError::PeerMismatch {
                record: record.peer_id,
                signer,
            });
        }
        Ok(SignedPeerRecord {
            record,
            envelope,
            format,
        })
    }

    /// The record.
    pub fn record(&self) -> &PeerRecord {
        &self.record
    }

    /// The envelope, to pass on as it is.
    pub fn envelope(&self) -> &SignedEnvelope {
        &self.envelope
    }

    /// The format it was signed in.
    pub fn format(&self) -> PeerRecordFormat {
        self.format
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Multiaddr {
        format!("/ip4/192.0.2.{n}/tcp/4001").parse().unwrap()
    }

    #[test]
    fn signing_input_is_each_part_length_prefixed() {
        assert_eq!(
            signing_input("ab", &[0x03, 0x01], b"xyz"),
            [&[2u8][..], b"ab", &[2, 3, 1], &[3], b"xyz"].concat()
        );
    }

    #[test]
    fn records_round_trip_in_both_formats_for_every_key_type() {
        for key_type in crate::KeyType::ALL {
            let keypair = Keypair::generate_of(key_type).unwrap();
            for format in [PeerRecordFormat::Standard, PeerRecordFormat::Legacy] {
                let record = PeerRecord::new(keypair.peer_id(), 7, vec![addr(1), addr(2)]);
                let signed = SignedPeerRecord::new(&keypair, record.clone(), format).unwrap();
                let bytes = signed.envelope().encode();
                let checked =
                    SignedPeerRecord::from_envelope(SignedEnvelope::decode(&bytes).unwrap())
                        .unwrap();
                assert_eq!(checked.record(), &record);
                assert_eq!(checked.format(), format);
            }
        }
    }

    #[test]
    fn tampering_a_wrong_signer_and_a_wrong_type_are_refused() {
        let keypair = Keypair::generate();
        let record = PeerRecord::new(keypair.peer_id(), 1, vec![addr(1)]);
        let signed = SignedPeerRecord::new(&keypair, record, PeerRecordFormat::Standard).unwrap();
        let envelope = signed.envelope().clone();

        let mut tampered = envelope.clone();
        tampered.payload = PeerRecord::new(keypair.peer_id(), 1, vec![addr(9)])
            .encode()
            .into();
        assert_eq!(
            SignedPeerRecord::from_envelope(tampered),
            Err(EnvelopeError::InvalidSignature)
        );

        // Signed for the other format's domain: the type says one, the signature the other.
        let mut cross = envelope.clone();
        cross.signature = keypair
            .sign(&signing_input(
                PeerRecordFormat::Legacy.domain(),
                &envelope.payload_type,
                &envelope.payload,
            ))
            .into();
        assert_eq!(
            SignedPeerRecord::from_envelope(cross),
            Err(EnvelopeError::InvalidSignature)
        );

        // A record about someone else, signed by us.
        let other = Keypair::generate().peer_id();
        let forged = SignedEnvelope::seal(
            &keypair,
            PeerRecordFormat::Standard.domain(),
            PeerRecordFormat::Standard.payload_type(),
            &PeerRecord::new(other, 1, vec![addr(1)]).encode(),
        );
        assert!(matches!(
            SignedPeerRecord::from_envelope(forged),
            Err(EnvelopeError::PeerMismatch { .. })
        ));
        assert!(matches!(
            SignedPeerRecord::new(
                &keypair,
                PeerRecord::new(other, 1, vec![]),
                Default::default()
            ),
            Err(EnvelopeError::PeerMismatch { .. })
        ));

        let unknown = SignedEnvelope::seal(&keypair, "x", b"/other", b"payload");
        assert_eq!(
            SignedPeerRecord::from_envelope(unknown),
            Err(EnvelopeError::WrongPayloadType)
        );
    }

    #[test]
    fn oversized_and_garbage_envelopes_are_typed_errors() {
        let big = vec![0u8; MAX_ENVELOPE_LEN + 1];
        assert_eq!(
            SignedEnvelope::decode(&big),
            Err(EnvelopeError::TooLarge {
                len: MAX_ENVELOPE_LEN + 1,
                max: MAX_ENVELOPE_LEN
            })
        );
        assert!(matches!(
            SignedEnvelope::decode(&[0x0a, 0x05, 1]),
            Err(EnvelopeError::Malformed(_))
        ));
        assert_eq!(
            SignedEnvelope::decode(&[]),
            Err(EnvelopeError::MissingField("public_key"))
        );
        assert!(matches!(
            PeerRecord::decode(&[0x0a, 0x02, 0xff, 0xff]),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn a_record_with_many_addresses_keeps_the_first_ones() {
        let keypair = Keypair::generate();
        let addrs: Vec<_> = (0..100).map(|i| addr(i as u8)).collect();
        let record = PeerRecord::new(keypair.peer_id(), 1, addrs.clone());
        let decoded = PeerRecord::decode(&record.encode()).unwrap();
        assert_eq!(decoded.addrs, addrs[..MAX_RECORD_ADDRS]);
    }
}
