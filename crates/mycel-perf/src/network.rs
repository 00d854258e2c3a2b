//! Perf over a [`Network`]: the inbound handler and the client run.

use mycel_core::{NegotiatedStream, Network, PeerId, StreamHandler, stream_handler};
use tracing::debug;

use crate::{
    PROTOCOL_ID, PerfError,
    protocol::{RunParams, RunStats, client, serve},
};

/// The handler to register for [`PROTOCOL_ID`]: runs [`serve`] on each inbound stream and
/// logs the outcome at debug level.
///
/// Register it only on purpose: the spec says perf should not be enabled by default, nor
/// on publicly reachable nodes (see the crate docs).
pub fn handler() -> StreamHandler {
    stream_handler(|stream: NegotiatedStream| async move {
        let peer = stream.peer;
        match serve(stream.io).await {
            Ok(stats) => debug!(
                %peer,
                received = stats.bytes_received,
                sent = stats.bytes_sent,
                "perf stream served"
            ),
            Err(error) => debug!(%peer, %error, "perf stream failed"),
        }
    })
}

/// Opens a perf stream to `peer` (dialing if the network must) and runs [`client`] on
/// it. The returned times cover the stream only, not opening it.
pub async fn run(
    network: &dyn Network,
    peer: PeerId,
    params: RunParams,
) -> Result<RunStats, PerfError> {
    let stream = network.new_stream(peer, &[PROTOCOL_ID]).await?;
    client(stream.io, params).await
}

#[cfg(test)]
mod tests {
    use mycel_core::NetworkError;

    use super::*;
    use mycel_core::testing::LoopbackNetwork as FakeNetwork;

    #[tokio::test]
    async fn run_through_the_network_moves_the_requested_bytes() {
        let network = FakeNetwork::new();
        network.set_stream_handler(PROTOCOL_ID, handler());
        let params = RunParams {
            upload_bytes: 1 << 20,
            download_bytes: 3 << 20,
        };
        let stats = run(&network, PeerId::random(), params).await.unwrap();
        assert_eq!(stats.upload_bytes, params.upload_bytes);
        assert_eq!(stats.download_bytes, params.download_bytes);
    }

    #[tokio::test]
    async fn run_fails_when_peer_lacks_the_protocol() {
        let network = FakeNetwork::new();
        let err = run(&network, PeerId::random(), RunParams::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PerfError::Network(NetworkError::ProtocolNotSupported { .. })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn run_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let network = FakeNetwork::new();
        let future = run(&network, PeerId::random(), RunParams::default());
        assert_send(&future);
    }
}
