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
/// Default for [`SwitchConfig::max_established_inbound`].
pub const DEFAULT_MAX_ESTABLISHED_INBOUND: usize = 1024;
/// Default for [`SwitchConfig::max_established_outbound`].
pub const DEFAULT_MAX_ESTABLISHED_OUTBOUND: usize = 1024;
/// Default for [`SwitchConfig::max_pending_outbound`].
pub const DEFAULT_MAX_PENDING_OUTBOUND: usize = 64;
/// Default for [`SwitchConfig::max_inbound_streams_per_connection`].
pub const DEFAULT_MAX_INBOUND_STREAMS_PER_CONNECTION: usize = 256;
/// Default for [`SwitchConfig::max_outbound_streams_per_connection`].
pub const DEFAULT_MAX_OUTBOUND_STREAMS_PER_CONNECTION: usize = 256;
/// Default for [`SwitchConfig::max_buffered_bytes`].
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 * 1024 * 1024;
/// Default for [`SwitchConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for [`SwitchConfig::max_connections_per_peer`].
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 4;
/// Default for [`SwitchConfig::max_pending_inbound`].
pub const DEFAULT_MAX_PENDING_INBOUND: usize = 256;
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
    /// Established inbound connections; one more is dropped before its handshake.
    pub max_established_inbound: usize,
    /// Established outbound connections; a dial beyond it fails with a limit error.
    pub max_established_outbound: usize,
    /// Established connections to one peer; a new one beyond it is closed.
    pub max_connections_per_peer: usize,
    /// Inbound connections being upgraded at once. When full, the handshake pending
    /// longest is dropped to make room (a stalling peer cannot lock honest ones out).
    pub max_pending_inbound: usize,
    /// Outbound connection attempts (dial and upgrade) at once; more fail with a limit
    /// error.
    pub max_pending_outbound: usize,
    /// Inbound streams open at once on one connection (from acceptance until the
    /// handler drops the stream); more are reset, the connection lives on.
    pub max_inbound_streams_per_connection: usize,
    /// Outbound streams open at once on one connection; opening one more is a limit
    /// error.
    pub max_outbound_streams_per_connection: usize,
    /// Bytes all connections together hold for streams that have not read them: past
    /// it, connections stop reading their sockets, and when one stays stuck the stream
    /// unread longest is reset (see `mycel_core::BufferBudget`).
    pub max_buffered_bytes: usize,
    /// A connection with no stream open and no keep-alive held for this long is closed;
    /// `None` keeps connections until closed.
    pub idle_timeout: Option<Duration>,
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
            max_established_inbound: DEFAULT_MAX_ESTABLISHED_INBOUND,
            max_established_outbound: DEFAULT_MAX_ESTABLISHED_OUTBOUND,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_pending_inbound: DEFAULT_MAX_PENDING_INBOUND,
            max_pending_outbound: DEFAULT_MAX_PENDING_OUTBOUND,
            max_inbound_streams_per_connection: DEFAULT_MAX_INBOUND_STREAMS_PER_CONNECTION,
            max_outbound_streams_per_connection: DEFAULT_MAX_OUTBOUND_STREAMS_PER_CONNECTION,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
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

    /// Sets [`SwitchConfig::max_established_inbound`].
    pub fn with_max_established_inbound(mut self, n: usize) -> Self {
        self.max_established_inbound = n;
        self
    }

    /// Sets [`SwitchConfig::max_established_outbound`].
    pub fn with_max_established_outbound(mut self, n: usize) -> Self {
        self.max_established_outbound = n;
        self
    }

    /// Sets [`SwitchConfig::max_pending_outbound`].
    pub fn with_max_pending_outbound(mut self, n: usize) -> Self {
        self.max_pending_outbound = n;
        self
    }

    /// Sets [`SwitchConfig::max_inbound_streams_per_connection`].
    pub fn with_max_inbound_streams_per_connection(mut self, n: usize) -> Self {
        self.max_inbound_streams_per_connection = n;
        self
    }

    /// Sets [`SwitchConfig::max_outbound_streams_per_connection`].
    pub fn with_max_outbound_streams_per_connection(mut self, n: usize) -> Self {
        self.max_outbound_streams_per_connection = n;
        self
    }

    /// Sets [`SwitchConfig::max_buffered_bytes`].
    pub fn with_max_buffered_bytes(mut self, n: usize) -> Self {
        self.max_buffered_bytes = n;
        self
    }

    /// Sets [`SwitchConfig::idle_timeout`].
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
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
