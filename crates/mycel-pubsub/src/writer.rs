//! The task that writes a router's RPCs to one peer, and how it uses streams.
//!
//! Implementations disagree on how RPCs travel ([`OutboundStreams`]):
//! - go, js and py keep one long-lived stream per direction and read RPCs from it until
//!   it ends. js accepts a single inbound stream per protocol and connection: a second
//!   one is reset while the first is open, and js never closes the first.
//! - rust-libp2p's floodsub reads one RPC per inbound stream and drops the stream (a
//!   reset), losing whatever came behind the first RPC; it sends each RPC on a new
//!   stream itself.
//!
//! [`OutboundStreams::Adaptive`] serves both: one long-lived stream, watched. A peer
//! that ends it within [`PROBATION`] of our first RPC reads one RPC per stream: the RPCs
//! written on it so far are sent again, each on a stream of its own, and so is
//! everything after. (Sending the first again costs a duplicate, which pubsub drops by
//! message id, and covers a peer that reset the stream before reading anything.)

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use mycel_core::{BoxedIo, Network, PeerId, ProtocolId};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, ReadHalf},
    sync::mpsc,
    time::Instant,
};
use tracing::{debug, trace};

use crate::{
    Rpc,
    codec::{frames, write_frame},
};

/// Streams of one peer being closed at once when each RPC has its own stream.
const MAX_CLOSING_STREAMS: usize = 16;

/// How long after our first RPC on a long-lived stream a peer's end of it means "one RPC
/// per stream" ([`OutboundStreams::Adaptive`]). Such a peer drops the stream as soon
/// as it read the first RPC, one round trip later.
pub const PROBATION: Duration = Duration::from_secs(2);

/// Frames kept for sending again while a stream is on probation; once this many wait,
/// further RPCs wait for the probation to end.
const MAX_RETAINED_FRAMES: usize = 64;

/// How a writer sends RPCs to its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutboundStreams {
    /// All RPCs on one long-lived stream (gossipsub everywhere; floodsub of go, js, py).
    #[default]
    Single,
    /// Each RPC on a stream of its own, opened, written and closed (rust-libp2p's
    /// floodsub). js-libp2p refuses all but the first such stream.
    PerRpc,
    /// One long-lived stream, falling back to a stream per RPC for a peer that drops
    /// it after the first RPC: works with every implementation above.
    Adaptive,
}

/// Why a writer stopped.
pub(crate) type WriterError = String;

/// How a writer task reaches its peer.
pub(crate) struct Writer {
    pub(crate) network: Arc<dyn Network>,
    pub(crate) peer: PeerId,
    pub(crate) protocols: Vec<ProtocolId>,
    pub(crate) max_transmit_size: usize,
    pub(crate) timeout: Duration,
    pub(crate) streams: OutboundStreams,
}

impl Writer {
    /// Writes what the router queues for the peer until the queue closes or a write
    /// fails.
    pub(crate) async fn run(self, mut queue: mpsc::Receiver<Rpc>) -> Result<(), WriterError> {
        match self.streams {
            OutboundStreams::Single => self.write_all(&mut queue).await,
            OutboundStreams::PerRpc => self.write_each(&mut queue, Vec::new()).await,
            OutboundStreams::Adaptive => self.write_adaptive(&mut queue).await,
        }
    }

    async fn open(&self) -> Result<BoxedIo, WriterError> {
        let opened = tokio::time::timeout(
            self.timeout,
            self.network.new_stream(self.peer, &self.protocols),
        )
        .await;
        match opened {
            Ok(Ok(stream)) => {
                trace!(peer = %self.peer, protocol = %stream.protocol, "pubsub: stream open");
                Ok(stream.io)
            }
            Ok(Err(e)) => Err(format!("cannot open a stream: {e}")),
            Err(_) => Err("opening a stream timed out".into()),
        }
    }

    async fn write<W>(&self, io: &mut W, frame: &[u8]) -> Result<(), WriterError>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        match tokio::time::timeout(self.timeout, write_frame(io, frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }

    async fn write_all(&self, queue: &mut mpsc::Receiver<Rpc>) -> Result<(), WriterError> {
        let mut io = self.open().await?;
        while let Some(rpc) = queue.recv().await {
            for frame in frames(rpc, self.max_transmit_size) {
                self.write(&mut io, &frame).await?;
            }
        }
        let _ = io.shutdown().await;
        Ok(())
    }

    /// A stream per frame: first the `resend` ones, then whatever the queue brings.
    async fn write_each(
        &self,
        queue: &mut mpsc::Receiver<Rpc>,
        resend: Vec<Bytes>,
    ) -> Result<(), WriterError> {
        // Each stream is closed after its RPC and then read to its end, so the peer's
        // side of the negotiation and its close are taken in before the stream is
        // dropped (a muxer may reset a stream dropped with unread data, and the RPC
        // with it).
        // Those waits run beside the writer, a few at a time.
        let mut closing = tokio::task::JoinSet::new();
        let mut send = async |frame: Bytes| -> Result<(), WriterError> {
            let mut io = self.open().await?;
            self.write(&mut io, &frame).await?;
            while closing.len() >= MAX_CLOSING_STREAMS {
                closing.join_next().await;
            }
            let timeout = self.timeout;
            closing.spawn(async move {
                let finish = async {
                    io.shutdown().await?;
                    let mut sink = [0u8; 256];
                    while io.read(&mut sink).await? > 0 {}
                    Ok::<_, std::io::Error>(())
                };
                let _ = tokio::time::timeout(timeout, finish).await;
            });
            Ok(())
        };
        for frame in resend {
            send(frame).await?;
        }
        while let Some(rpc) = queue.recv().await {
            for frame in frames(rpc, self.max_transmit_size) {
                send(frame.freeze()).await?;
            }
        }
        while closing.join_next().await.is_some() {}
        Ok(())
    }

    /// One long-lived stream, watched for the peer ending it (see the module docs).
    async fn write_adaptive(&self, queue: &mut mpsc::Receiver<Rpc>) -> Result<(), WriterError> {
        let (read, mut write) = tokio::io::split(self.open().await?);
        let mut ended = std::pin::pin!(peer_ends(read));
        // Probation starts with the first frame written; until it ends, the frames written
        // are kept, to send again should the peer read only one.
        let mut probation_until: Option<Instant> = None;
        let mut on_probation = true;
        let mut retained: Vec<Bytes> = Vec::new();
        loop {
            let can_take = !on_probation || retained.len() < MAX_RETAINED_FRAMES;
            let probation_end = async {
                match probation_until {
                    Some(at) if on_probation => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut ended => {
                    let _ = write.shutdown().await;
                    if on_probation {
                        debug!(
                            peer = %self.peer,
                            resent = retained.len(),
                            "pubsub: peer reads one RPC per stream; sending each on its own"
                        );
                    } else {
                        debug!(peer = %self.peer, "pubsub: peer ended our stream; one per RPC from now");
                    }
                    let resend = if on_probation { retained } else { Vec::new() };
                    return self.write_each(queue, resend).await;
                }
                () = probation_end => {
                    on_probation = false;
                    retained = Vec::new();
                }
                rpc = queue.recv(), if can_take => {
                    let Some(rpc) = rpc else {
                        let _ = write.shutdown().await;
                        return Ok(());
                    };
                    for frame in frames(rpc, self.max_transmit_size) {
                        self.write(&mut write, &frame).await?;
                        if on_probation {
                            probation_until.get_or_insert_with(|| Instant::now() + PROBATION);
                            retained.push(frame.freeze());
                        }
                    }
                }
            }
        }
    }
}

/// Resolves when the peer ends the stream we write on (a clean end or a reset). Peers
/// never write on it; anything they do is discarded.
async fn peer_ends(mut read: ReadHalf<BoxedIo>) {
    let mut sink = [0u8; 64];
    while let Ok(n) = read.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}
