//! Timeouts and limits of a [`crate::Switch`].

use std::time::Duration;

/// Default for [`SwitchConfig::dial_timeout`].
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`SwitchConfig::upgrade_timeout`].
pub const DEFAULT_UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`SwitchConfig::negotiation_timeout`].
pub const DEFAULT_NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`SwitchConfig::max_parallel_dials`].
pub const DEFAULT_MAX_PARALLEL_DIALS: usize = 4;
/// Default for [`SwitchConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default for [`SwitchConfig::max_connections_per_peer`].
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 4;
/// Default for [`SwitchConfig::max_pending_inbound`].
pub const DEFAULT_MAX_PENDING_INBOUND: usize = 64;
/// Default for [`SwitchConfig::max_negotiating_inbound_streams`].
pub const DEFAULT_MAX_NEGOTIATING_INBOUND_STREAMS: usize = 128;
/// Events buffered for a subscriber that does not keep up; older ones are dropped.
pub const EVENT_BUFFER: usize = 1024;

/// Timeouts and limits. Every field has a documented default ([`Default`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SwitchConfig {
    /// How long a transport may take to connect to one address.
    pub dial_timeout: Duration,
    /// How long securing and muxing a new connection may take (either direction).
    pub upgrade_timeout: Duration,
    /// How long opening a stream and agreeing on its protocol may take (either direction).
    pub negotiation_timeout: Duration,
    /// Addresses of one peer dialed at the same time.
    pub max_parallel_dials: usize,
    /// Established connections in total; inbound ones beyond it are dropped at once.
    pub max_connections: usize,
    /// Established connections to one peer; a new one beyond it is closed.
    pub max_connections_per_peer: usize,
    /// Inbound connections being upgraded at once; more are dropped unanswered.
    pub max_pending_inbound: usize,
    /// Inbound streams of one connection still negotiating their protocol; more are reset.
    pub max_negotiating_inbound_streams: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        Self {
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            upgrade_timeout: DEFAULT_UPGRADE_TIMEOUT,
            negotiation_timeout: DEFAULT_NEGOTIATION_TIMEOUT,
            max_parallel_dials: DEFAULT_MAX_PARALLEL_DIALS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_pending_inbound: DEFAULT_MAX_PENDING_INBOUND,
            max_negotiating_inbound_streams: DEFAULT_MAX_NEGOTIATING_INBOUND_STREAMS,
        }
    }
}

impl SwitchConfig {
    /// Sets [`SwitchConfig::dial_timeout`].
    pub fn with_dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// Sets [`SwitchConfig::upgrade_timeout`].
    pub fn with_upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// Sets [`SwitchConfig::negotiation_timeout`].
    pub fn with_negotiation_timeout(mut self, timeout: Duration) -> Self {
        self.negotiation_timeout = timeout;
        self
    }

    /// Sets [`SwitchConfig::max_parallel_dials`] (at least 1).
    pub fn with_max_parallel_dials(mut self, n: usize) -> Self {
        self.max_parallel_dials = n.max(1);
        self
    }

    /// Sets [`SwitchConfig::max_connections`].
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`SwitchConfig::max_connections_per_peer`] (at least 1).
    pub fn with_max_connections_per_peer(mut self, n: usize) -> Self {
        self.max_connections_per_peer = n.max(1);
        self
    }

    /// Sets [`SwitchConfig::max_pending_inbound`].
    pub fn with_max_pending_inbound(mut self, n: usize) -> Self {
        self.max_pending_inbound = n;
        self
    }

    /// Sets [`SwitchConfig::max_negotiating_inbound_streams`].
    pub fn with_max_negotiating_inbound_streams(mut self, n: usize) -> Self {
        self.max_negotiating_inbound_streams = n;
        self
    }
}
