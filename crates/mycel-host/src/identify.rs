//! Identify, run by the host: asked of every new connection, answered for every peer,
//! pushed to connected peers when our protocols or addresses change.

use std::sync::{Arc, Weak};

use std::{collections::HashSet, time::Duration};

use mycel_core::{
    Direction, Multiaddr, NetworkEvent, PeerId,
    record::{MAX_ENVELOPE_LEN, MAX_RECORD_ADDRS, PeerRecord, SignedPeerRecord},
    stream_handler,
};
use mycel_identify::{IdentifyError, Info, PROTOCOL_ID, PUSH_PROTOCOL_ID, TIMEOUT, Update};
use mycel_switch::PeerConnection;
use tokio::time::Instant;
use tokio::time::timeout;

use crate::{
    host::{Host, Inner},
    peer_store::{AddrSource, Identity},
};

/// How long a change of our protocols or addresses waits for others before it is pushed.
const PUSH_DELAY: Duration = Duration::from_millis(50);

/// How often expired addresses are swept from the peer store.
const PEER_STORE_SWEEP: Duration = Duration::from_secs(60);

/// Registers the handlers and the new-connection hook. Everything holds the host
/// weakly, so dropping the last `Host` still ends it.
pub(crate) fn install(host: &Host) {
    let weak = Arc::downgrade(&host.inner);
    let switch = host.switch();

    let answer = weak.clone();
    switch.set_stream_handler(
        PROTOCOL_ID,
        stream_handler(move |stream| {
            let host = upgrade(&answer);
            async move {
                let Some(host) = host else { return };
                let info = host.local_info(stream.remote_addr.clone());
                match timeout(TIMEOUT, mycel_identify::respond(stream.io, &info)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %stream.peer, error = %e, "identify answer failed")
                    }
                    Err(_) => tracing::debug!(peer = %stream.peer, "identify answer timed out"),
                }
            }
        }),
    );

    let push = weak.clone();
    switch.set_stream_handler(
        PUSH_PROTOCOL_ID,
        stream_handler(move |stream| {
            let host = upgrade(&push);
            async move {
                let Some(host) = host else { return };
                let peer = stream.peer;
                match timeout(TIMEOUT, mycel_identify::receive_push(stream.io, peer)).await {
                    // A push's observed address describes the pusher's own view of
                    // the stream it opened: not how it sees us. Ignored.
                    Ok(Ok(update)) => host.record_identify(
                        peer,
                        Update {
                            observed_addr: None,
                            ..update
                        },
                    ),
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "identify push dropped"),
                    Err(_) => tracing::debug!(%peer, "identify push timed out"),
                }
            }
        }),
    );

    // Connections update the peer store's address lifetimes; what a departed peer
    // reported no longer counts towards an external address candidate; our listen
    // addresses changing is pushed to connected peers.
    let mut events = switch.events();
    let follow = weak.clone();
    switch.spawn(async move {
        use futures::StreamExt;
        while let Some(event) = events.next().await {
            let Some(host) = upgrade(&follow) else { return };
            match event {
                NetworkEvent::Connected {
                    peer,
                    remote_addr,
                    direction: Direction::Outbound,
                } => host.with_peer_store(|s| s.connected(peer, remote_addr, Instant::now())),
                NetworkEvent::ListenAddrAdded(_) | NetworkEvent::ListenAddrExpired(_) => {
                    host.push_identify();
                }
                NetworkEvent::Disconnected { peer, .. } => {
                    host.with_peer_store(|s| s.disconnected(&peer, Instant::now()));
                    host.inner
                        .observed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .forget(&peer);
                }
                _ => {}
            }
        }
    });
    // Expired addresses leave the store now and then.
    let sweep = weak.clone();
    switch.spawn(async move {
        let mut ticker = tokio::time::interval(PEER_STORE_SWEEP);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(host) = upgrade(&sweep) else { return };
            // Also catch up on disconnects the event stream may have skipped under load.
            let connected: HashSet<PeerId> = host.switch().connected_peers().into_iter().collect();
            let now = Instant::now();
            host.with_peer_store(|s| {
                s.disconnected_unless(&connected, now);
                s.remove_expired(now);
            });
            host.inner
                .observed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain_peers(&connected);
        }
    });

    let hook_host = weak;
    switch.on_connection(Arc::new(move |conn: &PeerConnection| {
        if let Some(host) = upgrade(&hook_host) {
            let conn = conn.clone();
            let task_host = host.clone();
            host.switch().spawn(async move {
                if let Err(e) = task_host.identify_on(&conn).await {
                    tracing::debug!(peer = %conn.peer(), error = %e, "identify failed");
                }
            });
        }
    }));
}

/// A handle for a moment, from a weak one (without the user's stop guard, so it cannot
/// keep the host running).
pub(crate) fn upgrade(weak: &Weak<Inner>) -> Option<Host> {
    weak.upgrade().map(|inner| Host { inner, _stop: None })
}

impl Host {
    /// What we tell others: our key, versions, addresses (all-interfaces ones left out:
    /// nobody can dial `0.0.0.0`), protocols, and `observed`.
    pub(crate) fn local_info(&self, observed: Option<Multiaddr>) -> Info {
        let listen_addrs: Vec<Multiaddr> = self
            .listen_addrs()
            .into_iter()
            .filter(|a| !is_unspecified(a))
            .collect();
        Info {
            public_key: self.keypair().public(),
            protocol_version: self.inner.protocol_version.clone(),
            agent_version: self.inner.agent_version.clone(),
            signed_peer_record: self.signed_record(&listen_addrs),
            listen_addrs,
            observed_addr: observed,
            protocols: self
                .protocols()
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
        }
    }

    /// Our signed record of `addrs`: the one made last if the addresses are the same,
    /// else a new one with a higher sequence number (the time in nanoseconds, as go
    /// does, or one more than the last). `None` when the host sends none, or the record
    /// would not fit an envelope.
    fn signed_record(&self, addrs: &[Multiaddr]) -> Option<SignedPeerRecord> {
        let format = self.inner.peer_record_format?;
        let addrs = &addrs[..addrs.len().min(MAX_RECORD_ADDRS)];
        let mut held = self
            .inner
            .signed_record
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(record) = held.as_ref().filter(|r| r.record().addrs == addrs) {
            return Some(record.clone());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let seq = held
            .as_ref()
            .map_or(now, |r| now.max(r.record().seq.saturating_add(1)));
        let record = PeerRecord::new(self.peer_id(), seq, addrs.to_vec());
        let signed = SignedPeerRecord::new(self.keypair(), record, format).ok()?;
        if signed.envelope().encode().len() > MAX_ENVELOPE_LEN {
            tracing::debug!("our signed peer record is too large to send");
            return None;
        }
        *held = Some(signed.clone());
        Some(signed)
    }

    /// Asks the peer of `conn` who it is, records the answer and publishes it.
    pub(crate) async fn identify_on(&self, conn: &PeerConnection) -> Result<Info, IdentifyError> {
        let peer = conn.peer();
        let exchange = async {
            let stream = self.switch().open_stream_on(conn, &[PROTOCOL_ID]).await?;
            mycel_identify::request(stream.io, peer).await
        };
        let info = timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| IdentifyError::Timeout(TIMEOUT))??;
        self.record_identify(
            peer,
            Update {
                public_key: Some(info.public_key.clone()),
                protocol_version: Some(info.protocol_version.clone()),
                agent_version: Some(info.agent_version.clone()),
                listen_addrs: Some(info.listen_addrs.clone()),
                observed_addr: info.observed_addr.clone(),
                protocols: Some(info.protocols.clone()),
                signed_peer_record: info.signed_peer_record.clone(),
            },
        );
        Ok(info)
    }

    /// Stores what `peer` said and publishes an `Identified` event with everything known.
    fn record_identify(&self, peer: PeerId, update: Update) {
        let record = self.with_peer_store(|store| {
            let now = Instant::now();
            // A signed record's addresses stand for the peer's announced ones: the
            // unsigned copy is not stored beside them (as go and rust do).
            let signed = match update.signed_peer_record.clone() {
                Some(signed) => {
                    store.add_signed_record(peer, signed, now);
                    true
                }
                None => false,
            };
            if let Some(addrs) = update.listen_addrs.clone().filter(|_| !signed) {
                store.add_addrs_from(peer, addrs, AddrSource::Identify, now);
            }
            store.set_identity(
                peer,
                Identity {
                    public_key: update.public_key,
                    agent_version: update.agent_version,
                    protocol_version: update.protocol_version,
                    protocols: update.protocols,
                },
            );
            store.record(&peer).unwrap_or_default()
        });
        tracing::debug!(%peer, agent = ?record.agent_version, "identified");
        if let Some(observed) = update.observed_addr.clone() {
            let candidate = self
                .inner
                .observed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .observe(peer, observed);
            if let Some(addr) = candidate {
                tracing::info!(%addr, "peers agree on an external address candidate");
                self.switch()
                    .publish(NetworkEvent::ExternalAddrCandidate(addr));
            }
        }
        self.switch().publish(NetworkEvent::Identified {
            peer,
            agent_version: record.agent_version.unwrap_or_default(),
            protocol_version: record.protocol_version.unwrap_or_default(),
            protocols: record.protocols,
            listen_addrs: match &update.signed_peer_record {
                Some(signed) => signed.record().addrs.clone(),
                None => update.listen_addrs.unwrap_or(record.addrs),
            },
            observed_addr: update.observed_addr,
        });
    }

    /// Tells every connected peer our current protocols and addresses, shortly: changes
    /// within [`PUSH_DELAY`] (a service adding or removing several handlers) go out as
    /// one push, and none goes out once the host is closing.
    pub(crate) fn push_identify(&self) {
        if self.switch().is_closed()
            || self
                .inner
                .push_scheduled
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        self.switch().spawn(async move {
            tokio::time::sleep(PUSH_DELAY).await;
            let Some(host) = upgrade(&weak) else { return };
            host.inner
                .push_scheduled
                .store(false, std::sync::atomic::Ordering::Release);
            host.push_identify_now();
        });
    }

    /// Pushes to every connected peer now.
    fn push_identify_now(&self) {
        let switch = self.switch();
        if switch.is_closed() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        for conn in switch.connections() {
            let weak = weak.clone();
            switch.spawn(async move {
                let Some(host) = upgrade(&weak) else { return };
                let info = host.local_info(None);
                let push = async {
                    let stream = host
                        .switch()
                        .open_stream_on(&conn, &[PUSH_PROTOCOL_ID])
                        .await?;
                    mycel_identify::respond(stream.io, &info).await
                };
                match timeout(TIMEOUT, push).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %conn.peer(), error = %e, "identify push failed")
                    }
                    Err(_) => tracing::debug!(peer = %conn.peer(), "identify push timed out"),
                }
            });
        }
    }
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        mycel_core::Protocol::Ip4(ip) => ip.is_unspecified(),
        mycel_core::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
