//! How many inbound ping streams each peer has open, so the handler can refuse extras.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, Mutex, PoisonError},
};

use mycel_core::PeerId;

/// Counts open inbound streams per peer, shared by every stream a handler serves.
///
/// A peer has an entry only while it has a stream open, and there are at most
/// `max_peers` entries, so the table is bounded.
#[derive(Clone)]
pub(crate) struct InboundLimit {
    open: Arc<Mutex<HashMap<PeerId, usize>>>,
    per_peer: usize,
    max_peers: usize,
}

/// One open stream counted against its peer; dropping it (when the stream's task ends,
/// however it ends) frees the slot.
pub(crate) struct InboundPermit {
    limit: InboundLimit,
    peer: PeerId,
}

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The peer already has `per_peer` streams open.
    PeerFull,
    /// `max_peers` other peers have streams open.
    TooManyPeers,
}

impl InboundLimit {
    pub(crate) fn new(per_peer: usize, max_peers: usize) -> Self {
        InboundLimit {
            open: Arc::default(),
            per_peer,
            max_peers,
        }
    }

    /// Counts one more stream from `peer`, unless that passes a limit.
    pub(crate) fn try_acquire(&self, peer: PeerId) -> Result<InboundPermit, Refused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.get(&peer).copied().unwrap_or(0);
        if count >= self.per_peer {
            return Err(Refused::PeerFull);
        }
        if count == 0 && open.len() >= self.max_peers {
            return Err(Refused::TooManyPeers);
        }
        open.insert(peer, count + 1);
        Ok(InboundPermit {
            limit: self.clone(),
            peer,
        })
    }

    #[cfg(test)]
    fn tracked_peers(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for InboundPermit {
    fn drop(&mut self) {
        let mut open = self
            .limit
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Entry::Occupied(mut entry) = open.entry(self.peer) {
            if *entry.get() <= 1 {
                entry.remove();
            } else {
                *entry.get_mut() -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_stream_from_one_peer_is_refused() {
        let limit = InboundLimit::new(2, 10);
        let peer = PeerId::random();
        let _a = limit.try_acquire(peer).unwrap();
        let _b = limit.try_acquire(peer).unwrap();
        assert_eq!(limit.try_acquire(peer).err(), Some(Refused::PeerFull));
    }

    #[test]
    fn closing_a_stream_frees_its_slot() {
        let limit = InboundLimit::new(2, 10);
        let peer = PeerId::random();
        let a = limit.try_acquire(peer).unwrap();
        let _b = limit.try_acquire(peer).unwrap();
        drop(a);
        assert!(limit.try_acquire(peer).is_ok());
    }

    #[test]
    fn limit_is_per_peer() {
        let limit = InboundLimit::new(2, 10);
        let (one, two) = (PeerId::random(), PeerId::random());
        let _a = limit.try_acquire(one).unwrap();
        let _b = limit.try_acquire(one).unwrap();
        assert!(limit.try_acquire(two).is_ok());
    }

    #[test]
    fn peer_leaves_the_table_when_its_last_stream_closes() {
        let limit = InboundLimit::new(2, 10);
        let peer = PeerId::random();
        let a = limit.try_acquire(peer).unwrap();
        let b = limit.try_acquire(peer).unwrap();
        drop(a);
        assert_eq!(limit.tracked_peers(), 1);
        drop(b);
        assert_eq!(limit.tracked_peers(), 0);
    }

    #[test]
    fn table_holds_at_most_max_peers() {
        let limit = InboundLimit::new(2, 3);
        let permits: Vec<_> = (0..3)
            .map(|_| limit.try_acquire(PeerId::random()).unwrap())
            .collect();
        assert_eq!(
            limit.try_acquire(PeerId::random()).err(),
            Some(Refused::TooManyPeers)
        );
        // A peer already in the table may still open its second stream.
        assert!(limit.try_acquire(permits[0].peer).is_ok());
        drop(permits);
        assert!(limit.try_acquire(PeerId::random()).is_ok());
    }
}
