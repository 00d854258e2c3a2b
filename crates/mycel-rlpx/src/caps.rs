//! Capability multiplexing (devp2p `rlpx.md`, "Message ID-based Multiplexing") and the
//! fair queue that shares a connection's egress among capabilities, sans IO.

use std::collections::VecDeque;

use crate::p2p::{BASE_PROTOCOL_LEN, Capability};

/// A capability we speak, with the number of message ids it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Name and version.
    pub capability: Capability,
    /// How many message ids it takes (its messages are numbered 0..messages).
    pub messages: u64,
}

/// A capability both sides speak, placed in the message-id space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCapability {
    /// Name and the version agreed.
    pub capability: Capability,
    /// Its first message id on the wire.
    pub offset: u64,
    /// Its number of message ids.
    pub messages: u64,
}

impl SharedCapability {
    /// Whether wire id `id` is one of this capability's.
    pub fn contains(&self, id: u64) -> bool {
        (self.offset..self.offset + self.messages).contains(&id)
    }
}

/// The capabilities both sides speak: matched by name (case-sensitive), the highest
/// version both have; placed from message id 0x10 in alphabetical order of name.
pub fn match_capabilities(ours: &[Protocol], theirs: &[Capability]) -> Vec<SharedCapability> {
    let mut best: Vec<&Protocol> = Vec::new();
    for ours in ours {
        if !theirs.contains(&ours.capability) {
            continue;
        }
        match best
            .iter_mut()
            .find(|b| b.capability.name == ours.capability.name)
        {
            Some(b) if b.capability.version < ours.capability.version => *b = ours,
            Some(_) => {}
            None => best.push(ours),
        }
    }
    best.sort_by(|a, b| a.capability.name.cmp(&b.capability.name));
    let mut offset = BASE_PROTOCOL_LEN;
    best.into_iter()
        .map(|p| {
            let shared = SharedCapability {
                capability: p.capability.clone(),
                offset,
                messages: p.messages,
            };
            offset += p.messages;
            shared
        })
        .collect()
}

/// Queues of outgoing frames, one per capability, served in turn one frame at a time,
/// so that a capability sending large messages cannot hold back one sending small
/// ones. The p2p capability's own messages (Ping, Pong, Disconnect) go first.
#[derive(Debug)]
pub struct FairQueue<T> {
    control: VecDeque<T>,
    queues: Vec<VecDeque<T>>,
    next: usize,
    limit: usize,
}

impl<T> FairQueue<T> {
    /// `queues` capability queues of at most `limit` items each.
    pub fn new(queues: usize, limit: usize) -> Self {
        FairQueue {
            control: VecDeque::new(),
            queues: (0..queues).map(|_| VecDeque::new()).collect(),
            next: 0,
            limit,
        }
    }

    /// Queues a p2p message (no limit: there are only a few kinds, sent rarely).
    pub fn push_control(&mut self, item: T) {
        self.control.push_back(item);
    }

    /// Queues `item` for capability `queue`; gives it back when that queue is full.
    pub fn push(&mut self, queue: usize, item: T) -> Result<(), T> {
        match self.queues.get_mut(queue) {
            Some(q) if q.len() < self.limit => {
                q.push_back(item);
                Ok(())
            }
            _ => Err(item),
        }
    }

    /// Whether capability `queue` has room.
    pub fn has_room(&self, queue: usize) -> bool {
        self.queues.get(queue).is_some_and(|q| q.len() < self.limit)
    }

    /// The next frame to send: control first, then the capabilities in turn.
    pub fn pop(&mut self) -> Option<T> {
        if let Some(item) = self.control.pop_front() {
            return Some(item);
        }
        let n = self.queues.len();
        for i in 0..n {
            let q = (self.next + i) % n;
            if let Some(item) = self.queues[q].pop_front() {
                self.next = (q + 1) % n;
                return Some(item);
            }
        }
        None
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.control.is_empty() && self.queues.iter().all(VecDeque::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(name: &str, version: u64) -> Capability {
        Capability {
            name: name.into(),
            version,
        }
    }

    fn proto(name: &str, version: u64, messages: u64) -> Protocol {
        Protocol {
            capability: cap(name, version),
            messages,
        }
    }

    #[test]
    fn shared_capabilities_take_the_highest_common_version_in_alphabetical_order() {
        let ours = [
            proto("snap", 1, 8),
            proto("eth", 67, 17),
            proto("eth", 68, 17),
            proto("les", 4, 23),
            proto("Test", 1, 2),
        ];
        let theirs = [
            cap("eth", 66),
            cap("eth", 67),
            cap("snap", 1),
            cap("test", 1),
            cap("zzz", 9),
        ];
        let shared = match_capabilities(&ours, &theirs);
        let got: Vec<(String, u64, u64)> = shared
            .iter()
            .map(|s| (s.capability.to_string(), s.offset, s.messages))
            .collect();
        // eth/68 is ours only; names are case-sensitive; les and zzz are not shared.
        assert_eq!(
            got,
            [("eth/67".into(), 0x10, 17), ("snap/1".into(), 0x21, 8)]
        );
        assert!(shared[0].contains(0x10) && shared[0].contains(0x20) && !shared[0].contains(0x21));
    }

    #[test]
    fn the_queue_serves_capabilities_in_turn_one_frame_each_control_first() {
        let mut q = FairQueue::new(2, 100);
        for i in 0..5 {
            q.push(0, ("bulk", i)).unwrap();
        }
        q.push(1, ("small", 0)).unwrap();
        q.push(1, ("small", 1)).unwrap();
        q.push_control(("ping", 0));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            [
                ("ping", 0),
                ("bulk", 0),
                ("small", 0),
                ("bulk", 1),
                ("small", 1),
                ("bulk", 2),
                ("bulk", 3),
                ("bulk", 4)
            ]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_gives_the_item_back() {
        let mut q = FairQueue::new(1, 2);
        assert!(q.push(0, 1).is_ok() && q.push(0, 2).is_ok());
        assert!(!q.has_room(0));
        assert_eq!(q.push(0, 3), Err(3));
        assert_eq!(q.push(7, 4), Err(4), "no such queue");
        assert_eq!(q.pop(), Some(1));
        assert!(q.has_room(0));
    }
}
