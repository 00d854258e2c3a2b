//! The inbound path: a connection's handshake (counted by the pool as pending), its
//! admission, and the loop accepting its streams until it closes.

use super::{listen::Inbound, *};

impl Inner {
    /// Counts `inbound` as a pending handshake (pushing out the oldest when full), runs
    /// its handshake (the upgrader's, or the secured transport's own) within the upgrade
    /// timeout, and hands the result to the pool.
    pub(super) fn on_inbound(self: &Arc<Self>, inbound: Inbound) {
        let remote = match &inbound {
            Inbound::Raw(conn) => conn.remote_addr.clone(),
            Inbound::Secured(pending) => pending.remote_addr.clone(),
        };
        let (id, cancelled) = {
            let mut state = self.lock();
            let (id, evicted) = match state.pool.begin_inbound() {
                Ok(admitted) => admitted,
                Err(refusal) => {
                    tracing::debug!(%remote, ?refusal, "dropping inbound connection");
                    return;
                }
            };
            if let Some(oldest) = evicted.and_then(|e| state.pending_inbound.remove(&e)) {
                tracing::debug!(%remote, "pending inbound full, dropping the oldest handshake");
                oldest.cancel();
            }
            let token = CancellationToken::new();
            state.pending_inbound.insert(id, token.clone());
            (id, token)
        };
        let inner = self.clone();
        let handshake: BoxFuture<'static, Result<Handshaken, ConnectError>> = match inbound {
            Inbound::Raw(conn) => {
                let upgrader = self.upgrader.clone();
                Box::pin(async move {
                    let upgraded = upgrader.inbound(conn.io).await?;
                    Ok((upgraded, conn.local_addr, conn.remote_addr))
                })
            }
            Inbound::Secured(pending) => Box::pin(async move {
                pending
                    .handshake
                    .await
                    .map(from_secured)
                    .map_err(ConnectError::Transport)
            }),
        };
        drop(self.spawn(async move {
            let limit = inner.config.upgrade_timeout;
            let upgrade = timeout(limit, handshake);
            let outcome = tokio::select! {
                outcome = upgrade => Some(outcome),
                _ = cancelled.cancelled() => None,
            };
            {
                let mut state = inner.lock();
                state.pool.end_inbound(id);
                state.pending_inbound.remove(&id);
            }
            let result = match outcome {
                Some(Ok(Ok((upgraded, local, remote)))) => {
                    inner.register(upgraded, Direction::Inbound, local, remote)
                }
                Some(Ok(Err(e))) => Err(e),
                Some(Err(_)) => Err(ConnectError::Timeout {
                    stage: Stage::Upgrade,
                    after: limit,
                }),
                None => Err(ConnectError::Limit(Limit::PendingInbound)),
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "inbound connection failed");
            }
        }));
    }

    /// Adds an upgraded connection to the pool and starts serving its inbound streams.
    pub(super) fn register(
        self: &Arc<Self>,
        upgraded: Upgraded,
        direction: Direction,
        local_addr: Multiaddr,
        remote_addr: Multiaddr,
    ) -> Result<PeerConnection, ConnectError> {
        let conn = PeerConnection(Arc::new(ConnectionState {
            id: ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed)),
            peer: upgraded.peer,
            public_key: upgraded.public_key,
            remote_addr,
            local_addr,
            direction,
            muxer_protocol: upgraded.muxer_protocol,
            muxer: upgraded.connection,
            closing: AtomicBool::new(false),
            closed_locally: AtomicBool::new(false),
            activity: Activity::new(),
        }));
        {
            let mut state = self.lock();
            let event = match state
                .pool
                .admit(conn.0.id.0, conn.0.peer, direction, conn.clone())
            {
                Ok(event) => event,
                Err(refusal) => {
                    drop(state);
                    self.close_in_background(&conn);
                    return Err(refused(refusal));
                }
            };
            tracing::info!(
                peer = %conn.0.peer,
                addr = %conn.0.remote_addr,
                ?direction,
                muxer = %conn.0.muxer_protocol,
                "connection established"
            );
            // Sent under the lock, so `Connected` and `Disconnected` of one peer
            // alternate in the order they happened.
            if let Some(PoolEvent::Connected { .. }) = event {
                self.emit(NetworkEvent::Connected {
                    peer: conn.0.peer,
                    remote_addr: conn.0.remote_addr.clone(),
                    direction,
                });
            }
        }
        let hook = self
            .on_connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(&conn);
        }
        drop(self.spawn(self.clone().serve_connection(conn.clone())));
        Ok(conn)
    }

    /// Accepts the connection's inbound streams until it closes, then removes it.
    pub(super) async fn serve_connection(self: Arc<Self>, conn: PeerConnection) {
        let negotiating = Arc::new(AtomicUsize::new(0));
        let idle = async {
            match self.config.idle_timeout {
                Some(timeout) => conn.0.activity.idle_for(timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(idle);
        let reason = loop {
            let accepted = tokio::select! {
                accepted = conn.0.muxer.accept_stream() => accepted,
                _ = &mut idle => {
                    tracing::debug!(peer = %conn.0.peer, id = %conn.0.id, "connection idle, closing");
                    conn.0.closing.store(true, Ordering::Relaxed);
                    let _ = timeout(CLOSE_GRACE, conn.0.muxer.close()).await;
                    break "idle timeout".to_string();
                }
            };
            match accepted {
                Ok(stream) => {
                    let Some(token) = conn.0.activity.try_add(
                        Kind::Inbound,
                        self.config.max_inbound_streams_per_connection,
                    ) else {
                        tracing::debug!(peer = %conn.0.peer, "inbound stream limit reached, resetting");
                        continue;
                    };
                    if negotiating.load(Ordering::Relaxed)
                        >= self.config.max_negotiating_inbound_streams
                    {
                        tracing::debug!(peer = %conn.0.peer, "too many negotiating streams, resetting");
                        continue;
                    }
                    negotiating.fetch_add(1, Ordering::Relaxed);
                    let inner = self.clone();
                    let counter = negotiating.clone();
                    let (peer, remote) = (conn.0.peer, conn.0.remote_addr.clone());
                    let stream: BoxedIo = Box::new(CountedStream::new(stream, token));
                    drop(self.spawn(async move {
                        inner.serve_stream(peer, remote, stream, counter).await;
                    }));
                }
                Err(e) if conn.0.closed_locally.load(Ordering::Relaxed) => {
                    break format!("closed locally ({e})");
                }
                Err(e) => break e.to_string(),
            }
        };
        tracing::info!(peer = %conn.0.peer, id = %conn.0.id, %reason, "connection closed");
        let mut state = self.lock();
        if let Some(PoolEvent::Disconnected { peer }) = state.pool.remove(conn.0.id.0, &conn.0.peer)
        {
            self.emit(NetworkEvent::Disconnected { peer, reason });
        }
    }
}
