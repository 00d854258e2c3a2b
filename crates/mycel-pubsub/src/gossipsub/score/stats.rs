//! One peer's counters and the arithmetic of the score terms (gossipsub-v1.1.md, "The
//! Score Function" and "Topic Parameter Calculation and Decay").

use std::{
    collections::BTreeMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use super::{PeerScoreParams, TopicScoreParams};
use crate::TopicHash;

/// One peer's counters.
#[derive(Debug, Default)]
pub(super) struct PeerStats {
    /// When the peer disconnected; `None` while it is connected.
    pub(super) disconnected: Option<Instant>,
    /// The peer's IPs while it is connected, whitelisted ones left out (P6).
    pub(super) ips: Vec<IpAddr>,
    /// Counters of configured topics only, in topic order (so that sums repeat exactly).
    pub(super) topics: BTreeMap<TopicHash, TopicStats>,
    /// P5, as the application set it.
    pub(super) app_score: f64,
    /// P7's counter.
    pub(super) behaviour_penalty: f64,
}

/// One peer's counters in one topic.
#[derive(Debug, Default)]
pub(super) struct TopicStats {
    /// Since when the peer is in our mesh; `None` outside it (P1, P3).
    pub(super) grafted: Option<Instant>,
    /// P2's counter.
    pub(super) first_message_deliveries: f64,
    /// P3's counter.
    pub(super) mesh_message_deliveries: f64,
    /// P3b.
    pub(super) mesh_failure_penalty: f64,
    /// P4's counter.
    pub(super) invalid_message_deliveries: f64,
}

impl PeerStats {
    /// The score, given P6 (which depends on the other peers): the topics' sum, its
    /// positive part capped, plus w₅P₅ + w₆P₆ + w₇P₇; 0 rather than NaN.
    pub(super) fn score(&self, params: &PeerScoreParams, p6: f64, now: Instant) -> f64 {
        let mut topics: f64 = self
            .topics
            .iter()
            .filter_map(|(topic, stats)| {
                let topic_params = params.topics.get(topic)?;
                Some(weighted(
                    topic_params.topic_weight,
                    stats.score(topic_params, now),
                ))
            })
            .sum();
        if params.topic_score_cap > 0.0 && topics > params.topic_score_cap {
            topics = params.topic_score_cap;
        }
        let excess = self.behaviour_penalty - params.behaviour_penalty_threshold;
        let p7 = if excess > 0.0 { excess * excess } else { 0.0 };
        let score = topics
            + weighted(params.app_specific_weight, self.app_score)
            + weighted(params.ip_colocation_factor_weight, p6)
            + weighted(params.behaviour_penalty_weight, p7);
        if score.is_nan() { 0.0 } else { score }
    }

    /// One decay step of every counter.
    pub(super) fn decay(&mut self, params: &PeerScoreParams) {
        let to_zero = params.decay_to_zero;
        for (topic, stats) in &mut self.topics {
            if let Some(topic_params) = params.topics.get(topic) {
                stats.decay(topic_params, to_zero);
            }
        }
        self.behaviour_penalty = decay(
            self.behaviour_penalty,
            params.behaviour_penalty_decay,
            to_zero,
        );
    }

    /// Whether there is nothing worth retaining: every counter zero.
    pub(super) fn is_blank(&self) -> bool {
        self.app_score == 0.0
            && self.behaviour_penalty == 0.0
            && self.topics.values().all(TopicStats::is_blank)
    }
}

impl TopicStats {
    /// The topic's score before its weight: w₁P₁ + w₂P₂ + w₃P₃ + w₃bP₃b + w₄P₄.
    fn score(&self, params: &TopicScoreParams, now: Instant) -> f64 {
        let p1 = self.grafted.map_or(0.0, |grafted| {
            time_in_mesh(now.saturating_duration_since(grafted), params)
        });
        let p2 = self.first_message_deliveries;
        let deficit = self.mesh_delivery_deficit(params, now);
        let p3 = deficit * deficit;
        let p3b = self.mesh_failure_penalty;
        let p4 = self.invalid_message_deliveries * self.invalid_message_deliveries;
        weighted(params.time_in_mesh_weight, p1)
            + weighted(params.first_message_deliveries_weight, p2)
            + weighted(params.mesh_message_deliveries_weight, p3)
            + weighted(params.mesh_failure_penalty_weight, p3b)
            + weighted(params.invalid_message_deliveries_weight, p4)
    }

    /// The peer delivered a valid message first: P2, and P3 if it is in the mesh.
    pub(super) fn deliver_first(&mut self, params: &TopicScoreParams) {
        self.first_message_deliveries =
            (self.first_message_deliveries + 1.0).min(params.first_message_deliveries_cap);
        self.deliver_near_first(params);
    }

    /// The peer delivered a valid message near-first: P3 if it is in the mesh.
    pub(super) fn deliver_near_first(&mut self, params: &TopicScoreParams) {
        if self.grafted.is_some() {
            self.mesh_message_deliveries =
                (self.mesh_message_deliveries + 1.0).min(params.mesh_message_deliveries_cap);
        }
    }

    /// The peer delivered an invalid message: P4.
    pub(super) fn deliver_invalid(&mut self) {
        self.invalid_message_deliveries += 1.0;
    }

    /// The peer leaves the mesh: a P3 deficit becomes a sticky P3b penalty.
    pub(super) fn leave_mesh(&mut self, params: &TopicScoreParams, now: Instant) {
        let deficit = self.mesh_delivery_deficit(params, now);
        self.mesh_failure_penalty += deficit * deficit;
        self.grafted = None;
    }

    /// How far P3's counter is below the threshold, for a peer in the mesh longer than
    /// the activation time; 0 otherwise.
    fn mesh_delivery_deficit(&self, params: &TopicScoreParams, now: Instant) -> f64 {
        let Some(grafted) = self.grafted else {
            return 0.0;
        };
        let threshold = params.mesh_message_deliveries_threshold;
        let active =
            now.saturating_duration_since(grafted) > params.mesh_message_deliveries_activation;
        if active && self.mesh_message_deliveries < threshold {
            threshold - self.mesh_message_deliveries
        } else {
            0.0
        }
    }

    fn decay(&mut self, params: &TopicScoreParams, to_zero: f64) {
        let counters = [
            (
                &mut self.first_message_deliveries,
                params.first_message_deliveries_decay,
            ),
            (
                &mut self.mesh_message_deliveries,
                params.mesh_message_deliveries_decay,
            ),
            (
                &mut self.mesh_failure_penalty,
                params.mesh_failure_penalty_decay,
            ),
            (
                &mut self.invalid_message_deliveries,
                params.invalid_message_deliveries_decay,
            ),
        ];
        for (counter, factor) in counters {
            *counter = decay(*counter, factor, to_zero);
        }
    }

    fn is_blank(&self) -> bool {
        self.grafted.is_none()
            && self.first_message_deliveries == 0.0
            && self.mesh_message_deliveries == 0.0
            && self.mesh_failure_penalty == 0.0
            && self.invalid_message_deliveries == 0.0
    }
}

/// `weight * value`, except that a zero weight or value contributes 0 even against an
/// infinite partner (so that no term is NaN).
fn weighted(weight: f64, value: f64) -> f64 {
    if weight == 0.0 || value == 0.0 {
        0.0
    } else {
        weight * value
    }
}

/// P1: whole quanta of `in_mesh` (infinitely many of a zero quantum), capped.
fn time_in_mesh(in_mesh: Duration, params: &TopicScoreParams) -> f64 {
    let quanta = in_mesh
        .as_nanos()
        .checked_div(params.time_in_mesh_quantum.as_nanos())
        .map_or(f64::INFINITY, |quanta| quanta as f64);
    quanta.min(params.time_in_mesh_cap)
}

/// One decay step: `value * factor`, or 0 below `to_zero` (or if NaN).
fn decay(value: f64, factor: f64, to_zero: f64) -> f64 {
    let value = value * factor;
    if value >= to_zero { value } else { 0.0 }
}
