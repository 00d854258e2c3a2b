//! The identify message and its exchanges.

use bytes::BytesMut;
use mycel_core::{
    Multiaddr, PeerId, PublicKey,
    framing::{FramingError, encode_length_prefixed, read_length_prefixed},
    record::{SignedEnvelope, SignedPeerRecord},
};
use mycel_proto::{identify::Identify, prost::Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{IdentifyError, MAX_LISTEN_ADDRS, MAX_MESSAGE_SIZE, MAX_MESSAGES, MAX_PROTOCOLS};

/// What a peer says about itself in answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Its public key (checked against the connection's peer id).
    pub public_key: PublicKey,
    /// The protocol family, e.g. `ipfs/0.1.0`.
    pub protocol_version: String,
    /// The implementation, e.g. `mycel/0.1.0`.
    pub agent_version: String,
    /// Where it listens.
    pub listen_addrs: Vec<Multiaddr>,
    /// Our address as it sees it (the connection's remote address on its side).
    pub observed_addr: Option<Multiaddr>,
    /// The protocols it accepts inbound streams for.
    pub protocols: Vec<String>,
    /// Its addresses in a record it signed (`signedPeerRecord`): ours when sending; a
    /// peer's only when its signature checked and it names that peer.
    pub signed_peer_record: Option<SignedPeerRecord>,
}

impl Info {
    /// The peer id of [`Info::public_key`].
    pub fn peer_id(&self) -> PeerId {
        self.public_key.to_peer_id()
    }

    /// The message, as sent on the wire: `uvarint(len) || protobuf`.
    pub fn encode(&self) -> Vec<u8> {
        let message = Identify {
            protocol_version: Some(self.protocol_version.clone()),
            agent_version: Some(self.agent_version.clone()),
            public_key: Some(self.public_key.encode_protobuf().into()),
            listen_addrs: self
                .listen_addrs
                .iter()
                .map(|a| a.to_vec().into())
                .collect(),
            observed_addr: self.observed_addr.as_ref().map(|a| a.to_vec().into()),
            protocols: self.protocols.clone(),
            signed_peer_record: self
                .signed_peer_record
                .as_ref()
                .map(|r| r.envelope().encode().into()),
        };
        let mut framed = BytesMut::new();
        encode_length_prefixed(&message.encode_to_vec(), &mut framed);
        framed.to_vec()
    }

    /// Applies a pushed update: fields present in it replace ours.
    pub fn apply(&mut self, update: Update) {
        if let Some(v) = update.protocol_version {
            self.protocol_version = v;
        }
        if let Some(v) = update.agent_version {
            self.agent_version = v;
        }
        if let Some(v) = update.listen_addrs {
            self.listen_addrs = v;
        }
        if let Some(v) = update.observed_addr {
            self.observed_addr = Some(v);
        }
        if let Some(v) = update.protocols {
            self.protocols = v;
        }
        if let Some(v) = update.signed_peer_record {
            self.signed_peer_record = Some(v);
        }
    }
}

/// A decoded message, every field optional: an answer is one or more of these merged,
/// a push may carry only what changed. An empty list counts as absent (proto2 cannot
/// tell them apart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// The sender's public key, if sent.
    pub public_key: Option<PublicKey>,
    /// `protocolVersion`, if sent.
    pub protocol_version: Option<String>,
    /// `agentVersion`, if sent.
    pub agent_version: Option<String>,
    /// `listenAddrs`, if any (undecodable addresses are skipped).
    pub listen_addrs: Option<Vec<Multiaddr>>,
    /// `observedAddr`, if sent and decodable.
    pub observed_addr: Option<Multiaddr>,
    /// `protocols`, if any.
    pub protocols: Option<Vec<String>>,
    /// `signedPeerRecord`, if sent and valid: an envelope over
    /// [`MAX_ENVELOPE_LEN`](mycel_core::record::MAX_ENVELOPE_LEN) bytes, with a bad
    /// signature, or naming another peer is dropped (the rest of the message stands).
    pub signed_peer_record: Option<SignedPeerRecord>,
}

impl Update {
    /// Decodes one protobuf message (without its length prefix).
    pub fn decode(bytes: &[u8]) -> Result<Self, IdentifyError> {
        let message =
            Identify::decode(bytes).map_err(|e| IdentifyError::InvalidMessage(e.to_string()))?;
        let public_key = message
            .public_key
            .map(|k| PublicKey::decode_protobuf(&k))
            .transpose()?;
        let listen_addrs: Vec<Multiaddr> = message
            .listen_addrs
            .into_iter()
            .take(MAX_LISTEN_ADDRS)
            .filter_map(|a| match Multiaddr::try_from(a.to_vec()) {
                Ok(addr) => Some(addr),
                Err(e) => {
                    tracing::debug!(error = %e, "skipping an undecodable listen address");
                    None
                }
            })
            .collect();
        let observed_addr = message
            .observed_addr
            .and_then(|a| Multiaddr::try_from(a.to_vec()).ok());
        let signed_peer_record = message.signed_peer_record.and_then(|bytes| {
            SignedEnvelope::decode(&bytes)
                .and_then(SignedPeerRecord::from_envelope)
                .inspect_err(|e| tracing::debug!(error = %e, "dropping a signed peer record"))
                .ok()
        });
        Ok(Self {
            public_key,
            protocol_version: message.protocol_version,
            agent_version: message.agent_version,
            listen_addrs: (!listen_addrs.is_empty()).then_some(listen_addrs),
            observed_addr,
            protocols: (!message.protocols.is_empty()).then(|| {
                let mut protocols = message.protocols;
                protocols.truncate(MAX_PROTOCOLS);
                protocols
            }),
            signed_peer_record,
        })
    }

    /// Merges a later message of the same answer as protobuf does for concatenated
    /// messages: single fields, the later wins; lists append (capped).
    fn merge(&mut self, later: Update) {
        let Update {
            public_key,
            protocol_version,
            agent_version,
            listen_addrs,
            observed_addr,
            protocols,
            signed_peer_record,
        } = later;
        self.public_key = public_key.or(self.public_key.take());
        self.protocol_version = protocol_version.or(self.protocol_version.take());
        self.agent_version = agent_version.or(self.agent_version.take());
        self.listen_addrs = append(self.listen_addrs.take(), listen_addrs, MAX_LISTEN_ADDRS);
        self.observed_addr = observed_addr.or(self.observed_addr.take());
        self.protocols = append(self.protocols.take(), protocols, MAX_PROTOCOLS);
        self.signed_peer_record = signed_peer_record.or(self.signed_peer_record.take());
    }

    /// Checks that a key, if sent, is `peer`'s; drops a signed record of another peer.
    fn check_peer(&mut self, peer: PeerId) -> Result<(), IdentifyError> {
        let other = self
            .signed_peer_record
            .as_ref()
            .map(|r| r.record().peer_id)
            .filter(|p| *p != peer);
        if let Some(other) = other {
            tracing::debug!(%peer, %other, "dropping a signed peer record of another peer");
            self.signed_peer_record = None;
        }
        match &self.public_key {
            Some(key) if key.to_peer_id() != peer => Err(IdentifyError::PeerMismatch {
                expected: peer,
                actual: key.to_peer_id(),
            }),
            _ => Ok(()),
        }
    }
}

fn append<T>(first: Option<Vec<T>>, later: Option<Vec<T>>, max: usize) -> Option<Vec<T>> {
    match (first, later) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            a.truncate(max);
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

/// Reads every message until the end of the stream (go may send two: a large signed
/// record separately) and merges them.
async fn read_messages<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Update, IdentifyError> {
    let mut merged: Option<Update> = None;
    for _ in 0..=MAX_MESSAGES {
        match read_length_prefixed(stream, MAX_MESSAGE_SIZE).await {
            Ok(bytes) => {
                let update = Update::decode(&bytes)?;
                match &mut merged {
                    Some(m) => m.merge(update),
                    None => merged = Some(update),
                }
            }
            Err(FramingError::Closed) => return merged.ok_or(IdentifyError::Empty),
            Err(e) => return Err(e.into()),
        }
    }
    Err(IdentifyError::TooManyMessages)
}

/// Identifies `peer` on a stream we opened with `/ipfs/id/1.0.0`: reads its answer to
/// the end and checks that its public key is `peer`'s.
pub async fn request<S>(mut stream: S, peer: PeerId) -> Result<Info, IdentifyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // We send nothing: say so, so the remote's read side sees the end.
    let _ = stream.shutdown().await;
    let mut update = read_messages(&mut stream).await?;
    update.check_peer(peer)?;
    let public_key = update.public_key.ok_or(IdentifyError::MissingPublicKey)?;
    Ok(Info {
        public_key,
        protocol_version: update.protocol_version.unwrap_or_default(),
        agent_version: update.agent_version.unwrap_or_default(),
        listen_addrs: update.listen_addrs.unwrap_or_default(),
        observed_addr: update.observed_addr,
        protocols: update.protocols.unwrap_or_default(),
        signed_peer_record: update.signed_peer_record,
    })
}

/// Answers a request (or pushes, on `/ipfs/id/push/1.0.0`): writes `info`, closes our
/// side, then waits for the remote to close or drop its side.
///
/// The wait matters with muxers that reset a stream dropped before both sides closed:
/// some (rust-libp2p's yamux) discard unread data on a reset. It ends when
/// the remote closes, or after [`MAX_TRAILING_BYTES`] unexpected bytes; bound the call
/// with a timeout for remotes that do neither.
pub async fn respond<S>(mut stream: S, info: &Info) -> Result<(), IdentifyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&info.encode()).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 256];
    let mut trailing = 0;
    while trailing <= MAX_TRAILING_BYTES {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => trailing += n,
        }
    }
    Ok(())
}

/// Bytes a remote may send on a stream we answer before we stop waiting for its end.
pub const MAX_TRAILING_BYTES: usize = 1024;

/// Reads a push from `peer`: the fields it sent, its key (if any) checked.
pub async fn receive_push<S>(mut stream: S, peer: PeerId) -> Result<Update, IdentifyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut update = read_messages(&mut stream).await?;
    update.check_peer(peer)?;
    Ok(update)
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;
    use proptest::prelude::*;
    use tokio::io::duplex;

    use super::*;

    fn info(keypair: &Keypair) -> Info {
        Info {
            public_key: keypair.public(),
            protocol_version: "ipfs/0.1.0".into(),
            agent_version: "mycel/test".into(),
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()],
            observed_addr: Some("/ip4/127.0.0.1/tcp/5555".parse().unwrap()),
            protocols: vec!["/ipfs/ping/1.0.0".into(), "/ipfs/id/1.0.0".into()],
            signed_peer_record: None,
        }
    }

    fn framed(message: &Identify) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_length_prefixed(&message.encode_to_vec(), &mut out);
        out.to_vec()
    }

    #[test]
    fn encodes_the_spec_fields_with_their_numbers() {
        let keypair = Keypair::generate();
        let info = info(&keypair);
        let bytes = info.encode();
        // uvarint length, then the fields in field-number order (prost's): field 1,
        // publicKey, length-delimited: tag 0x0a.
        assert_eq!(bytes[0] as usize, bytes.len() - 1);
        assert_eq!(bytes[1], 0x0a);
        let decoded = Identify::decode(&bytes[1..]).unwrap();
        assert_eq!(decoded.agent_version.as_deref(), Some("mycel/test"));
        assert_eq!(decoded.protocols, info.protocols);
        assert_eq!(
            decoded.listen_addrs[0].as_ref(),
            info.listen_addrs[0].to_vec().as_slice()
        );
    }

    #[tokio::test]
    async fn request_and_respond_round_trip() {
        let keypair = Keypair::generate();
        let sent = info(&keypair);
        let (a, b) = duplex(64 * 1024);
        let expected = sent.clone();
        let server = tokio::spawn(async move { respond(b, &expected).await });
        let got = request(a, keypair.public().to_peer_id()).await.unwrap();
        server.await.unwrap().unwrap();
        assert_eq!(got, sent);
    }

    #[tokio::test]
    async fn a_key_of_another_peer_is_refused() {
        let keypair = Keypair::generate();
        let (a, b) = duplex(64 * 1024);
        let sent = info(&keypair);
        tokio::spawn(async move { respond(b, &sent).await });
        let other = Keypair::generate().public().to_peer_id();
        match request(a, other).await {
            Err(IdentifyError::PeerMismatch { expected, actual }) => {
                assert_eq!(expected, other);
                assert_eq!(actual, keypair.public().to_peer_id());
            }
            other => panic!("expected PeerMismatch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn two_messages_are_merged() {
        let keypair = Keypair::generate();
        let first = Identify {
            public_key: Some(keypair.public().encode_protobuf().into()),
            agent_version: Some("go-ipfs/1".into()),
            protocols: vec!["/a".into()],
            ..Default::default()
        };
        let second = Identify {
            listen_addrs: vec![
                "/ip4/10.0.0.1/tcp/1"
                    .parse::<Multiaddr>()
                    .unwrap()
                    .to_vec()
                    .into(),
            ],
            protocols: vec!["/b".into()],
            ..Default::default()
        };
        let mut wire = framed(&first);
        wire.extend(framed(&second));
        let (mut a, b) = duplex(64 * 1024);
        tokio::spawn(async move {
            a.write_all(&wire).await.unwrap();
            a.shutdown().await.unwrap();
            let mut sink = Vec::new();
            let _ = a.read_to_end(&mut sink).await;
        });
        let got = request(b, keypair.public().to_peer_id()).await.unwrap();
        assert_eq!(got.agent_version, "go-ipfs/1");
        assert_eq!(got.protocols, vec!["/a".to_string(), "/b".to_string()]);
        assert_eq!(got.listen_addrs.len(), 1);
    }

    async fn answer_with(wire: Vec<u8>) -> Result<Info, IdentifyError> {
        answer_from(PeerId::random(), wire).await
    }

    /// `request` of `peer`, answered with `wire`.
    async fn answer_from(peer: PeerId, wire: Vec<u8>) -> Result<Info, IdentifyError> {
        let (mut a, b) = duplex(256 * 1024);
        tokio::spawn(async move {
            let _ = a.write_all(&wire).await;
            let _ = a.shutdown().await;
            let mut sink = Vec::new();
            let _ = a.read_to_end(&mut sink).await;
        });
        request(b, peer).await
    }

    #[tokio::test]
    async fn bad_input_is_a_typed_error() {
        // Oversized: refused from the length prefix alone.
        let mut big = BytesMut::new();
        encode_length_prefixed(&vec![0u8; MAX_MESSAGE_SIZE + 1], &mut big);
        assert!(matches!(
            answer_with(big.to_vec()).await,
            Err(IdentifyError::MessageTooLarge(_))
        ));
        // Truncated.
        assert!(matches!(
            answer_with(vec![10, 1, 2]).await,
            Err(IdentifyError::Framing(_))
        ));
        // Nothing at all.
        assert!(matches!(
            answer_with(Vec::new()).await,
            Err(IdentifyError::Empty)
        ));
        // Garbage protobuf.
        assert!(matches!(
            answer_with(vec![3, 0xff, 0xff, 0xff]).await,
            Err(IdentifyError::InvalidMessage(_))
        ));
        // No key.
        let no_key = framed(&Identify {
            agent_version: Some("x".into()),
            ..Default::default()
        });
        assert!(matches!(
            answer_with(no_key).await,
            Err(IdentifyError::MissingPublicKey)
        ));
        // Too many messages.
        let one = framed(&Identify::default());
        let many: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * (MAX_MESSAGES + 1))
            .collect();
        assert!(matches!(
            answer_with(many).await,
            Err(IdentifyError::TooManyMessages)
        ));
    }

    fn signed(keypair: &Keypair, addr: &str) -> SignedPeerRecord {
        use mycel_core::record::{PeerRecord, PeerRecordFormat};
        SignedPeerRecord::new(
            keypair,
            PeerRecord::new(keypair.peer_id(), 1, vec![addr.parse().unwrap()]),
            PeerRecordFormat::Standard,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_signed_peer_record_travels_and_is_checked() {
        let keypair = Keypair::generate();
        let mut sent = info(&keypair);
        sent.signed_peer_record = Some(signed(&keypair, "/ip4/192.0.2.7/tcp/4001"));
        let got = answer_from(keypair.peer_id(), sent.encode()).await.unwrap();
        assert_eq!(got.signed_peer_record, sent.signed_peer_record);

        // Another peer's record, validly signed by that peer: dropped, the rest kept.
        let other = Keypair::generate();
        let mut forged = info(&keypair);
        forged.signed_peer_record = Some(signed(&other, "/ip4/192.0.2.8/tcp/4001"));
        let got = answer_from(keypair.peer_id(), forged.encode())
            .await
            .unwrap();
        assert_eq!(got.signed_peer_record, None);
        assert_eq!(got.agent_version, "mycel/test");

        // A tampered envelope and an oversized one: dropped too.
        // The message without its uvarint length prefix.
        let wire = sent.encode();
        let body = &wire[wire.iter().position(|b| b & 0x80 == 0).unwrap() + 1..];
        let mut tampered = Identify::decode(body).unwrap();
        let mut envelope = tampered.signed_peer_record.take().unwrap().to_vec();
        let last = envelope.len() - 1;
        envelope[last] ^= 1;
        tampered.signed_peer_record = Some(envelope.into());
        let got = answer_from(keypair.peer_id(), framed(&tampered))
            .await
            .unwrap();
        assert_eq!(got.signed_peer_record, None);
        let mut huge = Identify::decode(body).unwrap();
        huge.signed_peer_record = Some(vec![0u8; 5000].into());
        let got = answer_from(keypair.peer_id(), framed(&huge)).await.unwrap();
        assert_eq!(got.signed_peer_record, None);
    }

    #[tokio::test]
    async fn push_carries_partial_updates() {
        let keypair = Keypair::generate();
        let partial = framed(&Identify {
            listen_addrs: vec![
                "/ip4/1.2.3.4/tcp/9"
                    .parse::<Multiaddr>()
                    .unwrap()
                    .to_vec()
                    .into(),
            ],
            ..Default::default()
        });
        let (mut a, b) = duplex(64 * 1024);
        tokio::spawn(async move {
            a.write_all(&partial).await.unwrap();
            a.shutdown().await.unwrap();
        });
        let update = receive_push(b, keypair.public().to_peer_id())
            .await
            .unwrap();
        let mut known = info(&keypair);
        let agent = known.agent_version.clone();
        known.apply(update);
        assert_eq!(
            known.listen_addrs,
            vec!["/ip4/1.2.3.4/tcp/9".parse::<Multiaddr>().unwrap()]
        );
        assert_eq!(known.agent_version, agent);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Update::decode(&bytes);
        }

        #[test]
        fn any_info_round_trips(agent in ".{0,40}", protocols in proptest::collection::vec("/[a-z]{1,12}/1", 0..8)) {
            let keypair = Keypair::generate();
            let mut sent = info(&keypair);
            sent.agent_version = agent;
            sent.protocols = protocols;
            let bytes = sent.encode();
            let update = Update::decode(&bytes[varint_len(&bytes)..]).unwrap();
            prop_assert_eq!(update.agent_version.as_deref(), Some(sent.agent_version.as_str()));
            prop_assert_eq!(update.protocols.unwrap_or_default(), sent.protocols);
        }
    }

    fn varint_len(bytes: &[u8]) -> usize {
        bytes.iter().position(|b| b & 0x80 == 0).unwrap() + 1
    }
}
