//! The wire format: `uvarint(stream_id << 3 | flag) || uvarint(len) || data`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use mycel_core::framing::decode_length;

use crate::MplexError;

/// Largest message body the spec allows: 1 MiB.
pub const MAX_MESSAGE_LEN: usize = 1024 * 1024;

/// Largest stream id: the header varint holds at most 63 bits, three of them flags.
pub const MAX_STREAM_ID: u64 = (1 << 60) - 1;

/// Messages larger than this are read into [`READ_BLOCK`]-sized buffers.
const BULK_MESSAGE: usize = 64 * 1024;
/// Size of a fresh read buffer for bulk data.
const READ_BLOCK: usize = 1024 * 1024;

/// Who opened the stream a message is about, from the sender's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The sender opened the stream.
    Initiator,
    /// The sender's peer opened the stream.
    Receiver,
}

/// One mplex message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Flag 0: opens stream `id`; the data is its name.
    NewStream {
        /// The new stream's id.
        id: u64,
        /// The stream's name (for debugging).
        name: Bytes,
    },
    /// Flags 1 (receiver) and 2 (initiator): data on a stream.
    Data {
        /// The stream.
        id: u64,
        /// Whose stream it is, from the sender's view.
        side: Side,
        /// The bytes.
        data: Bytes,
    },
    /// Flags 3 (receiver) and 4 (initiator): the sender closed its writing side.
    Close {
        /// The stream.
        id: u64,
        /// Whose stream it is, from the sender's view.
        side: Side,
    },
    /// Flags 5 (receiver) and 6 (initiator): the stream is reset.
    Reset {
        /// The stream.
        id: u64,
        /// Whose stream it is, from the sender's view.
        side: Side,
    },
}

impl Message {
    fn header(&self) -> (u64, u64, &Bytes) {
        static EMPTY: Bytes = Bytes::new();
        let side_flag = |side: &Side, receiver: u64, initiator: u64| match side {
            Side::Receiver => receiver,
            Side::Initiator => initiator,
        };
        match self {
            Message::NewStream { id, name } => (*id, 0, name),
            Message::Data { id, side, data } => (*id, side_flag(side, 1, 2), data),
            Message::Close { id, side } => (*id, side_flag(side, 3, 4), &EMPTY),
            Message::Reset { id, side } => (*id, side_flag(side, 5, 6), &EMPTY),
        }
    }

    /// Appends the encoded message.
    pub fn encode(&self, dst: &mut BytesMut) {
        let (id, flag, data) = self.header();
        put_varint(id << 3 | flag, dst);
        put_varint(data.len() as u64, dst);
        dst.put_slice(data);
    }

    /// Appends only the header and length (the body is written separately).
    pub fn encode_head(&self, dst: &mut BytesMut) {
        let (id, flag, data) = self.header();
        put_varint(id << 3 | flag, dst);
        put_varint(data.len() as u64, dst);
    }

    /// The message body.
    pub fn body(&self) -> &Bytes {
        self.header().2
    }

    /// Takes one whole message off `src` (reserving room for the rest of a partial one); `Ok(None)` if more bytes are needed.
    pub fn decode(src: &mut BytesMut) -> Result<Option<Message>, MplexError> {
        let Some((header, header_len)) =
            decode_length(src).map_err(|_| MplexError::InvalidVarint)?
        else {
            return Ok(None);
        };
        let Some((len, len_len)) =
            decode_length(&src[header_len..]).map_err(|_| MplexError::InvalidVarint)?
        else {
            return Ok(None);
        };
        if len > MAX_MESSAGE_LEN as u64 {
            return Err(MplexError::MessageTooLarge(len));
        }
        let (id, flag) = (header >> 3, header & 7);
        let total = header_len + len_len + len as usize;
        if src.len() < total {
            let additional = total - src.len();
            if !src.try_reclaim(additional) {
                // A large message means bulk data: take a block that holds several, so
                // the allocator hands back blocks it has seen before rather than fresh
                // pages for every message.
                let block = if total > BULK_MESSAGE { READ_BLOCK } else { 0 };
                src.reserve(additional.max(block));
            }
            return Ok(None);
        }
        src.advance(header_len + len_len);
        let data = src.split_to(len as usize).freeze();
        let side = |receiver| {
            if receiver {
                Side::Receiver
            } else {
                Side::Initiator
            }
        };
        Ok(Some(match flag {
            0 => Message::NewStream { id, name: data },
            1 | 2 => Message::Data {
                id,
                side: side(flag == 1),
                data,
            },
            3 | 4 => Message::Close {
                id,
                side: side(flag == 3),
            },
            5 | 6 => Message::Reset {
                id,
                side: side(flag == 5),
            },
            _ => return Err(MplexError::InvalidFlag(flag as u8)),
        }))
    }
}

fn put_varint(value: u64, dst: &mut BytesMut) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    dst.put_slice(unsigned_varint::encode::u64(value, &mut buf));
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encoded(m: &Message) -> Vec<u8> {
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        buf.to_vec()
    }

    #[test]
    fn messages_encode_as_the_spec_lays_out() {
        let open = Message::NewStream {
            id: 3,
            name: Bytes::from_static(b"x"),
        };
        assert_eq!(encoded(&open), vec![3 << 3, 1, b'x']);
        let data = Message::Data {
            id: 3,
            side: Side::Initiator,
            data: Bytes::from_static(b"hi"),
        };
        assert_eq!(encoded(&data), vec![(3 << 3) | 2, 2, b'h', b'i']);
        let data = Message::Data {
            id: 3,
            side: Side::Receiver,
            data: Bytes::from_static(b"hi"),
        };
        assert_eq!(encoded(&data), vec![(3 << 3) | 1, 2, b'h', b'i']);
        assert_eq!(
            encoded(&Message::Close {
                id: 1,
                side: Side::Receiver
            }),
            vec![8 | 3, 0]
        );
        assert_eq!(
            encoded(&Message::Close {
                id: 1,
                side: Side::Initiator
            }),
            vec![8 | 4, 0]
        );
        assert_eq!(
            encoded(&Message::Reset {
                id: 1,
                side: Side::Receiver
            }),
            vec![8 | 5, 0]
        );
        assert_eq!(
            encoded(&Message::Reset {
                id: 1,
                side: Side::Initiator
            }),
            vec![8 | 6, 0]
        );
        // Stream 16 needs a two-byte header varint: 16 << 3 = 128.
        assert_eq!(
            encoded(&Message::Close {
                id: 16,
                side: Side::Initiator
            })[..2],
            [0x84, 0x01]
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let mut flag7 = BytesMut::from(&[8 | 7, 0][..]);
        assert!(matches!(
            Message::decode(&mut flag7),
            Err(MplexError::InvalidFlag(7))
        ));
        // 1 MiB + 1 announced: refused before the body arrives.
        let mut big = BytesMut::from(&[8 | 2, 0x81, 0x80, 0x40][..]);
        assert!(matches!(
            Message::decode(&mut big),
            Err(MplexError::MessageTooLarge(_))
        ));
        let mut overlong = BytesMut::from(&[0xff; 12][..]);
        assert!(matches!(
            Message::decode(&mut overlong),
            Err(MplexError::InvalidVarint)
        ));
        let mut partial = BytesMut::from(&[8 | 2, 5, 1, 2][..]);
        assert!(Message::decode(&mut partial).unwrap().is_none());
        assert_eq!(partial.len(), 4, "nothing consumed");
    }

    proptest! {
        #[test]
        fn messages_round_trip(id in 0u64..=MAX_STREAM_ID, kind in 0u8..7, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let side = if kind % 2 == 0 { Side::Initiator } else { Side::Receiver };
            let m = match kind {
                0 => Message::NewStream { id, name: body.into() },
                1 | 2 => Message::Data { id, side, data: body.into() },
                3 | 4 => Message::Close { id, side },
                _ => Message::Reset { id, side },
            };
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            prop_assert_eq!(Message::decode(&mut buf).unwrap().unwrap(), m);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = Message::decode(&mut buf) {}
        }
    }
}
