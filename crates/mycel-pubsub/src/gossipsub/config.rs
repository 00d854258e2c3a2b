//! [`GossipsubConfig`]: the router's parameters, with go-libp2p-pubsub's and
//! rust-libp2p's defaults, and the checks that keep them consistent.

use std::{fmt, sync::Arc, time::Duration};

use crate::{
    DEFAULT_SEEN_CAPACITY, DEFAULT_SEEN_TTL, MAX_TOPICS_PER_PEER, MessageIdFn, MessageValidator,
    PeerScoreParams, PeerScoreThresholds, PubsubError, ValidationMode, default_message_id,
};

/// Settings of a gossipsub router.
///
/// The names follow the specs (`D`, `D_lo`, ...); the defaults are those go-libp2p-pubsub
/// and rust-libp2p ship with, so a mycel node fits in a network of either.
#[derive(Clone)]
pub struct GossipsubConfig {
    /// How message ids are computed (every peer of a network must agree).
    pub message_id: MessageIdFn,
    /// What received messages must carry (signatures, authorship).
    pub validation: ValidationMode,
    /// The application's check, run before delivering and forwarding.
    pub validator: Option<MessageValidator>,
    /// How long a message id is remembered (`seen_ttl`, 2 minutes).
    pub seen_ttl: Duration,
    /// How many message ids are remembered at most.
    pub seen_capacity: usize,
    /// Topics remembered per peer.
    pub max_topics_per_peer: usize,

    /// `D`: the mesh degree we aim for (6).
    pub d: usize,
    /// `D_lo`: below this many mesh peers the heartbeat grafts more (5).
    pub d_lo: usize,
    /// `D_hi`: above this many mesh peers the heartbeat prunes down to `D` (12).
    pub d_hi: usize,
    /// `D_score`: mesh peers kept by score when pruning an oversized mesh (4).
    pub d_score: usize,
    /// `D_out`: outbound peers every mesh keeps (2); below `D_lo` and at most `D / 2`.
    pub d_out: usize,
    /// `D_lazy`: the fewest peers gossip goes to per topic and heartbeat (6).
    pub d_lazy: usize,
    /// Share of the eligible non-mesh peers gossip goes to, when above `D_lazy` (0.25).
    pub gossip_factor: f64,

    /// Time between heartbeats (1 s).
    pub heartbeat_interval: Duration,
    /// Time before the first heartbeat (go's 100 ms), for the service that runs us.
    pub heartbeat_initial_delay: Duration,
    /// How long a fanout set is kept after our last publish to its topic (60 s).
    pub fanout_ttl: Duration,

    /// History windows (heartbeats) the message cache keeps (5).
    pub mcache_len: usize,
    /// Most recent windows whose ids are gossiped (3).
    pub mcache_gossip: usize,
    /// Times one peer may fetch one message through IWANT (go's `GossipRetransmission`, 3).
    pub gossip_retransmission: u32,

    /// Peers offered in a PRUNE's peer exchange (16).
    pub prune_peers: usize,
    /// Backoff after a prune (60 s); sent to the pruned peer in whole seconds.
    pub prune_backoff: Duration,
    /// Backoff after leaving a topic (10 s).
    pub unsubscribe_backoff: Duration,
    /// Heartbeats added to a backoff before we graft the peer again ourselves (1), so
    /// that our GRAFT does not arrive a moment early and get penalised.
    pub backoff_slack: u32,
    /// A GRAFT this soon after we pruned the peer costs it an extra penalty (10 s).
    pub graft_flood_threshold: Duration,
    /// Heartbeats between opportunistic grafting rounds (60).
    pub opportunistic_graft_ticks: u64,
    /// Peers grafted in one opportunistic round (2).
    pub opportunistic_graft_peers: usize,

    /// Most message ids in one IHAVE, and most ids we ask one peer for per heartbeat
    /// (5000).
    pub max_ihave_length: usize,
    /// Most RPCs with IHAVEs we act on per peer and heartbeat (10).
    pub max_ihave_messages: usize,
    /// Time a peer has to deliver a message it advertised and we asked for (3 s).
    pub iwant_followup_time: Duration,

    /// Whether our own messages go to every topic peer above the publish threshold
    /// rather than to the mesh or fanout (true).
    pub flood_publish: bool,
    /// Whether our PRUNEs offer other peers (peer exchange; false, as go and rust ship).
    pub do_px: bool,

    /// Messages whose encoding is at least this long make us send IDONTWANT to our
    /// `/meshsub/1.2.0` mesh peers (1000 bytes, rust's; go uses 1024).
    pub idontwant_message_size_threshold: usize,
    /// RPCs with IDONTWANTs we act on per peer and heartbeat (go's 1000).
    pub max_idontwant_messages: usize,
    /// Message ids we take from one RPC's IDONTWANTs (go's 10).
    pub max_idontwant_length: usize,

    /// Peer scoring; `None` turns it off (every score is 0 and no threshold applies).
    pub score_params: Option<PeerScoreParams>,
    /// Score thresholds, used when scoring is on.
    pub score_thresholds: PeerScoreThresholds,
}

impl Default for GossipsubConfig {
    fn default() -> Self {
        GossipsubConfig {
            message_id: Arc::new(default_message_id),
            validation: ValidationMode::Strict,
            validator: None,
            seen_ttl: DEFAULT_SEEN_TTL,
            seen_capacity: DEFAULT_SEEN_CAPACITY,
            max_topics_per_peer: MAX_TOPICS_PER_PEER,
            d: 6,
            d_lo: 5,
            d_hi: 12,
            d_score: 4,
            d_out: 2,
            d_lazy: 6,
            gossip_factor: 0.25,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_initial_delay: Duration::from_millis(100),
            fanout_ttl: Duration::from_secs(60),
            mcache_len: 5,
            mcache_gossip: 3,
            gossip_retransmission: 3,
            prune_peers: 16,
            prune_backoff: Duration::from_secs(60),
            unsubscribe_backoff: Duration::from_secs(10),
            backoff_slack: 1,
            graft_flood_threshold: Duration::from_secs(10),
            opportunistic_graft_ticks: 60,
            opportunistic_graft_peers: 2,
            max_ihave_length: 5000,
            max_ihave_messages: 10,
            iwant_followup_time: Duration::from_secs(3),
            flood_publish: true,
            do_px: false,
            idontwant_message_size_threshold: 1000,
            max_idontwant_messages: 1000,
            max_idontwant_length: 10,
            score_params: None,
            score_thresholds: PeerScoreThresholds::default(),
        }
    }
}

impl fmt::Debug for GossipsubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GossipsubConfig")
            .field("validation", &self.validation)
            .field("validator", &self.validator.is_some())
            .field("seen_ttl", &self.seen_ttl)
            .field("d", &self.d)
            .field("d_lo", &self.d_lo)
            .field("d_hi", &self.d_hi)
            .field("d_score", &self.d_score)
            .field("d_out", &self.d_out)
            .field("d_lazy", &self.d_lazy)
            .field("gossip_factor", &self.gossip_factor)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("mcache_len", &self.mcache_len)
            .field("mcache_gossip", &self.mcache_gossip)
            .field("flood_publish", &self.flood_publish)
            .field("do_px", &self.do_px)
            .field("scoring", &self.score_params.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> PubsubError {
    PubsubError::InvalidConfig(reason.into())
}

impl GossipsubConfig {
    /// Checks that the parameters are consistent, as go and rust do before starting:
    /// `D_lo <= D <= D_hi`, `D_score <= D_hi`, `D_out < D_lo` and `D_out <= D / 2`
    /// (all four may be 0 together: a bootstrapper without a mesh), `mcache_gossip <=
    /// mcache_len`, backoffs of at least a second, and, with scoring on, the score
    /// parameters and thresholds ([`PeerScoreParams::validate`],
    /// [`PeerScoreThresholds::validate`]).
    pub fn validate(&self) -> Result<(), PubsubError> {
        let bootstrapper = self.d == 0 && self.d_lo == 0 && self.d_hi == 0 && self.d_out == 0;
        if !bootstrapper {
            if self.d_lo > self.d || self.d > self.d_hi {
                return Err(invalid(format!(
                    "D={} must lie between D_lo={} and D_hi={}",
                    self.d, self.d_lo, self.d_hi
                )));
            }
            if self.d_out >= self.d_lo || self.d_out > self.d / 2 {
                return Err(invalid(format!(
                    "D_out={} must be below D_lo={} and at most D/2={}",
                    self.d_out,
                    self.d_lo,
                    self.d / 2
                )));
            }
        }
        if self.d_score > self.d_hi {
            return Err(invalid(format!(
                "D_score={} must not exceed D_hi={}",
                self.d_score, self.d_hi
            )));
        }
        if !(0.0..=1.0).contains(&self.gossip_factor) {
            return Err(invalid(format!(
                "gossip_factor={} must lie in [0, 1]",
                self.gossip_factor
            )));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(invalid("heartbeat_interval must not be zero"));
        }
        if self.mcache_len == 0 || self.mcache_gossip > self.mcache_len {
            return Err(invalid(format!(
                "mcache_gossip={} must not exceed mcache_len={} (at least 1)",
                self.mcache_gossip, self.mcache_len
            )));
        }
        if self.prune_backoff < Duration::from_secs(1)
            || self.unsubscribe_backoff < Duration::from_secs(1)
        {
            return Err(invalid(
                "prune_backoff and unsubscribe_backoff travel in whole seconds: at least 1 s",
            ));
        }
        if self.opportunistic_graft_ticks == 0 {
            return Err(invalid("opportunistic_graft_ticks must be at least 1"));
        }
        if let Some(params) = &self.score_params {
            params
                .validate()
                .and_then(|()| self.score_thresholds.validate())
                .map_err(|e| invalid(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects(config: GossipsubConfig, what: &str) {
        match config.validate() {
            Err(PubsubError::InvalidConfig(reason)) => {
                assert!(reason.contains(what), "{reason:?} should mention {what}")
            }
            other => panic!("expected a refusal mentioning {what}, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_are_go_and_rust_defaults_and_valid() {
        let c = GossipsubConfig::default();
        c.validate().unwrap();
        assert_eq!(
            (c.d, c.d_lo, c.d_hi, c.d_score, c.d_out, c.d_lazy),
            (6, 5, 12, 4, 2, 6)
        );
        assert_eq!((c.mcache_len, c.mcache_gossip), (5, 3));
        assert_eq!(c.prune_backoff, Duration::from_secs(60));
        assert_eq!(c.unsubscribe_backoff, Duration::from_secs(10));
        assert_eq!((c.max_ihave_length, c.max_ihave_messages), (5000, 10));
        assert!(c.flood_publish && !c.do_px);
    }

    #[test]
    fn mesh_degrees_out_of_order_are_refused() {
        let base = GossipsubConfig::default;
        rejects(GossipsubConfig { d_lo: 7, ..base() }, "D_lo");
        rejects(GossipsubConfig { d: 13, ..base() }, "D_hi");
        rejects(GossipsubConfig { d_out: 5, ..base() }, "D_out");
        rejects(
            GossipsubConfig {
                d: 6,
                d_lo: 5,
                d_out: 4,
                ..base()
            },
            "D/2",
        );
        rejects(
            GossipsubConfig {
                d_score: 13,
                ..base()
            },
            "D_score",
        );
    }

    #[test]
    fn a_bootstrapper_without_a_mesh_is_valid() {
        GossipsubConfig {
            d: 0,
            d_lo: 0,
            d_hi: 0,
            d_out: 0,
            d_score: 0,
            do_px: true,
            ..GossipsubConfig::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn other_inconsistent_settings_are_refused() {
        let base = GossipsubConfig::default;
        rejects(
            GossipsubConfig {
                mcache_gossip: 6,
                ..base()
            },
            "mcache_gossip",
        );
        rejects(
            GossipsubConfig {
                gossip_factor: 1.5,
                ..base()
            },
            "gossip_factor",
        );
        rejects(
            GossipsubConfig {
                gossip_factor: f64::NAN,
                ..base()
            },
            "gossip_factor",
        );
        rejects(
            GossipsubConfig {
                heartbeat_interval: Duration::ZERO,
                ..base()
            },
            "heartbeat_interval",
        );
        rejects(
            GossipsubConfig {
                prune_backoff: Duration::from_millis(500),
                ..base()
            },
            "whole seconds",
        );
    }

    #[test]
    fn score_thresholds_must_be_ordered_when_scoring_is_on() {
        let scored = |t: PeerScoreThresholds| GossipsubConfig {
            score_params: Some(PeerScoreParams::default()),
            score_thresholds: t,
            ..GossipsubConfig::default()
        };
        scored(PeerScoreThresholds::default()).validate().unwrap();
        let d = PeerScoreThresholds::default();
        rejects(
            scored(PeerScoreThresholds {
                gossip_threshold: 1.0,
                ..d
            }),
            "gossip_threshold",
        );
        rejects(
            scored(PeerScoreThresholds {
                publish_threshold: -5.0,
                ..d
            }),
            "publish_threshold",
        );
        rejects(
            scored(PeerScoreThresholds {
                graylist_threshold: -40.0,
                ..d
            }),
            "graylist_threshold",
        );
        rejects(
            scored(PeerScoreThresholds {
                accept_px_threshold: -1.0,
                ..d
            }),
            "accept_px_threshold",
        );
        // Without scoring the thresholds are not used, so not checked.
        GossipsubConfig {
            score_thresholds: PeerScoreThresholds {
                gossip_threshold: 1.0,
                ..d
            },
            ..GossipsubConfig::default()
        }
        .validate()
        .unwrap();
    }
}
