//! A Kademlia network of `mycel-kad` state machines on a virtual clock.
//!
//! Each node is a [`DhtState`] (routing table, record store, validators). Queries are
//! the query machines the async node drives ([`Lookup`], [`GetQuery`], [`PutQuery`],
//! [`Refresh`]), driven here on events; requests and responses go
//! through the real protobuf codec. A node answering a request adds the requester to
//! its table, as identify does on a real network where every node is a server. A
//! request to a node that has left fails after the request timeout.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use mycel_core::PeerId;
use mycel_kad::{
    AcceptAll, DhtState, GetQuery, HasLookup, InsertOutcome, K_VALUE, Key, Lookup, LookupConfig,
    LookupPoll, PutQuery, Record, Refresh, Request, Response, StoreConfig, Validators,
    decode_request, decode_response, encode_request, encode_response,
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};

pub use crate::net::Spread;
use crate::{EventQueue, Latency};

/// A request's protobuf bytes, shared by every send of it.
fn request_bytes(request: &Request) -> Bytes {
    Bytes::from(encode_request(request))
}

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct KadSimConfig {
    /// Seed of everything random: ids, latencies, choices.
    pub seed: u64,
    /// Nodes in the network.
    pub nodes: usize,
    /// Nodes that know each other at the start; every other node joins through one.
    pub seeds: usize,
    /// Pause between two joins.
    pub join_interval: Duration,
    /// Random lookups measured.
    pub lookups: usize,
    /// Put/get pairs measured.
    pub records: usize,
    /// Fraction of nodes that leave without warning before the last round of gets.
    pub churn: f64,
    /// One-way link latency range.
    pub latency: (Duration, Duration),
    /// Lookup parameters.
    pub lookup: LookupConfig,
    /// Print each phase to stderr as it ends.
    pub progress: bool,
}

impl Default for KadSimConfig {
    fn default() -> Self {
        KadSimConfig {
            seed: 1,
            nodes: 10_000,
            seeds: 4,
            join_interval: Duration::from_millis(20),
            lookups: 1_000,
            records: 1_000,
            churn: 0.10,
            latency: (Duration::from_millis(10), Duration::from_millis(100)),
            lookup: LookupConfig {
                k: K_VALUE,
                alpha: 3,
                request_timeout: Duration::from_secs(10),
            },
            progress: false,
        }
    }
}

/// Results of one kind of query.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryReport {
    /// Queries run.
    pub count: usize,
    /// Queries that succeeded (see each field of [`KadSimReport`] for what success means).
    pub succeeded: usize,
    /// Hops: requests on the chain to the answer.
    pub hops: Spread,
    /// Requests sent per query.
    pub messages: Spread,
    /// Virtual time per query, in milliseconds.
    pub millis: Spread,
}

impl QueryReport {
    /// Succeeded / count.
    pub fn success_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.succeeded as f64 / self.count as f64
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct KadSimReport {
    /// Nodes.
    pub nodes: usize,
    /// Mean routing table size after the joins.
    pub mean_table_size: f64,
    /// Random-key lookups: success when the closest peer found is the closest live node.
    pub lookups: QueryReport,
    /// Share of the true k closest live nodes that lookups returned.
    pub lookup_recall: f64,
    /// Puts: success when at least one peer stored the record.
    pub puts: QueryReport,
    /// Gets right after the puts (stopping at the first record): success when found.
    pub gets: QueryReport,
    /// The same gets run to the k closest even after a record is found, as
    /// rust-libp2p's get does by default: the message cost mycel avoids.
    pub gets_to_completion: QueryReport,
    /// Gets after `churn` of the nodes left without warning.
    pub gets_after_churn: QueryReport,
    /// Requests sent in the whole run.
    pub total_requests: u64,
    /// Bytes of requests and responses in the whole run.
    pub total_bytes: u64,
    /// Virtual time of the whole run.
    pub virtual_time: Duration,
}

struct Node {
    id: PeerId,
    state: DhtState,
    alive: bool,
}

enum Kind {
    /// Own id, then refresh targets (the refresh is made with the query).
    Bootstrap {
        refresh: Option<Refresh>,
    },
    FindNode,
    Get {
        key: Bytes,
        stop_at_record: bool,
    },
    Put {
        record: Record,
    },
    /// PUT_VALUE requests outstanding after the lookup of put `put`.
    Store {
        outstanding: usize,
        put: usize,
    },
}

/// The machine a query drives.
enum Machine {
    Lookup(Lookup),
    Get(GetQuery),
    Put(PutQuery),
}

impl HasLookup for Machine {
    fn lookup(&self) -> &Lookup {
        match self {
            Machine::Lookup(lookup) => lookup,
            Machine::Get(get) => get.lookup(),
            Machine::Put(put) => put.lookup(),
        }
    }

    fn lookup_mut(&mut self) -> &mut Lookup {
        match self {
            Machine::Lookup(lookup) => lookup,
            Machine::Get(get) => get.lookup_mut(),
            Machine::Put(put) => put.lookup_mut(),
        }
    }
}

struct Query {
    origin: usize,
    kind: Kind,
    machine: Machine,
    request: Bytes,
    started: Duration,
    requests: usize,
    outcome: Option<Outcome>,
    /// The PUT_VALUE round a put started.
    follow_up: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Outcome {
    done_at: Duration,
    requests: usize,
    hops: u32,
    found: bool,
    closest: Vec<PeerId>,
    stored: usize,
}

enum Event {
    Join(usize),
    Start(usize),
    Request {
        from: usize,
        to: usize,
        query: usize,
        bytes: Bytes,
    },
    Response {
        from: usize,
        to: usize,
        query: usize,
        bytes: Bytes,
    },
    Fail {
        query: usize,
        peer: usize,
    },
    Wake(usize),
    Probe {
        node: usize,
        probe: usize,
    },
}

/// A simulated Kademlia network.
pub struct KadSim {
    config: KadSimConfig,
    base: Instant,
    queue: EventQueue<Event>,
    latency: Latency,
    rng: StdRng,
    nodes: Vec<Node>,
    index: HashMap<PeerId, usize>,
    queries: Vec<Query>,
    total_requests: u64,
    total_bytes: u64,
}

impl KadSim {
    /// A network of `config.nodes` nodes, none joined yet.
    pub fn new(config: KadSimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let validators = Validators::new().with("test", AcceptAll);
        let store = StoreConfig {
            max_records: 100_000,
            ..StoreConfig::default()
        };
        let mut nodes = Vec::with_capacity(config.nodes);
        let mut index = HashMap::with_capacity(config.nodes);
        for i in 0..config.nodes {
            let mut bytes = vec![0x12, 0x20];
            bytes.extend((0..32).map(|_| rng.r#gen::<u8>()));
            let id = PeerId::from_bytes(&bytes).expect("a sha2-256 multihash");
            index.insert(id, i);
            nodes.push(Node {
                id,
                state: DhtState::new(id, config.lookup.k, store.clone(), validators.clone()),
                alive: true,
            });
        }
        let latency = Latency::uniform(config.seed, config.latency.0, config.latency.1);
        KadSim {
            config,
            base: Instant::now(),
            queue: EventQueue::default(),
            latency,
            rng,
            nodes,
            index,
            queries: Vec::new(),
            total_requests: 0,
            total_bytes: 0,
        }
    }

    fn now(&self) -> Instant {
        self.base + self.queue.now()
    }

    fn phase(&self, name: &str) {
        if self.config.progress {
            eprintln!(
                "kad-sim: {name} done at {:.1} s virtual, {} requests so far",
                self.queue.now().as_secs_f64(),
                self.total_requests
            );
        }
    }

    /// Runs every phase and reports.
    pub fn run(mut self) -> KadSimReport {
        let n = self.nodes.len();
        let seeds = self.config.seeds.clamp(1, n);
        // The seeds know each other.
        for a in 0..seeds {
            for b in 0..seeds {
                let id = self.nodes[b].id;
                let now = self.now();
                self.nodes[a].state.table.insert(id, vec![], now);
            }
        }
        // Everyone else joins through a random seed, one after another.
        for i in seeds..n {
            self.queue.schedule(
                self.config.join_interval * (i - seeds) as u32,
                Event::Join(i),
            );
        }
        self.run_events();
        self.phase("joins");
        // A periodic refresh, as every node runs one.
        let all: Vec<usize> = (0..n).collect();
        self.start_all(&all, |_, _| (Kind::Bootstrap { refresh: None }, None));
        self.run_events();
        self.phase("refresh");
        let mean_table_size = self
            .nodes
            .iter()
            .map(|n| n.state.table.len())
            .sum::<usize>() as f64
            / n as f64;

        let mut report = KadSimReport {
            nodes: n,
            mean_table_size,
            ..Default::default()
        };

        // Random lookups.
        let origins = self.random_alive(self.config.lookups);
        let targets: Vec<Key> = (0..origins.len())
            .map(|_| Key::new(Bytes::from(self.rng.r#gen::<[u8; 32]>().to_vec())))
            .collect();
        let ids = self.start_all(&origins, |i, _| (Kind::FindNode, Some(targets[i].clone())));
        self.run_events();
        let mut recall = 0.0;
        report.lookups = self.report(&ids, |sim, i, outcome| {
            let truth = sim.true_closest(&targets[i], sim.config.lookup.k, origins[i]);
            let hit = truth.iter().filter(|p| outcome.closest.contains(p)).count();
            recall += hit as f64 / truth.len().max(1) as f64;
            outcome.closest.first() == truth.first()
        });
        report.lookup_recall = recall / ids.len().max(1) as f64;
        self.phase("lookups");

        // Puts, then gets from other nodes.
        let keys: Vec<Bytes> = (0..self.config.records)
            .map(|i| Bytes::from(format!("/test/{}/{i}", self.config.seed)))
            .collect();
        let origins = self.random_alive(keys.len());
        let ids = self.start_all(&origins, |i, _| {
            let record = Record::new(keys[i].clone(), Bytes::from(format!("value {i}")));
            (Kind::Put { record }, None)
        });
        self.run_events();
        let stored: Vec<usize> = ids
            .iter()
            .map(|&q| self.store_query_of(q).map_or(0, |o| o.stored))
            .collect();
        report.puts = self.report(&ids, |_, i, _| stored[i] > 0);
        report.gets = self.gets(&keys, true);
        report.gets_to_completion = self.gets(&keys, false);
        self.phase("puts and gets");

        // Churn: nodes leave without a word; the records must survive.
        let leaving = (n as f64 * self.config.churn.clamp(0.0, 0.9)).round() as usize;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        for &i in order.iter().take(leaving) {
            self.nodes[i].alive = false;
        }
        report.gets_after_churn = self.gets(&keys, true);

        report.total_requests = self.total_requests;
        report.total_bytes = self.total_bytes;
        report.virtual_time = self.queue.now();
        report
    }

    fn gets(&mut self, keys: &[Bytes], stop_at_record: bool) -> QueryReport {
        let origins = self.random_alive(keys.len());
        let ids = self.start_all(&origins, |i, _| {
            (
                Kind::Get {
                    key: keys[i].clone(),
                    stop_at_record,
                },
                None,
            )
        });
        self.run_events();
        self.report(&ids, |_, _, outcome| outcome.found)
    }

    fn random_alive(&mut self, count: usize) -> Vec<usize> {
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect();
        (0..count)
            .map(|_| alive[self.rng.gen_range(0..alive.len())])
            .collect()
    }

    /// Starts one query per origin, 10 ms apart, and returns their ids.
    fn start_all(
        &mut self,
        origins: &[usize],
        mut make: impl FnMut(usize, usize) -> (Kind, Option<Key>),
    ) -> Vec<usize> {
        let mut ids = Vec::with_capacity(origins.len());
        for (i, &origin) in origins.iter().enumerate() {
            let (kind, target) = make(i, origin);
            let id = self.new_query(origin, kind, target);
            self.queue
                .schedule(Duration::from_millis(10) * i as u32, Event::Start(id));
            ids.push(id);
        }
        ids
    }

    fn new_query(&mut self, origin: usize, mut kind: Kind, target: Option<Key>) -> usize {
        let find = |key: &Key| Request::FindNode {
            key: key.preimage().clone(),
        };
        let (target, request) = match &mut kind {
            Kind::Bootstrap { refresh } => {
                let first = refresh.insert(Refresh::new(&self.nodes[origin].id)).first();
                let request = find(&first);
                (first, request)
            }
            Kind::FindNode => {
                let key = target.expect("lookups have a target");
                let request = find(&key);
                (key, request)
            }
            Kind::Get { key, .. } => (
                Key::new(key.clone()),
                Request::GetValue { key: key.clone() },
            ),
            Kind::Put { record } => {
                let key = Key::new(record.key.clone());
                let request = find(&key);
                (key, request)
            }
            Kind::Store { .. } => unreachable!("store queries are made by puts"),
        };
        self.queries.push(Query {
            origin,
            kind,
            machine: Machine::Lookup(Lookup::new(target, [], self.config.lookup)),
            request: request_bytes(&request),
            started: Duration::ZERO,
            requests: 0,
            outcome: None,
            follow_up: None,
        });
        self.queries.len() - 1
    }

    fn start(&mut self, q: usize) {
        let origin = self.queries[q].origin;
        let target = self.queries[q].machine.lookup().target().clone();
        self.queries[q].started = self.queue.now();
        if let Kind::Get { key, .. } = &self.queries[q].kind {
            if self.nodes[origin]
                .state
                .store
                .get(key, self.now())
                .is_some()
            {
                self.finish(q, true, 0);
                return;
            }
        }
        let seeds = self.seeds(origin, &target);
        let config = self.config.lookup;
        self.queries[q].machine = match &self.queries[q].kind {
            // A get that runs on after the first record (to measure) never has its quorum.
            Kind::Get {
                key,
                stop_at_record,
            } => {
                let needed = if *stop_at_record { 1 } else { usize::MAX };
                Machine::Get(GetQuery::new(key.clone(), needed, None, seeds, config))
            }
            Kind::Put { record } => {
                Machine::Put(PutQuery::new(record.clone(), config.k, seeds, config))
            }
            _ => Machine::Lookup(Lookup::new(target, seeds, config)),
        };
        self.queries[q].started = self.queue.now();
        self.step(q);
    }

    /// The peers of `origin`'s table closest to `target`, to start a lookup from.
    fn seeds(&self, origin: usize, target: &Key) -> Vec<PeerId> {
        self.nodes[origin]
            .state
            .table
            .closest(target, self.config.lookup.k)
            .into_iter()
            .map(|e| e.peer)
            .collect()
    }

    /// A lookup of `target` seeded from `origin`'s table.
    fn lookup_from(&self, origin: usize, target: Key) -> Lookup {
        let seeds = self.seeds(origin, &target);
        Lookup::new(target, seeds, self.config.lookup)
    }

    fn step(&mut self, q: usize) {
        let now = self.now();
        match self.queries[q].machine.lookup_mut().poll(now) {
            LookupPoll::Finished => self.lookup_done(q),
            LookupPoll::Send(peers) => {
                let origin = self.queries[q].origin;
                for peer in peers {
                    let to = self.index[&peer];
                    let bytes = self.queries[q].request.clone();
                    self.send_request(q, origin, to, bytes);
                }
                if let Some(deadline) = self.queries[q].machine.lookup().next_deadline() {
                    let wait = deadline.saturating_duration_since(now);
                    self.queue.schedule(wait, Event::Wake(q));
                }
            }
        }
    }

    fn send_request(&mut self, query: usize, from: usize, to: usize, bytes: Bytes) {
        self.queries[query].requests += 1;
        self.total_requests += 1;
        self.total_bytes += bytes.len() as u64;
        if self.nodes[to].alive {
            let delay = self.latency.between(from, to);
            self.queue.schedule(
                delay,
                Event::Request {
                    from,
                    to,
                    query,
                    bytes,
                },
            );
        } else {
            self.queue.schedule(
                self.config.lookup.request_timeout,
                Event::Fail { query, peer: to },
            );
        }
    }

    fn lookup_done(&mut self, q: usize) {
        let origin = self.queries[q].origin;
        if let Kind::Bootstrap { refresh } = &mut self.queries[q].kind {
            let refresh = refresh.as_mut().expect("made with the query");
            let (table, rng) = (&self.nodes[origin].state.table, &mut self.rng);
            let Some(next) = refresh.next(|| Refresh::bucket_targets(table, rng)) else {
                self.finish(q, true, 0);
                return;
            };
            self.queries[q].request = request_bytes(&Request::FindNode {
                key: next.preimage().clone(),
            });
            self.queries[q].machine = Machine::Lookup(self.lookup_from(origin, next));
            self.step(q);
            return;
        }
        let query = &mut self.queries[q];
        match (&query.kind, &mut query.machine) {
            (Kind::Put { .. }, Machine::Put(put)) => {
                let round = put.store_round();
                let bytes = request_bytes(&Request::PutValue {
                    record: put.record().clone(),
                });
                let hops = put.lookup().stats().hops;
                self.finish(q, true, hops);
                // The PUT_VALUE requests travel as a follow-up query.
                self.queries.push(Query {
                    origin,
                    kind: Kind::Store {
                        outstanding: round.len(),
                        put: q,
                    },
                    machine: Machine::Lookup(Lookup::new(
                        Key::new(Bytes::new()),
                        [],
                        self.config.lookup,
                    )),
                    request: bytes.clone(),
                    started: self.queue.now(),
                    requests: 0,
                    outcome: Some(Outcome::default()),
                    follow_up: None,
                });
                let store = self.queries.len() - 1;
                self.queries[q].follow_up = Some(store);
                for peer in round {
                    let to = self.index[&peer];
                    self.send_request(store, origin, to, bytes.clone());
                }
            }
            (Kind::FindNode | Kind::Get { .. }, _) => {
                if let Some(o) = query.outcome.as_mut() {
                    // A get found its record earlier and ran on: count everything.
                    o.requests = query.requests;
                } else {
                    let hops = query.machine.lookup().stats().hops;
                    self.finish(q, false, hops);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, q: usize, found: bool, hops: u32) {
        let query = &mut self.queries[q];
        query.outcome = Some(Outcome {
            done_at: self.queue.now(),
            requests: query.requests,
            hops,
            found,
            closest: query.machine.lookup().closest_succeeded(),
            stored: 0,
        });
    }

    /// The outcome of the PUT_VALUE round a put started.
    fn store_query_of(&self, put: usize) -> Option<&Outcome> {
        let store = self.queries[put].follow_up?;
        self.queries[store].outcome.as_ref()
    }

    fn run_events(&mut self) {
        while let Some(event) = self.queue.pop() {
            match event {
                Event::Join(i) => {
                    let seed = self
                        .rng
                        .gen_range(0..self.config.seeds.min(self.nodes.len()));
                    let seed_id = self.nodes[seed].id;
                    let now = self.now();
                    self.nodes[i].state.table.insert(seed_id, vec![], now);
                    let q = self.new_query(i, Kind::Bootstrap { refresh: None }, None);
                    self.start(q);
                }
                Event::Start(q) => self.start(q),
                Event::Wake(q) => {
                    if self.queries[q].outcome.is_none()
                        || !self.queries[q].machine.lookup().is_finished()
                    {
                        self.step(q);
                    }
                }
                Event::Request {
                    from,
                    to,
                    query,
                    bytes,
                } => self.on_request(from, to, query, bytes),
                Event::Response {
                    from,
                    to,
                    query,
                    bytes,
                } => self.on_response(from, to, query, bytes),
                Event::Fail { query, peer } => {
                    let id = self.nodes[peer].id;
                    let origin = self.queries[query].origin;
                    self.nodes[origin].state.table.remove(&id);
                    if !matches!(self.queries[query].kind, Kind::Store { .. }) {
                        self.queries[query].machine.lookup_mut().on_failure(&id);
                        self.step(query);
                    }
                }
                Event::Probe { node, probe } => {
                    let alive = self.nodes[probe].alive;
                    let id = self.nodes[probe].id;
                    let now = self.now();
                    self.nodes[node].state.table.probe_result(&id, alive, now);
                }
            }
        }
    }

    /// Adds `peer` to `node`'s table, probing the oldest entry of a full bucket.
    fn insert(&mut self, node: usize, peer: usize) {
        let now = self.now();
        let id = self.nodes[peer].id;
        if let InsertOutcome::Pending { probe } =
            self.nodes[node].state.table.insert(id, vec![], now)
        {
            let probe = self.index[&probe];
            let rtt = self.latency.between(node, probe) * 2;
            let delay = if self.nodes[probe].alive {
                rtt
            } else {
                self.config.lookup.request_timeout
            };
            self.queue.schedule(delay, Event::Probe { node, probe });
        }
    }

    fn on_request(&mut self, from: usize, to: usize, query: usize, bytes: Bytes) {
        if !self.nodes[to].alive {
            return;
        }
        let request = decode_request(&bytes).expect("the simulator sends valid requests");
        self.insert(to, from);
        let now = self.now();
        let from_id = self.nodes[from].id;
        let Ok(Some(response)) = self.nodes[to].state.handle_request(from_id, request, now) else {
            return;
        };
        let bytes = Bytes::from(encode_response(&response));
        self.total_bytes += bytes.len() as u64;
        let delay = self.latency.between(from, to);
        self.queue.schedule(
            delay,
            Event::Response {
                from: to,
                to: from,
                query,
                bytes,
            },
        );
    }

    fn on_response(&mut self, from: usize, to: usize, query: usize, bytes: Bytes) {
        if !self.nodes[to].alive {
            return;
        }
        let response = decode_response(&bytes).expect("the simulator sends valid responses");
        self.insert(to, from);
        let from_id = self.nodes[from].id;
        let q = &mut self.queries[query];
        match (&mut q.kind, response) {
            (Kind::Store { outstanding, put }, Response::PutValue { record }) => {
                *outstanding = outstanding.saturating_sub(1);
                let put = *put;
                let Machine::Put(putting) = &mut self.queries[put].machine else {
                    unreachable!("a store query follows a put");
                };
                putting.on_stored(Some(&record));
                let stored = putting.stored();
                if let Some(o) = self.queries[query].outcome.as_mut() {
                    o.stored = stored;
                }
                return;
            }
            (
                Kind::Get { .. },
                Response::GetValue {
                    record,
                    closer_peers,
                },
            ) => {
                let validators = self.nodes[to].state.validators.clone();
                let Machine::Get(get) = &mut q.machine else {
                    unreachable!("a get query drives a get");
                };
                get.lookup_mut()
                    .on_success(&from_id, closer_peers.into_iter().map(|p| p.id));
                let before = q.outcome.is_some();
                get.on_answer(from_id, record.as_ref(), &validators);
                if let (false, Some(hops)) = (before, get.first_found_hops()) {
                    self.finish(query, true, hops);
                }
            }
            (_, Response::FindNode { closer_peers }) => {
                q.machine
                    .lookup_mut()
                    .on_success(&from_id, closer_peers.into_iter().map(|p| p.id));
            }
            (_, _) => q.machine.lookup_mut().on_failure(&from_id),
        }
        self.step(query);
    }

    fn report(
        &self,
        ids: &[usize],
        mut succeeded: impl FnMut(&Self, usize, &Outcome) -> bool,
    ) -> QueryReport {
        let mut report = QueryReport {
            count: ids.len(),
            ..Default::default()
        };
        let (mut hops, mut messages, mut millis) = (Vec::new(), Vec::new(), Vec::new());
        for (i, &q) in ids.iter().enumerate() {
            let query = &self.queries[q];
            let Some(outcome) = &query.outcome else {
                continue;
            };
            if succeeded(self, i, outcome) {
                report.succeeded += 1;
            }
            hops.push(outcome.hops as f64);
            messages.push(query.requests.max(outcome.requests) as f64);
            millis.push((outcome.done_at.saturating_sub(query.started)).as_secs_f64() * 1000.0);
        }
        report.hops = Spread::of(hops);
        report.messages = Spread::of(messages);
        report.millis = Spread::of(millis);
        report
    }

    /// The `k` live nodes closest to `target`, by global knowledge (the origin excluded:
    /// a lookup never lists its own node).
    fn true_closest(&self, target: &Key, k: usize, origin: usize) -> Vec<PeerId> {
        let mut live: Vec<(mycel_kad::Distance, PeerId)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.alive && *i != origin)
            .map(|(_, n)| (target.distance(&Key::from_peer(&n.id)), n.id))
            .collect();
        live.sort_unstable_by_key(|(d, _)| *d);
        live.into_iter().take(k).map(|(_, p)| p).collect()
    }
}
