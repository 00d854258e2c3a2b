//! [`Pool`]: which connections a switch holds, and whether it may take one more.
//!
//! A plain state machine, no IO and no tasks: the switch asks it before a handshake
//! starts ([`Pool::begin_inbound`], [`Pool::begin_outbound`]) and when a connection is
//! ready ([`Pool::admit`]), tells it when one ends ([`Pool::remove`]), and turns the
//! [`PoolEvent`]s it returns into network events while still holding the pool, so a
//! peer's `Connected` and `Disconnected` alternate in the order they happened.

use std::collections::{HashMap, VecDeque};

use mycel_core::{Direction, Limit, PeerId};

use crate::SwitchConfig;

/// A connection handle the pool can hold: cheap to clone, and able to say it is on its
/// way out (it then no longer counts against the per-peer limit, and lookups skip it).
pub trait PoolConnection: Clone {
    /// Whether the connection is closing or closed.
    fn is_closed(&self) -> bool;
}

/// The limits the pool enforces, from [`SwitchConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Established inbound connections.
    pub max_established_inbound: usize,
    /// Established outbound connections.
    pub max_established_outbound: usize,
    /// Live connections to one peer.
    pub max_connections_per_peer: usize,
    /// Inbound handshakes in progress; one more pushes out the oldest.
    pub max_pending_inbound: usize,
    /// Outbound connection attempts in progress; one more is refused.
    pub max_pending_outbound: usize,
}

impl From<&SwitchConfig> for PoolLimits {
    fn from(c: &SwitchConfig) -> Self {
        PoolLimits {
            max_established_inbound: c.max_established_inbound,
            max_established_outbound: c.max_established_outbound,
            max_connections_per_peer: c.max_connections_per_peer,
            max_pending_inbound: c.max_pending_inbound,
            max_pending_outbound: c.max_pending_outbound,
        }
    }
}

/// Why the pool refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A limit was reached.
    Limit(Limit),
    /// The pool is closed.
    Closed,
}

/// An inbound handshake the pool counts, from [`Pool::begin_inbound`] until
/// [`Pool::end_inbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PendingId(u64);

/// What changed for a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// Its first connection was admitted.
    Connected {
        /// The peer.
        peer: PeerId,
        /// The direction of that connection.
        direction: Direction,
    },
    /// Its last connection was removed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
}

struct Entry<C> {
    id: u64,
    direction: Direction,
    conn: C,
}

/// The connections of a switch, counted by direction and peer.
pub struct Pool<C> {
    limits: PoolLimits,
    connections: HashMap<PeerId, Vec<Entry<C>>>,
    inbound: usize,
    outbound: usize,
    pending_inbound: VecDeque<PendingId>,
    next_pending: u64,
    pending_outbound: usize,
    closed: bool,
}

impl<C: PoolConnection> Pool<C> {
    /// An empty pool.
    pub fn new(limits: PoolLimits) -> Self {
        Pool {
            limits,
            connections: HashMap::new(),
            inbound: 0,
            outbound: 0,
            pending_inbound: VecDeque::new(),
            next_pending: 0,
            pending_outbound: 0,
            closed: false,
        }
    }

    /// An inbound connection arrived, before its handshake. Refused when the
    /// established inbound connections are at their limit (or pending handshakes are
    /// not allowed at all). When the pending handshakes are at theirs, the one pending
    /// longest makes room: it is returned, for the caller to abort. An honest peer
    /// finishes in a few round trips; the oldest is the likeliest to be stalling, and
    /// keeping the newest lets honest peers through a flood of half-open connections.
    pub fn begin_inbound(&mut self) -> Result<(PendingId, Option<PendingId>), Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        if self.inbound >= self.limits.max_established_inbound {
            return Err(Refusal::Limit(Limit::EstablishedInbound));
        }
        if self.limits.max_pending_inbound == 0 {
            return Err(Refusal::Limit(Limit::PendingInbound));
        }
        let evicted = if self.pending_inbound.len() >= self.limits.max_pending_inbound {
            self.pending_inbound.pop_front()
        } else {
            None
        };
        self.next_pending += 1;
        let id = PendingId(self.next_pending);
        self.pending_inbound.push_back(id);
        Ok((id, evicted))
    }

    /// The handshake `id` ended (done, failed or aborted). Whether it was still pending
    /// (an evicted one no longer is).
    pub fn end_inbound(&mut self, id: PendingId) -> bool {
        let before = self.pending_inbound.len();
        self.pending_inbound.retain(|p| *p != id);
        before != self.pending_inbound.len()
    }

    /// Inbound handshakes in progress.
    pub fn pending_inbound(&self) -> usize {
        self.pending_inbound.len()
    }

    /// An outbound connection attempt starts; [`Pool::end_outbound`] when it ends.
    pub fn begin_outbound(&mut self) -> Result<(), Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        if self.pending_outbound >= self.limits.max_pending_outbound {
            return Err(Refusal::Limit(Limit::PendingOutbound));
        }
        self.pending_outbound += 1;
        Ok(())
    }

    /// An outbound attempt ended.
    pub fn end_outbound(&mut self) {
        self.pending_outbound = self.pending_outbound.saturating_sub(1);
    }

    /// Outbound attempts in progress.
    pub fn pending_outbound(&self) -> usize {
        self.pending_outbound
    }

    /// Takes a connection whose handshake is done, as `id` (unique per connection), or
    /// says which limit refuses it.
    pub fn admit(
        &mut self,
        id: u64,
        peer: PeerId,
        direction: Direction,
        conn: C,
    ) -> Result<Option<PoolEvent>, Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        match direction {
            Direction::Inbound if self.inbound >= self.limits.max_established_inbound => {
                return Err(Refusal::Limit(Limit::EstablishedInbound));
            }
            Direction::Outbound if self.outbound >= self.limits.max_established_outbound => {
                return Err(Refusal::Limit(Limit::EstablishedOutbound));
            }
            _ => {}
        }
        let list = self.connections.entry(peer).or_default();
        let live = list.iter().filter(|e| !e.conn.is_closed()).count();
        if live >= self.limits.max_connections_per_peer {
            if list.is_empty() {
                self.connections.remove(&peer);
            }
            return Err(Refusal::Limit(Limit::ConnectionsPerPeer));
        }
        let first = list.is_empty();
        list.push(Entry {
            id,
            direction,
            conn,
        });
        match direction {
            Direction::Inbound => self.inbound += 1,
            Direction::Outbound => self.outbound += 1,
        }
        Ok(first.then_some(PoolEvent::Connected { peer, direction }))
    }

    /// Removes connection `id` of `peer`; `Disconnected` when it was the peer's last.
    pub fn remove(&mut self, id: u64, peer: &PeerId) -> Option<PoolEvent> {
        let list = self.connections.get_mut(peer)?;
        let at = list.iter().position(|e| e.id == id)?;
        let entry = list.remove(at);
        match entry.direction {
            Direction::Inbound => self.inbound -= 1,
            Direction::Outbound => self.outbound -= 1,
        }
        if list.is_empty() {
            self.connections.remove(peer);
            return Some(PoolEvent::Disconnected { peer: *peer });
        }
        None
    }

    /// The newest live connection to `peer`.
    pub fn live_connection(&self, peer: &PeerId) -> Option<C> {
        self.connections
            .get(peer)?
            .iter()
            .rev()
            .find(|e| !e.conn.is_closed())
            .map(|e| e.conn.clone())
    }

    /// Every connection to `peer`, live or closing.
    pub fn connections_of(&self, peer: &PeerId) -> Vec<C> {
        self.connections
            .get(peer)
            .map(|list| list.iter().map(|e| e.conn.clone()).collect())
            .unwrap_or_default()
    }

    /// Every connection held.
    pub fn connections(&self) -> Vec<C> {
        self.connections
            .values()
            .flatten()
            .map(|e| e.conn.clone())
            .collect()
    }

    /// Peers with at least one connection.
    pub fn peers(&self) -> Vec<PeerId> {
        self.connections.keys().copied().collect()
    }

    /// Established connections by direction: (inbound, outbound).
    pub fn established(&self) -> (usize, usize) {
        (self.inbound, self.outbound)
    }

    /// Refuses everything from now on, and hands back every connection held, to close:
    /// the pool forgets them (no `Disconnected` follows for them).
    pub fn close(&mut self) -> Vec<C> {
        self.closed = true;
        self.pending_inbound.clear();
        self.inbound = 0;
        self.outbound = 0;
        self.connections
            .drain()
            .flat_map(|(_, list)| list)
            .map(|e| e.conn)
            .collect()
    }

    /// Whether [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use std::{
        cell::Cell,
        rc::Rc,
        sync::atomic::{AtomicU64, Ordering},
    };

    use super::*;

    /// A connection that can be marked closing.
    #[derive(Clone, Debug)]
    struct Fake(Rc<Cell<bool>>);

    impl PoolConnection for Fake {
        fn is_closed(&self) -> bool {
            self.0.get()
        }
    }

    fn fake() -> Fake {
        Fake(Rc::new(Cell::new(false)))
    }

    fn limits() -> PoolLimits {
        PoolLimits {
            max_established_inbound: 2,
            max_established_outbound: 2,
            max_connections_per_peer: 2,
            max_pending_inbound: 2,
            max_pending_outbound: 2,
        }
    }

    fn next_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn established_inbound_is_capped_before_and_after_the_handshake() {
        let mut pool = Pool::new(limits());
        let (a, b) = (PeerId::random(), PeerId::random());
        pool.admit(next_id(), a, Direction::Inbound, fake())
            .unwrap();
        // A handshake may start while under the cap...
        let (pending, _) = pool.begin_inbound().unwrap();
        pool.admit(next_id(), b, Direction::Inbound, fake())
            .unwrap();
        // ...but at the cap neither a new handshake nor its end is let in.
        assert_eq!(
            pool.begin_inbound(),
            Err(Refusal::Limit(Limit::EstablishedInbound))
        );
        assert!(pool.end_inbound(pending));
        assert_eq!(
            pool.admit(next_id(), PeerId::random(), Direction::Inbound, fake()),
            Err(Refusal::Limit(Limit::EstablishedInbound))
        );
        // Outbound has its own count.
        pool.admit(next_id(), a, Direction::Outbound, fake())
            .unwrap();
        assert_eq!(pool.established(), (2, 1));
    }

    #[test]
    fn established_outbound_is_capped() {
        let mut pool = Pool::new(limits());
        for _ in 0..2 {
            pool.admit(next_id(), PeerId::random(), Direction::Outbound, fake())
                .unwrap();
        }
        assert_eq!(
            pool.admit(next_id(), PeerId::random(), Direction::Outbound, fake()),
            Err(Refusal::Limit(Limit::EstablishedOutbound))
        );
        assert_eq!(pool.established(), (0, 2));
    }

    #[test]
    fn connections_per_peer_count_only_live_ones() {
        let mut pool = Pool::new(PoolLimits {
            max_established_inbound: 10,
            ..limits()
        });
        let peer = PeerId::random();
        let first = fake();
        pool.admit(next_id(), peer, Direction::Inbound, first.clone())
            .unwrap();
        pool.admit(next_id(), peer, Direction::Inbound, fake())
            .unwrap();
        assert_eq!(
            pool.admit(next_id(), peer, Direction::Inbound, fake()),
            Err(Refusal::Limit(Limit::ConnectionsPerPeer))
        );
        // One on its way out no longer counts.
        first.0.set(true);
        pool.admit(next_id(), peer, Direction::Inbound, fake())
            .unwrap();
        assert_eq!(pool.connections_of(&peer).len(), 3);
    }

    #[test]
    fn pending_inbound_pushes_out_the_oldest() {
        let mut pool: Pool<Fake> = Pool::new(limits());
        let (first, none) = pool.begin_inbound().unwrap();
        assert_eq!(none, None);
        let (second, none) = pool.begin_inbound().unwrap();
        assert_eq!(none, None);
        let (third, evicted) = pool.begin_inbound().unwrap();
        assert_eq!(evicted, Some(first));
        assert_eq!(pool.pending_inbound(), 2);
        // The evicted one is no longer pending; the others end normally.
        assert!(!pool.end_inbound(first));
        assert!(pool.end_inbound(second));
        assert!(pool.end_inbound(third));
        assert_eq!(pool.pending_inbound(), 0);
        // No pending handshakes allowed at all: every inbound connection is refused.
        let mut none: Pool<Fake> = Pool::new(PoolLimits {
            max_pending_inbound: 0,
            ..limits()
        });
        assert_eq!(
            none.begin_inbound(),
            Err(Refusal::Limit(Limit::PendingInbound))
        );
    }

    #[test]
    fn pending_outbound_is_capped() {
        let mut pool: Pool<Fake> = Pool::new(limits());
        pool.begin_outbound().unwrap();
        pool.begin_outbound().unwrap();
        assert_eq!(
            pool.begin_outbound(),
            Err(Refusal::Limit(Limit::PendingOutbound))
        );
        pool.end_outbound();
        pool.begin_outbound().unwrap();
        assert_eq!(pool.pending_outbound(), 2);
    }

    #[test]
    fn events_mark_a_peers_first_and_last_connection() {
        let mut pool = Pool::new(limits());
        let peer = PeerId::random();
        let (one, two) = (next_id(), next_id());
        assert_eq!(
            pool.admit(one, peer, Direction::Outbound, fake()),
            Ok(Some(PoolEvent::Connected {
                peer,
                direction: Direction::Outbound
            }))
        );
        assert_eq!(pool.admit(two, peer, Direction::Inbound, fake()), Ok(None));
        assert_eq!(pool.remove(one, &peer), None);
        // Removing twice, or an unknown one, changes nothing.
        assert_eq!(pool.remove(one, &peer), None);
        assert_eq!(
            pool.remove(two, &peer),
            Some(PoolEvent::Disconnected { peer })
        );
        assert_eq!(pool.established(), (0, 0));
        assert!(pool.peers().is_empty());
    }

    #[test]
    fn lookups_find_the_newest_live_connection() {
        let mut pool = Pool::new(PoolLimits {
            max_connections_per_peer: 3,
            ..limits()
        });
        let peer = PeerId::random();
        let (old, new) = (fake(), fake());
        pool.admit(next_id(), peer, Direction::Outbound, old.clone())
            .unwrap();
        pool.admit(next_id(), peer, Direction::Inbound, new.clone())
            .unwrap();
        assert!(Rc::ptr_eq(&pool.live_connection(&peer).unwrap().0, &new.0));
        new.0.set(true);
        assert!(Rc::ptr_eq(&pool.live_connection(&peer).unwrap().0, &old.0));
        old.0.set(true);
        assert!(pool.live_connection(&peer).is_none());
        assert_eq!(pool.peers(), vec![peer]);
    }

    #[test]
    fn a_closed_pool_refuses_everything_and_hands_back_its_connections() {
        let mut pool = Pool::new(limits());
        pool.admit(next_id(), PeerId::random(), Direction::Inbound, fake())
            .unwrap();
        pool.begin_inbound().unwrap();
        assert_eq!(pool.close().len(), 1);
        assert!(pool.is_closed());
        assert_eq!(pool.pending_inbound(), 0);
        assert_eq!(pool.established(), (0, 0));
        assert!(pool.peers().is_empty());
        assert_eq!(pool.begin_inbound(), Err(Refusal::Closed));
        assert_eq!(pool.begin_outbound(), Err(Refusal::Closed));
        assert_eq!(
            pool.admit(next_id(), PeerId::random(), Direction::Outbound, fake()),
            Err(Refusal::Closed)
        );
    }
}
