//! Addresses known per peer, bounded.

use std::collections::{BTreeMap, HashMap};

use mycel_core::{Multiaddr, PeerId};

/// Default for [`PeerStore::new`]'s peer bound.
pub const DEFAULT_MAX_PEERS: usize = 10_000;

/// Addresses kept per peer; the oldest go first.
pub const MAX_ADDRS_PER_PEER: usize = 16;

#[derive(Debug)]
struct Entry {
    addrs: Vec<Multiaddr>,
    touched: u64,
}

/// The addresses at which each peer can be dialed.
///
/// Bounded: at most `max_peers` peers (the least recently updated one is forgotten to
/// make room) and [`MAX_ADDRS_PER_PEER`] addresses per peer (the oldest is dropped).
#[derive(Debug)]
pub struct PeerStore {
    peers: HashMap<PeerId, Entry>,
    /// Peers by the time they were last updated, oldest first.
    by_age: BTreeMap<u64, PeerId>,
    max_peers: usize,
    clock: u64,
}

impl Default for PeerStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PEERS)
    }
}

impl PeerStore {
    /// An empty store holding at most `max_peers` peers (at least 1).
    pub fn new(max_peers: usize) -> Self {
        Self {
            peers: HashMap::new(),
            by_age: BTreeMap::new(),
            max_peers: max_peers.max(1),
            clock: 0,
        }
    }

    /// Adds addresses for `peer` (duplicates ignored; a `/p2p/` suffix is kept as given).
    pub fn add_addrs(&mut self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        let mut addrs = addrs.into_iter().peekable();
        if addrs.peek().is_none() {
            return;
        }
        self.clock += 1;
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            self.evict_oldest();
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Entry {
            addrs: Vec::new(),
            touched: 0,
        });
        self.by_age.remove(&entry.touched);
        entry.touched = self.clock;
        self.by_age.insert(self.clock, peer);
        for addr in addrs {
            if entry.addrs.contains(&addr) {
                continue;
            }
            if entry.addrs.len() >= MAX_ADDRS_PER_PEER {
                entry.addrs.remove(0);
            }
            entry.addrs.push(addr);
        }
    }

    /// The known addresses of `peer`, oldest first.
    pub fn addrs(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|e| e.addrs.clone())
            .unwrap_or_default()
    }

    /// Forgets one address of `peer`.
    pub fn remove_addr(&mut self, peer: &PeerId, addr: &Multiaddr) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.addrs.retain(|a| a != addr);
            if entry.addrs.is_empty() {
                self.remove(peer);
            }
        }
    }

    /// Forgets `peer`.
    pub fn remove(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.remove(peer) {
            self.by_age.remove(&entry.touched);
        }
    }

    /// Every peer with at least one address.
    pub fn peers(&self) -> Vec<PeerId> {
        self.peers.keys().copied().collect()
    }

    /// How many peers are known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    fn evict_oldest(&mut self) {
        if let Some((_, peer)) = self.by_age.pop_first() {
            self.peers.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u64) -> Multiaddr {
        format!("/memory/{i}").parse().unwrap()
    }

    #[test]
    fn keeps_addresses_once_in_order() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        store.add_addrs(peer, [addr(1), addr(2), addr(1)]);
        store.add_addrs(peer, [addr(2), addr(3)]);
        assert_eq!(store.addrs(&peer), vec![addr(1), addr(2), addr(3)]);
        store.remove_addr(&peer, &addr(2));
        assert_eq!(store.addrs(&peer), vec![addr(1), addr(3)]);
        assert!(store.addrs(&PeerId::random()).is_empty());
    }

    #[test]
    fn addresses_per_peer_are_bounded_dropping_the_oldest() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        store.add_addrs(peer, (0..100).map(addr));
        let kept = store.addrs(&peer);
        assert_eq!(kept.len(), MAX_ADDRS_PER_PEER);
        assert_eq!(kept[0], addr(100 - MAX_ADDRS_PER_PEER as u64));
        assert_eq!(kept[MAX_ADDRS_PER_PEER - 1], addr(99));
    }

    #[test]
    fn peers_are_bounded_forgetting_the_least_recently_updated() {
        let mut store = PeerStore::new(3);
        let peers: Vec<_> = (0..4).map(|_| PeerId::random()).collect();
        for (i, peer) in peers.iter().take(3).enumerate() {
            store.add_addrs(*peer, [addr(i as u64)]);
        }
        // Touch the first so the second is the oldest.
        store.add_addrs(peers[0], [addr(10)]);
        store.add_addrs(peers[3], [addr(3)]);
        assert_eq!(store.len(), 3);
        assert!(store.addrs(&peers[1]).is_empty());
        assert_eq!(store.addrs(&peers[0]), vec![addr(0), addr(10)]);
        assert_eq!(store.addrs(&peers[3]), vec![addr(3)]);
    }

    #[test]
    fn no_addresses_adds_no_peer() {
        let mut store = PeerStore::new(1);
        let known = PeerId::random();
        store.add_addrs(known, [addr(1)]);
        store.add_addrs(PeerId::random(), []);
        assert_eq!(store.peers(), vec![known]);
    }

    #[test]
    fn removing_the_last_address_forgets_the_peer() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        store.add_addrs(peer, [addr(1)]);
        store.remove_addr(&peer, &addr(1));
        assert!(store.is_empty());
    }
}
