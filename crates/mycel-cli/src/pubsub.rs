//! `--pubsub floodsub|gossipsub --topic T`: the pubsub side of `listen` and `dial`.

use std::{sync::Arc, time::Duration};

use clap::{Args, ValueEnum};
use futures::StreamExt;
use mycel::{
    Host, PeerId,
    pubsub::{
        Pubsub, PubsubConfig, SigningPolicy, Topic, TopicHash, ValidationMode,
        floodsub::FloodsubConfig,
        gossipsub::{Gossipsub, GossipsubConfig},
    },
};

/// The router `--pubsub` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Router {
    Floodsub,
    Gossipsub,
}

/// The pubsub options shared by `listen` and `dial`.
#[derive(Debug, Clone, Args)]
pub(crate) struct PubsubArgs {
    /// Also run a pubsub router and join --topic.
    #[arg(long, value_enum, requires = "topic")]
    pub(crate) pubsub: Option<Router>,
    /// The topic to join (with --pubsub).
    #[arg(long, value_name = "T", requires = "pubsub")]
    pub(crate) topic: Option<String>,
    /// Publish this message on the topic once a remote peer is subscribed (listen: then
    /// again every second, 10 times in all).
    #[arg(long, value_name = "MSG", requires = "pubsub")]
    pub(crate) publish: Option<String>,
}

/// How many times `listen --publish` publishes its message, a second apart.
pub(crate) const LISTEN_PUBLISH_COUNT: usize = 10;

/// How often the subscription state is looked at while waiting for it.
const POLL: Duration = Duration::from_millis(50);

impl PubsubArgs {
    /// The router and topic, when --pubsub was given.
    pub(crate) fn selected(&self) -> Option<(Router, TopicHash)> {
        let router = self.pubsub?;
        let topic = self.topic.as_ref()?;
        Some((router, Topic::new(topic).hash()))
    }
}

/// Starts `router` on `host`. Floodsub accepts unsigned messages (rust-libp2p's floodsub
/// sends them) and checks those that are signed; gossipsub requires signatures.
pub(crate) fn start(host: &Host, router: Router) -> Result<Pubsub, String> {
    let config = PubsubConfig::new(SigningPolicy::StrictSign(host.keypair().clone()));
    let network = Arc::new(host.clone());
    Ok(match router {
        Router::Floodsub => {
            let floodsub = FloodsubConfig {
                validation: ValidationMode::Permissive,
                ..FloodsubConfig::default()
            };
            Pubsub::floodsub(network, config, floodsub)
        }
        Router::Gossipsub => {
            let gossipsub = Gossipsub::new(GossipsubConfig::default())
                .map_err(|e| format!("gossipsub: {e}"))?;
            Pubsub::new(network, config, gossipsub)
        }
    })
}

/// The listener's side: prints `MSG <topic> <data>` for every message on `topic`, and
/// with `publish` publishes it once a peer is subscribed, then every second. Runs until
/// dropped.
pub(crate) async fn serve(
    pubsub: Pubsub,
    topic: TopicHash,
    publish: Option<String>,
    emit: fn(&str),
) -> Result<(), String> {
    let mut subscription = pubsub
        .subscribe(topic.clone())
        .await
        .map_err(|e| e.to_string())?;
    let publisher = async {
        let Some(message) = publish else {
            return futures::future::pending().await;
        };
        while pubsub.topic_peers(topic.clone()).await.is_empty() {
            tokio::time::sleep(POLL).await;
        }
        for _ in 0..LISTEN_PUBLISH_COUNT {
            if let Err(e) = pubsub.publish(topic.clone(), message.clone()).await {
                tracing::warn!(error = %e, "publish failed");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        futures::future::pending::<()>().await
    };
    let printer = async {
        while let Some(received) = subscription.next().await {
            emit(&format!(
                "MSG {} {}",
                received.message.topic.as_str(),
                String::from_utf8_lossy(&received.message.data)
            ));
        }
    };
    tokio::select! {
        _ = publisher => {}
        _ = printer => {}
    }
    Ok(())
}

/// The dialer's side, once connected to `peer`: waits until `peer` is subscribed to
/// `topic` (and in our mesh, for gossipsub), publishes if asked, and collects `wait`
/// messages. Returns their data.
pub(crate) async fn exchange(
    pubsub: &Pubsub,
    router: Router,
    peer: PeerId,
    topic: TopicHash,
    publish: Option<String>,
    wait: usize,
) -> Result<Vec<String>, String> {
    let mut subscription = pubsub
        .subscribe(topic.clone())
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let subscribed = pubsub.topic_peers(topic.clone()).await.contains(&peer);
        let grafted =
            router == Router::Floodsub || pubsub.mesh_peers(topic.clone()).await.contains(&peer);
        if subscribed && grafted {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    if let Some(message) = publish {
        pubsub
            .publish(topic.clone(), message)
            .await
            .map_err(|e| format!("publish: {e}"))?;
    }
    let mut received = Vec::new();
    while received.len() < wait {
        let Some(message) = subscription.next().await else {
            return Err("the pubsub node stopped".into());
        };
        received.push(String::from_utf8_lossy(&message.message.data).into_owned());
    }
    Ok(received)
}
