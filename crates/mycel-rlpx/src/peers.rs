//! [`PeerManager`]: which devp2p peers to dial, admit, keep and drop, sans IO (the
//! clock comes in as `now`).
//!
//! - Limits as go-ethereum's: at most `max_peers` (50), of which at most
//!   `max_peers / dial_ratio` (16 of 50) dialed by us, the rest inbound; one inbound
//!   connection per IP per `inbound_throttle` (30 s).
//! - Identity: a connection to ourselves or to a peer already connected is refused.
//! - Static peers are dialed whatever the dial ratio; trusted peers are admitted even when
//!   full.
//! - Reputation: each node id has a score fed by [`PeerEvent`]s, decaying towards 0 with
//!   a half-life. Below `ban_threshold` the peer is dropped and neither dialed nor
//!   admitted for `ban_duration`.
//! - Preference: when full, a newcomer scoring clearly better than the worst connected
//!   peer (neither trusted nor static) replaces it.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::{Duration, Instant},
};

use crate::{NodeId, p2p::DisconnectReason};

/// How a [`PeerManager`] decides.
#[derive(Debug, Clone)]
pub struct PeerManagerConfig {
    /// Connected peers at most (trusted peers come on top).
    pub max_peers: usize,
    /// At most `max_peers / dial_ratio` of them dialed by us.
    pub dial_ratio: usize,
    /// One inbound connection per IP address per this long.
    pub inbound_throttle: Duration,
    /// A score below this bans the peer.
    pub ban_threshold: f64,
    /// How long a ban lasts.
    pub ban_duration: Duration,
    /// Scores halve towards 0 in this long.
    pub half_life: Duration,
    /// How much better than the worst connected peer a newcomer must score to replace
    /// it when full.
    pub replace_margin: f64,
    /// Node ids whose scores are remembered at most (the least telling are forgotten
    /// first).
    pub max_scores: usize,
}

impl Default for PeerManagerConfig {
    fn default() -> Self {
        PeerManagerConfig {
            max_peers: 50,
            dial_ratio: 3,
            inbound_throttle: Duration::from_secs(30),
            ban_threshold: -100.0,
            ban_duration: Duration::from_secs(600),
            half_life: Duration::from_secs(600),
            replace_margin: 20.0,
            max_scores: 4096,
        }
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The remote dialed us.
    Inbound,
    /// We dialed the remote.
    Outbound,
}

/// What happened with a peer, as reputation counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PeerEvent {
    /// It answered a request usefully.
    Useful,
    /// A request to it timed out.
    Timeout,
    /// It sent a malformed or unexpected message.
    BadMessage,
    /// It has nothing we want.
    Useless,
    /// The session ended with this reason (from either side).
    Disconnected(DisconnectReason),
}

impl PeerEvent {
    /// The score change.
    pub fn weight(self) -> f64 {
        use DisconnectReason as R;
        match self {
            PeerEvent::Useful => 1.0,
            PeerEvent::Timeout => -10.0,
            PeerEvent::BadMessage => -50.0,
            PeerEvent::Useless => -30.0,
            PeerEvent::Disconnected(reason) => match reason {
                R::ProtocolBreach | R::NullIdentity | R::UnexpectedIdentity => -50.0,
                R::UselessPeer | R::IncompatibleVersion => -30.0,
                R::PingTimeout | R::TcpError | R::Subprotocol => -10.0,
                _ => 0.0,
            },
        }
    }
}

/// The answer to a connection that finished its Hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Keep it.
    Accept,
    /// Keep it, and disconnect this peer (with `TooManyPeers`) to make room.
    AcceptReplacing(NodeId),
    /// Disconnect it with this reason.
    Refuse(DisconnectReason),
}

#[derive(Debug, Clone, Copy)]
struct Score {
    value: f64,
    at: Instant,
}

/// The peer policy of one node. See the module documentation.
#[derive(Debug)]
pub struct PeerManager {
    config: PeerManagerConfig,
    local: NodeId,
    connected: HashMap<NodeId, Direction>,
    static_peers: HashSet<NodeId>,
    trusted: HashSet<NodeId>,
    scores: HashMap<NodeId, Score>,
    banned: HashMap<NodeId, Instant>,
    recent_inbound: HashMap<IpAddr, Instant>,
}

impl PeerManager {
    /// The policy of node `local`.
    pub fn new(local: NodeId, config: PeerManagerConfig) -> Self {
        PeerManager {
            config,
            local,
            connected: HashMap::new(),
            static_peers: HashSet::new(),
            trusted: HashSet::new(),
            scores: HashMap::new(),
            banned: HashMap::new(),
            recent_inbound: HashMap::new(),
        }
    }

    /// Dials `id` whatever the dial ratio, and never replaces it.
    pub fn add_static(&mut self, id: NodeId) {
        self.static_peers.insert(id);
    }

    /// Admits `id` even when full, and never replaces it.
    pub fn add_trusted(&mut self, id: NodeId) {
        self.trusted.insert(id);
    }

    /// The most peers we dial.
    pub fn max_dialed(&self) -> usize {
        self.config.max_peers / self.config.dial_ratio.max(1)
    }

    /// The peers connected now, and who dialed.
    pub fn connected(&self) -> impl Iterator<Item = (&NodeId, &Direction)> {
        self.connected.iter()
    }

    fn count(&self, direction: Direction) -> usize {
        self.connected
            .iter()
            .filter(|(id, d)| **d == direction && !self.trusted.contains(id))
            .count()
    }

    /// Before any handshake: whether an inbound connection from `ip` may proceed (one per
    /// IP per `inbound_throttle`; loopback is not throttled).
    pub fn allow_inbound_ip(&mut self, ip: IpAddr, now: Instant) -> bool {
        let throttle = self.config.inbound_throttle;
        self.recent_inbound
            .retain(|_, at| now.saturating_duration_since(*at) < throttle);
        if ip.is_loopback() {
            return true;
        }
        if self.recent_inbound.contains_key(&ip) {
            return false;
        }
        self.recent_inbound.insert(ip, now);
        true
    }

    /// Whether to dial `id` now.
    pub fn should_dial(&mut self, id: &NodeId, now: Instant) -> bool {
        if *id == self.local || self.connected.contains_key(id) || self.is_banned(id, now) {
            return false;
        }
        self.static_peers.contains(id)
            || self.trusted.contains(id)
            || (self.count(Direction::Outbound) < self.max_dialed() && !self.is_full())
    }

    fn is_full(&self) -> bool {
        self.count(Direction::Inbound) + self.count(Direction::Outbound) >= self.config.max_peers
    }

    /// After the Hello: whether to keep the session with `id`. An accepted peer counts
    /// as connected until [`PeerManager::disconnected`].
    pub fn admit(&mut self, id: NodeId, direction: Direction, now: Instant) -> Admission {
        if id == self.local {
            return Admission::Refuse(DisconnectReason::SelfConnection);
        }
        if self.connected.contains_key(&id) {
            return Admission::Refuse(DisconnectReason::AlreadyConnected);
        }
        if self.is_banned(&id, now) {
            return Admission::Refuse(DisconnectReason::UselessPeer);
        }
        if self.trusted.contains(&id) {
            self.connected.insert(id, direction);
            return Admission::Accept;
        }
        let room = match direction {
            Direction::Outbound => {
                self.static_peers.contains(&id)
                    || self.count(Direction::Outbound) < self.max_dialed()
            }
            Direction::Inbound => {
                self.count(Direction::Inbound) < self.config.max_peers - self.max_dialed()
            }
        };
        if room && !self.is_full() {
            self.connected.insert(id, direction);
            return Admission::Accept;
        }
        // Full: replace the worst-scored peer we may replace, if the newcomer is clearly
        // better.
        let newcomer = self.score(&id, now);
        let worst = self
            .connected
            .keys()
            .filter(|p| !self.trusted.contains(p) && !self.static_peers.contains(p))
            // Same direction, so that a swap keeps the dialed/inbound split.
            .filter(|p| self.connected.get(p) == Some(&direction))
            .map(|p| (*p, self.score(p, now)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((worst, score)) if newcomer > score + self.config.replace_margin => {
                self.connected.remove(&worst);
                self.connected.insert(id, direction);
                Admission::AcceptReplacing(worst)
            }
            _ => Admission::Refuse(DisconnectReason::TooManyPeers),
        }
    }

    /// The session with `id` ended.
    pub fn disconnected(&mut self, id: &NodeId) {
        self.connected.remove(id);
    }

    /// Records `event` for `id`; returns the reason to disconnect it if its score fell
    /// below the ban threshold (it is then banned).
    pub fn report(
        &mut self,
        id: NodeId,
        event: PeerEvent,
        now: Instant,
    ) -> Option<DisconnectReason> {
        let value = self.score(&id, now) + event.weight();
        self.scores.insert(id, Score { value, at: now });
        self.bound_scores(now);
        if value < self.config.ban_threshold && !self.trusted.contains(&id) {
            self.banned.insert(id, now + self.config.ban_duration);
            self.scores.remove(&id);
            return Some(DisconnectReason::UselessPeer);
        }
        None
    }

    /// `id`'s score now (0 for a peer never reported).
    pub fn score(&self, id: &NodeId, now: Instant) -> f64 {
        self.scores.get(id).map_or(0.0, |s| {
            let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
            let half_life = self.config.half_life.as_secs_f64().max(f64::MIN_POSITIVE);
            s.value * 0.5f64.powf(elapsed / half_life)
        })
    }

    /// Whether `id` is banned now (an expired ban is forgotten).
    pub fn is_banned(&mut self, id: &NodeId, now: Instant) -> bool {
        match self.banned.get(id) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.banned.remove(id);
                false
            }
            None => false,
        }
    }

    /// Keeps at most `max_scores` scores (and bans), forgetting the ones nearest 0.
    fn bound_scores(&mut self, now: Instant) {
        let max = self.config.max_scores;
        if self.banned.len() > max {
            self.banned.retain(|_, until| *until > now);
        }
        if self.scores.len() <= max {
            return;
        }
        let mut by_weight: Vec<(NodeId, f64)> = self
            .scores
            .keys()
            .map(|id| (*id, self.score(id, now).abs()))
            .collect();
        by_weight.sort_by(|a, b| a.1.total_cmp(&b.1));
        let excess = self.scores.len() - max;
        for (id, _) in by_weight.into_iter().take(excess) {
            self.scores.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u8) -> NodeId {
        NodeId([n; 64])
    }

    fn manager(max_peers: usize) -> PeerManager {
        PeerManager::new(
            node(0),
            PeerManagerConfig {
                max_peers,
                ..PeerManagerConfig::default()
            },
        )
    }

    #[test]
    fn fifty_peers_at_most_sixteen_of_them_dialed() {
        let now = Instant::now();
        let mut m = manager(50);
        assert_eq!(m.max_dialed(), 16);
        for n in 1..=16 {
            assert!(m.should_dial(&node(n), now));
            assert_eq!(
                m.admit(node(n), Direction::Outbound, now),
                Admission::Accept
            );
        }
        assert!(!m.should_dial(&node(17), now), "dial slots used up");
        assert_eq!(
            m.admit(node(17), Direction::Outbound, now),
            Admission::Refuse(DisconnectReason::TooManyPeers)
        );
        for n in 100..134 {
            assert_eq!(m.admit(node(n), Direction::Inbound, now), Admission::Accept);
        }
        assert_eq!(
            m.admit(node(200), Direction::Inbound, now),
            Admission::Refuse(DisconnectReason::TooManyPeers)
        );
        assert_eq!(m.connected().count(), 50);
        m.disconnected(&node(100));
        assert_eq!(
            m.admit(node(200), Direction::Inbound, now),
            Admission::Accept
        );
    }

    #[test]
    fn ourselves_and_peers_already_connected_are_refused() {
        let now = Instant::now();
        let mut m = manager(50);
        assert!(!m.should_dial(&node(0), now));
        assert_eq!(
            m.admit(node(0), Direction::Inbound, now),
            Admission::Refuse(DisconnectReason::SelfConnection)
        );
        assert_eq!(m.admit(node(1), Direction::Inbound, now), Admission::Accept);
        assert!(!m.should_dial(&node(1), now));
        assert_eq!(
            m.admit(node(1), Direction::Outbound, now),
            Admission::Refuse(DisconnectReason::AlreadyConnected)
        );
    }

    #[test]
    fn static_peers_pass_the_dial_ratio_and_trusted_ones_a_full_table() {
        let now = Instant::now();
        let mut m = manager(3); // one dial slot
        m.add_static(node(9));
        m.add_trusted(node(8));
        assert_eq!(
            m.admit(node(1), Direction::Outbound, now),
            Admission::Accept
        );
        assert!(
            m.should_dial(&node(9), now),
            "static, though the dial slot is used"
        );
        assert_eq!(
            m.admit(node(9), Direction::Outbound, now),
            Admission::Accept
        );
        assert_eq!(m.admit(node(2), Direction::Inbound, now), Admission::Accept);
        assert_eq!(
            m.admit(node(3), Direction::Inbound, now),
            Admission::Refuse(DisconnectReason::TooManyPeers)
        );
        assert_eq!(m.admit(node(8), Direction::Inbound, now), Admission::Accept);
        assert_eq!(m.connected().count(), 4);
    }

    #[test]
    fn one_inbound_connection_per_ip_per_throttle_period() {
        let now = Instant::now();
        let mut m = manager(50);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(m.allow_inbound_ip(ip, now));
        assert!(!m.allow_inbound_ip(ip, now + Duration::from_secs(29)));
        assert!(m.allow_inbound_ip("198.51.100.8".parse().unwrap(), now));
        assert!(m.allow_inbound_ip(ip, now + Duration::from_secs(31)));
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(m.allow_inbound_ip(local, now) && m.allow_inbound_ip(local, now));
    }

    #[test]
    fn bad_behaviour_bans_and_the_ban_and_score_fade() {
        let now = Instant::now();
        let mut m = manager(50);
        assert_eq!(m.admit(node(1), Direction::Inbound, now), Admission::Accept);
        assert_eq!(m.report(node(1), PeerEvent::Timeout, now), None);
        assert_eq!(m.score(&node(1), now), -10.0);
        // Half the score after one half-life.
        let later = now + Duration::from_secs(600);
        assert!((m.score(&node(1), later) + 5.0).abs() < 1e-9);
        assert_eq!(m.report(node(1), PeerEvent::BadMessage, now), None);
        assert_eq!(
            m.report(
                node(1),
                PeerEvent::Disconnected(DisconnectReason::ProtocolBreach),
                now
            ),
            Some(DisconnectReason::UselessPeer)
        );
        m.disconnected(&node(1));
        assert!(!m.should_dial(&node(1), now));
        assert_eq!(
            m.admit(node(1), Direction::Inbound, now + Duration::from_secs(60)),
            Admission::Refuse(DisconnectReason::UselessPeer)
        );
        // After the ban, a fresh start.
        let after = now + Duration::from_secs(601);
        assert!(m.should_dial(&node(1), after));
        assert_eq!(m.score(&node(1), after), 0.0);
        // A quitting client costs nothing.
        assert_eq!(
            PeerEvent::Disconnected(DisconnectReason::ClientQuitting).weight(),
            0.0
        );
    }

    #[test]
    fn when_full_a_clearly_better_peer_replaces_the_worst() {
        let now = Instant::now();
        let mut m = PeerManager::new(
            node(0),
            PeerManagerConfig {
                max_peers: 3,
                dial_ratio: 100, // no dial slot: all three inbound
                ..PeerManagerConfig::default()
            },
        );
        for n in 1..=3 {
            assert_eq!(m.admit(node(n), Direction::Inbound, now), Admission::Accept);
        }
        m.report(node(2), PeerEvent::Timeout, now); // -10
        m.report(node(3), PeerEvent::Useless, now); // -30: the worst
        // A stranger (0) beats -30 by more than the margin of 20.
        assert_eq!(
            m.admit(node(4), Direction::Inbound, now),
            Admission::AcceptReplacing(node(3))
        );
        // Another stranger does not beat -10 by 20.
        assert_eq!(
            m.admit(node(5), Direction::Inbound, now),
            Admission::Refuse(DisconnectReason::TooManyPeers)
        );
        // Static peers are never the ones replaced: node 2 scores worst (-70) but is
        // static, and the others (0) are not beaten by 20.
        m.report(node(2), PeerEvent::Useless, now);
        m.report(node(2), PeerEvent::Useless, now);
        m.add_static(node(2));
        assert_eq!(
            m.admit(node(6), Direction::Inbound, now),
            Admission::Refuse(DisconnectReason::TooManyPeers)
        );
    }

    #[test]
    fn remembered_scores_are_bounded() {
        let now = Instant::now();
        let mut m = PeerManager::new(
            node(0),
            PeerManagerConfig {
                max_scores: 10,
                ..PeerManagerConfig::default()
            },
        );
        for n in 1..=200u8 {
            let event = if n == 7 {
                PeerEvent::BadMessage
            } else {
                PeerEvent::Useful
            };
            m.report(node(n), event, now);
        }
        assert!(m.scores.len() <= 10);
        assert_eq!(
            m.score(&node(7), now),
            -50.0,
            "the most telling score is kept"
        );
    }
}
