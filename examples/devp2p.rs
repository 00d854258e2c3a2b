//! Two devp2p nodes on loopback TCP with a capability of their own, `greet/1`
//! (0x00 Greeting [text], 0x01 Reply [text]), and the peer policy deciding whom to keep.
//!
//! Run: `cargo run -p mycel-examples --example devp2p`
//! (`RUST_LOG=mycel_rlpx=trace` shows every message.)

use std::time::Instant;

use mycel_rlpx::{
    NodeId, Peer, PeerConfig, SecretKey,
    caps::Protocol,
    enode_url,
    p2p::{Capability, DisconnectReason},
    parse_enode,
    peers::{Admission, Direction, PeerManager, PeerManagerConfig},
    rlp::{Decodable, Encodable, Header},
};
use rand::rngs::OsRng;
use tokio::net::{TcpListener, TcpStream};
use tracing_subscriber::EnvFilter;

const GREETING: u64 = 0x00;
const REPLY: u64 = 0x01;

fn config() -> PeerConfig {
    PeerConfig {
        client_id: "greeter/0.1".into(),
        protocols: vec![Protocol {
            capability: Capability {
                name: "greet".into(),
                version: 1,
            },
            messages: 2,
        }],
        ..PeerConfig::default()
    }
}

/// `[text]` as RLP.
fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Header {
        list: true,
        payload_length: text.length(),
    }
    .encode(&mut out);
    text.encode(&mut out);
    out
}

fn decode(data: &[u8]) -> Result<String, mycel_rlpx::rlp::Error> {
    let mut buf = data;
    let mut list = Header::decode_bytes(&mut buf, true)?;
    String::decode(&mut list)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    // The server: accepts sessions its policy admits, answers each greeting.
    let server_key = SecretKey::random(&mut OsRng);
    let server_id = NodeId::from_public_key(&server_key.public_key());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let enode = enode_url(&server_id, listener.local_addr()?);
    println!("server listening on {enode}");
    let server = tokio::spawn(async move {
        let mut policy = PeerManager::new(server_id, PeerManagerConfig::default());
        let (socket, from) = listener.accept().await?;
        if !policy.allow_inbound_ip(from.ip(), Instant::now()) {
            return Ok(());
        }
        let mut peer = Peer::accept(socket, server_key, config()).await?;
        match policy.admit(peer.remote_id(), Direction::Inbound, Instant::now()) {
            Admission::Accept => {}
            Admission::AcceptReplacing(_) | Admission::Refuse(_) => return Ok(()),
        }
        let mut greet = peer.capability("greet").expect("both sides speak greet/1");
        while let Some((msg, data)) = greet.recv().await {
            if msg == GREETING {
                let name = decode(&data)?;
                greet
                    .send(REPLY, &encode(&format!("hello, {name}")))
                    .await?;
            }
        }
        println!("server: session ended: {}", peer.closed().await);
        policy.disconnected(&peer.remote_id());
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });

    // The client: dials the enode, greets, hears back, says goodbye.
    let (id, addr) = parse_enode(&enode)?;
    let socket = TcpStream::connect(addr).await?;
    let mut peer = Peer::connect(socket, SecretKey::random(&mut OsRng), id, config()).await?;
    println!(
        "client: connected to {} ({}), sharing {:?}",
        peer.remote_hello().client_id,
        &peer.remote_id().to_string()[..16],
        peer.shared_capabilities()
            .iter()
            .map(|c| c.capability.to_string())
            .collect::<Vec<_>>()
    );
    let mut greet = peer.capability("greet").expect("shared");
    greet.send(GREETING, &encode("devp2p")).await?;
    if let Some((REPLY, data)) = greet.recv().await {
        println!("client: {}", decode(&data)?);
    }
    let rtt = peer.ping(std::time::Duration::from_secs(5)).await?;
    println!("client: ping {rtt:?}");
    peer.disconnect(DisconnectReason::ClientQuitting).await;
    server.await?.map_err(|e| e.to_string())?;
    Ok(())
}
