//! Streams: opening one on a connection, the handler table, and serving an inbound
//! stream.

use super::*;

impl Switch {
    /// Opens a stream on an existing connection to `peer` and negotiates one of
    /// `protocols` (lazily when there is only one: the proposal then rides with the first
    /// write, and a refusal surfaces as an error on the first read).
    pub async fn open_stream(
        &self,
        peer: PeerId,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError> {
        let conn = self
            .connection(&peer)
            .ok_or(NetworkError::NotConnected(peer))?;
        self.open_stream_on(&conn, protocols).await
    }

    /// Opens a stream on `conn` and negotiates one of `protocols`.
    pub async fn open_stream_on(
        &self,
        conn: &PeerConnection,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError> {
        let limit = self.inner.config.negotiation_timeout;
        let peer = conn.0.peer;
        let token = conn
            .0
            .activity
            .try_add(
                Kind::Outbound,
                self.inner.config.max_outbound_streams_per_connection,
            )
            .ok_or(NetworkError::LimitReached(Limit::OutboundStreams))?;
        let (protocol, io): (_, BoxedIo) = match protocols {
            [] => {
                return Err(NetworkError::ProtocolNotSupported {
                    peer,
                    protocols: Vec::new(),
                });
            }
            [protocol] => {
                let stream = timeout(limit, conn.0.muxer.open_stream())
                    .await
                    .map_err(|_| NetworkError::Timeout(limit))?
                    .map_err(|e| conn.refused_stream(e))?;
                (
                    protocol.clone(),
                    Box::new(dialer_select_lazy(stream, protocol.clone())),
                )
            }
            _ => {
                let negotiate = async {
                    let stream = conn
                        .0
                        .muxer
                        .open_stream()
                        .await
                        .map_err(|e| conn.refused_stream(e))?;
                    dialer_select(stream, protocols).await.map_err(|e| match e {
                        NegotiationError::ProtocolNotSupported => {
                            NetworkError::ProtocolNotSupported {
                                peer,
                                protocols: protocols.to_vec(),
                            }
                        }
                        e => NetworkError::Other(Box::new(e)),
                    })
                };
                let (protocol, io) = timeout(limit, negotiate)
                    .await
                    .map_err(|_| NetworkError::Timeout(limit))??;
                (protocol, Box::new(io))
            }
        };
        tracing::trace!(%peer, %protocol, "outbound stream");
        Ok(NegotiatedStream {
            peer,
            protocol,
            remote_addr: Some(conn.0.remote_addr.clone()),
            io: Box::new(CountedStream::new(io, token)),
        })
    }

    /// Routes inbound streams of `protocol` to `handler`, replacing any previous one.
    pub fn set_stream_handler(&self, protocol: ProtocolId, handler: StreamHandler) {
        let mut handlers = write(&self.inner.handlers);
        let mut next = Handlers {
            protocols: handlers.protocols.clone(),
            map: handlers.map.clone(),
        };
        if next.map.insert(protocol.clone(), handler).is_none() {
            next.protocols.push(protocol);
        }
        *handlers = Arc::new(next);
    }

    /// Stops routing inbound streams of `protocol`; proposals of it get `na`.
    pub fn remove_stream_handler(&self, protocol: &ProtocolId) {
        let mut handlers = write(&self.inner.handlers);
        let mut next = Handlers {
            protocols: handlers.protocols.clone(),
            map: handlers.map.clone(),
        };
        next.map.remove(protocol);
        next.protocols.retain(|p| p != protocol);
        *handlers = Arc::new(next);
    }

    /// The protocols we have handlers for, in registration order.
    pub fn protocols(&self) -> Vec<ProtocolId> {
        read(&self.inner.handlers).protocols.clone()
    }
}

impl Inner {
    pub(super) async fn serve_stream(
        &self,
        peer: PeerId,
        remote_addr: Multiaddr,
        stream: BoxedIo,
        negotiating: Arc<AtomicUsize>,
    ) {
        let handlers = read(&self.handlers).clone();
        let limit = self.config.negotiation_timeout;
        let negotiated = timeout(limit, listener_select(stream, &handlers.protocols)).await;
        negotiating.fetch_sub(1, Ordering::Relaxed);
        let (protocol, io) = match negotiated {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "inbound stream negotiation failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "inbound stream negotiation timed out");
                return;
            }
        };
        let Some(handler) = handlers.map.get(&protocol) else {
            return;
        };
        tracing::trace!(%peer, %protocol, "inbound stream");
        handler(NegotiatedStream {
            peer,
            protocol,
            remote_addr: Some(remote_addr),
            io: Box::new(io),
        })
        .await;
    }
}

pub(super) fn read(lock: &RwLock<Arc<Handlers>>) -> Arc<Handlers> {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub(super) fn write(
    lock: &RwLock<Arc<Handlers>>,
) -> std::sync::RwLockWriteGuard<'_, Arc<Handlers>> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
