//! The score function's parameters and thresholds, and the constraints
//! gossipsub-v1.1.md puts on them ("Overview of New Parameters").

use std::{collections::HashMap, fmt, net::IpAddr, time::Duration};

use crate::TopicHash;

/// Scoring of one topic (P1 to P4).
///
/// Every weight of 0 turns its term off; the term's other parameters are then not
/// checked by [`TopicScoreParams::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct TopicScoreParams {
    /// Weight of the topic's score in the total (at least 0).
    pub topic_weight: f64,
    /// P1 weight (at least 0; the spec asks for a small positive value).
    pub time_in_mesh_weight: f64,
    /// P1 quantum: P1 is the number of whole quanta the peer has been in our mesh.
    pub time_in_mesh_quantum: Duration,
    /// P1 cap.
    pub time_in_mesh_cap: f64,
    /// P2 weight (at least 0).
    pub first_message_deliveries_weight: f64,
    /// P2 decay factor, in (0, 1).
    pub first_message_deliveries_decay: f64,
    /// P2 cap, applied when the counter is incremented.
    pub first_message_deliveries_cap: f64,
    /// P3 weight (at most 0).
    pub mesh_message_deliveries_weight: f64,
    /// P3 decay factor, in (0, 1).
    pub mesh_message_deliveries_decay: f64,
    /// P3 cap, applied when the counter is incremented (at least the threshold).
    pub mesh_message_deliveries_cap: f64,
    /// P3 threshold: a mesh peer whose counter is below it is penalised by the square of
    /// the deficit.
    pub mesh_message_deliveries_threshold: f64,
    /// P3 window: a duplicate that arrives this long after the message was validated
    /// still counts as a (near-first) mesh delivery.
    pub mesh_message_deliveries_window: Duration,
    /// P3 activation: time a peer must have been in our mesh before P3 applies.
    pub mesh_message_deliveries_activation: Duration,
    /// P3b weight (at most 0).
    pub mesh_failure_penalty_weight: f64,
    /// P3b decay factor, in (0, 1).
    pub mesh_failure_penalty_decay: f64,
    /// P4 weight (at most 0).
    pub invalid_message_deliveries_weight: f64,
    /// P4 decay factor, in (0, 1).
    pub invalid_message_deliveries_decay: f64,
}

impl Default for TopicScoreParams {
    fn default() -> Self {
        TopicScoreParams {
            topic_weight: 0.5,
            time_in_mesh_weight: 1.0,
            time_in_mesh_quantum: Duration::from_millis(1),
            time_in_mesh_cap: 3600.0,
            first_message_deliveries_weight: 1.0,
            first_message_deliveries_decay: 0.5,
            first_message_deliveries_cap: 2000.0,
            mesh_message_deliveries_weight: -1.0,
            mesh_message_deliveries_decay: 0.5,
            mesh_message_deliveries_cap: 100.0,
            mesh_message_deliveries_threshold: 20.0,
            mesh_message_deliveries_window: Duration::from_millis(10),
            mesh_message_deliveries_activation: Duration::from_secs(5),
            mesh_failure_penalty_weight: -1.0,
            mesh_failure_penalty_decay: 0.5,
            invalid_message_deliveries_weight: -1.0,
            invalid_message_deliveries_decay: 0.3,
        }
    }
}

/// The score function's parameters (P5 to P7, caps, decay).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerScoreParams {
    /// Per-topic parameters; topics not listed do not count.
    pub topics: HashMap<TopicHash, TopicScoreParams>,
    /// Cap on the positive part of the sum of topic scores (0: none).
    pub topic_score_cap: f64,
    /// P5 weight (at least 0; the application's score itself may be negative).
    pub app_specific_weight: f64,
    /// P6 weight (at most 0).
    pub ip_colocation_factor_weight: f64,
    /// P6 threshold: peers on one IP beyond this many are penalised (at least 1).
    pub ip_colocation_factor_threshold: f64,
    /// IPs exempt from P6.
    pub ip_colocation_factor_whitelist: Vec<IpAddr>,
    /// P7 weight (at most 0).
    pub behaviour_penalty_weight: f64,
    /// P7 threshold: only the penalty counter's excess over it counts (at least 0).
    pub behaviour_penalty_threshold: f64,
    /// P7 decay factor, in (0, 1).
    pub behaviour_penalty_decay: f64,
    /// How often counters decay (non-zero).
    pub decay_interval: Duration,
    /// Counters below this become zero, in (0, 1).
    pub decay_to_zero: f64,
    /// How long a disconnected peer's score is kept.
    pub retain_score: Duration,
}

impl Default for PeerScoreParams {
    fn default() -> Self {
        PeerScoreParams {
            topics: HashMap::new(),
            topic_score_cap: 3600.0,
            app_specific_weight: 10.0,
            ip_colocation_factor_weight: -5.0,
            ip_colocation_factor_threshold: 10.0,
            ip_colocation_factor_whitelist: Vec::new(),
            behaviour_penalty_weight: -10.0,
            behaviour_penalty_threshold: 0.0,
            behaviour_penalty_decay: 0.2,
            decay_interval: Duration::from_secs(1),
            decay_to_zero: 0.1,
            retain_score: Duration::from_secs(3600),
        }
    }
}

/// Score thresholds (all but the last two are negative or zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerScoreThresholds {
    /// Below: no gossip to or from the peer.
    pub gossip_threshold: f64,
    /// Below: our own messages are not flood-published to the peer.
    pub publish_threshold: f64,
    /// Below: every RPC from the peer is ignored.
    pub graylist_threshold: f64,
    /// Above: PX from the peer is followed.
    pub accept_px_threshold: f64,
    /// Median mesh score below this triggers opportunistic grafting.
    pub opportunistic_graft_threshold: f64,
}

impl Default for PeerScoreThresholds {
    fn default() -> Self {
        PeerScoreThresholds {
            gossip_threshold: -10.0,
            publish_threshold: -50.0,
            graylist_threshold: -80.0,
            accept_px_threshold: 10.0,
            opportunistic_graft_threshold: 20.0,
        }
    }
}

/// A score parameter or threshold outside what gossipsub-v1.1.md allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreParamsError {
    /// The topic whose parameters are wrong; `None` for a global parameter or a threshold.
    pub topic: Option<TopicHash>,
    /// The field, as named in [`PeerScoreParams`], [`TopicScoreParams`] or
    /// [`PeerScoreThresholds`].
    pub param: &'static str,
    /// What the field must be.
    pub requirement: &'static str,
}

impl fmt::Display for ScoreParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid peer score parameter {}", self.param)?;
        if let Some(topic) = &self.topic {
            write!(f, " of topic {topic}")?;
        }
        write!(f, ": must be {}", self.requirement)
    }
}

impl std::error::Error for ScoreParamsError {}

const AT_MOST_ZERO: &str = "a finite number <= 0";
const AT_LEAST_ZERO: &str = "a finite number >= 0";
const POSITIVE: &str = "a finite number > 0";
const DECAY: &str = "in (0, 1)";
const NON_ZERO: &str = "non-zero";

/// `Ok` if `ok`, else the error naming `param` (a global one; a topic's caller adds it).
fn require(
    ok: bool,
    param: &'static str,
    requirement: &'static str,
) -> Result<(), ScoreParamsError> {
    if ok {
        Ok(())
    } else {
        Err(ScoreParamsError {
            topic: None,
            param,
            requirement,
        })
    }
}

// Each check is written so that NaN fails it.
fn at_most_zero(x: f64) -> bool {
    x.is_finite() && x <= 0.0
}

fn at_least_zero(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn decay(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

impl TopicScoreParams {
    /// Checks the constraints of gossipsub-v1.1.md's topic parameter table: P1 and P2
    /// weights not negative, P3, P3b and P4 weights not positive, decays in (0, 1), caps
    /// and the P3 threshold positive, the P3 cap at least the threshold, a non-zero P1
    /// quantum, a non-negative topic weight. A term whose weight is 0 is off, and its
    /// other parameters are not checked.
    pub fn validate(&self) -> Result<(), ScoreParamsError> {
        require(
            at_least_zero(self.topic_weight),
            "topic_weight",
            AT_LEAST_ZERO,
        )?;

        require(
            at_least_zero(self.time_in_mesh_weight),
            "time_in_mesh_weight",
            AT_LEAST_ZERO,
        )?;
        if self.time_in_mesh_weight != 0.0 {
            require(
                !self.time_in_mesh_quantum.is_zero(),
                "time_in_mesh_quantum",
                NON_ZERO,
            )?;
            require(
                positive(self.time_in_mesh_cap),
                "time_in_mesh_cap",
                POSITIVE,
            )?;
        }

        let w2 = self.first_message_deliveries_weight;
        require(
            at_least_zero(w2),
            "first_message_deliveries_weight",
            AT_LEAST_ZERO,
        )?;
        if w2 != 0.0 {
            let (decay_ok, cap_ok) = (
                decay(self.first_message_deliveries_decay),
                positive(self.first_message_deliveries_cap),
            );
            require(decay_ok, "first_message_deliveries_decay", DECAY)?;
            require(cap_ok, "first_message_deliveries_cap", POSITIVE)?;
        }

        let w3 = self.mesh_message_deliveries_weight;
        require(
            at_most_zero(w3),
            "mesh_message_deliveries_weight",
            AT_MOST_ZERO,
        )?;
        if w3 != 0.0 {
            let (cap, threshold) = (
                self.mesh_message_deliveries_cap,
                self.mesh_message_deliveries_threshold,
            );
            require(
                decay(self.mesh_message_deliveries_decay),
                "mesh_message_deliveries_decay",
                DECAY,
            )?;
            require(
                positive(threshold),
                "mesh_message_deliveries_threshold",
                POSITIVE,
            )?;
            require(
                positive(cap) && cap >= threshold,
                "mesh_message_deliveries_cap",
                "a finite number >= mesh_message_deliveries_threshold",
            )?;
        }

        let w3b = self.mesh_failure_penalty_weight;
        require(
            at_most_zero(w3b),
            "mesh_failure_penalty_weight",
            AT_MOST_ZERO,
        )?;
        if w3b != 0.0 {
            require(
                decay(self.mesh_failure_penalty_decay),
                "mesh_failure_penalty_decay",
                DECAY,
            )?;
        }

        let w4 = self.invalid_message_deliveries_weight;
        require(
            at_most_zero(w4),
            "invalid_message_deliveries_weight",
            AT_MOST_ZERO,
        )?;
        if w4 != 0.0 {
            let ok = decay(self.invalid_message_deliveries_decay);
            require(ok, "invalid_message_deliveries_decay", DECAY)?;
        }
        Ok(())
    }
}

impl PeerScoreParams {
    /// Checks every topic's parameters (in topic order, naming the topic in the error),
    /// then the global ones as gossipsub-v1.1.md constrains them: a non-negative topic
    /// score cap and P5 weight, P6 and P7 weights not positive, a P6 threshold of at
    /// least 1, a non-negative P7 threshold, decays and `decay_to_zero` in (0, 1), a
    /// non-zero decay interval. A term whose weight is 0 is off, and its other
    /// parameters are not checked.
    pub fn validate(&self) -> Result<(), ScoreParamsError> {
        let mut topics: Vec<_> = self.topics.iter().collect();
        topics.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (topic, params) in topics {
            params.validate().map_err(|e| ScoreParamsError {
                topic: Some(topic.clone()),
                ..e
            })?;
        }

        require(
            at_least_zero(self.topic_score_cap),
            "topic_score_cap",
            AT_LEAST_ZERO,
        )?;
        require(
            at_least_zero(self.app_specific_weight),
            "app_specific_weight",
            AT_LEAST_ZERO,
        )?;

        let w6 = self.ip_colocation_factor_weight;
        require(
            at_most_zero(w6),
            "ip_colocation_factor_weight",
            AT_MOST_ZERO,
        )?;
        if w6 != 0.0 {
            let threshold = self.ip_colocation_factor_threshold;
            let ok = threshold.is_finite() && threshold >= 1.0;
            require(ok, "ip_colocation_factor_threshold", "a finite number >= 1")?;
        }

        let w7 = self.behaviour_penalty_weight;
        require(at_most_zero(w7), "behaviour_penalty_weight", AT_MOST_ZERO)?;
        if w7 != 0.0 {
            require(
                decay(self.behaviour_penalty_decay),
                "behaviour_penalty_decay",
                DECAY,
            )?;
            let threshold = self.behaviour_penalty_threshold;
            require(
                at_least_zero(threshold),
                "behaviour_penalty_threshold",
                AT_LEAST_ZERO,
            )?;
        }

        require(!self.decay_interval.is_zero(), "decay_interval", NON_ZERO)?;
        require(decay(self.decay_to_zero), "decay_to_zero", DECAY)?;
        Ok(())
    }
}

impl PeerScoreThresholds {
    /// Checks the order the spec's "Score Thresholds" asks for:
    /// `graylist <= publish <= gossip <= 0 <= accept_px` and a non-negative
    /// opportunistic graft threshold, every one finite.
    pub fn validate(&self) -> Result<(), ScoreParamsError> {
        let (gossip, publish, graylist) = (
            self.gossip_threshold,
            self.publish_threshold,
            self.graylist_threshold,
        );
        require(at_most_zero(gossip), "gossip_threshold", AT_MOST_ZERO)?;
        require(
            publish.is_finite() && publish <= gossip,
            "publish_threshold",
            "a finite number <= gossip_threshold",
        )?;
        require(
            graylist.is_finite() && graylist <= publish,
            "graylist_threshold",
            "a finite number <= publish_threshold",
        )?;
        require(
            at_least_zero(self.accept_px_threshold),
            "accept_px_threshold",
            AT_LEAST_ZERO,
        )?;
        let opportunistic = self.opportunistic_graft_threshold;
        require(
            at_least_zero(opportunistic),
            "opportunistic_graft_threshold",
            AT_LEAST_ZERO,
        )?;
        Ok(())
    }
}
