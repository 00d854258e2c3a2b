//! A plain distributed dictionary on the DHT: string keys, byte values.

use std::sync::Arc;

use bytes::Bytes;

use crate::{AcceptAll, KadError, Kademlia, Record};

/// The namespace [`DhtMap::new`] uses.
pub const DEFAULT_MAP_NAMESPACE: &str = "map";

/// A key-value map shared by every node of a DHT: `put(key, value)` stores at the k
/// peers closest to the key, `get(key)` fetches from them.
///
/// Keys live under `/<namespace>/` in the DHT. Every node that should hold the map's
/// entries must accept that namespace: creating a `DhtMap` registers it on the local
/// node; servers that never create one need it in their [`crate::Validators`].
///
/// ```no_run
/// # async fn run(kad: mycel_kad::Kademlia) -> Result<(), mycel_kad::KadError> {
/// let map = mycel_kad::DhtMap::new(kad);
/// map.put("colour", "green").await?;
/// assert_eq!(map.get("colour").await?.as_deref(), Some(&b"green"[..]));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DhtMap {
    kad: Kademlia,
    namespace: String,
}

impl DhtMap {
    /// A map in the default namespace.
    pub fn new(kad: Kademlia) -> Self {
        DhtMap::with_namespace(kad, DEFAULT_MAP_NAMESPACE)
    }

    /// A map in its own namespace (no `/` inside).
    pub fn with_namespace(kad: Kademlia, namespace: &str) -> Self {
        let namespace = namespace.replace('/', "_");
        kad.with_state(|s| s.validators.insert(namespace.clone(), Arc::new(AcceptAll)));
        DhtMap { kad, namespace }
    }

    /// The DHT key of a map key.
    pub fn dht_key(&self, key: &str) -> Bytes {
        Bytes::from(format!("/{}/{key}", self.namespace))
    }

    /// Stores `value` under `key` (at the k closest peers and locally).
    pub async fn put(&self, key: &str, value: impl Into<Bytes>) -> Result<(), KadError> {
        self.kad
            .put_record(Record::new(self.dht_key(key), value))
            .await
            .map(|_| ())
    }

    /// The value under `key`, or `None` when no peer holds one.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, KadError> {
        match self.kad.get_record(self.dht_key(key)).await {
            Ok(record) => Ok(Some(record.value)),
            Err(KadError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The node underneath.
    pub fn kademlia(&self) -> &Kademlia {
        &self.kad
    }
}
