//! Ping over a [`Network`]: the inbound handler and the one-shot dialer.

use std::time::Duration;

use mycel_core::{NegotiatedStream, Network, PeerId, StreamHandler, stream_handler};
use tokio::io::AsyncWriteExt;
use tracing::debug;

use crate::{
    MAX_INBOUND_PEERS, MAX_INBOUND_STREAMS_PER_PEER, PING_TIMEOUT, PROTOCOL_ID, PingError,
    limit::InboundLimit,
    protocol::{ping, serve},
};

/// The handler to register for [`PROTOCOL_ID`]: runs [`serve`] on each inbound stream.
///
/// It serves at most [`MAX_INBOUND_STREAMS_PER_PEER`] streams per peer and streams from
/// at most [`MAX_INBOUND_PEERS`] peers at once; a stream past either limit is dropped at
/// once (the muxer resets it). The count is shared by the clones of one returned
/// handler, not across calls to `handler()`. Errors are logged at debug level.
pub fn handler() -> StreamHandler {
    handler_with_limit(InboundLimit::new(
        MAX_INBOUND_STREAMS_PER_PEER,
        MAX_INBOUND_PEERS,
    ))
}

fn handler_with_limit(limit: InboundLimit) -> StreamHandler {
    stream_handler(move |stream: NegotiatedStream| {
        // Counted when the stream arrives, before its task first runs, so the limit
        // follows the order in which streams were accepted.
        let permit = limit.try_acquire(stream.peer);
        async move {
            let peer = stream.peer;
            let _permit = match permit {
                Ok(permit) => permit,
                Err(refused) => {
                    debug!(%peer, ?refused, "refusing inbound ping stream");
                    return;
                }
            };
            if let Err(error) = serve(stream.io).await {
                debug!(%peer, %error, "inbound ping stream failed");
            }
        }
    })
}

/// Pings `peer` once: opens a ping stream (dialing if the network must), pings, closes
/// our write side. Returns the round-trip time of the ping itself.
///
/// Bounded by [`PING_TIMEOUT`] from the start, stream opening included; see
/// [`ping_peer_with_timeout`] to choose another bound.
pub async fn ping_peer(network: &dyn Network, peer: PeerId) -> Result<Duration, PingError> {
    ping_peer_with_timeout(network, peer, PING_TIMEOUT).await
}

/// [`ping_peer`] bounded by `timeout` instead of [`PING_TIMEOUT`]. Past it, the stream is
/// dropped and the result is [`PingError::Timeout`].
pub async fn ping_peer_with_timeout(
    network: &dyn Network,
    peer: PeerId,
    timeout: Duration,
) -> Result<Duration, PingError> {
    let attempt = async {
        let mut stream = network.new_stream(peer, &[PROTOCOL_ID]).await?;
        let rtt = ping(&mut stream.io).await?;
        network.record_latency(peer, rtt);
        // The ping succeeded; a failure to close cleanly does not change its answer.
        if let Err(error) = stream.io.shutdown().await {
            debug!(%peer, %error, "closing ping stream failed");
        }
        Ok(rtt)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| PingError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use mycel_core::NetworkError;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use mycel_core::testing::LoopbackNetwork as FakeNetwork;

    #[tokio::test]
    async fn ping_peer_measures_rtt_through_the_network() {
        let network = FakeNetwork::new();
        network.set_stream_handler(PROTOCOL_ID, handler());
        let rtt = ping_peer(&network, PeerId::random()).await.unwrap();
        assert!(rtt < PING_TIMEOUT);
    }

    #[test]
    fn ping_peer_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let network = FakeNetwork::new();
        let future = ping_peer(&network, PeerId::random());
        assert_send(&future);
    }

    #[tokio::test]
    async fn ping_peer_fails_when_peer_lacks_the_protocol() {
        let network = FakeNetwork::new();
        let err = ping_peer(&network, PeerId::random()).await.unwrap_err();
        assert!(
            matches!(
                err,
                PingError::Network(NetworkError::ProtocolNotSupported { .. })
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn ping_peer_times_out_when_no_echo_comes() {
        let network = FakeNetwork::new();
        network.set_stream_handler(
            PROTOCOL_ID,
            stream_handler(|mut stream: NegotiatedStream| async move {
                // Swallow the ping, never answer.
                let mut sink = Vec::new();
                let _ = stream.io.read_to_end(&mut sink).await;
            }),
        );
        let timeout = Duration::from_millis(50);
        let err = ping_peer_with_timeout(&network, PeerId::random(), timeout)
            .await
            .unwrap_err();
        assert!(
            matches!(err, PingError::Timeout(d) if d == timeout),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn handler_refuses_a_third_concurrent_stream_from_one_peer() {
        let network = FakeNetwork::new();
        network.set_stream_handler(PROTOCOL_ID, handler());
        let peer = PeerId::random();
        let mut first = network.new_stream(peer, &[PROTOCOL_ID]).await.unwrap();
        let mut second = network.new_stream(peer, &[PROTOCOL_ID]).await.unwrap();
        ping(&mut first.io).await.unwrap();
        ping(&mut second.io).await.unwrap();

        let mut third = network.new_stream(peer, &[PROTOCOL_ID]).await.unwrap();
        assert!(ping(&mut third.io).await.is_err());

        // Closing one stream frees a slot for the next.
        first.io.shutdown().await.unwrap();
        let mut rest = Vec::new();
        // The handler closed its side as its last step before ending (and releasing the
        // slot); on this single-threaded runtime it has ended by the time we see EOF.
        first.io.read_to_end(&mut rest).await.unwrap();
        let mut fourth = network.new_stream(peer, &[PROTOCOL_ID]).await.unwrap();
        ping(&mut fourth.io).await.unwrap();
        ping(&mut second.io).await.unwrap();
    }

    #[tokio::test]
    async fn handler_limit_is_counted_per_peer() {
        let shared = handler();
        let one = FakeNetwork::new();
        let two = FakeNetwork::new();
        one.set_stream_handler(PROTOCOL_ID, shared.clone());
        two.set_stream_handler(PROTOCOL_ID, shared);
        let target = PeerId::random();

        let mut held = Vec::new();
        for _ in 0..MAX_INBOUND_STREAMS_PER_PEER {
            let mut stream = one.new_stream(target, &[PROTOCOL_ID]).await.unwrap();
            ping(&mut stream.io).await.unwrap();
            held.push(stream);
        }
        let mut extra = one.new_stream(target, &[PROTOCOL_ID]).await.unwrap();
        assert!(ping(&mut extra.io).await.is_err());

        // Another peer, same handler: still served.
        let mut other = two.new_stream(target, &[PROTOCOL_ID]).await.unwrap();
        ping(&mut other.io).await.unwrap();
    }
}
