//! `devp2p-listen` and `devp2p-dial`: an RLPx node with the `test/1` capability
//! (0x00 echo-request `[bytes]`, 0x01 echo-reply `[same bytes]`), for test peers of other
//! devp2p implementations.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use mycel_rlpx::{
    Peer, PeerConfig, SecretKey, Server, ServerConfig,
    caps::Protocol,
    p2p::{Capability, DisconnectReason},
    parse_enode,
    rlp::{Decodable, Encodable, Header},
};
use rand::{RngCore, rngs::OsRng};
use tokio::net::TcpStream;

use crate::{
    json::{Value, object},
    node::{ShutdownSignal, stdin_closed},
    output::{emit, fail, ms},
};

const ECHO_REQUEST: u64 = 0x00;
const ECHO_REPLY: u64 = 0x01;

fn config() -> PeerConfig {
    PeerConfig {
        protocols: vec![Protocol {
            capability: Capability {
                name: "test".into(),
                version: 1,
            },
            messages: 2,
        }],
        ..PeerConfig::default()
    }
}

/// `devp2p-listen`: serve sessions until SIGTERM, SIGINT or the end of stdin. The
/// server applies the default peer policy (50 peers, per-IP throttle, handshake cap).
pub(crate) async fn listen(ip: IpAddr) -> i32 {
    let config = ServerConfig {
        peer: config(),
        ..ServerConfig::default()
    };
    let key = SecretKey::random(&mut OsRng);
    let (server, mut sessions) = match Server::bind(SocketAddr::new(ip, 0), key, config).await {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("mycel: cannot listen on {ip}: {e}");
            return 1;
        }
    };
    emit(&format!("LISTEN {}", server.enode()));
    let shutdown = ShutdownSignal::install();
    let serve_all = async {
        while let Some(peer) = sessions.recv().await {
            tokio::spawn(serve(peer));
        }
    };
    tokio::select! {
        _ = serve_all => {}
        _ = shutdown.wait() => {}
        _ = stdin_closed() => {}
    }
    0
}

async fn serve(mut peer: Peer) {
    emit(&format!(
        "HELLO {} {}",
        peer.remote_id(),
        peer.remote_hello().client_id
    ));
    let Some(mut test) = peer.capability("test") else {
        return;
    };
    while let Some((msg, data)) = test.recv().await {
        if msg == ECHO_REQUEST && test.send(ECHO_REPLY, &data).await.is_err() {
            break;
        }
    }
    let closed = peer.closed().await;
    tracing::info!(remote = %peer.remote_id(), %closed, "devp2p session ended");
}

/// `devp2p-dial`: one session, one echo, one ping, Disconnect; one JSON line.
pub(crate) async fn dial(enode: String, limit: Duration) -> i32 {
    match tokio::time::timeout(limit, session(&enode)).await {
        Ok(Ok(line)) => {
            emit(&line);
            0
        }
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&format!("timed out after {limit:?}")),
    }
}

async fn session(enode: &str) -> Result<String, String> {
    let (remote, addr) = parse_enode(enode).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let key = SecretKey::random(&mut OsRng);
    let mut peer = Peer::connect(socket, key, remote, config())
        .await
        .map_err(|e| e.to_string())?;
    let caps: Vec<String> = peer
        .remote_hello()
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    let client_id = peer.remote_hello().client_id.clone();
    let mut test = peer
        .capability("test")
        .ok_or("the remote does not speak test/1")?;

    let mut payload = vec![0u8; 1024];
    OsRng.fill_bytes(&mut payload);
    let mut request = Vec::new();
    Header {
        list: true,
        payload_length: payload[..].length(),
    }
    .encode(&mut request);
    payload[..].encode(&mut request);
    test.send(ECHO_REQUEST, &request)
        .await
        .map_err(|e| e.to_string())?;
    let (msg, reply) = test
        .recv()
        .await
        .ok_or("the session ended before the echo")?;
    let echo_ok = msg == ECHO_REPLY && echoed(&reply).as_deref() == Some(&payload[..]);
    let rtt = peer
        .ping(Duration::from_secs(10))
        .await
        .map_err(|e| format!("ping: {e}"))?;
    peer.disconnect(DisconnectReason::ClientQuitting).await;
    Ok(object(&[
        ("ok", Value::Bool(true)),
        ("remote_id", Value::Str(&remote.to_string())),
        ("client_id", Value::Str(&client_id)),
        ("caps", Value::StrList(&caps)),
        ("echo_ok", Value::Bool(echo_ok)),
        ("ping_ms", Value::Num(ms(rtt))),
    ]))
}

/// The bytes of an echo message `[bytes]`.
fn echoed(data: &[u8]) -> Option<Vec<u8>> {
    let mut buf = data;
    let mut list = Header::decode_bytes(&mut buf, true).ok()?;
    let bytes = mycel_rlpx::rlp::Bytes::decode(&mut list).ok()?;
    Some(bytes.to_vec())
}
