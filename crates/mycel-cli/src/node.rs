//! [`Node`]: a host and the services a command runs on it, closed together once; and
//! what the commands share around it.

use mycel::{
    DefaultStack, Host, Multiaddr, Muxer, PeerId,
    core::Protocol,
    kad::{AcceptAll, Kademlia, Validators},
    pubsub::Pubsub,
};
use tokio::io::AsyncReadExt;

use crate::args::KeyTypeArg;

/// A running host with the DHT and pubsub services a command started on it.
pub(crate) struct Node {
    /// The host.
    pub(crate) host: Host,
    /// The Kademlia DHT, when the command serves or uses it.
    pub(crate) dht: Option<Kademlia>,
    /// The pubsub router, when the command runs one.
    pub(crate) pubsub: Option<Pubsub>,
}

impl Node {
    /// A host with no services yet.
    pub(crate) fn new(host: Host) -> Self {
        Node {
            host,
            dht: None,
            pubsub: None,
        }
    }

    /// Closes the services, then the host; once, since it takes the node.
    pub(crate) async fn close(self) {
        if let Some(pubsub) = self.pubsub {
            pubsub.close().await;
        }
        if let Some(dht) = self.dht {
            dht.close().await;
        }
        self.host.close().await;
    }
}

pub(crate) async fn client_host(muxer: Muxer, key_type: KeyTypeArg) -> Result<Host, String> {
    Host::builder()
        .with_keypair(key_type.generate()?)
        .with_tcp_noise(&[muxer])
        .build()
        .await
        .map_err(|e| e.to_string())
}

/// The validators of `listen --kad` (and, extended, of `node`): the spec's, and any
/// record under `/test/`.
pub(crate) fn test_validators() -> Validators {
    Validators::with_defaults().with("test", AcceptAll)
}

pub(crate) fn loopback() -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4([127, 0, 0, 1].into()))
        .with(Protocol::Tcp(0))
}

/// The loopback form of an all-interfaces address (`0.0.0.0` -> `127.0.0.1`, `::` ->
/// `::1`), to dial the node from the same machine.
pub(crate) fn loopback_of(addr: &Multiaddr) -> Option<Multiaddr> {
    let mut changed = false;
    let local = addr
        .iter()
        .map(|p| match p {
            Protocol::Ip4(ip) if ip.is_unspecified() => {
                changed = true;
                Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST)
            }
            Protocol::Ip6(ip) if ip.is_unspecified() => {
                changed = true;
                Protocol::Ip6(std::net::Ipv6Addr::LOCALHOST)
            }
            p => p,
        })
        .collect();
    changed.then_some(local)
}

pub(crate) fn with_p2p(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    mycel::core::addr::with_peer_id(&addr, &peer).unwrap_or(addr)
}

/// SIGTERM and SIGINT, caught from the moment this is made (so a signal sent right
/// after the first output line is not missed).
pub(crate) struct ShutdownSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignal {
    pub(crate) fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        Self {}
    }

    pub(crate) async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0; 1024];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
