//! Addresses other peers report seeing us at (identify's `observedAddr`), and which of
//! them several peers agree on: candidates for our external address.

use std::collections::{HashMap, HashSet};

use mycel_core::{Multiaddr, PeerId};

/// Distinct peers that must report an address before it becomes a candidate.
pub const OBSERVATIONS_FOR_CANDIDATE: usize = 2;

/// Observed addresses tracked at once; reports of more are ignored until some go.
pub const MAX_OBSERVED_ADDRS: usize = 64;

/// Reporters remembered per address (enough to decide; more add nothing).
const MAX_REPORTERS: usize = 8;

/// Counts who saw us where.
#[derive(Debug, Default)]
pub(crate) struct ObservedAddrs {
    seen: HashMap<Multiaddr, HashSet<PeerId>>,
    candidates: Vec<Multiaddr>,
}

impl ObservedAddrs {
    /// Records that `peer` sees us at `addr`; returns the address when it has just
    /// become a candidate.
    pub(crate) fn observe(&mut self, peer: PeerId, addr: Multiaddr) -> Option<Multiaddr> {
        if !self.seen.contains_key(&addr) && self.seen.len() >= MAX_OBSERVED_ADDRS {
            return None;
        }
        let reporters = self.seen.entry(addr.clone()).or_default();
        if reporters.len() < MAX_REPORTERS {
            reporters.insert(peer);
        }
        if reporters.len() >= OBSERVATIONS_FOR_CANDIDATE && !self.candidates.contains(&addr) {
            self.candidates.push(addr.clone());
            return Some(addr);
        }
        None
    }

    /// Forgets what `peer` reported (it disconnected).
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.seen.retain(|_, reporters| {
            reporters.remove(peer);
            !reporters.is_empty()
        });
    }

    /// The addresses several peers agree on, in the order they qualified.
    pub(crate) fn candidates(&self) -> Vec<Multiaddr> {
        self.candidates.clone()
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
    fn tracking_is_bounded_and_forgets_departed_peers() {
        let mut observed = ObservedAddrs::default();
        let peer = PeerId::random();
        for port in 0..200 {
            observed.observe(peer, addr(port));
        }
        assert_eq!(observed.seen.len(), MAX_OBSERVED_ADDRS);
        observed.forget(&peer);
        assert!(observed.seen.is_empty());
    }
}
