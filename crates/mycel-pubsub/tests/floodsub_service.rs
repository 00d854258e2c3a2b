//! Floodsub nodes on real hosts over the memory transport.

use std::time::Duration;

use futures::StreamExt;
use mycel_core::PeerId;
use mycel_memory::MemoryHub;
use mycel_pubsub::{PubsubError, Subscription, Topic, TopicHash, testing::Node};

fn topic() -> TopicHash {
    Topic::new("news").hash()
}

/// Waits until `node` knows each of `peers` to be subscribed to `topic`.
async fn until_subscribed(node: &Node, peers: &[PeerId], topic: &TopicHash) {
    mycel_pubsub::testing::until_subscribed(&node.pubsub, peers, topic).await;
}

async fn next(sub: &mut Subscription) -> mycel_pubsub::Received {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a message in time")
        .expect("the subscription is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_crosses_a_line_of_nodes_once_with_its_author_intact() {
    let hub = MemoryHub::default();
    let (a, b, c) = (
        Node::start(&hub).await,
        Node::start(&hub).await,
        Node::start(&hub).await,
    );
    let mut subs = Vec::new();
    for node in [&a, &b, &c] {
        subs.push(node.pubsub.subscribe(topic()).await.unwrap());
    }
    a.host.connect(&b.addr()).await.unwrap();
    b.host.connect(&c.addr()).await.unwrap();
    until_subscribed(&a, &[b.id()], &topic()).await;
    until_subscribed(&b, &[a.id(), c.id()], &topic()).await;
    until_subscribed(&c, &[b.id()], &topic()).await;

    let id = a.pubsub.publish(topic(), &b"hello"[..]).await.unwrap();
    let at_b = next(&mut subs[1]).await;
    let at_c = next(&mut subs[2]).await;
    assert_eq!(at_b.id, id);
    assert_eq!(at_c.id, id);
    assert_eq!(at_c.from, b.id(), "c hears it from b");
    assert_eq!(at_c.message.from, Some(a.id()), "authored by a");
    assert_eq!(&at_c.message.data[..], b"hello");

    // Nothing else arrives: no duplicate at c, and a does not get its own message back.
    let second = c.pubsub.publish(topic(), &b"back"[..]).await.unwrap();
    let at_a = next(&mut subs[0]).await;
    assert_eq!(
        at_a.id, second,
        "a's first delivery is c's message, not its own"
    );
    let at_b = next(&mut subs[1]).await;
    assert_eq!(at_b.id, second);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subs[2].next())
            .await
            .is_err(),
        "c gets neither a duplicate nor its own message"
    );
    let stats = b.pubsub.stats().await;
    assert_eq!(stats.peers, 2);
    assert_eq!(stats.invalid, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_subscription_leaves_the_topic() {
    let hub = MemoryHub::default();
    let (a, b) = (Node::start(&hub).await, Node::start(&hub).await);
    let sub = b.pubsub.subscribe(topic()).await.unwrap();
    let second = b.pubsub.subscribe(topic()).await.unwrap();
    a.host.connect(&b.addr()).await.unwrap();
    until_subscribed(&a, &[b.id()], &topic()).await;
    drop(sub);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        a.pubsub.topic_peers(topic()).await,
        vec![b.id()],
        "one subscription is still open"
    );
    drop(second);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !a.pubsub.topic_peers(topic()).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the unsubscription reaches a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_node_refuses_work_and_an_oversize_message_is_refused() {
    let hub = MemoryHub::default();
    let a = Node::start(&hub).await;
    let big = vec![0u8; 2 * 1024 * 1024];
    assert!(matches!(
        a.pubsub.publish(topic(), big).await,
        Err(PubsubError::MessageTooLarge { .. })
    ));
    let mut sub = a.pubsub.subscribe(topic()).await.unwrap();
    a.pubsub.close().await;
    assert!(matches!(
        a.pubsub.publish(topic(), &b"x"[..]).await,
        Err(PubsubError::Closed)
    ));
    assert!(
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("the subscription ends")
            .is_none()
    );
}
