//! [`Host`] and [`HostBuilder`].

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use futures::stream::BoxStream;
use mycel_core::{
    BoxedTransport, Keypair, Multiaddr, MuxerUpgrade, NegotiatedStream, Network, NetworkError,
    NetworkEvent, PeerId, ProtocolId, SecureUpgrade, SecuredTransport, StreamHandler, Transport,
    TransportExt, addr::split_peer_id, record::PeerRecordFormat,
};
use mycel_switch::{
    DialError, ListenError, PeerConnection, StopOnDrop, Switch, SwitchConfig, Upgrader,
};
use thiserror::Error;

use mycel_identify::{IdentifyError, Info};

use crate::{
    identify::{Identify, IdentifyConfig},
    peer_store::{DEFAULT_MAX_PEERS, PeerRecord, PeerStore, Upkeep},
};

/// Builds the security protocol once the keypair and muxers are known: it gets our
/// keypair and the muxers' ids in order of preference (for protocols, like Noise, that
/// can agree on a muxer inside their handshake).
pub type SecurityFactory =
    Box<dyn FnOnce(&Keypair, &[ProtocolId]) -> Arc<dyn SecureUpgrade> + Send>;

/// Why [`HostBuilder::build`] failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No transport was added.
    #[error("no transport configured")]
    NoTransport,
    /// No security protocol was set.
    #[error("no security protocol configured")]
    NoSecurity,
    /// No muxer was added.
    #[error("no stream muxer configured")]
    NoMuxer,
    /// Listening on one of the addresses failed.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address asked for.
        addr: Multiaddr,
        /// What went wrong.
        error: ListenError,
    },
}

/// Configures and starts a [`Host`].
///
/// ```no_run
/// # async fn run() -> Result<(), mycel_host::BuildError> {
/// use std::sync::Arc;
/// use mycel_host::Host;
///
/// let host = Host::builder()
///     .with_transport(mycel_tcp::TcpTransport::default())
///     .with_security(|keypair, muxers| {
///         Arc::new(mycel_noise::Config::new(keypair.clone()).with_muxers(muxers.to_vec()))
///     })
///     .with_muxer(mycel_yamux::Config::default())
///     .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
///     .build()
///     .await?;
/// println!("{} listening on {:?}", host.peer_id(), host.listen_addrs());
/// # Ok(()) }
/// ```
pub struct HostBuilder {
    keypair: Option<Keypair>,
    transports: Vec<BoxedTransport>,
    secured: Vec<Arc<dyn SecuredTransport>>,
    security: Option<SecurityFactory>,
    muxers: Vec<Arc<dyn MuxerUpgrade>>,
    listen: Vec<Multiaddr>,
    config: SwitchConfig,
    max_peers: usize,
    agent_version: String,
    protocol_version: String,
    serve_ping: bool,
    peer_record_format: Option<PeerRecordFormat>,
}

impl Default for HostBuilder {
    fn default() -> Self {
        Self {
            keypair: None,
            transports: Vec::new(),
            secured: Vec::new(),
            security: None,
            muxers: Vec::new(),
            listen: Vec::new(),
            config: SwitchConfig::default(),
            max_peers: DEFAULT_MAX_PEERS,
            agent_version: mycel_identify::AGENT_VERSION.to_string(),
            protocol_version: mycel_identify::PROTOCOL_VERSION.to_string(),
            serve_ping: true,
            peer_record_format: Some(PeerRecordFormat::Standard),
        }
    }
}

impl fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostBuilder")
            .field("transports", &self.transports.len())
            .field("muxers", &self.muxers.len())
            .field("listen", &self.listen)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HostBuilder {
    /// An empty builder: add transports, security and muxers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `keypair` as the identity (default: a fresh ed25519 key).
    pub fn with_keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = Some(keypair);
        self
    }

    /// Adds a transport; a dial uses the first that supports the address.
    pub fn with_transport<T: Transport>(mut self, transport: T) -> Self {
        self.transports.push(transport.boxed());
        self
    }

    /// Adds a transport whose connections arrive secured and multiplexed (QUIC); for the
    /// addresses it supports it is used instead of a byte-stream transport.
    pub fn with_secured_transport<T: SecuredTransport>(mut self, transport: T) -> Self {
        self.secured.push(Arc::new(transport));
        self
    }

    /// Sets the security protocol, built from the keypair and the muxers' ids.
    pub fn with_security<F, S>(mut self, factory: F) -> Self
    where
        F: FnOnce(&Keypair, &[ProtocolId]) -> Arc<S> + Send + 'static,
        S: SecureUpgrade,
    {
        self.security = Some(Box::new(move |keypair: &Keypair, muxers: &[ProtocolId]| {
            factory(keypair, muxers) as Arc<dyn SecureUpgrade>
        }));
        self
    }

    /// Adds a muxer; earlier ones are preferred.
    pub fn with_muxer<M: MuxerUpgrade>(mut self, muxer: M) -> Self {
        self.muxers.push(Arc::new(muxer));
        self
    }

    /// Listens on `addr` once built (port 0 picks a free port).
    pub fn listen_on(mut self, addr: Multiaddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Sets timeouts and connection limits.
    pub fn with_config(mut self, config: SwitchConfig) -> Self {
        self.config = config;
        self
    }

    /// The agent version identify announces (default `mycel/<version>`).
    pub fn with_agent_version(mut self, agent_version: impl Into<String>) -> Self {
        self.agent_version = agent_version.into();
        self
    }

    /// The protocol version identify announces (default `ipfs/0.1.0`).
    pub fn with_protocol_version(mut self, protocol_version: impl Into<String>) -> Self {
        self.protocol_version = protocol_version.into();
        self
    }

    /// Whether the host answers `/ipfs/ping/1.0.0` (default: yes).
    ///
    /// go-libp2p and rust-libp2p serve ping on every host, and rely on it: rust-libp2p's
    /// ping handler stops serving a connection once its own ping there was refused, so a
    /// host that refuses ping may never get an answer to its own. Turn it off only for a
    /// host that must not reveal it is alive.
    pub fn with_ping(mut self, serve: bool) -> Self {
        self.serve_ping = serve;
        self
    }

    /// Whether identify carries a record of our addresses that we signed, and in which
    /// format (default: [`PeerRecordFormat::Standard`], which go-libp2p and js-libp2p
    /// check; rust-libp2p's identify checks only [`PeerRecordFormat::Legacy`]). `None`
    /// sends none. Records peers send are checked whatever this says.
    pub fn with_signed_peer_record(mut self, format: Option<PeerRecordFormat>) -> Self {
        self.peer_record_format = format;
        self
    }

    /// Bounds the peer store (default [`DEFAULT_MAX_PEERS`]).
    pub fn with_max_peers(mut self, max_peers: usize) -> Self {
        self.max_peers = max_peers;
        self
    }

    /// Starts the host: it listens on every address given, or fails (and stops
    /// whatever had started) if one cannot be used. Must run inside a tokio runtime.
    pub async fn build(self) -> Result<Host, BuildError> {
        if self.transports.is_empty() && self.secured.is_empty() {
            return Err(BuildError::NoTransport);
        }
        if self.muxers.is_empty() {
            return Err(BuildError::NoMuxer);
        }
        let factory = self.security.ok_or(BuildError::NoSecurity)?;
        let keypair = self.keypair.unwrap_or_else(Keypair::generate);
        let muxer_ids: Vec<_> = self.muxers.iter().map(|m| m.protocol()).collect();
        let security = factory(&keypair, &muxer_ids);
        let switch = Switch::with_secured_transports(
            keypair.public().to_peer_id(),
            self.transports,
            self.secured,
            Upgrader::new(security, self.muxers),
            self.config,
        );
        let stop = Arc::new(switch.stop_on_drop());
        let peer_store = Upkeep::start(PeerStore::new(self.max_peers), &switch);
        let identify = Identify::start(
            &switch,
            keypair.clone(),
            IdentifyConfig {
                agent_version: self.agent_version,
                protocol_version: self.protocol_version,
                peer_record_format: self.peer_record_format,
            },
            peer_store.learned(),
        );
        let host = Host {
            _stop: Some(stop),
            inner: Arc::new(Inner {
                keypair,
                switch,
                peer_store,
                identify,
            }),
        };
        if self.serve_ping {
            host.inner
                .switch
                .set_stream_handler(mycel_ping::PROTOCOL_ID, mycel_ping::handler());
        }
        for addr in self.listen {
            if let Err(error) = host.switch().listen(&addr).await {
                host.close().await;
                return Err(BuildError::Listen { addr, error });
            }
        }
        tracing::info!(peer = %host.peer_id(), "host started");
        Ok(host)
    }
}

struct Inner {
    keypair: Keypair,
    switch: Switch,
    peer_store: Upkeep,
    identify: Identify,
}

/// A libp2p node: listens, dials, keeps connections and addresses, opens and serves
/// streams. Cheap to clone; all clones are one host.
///
/// Protocols take it as a [`Network`]. [`Host::close`] stops everything it started.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
    /// Set on the handles users hold: the last one dropped stops the host. The host's
    /// own tasks use handles without it, so they cannot keep it alive.
    _stop: Option<Arc<StopOnDrop>>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("peer_id", &self.peer_id())
            .finish_non_exhaustive()
    }
}

impl Host {
    /// A builder.
    pub fn builder() -> HostBuilder {
        HostBuilder::new()
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.switch.local_peer_id()
    }

    /// Our identity.
    pub fn keypair(&self) -> &Keypair {
        &self.inner.keypair
    }

    /// The addresses we listen on.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.inner.switch.listen_addrs()
    }

    /// Listens on one more address; returns it with the port resolved.
    pub async fn listen_on(&self, addr: &Multiaddr) -> Result<Multiaddr, ListenError> {
        // Connected peers hear of it by identify push (the host follows its events).
        self.inner.switch.listen(addr).await
    }

    /// Connects to `addr`. With a `/p2p/<id>` suffix the remote must be that peer (and
    /// the address is remembered for it); returns the remote's peer id.
    pub async fn connect(&self, addr: &Multiaddr) -> Result<PeerId, DialError> {
        let conn = self.inner.switch.dial_addr(addr).await?;
        if let Ok((base, Some(_))) = split_peer_id(addr) {
            self.with_peer_store(|store| store.add_addrs(conn.peer(), [base]));
        }
        Ok(conn.peer())
    }

    /// Connects to `peer` at the addresses in the peer store, unless connected.
    pub async fn connect_peer(&self, peer: PeerId) -> Result<PeerConnection, DialError> {
        if let Some(conn) = self.inner.switch.connection(&peer) {
            return Ok(conn);
        }
        let addrs = self.addrs_of(&peer);
        self.inner.switch.dial_peer(peer, addrs).await
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: &PeerId) {
        self.inner.switch.disconnect(peer).await;
    }

    /// Asks `peer` (connected) who it is, now: the answer is also stored and published
    /// as [`NetworkEvent::Identified`]. The host already does this on every new
    /// connection; this is for a fresh answer.
    pub async fn identify(&self, peer: PeerId) -> Result<Info, IdentifyError> {
        let conn = self
            .inner
            .switch
            .connection(&peer)
            .ok_or(NetworkError::NotConnected(peer))?;
        self.inner.identify.identify_on(&conn).await
    }

    /// Addresses several peers report seeing us at (see
    /// [`NetworkEvent::ExternalAddrCandidate`]): candidates, not confirmed reachable.
    pub fn external_addr_candidates(&self) -> Vec<Multiaddr> {
        self.inner.identify.external_addr_candidates()
    }

    /// Everything the peer store knows of `peer`.
    pub fn peer_record(&self, peer: &PeerId) -> Option<PeerRecord> {
        self.with_peer_store(|store| store.record(peer))
    }

    /// The addresses known for `peer`.
    pub fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.with_peer_store(|store| store.addrs(peer))
    }

    /// Runs `f` on the peer store. Keep it short, and do not call the host from inside
    /// (the store is locked meanwhile).
    pub fn with_peer_store<T>(&self, f: impl FnOnce(&mut PeerStore) -> T) -> T {
        f(&mut self.inner.peer_store.lock())
    }

    /// The switch underneath, for what the host does not wrap.
    pub fn switch(&self) -> &Switch {
        &self.inner.switch
    }

    /// The protocols we serve.
    pub fn protocols(&self) -> Vec<ProtocolId> {
        self.inner.switch.protocols()
    }

    /// Shuts down: listeners, then connections, then every task the host started;
    /// returns when they have all ended.
    pub async fn close(&self) {
        self.inner.switch.close().await;
    }
}

#[async_trait]
impl Network for Host {
    fn local_peer_id(&self) -> PeerId {
        self.peer_id()
    }

    async fn new_stream(
        &self,
        peer: PeerId,
        protocols: &[ProtocolId],
    ) -> Result<NegotiatedStream, NetworkError> {
        let conn = self
            .connect_peer(peer)
            .await
            .map_err(|e| e.into_network_error(peer))?;
        match self.inner.switch.open_stream_on(&conn, protocols).await {
            // The connection was on its way out (the remote said goodbye): the pool now
            // looks past it, so one more try dials afresh.
            Err(NetworkError::ConnectionClosed(_)) => {
                let conn = self
                    .connect_peer(peer)
                    .await
                    .map_err(|e| e.into_network_error(peer))?;
                self.inner.switch.open_stream_on(&conn, protocols).await
            }
            other => other,
        }
    }

    fn set_stream_handler(&self, protocol: ProtocolId, handler: StreamHandler) {
        self.inner.switch.set_stream_handler(protocol, handler);
        self.inner.identify.push();
    }

    fn remove_stream_handler(&self, protocol: &ProtocolId) {
        self.inner.switch.remove_stream_handler(protocol);
        self.inner.identify.push();
    }

    fn connected_peers(&self) -> Vec<PeerId> {
        self.inner.switch.connected_peers()
    }

    fn add_addrs(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.with_peer_store(|store| store.add_addrs(peer, addrs));
    }

    fn listen_addrs(&self) -> Vec<Multiaddr> {
        Host::listen_addrs(self)
    }

    fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        Host::addrs_of(self, peer)
    }

    fn record_latency(&self, peer: PeerId, rtt: std::time::Duration) {
        self.with_peer_store(|store| store.record_latency(peer, rtt));
    }

    fn events(&self) -> BoxStream<'static, NetworkEvent> {
        self.inner.switch.events()
    }
}
