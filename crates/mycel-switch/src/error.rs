//! Errors of the switch.

use std::{fmt, sync::Arc, time::Duration};

use mycel_core::{
    Limit, Multiaddr, MuxerError, NetworkError, PeerId, TransportError, UpgradeError,
    addr::AddrError,
};
use mycel_multistream::NegotiationError;
use thiserror::Error;

/// Why one connection attempt (one address, or one inbound connection) failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No configured transport handles the address.
    #[error("no transport for this address")]
    NoTransport,
    /// The transport failed to connect.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The address's `/p2p/` part is unusable.
    #[error("address: {0}")]
    Addr(#[from] AddrError),
    /// A stage took longer than its timeout.
    #[error("{stage} timed out after {after:?}")]
    Timeout {
        /// Which stage.
        stage: Stage,
        /// The timeout that passed.
        after: Duration,
    },
    /// multistream-select failed while choosing the security protocol or muxer.
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationError),
    /// The security handshake failed (or the remote is not the peer dialed).
    #[error("security: {0}")]
    Security(#[from] UpgradeError),
    /// The remote chose a muxer we did not offer.
    #[error("remote chose a muxer we do not have: {0}")]
    UnknownMuxer(String),
    /// The remote proved to be another peer than the one dialed.
    #[error("dialed {expected}, reached {found}")]
    PeerMismatch {
        /// The peer dialed.
        expected: PeerId,
        /// The peer that answered.
        found: PeerId,
    },
    /// The connection reached us but a limit refused it.
    #[error("limit reached: {0}")]
    Limit(Limit),
    /// The switch is shutting down.
    #[error("switch closed")]
    Closed,
}

/// A stage of setting up a connection, each with its own timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Reaching the remote (the transport's dial).
    Dial,
    /// Securing and multiplexing the connection.
    Upgrade,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Dial => "dial",
            Stage::Upgrade => "upgrade",
        })
    }
}

/// Why a dial failed. Cheap to clone: every caller waiting on one shared dial gets it.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum DialError {
    /// Dialing ourselves is refused.
    #[error("refusing to dial the local peer")]
    DialSelf,
    /// No address is known for the peer.
    #[error("no known address for {0}")]
    NoAddresses(PeerId),
    /// Every address failed; each with its error.
    #[error("{}", AllFailed(.errors))]
    Failed {
        /// Each address tried with the error it gave, in the order they failed.
        errors: Vec<(Multiaddr, Arc<ConnectError>)>,
    },
    /// The switch is shutting down.
    #[error("switch closed")]
    Closed,
    /// The dial task failed unexpectedly (it panicked).
    #[error("dial failed: {0}")]
    Internal(String),
}

struct AllFailed<'a>(&'a [(Multiaddr, Arc<ConnectError>)]);

impl fmt::Display for AllFailed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "all {} address(es) failed", self.0.len())?;
        for (addr, error) in self.0 {
            write!(f, "; {addr}: {error}")?;
        }
        Ok(())
    }
}

impl DialError {
    /// The same failure as the [`NetworkError`] protocol crates see.
    pub fn into_network_error(self, peer: PeerId) -> NetworkError {
        match self {
            DialError::NoAddresses(peer) => NetworkError::NoAddresses(peer),
            DialError::Closed => NetworkError::Closed,
            e => NetworkError::DialFailed {
                peer,
                source: Box::new(e),
            },
        }
    }
}

/// Why listening failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ListenError {
    /// No configured transport handles the address.
    #[error("no transport for {0}")]
    NoTransport(Multiaddr),
    /// The transport could not listen.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The switch is shutting down.
    #[error("switch closed")]
    Closed,
}

pub(crate) fn muxer_to_network(e: MuxerError, peer: PeerId) -> NetworkError {
    match e {
        MuxerError::Closed => NetworkError::ConnectionClosed(peer),
        e => NetworkError::Other(Box::new(e)),
    }
}
