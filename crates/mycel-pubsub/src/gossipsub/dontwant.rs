//! IDONTWANT bookkeeping for one peer (gossipsub-v1.2.md): the message ids it told us
//! it already has, which we then do not forward to it, for a few heartbeats.

use std::collections::{HashMap, VecDeque};

use crate::MessageId;

/// Heartbeats an IDONTWANT is honoured (go's `IDontWantMessageTTL`): long enough to
/// cover the message's trip through the mesh.
pub(crate) const IDONTWANT_TTL_HEARTBEATS: u64 = 3;

/// Ids remembered per peer. go accepts up to 10 ids in each of 1000 RPCs a heartbeat;
/// 5000 ids a peer covers more than a thousand large messages a second in one topic.
pub(crate) const MAX_IDONTWANT_IDS_PER_PEER: usize = 5000;

/// Longest id taken from an IDONTWANT or IHAVE; every id function in use (go's 46
/// bytes, rust's text of about 70, a sha256) stays far below it.
pub(crate) const MAX_MESSAGE_ID_LEN: usize = 256;

/// One peer's IDONTWANTs.
#[derive(Debug, Default)]
pub(crate) struct DontWant {
    /// Each id's expiry, in heartbeat ticks.
    ids: HashMap<MessageId, u64>,
    /// `(expiry, id)` in arrival order (hence expiry order); an entry whose expiry is
    /// not the map's is stale and skipped.
    order: VecDeque<(u64, MessageId)>,
    /// RPCs with IDONTWANTs taken this heartbeat.
    rpcs: usize,
}

impl DontWant {
    /// Takes the ids of one RPC's IDONTWANTs at heartbeat `tick`: at most `max_ids` of
    /// them, and nothing once `max_rpcs` RPCs were taken this heartbeat. Returns how
    /// many ids were recorded.
    pub(crate) fn record<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a MessageId>,
        tick: u64,
        max_rpcs: usize,
        max_ids: usize,
    ) -> usize {
        if self.rpcs >= max_rpcs {
            return 0;
        }
        self.rpcs += 1;
        let expiry = tick + IDONTWANT_TTL_HEARTBEATS;
        let mut recorded = 0;
        for id in ids.into_iter().take(max_ids) {
            let known = self.ids.contains_key(id);
            if id.as_bytes().len() > MAX_MESSAGE_ID_LEN
                || (!known && self.ids.len() >= MAX_IDONTWANT_IDS_PER_PEER)
            {
                continue;
            }
            if self.ids.insert(id.clone(), expiry) != Some(expiry) {
                self.order.push_back((expiry, id.clone()));
            }
            recorded += 1;
        }
        recorded
    }

    /// Whether the peer said it does not want `id`.
    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        self.ids.contains_key(id)
    }

    /// A heartbeat: the per-heartbeat count restarts and ids due at `tick` are
    /// forgotten.
    pub(crate) fn heartbeat(&mut self, tick: u64) {
        self.rpcs = 0;
        while self
            .order
            .front()
            .is_some_and(|(expiry, _)| *expiry <= tick)
        {
            if let Some((expiry, id)) = self.order.pop_front() {
                // A later IDONTWANT of the same id moved its expiry: keep it.
                if self.ids.get(&id) == Some(&expiry) {
                    self.ids.remove(&id);
                }
            }
        }
    }

    /// Ids remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> MessageId {
        MessageId::from(n.to_be_bytes().to_vec())
    }

    #[test]
    fn ids_are_honoured_for_a_few_heartbeats() {
        let mut dw = DontWant::default();
        assert_eq!(dw.record(&[id(1), id(2)], 10, 1000, 10), 2);
        assert!(dw.contains(&id(1)));
        dw.heartbeat(12);
        assert!(dw.contains(&id(2)));
        dw.heartbeat(13);
        assert!(!dw.contains(&id(1)) && !dw.contains(&id(2)));
        assert_eq!(dw.len(), 0);
    }

    #[test]
    fn floods_are_cut_per_rpc_per_heartbeat_and_per_peer() {
        let mut dw = DontWant::default();
        let many: Vec<MessageId> = (0..50).map(id).collect();
        assert_eq!(dw.record(&many, 0, 2, 10), 10, "ids per rpc");
        assert_eq!(dw.record(&many[10..], 0, 2, 10), 10);
        assert_eq!(dw.record(&many[20..], 0, 2, 10), 0, "rpcs per heartbeat");
        dw.heartbeat(1);
        assert_eq!(dw.record(&many[20..], 1, 2, 10), 10);
        let long = MessageId::from(vec![0; MAX_MESSAGE_ID_LEN + 1]);
        assert_eq!(dw.record([&long], 1, 2, 10), 0, "over-long id");

        let mut full = DontWant::default();
        let ids: Vec<MessageId> = (0..=MAX_IDONTWANT_IDS_PER_PEER as u16).map(id).collect();
        full.record(&ids, 0, 1, usize::MAX);
        assert_eq!(full.len(), MAX_IDONTWANT_IDS_PER_PEER);
    }
}
