//! The message cache (gossipsub-v1.0.md, "Message Cache"): the messages of the last
//! `mcache_len` heartbeats, to answer IWANT, and the ids of the last `mcache_gossip`
//! heartbeats, to gossip in IHAVE.

use std::collections::{BTreeMap, HashMap, VecDeque};

use mycel_core::PeerId;

use crate::{Message, MessageId, TopicHash};

/// One cached message and how often each peer fetched it through IWANT.
#[derive(Debug)]
struct Entry {
    message: Message,
    fetches: HashMap<PeerId, u32>,
}

/// History windows of messages, newest first; [`MessageCache::shift`] opens a new one
/// every heartbeat and drops the oldest.
#[derive(Debug)]
pub(crate) struct MessageCache {
    gossip: usize,
    len: usize,
    capacity: usize,
    /// Ids put in each window, newest window first.
    windows: VecDeque<VecDeque<MessageId>>,
    entries: HashMap<MessageId, Entry>,
}

impl MessageCache {
    /// A cache of `len` windows gossiping from the newest `gossip`, holding at most
    /// `capacity` messages (the oldest go first beyond it).
    pub(crate) fn new(gossip: usize, len: usize, capacity: usize) -> Self {
        let len = len.max(1);
        let mut windows = VecDeque::with_capacity(len);
        windows.push_front(VecDeque::new());
        MessageCache {
            gossip: gossip.min(len),
            len,
            capacity: capacity.max(1),
            windows,
            entries: HashMap::new(),
        }
    }

    /// Adds a message to the newest window; false if it is already cached.
    pub(crate) fn put(&mut self, id: MessageId, message: Message) -> bool {
        if self.entries.contains_key(&id) {
            return false;
        }
        while self.entries.len() >= self.capacity {
            if !self.evict_oldest() {
                break;
            }
        }
        self.entries.insert(
            id.clone(),
            Entry {
                message,
                fetches: HashMap::new(),
            },
        );
        if let Some(window) = self.windows.front_mut() {
            window.push_back(id);
        }
        true
    }

    /// The cached message with this id.
    #[cfg(test)]
    pub(crate) fn get(&self, id: &MessageId) -> Option<&Message> {
        self.entries.get(id).map(|e| &e.message)
    }

    /// The cached message for an IWANT of `peer`, with how many times `peer` has now
    /// fetched it (this time included).
    pub(crate) fn get_for_peer(
        &mut self,
        id: &MessageId,
        peer: &PeerId,
    ) -> Option<(&Message, u32)> {
        let entry = self.entries.get_mut(id)?;
        let count = entry.fetches.entry(*peer).or_insert(0);
        *count = count.saturating_add(1);
        Some((&entry.message, *count))
    }

    /// The ids of the newest `mcache_gossip` windows, by topic, newest first.
    pub(crate) fn gossip_ids(&self) -> BTreeMap<TopicHash, Vec<MessageId>> {
        let mut out: BTreeMap<TopicHash, Vec<MessageId>> = BTreeMap::new();
        for window in self.windows.iter().take(self.gossip) {
            for id in window {
                if let Some(entry) = self.entries.get(id) {
                    out.entry(entry.message.topic.clone())
                        .or_default()
                        .push(id.clone());
                }
            }
        }
        out
    }

    /// Opens a new window and forgets the messages of the one that falls off the end.
    pub(crate) fn shift(&mut self) {
        if self.windows.len() >= self.len {
            if let Some(oldest) = self.windows.pop_back() {
                for id in oldest {
                    self.entries.remove(&id);
                }
            }
        }
        self.windows.push_front(VecDeque::new());
    }

    /// Messages cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops the oldest message; false if there is none.
    fn evict_oldest(&mut self) -> bool {
        for window in self.windows.iter_mut().rev() {
            if let Some(id) = window.pop_front() {
                self.entries.remove(&id);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, n: u8) -> (MessageId, Message) {
        (
            MessageId::from(vec![n]),
            Message::new(TopicHash::from(topic), vec![n]),
        )
    }

    fn put(cache: &mut MessageCache, topic: &str, n: u8) {
        let (id, m) = msg(topic, n);
        assert!(cache.put(id, m));
    }

    fn ids(cache: &MessageCache, topic: &str) -> Vec<u8> {
        cache
            .gossip_ids()
            .get(topic)
            .map(|ids| ids.iter().map(|id| id.as_bytes()[0]).collect())
            .unwrap_or_default()
    }

    #[test]
    fn gossip_covers_the_newest_windows_and_iwant_the_whole_history() {
        let mut cache = MessageCache::new(2, 3, 100);
        put(&mut cache, "a", 1);
        cache.shift();
        put(&mut cache, "a", 2);
        put(&mut cache, "b", 3);
        cache.shift();
        put(&mut cache, "a", 4);
        assert_eq!(ids(&cache, "a"), [4, 2], "message 1 is too old to gossip");
        assert_eq!(ids(&cache, "b"), [3]);
        assert!(cache.get(&MessageId::from(vec![1])).is_some());
        cache.shift();
        assert!(
            cache.get(&MessageId::from(vec![1])).is_none(),
            "three windows later it is gone"
        );
        assert!(cache.get(&MessageId::from(vec![2])).is_some());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn fetches_are_counted_per_peer() {
        let mut cache = MessageCache::new(3, 5, 100);
        put(&mut cache, "a", 1);
        let (a, b) = (PeerId::random(), PeerId::random());
        let id = MessageId::from(vec![1]);
        assert_eq!(cache.get_for_peer(&id, &a).unwrap().1, 1);
        assert_eq!(cache.get_for_peer(&id, &a).unwrap().1, 2);
        assert_eq!(cache.get_for_peer(&id, &b).unwrap().1, 1);
        assert!(cache.get_for_peer(&MessageId::from(vec![9]), &a).is_none());
        let (id, m) = msg("a", 1);
        assert!(!cache.put(id, m), "already cached");
    }

    #[test]
    fn a_full_cache_drops_its_oldest_message() {
        let mut cache = MessageCache::new(3, 5, 2);
        put(&mut cache, "a", 1);
        cache.shift();
        put(&mut cache, "a", 2);
        put(&mut cache, "a", 3);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&MessageId::from(vec![1])).is_none());
        assert_eq!(ids(&cache, "a"), [2, 3]);
        // Shifting past an evicted id is harmless.
        for _ in 0..6 {
            cache.shift();
        }
        assert_eq!(cache.len(), 0);
    }
}
