//! `mycel perf`: one /perf/1.0.0 exchange, one JSON line.

use std::time::{Duration, Instant};

use mycel::{Multiaddr, Muxer, perf};

use crate::{
    args::KeyTypeArg,
    json::{Value, object},
    node::client_host,
    output::{emit, fail, ms},
};

pub(crate) async fn run(
    addr: Multiaddr,
    params: perf::RunParams,
    muxer: Muxer,
    key_type: KeyTypeArg,
    limit: Duration,
) -> i32 {
    let host = match client_host(muxer, key_type).await {
        Ok(host) => host,
        Err(e) => return fail(&e),
    };
    let work = async {
        let started = Instant::now();
        let peer = host.connect(&addr).await.map_err(|e| e.to_string())?;
        let connect = started.elapsed();
        let stats = perf::run(&host, peer, params)
            .await
            .map_err(|e| format!("perf: {e}"))?;
        Ok::<_, String>((connect, stats))
    };
    let code = match tokio::time::timeout(limit, work).await {
        Ok(Ok((connect, stats))) => {
            emit(&object(&[
                ("ok", Value::Bool(true)),
                ("upload_bytes", Value::Int(stats.upload_bytes)),
                ("download_bytes", Value::Int(stats.download_bytes)),
                ("seconds", Value::Num(stats.elapsed.as_secs_f64())),
                ("connect_ms", Value::Num(ms(connect))),
            ]));
            0
        }
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&format!("timed out after {} s", limit.as_secs_f64())),
    };
    host.close().await;
    code
}
