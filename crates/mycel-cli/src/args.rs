//! The command line: subcommands, flags and their parsers.

use clap::{Parser, Subcommand, ValueEnum};
use mycel::{KeyType, Keypair, Multiaddr, Muxer, core::addr::split_peer_id};

use crate::pubsub;

#[derive(Debug, Parser)]
#[command(name = "mycel", version, about = "A libp2p node", long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a node: listen (all interfaces, port 4001 or a free one), serve ping and the
    /// Kademlia DHT, log connections, until Ctrl-C.
    Node {
        /// Address to listen on (repeatable); default /ip4/0.0.0.0/tcp/4001 and
        /// /ip6/::/tcp/4001.
        #[arg(long = "listen", value_name = "ADDR")]
        listen: Vec<Multiaddr>,
        /// Peer to connect to at start, as <multiaddr>/p2p/<peer-id> (repeatable); it
        /// also seeds the DHT's routing table.
        #[arg(long = "bootstrap", value_name = "ADDR", value_parser = p2p_addr)]
        bootstrap: Vec<Multiaddr>,
    },
    /// Listen on 127.0.0.1 with a fresh identity and serve ping, identify and perf until
    /// SIGTERM, SIGINT or end of stdin. Prints `LISTEN <addr>/p2p/<id>` first, then
    /// `IDENTIFY <peer-id> <agent-version>` for each identify received.
    Listen {
        /// The one muxer offered.
        #[arg(long, value_enum, default_value_t = MuxerArg::Yamux)]
        muxer: MuxerArg,
        /// Also serve the Kademlia DHT (server mode), storing any record whose key starts
        /// with /test/.
        #[arg(long)]
        kad: bool,
        /// The type of the fresh identity key.
        #[arg(long = "key-type", value_enum, default_value_t = KeyTypeArg::Ed25519)]
        key_type: KeyTypeArg,
        #[command(flatten)]
        pubsub: pubsub::PubsubArgs,
    },
    /// Connect to a peer, ping it once and print one JSON line.
    Dial {
        /// The peer, as <multiaddr>/p2p/<peer-id>.
        #[arg(value_parser = p2p_addr)]
        addr: Multiaddr,
        /// The one muxer offered.
        #[arg(long, value_enum, default_value_t = MuxerArg::Yamux)]
        muxer: MuxerArg,
        /// Store a record at the peer through its Kademlia DHT (e.g. /test/colour=green).
        #[arg(long = "kad-put", value_name = "KEY=VALUE", value_parser = kad_put)]
        kad_put: Option<KadPut>,
        /// Fetch a record from the peer's DHT (after any --kad-put); the JSON line gains
        /// "kad_get", the value or null.
        #[arg(long = "kad-get", value_name = "KEY", value_parser = kad_key)]
        kad_get: Option<String>,
        #[command(flatten)]
        pubsub: pubsub::PubsubArgs,
        /// With --pubsub, wait for this many messages on the topic; the JSON line gains
        /// "received", their data.
        #[arg(
            long = "wait-msgs",
            value_name = "N",
            default_value_t = 0,
            requires = "pubsub"
        )]
        wait_msgs: usize,
        /// Give up after this many seconds.
        #[arg(long = "timeout-s", value_name = "S", default_value_t = 30.0, value_parser = seconds)]
        timeout_s: f64,
        /// The type of the fresh identity key.
        #[arg(long = "key-type", value_enum, default_value_t = KeyTypeArg::Ed25519)]
        key_type: KeyTypeArg,
    },
    /// RLPx (devp2p) on a random port with the capability test/1 (0x00 echo-request
    /// [bytes], 0x01 echo-reply [same bytes]), answering Ping, until SIGTERM, SIGINT or
    /// end of stdin. Prints `LISTEN enode://<128 hex>@IP:PORT` first, then
    /// `HELLO <remote-id> <client-id>` for each Hello received.
    #[command(name = "devp2p-listen")]
    Devp2pListen {
        /// The address to listen on.
        #[arg(long = "listen-ip", value_name = "IP", default_value = "127.0.0.1")]
        listen_ip: std::net::IpAddr,
    },
    /// Connect to an RLPx node: handshake, Hello with [test/1], one echo of 1 KiB of
    /// random bytes, one Ping/Pong, Disconnect (0x08); prints one JSON line.
    #[command(name = "devp2p-dial")]
    Devp2pDial {
        /// The node, as enode://<128 hex>@IP:PORT.
        enode: String,
        /// Give up after this many seconds.
        #[arg(long = "timeout-s", value_name = "S", default_value_t = 30.0, value_parser = seconds)]
        timeout_s: f64,
    },
    /// The libp2p test-plans transport-interop test: configured by the environment
    /// variables transport (tcp), muxer (yamux|mplex), security (noise), is_dialer
    /// (true|false), ip (default 0.0.0.0), redis_addr (default redis:6379) and
    /// test_timeout_seconds (default 180). The listener publishes its address on the
    /// Redis list listenerAddr; the dialer takes it, dials, pings and prints
    /// {"handshakePlusOneRTTMillis":…,"pingRTTMilllis":…}.
    Interop,
    /// Run one /perf/1.0.0 exchange with a peer and print one JSON line.
    Perf {
        /// The peer, as <multiaddr>/p2p/<peer-id>.
        #[arg(value_parser = p2p_addr)]
        addr: Multiaddr,
        /// Bytes to send.
        #[arg(long = "upload-bytes", value_name = "N")]
        upload_bytes: u64,
        /// Bytes to ask the peer to send back.
        #[arg(long = "download-bytes", value_name = "M")]
        download_bytes: u64,
        /// The one muxer offered.
        #[arg(long, value_enum, default_value_t = MuxerArg::Yamux)]
        muxer: MuxerArg,
        /// Give up after this many seconds.
        #[arg(long = "timeout-s", value_name = "S", default_value_t = 30.0, value_parser = seconds)]
        timeout_s: f64,
        /// The type of the fresh identity key.
        #[arg(long = "key-type", value_enum, default_value_t = KeyTypeArg::Ed25519)]
        key_type: KeyTypeArg,
    },
}

/// `--key-type`: the identity key's type (peer-ids spec).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KeyTypeArg {
    Ed25519,
    Secp256k1,
    Ecdsa,
    Rsa,
}

impl KeyTypeArg {
    /// A fresh key pair of this type (RSA: 2048 bits).
    pub(crate) fn generate(self) -> Result<Keypair, String> {
        let key_type = match self {
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
            KeyTypeArg::Secp256k1 => KeyType::Secp256k1,
            KeyTypeArg::Ecdsa => KeyType::Ecdsa,
            KeyTypeArg::Rsa => KeyType::Rsa,
        };
        Keypair::generate_of(key_type).map_err(|e| format!("cannot make a {key_type} key: {e}"))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum MuxerArg {
    Yamux,
    Mplex,
}

impl From<MuxerArg> for Muxer {
    fn from(m: MuxerArg) -> Self {
        match m {
            MuxerArg::Yamux => Muxer::Yamux,
            MuxerArg::Mplex => Muxer::Mplex,
        }
    }
}

fn p2p_addr(s: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = s.parse().map_err(|e| format!("not a multiaddr: {e}"))?;
    match split_peer_id(&addr) {
        Ok((_, Some(_))) => Ok(addr),
        Ok((_, None)) => Err("the address must end with /p2p/<peer-id>".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A `--kad-put KEY=VALUE` argument.
#[derive(Debug, Clone)]
pub(crate) struct KadPut {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// What `dial` does after the ping.
#[derive(Debug)]
pub(crate) struct DialOps {
    pub(crate) kad: KadOps,
    pub(crate) pubsub: pubsub::PubsubArgs,
    pub(crate) wait_msgs: usize,
}

/// The DHT work `dial` does after the ping.
#[derive(Debug, Default)]
pub(crate) struct KadOps {
    pub(crate) put: Option<KadPut>,
    pub(crate) get: Option<String>,
}

impl KadOps {
    pub(crate) fn is_empty(&self) -> bool {
        self.put.is_none() && self.get.is_none()
    }
}

fn kad_put(s: &str) -> Result<KadPut, String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err("expected KEY=VALUE".into());
    };
    Ok(KadPut {
        key: kad_key(key)?,
        value: value.to_string(),
    })
}

fn kad_key(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the key is empty".into())
    } else {
        Ok(s.to_string())
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err("expected a positive number of seconds".into()),
    }
}
