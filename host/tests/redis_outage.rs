//! Two `confab serve` processes over MariaDB and a Redis of the test's own: while Redis is
//! down, sending goes on (acknowledged, stored, delivered on the sender's node); when it is
//! back, delivery between the nodes resumes without a restart, and a node that may have
//! missed events says so (1013) so its clients read history — nothing is missed silently.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

mod common;

use common::{call, closed, free_port, recv, send, socket, start, ClusterDb, Node, Redis, Socket};

async fn login(client: &reqwest::Client, node: &Node, name: &str) -> (String, i64) {
    let password = json!({"username": name, "password": "password123"});
    call(client, node, "/user/register", None, password.clone()).await;
    let token = call(client, node, "/user/login", None, password).await["aToken"]
        .as_str()
        .expect("aToken")
        .to_owned();
    let me: Value = client
        .get(format!("{}/user/me", node.base))
        .header("Authorization", &token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    (token, me["data"]["ID"].as_i64().expect("ID"))
}

/// Reads until the frame answering `client_id`.
async fn answer(ws: &mut Socket, client_id: &str) -> Value {
    loop {
        let frame = recv(ws).await;
        if frame["client_id"] == client_id {
            return frame;
        }
    }
}

#[tokio::test]
async fn sending_goes_on_while_redis_is_down() {
    let Ok(mysql) = std::env::var("CONFAB_TEST_MYSQL_URL") else {
        eprintln!("SKIPPED: the Redis outage test needs CONFAB_TEST_MYSQL_URL");
        return;
    };
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: the Redis outage test needs redis-server on the PATH");
        return;
    }
    let mut redis = Redis::start(free_port());
    let db = ClusterDb::create(&mysql, "confab_r").await;
    let suffix = db.suffix.clone();
    let env = db.node_env(&format!("redis://127.0.0.1:{}", redis.port));
    let node_a = start(&env);
    let node_b = start(&env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let (alice_token, alice_id) = login(&client, &node_a, &format!("alice_{suffix}")).await;
    let (carol_token, carol) = login(&client, &node_a, &format!("carol_{suffix}")).await;
    let (bob_token, bob) = login(&client, &node_b, &format!("bob_{suffix}")).await;
    let mut alice = socket(&node_a, "/chat/ws", &alice_token).await;
    let mut carol_ws = socket(&node_a, "/chat/ws", &carol_token).await;
    let mut bob_ws = socket(&node_b, "/chat/ws", &bob_token).await;
    for ws in [&mut alice, &mut carol_ws, &mut bob_ws] {
        assert_eq!(recv(ws).await["code"], 50002);
    }
    // Before the outage, across nodes.
    send(
        &mut alice,
        json!({"type": 1, "to": bob, "content": "before", "client_id": "m0"}),
    )
    .await;
    assert_eq!(answer(&mut alice, "m0").await["code"], 50004);
    assert_eq!(recv(&mut bob_ws).await["content"], "before");

    // Redis dies. Everything below until it is back happens without it.
    redis.kill();
    send(
        &mut alice,
        json!({"type": 1, "to": carol, "content": "same node, no redis", "client_id": "m1"}),
    )
    .await;
    let ack = answer(&mut alice, "m1").await;
    assert!(
        ack["code"] == 50004 || ack["code"] == 50005,
        "acknowledged while Redis is down: {ack}"
    );
    let live = recv(&mut carol_ws).await;
    assert_eq!(
        live["content"], "same node, no redis",
        "delivered on the sender's node while Redis is down"
    );
    send(
        &mut alice,
        json!({"type": 1, "to": bob, "content": "other node, no redis", "client_id": "m2"}),
    )
    .await;
    let ack = answer(&mut alice, "m2").await;
    assert!(
        ack["code"] == 50004 || ack["code"] == 50005,
        "acknowledged while Redis is down: {ack}"
    );

    // Redis is back (empty: a restart without persistence). Neither node can know what
    // it missed, so their sockets are told to read history rather than left silently
    // behind.
    let _redis = Redis::start(redis.port);
    assert_eq!(closed(&mut bob_ws).await, Some(1013));
    assert_eq!(closed(&mut alice).await, Some(1013));
    assert_eq!(closed(&mut carol_ws).await, Some(1013));
    let mut alice = socket(&node_a, "/chat/ws", &alice_token).await;
    assert_eq!(recv(&mut alice).await["code"], 50002);
    let mut bob_ws = socket(&node_b, "/chat/ws", &bob_token).await;
    assert_eq!(recv(&mut bob_ws).await["code"], 50002);
    send(&mut bob_ws, json!({"type": 3, "to": alice_id})).await;
    let mut unread = Vec::new();
    loop {
        let frame = recv(&mut bob_ws).await;
        if frame["code"] == 50003 {
            break;
        }
        // A live copy of the outage's message may come first; history is what counts.
        if frame["code"] == 0 {
            unread.push(frame["content"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(
        unread.contains(&"other node, no redis".to_owned()),
        "the message sent during the outage is in Bob's history: {unread:?}"
    );

    // And live delivery between the nodes resumes, without restarting either.
    let mut delivered = false;
    for attempt in 0..40 {
        let id = format!("after{attempt}");
        send(
            &mut alice,
            json!({"type": 1, "to": bob, "content": id, "client_id": id}),
        )
        .await;
        answer(&mut alice, &id).await;
        let next = tokio::time::timeout(
            Duration::from_millis(500),
            futures::StreamExt::next(&mut bob_ws),
        )
        .await;
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) = next {
            let frame: Value = serde_json::from_str(text.as_str()).expect("json");
            if frame["code"] == 50001 {
                delivered = true;
                break;
            }
        }
    }
    assert!(
        delivered,
        "live delivery across nodes resumed after Redis came back"
    );
    drop((node_a, node_b));
    db.drop_database().await;
}
