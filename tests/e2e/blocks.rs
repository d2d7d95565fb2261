//! Blocks through real HTTP and WebSockets: what a blocked sender is told, that nothing of
//! theirs is delivered, what lifts a block, the cap, every bad input, and a block made on one
//! node refusing the next message on another. The socket helpers serve `mutes.rs` too.

use confab_e2e::ws::Ws;
use confab_e2e::{spawn_app, spawn_with, suffix, Reply, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) async fn post(app: &TestApp, path: &str, user: &TestUser, body: Value) -> Reply {
    app.json(Method::POST, path, Some(&user.access), body).await
}

/// Opens `path` as `user`, and reads the welcome of a private socket.
pub(crate) async fn open(app: &TestApp, user: &TestUser, path: &str) -> Ws {
    let mut ws = app.ws(path, Some(&user.access)).await.expect("upgrade");
    if path.starts_with("/chat/ws") {
        assert_eq!(ws.recv().await["code"], 50002);
    }
    ws
}

/// Sends `text` with a fresh `client_id` and returns the answer that echoes it (an ack or
/// an error); deliveries read on the way are dropped.
pub(crate) async fn say(ws: &mut Ws, text: &str) -> Value {
    let client_id = format!("c-{}", suffix());
    ws.send(json!({"type": 1, "content": text, "client_id": client_id}))
        .await;
    loop {
        let frame = ws.recv().await;
        if frame["client_id"] == client_id.as_str() {
            return frame;
        }
    }
}

/// The contents of a socket's history, oldest first.
pub(crate) async fn history(ws: &mut Ws) -> Vec<String> {
    ws.send(json!({"type": 2, "content": "0"})).await;
    let (_, frames) = ws.until_code(50003).await;
    frames
        .iter()
        .filter_map(|f| f["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_block_refuses_messages_and_friend_requests_until_lifted() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let mut a = open(&app, &alice, &format!("/chat/ws?toUid={}", bob.id)).await;
    let mut b = open(&app, &bob, &format!("/chat/ws?toUid={}", alice.id)).await;
    assert_eq!(say(&mut a, "before").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "before");

    post(&app, "/user/block", &bob, json!({"user_id": alice.id}))
        .await
        .expect(200, 200);
    let refused = say(&mut a, "while blocked").await;
    assert_eq!(
        (refused["code"].clone(), refused["content"].clone()),
        (json!(30040), json!("this user has blocked you"))
    );
    // It runs both ways: Bob must unblock Alice before writing to her.
    let own = say(&mut b, "to alice").await;
    assert_eq!(
        (own["code"].clone(), own["content"].clone()),
        (
            json!(30040),
            json!("you have blocked this user: unblock them first")
        )
    );
    for (from, to) in [(&alice, &bob), (&bob, &alice)] {
        let add = post(&app, "/friend/add", from, json!({"target_id": to.id})).await;
        add.expect(200, 30040);
    }
    let list = app.get("/user/blocks", Some(&bob.access), &[]).await;
    list.expect(200, 200);
    let entries = list.data().as_array().expect("array");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0]["ID"].clone(), entries[0]["UserName"].clone()),
        (json!(alice.id), json!(alice.name))
    );
    assert!(entries[0]["BlockedAt"].as_str().is_some());
    assert_eq!(entries[0]["Avatar"], "");

    // Bad input, each with its own answer.
    let cases = [
        ("/user/block", json!({"user_id": bob.id}), 400, 400),
        ("/user/block", json!({"user_id": 99_999_999}), 200, 30011),
        ("/user/block", json!({}), 400, 400),
        ("/user/block", json!({"user_id": "abc"}), 400, 400),
        ("/user/block", json!({"user_id": -3}), 400, 400),
        ("/user/unblock", json!({"user_id": carol.id}), 404, 30021),
        ("/user/unblock", json!({}), 400, 400),
        // Blocking someone already blocked changes nothing.
        ("/user/block", json!({"user_id": alice.id}), 200, 200),
    ];
    for (path, body, http, code) in cases {
        post(&app, path, &bob, body).await.expect(http, code);
    }
    app.json(
        Method::POST,
        "/user/block",
        None,
        json!({"user_id": alice.id}),
    )
    .await
    .expect(401, 30001);
    assert_eq!(
        app.get("/user/blocks", Some(&carol.access), &[])
            .await
            .data(),
        &json!([])
    );
    // The cap: Carol's list is filled to one short of it directly in the store.
    let cap = confab::blocks::MAX_BLOCKS;
    for fake in 1..i64::from(cap) {
        let stored = app
            .stores
            .blocks
            .block(carol.id, 1_000_000_000 + fake, 0, cap);
        assert!(stored.await.expect("fill"));
    }
    post(&app, "/user/block", &carol, json!({"user_id": alice.id}))
        .await
        .expect(200, 200);
    let full = post(&app, "/user/block", &carol, json!({"user_id": bob.id})).await;
    full.expect(400, 400);
    assert!(full.error().contains("at most 1000"), "{}", full.body);

    post(&app, "/user/unblock", &bob, json!({"user_id": alice.id}))
        .await
        .expect(200, 200);
    assert_eq!(say(&mut a, "after").await["code"], 50004);
    // The refused message was never delivered: the next thing Bob reads is this one.
    assert_eq!(b.recv().await["content"], "after");
    assert_eq!(history(&mut b).await, ["before", "after"]);
    post(&app, "/friend/add", &alice, json!({"target_id": bob.id}))
        .await
        .expect(200, 200);
}

/// A block made on node A refuses the blocked user's next message on node B, once the
/// bus has brought it there. Needs MySQL and Redis; skipped without them.
#[tokio::test]
async fn a_block_on_one_node_refuses_the_next_message_on_another() {
    let (Some(url), Ok(redis)) = (
        crate::storage::fresh_mysql().await,
        std::env::var("CONFAB_TEST_REDIS_URL"),
    ) else {
        eprintln!("SKIPPED: the two-node block test needs CONFAB_TEST_MYSQL_URL and CONFAB_TEST_REDIS_URL");
        return;
    };
    let namespace = format!("blocks-{}", suffix());
    let secret = format!("two-nodes-one-secret-{}", suffix()).repeat(2);
    let node = |c: &mut confab::Config| {
        c.database.url = url.clone();
        c.cluster.redis_url = redis.clone();
        c.cluster.namespace = namespace.clone();
        c.auth.jwt_secret = secret.clone();
    };
    let node_a = spawn_with(node).await;
    let node_b = spawn_with(node).await;
    let alice = node_a.user("alice").await;
    let bob = node_a.user("bob").await;
    let mut a = open(&node_b, &alice, &format!("/chat/ws?toUid={}", bob.id)).await;
    let first = say(&mut a, "before").await;
    assert!(first["id"].as_i64().is_some(), "{first}");
    // Node B now keeps Bob's (empty) block list.
    let facts = node_b.state.groups.facts().clone();
    assert!(facts.blocks.get(&bob.id).is_some());

    post(&node_a, "/user/block", &bob, json!({"user_id": alice.id}))
        .await
        .expect(200, 200);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while facts.blocks.get(&bob.id).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never heard of the block"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(say(&mut a, "blocked").await["code"], 30040);
    a.close().await;
    node_a.stop().await;
    node_b.stop().await;
    crate::storage::drop_mysql(&url).await;
}
