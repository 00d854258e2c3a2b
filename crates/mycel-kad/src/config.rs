//! Configuration of a [`crate::Kademlia`] node.

use std::{num::NonZeroUsize, time::Duration};

use mycel_core::ProtocolId;

use crate::{
    ALPHA_VALUE, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REQUEST_TIMEOUT, K_VALUE, LookupConfig,
    PROTOCOL_ID, StoreConfig, Validators,
};

/// Whether the node answers requests and announces the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Queries the DHT but neither answers nor announces the protocol: others keep it
    /// out of their routing tables.
    Client,
    /// Answers requests and announces the protocol (through identify).
    Server,
}

/// How many peers must agree for a get or accept a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// One peer.
    One,
    /// More than half of k.
    Majority,
    /// All k.
    All,
    /// This many peers (at most k).
    N(NonZeroUsize),
}

impl Quorum {
    /// The number of peers this quorum needs out of `k`.
    pub fn count(self, k: usize) -> usize {
        match self {
            Quorum::One => 1,
            Quorum::Majority => k / 2 + 1,
            Quorum::All => k,
            Quorum::N(n) => n.get().min(k),
        }
    }
}

/// Default pause between automatic bootstraps.
pub const DEFAULT_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Default interval at which a node re-puts the records it published.
pub const DEFAULT_REPUBLISH_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Default interval at which a node re-announces the keys it provides (go and the spec
/// use 22 h for a 48 h provider record).
pub const DEFAULT_REPROVIDE_INTERVAL: Duration = Duration::from_secs(22 * 60 * 60);

/// Default time one whole query may take.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests one inbound stream may carry before it is closed.
pub const MAX_REQUESTS_PER_STREAM: usize = 64;

/// How long an inbound stream may sit idle between requests.
pub const INBOUND_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a Kademlia node. `KadConfig::default()` follows the spec and go/rust
/// defaults; the `with_*` methods change one thing each.
#[derive(Debug, Clone)]
pub struct KadConfig {
    /// The protocol id (a private DHT uses its own).
    pub protocol: ProtocolId,
    /// `Some` forces a mode; `None` starts as a client and turns server once the
    /// network reports an external address candidate (an address at which two peers
    /// saw us; not a proof of reachability, which needs AutoNAT). [`crate::Kademlia::set_mode`]
    /// also forces the mode.
    pub mode: Option<Mode>,
    /// Bucket size, result size and replication factor.
    pub k: usize,
    /// Requests in flight per query.
    pub alpha: usize,
    /// Time one request may take before a query moves on.
    pub request_timeout: Duration,
    /// Time one query may take.
    pub query_timeout: Duration,
    /// Largest message read.
    pub max_message_size: usize,
    /// Limits and lifetimes of stored records.
    pub store: StoreConfig,
    /// Record validators per key namespace.
    pub validators: Validators,
    /// Quorum of a get and of a put when none is given.
    pub quorum: Quorum,
    /// Pause between automatic bootstraps. With `Some`, the node also bootstraps once as
    /// soon as its routing table gains its first peer; with `None`, only when asked
    /// ([`crate::Kademlia::bootstrap`]).
    pub bootstrap_interval: Option<Duration>,
    /// Interval at which own records are put again.
    pub republish_interval: Duration,
    /// Interval at which provided keys are announced again.
    pub reprovide_interval: Duration,
}

impl Default for KadConfig {
    fn default() -> Self {
        KadConfig {
            protocol: PROTOCOL_ID,
            mode: None,
            k: K_VALUE,
            alpha: ALPHA_VALUE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            store: StoreConfig::default(),
            validators: Validators::with_defaults(),
            quorum: Quorum::One,
            bootstrap_interval: Some(DEFAULT_BOOTSTRAP_INTERVAL),
            republish_interval: DEFAULT_REPUBLISH_INTERVAL,
            reprovide_interval: DEFAULT_REPROVIDE_INTERVAL,
        }
    }
}

impl KadConfig {
    /// Forces a mode.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Uses another protocol id.
    pub fn with_protocol(mut self, protocol: ProtocolId) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets k.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k.max(1);
        self
    }

    /// Sets alpha.
    pub fn with_alpha(mut self, alpha: usize) -> Self {
        self.alpha = alpha.max(1);
        self
    }

    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the per-query timeout.
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Sets the largest message read.
    pub fn with_max_message_size(mut self, max: usize) -> Self {
        self.max_message_size = max;
        self
    }

    /// Sets the record store's limits.
    pub fn with_store(mut self, store: StoreConfig) -> Self {
        self.store = store;
        self
    }

    /// Replaces the validators.
    pub fn with_validators(mut self, validators: Validators) -> Self {
        self.validators = validators;
        self
    }

    /// Sets the default quorum.
    pub fn with_quorum(mut self, quorum: Quorum) -> Self {
        self.quorum = quorum;
        self
    }

    /// Sets or disables automatic bootstraps.
    pub fn with_bootstrap_interval(mut self, interval: Option<Duration>) -> Self {
        self.bootstrap_interval = interval;
        self
    }

    /// Sets how often own records are put again.
    pub fn with_republish_interval(mut self, interval: Duration) -> Self {
        self.republish_interval = interval;
        self
    }

    /// Sets how often provided keys are announced again.
    pub fn with_reprovide_interval(mut self, interval: Duration) -> Self {
        self.reprovide_interval = interval;
        self
    }

    /// The lookup parameters this configuration implies.
    pub fn lookup(&self) -> LookupConfig {
        LookupConfig {
            k: self.k,
            alpha: self.alpha,
            request_timeout: self.request_timeout,
        }
    }
}
