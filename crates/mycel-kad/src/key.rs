//! Keys and the XOR metric: every key and peer id is placed at `sha256(bytes)`.

use std::fmt;

use bytes::Bytes;
use mycel_core::PeerId;
use sha2::{Digest, Sha256};

/// A point in the 256-bit key space: the sha256 of a record key or of a peer id's bytes,
/// kept with the bytes it was made from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    preimage: Bytes,
    hash: [u8; 32],
}

impl Key {
    /// The point of any key bytes (a record key, a CID, a peer id's bytes).
    pub fn new(preimage: impl Into<Bytes>) -> Self {
        let preimage = preimage.into();
        let hash = Sha256::digest(&preimage).into();
        Key { preimage, hash }
    }

    /// The point of a peer: the sha256 of its binary id.
    pub fn from_peer(peer: &PeerId) -> Self {
        Key::new(Bytes::copy_from_slice(peer.as_bytes()))
    }

    /// The bytes the key was made from; what travels on the wire.
    pub fn preimage(&self) -> &Bytes {
        &self.preimage
    }

    /// The sha256 of the preimage.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The XOR distance to another key.
    pub fn distance(&self, other: &Key) -> Distance {
        Distance::between(&self.hash, &other.hash)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(")?;
        for b in &self.hash[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl From<&PeerId> for Key {
    fn from(peer: &PeerId) -> Self {
        Key::from_peer(peer)
    }
}

/// The XOR of two points, compared as a 256-bit big-endian number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Distance(pub [u8; 32]);

impl Distance {
    /// The XOR of two hashes.
    pub fn between(a: &[u8; 32], b: &[u8; 32]) -> Self {
        let mut d = [0u8; 32];
        for (i, out) in d.iter_mut().enumerate() {
            *out = a[i] ^ b[i];
        }
        Distance(d)
    }

    /// Leading zero bits: the length of the prefix two keys share (256 for equal keys).
    pub fn leading_zeros(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }

    /// The k-bucket this distance falls in: 255 for keys differing in the first bit,
    /// 0 for keys sharing 255 bits, `None` for the same key.
    pub fn bucket_index(&self) -> Option<usize> {
        let lz = self.leading_zeros();
        if lz == 256 {
            None
        } else {
            Some(255 - lz as usize)
        }
    }
}

impl fmt::Debug for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distance(2^{})", 256 - self.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_is_sha256_of_preimage() {
        // sha256("") from FIPS 180-2.
        let key = Key::new(Bytes::new());
        assert_eq!(key.hash()[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }

    #[test]
    fn distance_is_symmetric_and_zero_to_self() {
        let a = Key::new(&b"a"[..]);
        let b = Key::new(&b"b"[..]);
        assert_eq!(a.distance(&b), b.distance(&a));
        assert_eq!(a.distance(&a), Distance::default());
        assert_eq!(a.distance(&a).bucket_index(), None);
    }

    #[test]
    fn bucket_index_counts_shared_prefix() {
        let zero = [0u8; 32];
        let mut top = [0u8; 32];
        top[0] = 0x80;
        assert_eq!(Distance::between(&zero, &top).bucket_index(), Some(255));
        let mut last = [0u8; 32];
        last[31] = 1;
        assert_eq!(Distance::between(&zero, &last).bucket_index(), Some(0));
        let mut mid = [0u8; 32];
        mid[1] = 0x10;
        assert_eq!(Distance::between(&zero, &mid).leading_zeros(), 11);
    }

    #[test]
    fn distance_orders_as_big_endian_number() {
        let mut small = [0u8; 32];
        small[31] = 0xff;
        let mut big = [0u8; 32];
        big[30] = 1;
        assert!(Distance(small) < Distance(big));
    }
}
