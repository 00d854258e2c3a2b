//! IWANT follow-up (gossipsub-v1.1.md, "Spam Protection Measures"): when an IHAVE makes
//! us send an IWANT, the advertiser promises one of the messages (picked at random); if
//! no peer delivers it in time, the promise is broken and the advertiser penalised.

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use mycel_core::PeerId;

use crate::MessageId;

/// Promises tracked at most. A peer makes at most `max_ihave_messages` promises per
/// heartbeat and each lasts `iwant_followup_time`, so this is reached only by thousands
/// of peers gossiping at their limit; further promises go untracked.
pub(crate) const MAX_PROMISES: usize = 100_000;

/// Open promises: by message id, the peers that advertised it and their deadlines.
#[derive(Debug, Default)]
pub(crate) struct Promises {
    by_id: HashMap<MessageId, BTreeMap<PeerId, Instant>>,
    len: usize,
}

impl Promises {
    /// `peer` promised `id` by `deadline` (an earlier promise of the same stands).
    pub(crate) fn add(&mut self, peer: PeerId, id: MessageId, deadline: Instant) {
        if self.len >= MAX_PROMISES {
            return;
        }
        let peers = self.by_id.entry(id).or_default();
        if let std::collections::btree_map::Entry::Vacant(e) = peers.entry(peer) {
            e.insert(deadline);
            self.len += 1;
        }
    }

    /// The message arrived: every promise of it is kept.
    pub(crate) fn fulfil(&mut self, id: &MessageId) {
        if let Some(peers) = self.by_id.remove(id) {
            self.len -= peers.len();
        }
    }

    /// Removes the promises past their deadline at `now`; returns how many each peer
    /// broke.
    pub(crate) fn take_broken(&mut self, now: Instant) -> BTreeMap<PeerId, usize> {
        let mut broken: BTreeMap<PeerId, usize> = BTreeMap::new();
        let mut removed = 0;
        self.by_id.retain(|_, peers| {
            peers.retain(|peer, deadline| {
                if *deadline <= now {
                    *broken.entry(*peer).or_default() += 1;
                    removed += 1;
                    false
                } else {
                    true
                }
            });
            !peers.is_empty()
        });
        self.len -= removed;
        broken
    }

    /// Forgets a peer's promises (it disconnected).
    pub(crate) fn remove_peer(&mut self, peer: &PeerId) {
        let mut removed = 0;
        self.by_id.retain(|_, peers| {
            if peers.remove(peer).is_some() {
                removed += 1;
            }
            !peers.is_empty()
        });
        self.len -= removed;
    }

    /// Open promises.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn broken_promises_are_counted_per_peer_and_kept_ones_forgotten() {
        let now = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        let id = |n: u8| MessageId::from(vec![n]);
        let mut promises = Promises::default();
        let later = now + Duration::from_secs(3);
        promises.add(a, id(1), later);
        promises.add(a, id(2), later);
        promises.add(b, id(1), later);
        promises.add(b, id(3), later);
        promises.add(b, id(3), now + Duration::from_secs(60));
        assert_eq!(promises.len(), 4);
        promises.fulfil(&id(1));
        assert_eq!(promises.len(), 2);
        assert!(promises.take_broken(now).is_empty(), "not due yet");
        let broken = promises.take_broken(later);
        assert_eq!(broken, BTreeMap::from([(a, 1), (b, 1)]));
        assert_eq!(promises.len(), 0);
        promises.add(a, id(4), later);
        promises.remove_peer(&a);
        assert_eq!(promises.len(), 0);
    }
}
