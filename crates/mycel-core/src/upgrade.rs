//! The seams of the connection upgrade: a secure channel ([`SecureUpgrade`]), then a
//! stream muxer ([`MuxerUpgrade`]) whose result is a [`MuxedConnection`].
//!
//! These traits work on [`BoxedIo`] so that a switch can hold any mix of them as trait
//! objects. Each implementing crate also offers its own generic, unboxed API.

use std::{error::Error as StdError, io};

use async_trait::async_trait;
use thiserror::Error;

use crate::{BoxedIo, BufferBudget, PeerId, ProtocolId, PublicKey};

/// Which side of a connection or stream we are. The dialer is the initiator, except
/// where a protocol overrides it (hole punching over TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened it.
    Initiator,
    /// The remote opened it.
    Responder,
}

/// What went wrong in a secure-channel or muxer upgrade.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The remote authenticated as a different peer than the one dialed.
    #[error("remote is {actual}, expected {expected}")]
    PeerIdMismatch {
        /// The peer we meant to reach.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// The remote broke the protocol (bad message, bad signature, …).
    #[error("protocol violation: {0}")]
    Protocol(Box<dyn StdError + Send + Sync>),
}

/// A connection after the security handshake.
pub struct Secured {
    /// The encrypted byte stream.
    pub io: BoxedIo,
    /// The authenticated remote peer.
    pub remote_peer: PeerId,
    /// The remote's public key.
    pub remote_key: PublicKey,
    /// A muxer agreed inside the handshake (Noise's stream_muxers extension), if any:
    /// the switch then skips negotiating one with multistream-select.
    pub muxer: Option<ProtocolId>,
}

impl std::fmt::Debug for Secured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secured")
            .field("remote_peer", &self.remote_peer)
            .field("muxer", &self.muxer)
            .finish_non_exhaustive()
    }
}

/// A secure channel protocol such as Noise.
#[async_trait]
pub trait SecureUpgrade: Send + Sync + 'static {
    /// The protocol id negotiated with multistream-select (`/noise`).
    fn protocol(&self) -> ProtocolId;

    /// Runs the handshake as the initiator. With `remote` set, a remote that
    /// authenticates as another peer is [`UpgradeError::PeerIdMismatch`].
    async fn secure_outbound(
        &self,
        io: BoxedIo,
        remote: Option<PeerId>,
    ) -> Result<Secured, UpgradeError>;

    /// Runs the handshake as the responder.
    async fn secure_inbound(&self, io: BoxedIo) -> Result<Secured, UpgradeError>;
}

/// What went wrong on a muxed connection.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MuxerError {
    /// The underlying IO failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The connection is closed (by us, by the remote, or after an error).
    #[error("connection closed")]
    Closed,
    /// Opening one more stream would pass a limit (ours or the remote's).
    #[error("too many streams")]
    TooManyStreams,
    /// The remote broke the muxer protocol.
    #[error("protocol violation: {0}")]
    Protocol(Box<dyn StdError + Send + Sync>),
}

/// A stream muxer protocol such as yamux or mplex.
pub trait MuxerUpgrade: Send + Sync + 'static {
    /// The protocol id negotiated for it (`/yamux/1.0.0`, `/mplex/6.7.0`).
    fn protocol(&self) -> ProtocolId;

    /// Starts the muxer on a secured connection. Never blocks: the muxer runs in tasks
    /// owned by the returned connection, which stop when it is closed or dropped.
    fn upgrade(&self, io: BoxedIo, role: Role) -> Box<dyn MuxedConnection>;

    /// [`MuxerUpgrade::upgrade`], charging the data it holds for unread streams to
    /// `budget` (shared by every connection of a node) and pausing its reads while the
    /// budget is spent. The default ignores the budget.
    fn upgrade_with_budget(
        &self,
        io: BoxedIo,
        role: Role,
        budget: BufferBudget,
    ) -> Box<dyn MuxedConnection> {
        let _ = budget;
        self.upgrade(io, role)
    }
}

/// Many independent byte streams over one connection.
///
/// Streams are [`BoxedIo`]: `poll_shutdown` closes our write side (half-close). mycel's
/// muxers reset a stream dropped while open both ways, close one dropped after the
/// remote closed, and send nothing for one dropped after our own close; other
/// implementations may reset any stream dropped before both sides closed.
#[async_trait]
pub trait MuxedConnection: Send + Sync {
    /// Opens a new outbound stream.
    async fn open_stream(&self) -> Result<BoxedIo, MuxerError>;

    /// Waits for the next stream the remote opens. [`MuxerError::Closed`] once the
    /// connection is gone.
    async fn accept_stream(&self) -> Result<BoxedIo, MuxerError>;

    /// Closes the connection: no new streams, existing ones end.
    async fn close(&self) -> Result<(), MuxerError>;

    /// Whether the connection has closed.
    fn is_closed(&self) -> bool;
}
