//! The DHT's query policies as state machines over a [`Lookup`]: what a get keeps and
//! when it stops, which peers it corrects, the PUT round after a put's lookup, and the
//! order of a refresh. No IO and no clock of their own: the async node
//! ([`crate::Kademlia`]) and the simulator drive the same machines.

use bytes::Bytes;
use mycel_core::PeerId;
use rand::RngCore;

use crate::{KadError, Key, Lookup, LookupConfig, LookupStats, Record, RoutingTable, Validators};

/// A query built on a lookup, for whoever drives lookups.
pub trait HasLookup {
    /// The lookup, to look at.
    fn lookup(&self) -> &Lookup;

    /// The lookup to drive: send what it asks, report answers and failures to it.
    fn lookup_mut(&mut self) -> &mut Lookup;
}

impl HasLookup for Lookup {
    fn lookup(&self) -> &Lookup {
        self
    }

    fn lookup_mut(&mut self) -> &mut Lookup {
        self
    }
}

impl HasLookup for GetQuery {
    fn lookup(&self) -> &Lookup {
        &self.lookup
    }

    fn lookup_mut(&mut self) -> &mut Lookup {
        &mut self.lookup
    }
}

impl HasLookup for PutQuery {
    fn lookup(&self) -> &Lookup {
        &self.lookup
    }

    fn lookup_mut(&mut self) -> &mut Lookup {
        &mut self.lookup
    }
}

/// A get of one key: a lookup that collects valid records and stops early once
/// `needed` of them are in (the quorum).
#[derive(Debug)]
pub struct GetQuery {
    key: Bytes,
    needed: usize,
    lookup: Lookup,
    /// Who returned which valid record, in the order they came.
    found: Vec<(PeerId, Record)>,
    /// Peers that answered without a record.
    without_record: Vec<PeerId>,
    /// Hops to the first peer that returned a record (0: the local store).
    first_found_hops: Option<u32>,
}

/// What a get found.
#[derive(Debug, Clone)]
pub struct GetOutcome {
    /// The record the validator chose among those found.
    pub record: Record,
    /// Who returned it (possibly the local node).
    pub peers: Vec<PeerId>,
    /// Entry correction: peers that returned a worse record, and peers among the k
    /// closest that had none; each should be sent the chosen record (at most k).
    pub correct: Vec<PeerId>,
    /// The lookup's counters.
    pub stats: LookupStats,
}

impl GetQuery {
    /// A get of `key` that stops once `needed` valid records are in (at least 1),
    /// starting from the local store's record if any, and looking up from `seeds`.
    pub fn new(
        key: Bytes,
        needed: usize,
        local: Option<(PeerId, Record)>,
        seeds: impl IntoIterator<Item = PeerId>,
        config: LookupConfig,
    ) -> Self {
        let needed = needed.max(1);
        let first_found_hops = local.as_ref().map(|_| 0);
        let found: Vec<_> = local.into_iter().collect();
        let mut lookup = Lookup::new(Key::new(key.clone()), seeds, config);
        if found.len() >= needed {
            lookup.finish();
        }
        GetQuery {
            key,
            needed,
            lookup,
            found,
            without_record: Vec::new(),
            first_found_hops,
        }
    }

    /// Whether a quorum of records is in.
    pub fn has_quorum(&self) -> bool {
        self.found.len() >= self.needed
    }

    /// Hops to the first record found, once one is.
    pub fn first_found_hops(&self) -> Option<u32> {
        self.first_found_hops
    }

    /// `peer` answered with `record` (after the lookup heard of its answer). A record
    /// for another key, or one `validators` refuse, is ignored; the lookup ends once the
    /// quorum is in.
    pub fn on_answer(&mut self, peer: PeerId, record: Option<&Record>, validators: &Validators) {
        match record {
            Some(r) if r.key == self.key && validators.validate(&r.key, &r.value).is_ok() => {
                self.first_found_hops
                    .get_or_insert_with(|| self.lookup.hops_to(&peer).unwrap_or(0));
                self.found.push((peer, r.clone()));
                if self.has_quorum() {
                    self.lookup.finish();
                }
            }
            Some(_) => tracing::debug!(%peer, "kad: invalid record returned; ignored"),
            None => self.without_record.push(peer),
        }
    }

    /// The outcome once the lookup has ended: the best record (chosen by `validators`)
    /// and the peers to correct (never `local`, at most `k`).
    pub fn outcome(
        &self,
        validators: &Validators,
        local: PeerId,
        k: usize,
    ) -> Result<GetOutcome, KadError> {
        if self.found.is_empty() {
            return Err(KadError::NotFound);
        }
        if !self.has_quorum() {
            return Err(KadError::GetQuorumFailed {
                found: self.found.len(),
                quorum: self.needed,
            });
        }
        let values: Vec<&[u8]> = self.found.iter().map(|(_, r)| &r.value[..]).collect();
        let best = validators
            .select(&self.key, &values)
            .min(self.found.len() - 1);
        let record = self.found[best].1.clone();
        let (peers, outdated): (Vec<_>, Vec<_>) = self
            .found
            .iter()
            .partition(|(_, r)| r.value == record.value);
        let closest = self.lookup.closest_succeeded();
        let correct = outdated
            .iter()
            .map(|(p, _)| *p)
            .chain(
                self.without_record
                    .iter()
                    .copied()
                    .filter(|p| closest.contains(p)),
            )
            .filter(|p| *p != local)
            .take(k)
            .collect();
        Ok(GetOutcome {
            record,
            peers: peers.into_iter().map(|(p, _)| *p).collect(),
            correct,
            stats: self.lookup.stats(),
        })
    }
}

/// A put of one record: a lookup for the closest peers to its key, then one PUT_VALUE
/// to each of them; it succeeds when `quorum` of them store it.
#[derive(Debug)]
pub struct PutQuery {
    record: Record,
    quorum: usize,
    lookup: Lookup,
    /// Peers sent the record in the PUT round.
    targets: usize,
    stored: usize,
}

impl PutQuery {
    /// A put of `record` needing `quorum` stores (capped by how many peers the lookup
    /// finds), looking up from `seeds`.
    pub fn new(
        record: Record,
        quorum: usize,
        seeds: impl IntoIterator<Item = PeerId>,
        config: LookupConfig,
    ) -> Self {
        let lookup = Lookup::new(Key::new(record.key.clone()), seeds, config);
        PutQuery {
            record,
            quorum,
            lookup,
            targets: 0,
            stored: 0,
        }
    }

    /// The record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The PUT round, once the lookup has ended: the peers to send the record to.
    pub fn store_round(&mut self) -> Vec<PeerId> {
        let targets = self.lookup.closest_succeeded();
        self.targets = targets.len();
        targets
    }

    /// A peer of the round answered: `stored` when its echo matches the record.
    pub fn on_stored(&mut self, echo: Option<&Record>) {
        if echo.is_some_and(|e| e.key == self.record.key && e.value == self.record.value) {
            self.stored += 1;
        }
    }

    /// Peers that stored the record so far.
    pub fn stored(&self) -> usize {
        self.stored
    }

    /// The outcome once the round is over: how many stored it, or the quorum failure.
    pub fn outcome(&self) -> Result<usize, KadError> {
        let needed = self.quorum.min(self.targets.max(1));
        if self.stored < needed {
            return Err(KadError::QuorumFailed {
                stored: self.stored,
                quorum: needed,
            });
        }
        Ok(self.stored)
    }

    /// The lookup's counters.
    pub fn stats(&self) -> LookupStats {
        self.lookup.stats()
    }
}

/// A refresh of the routing table: a lookup of our own id, then one of a random key in
/// each bucket from the farthest down to the nearest filled one
/// ([`RoutingTable::refresh_targets`], taken after the first lookup has filled the
/// table).
#[derive(Debug)]
pub struct Refresh {
    local: Key,
    /// The targets still to look up, next last; `None` until the own-id lookup ends.
    targets: Option<Vec<Key>>,
}

impl Refresh {
    /// A refresh of the table of the node with id `local`.
    pub fn new(local: &PeerId) -> Self {
        Refresh {
            local: Key::from_peer(local),
            targets: None,
        }
    }

    /// The first target: our own id.
    pub fn first(&self) -> Key {
        self.local.clone()
    }

    /// The next target after a lookup ended, or `None` when the refresh is done.
    /// `targets` computes the bucket targets, once, from the table as it is after the
    /// first lookup (finding keys in deep buckets costs many hashes).
    pub fn next(&mut self, targets: impl FnOnce() -> Vec<Key>) -> Option<Key> {
        let left = self.targets.get_or_insert_with(|| {
            let mut targets = targets();
            targets.reverse();
            targets
        });
        left.pop()
    }

    /// The bucket targets of `table`, for [`Refresh::next`].
    pub fn bucket_targets(table: &RoutingTable, rng: &mut impl RngCore) -> Vec<Key> {
        table.refresh_targets(rng)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::{LookupPoll, Validator};

    fn config() -> LookupConfig {
        LookupConfig {
            k: 3,
            alpha: 3,
            ..LookupConfig::default()
        }
    }

    fn record(value: &str) -> Record {
        Record::new(Bytes::from_static(b"key"), Bytes::from(value.to_string()))
    }

    /// Prefers the longest value, to tell records apart.
    struct Longest;

    impl Validator for Longest {
        fn validate(&self, _key: &[u8], _value: &[u8]) -> Result<(), crate::ValidationError> {
            Ok(())
        }

        fn select(&self, _key: &[u8], values: &[&[u8]]) -> usize {
            (0..values.len())
                .max_by_key(|i| values[*i].len())
                .unwrap_or(0)
        }
    }

    fn sent(lookup: &mut Lookup) -> Vec<PeerId> {
        match lookup.poll(Instant::now()) {
            LookupPoll::Send(peers) => peers,
            LookupPoll::Finished => Vec::new(),
        }
    }

    #[test]
    fn a_get_stops_at_its_quorum_and_corrects_the_outdated_and_the_empty_handed() {
        let validators = Validators::new().with_fallback(Longest);
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let local = PeerId::random();
        let mut get = GetQuery::new(Bytes::from_static(b"key"), 2, None, peers.clone(), config());
        assert_eq!(sent(get.lookup_mut()).len(), 3);
        // An empty answer, an old record, then the newer one: the quorum of 2 is in.
        for (peer, answer) in [
            (peers[0], None),
            (peers[1], Some(record("v1"))),
            (peers[2], Some(record("v22"))),
        ] {
            get.lookup_mut().on_success(&peer, []);
            get.on_answer(peer, answer.as_ref(), &validators);
        }
        assert!(get.has_quorum());
        assert!(get.lookup().is_finished(), "the quorum ends the lookup");
        let outcome = get.outcome(&validators, local, 20).unwrap();
        assert_eq!(outcome.record.value, Bytes::from_static(b"v22"));
        assert_eq!(outcome.peers, vec![peers[2]]);
        let mut correct = outcome.correct.clone();
        correct.sort();
        let mut expected = vec![peers[0], peers[1]];
        expected.sort();
        assert_eq!(
            correct, expected,
            "the outdated and the empty-handed close peer"
        );
    }

    #[test]
    fn a_get_short_of_its_quorum_fails_and_a_local_record_can_be_enough() {
        let validators = Validators::accept_all();
        let peer = PeerId::random();
        let mut get = GetQuery::new(Bytes::from_static(b"key"), 2, None, [peer], config());
        sent(get.lookup_mut());
        get.lookup_mut().on_success(&peer, []);
        get.on_answer(peer, Some(&record("v")), &validators);
        // A record for another key does not count.
        let other = Record::new(Bytes::from_static(b"other"), Bytes::from_static(b"v"));
        get.on_answer(peer, Some(&other), &validators);
        assert!(matches!(
            get.outcome(&validators, PeerId::random(), 20),
            Err(KadError::GetQuorumFailed {
                found: 1,
                quorum: 2
            })
        ));
        let local = PeerId::random();
        let get = GetQuery::new(
            Bytes::from_static(b"key"),
            1,
            Some((local, record("mine"))),
            [peer],
            config(),
        );
        assert!(get.has_quorum());
        assert_eq!(get.first_found_hops(), Some(0));
        let outcome = get.outcome(&validators, local, 20).unwrap();
        assert_eq!(outcome.peers, vec![local]);
        assert!(
            outcome.correct.is_empty(),
            "the local node is never corrected"
        );
    }

    #[test]
    fn a_put_stores_at_the_closest_and_counts_only_matching_echoes() {
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let mut put = PutQuery::new(record("v"), 2, peers.clone(), config());
        for peer in sent(put.lookup_mut()) {
            put.lookup_mut().on_success(&peer, []);
        }
        assert!(matches!(
            put.lookup_mut().poll(Instant::now()),
            LookupPoll::Finished
        ));
        let mut round = put.store_round();
        round.sort();
        let mut expected = peers.clone();
        expected.sort();
        assert_eq!(round, expected);
        put.on_stored(Some(&record("v")));
        put.on_stored(Some(&record("different")));
        put.on_stored(None);
        assert!(matches!(
            put.outcome(),
            Err(KadError::QuorumFailed {
                stored: 1,
                quorum: 2
            })
        ));
        put.on_stored(Some(&record("v")));
        assert_eq!(put.outcome().unwrap(), 2);
    }

    #[test]
    fn a_refresh_looks_up_our_id_then_the_buckets_farthest_first() {
        let local = PeerId::random();
        let mut refresh = Refresh::new(&local);
        assert_eq!(refresh.first(), Key::from_peer(&local));
        let targets: Vec<Key> = (0..3u8).map(|i| Key::new(vec![i])).collect();
        let given = targets.clone();
        assert_eq!(refresh.next(|| given), Some(targets[0].clone()));
        assert_eq!(
            refresh.next(|| unreachable!("computed once")),
            Some(targets[1].clone())
        );
        assert_eq!(refresh.next(Vec::new), Some(targets[2].clone()));
        assert_eq!(refresh.next(Vec::new), None);
    }
}
