//! TCP transport behaviour on loopback.

use mycel_core::{Listener, Multiaddr, PeerId, Transport, TransportError};
use mycel_tcp::{TcpConfig, TcpTransport, multiaddr_to_socket_addr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn round_trip(transport: &TcpTransport, listen: &str) {
    let mut listener = transport.listen(&listen.parse().unwrap()).await.unwrap();
    let addr = listener.local_addr();
    let port = multiaddr_to_socket_addr(&addr).unwrap().port();
    assert_ne!(port, 0, "{listen}: the real port is reported");

    let mut client = transport.dial(&addr).await.unwrap();
    let mut server = listener.accept().await.unwrap();
    assert!(
        client.io.nodelay().unwrap(),
        "TCP_NODELAY on dialed sockets"
    );
    assert!(
        server.io.nodelay().unwrap(),
        "TCP_NODELAY on accepted sockets"
    );
    assert_eq!(server.remote_addr, client.local_addr);
    assert_eq!(client.remote_addr, addr);

    client.io.write_all(b"hello").await.unwrap();
    client.io.shutdown().await.unwrap();
    let mut got = Vec::new();
    server.io.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
    server.io.write_all(b"back").await.unwrap();
    drop(server);
    let mut got = Vec::new();
    client.io.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"back");
}

#[tokio::test]
async fn ip4_and_ip6_loopback_round_trip() {
    let t = TcpTransport::default();
    round_trip(&t, "/ip4/127.0.0.1/tcp/0").await;
    round_trip(&t, "/ip6/::1/tcp/0").await;
}

#[tokio::test]
async fn dns4_names_resolve_and_p2p_suffix_is_ignored() {
    let t = TcpTransport::default();
    let mut listener = t
        .listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .await
        .unwrap();
    let port = multiaddr_to_socket_addr(&listener.local_addr())
        .unwrap()
        .port();
    let addr: Multiaddr = format!("/dns4/localhost/tcp/{port}/p2p/{}", PeerId::random())
        .parse()
        .unwrap();
    assert!(t.supports(&addr));
    let client = t.dial(&addr).await.unwrap();
    assert_eq!(
        client.remote_addr.to_string(),
        format!("/ip4/127.0.0.1/tcp/{port}")
    );
    listener.accept().await.unwrap();
}

#[tokio::test]
async fn errors_are_typed() {
    let t = TcpTransport::default();
    // A port nobody listens on: bind one, learn it, close it.
    let port = {
        let l = t
            .listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .await
            .unwrap();
        multiaddr_to_socket_addr(&l.local_addr()).unwrap().port()
    };
    let closed: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    assert!(matches!(
        t.dial(&closed).await,
        Err(TransportError::ConnectionRefused(_))
    ));

    for unsupported in [
        "/memory/3",
        "/ip4/127.0.0.1/udp/1",
        "/ip4/127.0.0.1/tcp/1/ws",
    ] {
        let addr: Multiaddr = unsupported.parse().unwrap();
        assert!(!t.supports(&addr), "{unsupported}");
        assert!(matches!(
            t.dial(&addr).await,
            Err(TransportError::UnsupportedAddress(_))
        ));
        assert!(matches!(
            t.listen(&addr).await,
            Err(TransportError::UnsupportedAddress(_))
        ));
    }

    let l = t
        .listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(
        t.listen(&l.local_addr()).await,
        Err(TransportError::AddrInUse(_))
    ));
}

#[tokio::test]
async fn port_reuse_dials_from_the_listening_port() {
    let a = TcpTransport::new(TcpConfig {
        port_reuse: true,
        ..Default::default()
    });
    let b = TcpTransport::default();
    let mut a_listener = a
        .listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .await
        .unwrap();
    let a_port = multiaddr_to_socket_addr(&a_listener.local_addr())
        .unwrap()
        .port();
    let mut b_listener = b
        .listen(&"/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .await
        .unwrap();

    let _conn = a.dial(&b_listener.local_addr()).await.unwrap();
    let inbound = b_listener.accept().await.unwrap();
    let seen_port = multiaddr_to_socket_addr(&inbound.remote_addr)
        .unwrap()
        .port();
    assert_eq!(seen_port, a_port, "the remote sees the port we listen on");

    // Without port reuse the dial leaves from an ephemeral port.
    let b_port = multiaddr_to_socket_addr(&b_listener.local_addr())
        .unwrap()
        .port();
    let _conn = b.dial(&a_listener.local_addr()).await.unwrap();
    let inbound = a_listener.accept().await.unwrap();
    assert_ne!(
        multiaddr_to_socket_addr(&inbound.remote_addr)
            .unwrap()
            .port(),
        b_port
    );
}
