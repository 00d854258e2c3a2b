//! Two peers in one process: each gets an ed25519 identity, one listens on the memory
//! transport, the other dials it, and they agree on a protocol with multistream-select
//! before exchanging a greeting.
//!
//! Run: `cargo run -p mycel-examples --example hello`
//! (`RUST_LOG=trace` shows the negotiation step by step.)

use mycel_core::{Keypair, Listener, ProtocolId, Transport, addr::with_peer_id};
use mycel_memory::MemoryTransport;
use mycel_multistream::{dialer_select_lazy, listener_select};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::EnvFilter;

const HELLO: ProtocolId = ProtocolId::from_static("/mycel/hello/1.0.0");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let server_key = Keypair::generate();
    let client_key = Keypair::generate();
    let transport = MemoryTransport::default();

    let mut listener = transport.listen(&"/memory/0".parse()?).await?;
    let server_addr = with_peer_id(&listener.local_addr(), &server_key.peer_id())?;
    println!("server {} listening on {server_addr}", server_key.peer_id());

    let server = tokio::spawn(async move {
        let conn = listener.accept().await?;
        let supported = [ProtocolId::from_static("/mycel/other/1.0.0"), HELLO];
        let (protocol, mut stream) = listener_select(conn.io, &supported).await?;
        let mut name = String::new();
        stream.read_to_string(&mut name).await?;
        stream
            .write_all(format!("hello {name}, this is {protocol}").as_bytes())
            .await?;
        stream.shutdown().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });

    println!("client {} dialing {server_addr}", client_key.peer_id());
    let conn = transport.dial(&server_addr).await?;
    // Lazy: the proposal and our first bytes leave together, saving a round trip.
    let mut stream = dialer_select_lazy(conn.io, HELLO);
    stream
        .write_all(client_key.peer_id().to_string().as_bytes())
        .await?;
    stream.shutdown().await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    println!("server replied: {reply}");

    server.await?.map_err(|e| e.to_string())?;
    Ok(())
}
