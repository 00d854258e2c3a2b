//! The libp2p layer of the handshake: frames on the wire, the signed identity payload,
//! and the stream muxers offered in its extensions.

use mycel_core::{Keypair, PeerId, ProtocolId, PublicKey};
use mycel_proto::{noise as pb, prost::Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use x25519_dalek::{PublicKey as DhPublic, StaticSecret};

use crate::{
    Config, NoiseError, NoiseOutput,
    protocol::{DH_LEN, XxHandshake},
};

/// What the identity signature covers: this prefix, then the static DH public key.
pub(crate) const STATIC_KEY_DOMAIN: &[u8] = b"noise-libp2p-static-key:";

/// Most stream muxers accepted in the handshake's extensions.
const MAX_MUXERS: usize = 16;

/// What the handshake learned about the remote.
#[derive(Debug, Clone)]
pub struct RemoteIdentity {
    /// The authenticated peer.
    pub peer_id: PeerId,
    /// Its identity key.
    pub public_key: PublicKey,
    /// The muxer both sides agreed on inside the handshake, if both offered some.
    pub muxer: Option<ProtocolId>,
}

async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, msg: &[u8]) -> Result<(), NoiseError> {
    let len = u16::try_from(msg.len())
        .map_err(|_| NoiseError::InvalidPayload("handshake message over 65535 bytes".into()))?;
    let mut frame = Vec::with_capacity(2 + msg.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    io.write_all(&frame).await?;
    io.flush().await?;
    Ok(())
}

async fn read_frame<R: AsyncRead + Unpin>(io: &mut R) -> Result<Vec<u8>, NoiseError> {
    let mut len = [0u8; 2];
    io.read_exact(&mut len).await?;
    let len = usize::from(u16::from_be_bytes(len));
    let mut msg = vec![0u8; len];
    io.read_exact(&mut msg).await?;
    Ok(msg)
}

fn encode_payload(keypair: &Keypair, static_key: &[u8; DH_LEN], muxers: &[ProtocolId]) -> Vec<u8> {
    let mut signed = STATIC_KEY_DOMAIN.to_vec();
    signed.extend_from_slice(static_key);
    pb::NoiseHandshakePayload {
        identity_key: Some(keypair.public().encode_protobuf().into()),
        identity_sig: Some(keypair.sign(&signed).into()),
        extensions: (!muxers.is_empty()).then(|| pb::NoiseExtensions {
            webtransport_certhashes: Vec::new(),
            stream_muxers: muxers.iter().map(|m| m.as_str().to_owned()).collect(),
        }),
    }
    .encode_to_vec()
}

/// Checks the remote's payload against its static DH key; returns its identity and the
/// muxers it offered.
fn verify_payload(
    payload: &[u8],
    remote_static: &[u8; DH_LEN],
) -> Result<(PublicKey, Vec<String>), NoiseError> {
    let msg = pb::NoiseHandshakePayload::decode(payload)
        .map_err(|e| NoiseError::InvalidPayload(e.to_string()))?;
    let key = msg
        .identity_key
        .ok_or(NoiseError::MissingIdentity("identity_key"))?;
    let sig = msg
        .identity_sig
        .ok_or(NoiseError::MissingIdentity("identity_sig"))?;
    let key = PublicKey::decode_protobuf(&key)?;
    let mut signed = STATIC_KEY_DOMAIN.to_vec();
    signed.extend_from_slice(remote_static);
    key.verify(&signed, &sig).map_err(|e| match e {
        mycel_core::KeyError::InvalidSignature => NoiseError::BadSignature,
        other => NoiseError::InvalidIdentityKey(other),
    })?;
    let mut muxers = msg.extensions.map(|e| e.stream_muxers).unwrap_or_default();
    muxers.truncate(MAX_MUXERS);
    Ok((key, muxers))
}

/// The initiator's first muxer that the responder also offered. `None` when either
/// side offered none (then the muxer is negotiated afterwards with multistream-select).
fn choose_muxer(
    initiator: &[String],
    responder: &[String],
) -> Result<Option<ProtocolId>, NoiseError> {
    if initiator.is_empty() || responder.is_empty() {
        return Ok(None);
    }
    match initiator.iter().find(|m| responder.contains(m)) {
        Some(m) => ProtocolId::new(m)
            .map(Some)
            .map_err(|e| NoiseError::InvalidPayload(e.to_string())),
        None => Err(NoiseError::NoCommonMuxer {
            ours: initiator.to_vec(),
            theirs: responder.to_vec(),
        }),
    }
}

fn our_muxer_names(config: &Config) -> Vec<String> {
    config
        .muxers
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect()
}

fn new_handshake(config: &Config, initiator: bool) -> (XxHandshake, [u8; DH_LEN]) {
    let s = StaticSecret::random_from_rng(rand::rngs::OsRng);
    let e = StaticSecret::random_from_rng(rand::rngs::OsRng);
    let s_pub = DhPublic::from(&s).to_bytes();
    (
        XxHandshake::new(config.backend, initiator, &[], s, e),
        s_pub,
    )
}

pub(crate) async fn outbound<Io>(
    config: &Config,
    mut io: Io,
    expected: Option<PeerId>,
) -> Result<(NoiseOutput<Io>, RemoteIdentity), NoiseError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let (mut hs, s_pub) = new_handshake(config, true);
    // Message 1 carries no payload: nothing in it would be encrypted.
    write_frame(&mut io, &hs.write_message_1(&[])?).await?;

    let payload = hs.read_message_2(&read_frame(&mut io).await?)?;
    let remote_static = hs.remote_static().ok_or(NoiseError::HandshakeOutOfOrder)?;
    let (public_key, theirs) = verify_payload(&payload, &remote_static)?;
    let peer_id = public_key.to_peer_id();
    if let Some(expected) = expected.filter(|e| *e != peer_id) {
        return Err(NoiseError::PeerIdMismatch {
            expected,
            actual: peer_id,
        });
    }
    let muxer = choose_muxer(&our_muxer_names(config), &theirs)?;

    let payload = encode_payload(&config.keypair, &s_pub, &config.muxers);
    write_frame(&mut io, &hs.write_message_3(&payload)?).await?;
    let finished = hs.finish()?;
    tracing::debug!(peer = %peer_id, ?muxer, "noise handshake done (initiator)");
    Ok((
        NoiseOutput::new(io, finished.send, finished.recv),
        RemoteIdentity {
            peer_id,
            public_key,
            muxer,
        },
    ))
}

pub(crate) async fn inbound<Io>(
    config: &Config,
    mut io: Io,
) -> Result<(NoiseOutput<Io>, RemoteIdentity), NoiseError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let (mut hs, s_pub) = new_handshake(config, false);
    // A payload in message 1 is not authenticated; libp2p sends none and we ignore it.
    let _ = hs.read_message_1(&read_frame(&mut io).await?)?;

    let payload = encode_payload(&config.keypair, &s_pub, &config.muxers);
    write_frame(&mut io, &hs.write_message_2(&payload)?).await?;

    let payload = hs.read_message_3(&read_frame(&mut io).await?)?;
    let remote_static = hs.remote_static().ok_or(NoiseError::HandshakeOutOfOrder)?;
    let (public_key, theirs) = verify_payload(&payload, &remote_static)?;
    let peer_id = public_key.to_peer_id();
    let muxer = choose_muxer(&theirs, &our_muxer_names(config))?;
    let finished = hs.finish()?;
    tracing::debug!(peer = %peer_id, ?muxer, "noise handshake done (responder)");
    Ok((
        NoiseOutput::new(io, finished.send, finished.recv),
        RemoteIdentity {
            peer_id,
            public_key,
            muxer,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn payload_signed_over_another_static_key_is_rejected() {
        let keypair = Keypair::generate();
        let payload = encode_payload(&keypair, &[1; DH_LEN], &[]);
        let (key, muxers) = verify_payload(&payload, &[1; DH_LEN]).unwrap();
        assert_eq!(key, keypair.public());
        assert!(muxers.is_empty());
        assert!(matches!(
            verify_payload(&payload, &[2; DH_LEN]),
            Err(NoiseError::BadSignature)
        ));
    }

    #[test]
    fn payload_without_identity_or_with_garbage_is_rejected() {
        let no_sig = pb::NoiseHandshakePayload {
            identity_key: Some(Keypair::generate().public().encode_protobuf().into()),
            identity_sig: None,
            extensions: None,
        };
        assert!(matches!(
            verify_payload(&no_sig.encode_to_vec(), &[1; DH_LEN]),
            Err(NoiseError::MissingIdentity("identity_sig"))
        ));
        assert!(matches!(
            verify_payload(&[0xff, 0xff, 0xff], &[1; DH_LEN]),
            Err(NoiseError::InvalidPayload(_))
        ));
        let bad_key = pb::NoiseHandshakePayload {
            identity_key: Some(vec![0x08, 0x01, 0x12, 0x01, 0x00].into()),
            identity_sig: Some(vec![0; 64].into()),
            extensions: None,
        };
        assert!(matches!(
            verify_payload(&bad_key.encode_to_vec(), &[1; DH_LEN]),
            Err(NoiseError::InvalidIdentityKey(_))
        ));
    }

    #[test]
    fn muxer_choice_follows_the_initiator_as_the_spec_example() {
        // Spec example: responder prefers mplex, initiator yamux; result yamux.
        let chosen = choose_muxer(
            &names(&["/yamux/1.0.0", "/mplex/6.7.0"]),
            &names(&["/mplex/6.7.0", "/yamux/1.0.0"]),
        )
        .unwrap();
        assert_eq!(chosen.unwrap(), "/yamux/1.0.0");
        assert!(
            choose_muxer(&[], &names(&["/yamux/1.0.0"]))
                .unwrap()
                .is_none()
        );
        assert!(
            choose_muxer(&names(&["/yamux/1.0.0"]), &[])
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            choose_muxer(&names(&["/a"]), &names(&["/b"])),
            Err(NoiseError::NoCommonMuxer { .. })
        ));
    }
}
