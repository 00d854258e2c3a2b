//! yamux frames: the header (version, type, flags, stream id, length; 12 bytes, big
//! endian), a data frame's payload after it, and the codec that cuts them out of the
//! bytes read.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use mycel_muxing::{Codec, Decoded, OutFrame};

use crate::YamuxError;

/// Length of a frame header.
pub const HEADER_LEN: usize = 12;

/// The only version defined.
pub const VERSION: u8 = 0;

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// Stream data; the length is the payload size.
    Data = 0,
    /// A window increment for a stream; the length is the delta.
    WindowUpdate = 1,
    /// A ping; the length is an opaque value echoed back.
    Ping = 2,
    /// Session termination; the length is an error code.
    GoAway = 3,
}

/// Flag: opens a stream (or marks a ping request).
pub const SYN: u16 = 0x1;
/// Flag: acknowledges a stream (or marks a ping response).
pub const ACK: u16 = 0x2;
/// Flag: half-closes a stream.
pub const FIN: u16 = 0x4;
/// Flag: resets a stream.
pub const RST: u16 = 0x8;

/// Go-away code: normal termination.
pub const GO_AWAY_NORMAL: u32 = 0;
/// Go-away code: the remote broke the protocol.
pub const GO_AWAY_PROTOCOL_ERROR: u32 = 1;
/// Go-away code: an internal error.
pub const GO_AWAY_INTERNAL_ERROR: u32 = 2;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The frame type.
    pub kind: FrameType,
    /// SYN, ACK, FIN, RST bits.
    pub flags: u16,
    /// The stream; 0 for the session (ping, go away).
    pub stream_id: u32,
    /// Payload length, window delta, ping value or error code, by type.
    pub length: u32,
}

impl Header {
    /// A header of `kind`.
    pub fn new(kind: FrameType, flags: u16, stream_id: u32, length: u32) -> Self {
        Header {
            kind,
            flags,
            stream_id,
            length,
        }
    }

    /// Appends the 12 bytes of this header.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(VERSION);
        dst.put_u8(self.kind as u8);
        dst.put_u16(self.flags);
        dst.put_u32(self.stream_id);
        dst.put_u32(self.length);
    }

    /// The 12 bytes of this header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1] = self.kind as u8;
        out[2..4].copy_from_slice(&self.flags.to_be_bytes());
        out[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        out[8..12].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    /// Decodes a header; an unknown version or type is a protocol error.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, YamuxError> {
        if bytes[0] != VERSION {
            return Err(YamuxError::InvalidVersion(bytes[0]));
        }
        let kind = match bytes[1] {
            0 => FrameType::Data,
            1 => FrameType::WindowUpdate,
            2 => FrameType::Ping,
            3 => FrameType::GoAway,
            other => return Err(YamuxError::InvalidFrameType(other)),
        };
        Ok(Header {
            kind,
            flags: u16::from_be_bytes([bytes[2], bytes[3]]),
            stream_id: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            length: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        })
    }
}

/// A yamux frame: a header and, for data, its payload.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The header.
    pub header: Header,
    /// The data of a data frame; empty otherwise.
    pub payload: Bytes,
}

impl Frame {
    pub(crate) fn control(kind: FrameType, flags: u16, stream_id: u32, length: u32) -> Self {
        Frame {
            header: Header::new(kind, flags, stream_id, length),
            payload: Bytes::new(),
        }
    }

    pub(crate) fn stream_flags(id: u32, flags: u16, delta: u32) -> Self {
        Frame::control(FrameType::WindowUpdate, flags, id, delta)
    }
}

impl OutFrame for Frame {
    fn encode_head(&self, dst: &mut BytesMut) {
        self.header.encode(dst);
    }

    fn body(&self) -> &Bytes {
        &self.payload
    }
}

/// Cuts frames out of the bytes read: a header, then a data frame's payload.
pub struct YamuxCodec {
    /// No window is ever larger: a longer data frame is refused before it is read.
    max_window: u32,
    /// A data frame's header whose payload has not all arrived.
    pending: Option<Header>,
}

impl YamuxCodec {
    /// A codec refusing data frames longer than `max_window`.
    pub fn new(max_window: u32) -> Self {
        YamuxCodec {
            max_window,
            pending: None,
        }
    }
}

impl Codec for YamuxCodec {
    type Frame = Frame;
    type Error = YamuxError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Frame>, YamuxError> {
        let header = match self.pending.take() {
            Some(header) => header,
            None => {
                if buf.len() < HEADER_LEN {
                    return Ok(Decoded::Need(HEADER_LEN));
                }
                let header = Header::decode(buf[..HEADER_LEN].try_into().expect("12 bytes"))?;
                buf.advance(HEADER_LEN);
                if header.kind == FrameType::Data && header.length > self.max_window {
                    return Err(YamuxError::WindowViolation(header.stream_id));
                }
                header
            }
        };
        if header.kind != FrameType::Data || header.length == 0 {
            return Ok(Decoded::Frame(Frame {
                header,
                payload: Bytes::new(),
            }));
        }
        let len = header.length as usize;
        if buf.len() < len {
            self.pending = Some(header);
            return Ok(Decoded::Need(len));
        }
        Ok(Decoded::Frame(Frame {
            header,
            payload: buf.split_to(len).freeze(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn header_layout_is_big_endian_as_the_spec_says() {
        let h = Header::new(FrameType::WindowUpdate, SYN | FIN, 0x0102_0304, 0x0004_0000);
        assert_eq!(
            h.to_bytes(),
            [0, 1, 0, 5, 1, 2, 3, 4, 0, 4, 0, 0],
            "version 0, type 1, flags 0x0005, id, delta 256 KiB"
        );
        let mut buf = BytesMut::new();
        h.encode(&mut buf);
        assert_eq!(&buf[..], &h.to_bytes());
        let go_away = Header::new(FrameType::GoAway, 0, 0, GO_AWAY_PROTOCOL_ERROR);
        assert_eq!(go_away.to_bytes(), [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn bad_version_and_type_are_rejected() {
        let mut bytes = Header::new(FrameType::Data, 0, 1, 0).to_bytes();
        bytes[0] = 1;
        assert!(matches!(
            Header::decode(&bytes),
            Err(YamuxError::InvalidVersion(1))
        ));
        bytes[0] = 0;
        bytes[1] = 4;
        assert!(matches!(
            Header::decode(&bytes),
            Err(YamuxError::InvalidFrameType(4))
        ));
    }

    proptest! {
        #[test]
        fn headers_round_trip(kind in 0u8..4, flags: u16, id: u32, len: u32) {
            let mut bytes = [0u8; HEADER_LEN];
            bytes[1] = kind;
            bytes[2..4].copy_from_slice(&flags.to_be_bytes());
            bytes[4..8].copy_from_slice(&id.to_be_bytes());
            bytes[8..12].copy_from_slice(&len.to_be_bytes());
            let h = Header::decode(&bytes).unwrap();
            prop_assert_eq!(h.to_bytes(), bytes);
        }
    }
}
