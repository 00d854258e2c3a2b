//! Gossipsub (`/meshsub/1.0.0`, `/meshsub/1.1.0`, `/meshsub/1.2.0`): the mesh router of
//! gossipsub-v1.0.md with the v1.1 security extensions (backoff, peer exchange,
//! scoring, flood publishing, outbound quotas, spam limits) and v1.2's IDONTWANT.
//!
//! [`Gossipsub`] is a state machine behind [`crate::Router`]: peers, RPCs, commands and
//! the clock go in, [`crate::Event`]s come out, and its random choices come from a
//! seedable generator, so a simulation repeats exactly.
//!
//! - `config.rs`: [`GossipsubConfig`], the parameters and their checks.
//! - `router.rs`: the state, peers, the mesh edits every part shares.
//! - `topics.rs`: JOIN, LEAVE, publishing and the fanout.
//! - `out.rs`: what one call produces, merged into one RPC per peer.
//! - `handlers.rs`: received messages and control.
//! - `heartbeat.rs`: mesh and fanout maintenance, gossip, expiry.
//! - `mcache.rs`, `backoff.rs`, `promises.rs`, `dontwant.rs`: the bounded tables.
//! - `score.rs`: peer scoring.

mod backoff;
mod config;
mod dontwant;
mod handlers;
mod heartbeat;
mod mcache;
mod out;
mod promises;
mod router;
mod score;
#[cfg(test)]
mod tests;
mod topics;

use mycel_core::ProtocolId;

pub use config::GossipsubConfig;
pub use router::Gossipsub;
pub use score::{
    PeerScore, PeerScoreParams, PeerScoreThresholds, RejectReason, ScoreParamsError,
    TopicScoreParams,
};

/// Gossipsub v1.0.
pub const PROTOCOL_1_0: ProtocolId = ProtocolId::from_static("/meshsub/1.0.0");

/// Gossipsub v1.1: peer exchange on PRUNE, backoff, scoring.
pub const PROTOCOL_1_1: ProtocolId = ProtocolId::from_static("/meshsub/1.1.0");

/// Gossipsub v1.2: IDONTWANT.
pub const PROTOCOL_1_2: ProtocolId = ProtocolId::from_static("/meshsub/1.2.0");
