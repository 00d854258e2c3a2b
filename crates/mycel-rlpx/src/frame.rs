//! [`FrameCodec`]: RLPx frames (devp2p `rlpx.md`, "Framing"), sans IO.
//!
//! A frame is `header-ciphertext (16) || header-mac (16) || frame-ciphertext (the data
//! zero-padded to 16 bytes) || frame-mac (16)`. The header holds the data's size (24
//! bits, big-endian) and `[0, 0]` as RLP; each direction is one AES-256-CTR stream keyed
//! with the aes-secret (zero IV) and one [`MacState`]. Both MACs are checked before
//! anything is decrypted, and a size over the codec's maximum is refused before its
//! bytes are waited for.

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::{Buf, BufMut, BytesMut};

use crate::{handshake::Secrets, mac::MacState};

/// The largest frame the header can describe.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;
/// The largest frame a codec accepts unless told otherwise (go-ethereum's limit on a
/// message is 16 MiB; a frame carries one message).
pub const DEFAULT_MAX_FRAME: usize = MAX_FRAME_SIZE;
const HEADER_LEN: usize = 16;
const MAC_LEN: usize = 16;
/// `[capability-id = 0, context-id = 0]` as RLP.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Why a frame was refused. Any error ends the session: the MAC states and cipher
/// streams cannot be resynchronised.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The header's MAC does not match.
    #[error("frame header MAC mismatch")]
    HeaderMac,
    /// The body's MAC does not match.
    #[error("frame MAC mismatch")]
    FrameMac,
    /// The frame is larger than allowed.
    #[error("frame of {size} bytes (at most {max})")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The most allowed.
        max: usize,
    },
}

/// Seals outgoing frames and opens incoming ones for one session; [`FrameCodec::split`]
/// gives the two directions to two owners.
pub struct FrameCodec {
    encoder: FrameEncoder,
    decoder: FrameDecoder,
}

/// The sending half of a [`FrameCodec`].
pub struct FrameEncoder {
    aes: Aes256Ctr,
    mac: MacState,
    max_frame: usize,
}

/// The receiving half of a [`FrameCodec`].
pub struct FrameDecoder {
    aes: Aes256Ctr,
    mac: MacState,
    max_frame: usize,
    /// The size of the frame whose header was read, while its body is awaited.
    pending: Option<usize>,
}

impl std::fmt::Debug for FrameCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCodec")
            .field("max_frame", &self.decoder.max_frame)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder").finish_non_exhaustive()
    }
}

impl FrameCodec {
    /// The codec of the session `secrets` describe.
    pub fn new(secrets: &Secrets) -> Self {
        let iv = [0u8; 16];
        FrameCodec {
            encoder: FrameEncoder {
                aes: Aes256Ctr::new(&secrets.aes_secret.into(), &iv.into()),
                mac: secrets.egress_mac.clone(),
                max_frame: DEFAULT_MAX_FRAME,
            },
            decoder: FrameDecoder {
                aes: Aes256Ctr::new(&secrets.aes_secret.into(), &iv.into()),
                mac: secrets.ingress_mac.clone(),
                max_frame: DEFAULT_MAX_FRAME,
                pending: None,
            },
        }
    }

    /// Refuses incoming (and outgoing) frames larger than `max` bytes (at most
    /// [`MAX_FRAME_SIZE`]).
    pub fn with_max_frame(mut self, max: usize) -> Self {
        let max = max.min(MAX_FRAME_SIZE);
        self.encoder.max_frame = max;
        self.decoder.max_frame = max;
        self
    }

    /// See [`FrameEncoder::encode`].
    pub fn encode(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        self.encoder.encode(data, out)
    }

    /// See [`FrameDecoder::decode`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        self.decoder.decode(buf)
    }

    /// The two directions, apart.
    pub fn split(self) -> (FrameEncoder, FrameDecoder) {
        (self.encoder, self.decoder)
    }
}

impl FrameEncoder {
    /// Appends the frame carrying `data` to `out`.
    pub fn encode(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        if data.len() > self.max_frame {
            return Err(FrameError::TooLarge {
                size: data.len(),
                max: self.max_frame,
            });
        }
        let mut header = [0u8; HEADER_LEN];
        header[..3].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.aes.apply_keystream(&mut header);
        let header_mac = self.mac.header_mac(&header);
        let padded = padded_len(data.len());
        out.reserve(HEADER_LEN + MAC_LEN + padded + MAC_LEN);
        out.put_slice(&header);
        out.put_slice(&header_mac);
        let start = out.len();
        out.put_slice(data);
        out.put_bytes(0, padded - data.len());
        self.aes.apply_keystream(&mut out[start..]);
        let frame_mac = self.mac.body_mac(&out[start..]);
        out.put_slice(&frame_mac);
        Ok(())
    }
}

impl FrameDecoder {
    /// Takes the next whole frame off the front of `buf` and returns its data, or
    /// `None` while more bytes are needed (what was read of a frame stays accounted
    /// for; call again with more).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let size = match self.pending {
            Some(size) => size,
            None => {
                if buf.len() < HEADER_LEN + MAC_LEN {
                    return Ok(None);
                }
                let mut header: [u8; HEADER_LEN] = buf[..HEADER_LEN].try_into().expect("16");
                let expected = self.mac.header_mac(&header);
                if !equal(&expected, &buf[HEADER_LEN..HEADER_LEN + MAC_LEN]) {
                    return Err(FrameError::HeaderMac);
                }
                self.aes.apply_keystream(&mut header);
                let size = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                if size > self.max_frame {
                    return Err(FrameError::TooLarge {
                        size,
                        max: self.max_frame,
                    });
                }
                buf.advance(HEADER_LEN + MAC_LEN);
                self.pending = Some(size);
                size
            }
        };
        let padded = padded_len(size);
        if buf.len() < padded + MAC_LEN {
            buf.reserve(padded + MAC_LEN - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(padded + MAC_LEN);
        let expected = self.mac.body_mac(&frame[..padded]);
        if !equal(&expected, &frame[padded..]) {
            return Err(FrameError::FrameMac);
        }
        self.aes.apply_keystream(&mut frame[..padded]);
        frame.truncate(size);
        self.pending = None;
        Ok(Some(frame))
    }
}

fn padded_len(len: usize) -> usize {
    len.div_ceil(16) * 16
}

/// Compares two MACs without stopping at the first difference.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
