//! The answering side as a plain function of the node's state: a request in, a
//! response out. The async shell and the simulator both call it.

use std::time::Instant;

use mycel_core::PeerId;

use crate::{
    K_VALUE, KadError, Key, MemoryStore, PeerInfo, ProviderRecord, Request, Response, RoutingTable,
    StoreConfig, Validators,
};

/// Everything a node keeps: its routing table, its record store and the validators
/// that guard the store.
#[derive(Debug)]
pub struct DhtState {
    /// The routing table.
    pub table: RoutingTable,
    /// Records and provider records held for others (and our own).
    pub store: MemoryStore,
    /// Record validation per key namespace.
    pub validators: Validators,
    k: usize,
}

impl DhtState {
    /// An empty state for `local`.
    pub fn new(local: PeerId, k: usize, store: StoreConfig, validators: Validators) -> Self {
        DhtState {
            table: RoutingTable::new(local, k),
            store: MemoryStore::new(store),
            validators,
            k,
        }
    }

    /// A state with the spec's k, the default store and the built-in validators.
    pub fn with_defaults(local: PeerId) -> Self {
        DhtState::new(
            local,
            K_VALUE,
            StoreConfig::default(),
            Validators::with_defaults(),
        )
    }

    /// Up to k peers of the table closest to `key`, without `exclude` (the requester).
    pub fn closer_peers(&self, key: &[u8], exclude: &PeerId) -> Vec<PeerInfo> {
        let target = Key::new(bytes::Bytes::copy_from_slice(key));
        self.table
            .closest(&target, self.k + 1)
            .into_iter()
            .filter(|e| e.peer != *exclude)
            .take(self.k)
            .map(|e| e.to_peer_info())
            .collect()
    }

    /// Answers a request from `from`. `Ok(None)` when the request has no answer
    /// (ADD_PROVIDER); an error when the request must be refused (the stream is reset).
    pub fn handle_request(
        &mut self,
        from: PeerId,
        request: Request,
        now: Instant,
    ) -> Result<Option<Response>, KadError> {
        Ok(Some(match request {
            Request::FindNode { key } => Response::FindNode {
                closer_peers: self.closer_peers(&key, &from),
            },
            Request::GetValue { key } => Response::GetValue {
                record: self.store.get(&key, now).cloned().map(|mut r| {
                    r.publisher = None;
                    r.expires = None;
                    r
                }),
                closer_peers: self.closer_peers(&key, &from),
            },
            Request::PutValue { mut record } => {
                self.validators.validate(&record.key, &record.value)?;
                if let Some(existing) = self.store.get(&record.key, now) {
                    let values = [&record.value[..], &existing.value[..]];
                    if self.validators.select(&record.key, &values) != 0 {
                        return Err(KadError::InvalidMessage(
                            "the stored record is better than the one put".to_string(),
                        ));
                    }
                }
                let echo = Response::PutValue {
                    record: record.clone(),
                };
                record.publisher = Some(from);
                record.expires = Some(now + self.store.config().record_ttl);
                self.store.put(record, now)?;
                echo
            }
            Request::GetProviders { key } => Response::GetProviders {
                providers: self
                    .store
                    .providers(&key, now)
                    .into_iter()
                    .map(|p| PeerInfo::new(p.provider, p.addrs))
                    .collect(),
                closer_peers: self.closer_peers(&key, &from),
            },
            Request::AddProvider { key, providers } => {
                let ttl = self.store.config().provider_ttl;
                for provider in providers.into_iter().filter(|p| p.id == from) {
                    self.store.add_provider(
                        ProviderRecord {
                            key: key.clone(),
                            provider: provider.id,
                            addrs: provider.addrs,
                            expires: now + ttl,
                        },
                        now,
                    )?;
                }
                return Ok(None);
            }
            Request::Ping => Response::Ping,
        }))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mycel_core::{Keypair, Multiaddr};

    use super::*;
    use crate::{AcceptAll, Record};

    fn state() -> DhtState {
        DhtState::new(
            PeerId::random(),
            3,
            StoreConfig::default(),
            Validators::with_defaults().with("test", AcceptAll),
        )
    }

    #[test]
    fn find_node_returns_k_closest_without_the_requester() {
        let mut s = state();
        let now = Instant::now();
        let peers: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        for p in &peers {
            s.table.insert(*p, vec![], now);
        }
        let requester = peers[0];
        let Some(Response::FindNode { closer_peers }) = s
            .handle_request(
                requester,
                Request::FindNode {
                    key: Bytes::copy_from_slice(requester.as_bytes()),
                },
                now,
            )
            .unwrap()
        else {
            panic!("wrong answer");
        };
        assert_eq!(closer_peers.len(), 3);
        assert!(closer_peers.iter().all(|p| p.id != requester));
    }

    #[test]
    fn put_then_get_serves_the_record() {
        let mut s = state();
        let now = Instant::now();
        let from = PeerId::random();
        let record = Record::new(&b"/test/k"[..], &b"v"[..]);
        let echo = s
            .handle_request(
                from,
                Request::PutValue {
                    record: record.clone(),
                },
                now,
            )
            .unwrap();
        assert_eq!(
            echo,
            Some(Response::PutValue {
                record: record.clone()
            })
        );
        let stored = s.store.get(b"/test/k", now).unwrap();
        assert_eq!(stored.publisher, Some(from));
        assert!(stored.expires.is_some());
        let got = s
            .handle_request(
                from,
                Request::GetValue {
                    key: record.key.clone(),
                },
                now,
            )
            .unwrap();
        assert!(matches!(got, Some(Response::GetValue { record: Some(r), .. }) if r == record));
    }

    #[test]
    fn invalid_records_are_refused() {
        let mut s = state();
        let now = Instant::now();
        let unknown = Record::new(&b"/other/k"[..], &b"v"[..]);
        assert!(matches!(
            s.handle_request(PeerId::random(), Request::PutValue { record: unknown }, now),
            Err(KadError::InvalidRecord(_))
        ));
        let kp = Keypair::generate();
        let mut key = b"/pk/".to_vec();
        key.extend_from_slice(kp.peer_id().as_bytes());
        let wrong_key = Record::new(key.clone(), Keypair::generate().public().encode_protobuf());
        assert!(
            s.handle_request(
                PeerId::random(),
                Request::PutValue { record: wrong_key },
                now
            )
            .is_err()
        );
        let right = Record::new(key, kp.public().encode_protobuf());
        assert!(
            s.handle_request(PeerId::random(), Request::PutValue { record: right }, now)
                .is_ok()
        );
        assert_eq!(s.store.len(), 1);
    }

    #[test]
    fn add_provider_keeps_only_the_sender() {
        let mut s = state();
        let now = Instant::now();
        let from = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
        let answer = s
            .handle_request(
                from,
                Request::AddProvider {
                    key: Bytes::from_static(b"cid"),
                    providers: vec![
                        PeerInfo::new(PeerId::random(), vec![]),
                        PeerInfo::new(from, vec![addr.clone()]),
                    ],
                },
                now,
            )
            .unwrap();
        assert_eq!(answer, None, "ADD_PROVIDER is not answered");
        let Some(Response::GetProviders { providers, .. }) = s
            .handle_request(
                PeerId::random(),
                Request::GetProviders {
                    key: Bytes::from_static(b"cid"),
                },
                now,
            )
            .unwrap()
        else {
            panic!("wrong answer");
        };
        assert_eq!(providers, vec![PeerInfo::new(from, vec![addr])]);
    }
}
