//! The "p2p" capability every RLPx connection carries (devp2p `rlpx.md`, version 5):
//! Hello, Disconnect, Ping and Pong, and how any message goes into a frame: an RLP
//! message id, then the RLP data, snappy-compressed once both Hellos said version 5.

use alloy_rlp::{Decodable, Encodable, Header};
use bytes::{BufMut, BytesMut};

use crate::NodeId;

/// The p2p protocol version mycel speaks.
pub const PROTOCOL_VERSION: u64 = 5;
/// A Hello larger than this is refused (as go-ethereum does).
pub const MAX_HELLO_LEN: usize = 2048;
/// A message whose uncompressed data would be larger is refused before decompressing.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;
/// Message ids below this belong to "p2p"; capabilities start here.
pub const BASE_PROTOCOL_LEN: u64 = 0x10;

/// The p2p message ids.
pub mod id {
    /// Hello.
    pub const HELLO: u64 = 0x00;
    /// Disconnect.
    pub const DISCONNECT: u64 = 0x01;
    /// Ping.
    pub const PING: u64 = 0x02;
    /// Pong.
    pub const PONG: u64 = 0x03;
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// The frame holds no message id.
    #[error("empty frame")]
    Empty,
    /// Bad RLP where the spec wants a list or an integer.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Larger than allowed, before or after decompression.
    #[error("message of {len} bytes (at most {max})")]
    TooLarge {
        /// Its size, or the size its snappy header announces.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// Not valid snappy.
    #[error("bad snappy data: {0}")]
    Snappy(String),
}

/// A capability and its version, as Hello lists them (`eth/68`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// Its name (at most 8 ASCII characters).
    pub name: String,
    /// Its version.
    pub version: u64,
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// The first message each side sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The p2p version ([`PROTOCOL_VERSION`]; others are tolerated).
    pub protocol_version: u64,
    /// The client's name, free text.
    pub client_id: String,
    /// What it speaks.
    pub capabilities: Vec<Capability>,
    /// Legacy; 0 when not listening. Ignored.
    pub listen_port: u64,
    /// Its node id.
    pub node_id: NodeId,
}

impl Hello {
    /// The RLP list (extra elements a future version may add are not written).
    pub fn encode(&self, out: &mut dyn BufMut) {
        let caps_len: usize = self.capabilities.iter().map(cap_len).sum();
        let payload_length = self.protocol_version.length()
            + self.client_id.as_str().length()
            + Header {
                list: true,
                payload_length: caps_len,
            }
            .length()
            + caps_len
            + self.listen_port.length()
            + self.node_id.0[..].length();
        Header {
            list: true,
            payload_length,
        }
        .encode(out);
        self.protocol_version.encode(out);
        self.client_id.as_str().encode(out);
        Header {
            list: true,
            payload_length: caps_len,
        }
        .encode(out);
        for cap in &self.capabilities {
            Header {
                list: true,
                payload_length: cap.name.as_str().length() + cap.version.length(),
            }
            .encode(out);
            cap.name.as_str().encode(out);
            cap.version.encode(out);
        }
        self.listen_port.encode(out);
        self.node_id.0[..].encode(out);
    }

    /// Reads a Hello's RLP list, ignoring elements after the node id.
    pub fn decode(data: &[u8]) -> Result<Self, MessageError> {
        if data.len() > MAX_HELLO_LEN {
            return Err(MessageError::TooLarge {
                len: data.len(),
                max: MAX_HELLO_LEN,
            });
        }
        let bad = |what| move |_| MessageError::Malformed(what);
        let mut buf = data;
        let mut list = Header::decode_bytes(&mut buf, true).map_err(bad("hello"))?;
        let protocol_version = u64::decode(&mut list).map_err(bad("hello version"))?;
        let client_id = Header::decode_str(&mut list).map_err(bad("hello client id"))?;
        let mut caps = Header::decode_bytes(&mut list, true).map_err(bad("hello capabilities"))?;
        let mut capabilities = Vec::new();
        while !caps.is_empty() {
            let mut cap = Header::decode_bytes(&mut caps, true).map_err(bad("capability"))?;
            let name = Header::decode_str(&mut cap).map_err(bad("capability name"))?;
            let version = u64::decode(&mut cap).map_err(bad("capability version"))?;
            capabilities.push(Capability {
                name: name.to_string(),
                version,
            });
        }
        let listen_port = u64::decode(&mut list).map_err(bad("hello listen port"))?;
        let id = Header::decode_bytes(&mut list, false).map_err(bad("hello node id"))?;
        let node_id = NodeId(
            id.try_into()
                .map_err(|_| MessageError::Malformed("hello node id"))?,
        );
        Ok(Hello {
            protocol_version,
            client_id: client_id.to_string(),
            capabilities,
            listen_port,
            node_id,
        })
    }
}

fn cap_len(cap: &Capability) -> usize {
    let payload_length = cap.name.as_str().length() + cap.version.length();
    Header {
        list: true,
        payload_length,
    }
    .length()
        + payload_length
}

/// Why a side disconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// 0x00
    Requested,
    /// 0x01
    TcpError,
    /// 0x02: a malformed message, bad RLP, ...
    ProtocolBreach,
    /// 0x03
    UselessPeer,
    /// 0x04
    TooManyPeers,
    /// 0x05
    AlreadyConnected,
    /// 0x06
    IncompatibleVersion,
    /// 0x07
    NullIdentity,
    /// 0x08
    ClientQuitting,
    /// 0x09
    UnexpectedIdentity,
    /// 0x0a: connected to itself.
    SelfConnection,
    /// 0x0b
    PingTimeout,
    /// 0x10: specific to a subprotocol.
    Subprotocol,
    /// Any other code.
    Other(u8),
}

impl DisconnectReason {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        use DisconnectReason::*;
        match self {
            Requested => 0x00,
            TcpError => 0x01,
            ProtocolBreach => 0x02,
            UselessPeer => 0x03,
            TooManyPeers => 0x04,
            AlreadyConnected => 0x05,
            IncompatibleVersion => 0x06,
            NullIdentity => 0x07,
            ClientQuitting => 0x08,
            UnexpectedIdentity => 0x09,
            SelfConnection => 0x0a,
            PingTimeout => 0x0b,
            Subprotocol => 0x10,
            Other(code) => code,
        }
    }

    /// The reason a code stands for.
    pub fn from_code(code: u8) -> Self {
        use DisconnectReason::*;
        match code {
            0x00 => Requested,
            0x01 => TcpError,
            0x02 => ProtocolBreach,
            0x03 => UselessPeer,
            0x04 => TooManyPeers,
            0x05 => AlreadyConnected,
            0x06 => IncompatibleVersion,
            0x07 => NullIdentity,
            0x08 => ClientQuitting,
            0x09 => UnexpectedIdentity,
            0x0a => SelfConnection,
            0x0b => PingTimeout,
            0x10 => Subprotocol,
            other => Other(other),
        }
    }

    /// Reads `[reason]`; also a bare integer and an empty list (requested), which some
    /// implementations send.
    pub fn decode(data: &[u8]) -> Result<Self, MessageError> {
        let bad = |_| MessageError::Malformed("disconnect reason");
        let mut buf = data;
        let code = if data.first().is_some_and(|b| *b >= 0xc0) {
            let mut list = Header::decode_bytes(&mut buf, true).map_err(bad)?;
            if list.is_empty() {
                0
            } else {
                u8::decode(&mut list).map_err(bad)?
            }
        } else {
            u8::decode(&mut buf).map_err(bad)?
        };
        Ok(Self::from_code(code))
    }

    /// `[reason]`.
    pub fn encode(self, out: &mut dyn BufMut) {
        let code = self.code();
        Header {
            list: true,
            payload_length: code.length(),
        }
        .encode(out);
        code.encode(out);
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} (0x{:02x})", self, self.code())
    }
}

/// Writes a frame's data: the message id as RLP, then `data`, snappy-compressed when
/// `compress` (after both Hellos of version 5 or later).
pub fn encode_message(id: u64, data: &[u8], compress: bool, out: &mut BytesMut) {
    id.encode(out);
    if compress {
        let mut encoder = snap::raw::Encoder::new();
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(data.len()), 0);
        let n = encoder
            .compress(data, &mut out[start..])
            .expect("the buffer holds the largest compressed size");
        out.truncate(start + n);
    } else {
        out.extend_from_slice(data);
    }
}

/// Reads a frame's data: (message id, message data), decompressing when `compressed`.
/// A message that is, or would decompress to, more than `max` bytes is refused first.
/// A Disconnect that is not valid snappy is read as it is: ethereumjs sends Disconnect
/// uncompressed even after Hello (and its own reader tries both).
pub fn decode_message(
    frame: &[u8],
    compressed: bool,
    max: usize,
) -> Result<(u64, Vec<u8>), MessageError> {
    if frame.is_empty() {
        return Err(MessageError::Empty);
    }
    let mut buf = frame;
    let id = u64::decode(&mut buf).map_err(|_| MessageError::Malformed("message id"))?;
    if !compressed {
        if buf.len() > max {
            return Err(MessageError::TooLarge {
                len: buf.len(),
                max,
            });
        }
        return Ok((id, buf.to_vec()));
    }
    let decompressed = snap::raw::decompress_len(buf)
        .map_err(|e| MessageError::Snappy(e.to_string()))
        .and_then(|len| {
            if len > max {
                return Err(MessageError::TooLarge { len, max });
            }
            snap::raw::Decoder::new()
                .decompress_vec(buf)
                .map_err(|e| MessageError::Snappy(e.to_string()))
        });
    match decompressed {
        Ok(data) => Ok((id, data)),
        Err(MessageError::Snappy(_)) if id == self::id::DISCONNECT && buf.len() <= 16 => {
            Ok((id, buf.to_vec()))
        }
        Err(e) => Err(e),
    }
}

/// An empty RLP list: the data of Ping and Pong.
pub const EMPTY_LIST: [u8; 1] = [0xc0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_oversize_or_broken_ones_are_refused() {
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            client_id: "mycel/0.1.0".into(),
            capabilities: vec![
                Capability {
                    name: "eth".into(),
                    version: 68,
                },
                Capability {
                    name: "test".into(),
                    version: 1,
                },
            ],
            listen_port: 0,
            node_id: NodeId([7; 64]),
        };
        let mut out = BytesMut::new();
        hello.encode(&mut out);
        assert_eq!(Hello::decode(&out).unwrap(), hello);
        for cut in 0..out.len() {
            assert!(Hello::decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(
            Hello::decode(&vec![0xc0; MAX_HELLO_LEN + 1]),
            Err(MessageError::TooLarge { .. })
        ));
    }

    #[test]
    fn disconnect_reasons_in_each_encoding() {
        for code in [0u8, 2, 8, 0x0b, 0x10, 0x42] {
            let reason = DisconnectReason::from_code(code);
            assert_eq!(reason.code(), code);
            let mut out = BytesMut::new();
            reason.encode(&mut out);
            assert_eq!(DisconnectReason::decode(&out).unwrap(), reason);
        }
        // A bare integer, and an empty list.
        assert_eq!(
            DisconnectReason::decode(&[0x08]).unwrap(),
            DisconnectReason::ClientQuitting
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc0]).unwrap(),
            DisconnectReason::Requested
        );
        assert!(DisconnectReason::decode(&[0xc2, 0xff]).is_err());
    }

    #[test]
    fn a_disconnect_sent_uncompressed_after_hello_is_read_as_it_is() {
        // ethereumjs: Disconnect(client quitting) as a bare, uncompressed integer.
        assert_eq!(
            decode_message(&[0x01, 0x08], true, MAX_MESSAGE_LEN),
            Ok((id::DISCONNECT, vec![0x08]))
        );
        // Any other message must be valid snappy.
        assert!(matches!(
            decode_message(&[0x02, 0x08], true, MAX_MESSAGE_LEN),
            Err(MessageError::Snappy(_))
        ));
    }

    #[test]
    fn messages_round_trip_compressed_and_snappy_bombs_are_refused_unopened() {
        for compress in [false, true] {
            let mut frame = BytesMut::new();
            encode_message(0x11, &[0xab; 5000], compress, &mut frame);
            let (id, data) = decode_message(&frame, compress, MAX_MESSAGE_LEN).unwrap();
            assert_eq!((id, data), (0x11, vec![0xab; 5000]));
        }
        // A snappy header announcing 32 MiB: refused from the header alone.
        let mut bomb = BytesMut::new();
        0x10u64.encode(&mut bomb);
        let mut len = 32u32 << 20;
        while len >= 0x80 {
            bomb.put_u8((len as u8) | 0x80);
            len >>= 7;
        }
        bomb.put_u8(len as u8);
        assert_eq!(
            decode_message(&bomb, true, MAX_MESSAGE_LEN),
            Err(MessageError::TooLarge {
                len: 32 << 20,
                max: MAX_MESSAGE_LEN
            })
        );
        assert_eq!(decode_message(&[], true, 10), Err(MessageError::Empty));
        assert!(matches!(
            decode_message(&[0x02, 0x05, 0xff, 0xff], true, 10),
            Err(MessageError::Snappy(_))
        ));
    }
}
