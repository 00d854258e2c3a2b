//! What scoring remembers of each recent message: its validation status, when it was
//! first seen, and who delivered it; bounded in time and in count.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use mycel_core::PeerId;

use crate::{MessageId, TopicHash};

/// How long a message's delivery record is kept after it was first seen: the seen-cache
/// TTL of go and rust ([`crate::DEFAULT_SEEN_TTL`]), so that a duplicate the router
/// still recognises still finds its record. Only the P3 window (milliseconds) and
/// duplicates of invalid messages need it at all.
pub(super) const DELIVERY_RECORD_TTL: Duration = Duration::from_secs(120);

/// Delivery records kept at most; the oldest go first beyond it. 100,000 cover a
/// sustained 800 messages a second over [`DELIVERY_RECORD_TTL`]. A record costs about
/// 250 bytes plus 45 per deliverer, so this bounds them to some 25 MiB under a flood
/// of distinct ids (one deliverer each) and 45 MiB at four deliverers a message.
pub(super) const MAX_DELIVERY_RECORDS: usize = 100_000;

/// Where a message is in validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeliveryStatus {
    /// Received and being validated.
    Pending,
    /// Accepted at `validated`.
    Valid {
        /// When validation accepted it; the P3 window runs from here.
        validated: Instant,
    },
    /// Rejected: every later delivery of it is penalised (P4).
    Invalid,
    /// The validator ignored it: later deliveries neither count nor cost.
    Ignored,
}

/// One message's record.
#[derive(Debug)]
pub(super) struct DeliveryRecord {
    /// Where validation stands.
    pub(super) status: DeliveryStatus,
    /// The topic it was received (and is scored) in; a duplicate claiming another topic
    /// is scored in this one.
    pub(super) topic: TopicHash,
    /// When it was first received; the record expires [`DELIVERY_RECORD_TTL`] later.
    pub(super) first_seen: Instant,
    /// The peers that delivered it, each once, the first one included. Emptied once the
    /// message is invalid or ignored (later deliveries no longer depend on it).
    pub(super) peers: Vec<PeerId>,
}

/// Delivery records by message id, forgotten [`DELIVERY_RECORD_TTL`] after the message
/// was first seen and beyond [`MAX_DELIVERY_RECORDS`], oldest first.
#[derive(Debug, Default)]
pub(super) struct DeliveryRecords {
    records: HashMap<MessageId, DeliveryRecord>,
    /// The ids of `records`, each once, in the order they were created. Records leave
    /// only from the front, so the two always hold the same ids.
    order: VecDeque<MessageId>,
}

impl DeliveryRecords {
    /// Records held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The record of `id`, if any.
    pub(super) fn get_mut(&mut self, id: &MessageId) -> Option<&mut DeliveryRecord> {
        self.records.get_mut(id)
    }

    /// The record of `id`; if there is none, a new one (pending validation, first seen
    /// `now` from `peer` in `topic`), for which the oldest record makes room when full.
    pub(super) fn get_or_insert(
        &mut self,
        id: &MessageId,
        topic: &TopicHash,
        peer: &PeerId,
        now: Instant,
    ) -> &mut DeliveryRecord {
        if !self.records.contains_key(id) {
            while self.records.len() >= MAX_DELIVERY_RECORDS {
                self.pop_oldest();
            }
            self.order.push_back(id.clone());
        }
        self.records
            .entry(id.clone())
            .or_insert_with(|| DeliveryRecord {
                status: DeliveryStatus::Pending,
                topic: topic.clone(),
                first_seen: now,
                peers: vec![*peer],
            })
    }

    /// Forgets the records first seen [`DELIVERY_RECORD_TTL`] or longer before `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(id) = self.order.front() {
            let expired = self.records.get(id).is_none_or(|record| {
                now.saturating_duration_since(record.first_seen) >= DELIVERY_RECORD_TTL
            });
            if !expired {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some(id) = self.order.pop_front() {
            self.records.remove(&id);
        }
    }
}
