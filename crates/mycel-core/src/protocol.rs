//! [`ProtocolId`]: the name a stream or connection negotiates with multistream-select.

use std::{borrow::Borrow, fmt, sync::Arc};

use thiserror::Error;

/// Longest protocol id mycel will create. rust-libp2p refuses longer ones, so this is the
/// bound every peer accepts.
pub const MAX_PROTOCOL_ID_LEN: usize = 140;

/// Why a string is not a valid protocol id.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolIdError {
    /// The id is empty.
    #[error("protocol id is empty")]
    Empty,
    /// The id is longer than [`MAX_PROTOCOL_ID_LEN`].
    #[error("protocol id is {0} bytes, more than {MAX_PROTOCOL_ID_LEN}")]
    TooLong(usize),
    /// The id contains a newline, which would end a multistream-select message early.
    #[error("protocol id contains a newline")]
    Newline,
}

/// A protocol id such as `/ipfs/ping/1.0.0`: non-empty UTF-8, no newline, at most
/// [`MAX_PROTOCOL_ID_LEN`] bytes. Cloning is cheap (no allocation).
#[derive(Clone)]
pub struct ProtocolId(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

const fn check(s: &str) -> Result<(), ProtocolIdError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(ProtocolIdError::Empty);
    }
    if bytes.len() > MAX_PROTOCOL_ID_LEN {
        return Err(ProtocolIdError::TooLong(bytes.len()));
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            return Err(ProtocolIdError::Newline);
        }
        i += 1;
    }
    Ok(())
}

impl ProtocolId {
    /// A protocol id from a string literal, checked at compile time when used in a
    /// `const`.
    ///
    /// # Panics
    /// If `s` is not a valid protocol id.
    pub const fn from_static(s: &'static str) -> Self {
        match check(s) {
            Ok(()) => ProtocolId(Repr::Static(s)),
            Err(_) => panic!("invalid protocol id"),
        }
    }

    /// A protocol id from any string, checked.
    pub fn new(s: impl AsRef<str>) -> Result<Self, ProtocolIdError> {
        let s = s.as_ref();
        check(s)?;
        Ok(ProtocolId(Repr::Shared(Arc::from(s))))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl AsRef<str> for ProtocolId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ProtocolId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ProtocolId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ProtocolId {}

impl PartialEq<str> for ProtocolId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ProtocolId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for ProtocolId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for ProtocolId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProtocolId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl TryFrom<&str> for ProtocolId {
    type Error = ProtocolIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ProtocolId::new(s)
    }
}

impl TryFrom<String> for ProtocolId {
    type Error = ProtocolIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ProtocolId::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_shared_ids_compare_equal() {
        const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
        assert_eq!(PING, ProtocolId::new("/ipfs/ping/1.0.0").unwrap());
        assert_eq!(PING, "/ipfs/ping/1.0.0");
    }

    #[test]
    fn invalid_ids_are_rejected() {
        assert_eq!(ProtocolId::new(""), Err(ProtocolIdError::Empty));
        assert_eq!(ProtocolId::new("/a\n"), Err(ProtocolIdError::Newline));
        let long = format!("/{}", "x".repeat(MAX_PROTOCOL_ID_LEN));
        assert_eq!(
            ProtocolId::new(&long),
            Err(ProtocolIdError::TooLong(MAX_PROTOCOL_ID_LEN + 1))
        );
        assert!(ProtocolId::new("x".repeat(MAX_PROTOCOL_ID_LEN)).is_ok());
    }
}
