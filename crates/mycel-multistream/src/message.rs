//! The wire format: every message is `uvarint(len) || text || '\n'`, the newline counted
//! in `len`.

use bytes::{BufMut, Bytes, BytesMut};
use mycel_core::framing::{decode_length_prefixed, encode_length_prefixed};

use crate::{MAX_MESSAGE_LEN, NegotiationError};

/// The protocol id of multistream-select itself, sent first by both sides.
pub const HEADER: &[u8] = b"/multistream/1.0.0";
/// "not available": the listener does not support the proposed protocol.
pub const NA: &[u8] = b"na";
/// A request for the listener's protocols.
pub const LS: &[u8] = b"ls";

/// One multistream-select message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Header,
    NotAvailable,
    ListProtocols,
    /// A protocol proposal, or its echo. Raw bytes: a peer may propose anything.
    Protocol(Bytes),
}

impl Message {
    pub(crate) fn encode(&self, dst: &mut BytesMut) {
        let text: &[u8] = match self {
            Message::Header => HEADER,
            Message::NotAvailable => NA,
            Message::ListProtocols => LS,
            Message::Protocol(p) => p,
        };
        encode_line(text, dst);
    }

    /// Interprets a message payload (newline already stripped).
    pub(crate) fn decode(text: Bytes) -> Message {
        match &text[..] {
            HEADER => Message::Header,
            NA => Message::NotAvailable,
            LS => Message::ListProtocols,
            _ => Message::Protocol(text),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Message::Header => "/multistream/1.0.0".into(),
            Message::NotAvailable => "na".into(),
            Message::ListProtocols => "ls".into(),
            Message::Protocol(p) => String::from_utf8_lossy(p).into_owned(),
        }
    }
}

/// Appends `uvarint(len(text) + 1) || text || '\n'`.
pub(crate) fn encode_line(text: &[u8], dst: &mut BytesMut) {
    let mut line = BytesMut::with_capacity(text.len() + 1);
    line.put_slice(text);
    line.put_u8(b'\n');
    encode_length_prefixed(&line, dst);
}

/// Takes one whole message off `src`: its text without the trailing newline.
pub(crate) fn decode_line(src: &mut BytesMut) -> Result<Option<Bytes>, NegotiationError> {
    let Some(mut frame) = decode_length_prefixed(src, MAX_MESSAGE_LEN)? else {
        return Ok(None);
    };
    if frame.last() != Some(&b'\n') {
        return Err(NegotiationError::InvalidMessage("missing trailing newline"));
    }
    frame.truncate(frame.len() - 1);
    Ok(Some(frame.freeze()))
}

/// The body of an `ls` response: each protocol as its own message, then a newline.
pub(crate) fn encode_protocol_list<'a>(
    protocols: impl IntoIterator<Item = &'a str>,
    dst: &mut BytesMut,
) {
    let mut body = BytesMut::new();
    for p in protocols {
        let mut entry = BytesMut::new();
        encode_line(p.as_bytes(), &mut entry);
        // Never send a response the remote cannot read.
        if body.len() + entry.len() + 1 > MAX_MESSAGE_LEN {
            break;
        }
        body.extend_from_slice(&entry);
    }
    body.put_u8(b'\n');
    encode_length_prefixed(&body, dst);
}

/// Parses an `ls` response's text (outer newline stripped): a run of messages.
pub(crate) fn decode_protocol_list(text: Bytes) -> Result<Vec<String>, NegotiationError> {
    let mut rest = BytesMut::from(&text[..]);
    let mut protocols = Vec::new();
    while !rest.is_empty() {
        match decode_line(&mut rest)? {
            Some(p) => protocols.push(String::from_utf8_lossy(&p).into_owned()),
            None => return Err(NegotiationError::InvalidMessage("truncated protocol list")),
        }
    }
    Ok(protocols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_encode_as_in_the_spec() {
        let mut buf = BytesMut::new();
        Message::NotAvailable.encode(&mut buf);
        assert_eq!(
            &buf[..],
            &[0x03, b'n', b'a', b'\n'],
            "spec: na is 0x036e610a"
        );
        buf.clear();
        Message::ListProtocols.encode(&mut buf);
        assert_eq!(
            &buf[..],
            &[0x03, b'l', b's', b'\n'],
            "spec: ls is 0x036c730a"
        );
        buf.clear();
        Message::Header.encode(&mut buf);
        assert_eq!(&buf[..], b"\x13/multistream/1.0.0\n");
    }

    #[test]
    fn protocol_list_matches_the_spec_layout() {
        let mut buf = BytesMut::new();
        encode_protocol_list(["/a/1", "/bb"], &mut buf);
        // <total><len>/a/1\n<len>/bb\n\n
        assert_eq!(&buf[..], b"\x0c\x05/a/1\n\x04/bb\n\n");
        let text = decode_line(&mut buf).unwrap().unwrap();
        assert_eq!(decode_protocol_list(text).unwrap(), vec!["/a/1", "/bb"]);
    }

    #[test]
    fn a_message_without_newline_is_invalid() {
        let mut buf = BytesMut::from(&b"\x02na"[..]);
        assert!(matches!(
            decode_line(&mut buf),
            Err(NegotiationError::InvalidMessage(_))
        ));
    }
}
