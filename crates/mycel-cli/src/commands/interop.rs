//! `mycel interop`: the libp2p test-plans transport-interop binary.
//!
//! Configured only by environment variables (test-plans `transport-interop/README.md`):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `transport` | `tcp` (the only one mycel has) | required |
//! | `muxer` | `yamux` or `mplex` | required |
//! | `security` | `noise` | required |
//! | `is_dialer` | `true` or `false` | required |
//! | `ip` | address the listener binds | `0.0.0.0` |
//! | `redis_addr` | `host:port` of the coordinating Redis | `redis:6379` |
//! | `test_timeout_seconds` | how long either side waits | `180` |
//!
//! The listener listens on `/ip4/<ip>/tcp/0`, RPUSHes `<addr>/p2p/<id>` to the Redis
//! list `listenerAddr` and waits to be killed (exit 1 if the timeout comes first). The
//! dialer BLPOPs that address, connects, pings once and prints exactly one line on
//! stdout, `{"handshakePlusOneRTTMillis":…,"pingRTTMilllis":…}` (three l's, as the test
//! runner reads it), then exits 0. Logs go to stderr; any failure exits 1.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket},
    time::{Duration, Instant},
};

use mycel::{
    DefaultStack, Host, Multiaddr, Muxer,
    core::{Protocol, addr::with_peer_id},
    ping,
};

use crate::json::{Value, object};

/// The Redis list the listener's address travels on.
const LISTENER_ADDR_KEY: &str = "listenerAddr";

/// How long to keep trying to reach Redis (it may start after us).
const REDIS_CONNECT_LIMIT: Duration = Duration::from_secs(20);

/// The test's settings, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    muxer: Muxer,
    is_dialer: bool,
    ip: IpAddr,
    redis_addr: String,
    timeout: Duration,
}

impl Settings {
    /// Reads the variables through `var` (the process environment in `mycel interop`).
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let transport = required("transport")?;
        if transport != "tcp" {
            return Err(format!("transport {transport:?} is not supported (tcp is)"));
        }
        let security = required("security")?;
        if security != "noise" {
            return Err(format!("security {security:?} is not supported (noise is)"));
        }
        let muxer = match required("muxer")?.as_str() {
            "yamux" => Muxer::Yamux,
            "mplex" => Muxer::Mplex,
            other => return Err(format!("muxer {other:?} is not supported (yamux, mplex)")),
        };
        let is_dialer = match required("is_dialer")?.as_str() {
            "true" => true,
            "false" => false,
            other => return Err(format!("is_dialer must be true or false, not {other:?}")),
        };
        let ip = match var("ip") {
            Some(ip) => ip
                .parse()
                .map_err(|_| format!("ip {ip:?} is not an address"))?,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let redis_addr = var("redis_addr").unwrap_or_else(|| "redis:6379".into());
        let timeout = match var("test_timeout_seconds") {
            Some(s) => match s.parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    return Err(format!(
                        "test_timeout_seconds {s:?} is not a whole number > 0"
                    ));
                }
            },
            None => Duration::from_secs(180),
        };
        Ok(Settings {
            muxer,
            is_dialer,
            ip,
            redis_addr,
            timeout,
        })
    }
}

/// Runs one side of the test; the exit status.
pub(crate) async fn run(settings: Settings) -> i32 {
    let result = if settings.is_dialer {
        dial(&settings).await
    } else {
        listen(&settings).await
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mycel interop: {e}");
            1
        }
    }
}

/// A blocking Redis connection, retried until [`REDIS_CONNECT_LIMIT`].
fn redis_connection(addr: &str) -> Result<redis::Connection, String> {
    let client = redis::Client::open(format!("redis://{addr}/"))
        .map_err(|e| format!("redis address {addr:?}: {e}"))?;
    let started = Instant::now();
    loop {
        match client.get_connection() {
            Ok(conn) => return Ok(conn),
            Err(e) if started.elapsed() < REDIS_CONNECT_LIMIT => {
                tracing::debug!(error = %e, "redis not reachable yet");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(format!("cannot reach redis at {addr}: {e}")),
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("redis task failed: {e}"))?
}

async fn listen(settings: &Settings) -> Result<(), String> {
    let bind = Multiaddr::empty()
        .with(match settings.ip {
            IpAddr::V4(ip) => Protocol::Ip4(ip),
            IpAddr::V6(ip) => Protocol::Ip6(ip),
        })
        .with(Protocol::Tcp(0));
    let host = Host::builder()
        .with_tcp_noise(&[settings.muxer])
        .listen_on(bind)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let port = host
        .listen_addrs()
        .iter()
        .find_map(|a| {
            a.iter().find_map(|p| match p {
                Protocol::Tcp(port) => Some(port),
                _ => None,
            })
        })
        .ok_or("no TCP listen address")?;
    // Bound to every interface: publish the one the dialer can reach, the address
    // this machine uses towards Redis (which the dialer reaches too).
    let ip = if settings.ip.is_unspecified() {
        local_ip_towards(&settings.redis_addr)?
    } else {
        settings.ip
    };
    let addr = Multiaddr::from(ip).with(Protocol::Tcp(port));
    let addr = with_peer_id(&addr, &host.peer_id()).map_err(|e| e.to_string())?;
    tracing::info!(%addr, "listening");
    let redis_addr = settings.redis_addr.clone();
    let text = addr.to_string();
    blocking(move || {
        let mut conn = redis_connection(&redis_addr)?;
        redis::cmd("RPUSH")
            .arg(LISTENER_ADDR_KEY)
            .arg(&text)
            .query::<i64>(&mut conn)
            .map_err(|e| format!("RPUSH: {e}"))
    })
    .await?;
    tokio::time::sleep(settings.timeout).await;
    host.close().await;
    Err(format!(
        "no dialer finished within {} s",
        settings.timeout.as_secs()
    ))
}

/// The local address a datagram to `redis_addr` would leave from (nothing is sent).
fn local_ip_towards(redis_addr: &str) -> Result<IpAddr, String> {
    let target: SocketAddr = redis_addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {redis_addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{redis_addr} resolves to nothing"))?;
    let bind: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    socket.connect(target).map_err(|e| e.to_string())?;
    Ok(socket.local_addr().map_err(|e| e.to_string())?.ip())
}

async fn dial(settings: &Settings) -> Result<(), String> {
    let redis_addr = settings.redis_addr.clone();
    let wait = settings.timeout.as_secs_f64();
    let text = blocking(move || {
        let mut conn = redis_connection(&redis_addr)?;
        let popped: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(LISTENER_ADDR_KEY)
            .arg(wait)
            .query(&mut conn)
            .map_err(|e| format!("BLPOP: {e}"))?;
        popped
            .map(|(_, addr)| addr)
            .ok_or_else(|| format!("no listener address within {wait} s"))
    })
    .await?;
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| format!("listener address {text:?}: {e}"))?;
    let host = Host::builder()
        .with_tcp_noise(&[settings.muxer])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let work = async {
        let started = Instant::now();
        let peer = host
            .connect(&addr)
            .await
            .map_err(|e| format!("dial: {e}"))?;
        let rtt = ping::ping_peer(&host, peer)
            .await
            .map_err(|e| format!("ping: {e}"))?;
        Ok::<_, String>((started.elapsed(), rtt))
    };
    let result = tokio::time::timeout(settings.timeout, work)
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
    host.close().await;
    let (handshake_plus_one_rtt, rtt) = result?;
    crate::output::emit(&object(&[
        (
            "handshakePlusOneRTTMillis",
            Value::Num(handshake_plus_one_rtt.as_secs_f64() * 1000.0),
        ),
        ("pingRTTMilllis", Value::Num(rtt.as_secs_f64() * 1000.0)),
    ]));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|k| vars.get(k).cloned())
    }

    const BASE: [(&str, &str); 4] = [
        ("transport", "tcp"),
        ("muxer", "mplex"),
        ("security", "noise"),
        ("is_dialer", "true"),
    ];

    #[test]
    fn reads_the_runner_variables_with_their_defaults() {
        let s = settings(&BASE).unwrap();
        assert_eq!(s.muxer, Muxer::Mplex);
        assert!(s.is_dialer);
        assert_eq!(s.ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(s.redis_addr, "redis:6379");
        assert_eq!(s.timeout, Duration::from_secs(180));
        let mut vars = BASE.to_vec();
        vars.extend([
            ("ip", "127.0.0.1"),
            ("redis_addr", "localhost:7000"),
            ("test_timeout_seconds", "30"),
        ]);
        let s = settings(&vars).unwrap();
        assert_eq!(s.ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s.redis_addr, "localhost:7000");
        assert_eq!(s.timeout, Duration::from_secs(30));
    }

    #[test]
    fn refuses_what_it_cannot_do_and_bad_values() {
        for (name, value) in [
            ("transport", "quic-v1"),
            ("security", "tls"),
            ("muxer", "spdy"),
            ("is_dialer", "yes"),
            ("ip", "localhost"),
            ("test_timeout_seconds", "0"),
        ] {
            let mut vars = BASE.to_vec();
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            assert!(settings(&vars).is_err(), "{name}={value}");
        }
        assert!(settings(&BASE[1..]).unwrap_err().contains("transport"));
    }
}
