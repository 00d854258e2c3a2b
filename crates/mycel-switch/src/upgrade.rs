//! The upgrader: raw connection -> "/noise" -> secure channel -> muxer.

use std::sync::Arc;

use mycel_core::{
    BoxedIo, BufferBudget, MuxedConnection, MuxerUpgrade, PeerId, ProtocolId, PublicKey, Role,
    SecureUpgrade,
};
use mycel_multistream::{dialer_select, dialer_select_lazy, listener_select};

use crate::ConnectError;

/// A connection after both upgrades.
pub struct Upgraded {
    /// The authenticated remote peer.
    pub peer: PeerId,
    /// The remote's public key.
    pub public_key: PublicKey,
    /// The muxer in use.
    pub muxer_protocol: ProtocolId,
    /// The muxed connection.
    pub connection: Box<dyn MuxedConnection>,
}

impl std::fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgraded")
            .field("peer", &self.peer)
            .field("muxer_protocol", &self.muxer_protocol)
            .finish_non_exhaustive()
    }
}

/// Turns a raw transport connection into an authenticated, muxed one.
///
/// Security is chosen with multistream-select (the dialer proposes it lazily: its first
/// handshake message rides behind the proposal). The muxer comes from the security
/// handshake when both sides offered one there (Noise's `stream_muxers` extension),
/// otherwise from multistream-select among [`Upgrader::muxers`] in order of preference,
/// waiting for the answer so that a refusal fails the upgrade.
#[derive(Clone)]
pub struct Upgrader {
    security: Arc<dyn SecureUpgrade>,
    muxers: Vec<Arc<dyn MuxerUpgrade>>,
    budget: Option<BufferBudget>,
}

impl Upgrader {
    /// An upgrader with one security protocol and muxers in order of preference.
    ///
    /// # Panics
    /// If `muxers` is empty: a connection without a muxer is of no use to a switch.
    pub fn new(security: Arc<dyn SecureUpgrade>, muxers: Vec<Arc<dyn MuxerUpgrade>>) -> Self {
        assert!(!muxers.is_empty(), "an upgrader needs at least one muxer");
        Self {
            security,
            muxers,
            budget: None,
        }
    }

    /// Charges every muxed connection's unread data to `budget` (the switch sets its
    /// own, from [`crate::SwitchConfig::max_buffered_bytes`]).
    pub fn with_buffer_budget(mut self, budget: BufferBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    fn start(
        &self,
        muxer: &Arc<dyn MuxerUpgrade>,
        io: BoxedIo,
        role: Role,
    ) -> Box<dyn MuxedConnection> {
        match &self.budget {
            Some(budget) => muxer.upgrade_with_budget(io, role, budget.clone()),
            None => muxer.upgrade(io, role),
        }
    }

    /// The muxers' protocol ids, preferred first.
    pub fn muxers(&self) -> Vec<ProtocolId> {
        self.muxers.iter().map(|m| m.protocol()).collect()
    }

    /// The security protocol's id.
    pub fn security(&self) -> ProtocolId {
        self.security.protocol()
    }

    fn muxer(&self, protocol: &ProtocolId) -> Option<&Arc<dyn MuxerUpgrade>> {
        self.muxers.iter().find(|m| &m.protocol() == protocol)
    }

    /// The muxer the security handshake agreed on, if any. One we do not have means the
    /// security protocol was configured with other muxers than ours: the remote already
    /// believes it agreed, so negotiating another would fail anyway.
    fn agreed(
        &self,
        protocol: Option<&ProtocolId>,
    ) -> Result<Option<&Arc<dyn MuxerUpgrade>>, ConnectError> {
        match protocol {
            None => Ok(None),
            Some(p) => self
                .muxer(p)
                .map(Some)
                .ok_or_else(|| ConnectError::UnknownMuxer(p.to_string())),
        }
    }

    /// Upgrades a connection we dialed. With `expected` set, a remote that
    /// authenticates as another peer is an error.
    pub async fn outbound(
        &self,
        io: BoxedIo,
        expected: Option<PeerId>,
    ) -> Result<Upgraded, ConnectError> {
        let io = dialer_select_lazy(io, self.security.protocol());
        let secured = self
            .security
            .secure_outbound(Box::new(io), expected)
            .await?;
        // The muxer is negotiated eagerly: a refusal must fail the dial, not a
        // connection already reported as established.
        let (muxer, io): (_, BoxedIo) = match self.agreed(secured.muxer.as_ref())? {
            Some(muxer) => (muxer.clone(), secured.io),
            None => {
                let (chosen, io) = dialer_select(secured.io, &self.muxers()).await?;
                let muxer = self
                    .muxer(&chosen)
                    .ok_or_else(|| ConnectError::UnknownMuxer(chosen.to_string()))?;
                (muxer.clone(), Box::new(io))
            }
        };
        Ok(Upgraded {
            peer: secured.remote_peer,
            public_key: secured.remote_key,
            muxer_protocol: muxer.protocol(),
            connection: self.start(&muxer, io, Role::Initiator),
        })
    }

    /// Upgrades a connection a remote dialed.
    pub async fn inbound(&self, io: BoxedIo) -> Result<Upgraded, ConnectError> {
        let (_, io) = listener_select(io, &[self.security.protocol()]).await?;
        let secured = self.security.secure_inbound(Box::new(io)).await?;
        let (muxer, io): (_, BoxedIo) = match self.agreed(secured.muxer.as_ref())? {
            Some(muxer) => (muxer.clone(), secured.io),
            None => {
                let (chosen, io) = listener_select(secured.io, &self.muxers()).await?;
                let muxer = self
                    .muxer(&chosen)
                    .ok_or_else(|| ConnectError::UnknownMuxer(chosen.to_string()))?;
                (muxer.clone(), Box::new(io))
            }
        };
        Ok(Upgraded {
            peer: secured.remote_peer,
            public_key: secured.remote_key,
            muxer_protocol: muxer.protocol(),
            connection: self.start(&muxer, io, Role::Responder),
        })
    }
}
