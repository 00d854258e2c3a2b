//! What a host knows of other peers: addresses (each from a source, with a lifetime),
//! identity from identify, and latency from ping. Bounded.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use mycel_core::{Multiaddr, PeerId, PublicKey, record::SignedPeerRecord};
use mycel_identify::Update;
use tokio::time::Instant;

mod upkeep;

pub(crate) use upkeep::Upkeep;

/// Default for [`PeerStore::new`]'s peer bound.
pub const DEFAULT_MAX_PEERS: usize = 10_000;

/// Addresses kept per peer; expired ones go first, then the least useful.
pub const MAX_ADDRS_PER_PEER: usize = 16;

/// Protocols kept per peer; the rest of a longer list is dropped.
pub const MAX_PROTOCOLS_PER_PEER: usize = 128;

/// Longest agent or protocol version kept (longer ones are cut).
pub const MAX_VERSION_LEN: usize = 256;

/// How long an address a peer announced (identify) is kept.
pub const IDENTIFY_ADDR_TTL: Duration = Duration::from_secs(60 * 60);

/// How long the address of a connection is kept once the peer disconnects.
pub const RECENTLY_CONNECTED_ADDR_TTL: Duration = Duration::from_secs(10 * 60);

/// Peers looked at, oldest first, for one that is not connected when the store is full.
const EVICTION_SCAN: usize = 64;

/// Where an address came from, which sets how long it is kept and how early it is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddrSource {
    /// We have (or recently had) a connection on it: tried first. Kept while
    /// connected, then [`RECENTLY_CONNECTED_ADDR_TTL`].
    Connected,
    /// Given by the user ([`PeerStore::add_addrs`], `Network::add_addrs`): kept until
    /// removed.
    Manual,
    /// In a record the peer signed ([`PeerStore::add_signed_record`]): kept
    /// [`IDENTIFY_ADDR_TTL`], and replaced by its next record's.
    Signed,
    /// Announced by the peer in identify without a signature: kept [`IDENTIFY_ADDR_TTL`].
    Identify,
}

/// What the store knows of one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerRecord {
    /// Where it can be dialed, best first (connected, manual, announced), expired ones
    /// left out.
    pub addrs: Vec<Multiaddr>,
    /// Its public key, once identified.
    pub public_key: Option<PublicKey>,
    /// Its agent version, once identified.
    pub agent_version: Option<String>,
    /// Its protocol version, once identified.
    pub protocol_version: Option<String>,
    /// The protocols it accepts streams for, once identified.
    pub protocols: Vec<String>,
    /// Its round-trip time, smoothed over pings.
    pub latency: Option<Duration>,
    /// The newest record of its addresses it signed, once it sent one.
    pub signed_record: Option<SignedPeerRecord>,
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

#[derive(Debug, Clone)]
struct KnownAddr {
    addr: Multiaddr,
    source: AddrSource,
    /// `None`: no expiry (manual, or connected now).
    expires: Option<Instant>,
}

impl KnownAddr {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

#[derive(Debug)]
struct Entry {
    addrs: Vec<KnownAddr>,
    record: PeerRecord,
    touched: u64,
}

impl Entry {
    fn connected(&self) -> bool {
        self.addrs
            .iter()
            .any(|a| a.source == AddrSource::Connected && a.expires.is_none())
    }

    /// Adds or refreshes `addr`; a better source wins, a later expiry wins.
    fn put(&mut self, addr: Multiaddr, source: AddrSource, expires: Option<Instant>, now: Instant) {
        if let Some(known) = self.addrs.iter_mut().find(|k| k.addr == addr) {
            if source < known.source {
                known.source = source;
                known.expires = expires;
            } else if source == known.source {
                known.expires = match (known.expires, expires) {
                    (None, _) | (_, None) => None,
                    (Some(a), Some(b)) => Some(a.max(b)),
                };
            }
            return;
        }
        self.addrs.retain(|k| k.live(now));
        if self.addrs.len() >= MAX_ADDRS_PER_PEER {
            // The least useful: the worst source, the oldest of those.
            let worst = self
                .addrs
                .iter()
                .enumerate()
                .max_by_key(|(i, k)| (k.source, std::cmp::Reverse(*i)))
                .map(|(i, _)| i);
            match worst {
                Some(i) if self.addrs[i].source >= source => {
                    self.addrs.remove(i);
                }
                _ => return,
            }
        }
        self.addrs.push(KnownAddr {
            addr,
            source,
            expires,
        });
    }

    fn live_addrs(&self, now: Instant) -> Vec<Multiaddr> {
        let mut live: Vec<&KnownAddr> = self.addrs.iter().filter(|k| k.live(now)).collect();
        live.sort_by_key(|k| k.source);
        live.into_iter().map(|k| k.addr.clone()).collect()
    }
}

/// What a host knows of each peer.
///
/// Bounded: at most `max_peers` peers (when full, the least recently updated peer that
/// is not connected is forgotten), [`MAX_ADDRS_PER_PEER`] addresses per peer,
/// [`MAX_PROTOCOLS_PER_PEER`] protocols, versions cut at [`MAX_VERSION_LEN`] bytes.
/// Time is a parameter of the methods that need it (`now`), so tests need no clock.
#[derive(Debug)]
pub struct PeerStore {
    /// Boxed: a table has more slots than peers, and an entry is several hundred bytes.
    peers: HashMap<PeerId, Box<Entry>>,
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

    /// Adds addresses given by the user for `peer`, kept until removed.
    pub fn add_addrs(&mut self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        self.add_addrs_from(peer, addrs, AddrSource::Manual, Instant::now());
    }

    /// Adds addresses for `peer` from `source`, with that source's lifetime from `now`.
    pub fn add_addrs_from(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
        source: AddrSource,
        now: Instant,
    ) {
        let mut addrs = addrs.into_iter().peekable();
        if addrs.peek().is_none() {
            return;
        }
        let expires = match source {
            AddrSource::Manual | AddrSource::Connected => None,
            AddrSource::Signed | AddrSource::Identify => Some(now + IDENTIFY_ADDR_TTL),
        };
        let entry = self.touch(peer);
        for addr in addrs {
            entry.put(addr, source, expires, now);
        }
    }

    /// Stores a record `peer` signed (checked by the caller, as
    /// [`SignedPeerRecord`] guarantees) unless we hold a newer one: its addresses replace
    /// those of the previous record and rank above unsigned announced ones. Returns
    /// whether it was taken.
    pub fn add_signed_record(
        &mut self,
        peer: PeerId,
        signed: SignedPeerRecord,
        now: Instant,
    ) -> bool {
        if signed.record().peer_id != peer {
            return false;
        }
        let newer = self
            .peers
            .get(&peer)
            .and_then(|e| e.record.signed_record.as_ref())
            .is_none_or(|held| signed.record().seq >= held.record().seq);
        if !newer {
            return false;
        }
        let entry = self.touch(peer);
        entry.addrs.retain(|k| k.source != AddrSource::Signed);
        let expires = Some(now + IDENTIFY_ADDR_TTL);
        for addr in signed.record().addrs.iter().take(MAX_ADDRS_PER_PEER) {
            entry.put(addr.clone(), AddrSource::Signed, expires, now);
        }
        entry.record.signed_record = Some(signed);
        true
    }

    /// `peer` is connected on `addr` (an address we dialed): it is tried first, and kept
    /// while connected.
    pub fn connected(&mut self, peer: PeerId, addr: Multiaddr, now: Instant) {
        self.add_addrs_from(peer, [addr], AddrSource::Connected, now);
    }

    /// `peer` disconnected: its connection addresses are kept
    /// [`RECENTLY_CONNECTED_ADDR_TTL`] more.
    pub fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        if let Some(entry) = self.peers.get_mut(peer) {
            for known in &mut entry.addrs {
                if known.source == AddrSource::Connected && known.expires.is_none() {
                    known.expires = Some(now + RECENTLY_CONNECTED_ADDR_TTL);
                }
            }
        }
    }

    /// Marks every peer not in `connected` as disconnected (see
    /// [`PeerStore::disconnected`]): a catch-up for missed disconnects.
    pub fn disconnected_unless(&mut self, connected: &HashSet<PeerId>, now: Instant) {
        for (peer, entry) in &mut self.peers {
            if connected.contains(peer) {
                continue;
            }
            for known in &mut entry.addrs {
                if known.source == AddrSource::Connected && known.expires.is_none() {
                    known.expires = Some(now + RECENTLY_CONNECTED_ADDR_TTL);
                }
            }
        }
    }

    /// Records a round-trip time to `peer` (smoothed: 80% history, 20% this sample).
    pub fn record_latency(&mut self, peer: PeerId, rtt: Duration) {
        let latency = &mut self.touch(peer).record.latency;
        *latency = Some(match *latency {
            Some(old) => (old * 4 + rtt) / 5,
            None => rtt,
        });
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

    /// Stores what `peer` told us by identify (an answer or a push) at `now`; returns
    /// everything now known of it. A signed record's addresses stand for the peer's
    /// announced ones: the unsigned copy is not stored beside them (as go and rust do).
    pub fn apply_identify(&mut self, peer: PeerId, update: Update, now: Instant) -> PeerRecord {
        let signed = match update.signed_peer_record {
            Some(signed) => {
                self.add_signed_record(peer, signed, now);
                true
            }
            None => false,
        };
        if let Some(addrs) = update.listen_addrs.filter(|_| !signed) {
            self.add_addrs_from(peer, addrs, AddrSource::Identify, now);
        }
        self.set_identity(
            peer,
            Identity {
                public_key: update.public_key,
                agent_version: update.agent_version,
                protocol_version: update.protocol_version,
                protocols: update.protocols,
            },
        );
        self.record_at(&peer, now).unwrap_or_default()
    }

    /// The addresses of `peer` to dial now, best first.
    pub fn addrs(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.addrs_at(peer, Instant::now())
    }

    /// The addresses of `peer` live at `now`, best first.
    pub fn addrs_at(&self, peer: &PeerId, now: Instant) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|e| e.live_addrs(now))
            .unwrap_or_default()
    }

    /// Everything known of `peer` now.
    pub fn record(&self, peer: &PeerId) -> Option<PeerRecord> {
        self.record_at(peer, Instant::now())
    }

    /// Everything known of `peer` at `now`.
    pub fn record_at(&self, peer: &PeerId, now: Instant) -> Option<PeerRecord> {
        self.peers.get(peer).map(|e| PeerRecord {
            addrs: e.live_addrs(now),
            ..e.record.clone()
        })
    }

    /// Drops expired addresses, and peers left with nothing known.
    pub fn remove_expired(&mut self, now: Instant) {
        let mut empty = Vec::new();
        for (peer, entry) in &mut self.peers {
            entry.addrs.retain(|k| k.live(now));
            if entry.addrs.is_empty() && entry.record == PeerRecord::default() {
                empty.push(*peer);
            }
        }
        for peer in empty {
            self.remove(&peer);
        }
    }

    /// The entry of `peer`, created if new (forgetting a peer when full), and marked as
    /// the most recently updated.
    fn touch(&mut self, peer: PeerId) -> &mut Entry {
        self.clock += 1;
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.max_peers {
            self.evict();
        }
        let entry = self.peers.entry(peer).or_insert_with(|| {
            Box::new(Entry {
                addrs: Vec::new(),
                record: PeerRecord::default(),
                touched: 0,
            })
        });
        self.by_age.remove(&entry.touched);
        entry.touched = self.clock;
        self.by_age.insert(self.clock, peer);
        entry
    }

    /// Forgets the least recently updated peer that is not connected (among the oldest
    /// few), or the least recently updated one.
    fn evict(&mut self) {
        let victim = self
            .by_age
            .values()
            .take(EVICTION_SCAN)
            .find(|p| self.peers.get(p).is_some_and(|e| !e.connected()))
            .or_else(|| self.by_age.values().next())
            .copied();
        if let Some(peer) = victim {
            self.remove(&peer);
        }
    }

    /// Forgets one address of `peer`.
    pub fn remove_addr(&mut self, peer: &PeerId, addr: &Multiaddr) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.addrs.retain(|k| &k.addr != addr);
            if entry.addrs.is_empty() && entry.record == PeerRecord::default() {
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
    fn signed_records_outrank_announced_addresses_and_only_newer_ones_replace() {
        use mycel_core::{
            Keypair,
            record::{PeerRecord as Record, PeerRecordFormat},
        };
        let keypair = Keypair::generate();
        let peer = keypair.peer_id();
        let signed = |seq, addrs: Vec<Multiaddr>| {
            SignedPeerRecord::new(
                &keypair,
                Record::new(peer, seq, addrs),
                PeerRecordFormat::Standard,
            )
            .unwrap()
        };
        let mut store = PeerStore::default();
        let t0 = Instant::now();
        store.add_addrs_from(peer, [addr(1)], AddrSource::Identify, t0);
        assert!(store.add_signed_record(peer, signed(5, vec![addr(2), addr(3)]), t0));
        assert_eq!(store.addrs_at(&peer, t0), vec![addr(2), addr(3), addr(1)]);
        // An older record is refused; a newer one replaces the signed addresses.
        assert!(!store.add_signed_record(peer, signed(4, vec![addr(9)]), t0));
        assert!(store.add_signed_record(peer, signed(6, vec![addr(4)]), t0));
        assert_eq!(store.addrs_at(&peer, t0), vec![addr(4), addr(1)]);
        assert_eq!(
            store
                .record_at(&peer, t0)
                .unwrap()
                .signed_record
                .unwrap()
                .record()
                .seq,
            6
        );
        // A record is only taken for its own peer.
        assert!(!store.add_signed_record(PeerId::random(), signed(7, vec![]), t0));
        // Signed addresses expire like announced ones.
        let later = t0 + IDENTIFY_ADDR_TTL + Duration::from_secs(1);
        assert!(store.addrs_at(&peer, later).is_empty());
    }

    #[test]
    fn an_identify_push_keeps_what_it_leaves_out_and_a_signed_record_stands_for_the_addrs() {
        use mycel_core::{
            Keypair,
            record::{PeerRecord as Record, PeerRecordFormat},
        };
        let keypair = Keypair::generate();
        let peer = keypair.peer_id();
        let mut store = PeerStore::default();
        let t0 = Instant::now();
        let answer = Update {
            public_key: Some(keypair.public()),
            agent_version: Some("go-libp2p".into()),
            protocol_version: Some("ipfs/0.1.0".into()),
            listen_addrs: Some(vec![addr(1)]),
            protocols: Some(vec!["/ipfs/ping/1.0.0".into()]),
            observed_addr: None,
            signed_peer_record: None,
        };
        let known = store.apply_identify(peer, answer, t0);
        assert_eq!(known.agent_version.as_deref(), Some("go-libp2p"));
        assert_eq!(known.addrs, vec![addr(1)]);
        // A push with only new protocols and a signed record: the versions stay, the
        // record's addresses come in and the unsigned ones sent with it do not.
        let signed = SignedPeerRecord::new(
            &keypair,
            Record::new(peer, 1, vec![addr(2)]),
            PeerRecordFormat::Standard,
        )
        .unwrap();
        let push = Update {
            public_key: None,
            agent_version: None,
            protocol_version: None,
            listen_addrs: Some(vec![addr(3)]),
            protocols: Some(vec!["/meshsub/1.1.0".into()]),
            observed_addr: None,
            signed_peer_record: Some(signed),
        };
        let known = store.apply_identify(peer, push, t0);
        assert_eq!(known.agent_version.as_deref(), Some("go-libp2p"));
        assert_eq!(known.protocol_version.as_deref(), Some("ipfs/0.1.0"));
        assert_eq!(known.protocols, vec!["/meshsub/1.1.0".to_string()]);
        assert_eq!(known.addrs, vec![addr(2), addr(1)]);
        assert_eq!(known.public_key, Some(keypair.public()));
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
    fn addresses_live_as_long_as_their_source_says() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        let t0 = Instant::now();
        store.add_addrs_from(peer, [addr(1)], AddrSource::Identify, t0);
        store.add_addrs_from(peer, [addr(2)], AddrSource::Manual, t0);
        store.connected(peer, addr(3), t0);
        // Best first: connected, manual, announced.
        assert_eq!(store.addrs_at(&peer, t0), vec![addr(3), addr(2), addr(1)]);
        // Announced addresses expire; connected ones last while connected.
        let later = t0 + IDENTIFY_ADDR_TTL + Duration::from_secs(1);
        assert_eq!(store.addrs_at(&peer, later), vec![addr(3), addr(2)]);
        // After a disconnect, the connection's address lasts a while more.
        store.disconnected(&peer, later);
        let after = later + RECENTLY_CONNECTED_ADDR_TTL;
        assert_eq!(
            store.addrs_at(&peer, after - Duration::from_secs(1)),
            vec![addr(3), addr(2)]
        );
        assert_eq!(store.addrs_at(&peer, after), vec![addr(2)]);
        store.remove_expired(after);
        store.remove_addr(&peer, &addr(2));
        assert!(store.is_empty());
    }

    #[test]
    fn a_better_source_upgrades_an_address() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        let t0 = Instant::now();
        store.add_addrs_from(peer, [addr(1)], AddrSource::Identify, t0);
        store.connected(peer, addr(1), t0);
        let much_later = t0 + IDENTIFY_ADDR_TTL * 10;
        assert_eq!(store.addrs_at(&peer, much_later), vec![addr(1)]);
    }

    #[test]
    fn a_full_store_forgets_a_disconnected_peer_before_a_connected_one() {
        let mut store = PeerStore::new(2);
        let t0 = Instant::now();
        let (connected, idle, new) = (PeerId::random(), PeerId::random(), PeerId::random());
        store.connected(connected, addr(1), t0);
        store.add_addrs(idle, [addr(2)]);
        store.add_addrs(new, [addr(3)]);
        assert!(store.record(&connected).is_some());
        assert!(store.record(&idle).is_none());
        assert!(store.record(&new).is_some());
    }

    #[test]
    fn latency_is_smoothed() {
        let mut store = PeerStore::default();
        let peer = PeerId::random();
        store.record_latency(peer, Duration::from_millis(10));
        store.record_latency(peer, Duration::from_millis(60));
        assert_eq!(
            store.record(&peer).unwrap().latency,
            Some(Duration::from_millis(20))
        );
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
