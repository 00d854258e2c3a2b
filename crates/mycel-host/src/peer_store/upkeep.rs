//! Keeping a host's [`PeerStore`] current: it follows the switch's connection events,
//! takes in what identify learns (and publishes it as [`NetworkEvent::Identified`]) and
//! sweeps expired addresses now and then.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

use mycel_core::{Direction, NetworkEvent, PeerId};
use mycel_identify::Update;
use mycel_switch::Switch;
use tokio::time::Instant;

use super::PeerStore;
use crate::identify::Learned;

/// How often expired addresses are swept from the store.
const SWEEP: Duration = Duration::from_secs(60);

/// The store of one host and the switch it follows. Its tasks hold the store weakly.
#[derive(Clone)]
pub(crate) struct Upkeep {
    store: Arc<Mutex<PeerStore>>,
    switch: Switch,
}

impl Upkeep {
    /// Starts following `switch` for `store`.
    pub(crate) fn start(store: PeerStore, switch: &Switch) -> Upkeep {
        let upkeep = Upkeep {
            store: Arc::new(Mutex::new(store)),
            switch: switch.clone(),
        };
        // Connections set the lifetimes of their addresses.
        let mut events = switch.events();
        let follow = Arc::downgrade(&upkeep.store);
        switch.spawn(async move {
            use futures::StreamExt;
            while let Some(event) = events.next().await {
                let Some(store) = follow.upgrade() else {
                    return;
                };
                let mut store = lock(&store);
                match event {
                    NetworkEvent::Connected {
                        peer,
                        remote_addr,
                        direction: Direction::Outbound,
                    } => store.connected(peer, remote_addr, Instant::now()),
                    NetworkEvent::Disconnected { peer, .. } => {
                        store.disconnected(&peer, Instant::now());
                    }
                    _ => {}
                }
            }
        });
        // Expired addresses leave the store now and then; disconnects the event stream
        // may have skipped under load are caught up with.
        let sweep: Weak<Mutex<PeerStore>> = Arc::downgrade(&upkeep.store);
        let sweep_switch = switch.clone();
        switch.spawn(async move {
            let mut ticker = tokio::time::interval(SWEEP);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(store) = sweep.upgrade() else { return };
                let connected: HashSet<PeerId> =
                    sweep_switch.connected_peers().into_iter().collect();
                let now = Instant::now();
                let mut store = lock(&store);
                store.disconnected_unless(&connected, now);
                store.remove_expired(now);
            }
        });
        upkeep
    }

    /// The store, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PeerStore> {
        lock(&self.store)
    }

    /// Identify's sink: stores what a peer said, then publishes an `Identified` event
    /// with everything known of it (so the store has it before anyone hears of it).
    pub(crate) fn learned(&self) -> Learned {
        let store = Arc::downgrade(&self.store);
        let switch = self.switch.clone();
        Arc::new(move |peer: PeerId, update: Update| {
            let Some(store) = store.upgrade() else { return };
            let observed_addr = update.observed_addr.clone();
            let announced = match &update.signed_peer_record {
                Some(signed) => Some(signed.record().addrs.clone()),
                None => update.listen_addrs.clone(),
            };
            let record = lock(&store).apply_identify(peer, update, Instant::now());
            tracing::debug!(%peer, agent = ?record.agent_version, "identified");
            switch.publish(NetworkEvent::Identified {
                peer,
                agent_version: record.agent_version.unwrap_or_default(),
                protocol_version: record.protocol_version.unwrap_or_default(),
                protocols: record.protocols,
                listen_addrs: announced.unwrap_or(record.addrs),
                observed_addr,
            });
        })
    }
}

fn lock(store: &Mutex<PeerStore>) -> MutexGuard<'_, PeerStore> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}
