//! The two roles of a negotiation.

use mycel_core::ProtocolId;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    MAX_PROPOSALS, Negotiated, NegotiationError,
    message::{Message, decode_protocol_list},
};

/// Negotiates as the dialer: proposes `protocols` in order of preference until the
/// listener accepts one. The header and first proposal leave in one write.
///
/// Returns the accepted protocol and the stream, which may already hold bytes the
/// listener sent behind its confirmation.
pub async fn dialer_select<Io>(
    io: Io,
    protocols: &[ProtocolId],
) -> Result<(ProtocolId, Negotiated<Io>), NegotiationError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = Negotiated::new(io);
    stream.queue(Message::Header);
    let mut header_seen = false;
    for protocol in protocols {
        stream.queue(proposal(protocol));
        stream.flush_queued().await?;
        loop {
            let msg = stream.recv().await?;
            if !header_seen {
                match msg {
                    Message::Header => {
                        header_seen = true;
                        continue;
                    }
                    other => return Err(NegotiationError::InvalidHeader(other.describe())),
                }
            }
            match msg {
                Message::Protocol(echo) if echo == protocol.as_str().as_bytes() => {
                    tracing::trace!(%protocol, "protocol accepted");
                    return Ok((protocol.clone(), stream));
                }
                Message::NotAvailable => {
                    tracing::trace!(%protocol, "protocol refused");
                    break;
                }
                other => return Err(NegotiationError::UnexpectedMessage(other.describe())),
            }
        }
    }
    Err(NegotiationError::ProtocolNotSupported)
}

/// Negotiates lazily as a dialer with a single protocol: returns at once, assuming the
/// listener accepts. The header and proposal are sent with the first write (or flush,
/// or read), so application data rides in the same packet and a round trip is saved.
/// The first read checks the listener's answer; [`Negotiated::complete`] checks it
/// without reading.
pub fn dialer_select_lazy<Io>(io: Io, protocol: ProtocolId) -> Negotiated<Io>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    Negotiated::expecting(io, protocol)
}

/// Negotiates as the listener: answers proposals with an echo (accept) or `na` until one
/// of `protocols` is proposed, and answers `ls` with `protocols`. Bytes the dialer sent
/// behind its proposal (a lazy dialer's data) stay in the returned stream.
pub async fn listener_select<Io>(
    io: Io,
    protocols: &[ProtocolId],
) -> Result<(ProtocolId, Negotiated<Io>), NegotiationError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = Negotiated::new(io);
    match stream.recv().await? {
        Message::Header => {}
        other => return Err(NegotiationError::InvalidHeader(other.describe())),
    }
    stream.queue(Message::Header);
    if !stream.has_buffered_message() {
        // The dialer may wait for our header before proposing.
        stream.flush_queued().await?;
    }
    for _ in 0..MAX_PROPOSALS {
        match stream.recv().await? {
            Message::Protocol(proposed) => {
                match protocols.iter().find(|p| p.as_str().as_bytes() == proposed) {
                    Some(protocol) => {
                        stream.queue(Message::Protocol(proposed));
                        stream.flush_queued().await?;
                        tracing::trace!(%protocol, "protocol accepted");
                        return Ok((protocol.clone(), stream));
                    }
                    None => {
                        tracing::debug!(
                            protocol = %String::from_utf8_lossy(&proposed),
                            "unsupported protocol proposed, answering na"
                        );
                        stream.queue(Message::NotAvailable);
                        stream.flush_queued().await?;
                    }
                }
            }
            Message::ListProtocols => {
                stream.queue_protocol_list(protocols);
                stream.flush_queued().await?;
            }
            other => return Err(NegotiationError::UnexpectedMessage(other.describe())),
        }
    }
    Err(NegotiationError::TooManyProposals)
}

/// Asks a listener for its protocols with `ls`. The listener keeps waiting for a
/// proposal afterwards; the stream is returned for that.
///
/// `ls` is optional in the spec and encoded differently by some implementations: use it
/// for diagnostics, never to decide what to propose.
pub async fn list_protocols<Io>(io: Io) -> Result<(Vec<String>, Negotiated<Io>), NegotiationError>
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = Negotiated::new(io);
    stream.queue(Message::Header);
    stream.queue(Message::ListProtocols);
    stream.flush_queued().await?;
    match stream.recv().await? {
        Message::Header => {}
        other => return Err(NegotiationError::InvalidHeader(other.describe())),
    }
    match stream.recv().await? {
        Message::Protocol(list) => Ok((decode_protocol_list(list)?, stream)),
        other => Err(NegotiationError::UnexpectedMessage(other.describe())),
    }
}

fn proposal(protocol: &ProtocolId) -> Message {
    Message::Protocol(protocol.as_str().as_bytes().to_vec().into())
}
