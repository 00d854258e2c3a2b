//! Identify as a service over the [`Switch`]: asked of every new connection, answered for
//! every peer, pushed to connected peers when our protocols or addresses change.
//!
//! The service knows nothing of the host. What peers tell it goes to the `learned` sink
//! it is built with (the host's is [`crate::peer_store::Upkeep::learned`], which stores
//! the answer and publishes [`NetworkEvent::Identified`]); the addresses peers see us at
//! are its own, and become [`NetworkEvent::ExternalAddrCandidate`]s.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use mycel_core::{
    Keypair, Multiaddr, NetworkEvent, PeerId,
    record::{MAX_ENVELOPE_LEN, MAX_RECORD_ADDRS, PeerRecord, PeerRecordFormat, SignedPeerRecord},
    stream_handler,
};
use mycel_identify::{IdentifyError, Info, PROTOCOL_ID, PUSH_PROTOCOL_ID, TIMEOUT, Update};
use mycel_switch::{PeerConnection, Switch};
use tokio::time::timeout;

use crate::observed::ObservedAddrs;

/// How long a change of our protocols or addresses waits for others before it is pushed.
const PUSH_DELAY: Duration = Duration::from_millis(50);

/// How often observations of peers no longer connected are swept.
const OBSERVER_SWEEP: Duration = Duration::from_secs(60);

/// Where the service puts what a peer told it (by answer or by push).
pub(crate) type Learned = Arc<dyn Fn(PeerId, Update) + Send + Sync>;

/// What we say about ourselves.
#[derive(Debug, Clone)]
pub(crate) struct IdentifyConfig {
    pub(crate) agent_version: String,
    pub(crate) protocol_version: String,
    /// Sign our addresses in this format (identify field 8), or send no record.
    pub(crate) peer_record_format: Option<PeerRecordFormat>,
}

/// The identify service of one switch. Cheap to clone; its handlers and tasks hold it
/// weakly, so it ends with its last handle.
#[derive(Clone)]
pub(crate) struct Identify {
    inner: Arc<Inner>,
}

struct Inner {
    switch: Switch,
    keypair: Keypair,
    config: IdentifyConfig,
    learned: Learned,
    observed: Mutex<ObservedAddrs>,
    /// The record of our addresses we last signed.
    signed_record: Mutex<Option<SignedPeerRecord>>,
    /// A push is due shortly (changes are pushed together).
    push_scheduled: AtomicBool,
}

impl Identify {
    /// Starts identify on `switch`: serves both protocols, asks every new connection and
    /// pushes when our listen addresses change.
    pub(crate) fn start(
        switch: &Switch,
        keypair: Keypair,
        config: IdentifyConfig,
        learned: Learned,
    ) -> Identify {
        let identify = Identify {
            inner: Arc::new(Inner {
                switch: switch.clone(),
                keypair,
                config,
                learned,
                observed: Mutex::default(),
                signed_record: Mutex::default(),
                push_scheduled: AtomicBool::new(false),
            }),
        };
        identify.install();
        identify
    }

    fn weak(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    fn switch(&self) -> &Switch {
        &self.inner.switch
    }

    fn install(&self) {
        let switch = self.switch();
        let answer = self.weak();
        switch.set_stream_handler(
            PROTOCOL_ID,
            stream_handler(move |stream| {
                let identify = upgrade(&answer);
                async move {
                    let Some(identify) = identify else { return };
                    let info = identify.local_info(stream.remote_addr.clone());
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

        let push = self.weak();
        switch.set_stream_handler(
            PUSH_PROTOCOL_ID,
            stream_handler(move |stream| {
                let identify = upgrade(&push);
                async move {
                    let Some(identify) = identify else { return };
                    let peer = stream.peer;
                    match timeout(TIMEOUT, mycel_identify::receive_push(stream.io, peer)).await {
                        // A push's observed address describes the pusher's own view of
                        // the stream it opened: not how it sees us. Ignored.
                        Ok(Ok(update)) => identify.learn(
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

        // Our listen addresses changing is pushed; what a departed peer reported no
        // longer counts towards an external address candidate.
        let mut events = switch.events();
        let follow = self.weak();
        switch.spawn(async move {
            use futures::StreamExt;
            while let Some(event) = events.next().await {
                let Some(identify) = upgrade(&follow) else {
                    return;
                };
                match event {
                    NetworkEvent::ListenAddrAdded(_) | NetworkEvent::ListenAddrExpired(_) => {
                        identify.push();
                    }
                    NetworkEvent::Disconnected { peer, .. } => identify.observed().forget(&peer),
                    _ => {}
                }
            }
        });

        // Also catch up, now and then, on disconnects the event stream may have skipped
        // under load.
        let sweep = self.weak();
        switch.spawn(async move {
            let mut ticker = tokio::time::interval(OBSERVER_SWEEP);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(identify) = upgrade(&sweep) else {
                    return;
                };
                let connected: HashSet<PeerId> =
                    identify.switch().connected_peers().into_iter().collect();
                identify.observed().retain_peers(&connected);
            }
        });

        let hook = self.weak();
        switch.on_connection(Arc::new(move |conn: &PeerConnection| {
            if let Some(identify) = upgrade(&hook) {
                let conn = conn.clone();
                let task = identify.clone();
                identify.switch().spawn(async move {
                    if let Err(e) = task.identify_on(&conn).await {
                        tracing::debug!(peer = %conn.peer(), error = %e, "identify failed");
                    }
                });
            }
        }));
    }

    fn observed(&self) -> std::sync::MutexGuard<'_, ObservedAddrs> {
        self.inner
            .observed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Addresses several peers report seeing us at.
    pub(crate) fn external_addr_candidates(&self) -> Vec<Multiaddr> {
        self.observed().candidates()
    }

    /// What we tell others: our key, versions, addresses (all-interfaces ones left out:
    /// nobody can dial `0.0.0.0`), protocols, and `observed`.
    fn local_info(&self, observed: Option<Multiaddr>) -> Info {
        let listen_addrs: Vec<Multiaddr> = self
            .switch()
            .listen_addrs()
            .into_iter()
            .filter(|a| !is_unspecified(a))
            .collect();
        let config = &self.inner.config;
        Info {
            public_key: self.inner.keypair.public(),
            protocol_version: config.protocol_version.clone(),
            agent_version: config.agent_version.clone(),
            signed_peer_record: self.signed_record(&listen_addrs),
            listen_addrs,
            observed_addr: observed,
            protocols: self
                .switch()
                .protocols()
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
        }
    }

    /// Our signed record of `addrs`: the one made last if the addresses are the same,
    /// else a new one with a higher sequence number (the time in nanoseconds, as go
    /// does, or one more than the last). `None` when we send none, or the record would
    /// not fit an envelope.
    fn signed_record(&self, addrs: &[Multiaddr]) -> Option<SignedPeerRecord> {
        let format = self.inner.config.peer_record_format?;
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
        let keypair = &self.inner.keypair;
        let record = PeerRecord::new(keypair.public().to_peer_id(), seq, addrs.to_vec());
        let signed = SignedPeerRecord::new(keypair, record, format).ok()?;
        if signed.envelope().encode().len() > MAX_ENVELOPE_LEN {
            tracing::debug!("our signed peer record is too large to send");
            return None;
        }
        *held = Some(signed.clone());
        Some(signed)
    }

    /// Asks the peer of `conn` who it is; what it says goes to the sink too.
    pub(crate) async fn identify_on(&self, conn: &PeerConnection) -> Result<Info, IdentifyError> {
        let peer = conn.peer();
        let exchange = async {
            let stream = self.switch().open_stream_on(conn, &[PROTOCOL_ID]).await?;
            mycel_identify::request(stream.io, peer).await
        };
        let info = timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| IdentifyError::Timeout(TIMEOUT))??;
        self.learn(
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

    /// Hands what `peer` said to the sink; counts the address it sees us at.
    fn learn(&self, peer: PeerId, update: Update) {
        if let Some(observed) = update.observed_addr.clone() {
            let candidate = self.observed().observe(peer, observed);
            if let Some(addr) = candidate {
                tracing::info!(%addr, "peers agree on an external address candidate");
                self.switch()
                    .publish(NetworkEvent::ExternalAddrCandidate(addr));
            }
        }
        (self.inner.learned)(peer, update);
    }

    /// Tells every connected peer our current protocols and addresses, shortly: changes
    /// within [`PUSH_DELAY`] (a service adding or removing several handlers) go out as
    /// one push, and none goes out once the switch is closing.
    pub(crate) fn push(&self) {
        if self.switch().is_closed() || self.inner.push_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = self.weak();
        self.switch().spawn(async move {
            tokio::time::sleep(PUSH_DELAY).await;
            let Some(identify) = upgrade(&weak) else {
                return;
            };
            identify
                .inner
                .push_scheduled
                .store(false, Ordering::Release);
            identify.push_now();
        });
    }

    /// Pushes to every connected peer now.
    fn push_now(&self) {
        let switch = self.switch();
        if switch.is_closed() {
            return;
        }
        for conn in switch.connections() {
            let weak = self.weak();
            switch.spawn(async move {
                let Some(identify) = upgrade(&weak) else {
                    return;
                };
                let info = identify.local_info(None);
                let push = async {
                    let stream = identify
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

fn upgrade(weak: &Weak<Inner>) -> Option<Identify> {
    weak.upgrade().map(|inner| Identify { inner })
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        mycel_core::Protocol::Ip4(ip) => ip.is_unspecified(),
        mycel_core::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
