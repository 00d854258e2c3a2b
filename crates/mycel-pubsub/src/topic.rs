//! Topics: the name an application picks ([`Topic`]) and the string that travels on the
//! wire ([`TopicHash`]).
//!
//! Implementations may hash a topic's name (rust-libp2p offers a sha256 topic), but the
//! default everywhere, and the only form mycel builds, is the identity: the wire topic is
//! the name itself.

use std::{borrow::Borrow, fmt, sync::Arc};

/// A topic as it travels on the wire (`topic`, `topic_id` fields) and keys the router's
/// tables.
///
/// Cheap to clone (a shared string), ordered so that tables keyed by topic iterate in a
/// repeatable order.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicHash(Arc<str>);

impl TopicHash {
    /// The topic whose wire form is `raw`.
    pub fn from_raw(raw: impl AsRef<str>) -> Self {
        TopicHash(Arc::from(raw.as_ref()))
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of the wire form in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the wire form is empty (never valid on the wire).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicHash({:?})", &*self.0)
    }
}

impl From<&str> for TopicHash {
    fn from(raw: &str) -> Self {
        TopicHash::from_raw(raw)
    }
}

impl From<String> for TopicHash {
    fn from(raw: String) -> Self {
        TopicHash(Arc::from(raw))
    }
}

impl AsRef<str> for TopicHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicHash {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A topic as an application names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic {
    name: TopicHash,
}

impl Topic {
    /// The topic called `name`.
    pub fn new(name: impl AsRef<str>) -> Self {
        Topic {
            name: TopicHash::from_raw(name),
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The wire form: with identity hashing, the name itself.
    pub fn hash(&self) -> TopicHash {
        self.name.clone()
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Topic> for TopicHash {
    fn from(topic: Topic) -> Self {
        topic.name
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn topic_hash_is_the_name_itself() {
        let topic = Topic::new("/eth2/beacon_block/ssz_snappy");
        assert_eq!(topic.hash().as_str(), "/eth2/beacon_block/ssz_snappy");
        assert_eq!(
            topic.hash(),
            TopicHash::from("/eth2/beacon_block/ssz_snappy")
        );
        assert_eq!(TopicHash::from(topic.clone()), topic.hash());
        assert_eq!(topic.to_string(), topic.name());
    }

    #[test]
    fn tables_keyed_by_topic_hash_look_up_by_str() {
        let mut table = HashMap::new();
        table.insert(TopicHash::from("news"), 1);
        assert_eq!(table.get("news"), Some(&1));
        assert!(TopicHash::from("").is_empty());
        assert_eq!(TopicHash::from("news").len(), 4);
    }
}
