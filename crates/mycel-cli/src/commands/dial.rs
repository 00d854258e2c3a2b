//! `mycel dial`: connect, ping, optionally use the peer's DHT and pubsub, one JSON line.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use mycel::{
    Host, Multiaddr, Muxer, PeerId,
    core::addr::split_peer_id,
    kad::{self, KadConfig, KadError, Kademlia, Mode, Quorum, Record, Validators},
    ping,
};

use crate::{
    args::{DialOps, KadOps, KeyTypeArg},
    json::{Value, object},
    node::{Node, client_host},
    output::{emit, fail, ms},
    pubsub,
};

pub(crate) async fn run(
    addr: Multiaddr,
    muxer: Muxer,
    key_type: KeyTypeArg,
    ops: DialOps,
    limit: Duration,
) -> i32 {
    let host = match client_host(muxer, key_type).await {
        Ok(host) => host,
        Err(e) => return fail(&e),
    };
    let kad = ops.kad;
    // Started before connecting, so the node sees the peer's identify.
    let pubsub_node = match ops.pubsub.selected() {
        Some((router, topic)) => match pubsub::start(&host, router) {
            Ok(node) => Some((node, router, topic)),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let work = async {
        let started = Instant::now();
        let peer = host.connect(&addr).await.map_err(|e| e.to_string())?;
        let connect = started.elapsed();
        let rtt = ping::ping_peer(&host, peer)
            .await
            .map_err(|e| format!("ping: {e}"))?;
        // The host identified the peer on connecting; ask again for a sure answer (a
        // peer without identify leaves agent null and protocols empty).
        let identity = match host.identify(peer).await {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::debug!(error = %e, "identify failed");
                None
            }
        };
        let got = if kad.is_empty() {
            None
        } else {
            let protocols = identity.as_ref().map(|info| &info.protocols[..]);
            kad_exchange(&host, peer, &addr, &kad, protocols).await?
        };
        let received = match &pubsub_node {
            Some((node, router, topic)) => Some(
                pubsub::exchange(
                    node,
                    *router,
                    peer,
                    topic.clone(),
                    ops.pubsub.publish.clone(),
                    ops.wait_msgs,
                )
                .await?,
            ),
            None => None,
        };
        Ok::<_, String>((peer, connect, rtt, identity, got, received))
    };
    let code = match tokio::time::timeout(limit, work).await {
        Ok(Ok((peer, connect, rtt, identity, got, received))) => {
            let peer = peer.to_string();
            let (agent, protocols) = match identity {
                Some(info) => (Some(info.agent_version), info.protocols),
                None => (None, Vec::new()),
            };
            let mut fields = vec![
                ("ok", Value::Bool(true)),
                ("peer", Value::Str(&peer)),
                ("rtt_ms", Value::Num(ms(rtt))),
                ("connect_ms", Value::Num(ms(connect))),
                ("agent", agent.as_deref().map_or(Value::Null, Value::Str)),
                ("protocols", Value::StrList(&protocols)),
            ];
            if let Some(value) = &got {
                fields.push(("kad_get", value.as_deref().map_or(Value::Null, Value::Str)));
            }
            if let Some(received) = &received {
                fields.push(("received", Value::StrList(received)));
            }
            emit(&object(&fields));
            0
        }
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&format!("timed out after {} s", limit.as_secs_f64())),
    };
    // The answer is out. The remote identifies us on connecting too; give its request a
    // moment to be answered before the connection goes (closing is abrupt).
    if code == 0 {
        tokio::time::sleep(DIAL_LINGER).await;
    }
    let mut node = Node::new(host);
    node.pubsub = pubsub_node.map(|(pubsub, _, _)| pubsub);
    node.close().await;
    code
}

/// How long `dial` keeps its connection after printing, for the remote's own identify.
const DIAL_LINGER: Duration = Duration::from_millis(300);

/// Runs `ops` against the connected `peer` with a client-mode DHT node whose only known
/// server is that peer. Returns `Some(value or None)` when a get was asked for.
async fn kad_exchange(
    host: &Host,
    peer: PeerId,
    addr: &Multiaddr,
    ops: &KadOps,
    protocols: Option<&[String]>,
) -> Result<Option<Option<String>>, String> {
    let protocol = kad::PROTOCOL_ID;
    if protocols.is_some_and(|list| !list.iter().any(|p| p == protocol.as_str())) {
        return Err(format!(
            "kad: the peer does not serve {}",
            protocol.as_str()
        ));
    }
    let (remote_addr, _) = split_peer_id(addr).map_err(|e| e.to_string())?;
    // The peer judges the records: accept everything locally, store what it accepts.
    let config = KadConfig::default()
        .with_mode(Mode::Client)
        .with_validators(Validators::accept_all())
        .with_bootstrap_interval(None);
    let dht = Kademlia::new(Arc::new(host.clone()), config);
    dht.add_address(peer, remote_addr);
    let result = async {
        if let Some(put) = &ops.put {
            let record = Record::new(put.key.clone(), put.value.clone());
            dht.put_record_with(record, Quorum::One)
                .await
                .map_err(|e| format!("kad put: {e}"))?;
        }
        let Some(key) = &ops.get else {
            return Ok(None);
        };
        // A put also stored the record locally: drop that copy, so a value found comes
        // from the peer.
        dht.with_state(|s| s.store.remove(key.as_bytes()));
        match dht.get_record_with(key.clone(), Quorum::One).await {
            Ok(found) => Ok(Some(Some(
                String::from_utf8_lossy(&found.record.value).into_owned(),
            ))),
            Err(KadError::NotFound) => Ok(Some(None)),
            Err(e) => Err(format!("kad get: {e}")),
        }
    }
    .await;
    dht.close().await;
    result
}
