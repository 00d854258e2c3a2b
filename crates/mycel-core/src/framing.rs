//! Unsigned-varint length-prefixed frames: `uvarint(len) || payload`.
//!
//! Almost every libp2p message (multistream-select, identify, kad, pubsub, …) is framed
//! this way. Every reader takes a caller-given maximum and checks it before allocating,
//! so a peer cannot make us reserve memory by announcing a large length.

use std::io;

use bytes::{Buf, BufMut, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest varint accepted for a length: 9 bytes hold 63 bits, more than any frame.
pub const MAX_LENGTH_VARINT_LEN: usize = 9;

/// What went wrong reading a length-prefixed frame.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The stream ended cleanly before the first byte of a frame.
    #[error("stream closed")]
    Closed,
    /// The stream ended inside a frame.
    #[error("frame truncated: stream ended inside a frame")]
    Truncated,
    /// The length varint is longer than [`MAX_LENGTH_VARINT_LEN`] bytes.
    #[error("length varint longer than {MAX_LENGTH_VARINT_LEN} bytes")]
    VarintOverflow,
    /// The length varint is not minimally encoded (trailing zero groups).
    #[error("length varint is not minimally encoded")]
    VarintNotMinimal,
    /// The announced length exceeds the reader's maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The maximum the reader accepts.
        max: usize,
    },
}

impl From<FramingError> for io::Error {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => e,
            FramingError::Closed | FramingError::Truncated => {
                io::Error::new(io::ErrorKind::UnexpectedEof, e)
            }
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Appends `uvarint(payload.len()) || payload` to `dst`.
pub fn encode_length_prefixed(payload: &[u8], dst: &mut BytesMut) {
    let mut buf = unsigned_varint::encode::usize_buffer();
    let len = unsigned_varint::encode::usize(payload.len(), &mut buf);
    dst.reserve(len.len() + payload.len());
    dst.put_slice(len);
    dst.put_slice(payload);
}

/// Decodes a length varint at the start of `src`: `Ok(Some((len, varint_bytes)))`,
/// `Ok(None)` if more bytes are needed.
pub fn decode_length(src: &[u8]) -> Result<Option<(u64, usize)>, FramingError> {
    match unsigned_varint::decode::u64(src) {
        Ok((len, rest)) => {
            let used = src.len() - rest.len();
            if used > MAX_LENGTH_VARINT_LEN {
                return Err(FramingError::VarintOverflow);
            }
            Ok(Some((len, used)))
        }
        Err(unsigned_varint::decode::Error::Insufficient) => {
            if src.len() >= MAX_LENGTH_VARINT_LEN {
                Err(FramingError::VarintOverflow)
            } else {
                Ok(None)
            }
        }
        Err(unsigned_varint::decode::Error::NotMinimal) => Err(FramingError::VarintNotMinimal),
        Err(_) => Err(FramingError::VarintOverflow),
    }
}

/// Takes one whole frame off the front of `src` if it is all there.
///
/// `Ok(None)` means more bytes are needed; nothing is consumed then. A length over `max`
/// is an error as soon as the varint is complete, before the payload arrives.
pub fn decode_length_prefixed(
    src: &mut BytesMut,
    max: usize,
) -> Result<Option<BytesMut>, FramingError> {
    let Some((len, used)) = decode_length(src)? else {
        return Ok(None);
    };
    if len > max as u64 {
        return Err(FramingError::TooLarge { len, max });
    }
    let len = len as usize;
    if src.len() - used < len {
        src.reserve(used + len - src.len());
        return Ok(None);
    }
    src.advance(used);
    Ok(Some(src.split_to(len)))
}

/// Reads one length varint from `reader`, byte by byte. `Ok(None)` on a clean end of
/// stream before its first byte.
pub async fn read_length<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<u64>, FramingError> {
    let mut buf = [0u8; MAX_LENGTH_VARINT_LEN];
    for i in 0..MAX_LENGTH_VARINT_LEN {
        let n = reader.read(&mut buf[i..=i]).await?;
        if n == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(FramingError::Truncated)
            };
        }
        if buf[i] & 0x80 == 0 {
            return match decode_length(&buf[..=i])? {
                Some((len, _)) => Ok(Some(len)),
                None => Err(FramingError::VarintOverflow),
            };
        }
    }
    Err(FramingError::VarintOverflow)
}

/// Reads one frame of at most `max` bytes. A clean end of stream before the frame is
/// [`FramingError::Closed`]; an end inside it is [`FramingError::Truncated`].
///
/// The buffer grows with the bytes that actually arrive, not with the announced length.
pub async fn read_length_prefixed<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Vec<u8>, FramingError> {
    let len = read_length(reader).await?.ok_or(FramingError::Closed)?;
    if len > max as u64 {
        return Err(FramingError::TooLarge { len, max });
    }
    let mut payload = Vec::with_capacity((len as usize).min(8 * 1024));
    let got = (&mut *reader).take(len).read_to_end(&mut payload).await?;
    if (got as u64) < len {
        return Err(FramingError::Truncated);
    }
    Ok(payload)
}

/// Writes `uvarint(payload.len()) || payload` in one write call, without flushing.
pub async fn write_length_prefixed<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> io::Result<()> {
    let mut frame = BytesMut::new();
    encode_length_prefixed(payload, &mut frame);
    writer.write_all(&frame).await
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn encodes_spec_example() {
        let mut buf = BytesMut::new();
        encode_length_prefixed(b"na\n", &mut buf);
        assert_eq!(&buf[..], &[0x03, b'n', b'a', b'\n']);
        let mut buf = BytesMut::new();
        encode_length_prefixed(&[0u8; 300], &mut buf);
        assert_eq!(&buf[..2], &[0xac, 0x02]);
        assert_eq!(buf.len(), 302);
    }

    #[test]
    fn partial_frames_need_more() {
        let mut buf = BytesMut::from(&[0x05, 1, 2][..]);
        assert!(decode_length_prefixed(&mut buf, 10).unwrap().is_none());
        assert_eq!(buf.len(), 3, "nothing consumed");
        buf.extend_from_slice(&[3, 4, 5, 6]);
        let frame = decode_length_prefixed(&mut buf, 10).unwrap().unwrap();
        assert_eq!(&frame[..], &[1, 2, 3, 4, 5]);
        assert_eq!(&buf[..], &[6]);
    }

    #[test]
    fn oversize_length_is_rejected_before_payload() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0x03][..]);
        assert!(matches!(
            decode_length_prefixed(&mut buf, 1024),
            Err(FramingError::TooLarge {
                len: 65535,
                max: 1024
            })
        ));
    }

    #[test]
    fn overlong_and_non_minimal_varints_are_rejected() {
        let mut buf = BytesMut::from(&[0xff; 12][..]);
        assert!(matches!(
            decode_length_prefixed(&mut buf, usize::MAX),
            Err(FramingError::VarintOverflow)
        ));
        let mut buf = BytesMut::from(&[0x81, 0x00][..]);
        assert!(matches!(
            decode_length_prefixed(&mut buf, 100),
            Err(FramingError::VarintNotMinimal)
        ));
    }

    #[tokio::test]
    async fn async_reader_reports_clean_end_truncation_and_size() {
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_length_prefixed(&mut empty, 10).await,
            Err(FramingError::Closed)
        ));
        let mut short: &[u8] = &[0x04, 1, 2];
        assert!(matches!(
            read_length_prefixed(&mut short, 10).await,
            Err(FramingError::Truncated)
        ));
        let mut cut_varint: &[u8] = &[0x80];
        assert!(matches!(
            read_length_prefixed(&mut cut_varint, 10).await,
            Err(FramingError::Truncated)
        ));
        let mut big: &[u8] = &[0x0b];
        assert!(matches!(
            read_length_prefixed(&mut big, 10).await,
            Err(FramingError::TooLarge { len: 11, max: 10 })
        ));
        let mut endless: &[u8] = &[0x80; 64];
        assert!(matches!(
            read_length_prefixed(&mut endless, usize::MAX).await,
            Err(FramingError::VarintOverflow)
        ));
    }

    proptest! {
        #[test]
        fn round_trips_any_payload(payloads in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..600), 0..8)) {
            let mut wire = BytesMut::new();
            for p in &payloads {
                encode_length_prefixed(p, &mut wire);
            }
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut reader = &wire[..];
            for p in &payloads {
                let got = rt.block_on(read_length_prefixed(&mut reader, 600)).unwrap();
                prop_assert_eq!(&got, p);
            }
            for p in &payloads {
                let got = decode_length_prefixed(&mut wire, 600).unwrap().unwrap();
                prop_assert_eq!(&got[..], &p[..]);
            }
            prop_assert!(wire.is_empty());
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = decode_length_prefixed(&mut buf, 16) {}
        }
    }
}
