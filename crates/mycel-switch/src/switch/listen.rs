//! Listening: a task per listener accepting connections for the inbound path.

use super::*;

impl Switch {
    /// Starts listening on `addr`; returns the address actually bound (port 0 resolved).
    /// A transport whose connections arrive secured and multiplexed is preferred for the
    /// addresses it supports.
    pub async fn listen(&self, addr: &Multiaddr) -> Result<Multiaddr, ListenError> {
        let inner = &self.inner;
        let mut listener = match inner.secured.iter().find(|t| t.supports(addr)) {
            Some(secured) => AnyListener::Secured(secured.listen(addr).await?),
            None => {
                let transport = inner
                    .transports
                    .iter()
                    .find(|t| t.supports(addr))
                    .ok_or_else(|| ListenError::NoTransport(addr.clone()))?;
                AnyListener::Raw(transport.listen(addr).await?)
            }
        };
        let local = listener.local_addr();
        let token = inner.tasks.child_token();
        {
            let mut state = inner.lock();
            if state.pool.is_closed() {
                return Err(ListenError::Closed);
            }
            state.listeners.push((local.clone(), token.clone()));
        }
        tracing::info!(addr = %local, "listening");
        inner.emit(NetworkEvent::ListenAddrAdded(local.clone()));
        let weak = Arc::downgrade(&self.inner);
        let addr = local.clone();
        inner.tasks.spawn_to_completion(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Some(inner) = weak.upgrade() else { break };
                match accepted {
                    Ok(conn) => inner.on_inbound(conn),
                    Err(TransportError::ListenerClosed) => break,
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "accept failed");
                        drop(inner);
                        tokio::select! {
                            _ = token.cancelled() => break,
                            _ = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => {}
                        }
                    }
                }
            }
            drop(listener);
            if let Some(inner) = weak.upgrade() {
                inner.lock().listeners.retain(|(a, _)| a != &addr);
                tracing::info!(%addr, "stopped listening");
                inner.emit(NetworkEvent::ListenAddrExpired(addr));
            }
        });
        Ok(local)
    }

    /// Stops listening on `addr` (as returned by [`Switch::listen`]). Returns whether
    /// such a listener existed.
    pub fn remove_listener(&self, addr: &Multiaddr) -> bool {
        let state = self.inner.lock();
        let found = state.listeners.iter().find(|(a, _)| a == addr);
        if let Some((_, token)) = found {
            token.cancel();
        }
        found.is_some()
    }

    /// The addresses we listen on.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let state = self.inner.lock();
        state.listeners.iter().map(|(a, _)| a.clone()).collect()
    }
}

/// A listener of either kind of transport.
enum AnyListener {
    /// Byte streams, upgraded by the switch.
    Raw(BoxedListener),
    /// Connections that arrive secured and multiplexed.
    Secured(Box<dyn SecuredListener>),
}

impl AnyListener {
    fn local_addr(&self) -> Multiaddr {
        match self {
            AnyListener::Raw(l) => l.local_addr(),
            AnyListener::Secured(l) => l.local_addr(),
        }
    }

    async fn accept(&mut self) -> Result<Inbound, TransportError> {
        match self {
            AnyListener::Raw(l) => l.accept().await.map(Inbound::Raw),
            AnyListener::Secured(l) => l.accept().await.map(Inbound::Secured),
        }
    }
}

/// An inbound connection before its handshake, of either kind.
pub(super) enum Inbound {
    /// A byte stream for the upgrader.
    Raw(mycel_core::Connection<BoxedIo>),
    /// A secured transport's connection finishing its own handshake.
    Secured(PendingSecured),
}
