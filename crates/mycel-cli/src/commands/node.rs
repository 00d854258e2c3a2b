//! `mycel node`: a long-running node serving the DHT.

use std::sync::Arc;

use futures::{StreamExt, future::join_all};
use mycel::{
    DefaultStack, Host, Multiaddr, Network, NetworkEvent,
    core::{Protocol, addr::split_peer_id},
    kad::{self, AcceptAll, KadConfig, Kademlia, Mode},
    ping,
    switch::ListenError,
};

use crate::{
    node::{Node, ShutdownSignal, loopback_of, test_validators, with_p2p},
    output::emit,
};

/// The port `mycel node` listens on unless told otherwise (the IPFS convention); a free
/// one is used when it is taken.
const DEFAULT_NODE_PORT: u16 = 4001;

pub(crate) async fn run(listen: Vec<Multiaddr>, bootstrap: Vec<Multiaddr>) -> i32 {
    let shutdown = ShutdownSignal::install();
    let host = match Host::builder().with_default_stack().build().await {
        Ok(host) => host,
        Err(e) => {
            eprintln!("mycel: {e}");
            return 1;
        }
    };
    let validators = test_validators().with(kad::DEFAULT_MAP_NAMESPACE, AcceptAll);
    let dht = Kademlia::new(
        Arc::new(host.clone()),
        KadConfig::default()
            .with_mode(Mode::Server)
            .with_validators(validators),
    );
    let explicit = !listen.is_empty();
    let addrs = if explicit {
        listen
    } else {
        let port = |ip: Protocol<'static>| {
            Multiaddr::empty()
                .with(ip)
                .with(Protocol::Tcp(DEFAULT_NODE_PORT))
        };
        vec![
            port(Protocol::Ip4([0, 0, 0, 0].into())),
            port(Protocol::Ip6([0u16; 8].into())),
        ]
    };
    for addr in addrs {
        match listen_with_fallback(&host, &addr, !explicit).await {
            Ok(_) => {}
            Err(e) if explicit => {
                eprintln!("mycel: cannot listen on {addr}: {e}");
                close(host, dht).await;
                return 1;
            }
            Err(e) => tracing::warn!(%addr, error = %e, "not listening"),
        }
    }
    if host.listen_addrs().is_empty() {
        eprintln!("mycel: could not listen on any address");
        close(host, dht).await;
        return 1;
    }
    emit(&format!("peer id: {}", host.peer_id()));
    for addr in host.listen_addrs() {
        let local = loopback_of(&addr).map(|l| with_p2p(l, host.peer_id()));
        let addr = with_p2p(addr, host.peer_id());
        match local {
            Some(local) => emit(&format!("listening on {addr} (from this machine: {local})")),
            None => emit(&format!("listening on {addr}")),
        }
    }

    let mut events = host.events();
    host.switch().spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                NetworkEvent::Connected {
                    peer,
                    remote_addr,
                    direction,
                } => tracing::info!(%peer, addr = %remote_addr, ?direction, "peer connected"),
                NetworkEvent::Disconnected { peer, reason } => {
                    tracing::info!(%peer, %reason, "peer disconnected")
                }
                NetworkEvent::ListenAddrExpired(addr) => {
                    tracing::info!(%addr, "listen address expired")
                }
                _ => {}
            }
        }
    });
    for addr in &bootstrap {
        if let Ok((base, Some(peer))) = split_peer_id(addr) {
            dht.add_address(peer, base);
        }
    }
    if !bootstrap.is_empty() {
        let (host, dht) = (host.clone(), dht.clone());
        host.switch().clone().spawn(async move {
            let reached = join_all(bootstrap.iter().map(|addr| connect_bootstrap(&host, addr)))
                .await
                .into_iter()
                .filter(|reached| *reached)
                .count();
            if reached == 0 {
                return;
            }
            match dht.bootstrap().await {
                Ok(size) => tracing::info!(routing_table = size, "DHT bootstrap done"),
                Err(e) => tracing::warn!(error = %e, "DHT bootstrap failed"),
            }
        });
    }
    shutdown.wait().await;
    tracing::info!("shutting down");
    close(host, dht).await;
    0
}

async fn close(host: Host, dht: Kademlia) {
    let mut node = Node::new(host);
    node.dht = Some(dht);
    node.close().await;
}

/// Connects to a bootstrap peer and pings it; whether it is connected.
async fn connect_bootstrap(host: &Host, addr: &Multiaddr) -> bool {
    match host.connect(addr).await {
        Ok(peer) => {
            match ping::ping_peer(host, peer).await {
                Ok(rtt) => tracing::info!(%peer, ?rtt, "bootstrap peer reachable"),
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "bootstrap peer does not answer ping")
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(%addr, error = %e, "bootstrap failed");
            false
        }
    }
}

/// Listens on `addr`; when `fallback` is set and the port is taken, on a free port of
/// the same interface instead.
async fn listen_with_fallback(
    host: &Host,
    addr: &Multiaddr,
    fallback: bool,
) -> Result<Multiaddr, ListenError> {
    match host.listen_on(addr).await {
        Err(ListenError::Transport(mycel::core::TransportError::AddrInUse(_))) if fallback => {
            let any_port: Multiaddr = addr
                .iter()
                .map(|p| match p {
                    Protocol::Tcp(_) => Protocol::Tcp(0),
                    p => p,
                })
                .collect();
            tracing::info!(%addr, "address in use, picking a free port");
            host.listen_on(&any_port).await
        }
        other => other,
    }
}
