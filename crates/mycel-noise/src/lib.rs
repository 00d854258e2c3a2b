//! The libp2p Noise secure channel: `Noise_XX_25519_ChaChaPoly_SHA256` with an empty
//! prologue, authenticated by the peers' libp2p identity keys.
//!
//! Each side proves its identity by signing `"noise-libp2p-static-key:" || static DH key`
//! in the handshake payload; the remote's signature is checked and, when dialing a known
//! peer, its PeerId too. Stream muxers can be agreed inside the handshake (the payload's
//! `stream_muxers` extension), saving the round trip of negotiating one afterwards.
//!
//! Roles: the dialer runs [`Config::upgrade_outbound`], the listener
//! [`Config::upgrade_inbound`]. Both return a [`NoiseOutput`] (an `AsyncRead +
//! AsyncWrite`) and the [`RemoteIdentity`]. [`Config`] also implements
//! [`mycel_core::SecureUpgrade`] for the switch.
//!
//! ```no_run
//! # async fn run(tcp: tokio::net::TcpStream, expected: mycel_core::PeerId) -> Result<(), mycel_noise::NoiseError> {
//! use mycel_core::{Keypair, ProtocolId};
//! use mycel_noise::Config;
//! use tokio::io::AsyncWriteExt;
//!
//! let config = Config::new(Keypair::generate())
//!     .with_muxers(vec![ProtocolId::from_static("/yamux/1.0.0")]);
//! let (mut secure, remote) = config.upgrade_outbound(tcp, Some(expected)).await?;
//! println!("talking to {} (muxer {:?})", remote.peer_id, remote.muxer);
//! secure.write_all(b"hello").await?;
//! secure.flush().await?;
//! # Ok(()) }
//! ```
//!
//! # Caveats
//! The handshake has no clock: wrap it in a timeout (the switch does). Writes are
//! buffered until a frame is full or the stream is flushed.
//!
//! # Backends
//! ChaCha20-Poly1305 comes from `ring` (default feature) or the pure-Rust
//! `chacha20poly1305` crate (feature `rustcrypto`); see [`cipher`].

pub mod cipher;
mod error;
mod handshake;
mod io;
mod protocol;

use async_trait::async_trait;
use mycel_core::{BoxedIo, Keypair, PeerId, ProtocolId, SecureUpgrade, Secured, UpgradeError};
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::{error::NoiseError, handshake::RemoteIdentity, io::NoiseOutput};

/// The protocol id negotiated with multistream-select.
pub const PROTOCOL_ID: ProtocolId = ProtocolId::from_static("/noise");

/// Largest Noise message: the 2-byte length prefix caps it at 65535 bytes.
pub const MAX_FRAME_LEN: usize = 65535;

/// Largest plaintext in one transport frame: [`MAX_FRAME_LEN`] less the 16-byte tag.
pub const MAX_PLAINTEXT_LEN: usize = MAX_FRAME_LEN - cipher::TAG_LEN;

/// How to run the handshake: our identity and the muxers we offer.
#[derive(Clone)]
pub struct Config {
    keypair: Keypair,
    muxers: Vec<ProtocolId>,
    backend: cipher::Backend,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("peer_id", &self.keypair.peer_id())
            .field("muxers", &self.muxers)
            .field("backend", &self.backend)
            .finish()
    }
}

impl Config {
    /// A configuration signing with `keypair`, offering no muxer in the handshake.
    pub fn new(keypair: Keypair) -> Self {
        Config {
            keypair,
            muxers: Vec::new(),
            backend: cipher::Backend::DEFAULT,
        }
    }

    /// Offers these muxers, in order of preference, in the handshake's extensions.
    pub fn with_muxers(mut self, muxers: Vec<ProtocolId>) -> Self {
        self.muxers = muxers;
        self
    }

    /// Uses another compiled-in AEAD backend.
    pub fn with_backend(mut self, backend: cipher::Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.keypair.peer_id()
    }

    /// Runs the handshake as the initiator (the dialer). With `expected` set, a remote
    /// with another PeerId is [`NoiseError::PeerIdMismatch`].
    pub async fn upgrade_outbound<Io>(
        &self,
        io: Io,
        expected: Option<PeerId>,
    ) -> Result<(NoiseOutput<Io>, RemoteIdentity), NoiseError>
    where
        Io: AsyncRead + AsyncWrite + Unpin,
    {
        handshake::outbound(self, io, expected).await
    }

    /// Runs the handshake as the responder (the listener).
    pub async fn upgrade_inbound<Io>(
        &self,
        io: Io,
    ) -> Result<(NoiseOutput<Io>, RemoteIdentity), NoiseError>
    where
        Io: AsyncRead + AsyncWrite + Unpin,
    {
        handshake::inbound(self, io).await
    }
}

fn to_upgrade_error(e: NoiseError) -> UpgradeError {
    match e {
        NoiseError::Io(e) => UpgradeError::Io(e),
        NoiseError::PeerIdMismatch { expected, actual } => {
            UpgradeError::PeerIdMismatch { expected, actual }
        }
        e => UpgradeError::Protocol(Box::new(e)),
    }
}

fn secured(output: NoiseOutput<BoxedIo>, remote: RemoteIdentity) -> Secured {
    Secured {
        io: Box::new(output),
        remote_peer: remote.peer_id,
        remote_key: remote.public_key,
        muxer: remote.muxer,
    }
}

#[async_trait]
impl SecureUpgrade for Config {
    fn protocol(&self) -> ProtocolId {
        PROTOCOL_ID
    }

    async fn secure_outbound(
        &self,
        io: BoxedIo,
        remote: Option<PeerId>,
    ) -> Result<Secured, UpgradeError> {
        let (output, identity) = self
            .upgrade_outbound(io, remote)
            .await
            .map_err(to_upgrade_error)?;
        Ok(secured(output, identity))
    }

    async fn secure_inbound(&self, io: BoxedIo) -> Result<Secured, UpgradeError> {
        let (output, identity) = self.upgrade_inbound(io).await.map_err(to_upgrade_error)?;
        Ok(secured(output, identity))
    }
}
