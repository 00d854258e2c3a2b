//! A bounded in-memory store of value records and provider records.
//!
//! A plain data structure: no tasks, no clock. Every call that depends on time takes the
//! current [`Instant`], so tests and simulations drive it without sleeping.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use mycel_core::PeerId;
use thiserror::Error;

use crate::record::{ProviderRecord, Record};

/// Default most value records a store holds.
pub const DEFAULT_MAX_RECORDS: usize = 1024;

/// Default largest value a record may carry, in bytes.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;

/// Default largest key a record or provider record may have, in bytes.
pub const DEFAULT_MAX_KEY_BYTES: usize = 1024;

/// Default most keys a store holds provider records for.
pub const DEFAULT_MAX_PROVIDER_KEYS: usize = 1024;

/// Default most providers kept for one key (the replication parameter, `K_VALUE`).
pub const DEFAULT_MAX_PROVIDERS_PER_KEY: usize = crate::K_VALUE;

/// Default lifetime of a record received from a peer: 48 hours, as the spec advises.
pub const DEFAULT_RECORD_TTL: Duration = Duration::from_secs(48 * 60 * 60);

/// Default lifetime of a provider record: 48 hours, as the spec advises.
pub const DEFAULT_PROVIDER_TTL: Duration = Duration::from_secs(48 * 60 * 60);

/// The limits of a [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most value records held.
    pub max_records: usize,
    /// Largest value accepted, in bytes.
    pub max_value_bytes: usize,
    /// Largest key accepted (records and provider records), in bytes.
    pub max_key_bytes: usize,
    /// Most keys with provider records.
    pub max_provider_keys: usize,
    /// Most providers kept per key.
    pub max_providers_per_key: usize,
    /// Expiry given to records received from peers. The store itself keeps a record's
    /// `expires` as given; the caller sets it from this on receipt.
    pub record_ttl: Duration,
    /// Expiry given to provider records received from peers (set by the caller).
    pub provider_ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_records: DEFAULT_MAX_RECORDS,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_provider_keys: DEFAULT_MAX_PROVIDER_KEYS,
            max_providers_per_key: DEFAULT_MAX_PROVIDERS_PER_KEY,
            record_ttl: DEFAULT_RECORD_TTL,
            provider_ttl: DEFAULT_PROVIDER_TTL,
        }
    }
}

/// Why the store refused a record.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key is longer than [`StoreConfig::max_key_bytes`].
    #[error("key is {len} bytes, more than the {max} allowed")]
    KeyTooLarge {
        /// Length of the key.
        len: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// The value is longer than [`StoreConfig::max_value_bytes`].
    #[error("value is {len} bytes, more than the {max} allowed")]
    ValueTooLarge {
        /// Length of the value.
        len: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// The store holds [`StoreConfig::max_records`] unexpired records and the key is new.
    #[error("record store is full")]
    Full,
    /// The store holds providers for [`StoreConfig::max_provider_keys`] keys and the key
    /// is new.
    #[error("provider store is full")]
    ProviderKeysFull,
}

/// A bounded in-memory store of value records and provider records.
#[derive(Debug)]
pub struct MemoryStore {
    config: StoreConfig,
    records: HashMap<Bytes, Record>,
    providers: HashMap<Bytes, Vec<ProviderRecord>>,
}

impl MemoryStore {
    /// An empty store with these limits.
    pub fn new(config: StoreConfig) -> Self {
        MemoryStore {
            config,
            records: HashMap::new(),
            providers: HashMap::new(),
        }
    }

    /// The store's limits.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The record under `key`, unless there is none or it has expired at `now`.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<&Record> {
        self.records.get(key).filter(|r| !r.is_expired(now))
    }

    /// Stores a record, replacing any with the same key. Its `expires` is kept as given
    /// (`None` never expires: the local node's own records).
    ///
    /// When the store is full and the key is new, expired records are dropped first; if
    /// none were, the record is refused with [`StoreError::Full`].
    pub fn put(&mut self, record: Record, now: Instant) -> Result<(), StoreError> {
        self.check_key(&record.key)?;
        if record.value.len() > self.config.max_value_bytes {
            return Err(StoreError::ValueTooLarge {
                len: record.value.len(),
                max: self.config.max_value_bytes,
            });
        }
        if !self.records.contains_key(&record.key) && self.records.len() >= self.config.max_records
        {
            self.records.retain(|_, r| !r.is_expired(now));
            if self.records.len() >= self.config.max_records {
                return Err(StoreError::Full);
            }
        }
        self.records.insert(record.key.clone(), record);
        Ok(())
    }

    /// Removes and returns the record under `key`, expired or not.
    pub fn remove(&mut self, key: &[u8]) -> Option<Record> {
        self.records.remove(key)
    }

    /// Every record held, including expired ones not yet dropped, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// How many records are held, including expired ones not yet dropped.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Stores a provider record. One from the same provider for the same key replaces the
    /// old one (refreshing its expiry and addresses).
    ///
    /// When the key already has [`StoreConfig::max_providers_per_key`] providers, expired
    /// ones are dropped first; if it is still full, the provider expiring soonest is
    /// replaced, but only if the new record expires later; otherwise the new record is
    /// ignored (and `Ok` returned). A new key beyond [`StoreConfig::max_provider_keys`]
    /// is refused with [`StoreError::ProviderKeysFull`] unless dropping expired providers
    /// frees a key.
    pub fn add_provider(&mut self, record: ProviderRecord, now: Instant) -> Result<(), StoreError> {
        self.check_key(&record.key)?;
        let max_per_key = self.config.max_providers_per_key;
        if max_per_key == 0 {
            return Ok(());
        }
        if !self.providers.contains_key(&record.key)
            && self.providers.len() >= self.config.max_provider_keys
        {
            self.remove_expired_providers(now);
            if self.providers.len() >= self.config.max_provider_keys {
                return Err(StoreError::ProviderKeysFull);
            }
        }
        let list = self.providers.entry(record.key.clone()).or_default();
        if let Some(old) = list.iter_mut().find(|p| p.provider == record.provider) {
            *old = record;
            return Ok(());
        }
        if list.len() >= max_per_key {
            list.retain(|p| !p.is_expired(now));
        }
        if list.len() < max_per_key {
            list.push(record);
            return Ok(());
        }
        let soonest = list
            .iter_mut()
            .min_by_key(|p| p.expires)
            .filter(|p| p.expires < record.expires);
        if let Some(soonest) = soonest {
            *soonest = record;
        }
        Ok(())
    }

    /// The unexpired providers of `key`.
    pub fn providers(&self, key: &[u8], now: Instant) -> Vec<ProviderRecord> {
        self.providers
            .get(key)
            .map(|list| {
                list.iter()
                    .filter(|p| !p.is_expired(now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets that `provider` provides `key`.
    pub fn remove_provider(&mut self, key: &[u8], provider: &PeerId) {
        if let Some(list) = self.providers.get_mut(key) {
            list.retain(|p| p.provider != *provider);
            if list.is_empty() {
                self.providers.remove(key);
            }
        }
    }

    /// Every key with provider records held, in no particular order.
    pub fn provider_keys(&self) -> impl Iterator<Item = &Bytes> {
        self.providers.keys()
    }

    /// Drops records and provider records expired at `now` (and keys left with no
    /// providers). Returns how many records and provider records were dropped.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        let before = self.records.len();
        self.records.retain(|_, r| !r.is_expired(now));
        before - self.records.len() + self.remove_expired_providers(now)
    }

    /// Drops expired provider records and empty keys; returns how many records went.
    fn remove_expired_providers(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        self.providers.retain(|_, list| {
            let before = list.len();
            list.retain(|p| !p.is_expired(now));
            dropped += before - list.len();
            !list.is_empty()
        });
        dropped
    }

    fn check_key(&self, key: &[u8]) -> Result<(), StoreError> {
        if key.len() > self.config.max_key_bytes {
            return Err(StoreError::KeyTooLarge {
                len: key.len(),
                max: self.config.max_key_bytes,
            });
        }
        Ok(())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(StoreConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn record(key: &'static [u8], value: &'static [u8], expires: Option<Instant>) -> Record {
        Record {
            expires,
            ..Record::new(key, value)
        }
    }

    fn provider(key: &'static [u8], provider: PeerId, expires: Instant) -> ProviderRecord {
        ProviderRecord {
            key: Bytes::from_static(key),
            provider,
            addrs: Vec::new(),
            expires,
        }
    }

    fn small_config() -> StoreConfig {
        StoreConfig {
            max_records: 2,
            max_value_bytes: 8,
            max_key_bytes: 8,
            max_provider_keys: 2,
            max_providers_per_key: 2,
            ..StoreConfig::default()
        }
    }

    #[test]
    fn put_then_get_returns_record_and_put_replaces_same_key() {
        let now = Instant::now();
        let mut store = MemoryStore::default();
        store.put(record(b"k", b"v1", None), now).unwrap();
        assert_eq!(store.get(b"k", now).unwrap().value, &b"v1"[..]);
        store.put(record(b"k", b"v2", None), now).unwrap();
        assert_eq!(store.get(b"k", now).unwrap().value, &b"v2"[..]);
        assert_eq!(store.len(), 1);
        assert!(store.get(b"other", now).is_none());
        assert_eq!(store.remove(b"k").unwrap().value, &b"v2"[..]);
        assert!(store.is_empty());
    }

    #[test]
    fn expired_record_is_hidden_then_dropped_by_remove_expired() {
        let now = Instant::now();
        let mut store = MemoryStore::default();
        store
            .put(record(b"old", b"v", Some(now + SECOND)), now)
            .unwrap();
        store.put(record(b"mine", b"v", None), now).unwrap();
        let later = now + 2 * SECOND;
        assert!(store.get(b"old", later).is_none());
        assert!(store.get(b"mine", later).is_some());
        assert_eq!(store.len(), 2);
        assert_eq!(store.remove_expired(later), 1);
        assert_eq!(store.len(), 1);
        assert_eq!(store.records().next().unwrap().key, &b"mine"[..]);
    }

    #[test]
    fn oversized_key_or_value_is_refused() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        let err = store
            .put(record(b"123456789", b"v", None), now)
            .unwrap_err();
        assert!(matches!(err, StoreError::KeyTooLarge { len: 9, max: 8 }));
        let err = store
            .put(record(b"k", b"123456789", None), now)
            .unwrap_err();
        assert!(matches!(err, StoreError::ValueTooLarge { len: 9, max: 8 }));
        let err = store
            .add_provider(provider(b"123456789", PeerId::random(), now), now)
            .unwrap_err();
        assert!(matches!(err, StoreError::KeyTooLarge { len: 9, max: 8 }));
        assert!(store.is_empty());
    }

    #[test]
    fn full_store_refuses_new_key_but_replaces_existing_one() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        store.put(record(b"a", b"1", None), now).unwrap();
        store.put(record(b"b", b"1", None), now).unwrap();
        assert!(matches!(
            store.put(record(b"c", b"1", None), now),
            Err(StoreError::Full)
        ));
        store.put(record(b"a", b"2", None), now).unwrap();
        assert_eq!(store.get(b"a", now).unwrap().value, &b"2"[..]);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn expired_record_frees_room_in_full_store() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        store
            .put(record(b"a", b"1", Some(now + SECOND)), now)
            .unwrap();
        store.put(record(b"b", b"1", None), now).unwrap();
        store
            .put(record(b"c", b"1", None), now + 2 * SECOND)
            .unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.get(b"a", now).is_none());
        assert!(store.get(b"c", now).is_some());
    }

    #[test]
    fn same_provider_replaces_its_record() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        let peer = PeerId::random();
        store
            .add_provider(provider(b"k", peer, now + SECOND), now)
            .unwrap();
        let mut refreshed = provider(b"k", peer, now + 10 * SECOND);
        refreshed.addrs.push("/ip4/1.2.3.4/tcp/1".parse().unwrap());
        store.add_provider(refreshed.clone(), now).unwrap();
        assert_eq!(store.providers(b"k", now + 5 * SECOND), vec![refreshed]);
    }

    #[test]
    fn full_provider_key_keeps_latest_expiring() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        let (a, b, c, d) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        store
            .add_provider(provider(b"k", a, now + 10 * SECOND), now)
            .unwrap();
        store
            .add_provider(provider(b"k", b, now + 20 * SECOND), now)
            .unwrap();
        // Expires sooner than every held provider: ignored.
        store
            .add_provider(provider(b"k", c, now + 5 * SECOND), now)
            .unwrap();
        let held = |store: &MemoryStore| {
            let mut peers: Vec<_> = store
                .providers(b"k", now)
                .into_iter()
                .map(|p| p.provider)
                .collect();
            peers.sort();
            peers
        };
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(held(&store), expected);
        // Expires later than `a`: replaces it.
        store
            .add_provider(provider(b"k", d, now + 30 * SECOND), now)
            .unwrap();
        let mut expected = vec![b, d];
        expected.sort();
        assert_eq!(held(&store), expected);
        // Once `b` expires, a new provider takes its slot even if it expires sooner.
        let later = now + 25 * SECOND;
        store
            .add_provider(provider(b"k", c, now + 26 * SECOND), later)
            .unwrap();
        let peers: Vec<_> = store
            .providers(b"k", later)
            .into_iter()
            .map(|p| p.provider)
            .collect();
        assert_eq!(peers.len(), 2);
        assert!(peers.contains(&c) && peers.contains(&d));
    }

    #[test]
    fn provider_key_cap_refuses_new_key_until_one_expires() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        let peer = PeerId::random();
        store
            .add_provider(provider(b"a", peer, now + SECOND), now)
            .unwrap();
        store
            .add_provider(provider(b"b", peer, now + 10 * SECOND), now)
            .unwrap();
        assert!(matches!(
            store.add_provider(provider(b"c", peer, now + 10 * SECOND), now),
            Err(StoreError::ProviderKeysFull)
        ));
        // An existing key still takes more providers.
        store
            .add_provider(provider(b"b", PeerId::random(), now + 10 * SECOND), now)
            .unwrap();
        let later = now + 2 * SECOND;
        store
            .add_provider(provider(b"c", peer, now + 10 * SECOND), later)
            .unwrap();
        let mut keys: Vec<_> = store.provider_keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, vec![&b"b"[..], &b"c"[..]]);
    }

    #[test]
    fn remove_provider_forgets_it_and_drops_empty_key() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        let (a, b) = (PeerId::random(), PeerId::random());
        store
            .add_provider(provider(b"k", a, now + SECOND), now)
            .unwrap();
        store
            .add_provider(provider(b"k", b, now + SECOND), now)
            .unwrap();
        store.remove_provider(b"k", &a);
        let left: Vec<_> = store
            .providers(b"k", now)
            .into_iter()
            .map(|p| p.provider)
            .collect();
        assert_eq!(left, vec![b]);
        store.remove_provider(b"k", &b);
        assert_eq!(store.provider_keys().count(), 0);
        assert!(store.providers(b"k", now).is_empty());
    }

    #[test]
    fn remove_expired_drops_expired_providers_and_empty_keys() {
        let now = Instant::now();
        let mut store = MemoryStore::new(small_config());
        let (a, b) = (PeerId::random(), PeerId::random());
        store
            .add_provider(provider(b"x", a, now + SECOND), now)
            .unwrap();
        store
            .add_provider(provider(b"y", a, now + SECOND), now)
            .unwrap();
        store
            .add_provider(provider(b"y", b, now + 10 * SECOND), now)
            .unwrap();
        store
            .put(record(b"r", b"v", Some(now + SECOND)), now)
            .unwrap();
        let later = now + 2 * SECOND;
        assert!(store.providers(b"x", later).is_empty());
        assert_eq!(store.remove_expired(later), 3);
        let keys: Vec<_> = store.provider_keys().cloned().collect();
        assert_eq!(keys, vec![&b"y"[..]]);
        assert!(store.is_empty());
    }

    proptest! {
        #[test]
        fn puts_never_exceed_max_records(
            ops in proptest::collection::vec(
                (0u8..16, 0usize..12, proptest::option::of(0u64..20), 0u64..5),
                0..200,
            )
        ) {
            let start = Instant::now();
            let mut store = MemoryStore::new(StoreConfig {
                max_records: 4,
                ..small_config()
            });
            let mut elapsed = 0;
            for (key, value_len, ttl, step) in ops {
                elapsed += step;
                let now = start + Duration::from_secs(elapsed);
                let record = Record {
                    expires: ttl.map(|t| now + Duration::from_secs(t)),
                    ..Record::new(vec![key], vec![0u8; value_len])
                };
                let _ = store.put(record, now);
                prop_assert!(store.len() <= 4);
            }
        }
    }
}
