//! The async shell: a [`Kademlia`] node on a [`Network`]. It feeds the routing table
//! from identify, answers requests in server mode, and runs queries by driving
//! [`Lookup`] state machines with real requests.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{StreamExt, future::join_all, stream::FuturesUnordered};
use mycel_core::{
    Multiaddr, NegotiatedStream, Network, NetworkEvent, PeerId, stream_handler, tasks::TaskGroup,
};
use rand::{SeedableRng, rngs::StdRng};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::DropGuard;
use tracing::{debug, trace};

use crate::{
    DhtState, GetQuery, HasLookup, InsertOutcome, KadConfig, KadError, Key, Lookup, LookupPoll,
    LookupStats, Mode, PeerInfo, ProviderRecord, PutQuery, Quorum, Record, Refresh, Request,
    Response,
    config::{INBOUND_IDLE_TIMEOUT, MAX_REQUESTS_PER_STREAM},
    protocol::{
        decode_request, decode_response, encode_request, encode_response, read_message,
        write_message,
    },
};

/// Interval of store expiry, republishing and reproviding checks.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);

/// Records (or provided keys) put again at once when republishing (or reproviding).
const MAX_CONCURRENT_REPUBLISH: usize = 8;

/// How long the sender of an ADD_PROVIDER waits for the receiver to close the stream
/// (so the message is read before the stream goes away).
const ADD_PROVIDER_LINGER: Duration = Duration::from_secs(5);

/// A Kademlia DHT node. Cheap to clone; the node stops when the last clone is dropped
/// or [`Kademlia::close`] is called.
#[derive(Clone)]
pub struct Kademlia {
    inner: Arc<Inner>,
    _stop: Arc<DropGuard>,
}

struct Inner {
    network: Arc<dyn Network>,
    config: KadConfig,
    local: PeerId,
    state: Mutex<DhtState>,
    server: AtomicBool,
    /// The user chose the mode; the automatic switch stays out of it.
    forced: AtomicBool,
    /// Records this node put, put again every republish interval.
    published: Mutex<HashMap<Bytes, Record>>,
    /// Keys this node provides, announced again every reprovide interval.
    provided: Mutex<HashSet<Bytes>>,
    rng: Mutex<StdRng>,
    kick: tokio::sync::Notify,
    tasks: TaskGroup,
}

/// The outcome of a get: the best record and who sent it.
#[derive(Debug, Clone)]
pub struct GetRecordOk {
    /// The record the validator chose.
    pub record: Record,
    /// Peers (possibly the local node) that returned it.
    pub peers: Vec<PeerId>,
    /// The lookup's counters.
    pub stats: LookupStats,
}

/// The outcome of a put.
#[derive(Debug, Clone, Copy)]
pub struct PutRecordOk {
    /// Peers that stored the record.
    pub stored: usize,
    /// The lookup's counters.
    pub stats: LookupStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Kademlia {
    /// Starts a node on `network`. Must be called inside a tokio runtime.
    pub fn new(network: Arc<dyn Network>, config: KadConfig) -> Self {
        let local = network.local_peer_id();
        let state = DhtState::new(
            local,
            config.k,
            config.store.clone(),
            config.validators.clone(),
        );
        let tasks = TaskGroup::new();
        let inner = Arc::new(Inner {
            network,
            local,
            state: Mutex::new(state),
            server: AtomicBool::new(false),
            forced: AtomicBool::new(config.mode.is_some()),
            published: Mutex::new(HashMap::new()),
            provided: Mutex::new(HashSet::new()),
            rng: Mutex::new(StdRng::from_entropy()),
            kick: tokio::sync::Notify::new(),
            tasks: tasks.clone(),
            config,
        });
        if inner.config.mode == Some(Mode::Server) {
            inner.set_server(true);
        }
        let events = inner.network.events();
        let background = inner.clone();
        inner
            .tasks
            .spawn_to_completion(async move { background.run(events).await });
        Kademlia {
            inner,
            _stop: Arc::new(tasks.drop_guard()),
        }
    }

    /// The local peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.local
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        if self.inner.server.load(Ordering::Acquire) {
            Mode::Server
        } else {
            Mode::Client
        }
    }

    /// Switches mode: a server registers the protocol handler (identify then announces
    /// it), a client removes it.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.forced.store(true, Ordering::Release);
        self.inner.set_server(mode == Mode::Server);
    }

    /// Adds a known DHT server (a bootstrap peer): its address goes to the network and
    /// it enters the routing table without waiting for identify.
    pub fn add_address(&self, peer: PeerId, addr: Multiaddr) {
        self.inner.network.add_addrs(peer, vec![addr.clone()]);
        self.inner.insert_peer(peer, vec![addr]);
    }

    /// Peers in the routing table.
    pub fn routing_table_peers(&self) -> Vec<PeerId> {
        lock(&self.inner.state)
            .table
            .entries()
            .map(|e| e.peer)
            .collect()
    }

    /// Runs `f` on the node's state (routing table, store, validators). Keep it short:
    /// the state is locked meanwhile.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut DhtState) -> T) -> T {
        f(&mut lock(&self.inner.state))
    }

    /// Fills the routing table: a lookup of our own id, then one random key in each
    /// bucket from the farthest to the nearest filled one. Returns the table's size.
    pub async fn bootstrap(&self) -> Result<usize, KadError> {
        self.inner.bootstrap().await
    }

    /// The k peers closest to `key` that answered, nearest first.
    pub async fn find_closest_peers(
        &self,
        key: impl Into<Bytes>,
    ) -> Result<Vec<PeerInfo>, KadError> {
        let (peers, _) = self.inner.closest_peers(Key::new(key)).await?;
        Ok(peers)
    }

    /// Addresses of `peer`, found through the DHT if not already known.
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, KadError> {
        let (closest, _) = self.inner.closest_peers(Key::from_peer(&peer)).await?;
        if let Some(found) = closest.into_iter().find(|p| p.id == peer) {
            if !found.addrs.is_empty() {
                return Ok(found.addrs);
            }
        }
        let addrs = self.inner.network.addrs_of(&peer);
        if addrs.is_empty() {
            Err(KadError::NotFound)
        } else {
            Ok(addrs)
        }
    }

    /// The record under `key`, with the configured quorum.
    pub async fn get_record(&self, key: impl Into<Bytes>) -> Result<Record, KadError> {
        let quorum = self.inner.config.quorum;
        Ok(self.inner.get_record(key.into(), quorum).await?.record)
    }

    /// The record under `key` once `quorum` peers returned one, with details.
    pub async fn get_record_with(
        &self,
        key: impl Into<Bytes>,
        quorum: Quorum,
    ) -> Result<GetRecordOk, KadError> {
        self.inner.get_record(key.into(), quorum).await
    }

    /// Stores `record` locally and at the k closest peers; fails if fewer than the
    /// configured quorum stored it. The node puts it again every republish interval.
    pub async fn put_record(&self, record: Record) -> Result<PutRecordOk, KadError> {
        let quorum = self.inner.config.quorum;
        self.put_record_with(record, quorum).await
    }

    /// [`Kademlia::put_record`] with an explicit quorum.
    pub async fn put_record_with(
        &self,
        record: Record,
        quorum: Quorum,
    ) -> Result<PutRecordOk, KadError> {
        let inner = &self.inner;
        lock(&inner.state)
            .validators
            .validate(&record.key, &record.value)?;
        let mut local = record.clone();
        local.publisher = Some(inner.local);
        local.expires = None;
        {
            let mut state = lock(&inner.state);
            let now = Instant::now();
            if let Err(crate::StoreError::Full) = state.store.put(local.clone(), now) {
                // Records held for others make room for our own.
                let victim = state
                    .store
                    .records()
                    .filter(|r| r.publisher != Some(inner.local))
                    .min_by_key(|r| r.expires)
                    .map(|r| r.key.clone());
                match victim {
                    Some(key) => {
                        state.store.remove(&key);
                        state.store.put(local.clone(), now)?;
                    }
                    None => return Err(crate::StoreError::Full.into()),
                }
            }
        }
        {
            let mut published = lock(&inner.published);
            if published.len() < inner.config.store.max_records
                || published.contains_key(&local.key)
            {
                published.insert(local.key.clone(), local);
            }
        }
        inner.put_to_closest(record, quorum).await
    }

    /// Announces the local node as a provider of `key` to the k closest peers (and
    /// keeps announcing it). Returns how many peers were told.
    pub async fn start_providing(&self, key: impl Into<Bytes>) -> Result<usize, KadError> {
        let key = key.into();
        {
            let mut provided = lock(&self.inner.provided);
            if provided.len() >= self.inner.config.store.max_provider_keys
                && !provided.contains(&key)
            {
                return Err(crate::StoreError::ProviderKeysFull.into());
            }
            provided.insert(key.clone());
        }
        self.inner.provide(key).await
    }

    /// Stops announcing `key` (records at other peers lapse by themselves).
    pub fn stop_providing(&self, key: &[u8]) {
        lock(&self.inner.provided).remove(key);
        lock(&self.inner.state)
            .store
            .remove_provider(key, &self.inner.local);
    }

    /// Providers of `key`: those the local store knows and those the closest peers
    /// return, up to k.
    pub async fn get_providers(&self, key: impl Into<Bytes>) -> Result<Vec<PeerInfo>, KadError> {
        self.inner.get_providers(key.into()).await
    }

    /// Stops the node: its tasks end and the protocol handler is removed.
    pub async fn close(&self) {
        self.inner.tasks.stop().await;
    }
}

impl std::fmt::Debug for Kademlia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kademlia")
            .field("local", &self.inner.local)
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn set_server(self: &Arc<Self>, server: bool) {
        if server && self.tasks.is_cancelled() {
            return;
        }
        let was = self.server.swap(server, Ordering::AcqRel);
        if was == server {
            return;
        }
        if server {
            let weak = Arc::downgrade(self);
            self.network.set_stream_handler(
                self.config.protocol.clone(),
                stream_handler(move |stream| {
                    let weak = weak.clone();
                    async move {
                        if let Some(inner) = weak.upgrade() {
                            inner.serve(stream).await;
                        }
                    }
                }),
            );
            debug!("kad: server mode");
        } else {
            self.network.remove_stream_handler(&self.config.protocol);
            debug!("kad: client mode");
        }
    }

    fn is_server(&self) -> bool {
        self.server.load(Ordering::Acquire)
    }

    /// Spawns `fut` as a task that ends when the node stops.
    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        drop(self.tasks.spawn(fut));
    }

    async fn run(self: Arc<Self>, mut events: futures::stream::BoxStream<'static, NetworkEvent>) {
        let period = MAINTENANCE_INTERVAL
            .min(self.config.republish_interval / 2)
            .min(self.config.reprovide_interval / 2)
            .max(Duration::from_millis(100));
        let mut maintenance = tokio::time::interval(period);
        let start = tokio::time::Instant::now();
        let mut bootstrap = self
            .config
            .bootstrap_interval
            .map(|i| tokio::time::interval_at(start + i, i));
        let mut last_republish = Instant::now();
        let mut last_reprovide = Instant::now();
        let mut bootstrapped = false;
        loop {
            tokio::select! {
                _ = self.tasks.cancelled() => break,
                event = events.next() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                // The first bootstrap, once the table has a peer; not for a node told to
                // bootstrap only when asked (a one-shot client must not leave lookups
                // running when it closes).
                _ = self.kick.notified(), if !bootstrapped && self.config.bootstrap_interval.is_some() => {
                    bootstrapped = true;
                    let me = self.clone();
                    self.spawn(async move {
                        if let Err(e) = me.bootstrap().await {
                            debug!("kad: first bootstrap failed: {e}");
                        }
                    });
                }
                _ = async { bootstrap.as_mut().expect("guarded").tick().await }, if bootstrap.is_some() => {
                    let me = self.clone();
                    self.spawn(async move {
                        if let Err(e) = me.bootstrap().await {
                            debug!("kad: periodic bootstrap failed: {e}");
                        }
                    });
                }
                _ = maintenance.tick() => {
                    let now = Instant::now();
                    let dropped = lock(&self.state).store.remove_expired(now);
                    if dropped > 0 {
                        trace!("kad: {dropped} expired records dropped");
                    }
                    if now.duration_since(last_republish) >= self.config.republish_interval {
                        last_republish = now;
                        self.republish();
                    }
                    if now.duration_since(last_reprovide) >= self.config.reprovide_interval {
                        last_reprovide = now;
                        self.reprovide();
                    }
                }
            }
        }
        if self.server.swap(false, Ordering::AcqRel) {
            self.network.remove_stream_handler(&self.config.protocol);
        }
    }

    fn on_event(self: &Arc<Self>, event: NetworkEvent) {
        match event {
            NetworkEvent::Identified {
                peer,
                protocols,
                listen_addrs,
                ..
            } => {
                if protocols.iter().any(|p| p == self.config.protocol.as_str()) {
                    self.insert_peer(peer, listen_addrs);
                } else if lock(&self.state).table.remove(&peer).is_some() {
                    debug!(%peer, "kad: peer stopped serving the DHT; removed");
                }
            }
            NetworkEvent::ExternalAddrCandidate(addr)
                if !self.forced.load(Ordering::Acquire) && !self.is_server() =>
            {
                debug!(%addr, "kad: external address found; switching to server mode");
                self.set_server(true);
            }
            _ => {}
        }
    }

    /// Puts a peer known to serve the DHT in the table; probes the oldest entry of a
    /// full bucket.
    fn insert_peer(self: &Arc<Self>, peer: PeerId, addrs: Vec<Multiaddr>) {
        let (outcome, was_empty) = {
            let mut state = lock(&self.state);
            let was_empty = state.table.is_empty();
            (state.table.insert(peer, addrs, Instant::now()), was_empty)
        };
        match outcome {
            InsertOutcome::Inserted => {
                trace!(%peer, "kad: routing table entry added");
                if was_empty {
                    self.kick.notify_one();
                }
            }
            InsertOutcome::Pending { probe } => {
                let me = self.clone();
                self.spawn(async move {
                    let request = Request::FindNode {
                        key: Bytes::copy_from_slice(me.local.as_bytes()),
                    };
                    let alive = me.request(probe, &request).await.is_ok();
                    trace!(%probe, alive, "kad: probed the oldest entry of a full bucket");
                    lock(&me.state)
                        .table
                        .probe_result(&probe, alive, Instant::now());
                });
            }
            InsertOutcome::Updated | InsertOutcome::Rejected => {}
        }
    }

    /// One request to one peer on a fresh stream.
    async fn request(&self, peer: PeerId, request: &Request) -> Result<Option<Response>, KadError> {
        let limit = self.config.request_timeout * 2;
        let exchange = async {
            let mut stream = self
                .network
                .new_stream(peer, std::slice::from_ref(&self.config.protocol))
                .await?;
            write_message(&mut stream.io, &encode_request(request)).await?;
            if !request.expects_response() {
                stream.io.shutdown().await?;
                // The message is sent. Keep the stream until the receiver closes it, so
                // it is read before the stream goes away; but in the background, since
                // a receiver may be slow to close (rust-libp2p over mplex queues its
                // close without flushing it), and that is no failure of the request.
                self.spawn(async move {
                    let mut sink = [0u8; 64];
                    let _ = tokio::time::timeout(ADD_PROVIDER_LINGER, async {
                        use tokio::io::AsyncReadExt;
                        while matches!(stream.io.read(&mut sink).await, Ok(n) if n > 0) {}
                    })
                    .await;
                });
                return Ok(None);
            }
            let bytes = read_message(&mut stream.io, self.config.max_message_size)
                .await?
                .ok_or(KadError::NoResponse)?;
            let response = decode_response(&bytes)?;
            if response.message_type() != request.message_type() {
                return Err(KadError::UnexpectedResponse {
                    expected: request.message_type().as_str(),
                    got: response.message_type().as_str().to_string(),
                });
            }
            let _ = stream.io.shutdown().await;
            Ok(Some(response))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| KadError::Timeout(limit))?
    }

    /// Serves one inbound stream: several requests, each answered in turn.
    async fn serve(self: Arc<Self>, mut stream: NegotiatedStream) {
        let from = stream.peer;
        for _ in 0..MAX_REQUESTS_PER_STREAM {
            let read = read_message(&mut stream.io, self.config.max_message_size);
            let read = async {
                tokio::select! {
                    read = tokio::time::timeout(INBOUND_IDLE_TIMEOUT, read) => Some(read),
                    _ = self.tasks.cancelled() => None,
                }
            };
            let bytes = match read.await {
                None => return,
                Some(Ok(Ok(Some(bytes)))) => bytes,
                Some(Ok(Ok(None)) | Err(_)) => break,
                Some(Ok(Err(e))) => {
                    debug!(%from, "kad: bad inbound message: {e}");
                    return;
                }
            };
            let request = match decode_request(&bytes) {
                Ok(request) => request,
                Err(e) => {
                    debug!(%from, "kad: undecodable request: {e}");
                    return;
                }
            };
            if !self.is_server() {
                return;
            }
            trace!(%from, kind = request.message_type().as_str(), "kad: inbound request");
            let answer = {
                let mut state = lock(&self.state);
                let now = Instant::now();
                if state.table.contains(&from) {
                    state.table.insert(from, Vec::new(), now);
                }
                state.handle_request(from, request, now)
            };
            match answer {
                Ok(Some(mut response)) => {
                    self.fill_addrs(&mut response);
                    if let Err(e) = write_message(&mut stream.io, &encode_response(&response)).await
                    {
                        debug!(%from, "kad: answer failed: {e}");
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    debug!(%from, "kad: request refused: {e}");
                    return;
                }
            }
        }
        let _ = stream.io.shutdown().await;
    }

    /// Gives peers listed without addresses the ones the network knows.
    fn fill_addrs(&self, response: &mut Response) {
        let lists: Vec<&mut Vec<PeerInfo>> = match response {
            Response::FindNode { closer_peers } | Response::GetValue { closer_peers, .. } => {
                vec![closer_peers]
            }
            Response::GetProviders {
                providers,
                closer_peers,
            } => vec![providers, closer_peers],
            Response::PutValue { .. } | Response::Ping => vec![],
        };
        for list in lists {
            for peer in list.iter_mut().filter(|p| p.addrs.is_empty()) {
                peer.addrs = self.network.addrs_of(&peer.id);
                peer.addrs.truncate(crate::MAX_ADDRS_PER_PEER);
            }
        }
    }

    fn seeds(&self, target: &Key) -> Vec<PeerId> {
        lock(&self.state)
            .table
            .closest(target, self.config.k)
            .into_iter()
            .map(|e| e.peer)
            .collect()
    }

    /// Drives `lookup` with `request` until it ends or the query times out. Each answer
    /// teaches addresses and table entries, then goes to `on_response` (which may end
    /// the lookup early).
    async fn drive<Q: HasLookup>(
        self: &Arc<Self>,
        query: &mut Q,
        request: &Request,
        mut on_response: impl FnMut(&mut Q, PeerId, &Response),
    ) -> Result<(), KadError> {
        let deadline = tokio::time::Instant::now() + self.config.query_timeout;
        let mut in_flight = FuturesUnordered::new();
        loop {
            if self.tasks.is_cancelled() {
                return Err(KadError::Closed);
            }
            match query.lookup_mut().poll(Instant::now()) {
                LookupPoll::Finished => return Ok(()),
                LookupPoll::Send(peers) => {
                    for peer in peers {
                        let me = self.clone();
                        let request = request.clone();
                        in_flight.push(async move { (peer, me.request(peer, &request).await) });
                    }
                }
            }
            let wake = query
                .lookup()
                .next_deadline()
                .map(tokio::time::Instant::from_std)
                .unwrap_or(deadline)
                .min(deadline);
            tokio::select! {
                Some((peer, result)) = in_flight.next() => match result {
                    Ok(Some(response)) => {
                        let closer = self.learn(peer, &response);
                        query.lookup_mut().on_success(&peer, closer);
                        on_response(query, peer, &response);
                    }
                    Ok(None) => query.lookup_mut().on_success(&peer, []),
                    Err(e) => {
                        trace!(%peer, "kad: request failed: {e}");
                        query.lookup_mut().on_failure(&peer);
                        lock(&self.state).table.remove(&peer);
                    }
                },
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= deadline {
                        debug!("kad: query timed out after {:?}", self.config.query_timeout);
                        query.lookup_mut().finish();
                        return Ok(());
                    }
                }
                _ = self.tasks.cancelled() => return Err(KadError::Closed),
            }
        }
    }

    /// Records what an answer teaches: the responder serves the DHT, the peers it lists
    /// have addresses. Returns the ids it lists as closer.
    fn learn(self: &Arc<Self>, from: PeerId, response: &Response) -> Vec<PeerId> {
        let closer: &[PeerInfo] = match response {
            Response::FindNode { closer_peers }
            | Response::GetValue { closer_peers, .. }
            | Response::GetProviders { closer_peers, .. } => closer_peers,
            Response::PutValue { .. } | Response::Ping => &[],
        };
        for peer in closer
            .iter()
            .filter(|p| !p.addrs.is_empty() && p.id != self.local)
        {
            self.network.add_addrs(peer.id, peer.addrs.clone());
        }
        let addrs = self.network.addrs_of(&from);
        self.insert_peer(from, addrs);
        closer
            .iter()
            .map(|p| p.id)
            .filter(|p| *p != self.local)
            .collect()
    }

    async fn closest_peers(
        self: &Arc<Self>,
        target: Key,
    ) -> Result<(Vec<PeerInfo>, LookupStats), KadError> {
        let seeds = self.seeds(&target);
        if seeds.is_empty() {
            return Err(KadError::NoKnownPeers);
        }
        let request = Request::FindNode {
            key: target.preimage().clone(),
        };
        let mut lookup = Lookup::new(target, seeds, self.config.lookup());
        self.drive(&mut lookup, &request, |_, _, _| {}).await?;
        let peers = lookup
            .closest_succeeded()
            .into_iter()
            .map(|p| PeerInfo::new(p, self.network.addrs_of(&p)))
            .collect();
        Ok((peers, lookup.stats()))
    }

    async fn bootstrap(self: &Arc<Self>) -> Result<usize, KadError> {
        let mut refresh = Refresh::new(&self.local);
        self.closest_peers(refresh.first()).await?;
        // Finding keys in deep buckets costs many hashes: do it on a copy of the table,
        // off the async threads, without holding the state.
        let table = lock(&self.state).table.clone();
        let mut rng =
            StdRng::from_rng(&mut *lock(&self.rng)).map_err(|e| KadError::Io(e.into()))?;
        let mut targets = Some(
            tokio::task::spawn_blocking(move || Refresh::bucket_targets(&table, &mut rng))
                .await
                .unwrap_or_default(),
        );
        while let Some(target) = refresh.next(|| targets.take().unwrap_or_default()) {
            if let Err(e) = self.closest_peers(target).await {
                debug!("kad: refresh lookup failed: {e}");
            }
        }
        let size = lock(&self.state).table.len();
        debug!(size, "kad: bootstrap done");
        Ok(size)
    }

    async fn get_record(
        self: &Arc<Self>,
        key: Bytes,
        quorum: Quorum,
    ) -> Result<GetRecordOk, KadError> {
        let local = lock(&self.state)
            .store
            .get(&key, Instant::now())
            .map(|r| (self.local, Record::new(r.key.clone(), r.value.clone())));
        let seeds = self.seeds(&Key::new(key.clone()));
        if seeds.is_empty() && local.is_none() {
            return Err(KadError::NoKnownPeers);
        }
        let needed = quorum.count(self.config.k);
        let mut get = GetQuery::new(key.clone(), needed, local, seeds, self.config.lookup());
        let validators = lock(&self.state).validators.clone();
        if !get.has_quorum() {
            let request = Request::GetValue { key };
            self.drive(&mut get, &request, |get, peer, response| {
                if let Response::GetValue { record, .. } = response {
                    get.on_answer(peer, record.as_ref(), &validators);
                }
            })
            .await?;
        }
        let outcome = get.outcome(&validators, self.local, self.config.k)?;
        if !outcome.correct.is_empty() {
            let me = self.clone();
            let put = Request::PutValue {
                record: outcome.record.clone(),
            };
            let correct = outcome.correct.clone();
            self.spawn(async move {
                join_all(correct.into_iter().map(|p| {
                    let me = me.clone();
                    let put = put.clone();
                    async move { me.request(p, &put).await }
                }))
                .await;
            });
        }
        Ok(GetRecordOk {
            record: outcome.record,
            peers: outcome.peers,
            stats: outcome.stats,
        })
    }

    async fn put_to_closest(
        self: &Arc<Self>,
        record: Record,
        quorum: Quorum,
    ) -> Result<PutRecordOk, KadError> {
        let target = Key::new(record.key.clone());
        let seeds = self.seeds(&target);
        if seeds.is_empty() {
            return Err(KadError::NoKnownPeers);
        }
        let mut put = PutQuery::new(
            record,
            quorum.count(self.config.k),
            seeds,
            self.config.lookup(),
        );
        let find = Request::FindNode {
            key: target.preimage().clone(),
        };
        self.drive(&mut put, &find, |_, _, _| {}).await?;
        let request = Request::PutValue {
            record: put.record().clone(),
        };
        let round = put.store_round();
        let results = join_all(round.iter().map(|p| self.request(*p, &request))).await;
        for result in &results {
            let echo = match result {
                Ok(Some(Response::PutValue { record })) => Some(record),
                _ => None,
            };
            put.on_stored(echo);
        }
        debug!(stored = put.stored(), targets = round.len(), "kad: put");
        let stored = put.outcome()?;
        Ok(PutRecordOk {
            stored,
            stats: put.stats(),
        })
    }

    fn republish(self: &Arc<Self>) {
        let records: Vec<Record> = lock(&self.published).values().cloned().collect();
        self.spawn_bounded(records, "republish", |me, record| async move {
            me.put_to_closest(record, me.config.quorum)
                .await
                .map(|_| ())
        });
    }

    fn reprovide(self: &Arc<Self>) {
        let keys: Vec<Bytes> = lock(&self.provided).iter().cloned().collect();
        self.spawn_bounded(keys, "reprovide", |me, key| async move {
            me.provide(key).await.map(|_| ())
        });
    }

    /// Runs `job` on every item in one task, at most [`MAX_CONCURRENT_REPUBLISH`] at once.
    fn spawn_bounded<T, F, Fut>(self: &Arc<Self>, items: Vec<T>, what: &'static str, job: F)
    where
        T: Send + 'static,
        F: Fn(Arc<Self>, T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), KadError>> + Send,
    {
        let me = self.clone();
        self.spawn(async move {
            futures::stream::iter(items)
                .for_each_concurrent(MAX_CONCURRENT_REPUBLISH, |item| {
                    let fut = job(me.clone(), item);
                    async move {
                        if let Err(e) = fut.await {
                            debug!("kad: {what} failed: {e}");
                        }
                    }
                })
                .await;
        });
    }

    async fn provide(self: &Arc<Self>, key: Bytes) -> Result<usize, KadError> {
        let addrs = self.network.listen_addrs();
        let now = Instant::now();
        let ttl = self.config.store.provider_ttl;
        lock(&self.state).store.add_provider(
            ProviderRecord {
                key: key.clone(),
                provider: self.local,
                addrs: addrs.clone(),
                expires: now + ttl,
            },
            now,
        )?;
        let (closest, _) = self.closest_peers(Key::new(key.clone())).await?;
        let request = Request::AddProvider {
            key,
            providers: vec![PeerInfo::new(self.local, addrs)],
        };
        let results = join_all(closest.iter().map(|p| self.request(p.id, &request))).await;
        Ok(results.iter().filter(|r| r.is_ok()).count())
    }

    async fn get_providers(self: &Arc<Self>, key: Bytes) -> Result<Vec<PeerInfo>, KadError> {
        let now = Instant::now();
        let mut providers: Vec<PeerInfo> = lock(&self.state)
            .store
            .providers(&key, now)
            .into_iter()
            .map(|p| PeerInfo::new(p.provider, p.addrs))
            .collect();
        let target = Key::new(key.clone());
        let seeds = self.seeds(&target);
        if seeds.is_empty() {
            return if providers.is_empty() {
                Err(KadError::NoKnownPeers)
            } else {
                Ok(providers)
            };
        }
        let wanted = self.config.k;
        let request = Request::GetProviders { key };
        let mut lookup = Lookup::new(target, seeds, self.config.lookup());
        let network = self.network.clone();
        self.drive(&mut lookup, &request, |lookup, _, response| {
            let Response::GetProviders {
                providers: found, ..
            } = response
            else {
                return;
            };
            for p in found {
                if providers.iter().any(|known| known.id == p.id) {
                    continue;
                }
                if !p.addrs.is_empty() {
                    network.add_addrs(p.id, p.addrs.clone());
                }
                providers.push(p.clone());
            }
            if providers.len() >= wanted {
                lookup.finish();
            }
        })
        .await?;
        providers.truncate(wanted);
        Ok(providers)
    }
}
