//! Addresses other peers report seeing us at (identify's `observedAddr`), and which of
//! them several peers agree on: candidates for our external address.

use std::collections::{HashMap, HashSet};

use mycel_core::{Multiaddr, PeerId};

/// Distinct peers that must report an address before it becomes a candidate.
pub const OBSERVATIONS_FOR_CANDIDATE: usize = 2;

/// Peers whose latest observation is kept; reports from more are ignored until some
/// disconnect.
pub const MAX_OBSERVERS: usize = 1024;

/// Candidates kept at once; more are not announced.
pub const MAX_CANDIDATES: usize = 8;

/// Who saw us where: each connected peer's latest report.
#[derive(Debug, Default)]
pub(crate) struct ObservedAddrs {
    by_peer: HashMap<PeerId, Multiaddr>,
    candidates: Vec<Multiaddr>,
}

impl ObservedAddrs {
    /// Records that `peer` sees us at `addr` (replacing what it said before); returns
    /// the address when it has just become a candidate.
    pub(crate) fn observe(&mut self, peer: PeerId, addr: Multiaddr) -> Option<Multiaddr> {
        if !self.by_peer.contains_key(&peer) && self.by_peer.len() >= MAX_OBSERVERS {
            return None;
        }
        self.by_peer.insert(peer, addr.clone());
        self.prune();
        if self.candidates.contains(&addr)
            || self.candidates.len() >= MAX_CANDIDATES
            || self.observers(&addr) < OBSERVATIONS_FOR_CANDIDATE
        {
            return None;
        }
        self.candidates.push(addr.clone());
        Some(addr)
    }

    /// Forgets what `peer` reported (it disconnected).
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.by_peer.remove(peer);
        self.prune();
    }

    /// Keeps only the reports of `connected` peers.
    pub(crate) fn retain_peers(&mut self, connected: &HashSet<PeerId>) {
        self.by_peer.retain(|p, _| connected.contains(p));
        self.prune();
    }

    /// The addresses several peers agree on, in the order they qualified.
    pub(crate) fn candidates(&self) -> Vec<Multiaddr> {
        self.candidates.clone()
    }

    fn observers(&self, addr: &Multiaddr) -> usize {
        self.by_peer.values().filter(|a| *a == addr).count()
    }

    /// Candidates too few peers still report stop being candidates.
    fn prune(&mut self) {
        let by_peer = &self.by_peer;
        self.candidates
            .retain(|c| by_peer.values().filter(|a| *a == c).count() >= OBSERVATIONS_FOR_CANDIDATE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/203.0.113.7/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn two_peers_agreeing_make_a_candidate_once() {
        let mut observed = ObservedAddrs::default();
        let (p1, p2, p3) = (PeerId::random(), PeerId::random(), PeerId::random());
        assert_eq!(observed.observe(p1, addr(4001)), None);
        assert_eq!(
            observed.observe(p1, addr(4001)),
            None,
            "one peer twice is not two"
        );
        assert_eq!(observed.observe(p2, addr(4001)), Some(addr(4001)));
        assert_eq!(observed.observe(p3, addr(4001)), None, "announced once");
        assert_eq!(observed.candidates(), vec![addr(4001)]);
    }

    #[test]
    fn a_peer_counts_once_and_candidates_go_with_their_observers() {
        let mut observed = ObservedAddrs::default();
        let (p1, p2) = (PeerId::random(), PeerId::random());
        // One peer cycling through addresses holds one report, not many.
        for port in 0..200 {
            observed.observe(p1, addr(port));
        }
        assert_eq!(observed.by_peer.len(), 1);
        observed.observe(p2, addr(199));
        assert_eq!(observed.candidates(), vec![addr(199)]);
        observed.forget(&p2);
        assert!(observed.candidates().is_empty());
        observed.retain_peers(&HashSet::new());
        assert!(observed.by_peer.is_empty());
    }
}
