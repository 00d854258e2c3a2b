//! Sync tables on floodsub nodes on real hosts over the memory transport.

use std::time::Duration;

use mycel_core::PeerId;
use mycel_memory::MemoryHub;
use mycel_pubsub::{TopicHash, testing::Node};
use mycel_sync_table::{Entry, SyncTable, SyncTableError};

trait Join {
    async fn join(&self, name: &str) -> SyncTable;
}

impl Join for Node {
    async fn join(&self, name: &str) -> SyncTable {
        SyncTable::join(self.pubsub.clone(), name)
            .await
            .expect("join")
    }
}

/// Polls `check` until it holds, for at most ten seconds.
async fn eventually(what: &str, check: impl FnMut() -> bool) {
    mycel_core::testing::eventually(what, Duration::from_secs(10), check).await;
}

/// Waits until `node` knows each of `peers` to be subscribed to `table`'s topic.
async fn until_subscribed(node: &Node, peers: &[PeerId], topic: &TopicHash) {
    mycel_pubsub::testing::until_subscribed(&node.pubsub, peers, topic).await;
}

fn live(table: &SyncTable) -> Vec<(String, Entry)> {
    table.entries()
}

/// Three nodes in a line a - b - c, each in table `name`.
async fn line(hub: &MemoryHub, name: &str) -> (Vec<Node>, Vec<SyncTable>) {
    let nodes = vec![
        Node::start(hub).await,
        Node::start(hub).await,
        Node::start(hub).await,
    ];
    let mut tables = Vec::new();
    for node in &nodes {
        tables.push(node.join(name).await);
    }
    nodes[0].host.connect(&nodes[1].addr()).await.unwrap();
    nodes[1].host.connect(&nodes[2].addr()).await.unwrap();
    let topic = tables[0].topic().clone();
    until_subscribed(&nodes[0], &[nodes[1].id()], &topic).await;
    until_subscribed(&nodes[1], &[nodes[0].id(), nodes[2].id()], &topic).await;
    until_subscribed(&nodes[2], &[nodes[1].id()], &topic).await;
    (nodes, tables)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_every_member_converge_on_all_three() {
    let hub = MemoryHub::default();
    let (_nodes, tables) = line(&hub, "converge").await;
    let (a, b, c) = (&tables[0], &tables[1], &tables[2]);

    a.set("from-a", &b"1"[..]).await.unwrap();
    b.set("from-b", &b"2"[..]).await.unwrap();
    c.set("from-c", &b"3"[..]).await.unwrap();
    c.set("doomed", &b"x"[..]).await.unwrap();
    // Concurrent writes to one key from both ends of the line.
    a.set("contested", &b"a"[..]).await.unwrap();
    c.set("contested", &b"c"[..]).await.unwrap();
    eventually("c's doomed key reaches a", || a.get("doomed").is_some()).await;
    a.delete("doomed").await.unwrap();

    eventually("all three agree", || {
        let (la, lb, lc) = (live(a), live(b), live(c));
        la == lb && lb == lc && la.len() == 4
    })
    .await;
    assert_eq!(b.get("from-a").as_deref(), Some(&b"1"[..]));
    assert_eq!(a.get("from-c").as_deref(), Some(&b"3"[..]));
    assert_eq!(c.get("doomed"), None, "the delete reached c");
    assert!(c.entry("doomed").unwrap().is_tombstone());
    let contested = a.entry("contested").unwrap();
    assert!(
        contested.value.as_deref() == Some(&b"a"[..])
            || contested.value.as_deref() == Some(&b"c"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_catches_up_over_several_pages_then_follows_live() {
    let hub = MemoryHub::default();
    let (a, b) = (Node::start(&hub).await, Node::start(&hub).await);
    let (ta, tb) = (a.join("late").await, b.join("late").await);
    a.host.connect(&b.addr()).await.unwrap();
    until_subscribed(&a, &[b.id()], ta.topic()).await;
    until_subscribed(&b, &[a.id()], tb.topic()).await;
    // 24 values of 60 KiB: more than one 1 MiB snapshot page.
    for i in 0..24u8 {
        let table = if i % 2 == 0 { &ta } else { &tb };
        table
            .set(format!("big-{i:02}"), vec![i; 60 * 1024])
            .await
            .unwrap();
    }
    ta.set("gone", &b"x"[..]).await.unwrap();
    ta.delete("gone").await.unwrap();
    eventually("b has a's writes", || {
        live(&tb) == live(&ta) && tb.entry("gone").is_some()
    })
    .await;

    let c = Node::start(&hub).await;
    let tc = c.join("late").await;
    c.host.connect(&b.addr()).await.unwrap();
    let report = tc.catch_up_from(b.id()).await.unwrap();
    assert_eq!(report.applied, 25, "24 values and a tombstone");
    assert_eq!(live(&tc), live(&ta));
    assert!(tc.entry("gone").unwrap().is_tombstone());

    until_subscribed(&b, &[c.id()], tc.topic()).await;
    ta.set("after", &b"live"[..]).await.unwrap();
    eventually("c follows live updates", || tc.get("after").is_some()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_blocks_another_writer_until_released() {
    let hub = MemoryHub::default();
    let (nodes, tables) = line(&hub, "leases").await;
    let (a, c) = (&tables[0], &tables[2]);

    let entry = a
        .acquire_lease("leader", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(entry.lease.unwrap().owner, nodes[0].id());
    eventually("c sees a's lease", || c.entry("leader").is_some()).await;

    let refused = c.set("leader", &b"c"[..]).await;
    assert!(
        matches!(refused, Err(SyncTableError::LeaseHeld { owner, .. }) if owner == nodes[0].id()),
        "{refused:?}"
    );
    assert!(matches!(
        c.acquire_lease("leader", Duration::from_secs(60)).await,
        Err(SyncTableError::LeaseHeld { .. })
    ));
    a.set("leader", &b"a"[..]).await.unwrap();
    eventually("c sees the holder's write", || {
        c.get("leader").as_deref() == Some(&b"a"[..])
    })
    .await;

    a.release_lease("leader").await.unwrap();
    eventually("c sees the release", || {
        c.entry("leader").is_some_and(|e| e.lease.is_none())
    })
    .await;
    c.set("leader", &b"c"[..]).await.unwrap();
    eventually("a sees c's write", || {
        a.get("leader").as_deref() == Some(&b"c"[..])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_serves_several_tables_and_stops_serving_when_dropped() {
    let hub = MemoryHub::default();
    let (a, b) = (Node::start(&hub).await, Node::start(&hub).await);
    let (x, y) = (a.join("x").await, a.join("y").await);
    assert!(matches!(
        SyncTable::join(a.pubsub.clone(), "x").await,
        Err(SyncTableError::AlreadyJoined(name)) if name == "x"
    ));
    x.set("k", &b"in x"[..]).await.unwrap();
    y.set("k", &b"in y"[..]).await.unwrap();
    // b dials, so that its side of the connection exists when it asks.
    b.host.connect(&a.addr()).await.unwrap();

    let (bx, by) = (b.join("x").await, b.join("y").await);
    bx.catch_up_from(a.id()).await.unwrap();
    by.catch_up_from(a.id()).await.unwrap();
    assert_eq!(bx.get("k").as_deref(), Some(&b"in x"[..]));
    assert_eq!(by.get("k").as_deref(), Some(&b"in y"[..]));

    // With x gone, y is still served; with both gone, nothing is.
    drop(x);
    drop(bx);
    let bx = b.join("x").await;
    let report = bx.catch_up_from(a.id()).await.unwrap();
    assert_eq!(report.applied, 0, "x is no longer served");
    drop(by);
    let by = b.join("y").await;
    let report = by.catch_up_from(a.id()).await.unwrap();
    assert_eq!(report.applied, 1, "y still is");
    drop(y);
    let gone = by.catch_up_from(a.id()).await;
    // Refused in negotiation (reported when opening the stream, or on its first read).
    assert!(
        matches!(
            gone,
            Err(SyncTableError::Network(_) | SyncTableError::Io(_))
        ),
        "{gone:?}"
    );
}
