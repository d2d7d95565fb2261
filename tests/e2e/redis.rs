//! The Redis online list and bus: the presence suite, nodes that die or shut down, and
//! events that reach every node.

use std::time::Duration;

use confab::bus::{Bus, Event, RedisBus, SocketRef};
use confab::messages::{Conversation, Message};
use confab::presence::{conformance, Presence, RedisPresence};
use confab_e2e::suffix;
use tokio::sync::broadcast;

/// The heartbeat lifetime of the tests about dying nodes: short, so they finish quickly.
const SHORT_TTL: Duration = Duration::from_secs(1);

/// How long any single wait for an event may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server named by `CONFAB_TEST_REDIS_URL`, or `None` (skipped).
fn redis_url() -> Option<String> {
    let Ok(url) = std::env::var("CONFAB_TEST_REDIS_URL") else {
        eprintln!("SKIPPED: Redis tests need CONFAB_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)");
        return None;
    };
    Some(url)
}

/// A namespace no other test run uses.
fn namespace() -> String {
    format!("test-{}", suffix())
}

/// A plain connection for looking at (and tampering with) the keys themselves.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("CONFAB_TEST_REDIS_URL is set but the server cannot be reached")
}

/// Polls `online` on `presence` every 50 ms until it equals `want`, failing after `within`.
async fn wait_until_online(presence: &RedisPresence, user: i64, want: bool, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if presence.is_online(user).await.expect("query") == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "user {user} did not become {} within {within:?}",
            if want { "online" } else { "offline" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next event on `rx`, failing after [`EVENT_TIMEOUT`].
async fn next_event(rx: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(EVENT_TIMEOUT, rx.recv())
        .await
        .expect("an event arrives in time")
        .expect("the bus is open")
}

fn direct_event(id: i64) -> Event {
    Event::Direct {
        message: Message {
            id,
            conversation: Conversation::direct(2, 1),
            sender: 2,
            recipient: Some(1),
            content: "héllo over redis".to_owned(),
            client_id: Some("c-1".to_owned()),
            sent_at: 1_700_000_000_000,
            read: false,
            reply_to: None,
            edited_at: None,
        },
        origin: Some(SocketRef { node: 9, socket: 3 }),
    }
}

#[tokio::test]
async fn redis_presence_passes_the_suite() {
    let Some(url) = redis_url() else {
        return;
    };
    let presence = RedisPresence::connect(&url, &namespace(), 1, Duration::from_secs(10))
        .await
        .expect("connect");
    conformance::run(&presence, 100).await;
    presence.shutdown().await;
}

#[tokio::test]
async fn a_user_on_one_node_is_online_on_another_until_that_node_dies() {
    let Some(url) = redis_url() else {
        return;
    };
    let ns = namespace();
    let a = RedisPresence::connect(&url, &ns, 1, SHORT_TTL)
        .await
        .expect("node a");
    let b = RedisPresence::connect(&url, &ns, 2, SHORT_TTL)
        .await
        .expect("node b");
    a.connect(7).await.expect("connect on a");
    b.connect(8).await.expect("connect on b");
    assert!(b.is_online(7).await.expect("query"));
    assert_eq!(b.online(&[9, 8, 7]).await.expect("online"), vec![8, 7]);
    assert_eq!(a.online(&[7, 8]).await.expect("online"), vec![7, 8]);

    // Node a dies: it stops refreshing and cleans nothing up.
    a.kill_for_tests();
    drop(a);
    wait_until_online(&b, 7, false, 3 * SHORT_TTL).await;
    // Node b's own users are unaffected, and the dead node is forgotten.
    assert!(b.is_online(8).await.expect("query"));
    let mut conn = raw(&url).await;
    let nodes: Vec<u64> = redis::cmd("SMEMBERS")
        .arg(format!("confab:{ns}:presence:nodes"))
        .query_async(&mut conn)
        .await
        .expect("nodes");
    assert_eq!(nodes, vec![2]);
    let hash: bool = redis::cmd("EXISTS")
        .arg(format!("confab:{ns}:presence:node:1"))
        .query_async(&mut conn)
        .await
        .expect("exists");
    assert!(!hash, "the dead node's counts are deleted");
    b.shutdown().await;
}

#[tokio::test]
async fn a_node_that_shuts_down_drops_its_users_at_once() {
    let Some(url) = redis_url() else {
        return;
    };
    let ns = namespace();
    let a = RedisPresence::connect(&url, &ns, 1, Duration::from_secs(10))
        .await
        .expect("node a");
    let b = RedisPresence::connect(&url, &ns, 2, Duration::from_secs(10))
        .await
        .expect("node b");
    a.connect(7).await.expect("connect on a");
    assert!(b.is_online(7).await.expect("query"));
    a.shutdown().await;
    assert!(!b.is_online(7).await.expect("query"));
    b.shutdown().await;
}

#[tokio::test]
async fn a_live_node_declared_dead_restores_its_users() {
    let Some(url) = redis_url() else {
        return;
    };
    let ns = namespace();
    let a = RedisPresence::connect(&url, &ns, 1, SHORT_TTL)
        .await
        .expect("node a");
    let b = RedisPresence::connect(&url, &ns, 2, SHORT_TTL)
        .await
        .expect("node b");
    a.connect(7).await.expect("first socket");
    a.connect(7).await.expect("second socket");
    // As if node a had been too slow to refresh: its heartbeat and counts are gone.
    let mut conn = raw(&url).await;
    let deleted: i64 = redis::cmd("DEL")
        .arg(format!("confab:{ns}:presence:alive:1"))
        .arg(format!("confab:{ns}:presence:node:1"))
        .query_async(&mut conn)
        .await
        .expect("delete");
    assert_eq!(deleted, 2);
    // Its next refresh notices and puts both sockets back.
    wait_until_online(&b, 7, true, 3 * SHORT_TTL).await;
    a.disconnect(7).await.expect("one closes");
    assert!(b.is_online(7).await.expect("one socket left"));
    a.disconnect(7).await.expect("last closes");
    assert!(!b.is_online(7).await.expect("query"));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn an_event_published_on_one_node_reaches_every_node() {
    let Some(url) = redis_url() else {
        return;
    };
    let ns = namespace();
    let one = RedisBus::connect(&url, &ns).await.expect("bus one");
    let two = RedisBus::connect(&url, &ns).await.expect("bus two");
    let elsewhere = RedisBus::connect(&url, &namespace())
        .await
        .expect("bus of another namespace");
    let mut on_one = one.subscribe();
    let mut on_two = two.subscribe();
    let mut on_elsewhere = elsewhere.subscribe();

    let event = direct_event(41);
    one.publish(event.clone()).await.expect("publish");
    assert_eq!(next_event(&mut on_one).await, event);
    assert_eq!(next_event(&mut on_two).await, event);

    let removed = Event::Removed { group: 5, user: 7 };
    two.publish(removed.clone()).await.expect("publish");
    assert_eq!(next_event(&mut on_one).await, removed);
    assert_eq!(next_event(&mut on_two).await, removed);
    // Another namespace hears nothing of them: the first event it hears is its own.
    let own = Event::Removed { group: 6, user: 8 };
    elsewhere.publish(own.clone()).await.expect("publish");
    assert_eq!(next_event(&mut on_elsewhere).await, own);
}

#[tokio::test]
async fn a_malformed_payload_does_not_stop_delivery() {
    let Some(url) = redis_url() else {
        return;
    };
    let ns = namespace();
    let bus = RedisBus::connect(&url, &ns).await.expect("bus");
    let mut rx = bus.subscribe();
    let mut conn = raw(&url).await;
    for junk in ["not json", r#"{"Direct":5}"#, r#"{"node":1,"event":7}"#, ""] {
        let _: String = redis::cmd("XADD")
            .arg(format!("confab:{ns}:events"))
            .arg("*")
            .arg("e")
            .arg(junk)
            .query_async(&mut conn)
            .await
            .expect("append junk");
    }
    // An entry without the event field.
    let _: String = redis::cmd("XADD")
        .arg(format!("confab:{ns}:events"))
        .arg("*")
        .arg("other")
        .arg("x")
        .query_async(&mut conn)
        .await
        .expect("append junk");
    let event = direct_event(42);
    bus.publish(event.clone()).await.expect("publish");
    // The junk is skipped: the next event heard is the valid one.
    assert_eq!(next_event(&mut rx).await, event);
}

#[tokio::test]
async fn redis_bus_passes_the_suite() {
    let Some(url) = redis_url() else { return };
    let ns = namespace();
    let a = RedisBus::connect(&url, &ns).await.expect("node a");
    let b = RedisBus::connect(&url, &ns).await.expect("node b");
    confab::bus::conformance::run(&a, &b).await;
}

#[tokio::test]
async fn the_plugins_store_conforms_on_redis() {
    let Some(url) = redis_url() else { return };
    let kv = confab::plugins::kv::RedisKv::connect(&url, &namespace())
        .await
        .expect("connect");
    confab::plugins::kv::conformance::run(&kv, &suffix()).await;
}

#[tokio::test]
async fn with_redis_the_stranger_rule_counts_in_redis() {
    let Some(url) = redis_url() else { return };
    let ns = namespace();
    let app = confab_e2e::spawn_with(|c| {
        c.cluster.redis_url = url.clone();
        c.cluster.namespace = ns.clone();
        c.plugins.enabled = true;
        c.plugins.deadline_ms = 200;
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = app
        .ws(&format!("/chat/ws?toUid={}", bob.id), Some(&alice.access))
        .await
        .expect("upgrade");
    assert_eq!(a.recv().await["code"], 50002);
    // Bob is offline: accepted messages are stored for him (50005).
    for expected in [50005, 50005, 50005, 50006] {
        a.send(serde_json::json!({"type": 1, "content": "hello?"}))
            .await;
        assert_eq!(a.recv().await["code"], expected);
    }
    let mut conn = raw(&url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("confab:{ns}:kv:stranger-limit:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let count: i64 = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .expect("count");
    assert_eq!(count, 4, "the refused fourth message counts too");
}
