//! What the interop test files share: peer id conversions, the muxer mapping, a time
//! bound, and the pair of tests (one per muxer) most scenarios run as.

#![allow(dead_code)] // each test file uses its own part

use std::{future::Future, time::Duration};

use mycel::{Muxer, PeerId};
use mycel_interop::rust_node::RustMuxer;

/// A rust-libp2p peer id as mycel's.
pub(crate) fn to_mycel(peer: libp2p::PeerId) -> PeerId {
    PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

/// A mycel peer id as rust-libp2p's.
pub(crate) fn to_rust(peer: PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

/// The rust-libp2p muxer matching mycel's.
pub(crate) fn rust_muxer(muxer: Muxer) -> RustMuxer {
    match muxer {
        Muxer::Yamux => RustMuxer::Yamux,
        Muxer::Mplex => RustMuxer::Mplex,
    }
}

/// Runs `test`, failing it if it takes longer than `limit`.
pub(crate) async fn bounded_by(limit: Duration, test: impl Future<Output = ()>) {
    tokio::time::timeout(limit, test)
        .await
        .unwrap_or_else(|_| panic!("interop test did not finish within {limit:?}"));
}

/// For each `scenario(muxer)` async fn named, a module of that name with two tests,
/// `over_yamux` and `over_mplex`, each bounded by the file's `bounded`.
macro_rules! each_muxer {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_yamux() {
                super::bounded(super::$scenario(mycel::Muxer::Yamux)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn over_mplex() {
                super::bounded(super::$scenario(mycel::Muxer::Mplex)).await;
            }
        }
    )*};
}
pub(crate) use each_muxer;
