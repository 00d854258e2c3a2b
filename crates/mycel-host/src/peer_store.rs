//! Addresses known per peer, bounded.

use std::collections::{BTreeMap, HashMap};

use mycel_core::{Multiaddr, PeerId, PublicKey};

/// Default for [`PeerStore::new`]'s peer bound.
pub const DEFAULT_MAX_PEERS: usize = 10_000;

/// Addresses kept per peer; the oldest go first.
pub const MAX_ADDRS_PER_PEER: usize = 16;

/// Protocols kept per peer; the rest of a longer list is dropped.
pub const MAX_PROTOCOLS_PER_PEER: usize = 128;

/// Longest agent or protocol version kept (longer ones are cut).
pub const MAX_VERSION_LEN: usize = 256;

/// What the store knows of one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerRecord {
    /// Where it can be dialed, oldest first.
    pub addrs: Vec<Multiaddr>,
    /// Its public key, once identified.
    pub public_key: Option<PublicKey>,
    /// Its agent version, once identified.
    pub agent_version: Option<String>,
    /// Its protocol version, once identified.
    pub protocol_version: Option<String>,
    /// The protocols it accepts streams for, once identified.
    pub protocols: Vec<String>,
}

/// What identify told us of a peer, for [`PeerStore::set_identity`].
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Its key (checked against the peer id by the caller).
    pub public_key: Option<PublicKey>,
    /// `agentVersion`, if sent.
    pub agent_version: Option<String>,
    /// `protocolVersion`, if sent.
    pub protocol_version: Option<String>,
    /// `protocols`, if sent.
    pub protocols: Option<Vec<String>>,
}

#[derive(Debug)]
struct Entry {
    record: PeerRecord,
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
        let entry = &mut self.touch(peer).record;
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

    /// Records what identify told us of `peer`; fields it did not send are kept.
    pub fn set_identity(&mut self, peer: PeerId, identity: Identity) {
        let record = &mut self.touch(peer).record;
        if let Some(key) = identity.public_key {
            record.public_key = Some(key);
        }
        if let Some(agent) = identity.agent_version {
            record.agent_version = Some(cut(agent));
        }
        if let Some(version) = identity.protocol_version {
            record.protocol_version = Some(cut(version));
        }
        if let Some(mut protocols) = identity.protocols {
            protocols.truncate(MAX_PROTOCOLS_PER_PEER);
            protocols
                .iter_mut()
                .for_each(|p| *p = cut(std::mem::take(p)));
            record.protocols = protocols;
        }
    }

    /// The known addresses of `peer`, oldest first.
    pub fn addrs(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|e| e.record.addrs.clone())
            .unwrap_or_default()
    }

    /// Everything known of `peer`.
    pub fn record(&self, peer: &PeerId) -> Option<PeerRecord> {
        self.peers.get(peer).map(|e| e.record.clone())
    }

    /// The entry of `peer`, created if new (forgetting the oldest peer when full), and
    /// marked as the most recently updated.
    fn touch(&mut self, peer: PeerId) -> &mut Entry {
        self.clock += 1;
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            self.evict_oldest();
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Entry {
            record: PeerRecord::default(),
            touched: 0,
        });
        self.by_age.remove(&entry.touched);
        entry.touched = self.clock;
        self.by_age.insert(self.clock, peer);
        entry
    }

    /// Forgets one address of `peer`.
    pub fn remove_addr(&mut self, peer: &PeerId, addr: &Multiaddr) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.record.addrs.retain(|a| a != addr);
            if entry.record == PeerRecord::default() {
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

    /// Every peer the store knows.
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

/// `s` cut to at most [`MAX_VERSION_LEN`] bytes, at a character boundary.
fn cut(mut s: String) -> String {
    if s.len() > MAX_VERSION_LEN {
        let mut end = MAX_VERSION_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
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
    fn identity_is_kept_bounded_and_merged() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        store.set_identity(
            peer,
            Identity {
                agent_version: Some("é".repeat(MAX_VERSION_LEN)),
                protocols: Some((0..1000).map(|i| format!("/p/{i}")).collect()),
                ..Default::default()
            },
        );
        store.set_identity(
            peer,
            Identity {
                protocol_version: Some("ipfs/0.1.0".into()),
                ..Default::default()
            },
        );
        let record = store.record(&peer).unwrap();
        assert!(record.agent_version.unwrap().len() <= MAX_VERSION_LEN);
        assert_eq!(record.protocols.len(), MAX_PROTOCOLS_PER_PEER);
        assert_eq!(record.protocol_version.as_deref(), Some("ipfs/0.1.0"));
        assert!(record.addrs.is_empty());
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
