//! Connections that arrive secured and multiplexed (as QUIC's do): a `SecuredTransport`
//! made here of the memory transport, Noise and yamux, run entirely inside the
//! transport, with no upgrade by the switch. The switch pools them, limits them, serves
//! their streams and prefers them for the addresses they support.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;
use mycel_core::{
    BoxedIo, Direction, Keypair, Listener, Multiaddr, MuxerUpgrade, NetworkEvent, PeerId,
    PendingSecured, ProtocolId, Role, SecureUpgrade, SecuredConnection, SecuredListener,
    SecuredTransport, Transport, TransportError, TransportExt, addr::with_peer_id, stream_handler,
};
use mycel_memory::{MemoryHub, MemoryListener, MemoryTransport};
use mycel_switch::{ConnectError, DialError, Switch, SwitchConfig, Upgrader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO: ProtocolId = ProtocolId::from_static("/test/echo/1.0.0");
/// What the secured connections name as their muxer.
const SECURED_MUXER: ProtocolId = ProtocolId::from_static("/test/secured-memory");

/// Memory connections secured with Noise and multiplexed with yamux by the transport
/// itself.
#[derive(Clone)]
struct SecuredMemory {
    memory: MemoryTransport,
    noise: Arc<mycel_noise::Config>,
}

/// Noise, then yamux, on a memory connection: as the dialer (`Role::Initiator`, the
/// remote checked against `peer` if given) or the listener.
async fn handshake(
    noise: Arc<mycel_noise::Config>,
    io: BoxedIo,
    role: Role,
    peer: Option<PeerId>,
    local_addr: Multiaddr,
    remote_addr: Multiaddr,
) -> Result<SecuredConnection, TransportError> {
    let secured = match role {
        Role::Initiator => noise.secure_outbound(io, peer).await,
        Role::Responder => noise.secure_inbound(io).await,
    };
    let secured = secured.map_err(|e| TransportError::Handshake(e.to_string()))?;
    let muxer = mycel_yamux::Config::default().upgrade(secured.io, role);
    Ok(SecuredConnection {
        remote_peer: secured.remote_peer,
        remote_key: secured.remote_key,
        muxer_protocol: SECURED_MUXER,
        muxer,
        local_addr,
        remote_addr,
    })
}

#[async_trait]
impl SecuredTransport for SecuredMemory {
    fn supports(&self, addr: &Multiaddr) -> bool {
        self.memory.supports(addr)
    }

    async fn dial(
        &self,
        addr: &Multiaddr,
        peer: Option<PeerId>,
    ) -> Result<SecuredConnection, TransportError> {
        let conn = self.memory.dial(addr).await?;
        handshake(
            self.noise.clone(),
            Box::new(conn.io),
            Role::Initiator,
            peer,
            conn.local_addr,
            conn.remote_addr,
        )
        .await
    }

    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn SecuredListener>, TransportError> {
        Ok(Box::new(SecuredMemoryListener {
            listener: self.memory.listen(addr).await?,
            noise: self.noise.clone(),
        }))
    }
}

struct SecuredMemoryListener {
    listener: MemoryListener,
    noise: Arc<mycel_noise::Config>,
}

#[async_trait]
impl SecuredListener for SecuredMemoryListener {
    fn local_addr(&self) -> Multiaddr {
        self.listener.local_addr()
    }

    async fn accept(&mut self) -> Result<PendingSecured, TransportError> {
        let conn = self.listener.accept().await?;
        let remote_addr = conn.remote_addr.clone();
        let noise = self.noise.clone();
        Ok(PendingSecured {
            remote_addr,
            handshake: Box::pin(handshake(
                noise,
                Box::new(conn.io),
                Role::Responder,
                None,
                conn.local_addr,
                conn.remote_addr,
            )),
        })
    }
}

/// A switch whose only transport for `/memory` addresses is the secured one (a
/// byte-stream memory transport is there too: the secured one must win).
async fn node(hub: &MemoryHub, config: SwitchConfig) -> (Switch, Multiaddr) {
    let keypair = Keypair::generate();
    let secured = SecuredMemory {
        memory: MemoryTransport::with_hub(hub.clone()),
        noise: Arc::new(mycel_noise::Config::new(keypair.clone())),
    };
    let yamux: Arc<dyn MuxerUpgrade> = Arc::new(mycel_yamux::Config::default());
    let switch = Switch::with_secured_transports(
        keypair.peer_id(),
        vec![MemoryTransport::with_hub(hub.clone()).boxed()],
        vec![Arc::new(secured)],
        Upgrader::new(
            Arc::new(mycel_noise::Config::new(keypair.clone())),
            vec![yamux],
        ),
        config,
    );
    switch.set_stream_handler(
        ECHO,
        stream_handler(|mut s| async move {
            let mut buf = vec![0; 1024];
            while let Ok(n) = s.io.read(&mut buf).await {
                if n == 0 || s.io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                let _ = s.io.flush().await;
            }
            let _ = s.io.shutdown().await;
        }),
    );
    let addr = switch.listen(&"/memory/0".parse().unwrap()).await.unwrap();
    (switch, addr)
}

#[tokio::test]
async fn secured_connections_are_pooled_and_serve_streams_both_ways() {
    let hub = MemoryHub::new();
    let (a, _) = node(&hub, SwitchConfig::default()).await;
    let (b, b_addr) = node(&hub, SwitchConfig::default()).await;
    let mut b_events = b.events();
    let conn = a
        .dial_addr(&with_peer_id(&b_addr, &b.local_peer_id()).unwrap())
        .await
        .expect("dial over the secured transport");
    assert_eq!(conn.peer(), b.local_peer_id());
    assert_eq!(
        conn.muxer_protocol(),
        &SECURED_MUXER,
        "no upgrade by the switch"
    );
    assert_eq!(conn.direction(), Direction::Outbound);

    // B pooled the inbound side and said so.
    let event = tokio::time::timeout(Duration::from_secs(5), b_events.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, NetworkEvent::Connected { peer, direction: Direction::Inbound, .. } if peer == a.local_peer_id()),
        "{event:?}"
    );
    let inbound = b.connection(&a.local_peer_id()).unwrap();
    assert_eq!(inbound.muxer_protocol(), &SECURED_MUXER);

    // Streams both ways, each negotiating its protocol with multistream-select.
    for (from, to) in [(&a, &b), (&b, &a)] {
        let mut stream = from.open_stream(to.local_peer_id(), &[ECHO]).await.unwrap();
        stream
            .io
            .write_all(b"over a secured connection")
            .await
            .unwrap();
        stream.io.flush().await.unwrap();
        let mut got = [0u8; 25];
        stream.io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"over a secured connection");
    }

    // The pool's per-peer limit holds for them too: a second dial reuses the first.
    let again = a
        .dial_peer(b.local_peer_id(), vec![b_addr.clone()])
        .await
        .unwrap();
    assert_eq!(again.id(), conn.id());
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_secured_dial_reaching_another_peer_fails() {
    let hub = MemoryHub::new();
    let (a, _) = node(&hub, SwitchConfig::default()).await;
    let (b, b_addr) = node(&hub, SwitchConfig::default()).await;
    let wrong = PeerId::random();
    let err = a.dial_peer(wrong, vec![b_addr]).await.unwrap_err();
    // The cause is kept, typed, for each address: here the transport's own check.
    let DialError::Failed { errors } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            *errors[0].1,
            ConnectError::Transport(TransportError::Handshake(_))
                | ConnectError::PeerMismatch { .. }
        ),
        "{err:?}"
    );
    assert!(!a.is_connected(&b.local_peer_id()));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn established_inbound_limits_hold_for_secured_connections() {
    let hub = MemoryHub::new();
    let (server, addr) = node(
        &hub,
        SwitchConfig::default().with_max_established_inbound(1),
    )
    .await;
    let (first, _) = node(&hub, SwitchConfig::default()).await;
    let (second, _) = node(&hub, SwitchConfig::default()).await;
    let target = with_peer_id(&addr, &server.local_peer_id()).unwrap();
    first.dial_addr(&target).await.unwrap();
    // The second gets through its handshake but is not pooled by the server: the
    // connection closes and streams on it fail.
    let refused = async {
        let conn = second.dial_addr(&target).await?;
        second.open_stream_on(&conn, &[ECHO]).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the refusal shows in time");
    assert!(
        outcome.is_err(),
        "the server took a second inbound connection"
    );
    assert_eq!(server.connected_peers(), vec![first.local_peer_id()]);
    for s in [server, first, second] {
        s.close().await;
    }
}
