//! Gossipsub v1.1 peer scoring (gossipsub-v1.1.md, "Peer Scoring").
//!
//! [`PeerScore`] keeps every peer's counters and computes
//!
//! ```text
//! Score(p) = TopicCap(Σ tᵢ·(w₁P₁ + w₂P₂ + w₃P₃ + w₃bP₃b + w₄P₄)) + w₅P₅ + w₆P₆ + w₇P₇
//! ```
//!
//! over the topics of [`PeerScoreParams::topics`]; other topics count for nothing and
//! keep no counters. Like the router it serves, it is a state machine without clock or
//! IO: time is passed in. The router drives it so:
//! - [`PeerScore::add_peer`] when a peer connects (with its IP), and
//!   [`PeerScore::remove_peer`] when it disconnects;
//! - [`PeerScore::graft`] and [`PeerScore::prune`] as the peer enters and leaves our
//!   mesh of a topic;
//! - for a message received for the first time, [`PeerScore::validate_message`], then
//!   [`PeerScore::deliver_message`] or [`PeerScore::reject_message`] when validation
//!   ends; for one received before, [`PeerScore::duplicate_message`];
//! - [`PeerScore::add_penalty`] for misbehaviour (P7), [`PeerScore::set_app_score`] for
//!   the application's verdict (P5);
//! - [`PeerScore::refresh`] every [`PeerScoreParams::decay_interval`].
//!
//! Where the spec leaves room, the choices made here:
//! - P1 counts whole quanta (the spec's pseudo-go, and go; rust-libp2p counts fractions)
//!   from the graft time to the `now` given to [`PeerScore::score`]. P3 applies once the
//!   peer has been in the mesh longer than the activation time, measured the same way.
//! - The P3 window runs from the moment the first delivery was validated, as in go and
//!   rust; a mesh peer that delivers the message while it is being validated counts too.
//! - A message rejected for its signature or size ([`RejectReason::InvalidSignature`],
//!   [`RejectReason::Oversize`]) costs its sender only: its id could be forged, so it
//!   does not brand the id invalid for the peers that deliver the genuine message.
//! - A disconnected peer's counters are kept for `retain_score` whatever its score (go
//!   and rust keep non-positive scores only; the spec wants well-behaved peers to keep
//!   their standing too), unless there is nothing to remember (every counter zero).
//!   They do not decay meanwhile (as in go): a peer that leaves with a penalty comes
//!   back with all of it. At most 8192 disconnected peers are kept; beyond, the
//!   best-scoring are forgotten first, since forgetting a good score costs us nothing
//!   while forgetting a bad one lets its peer start over.
//! - P6 counts connected peers only (go also counts retained ones), by address and,
//!   for IPv6, also by /64 (as go does: one host easily holds a whole /64). IPv4-mapped
//!   IPv6 addresses count as IPv4.
//! - Message records (for P3's window and for duplicates of invalid messages) are
//!   kept 2 minutes, 100,000 at most, oldest dropped first.

mod deliveries;
mod params;
mod stats;
#[cfg(test)]
mod tests;

use std::{collections::HashMap, iter, net::IpAddr, time::Instant};

use mycel_core::PeerId;

pub use self::params::{PeerScoreParams, PeerScoreThresholds, ScoreParamsError, TopicScoreParams};
use self::{
    deliveries::{DeliveryRecords, DeliveryStatus},
    stats::{PeerStats, TopicStats},
};
use crate::{MessageId, TopicHash};

/// Disconnected peers whose counters are kept at most. A node holds a few hundred
/// connections at a time; 8192 covers several times that churning over the default
/// hour of `retain_score`, in some 8 MiB (about 1 KiB a peer with counters in one
/// topic). Beyond it, an eighth are forgotten at once (so that churn costs one scan per
/// 1024 disconnections), best scores first.
const MAX_RETAINED_PEERS: usize = 8192;

/// IPs remembered per connected peer (one per connection it holds from a different
/// address); more are not counted for P6.
const MAX_IPS_PER_PEER: usize = 8;

/// Why a message was rejected, as scoring distinguishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The signature, author or seqno is wrong (counts as P4 for the sender only: the
    /// id may be forged, so the message is not recorded as invalid).
    InvalidSignature,
    /// The application rejected it (counts as P4, for the sender and every peer that
    /// delivered it during validation or delivers it later).
    ValidationFailed,
    /// The application ignored it (no penalty; later deliveries neither count nor cost).
    ValidationIgnored,
    /// We had seen it before and it was rejected then (counts as P4 for the sender, and
    /// marks the message invalid as [`RejectReason::ValidationFailed`] does if it was not
    /// yet). For a message whose rejection [`PeerScore`] still remembers,
    /// [`PeerScore::duplicate_message`] penalises just the same: call one, not both.
    KnownInvalid,
    /// Over a size or count limit (counts as P4 for the sender only, like
    /// [`RejectReason::InvalidSignature`]).
    Oversize,
}

/// Every peer's score counters.
///
/// Tracks connected peers and, for `retain_score`, disconnected ones (at most 8192 of
/// those); message records for 2 minutes, at most 100,000.
#[derive(Debug)]
pub struct PeerScore {
    params: PeerScoreParams,
    /// Connected peers and retained disconnected ones.
    peers: HashMap<PeerId, PeerStats>,
    /// How many of `peers` are disconnected.
    retained: usize,
    /// Connected peers per address (and IPv6 /64), for P6.
    colocation: HashMap<Colocation, usize>,
    deliveries: DeliveryRecords,
}

/// What P6 counts peers by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Colocation {
    Ip(IpAddr),
    /// An IPv6 /64, by its upper 64 bits.
    Ipv6Net(u64),
}

impl PeerScore {
    /// Scoring under `params`. Check them with [`PeerScoreParams::validate`] first:
    /// parameters the spec forbids give meaningless (though never NaN) scores.
    pub fn new(params: PeerScoreParams) -> Self {
        PeerScore {
            params,
            peers: HashMap::new(),
            retained: 0,
            colocation: HashMap::new(),
            deliveries: DeliveryRecords::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &PeerScoreParams {
        &self.params
    }

    /// Sets or replaces one topic's parameters. Counters kept so far in the topic stay;
    /// from now on the topic counts (and keeps counters) if it did not.
    pub fn set_topic_params(&mut self, topic: TopicHash, params: TopicScoreParams) {
        self.params.topics.insert(topic, params);
    }

    /// The peer's current score: 0 for a peer not tracked, never NaN.
    pub fn score(&self, peer: &PeerId, now: Instant) -> f64 {
        self.peers
            .get(peer)
            .map_or(0.0, |stats| self.score_of(stats, now))
    }

    /// A peer connected (from `ip`, if known). A peer still retained from an earlier
    /// connection gets its counters back. Called again for a connected peer, adds `ip`
    /// to the peer's addresses (for P6).
    pub fn add_peer(&mut self, peer: PeerId, ip: Option<IpAddr>, now: Instant) {
        let stats = self.peers.entry(peer).or_default();
        if let Some(since) = stats.disconnected.take() {
            self.retained -= 1;
            if now.saturating_duration_since(since) >= self.params.retain_score {
                // Past retention, only not yet swept by `refresh`.
                *stats = PeerStats::default();
            }
        }
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else {
            return;
        };
        let whitelist = &self.params.ip_colocation_factor_whitelist;
        if whitelist.iter().any(|listed| listed.to_canonical() == ip)
            || stats.ips.contains(&ip)
            || stats.ips.len() >= MAX_IPS_PER_PEER
        {
            return;
        }
        stats.ips.push(ip);
        for key in colocations(ip) {
            *self.colocation.entry(key).or_default() += 1;
        }
    }

    /// A peer disconnected: it leaves every mesh (P3b applies where it had a deficit),
    /// and its counters are kept `retain_score`, without decaying, unless all are zero.
    pub fn remove_peer(&mut self, peer: &PeerId, now: Instant) {
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        if stats.disconnected.is_some() {
            return;
        }
        for ip in stats.ips.drain(..) {
            for key in colocations(ip) {
                if let Some(count) = self.colocation.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        self.colocation.remove(&key);
                    }
                }
            }
        }
        for (topic, topic_stats) in &mut stats.topics {
            if let Some(params) = self.params.topics.get(topic) {
                topic_stats.leave_mesh(params, now);
            }
        }
        if self.params.retain_score.is_zero() || stats.is_blank() {
            self.peers.remove(peer);
            return;
        }
        stats.disconnected = Some(now);
        self.retained += 1;
        if self.retained > MAX_RETAINED_PEERS {
            self.forget_best_retained(now);
        }
    }

    /// The peer joined our mesh of `topic` (P1 counts from `now`; grafting a peer already
    /// in the mesh changes nothing).
    pub fn graft(&mut self, peer: &PeerId, topic: &TopicHash, now: Instant) {
        if self
            .peers
            .get(peer)
            .is_some_and(|stats| stats.disconnected.is_none())
        {
            update(&self.params, &mut self.peers, peer, topic, |stats, _| {
                stats.grafted.get_or_insert(now);
            });
        }
    }

    /// The peer left our mesh of `topic` (P3b is applied here, if the peer has been in
    /// the mesh past the P3 activation time with fewer deliveries than the threshold).
    pub fn prune(&mut self, peer: &PeerId, topic: &TopicHash, now: Instant) {
        let leave = |stats: &mut TopicStats, params: &_| stats.leave_mesh(params, now);
        update(&self.params, &mut self.peers, peer, topic, leave);
    }

    /// A message was received for the first time from `peer`, before validation: its
    /// record starts here (in a configured topic only).
    pub fn validate_message(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        now: Instant,
    ) {
        if self.params.topics.contains_key(topic) {
            self.deliveries.get_or_insert(id, topic, peer, now);
        }
    }

    /// A message passed validation: credit its first sender (P2, P3) and the mesh peers
    /// that sent it while it was being validated (P3). Only the first verdict on a
    /// message counts.
    pub fn deliver_message(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        now: Instant,
    ) {
        if !self.params.topics.contains_key(topic) {
            return;
        }
        let record = self.deliveries.get_or_insert(id, topic, peer, now);
        if record.status != DeliveryStatus::Pending {
            return;
        }
        record.status = DeliveryStatus::Valid { validated: now };
        let (params, peers) = (&self.params, &mut self.peers);
        update(
            params,
            peers,
            peer,
            &record.topic,
            TopicStats::deliver_first,
        );
        for other in record.peers.iter().filter(|other| *other != peer) {
            update(
                params,
                peers,
                other,
                &record.topic,
                TopicStats::deliver_near_first,
            );
        }
        if !record.peers.contains(peer) {
            record.peers.push(*peer);
        }
    }

    /// A message failed validation: penalise its sender and, for
    /// [`RejectReason::ValidationFailed`] and [`RejectReason::KnownInvalid`], those who
    /// sent it during validation, and remember it as invalid so that those who send it
    /// later are penalised too (P4). [`RejectReason::ValidationIgnored`] costs nobody.
    pub fn reject_message(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        reason: RejectReason,
        now: Instant,
    ) {
        if !self.params.topics.contains_key(topic) {
            return;
        }
        let (params, peers) = (&self.params, &mut self.peers);
        match reason {
            RejectReason::InvalidSignature | RejectReason::Oversize => {
                update(params, peers, peer, topic, |stats, _| {
                    stats.deliver_invalid()
                });
            }
            RejectReason::ValidationIgnored => {
                let record = self.deliveries.get_or_insert(id, topic, peer, now);
                if record.status == DeliveryStatus::Pending {
                    record.status = DeliveryStatus::Ignored;
                    record.peers = Vec::new();
                }
            }
            RejectReason::ValidationFailed | RejectReason::KnownInvalid => {
                let record = self.deliveries.get_or_insert(id, topic, peer, now);
                if record.status == DeliveryStatus::Pending {
                    record.status = DeliveryStatus::Invalid;
                    for other in std::mem::take(&mut record.peers) {
                        if other != *peer {
                            update(params, peers, &other, &record.topic, |stats, _| {
                                stats.deliver_invalid()
                            });
                        }
                    }
                    update(params, peers, peer, &record.topic, |stats, _| {
                        stats.deliver_invalid()
                    });
                } else if reason == RejectReason::KnownInvalid {
                    update(params, peers, peer, &record.topic, |stats, _| {
                        stats.deliver_invalid()
                    });
                }
            }
        }
    }

    /// A message already seen arrived again from `peer`. While it is being validated,
    /// `peer` is noted (to be credited or penalised with the verdict); once valid, a mesh
    /// peer's first copy within the P3 window counts for P3; once invalid, every copy
    /// counts for P4. The message is scored in the topic it was first received in;
    /// `topic` is not consulted.
    pub fn duplicate_message(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        _topic: &TopicHash,
        now: Instant,
    ) {
        if !self.peers.contains_key(peer) {
            return;
        }
        let Some(record) = self.deliveries.get_mut(id) else {
            return;
        };
        let (params, peers) = (&self.params, &mut self.peers);
        match record.status {
            DeliveryStatus::Pending => {
                if !record.peers.contains(peer) {
                    record.peers.push(*peer);
                }
            }
            DeliveryStatus::Valid { validated } => {
                if record.peers.contains(peer) {
                    return;
                }
                record.peers.push(*peer);
                let since = now.saturating_duration_since(validated);
                let in_window = params
                    .topics
                    .get(&record.topic)
                    .is_some_and(|topic| since <= topic.mesh_message_deliveries_window);
                if in_window {
                    update(
                        params,
                        peers,
                        peer,
                        &record.topic,
                        TopicStats::deliver_near_first,
                    );
                }
            }
            DeliveryStatus::Invalid => update(params, peers, peer, &record.topic, |stats, _| {
                stats.deliver_invalid()
            }),
            DeliveryStatus::Ignored => {}
        }
    }

    /// Adds `count` to the peer's behaviour penalty (P7).
    pub fn add_penalty(&mut self, peer: &PeerId, count: usize) {
        if let Some(stats) = self.peers.get_mut(peer) {
            stats.behaviour_penalty += count as f64;
        }
    }

    /// Sets the application-specific score (P5) of a tracked peer (connected, or
    /// retained): set it after [`PeerScore::add_peer`]. NaN counts as 0.
    pub fn set_app_score(&mut self, peer: &PeerId, score: f64) {
        if let Some(stats) = self.peers.get_mut(peer) {
            stats.app_score = if score.is_nan() { 0.0 } else { score };
        }
    }

    /// Decays every connected peer's counters once (each by its factor; what falls
    /// below `decay_to_zero` becomes 0); call every `decay_interval`. Forgets
    /// disconnected peers past `retain_score`, and message records past 2 minutes.
    pub fn refresh(&mut self, now: Instant) {
        let PeerScore {
            params,
            peers,
            retained,
            deliveries,
            ..
        } = self;
        peers.retain(|_, stats| {
            if let Some(since) = stats.disconnected {
                let keep = now.saturating_duration_since(since) < params.retain_score;
                if !keep {
                    *retained -= 1;
                }
                return keep;
            }
            stats.decay(params);
            true
        });
        deliveries.expire(now);
    }

    fn score_of(&self, stats: &PeerStats, now: Instant) -> f64 {
        stats.score(&self.params, self.ip_colocation_factor(stats), now)
    }

    /// P6: for each of the peer's addresses (and IPv6 /64s), the square of the number of
    /// connected peers on it beyond the threshold.
    fn ip_colocation_factor(&self, stats: &PeerStats) -> f64 {
        let threshold = self.params.ip_colocation_factor_threshold;
        stats
            .ips
            .iter()
            .flat_map(|&ip| colocations(ip))
            .map(|key| {
                let peers = self.colocation.get(&key).copied().unwrap_or(0);
                let surplus = peers as f64 - threshold;
                if surplus > 0.0 {
                    surplus * surplus
                } else {
                    0.0
                }
            })
            .sum()
    }

    /// Brings the retained peers down to seven eighths of [`MAX_RETAINED_PEERS`],
    /// forgetting the best scores first (then the longest gone, then by id, so that the
    /// choice repeats exactly).
    fn forget_best_retained(&mut self, now: Instant) {
        let mut retained: Vec<(f64, Instant, PeerId)> = self
            .peers
            .iter()
            .filter_map(|(peer, stats)| {
                Some((self.score_of(stats, now), stats.disconnected?, *peer))
            })
            .collect();
        let forget = retained
            .len()
            .saturating_sub(MAX_RETAINED_PEERS - MAX_RETAINED_PEERS / 8);
        if forget == 0 {
            return;
        }
        retained.select_nth_unstable_by(forget - 1, |a, b| {
            b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
        });
        for (_, _, peer) in &retained[..forget] {
            self.peers.remove(peer);
        }
        self.retained -= forget;
    }
}

/// Applies `change` to the counters of a tracked `peer` in a configured `topic`; nothing
/// for another peer or topic.
fn update(
    params: &PeerScoreParams,
    peers: &mut HashMap<PeerId, PeerStats>,
    peer: &PeerId,
    topic: &TopicHash,
    change: impl FnOnce(&mut TopicStats, &TopicScoreParams),
) {
    if let (Some(topic_params), Some(stats)) = (params.topics.get(topic), peers.get_mut(peer)) {
        change(stats.topics.entry(topic.clone()).or_default(), topic_params);
    }
}

/// The keys `ip` counts under for P6: itself and, for IPv6, its /64.
fn colocations(ip: IpAddr) -> impl Iterator<Item = Colocation> {
    let net = match ip {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => Some(Colocation::Ipv6Net((v6.to_bits() >> 64) as u64)),
    };
    iter::once(Colocation::Ip(ip)).chain(net)
}
