//! Helpers to run rust-libp2p's components against mycel's in one process.
//!
//! rust-libp2p's muxers are poll-based `StreamMuxer`s; [`DrivenMuxer`] polls one from a
//! task of its own and hands out its inbound streams, so tests can use it like mycel's.

pub mod rust_node;

use std::{
    future::poll_fn,
    sync::{Arc, Mutex},
    task::Poll,
};

use libp2p::core::{StreamMuxer, muxing::StreamMuxerExt};
use tokio::{io::DuplexStream, sync::mpsc, task::JoinHandle};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// A tokio pipe seen through futures' IO traits, as rust-libp2p wants it.
pub type RustIo = Compat<DuplexStream>;

/// An in-memory connection: the mycel end (tokio IO) and the rust-libp2p end.
pub fn pipe() -> (DuplexStream, RustIo) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    (a, b.compat())
}

/// A rust-libp2p muxer polled by a background task.
pub struct DrivenMuxer<M: StreamMuxer> {
    muxer: Arc<Mutex<M>>,
    inbound: mpsc::Receiver<M::Substream>,
    task: JoinHandle<()>,
}

impl<M> DrivenMuxer<M>
where
    M: StreamMuxer + Unpin + Send + 'static,
    M::Substream: Send + 'static,
    M::Error: std::fmt::Debug,
{
    /// Starts polling `muxer`.
    pub fn new(muxer: M) -> Self {
        let muxer = Arc::new(Mutex::new(muxer));
        let (tx, inbound) = mpsc::channel(64);
        let driven = muxer.clone();
        let task = tokio::spawn(async move {
            poll_fn(|cx| {
                let mut m = driven.lock().unwrap();
                loop {
                    match m.poll_unpin(cx) {
                        Poll::Ready(Ok(_)) => continue,
                        Poll::Ready(Err(_)) => return Poll::Ready(()),
                        Poll::Pending => break,
                    }
                }
                loop {
                    match m.poll_inbound_unpin(cx) {
                        Poll::Ready(Ok(stream)) => {
                            if tx.try_send(stream).is_err() {
                                return Poll::Ready(());
                            }
                        }
                        Poll::Ready(Err(_)) => return Poll::Ready(()),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            })
            .await
        });
        DrivenMuxer {
            muxer,
            inbound,
            task,
        }
    }

    /// Opens an outbound stream.
    pub async fn open(&self) -> M::Substream {
        poll_fn(|cx| self.muxer.lock().unwrap().poll_outbound_unpin(cx))
            .await
            .expect("rust-libp2p opens a stream")
    }

    /// The next inbound stream.
    pub async fn accept(&mut self) -> M::Substream {
        self.inbound
            .recv()
            .await
            .expect("rust-libp2p muxer still running")
    }
}

impl<M: StreamMuxer> Drop for DrivenMuxer<M> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
