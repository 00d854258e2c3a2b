//! Dialing: one shared attempt per peer, its addresses tried in parallel, each
//! upgraded and admitted by the pool.

use super::*;

impl Switch {
    /// Connects to `peer`, trying `addrs` (at most [`SwitchConfig::max_parallel_dials`]
    /// at a time) unless a connection exists. Concurrent calls for one peer share one
    /// attempt (and the addresses of the first call).
    pub async fn dial_peer(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<PeerConnection, DialError> {
        if peer == self.inner.local_peer_id {
            return Err(DialError::DialSelf);
        }
        let dial = {
            let mut state = self.inner.lock();
            if state.pool.is_closed() {
                return Err(DialError::Closed);
            }
            if let Some(conn) = state.live_connection(&peer) {
                return Ok(conn);
            }
            match state.dials.get(&peer) {
                Some(dial) => dial.clone(),
                None => {
                    if addrs.is_empty() {
                        return Err(DialError::NoAddresses(peer));
                    }
                    let inner = self.inner.clone();
                    let task = self.inner.spawn(async move {
                        // However the dial ends (even by a panic), it leaves the map.
                        let _forget = ForgetDial {
                            inner: inner.clone(),
                            peer,
                        };
                        inner.dial_addrs(Some(peer), addrs).await
                    });
                    let dial = join_dial(task).boxed().shared();
                    state.dials.insert(peer, dial.clone());
                    dial
                }
            }
        };
        dial.await
    }

    /// Dials `addr`. With a `/p2p/<id>` suffix the remote must be that peer and an
    /// existing connection to it is reused; without one, any peer is accepted.
    pub async fn dial_addr(&self, addr: &Multiaddr) -> Result<PeerConnection, DialError> {
        let (base, peer) = split_peer_id(addr).map_err(|e| DialError::Failed {
            errors: vec![(addr.clone(), Arc::new(ConnectError::Addr(e)))],
        })?;
        match peer {
            Some(peer) => self.dial_peer(peer, vec![base]).await,
            None => {
                if self.inner.lock().pool.is_closed() {
                    return Err(DialError::Closed);
                }
                let inner = self.inner.clone();
                join_dial(
                    self.inner
                        .spawn(async move { inner.dial_addrs(None, vec![base]).await }),
                )
                .await
            }
        }
    }
}

async fn join_dial(
    task: JoinHandle<Option<Result<PeerConnection, DialError>>>,
) -> Result<PeerConnection, DialError> {
    match task.await {
        Ok(Some(result)) => result,
        Ok(None) => Err(DialError::Closed),
        Err(e) if e.is_panic() => Err(DialError::Internal("the dial task panicked".into())),
        Err(_) => Err(DialError::Closed),
    }
}

struct ForgetDial {
    inner: Arc<Inner>,
    peer: PeerId,
}

impl Drop for ForgetDial {
    fn drop(&mut self) {
        self.inner.lock().dials.remove(&self.peer);
    }
}

impl Inner {
    /// Tries `addrs` (bounded in parallel); the first success is registered, the rest
    /// are dropped.
    pub(super) async fn dial_addrs(
        self: &Arc<Self>,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> Result<PeerConnection, DialError> {
        let mut attempts = stream::iter(addrs)
            .map(|addr| async move {
                let result = self.connect(&addr, peer).await;
                (addr, result)
            })
            .buffer_unordered(self.config.max_parallel_dials.max(1));
        let mut errors = Vec::new();
        while let Some((addr, result)) = attempts.next().await {
            match result {
                Ok((upgraded, conn_local, conn_remote)) => {
                    tracing::debug!(%addr, peer = %upgraded.peer, "dial succeeded");
                    let remote = upgraded.peer;
                    match self.register(upgraded, Direction::Outbound, conn_local, conn_remote) {
                        Ok(conn) => return Ok(conn),
                        Err(ConnectError::Closed) => return Err(DialError::Closed),
                        Err(e) => {
                            // Over the per-peer limit: the connections we have will do.
                            if let Some(conn) = self.lock().live_connection(&remote) {
                                return Ok(conn);
                            }
                            errors.push((addr, Arc::new(e)));
                            return Err(DialError::Failed { errors });
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "dial failed");
                    errors.push((addr, Arc::new(e)));
                }
            }
        }
        Err(DialError::Failed { errors })
    }

    pub(super) async fn connect(
        &self,
        addr: &Multiaddr,
        peer: Option<PeerId>,
    ) -> Result<Handshaken, ConnectError> {
        if let Some(secured) = self.secured.iter().find(|t| t.supports(addr)) {
            return self.connect_secured(secured.as_ref(), addr, peer).await;
        }
        let transport = self
            .transports
            .iter()
            .find(|t| t.supports(addr))
            .ok_or(ConnectError::NoTransport)?;
        self.lock().pool.begin_outbound().map_err(refused)?;
        let _pending = PendingOutbound(self);
        let dial_timeout = self.config.dial_timeout;
        let conn = timeout(dial_timeout, transport.dial(addr))
            .await
            .map_err(|_| ConnectError::Timeout {
                stage: Stage::Dial,
                after: dial_timeout,
            })??;
        let upgrade_timeout = self.config.upgrade_timeout;
        let upgraded = timeout(upgrade_timeout, self.upgrader.outbound(conn.io, peer))
            .await
            .map_err(|_| ConnectError::Timeout {
                stage: Stage::Upgrade,
                after: upgrade_timeout,
            })??;
        Ok((upgraded, conn.local_addr, conn.remote_addr))
    }

    /// Dials with a transport that secures and multiplexes by itself: the dial and
    /// upgrade timeouts together bound its handshake, and a remote that is not `peer`
    /// is refused even if the transport let it through.
    async fn connect_secured(
        &self,
        transport: &dyn SecuredTransport,
        addr: &Multiaddr,
        peer: Option<PeerId>,
    ) -> Result<Handshaken, ConnectError> {
        self.lock().pool.begin_outbound().map_err(refused)?;
        let _pending = PendingOutbound(self);
        let limit = self.config.dial_timeout + self.config.upgrade_timeout;
        let conn = timeout(limit, transport.dial(addr, peer))
            .await
            .map_err(|_| ConnectError::Timeout {
                stage: Stage::Dial,
                after: limit,
            })??;
        if let Some(expected) = peer.filter(|p| *p != conn.remote_peer) {
            return Err(ConnectError::PeerMismatch {
                expected,
                found: conn.remote_peer,
            });
        }
        Ok(from_secured(conn))
    }
}
