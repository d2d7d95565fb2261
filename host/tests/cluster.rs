//! Two `confab serve` processes sharing MySQL, Redis (and MongoDB when given) form one
//! service: users on different nodes chat privately and in groups, share the online list,
//! and a killed node's users leave that list within seconds.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{call, recv, send, socket, start, ClusterDb};

#[tokio::test]
async fn two_nodes_are_one_service() {
    let (Ok(mysql), Ok(redis)) = (
        std::env::var("CONFAB_TEST_MYSQL_URL"),
        std::env::var("CONFAB_TEST_REDIS_URL"),
    ) else {
        eprintln!(
            "SKIPPED: the two-node test needs CONFAB_TEST_MYSQL_URL and CONFAB_TEST_REDIS_URL"
        );
        return;
    };
    let db = ClusterDb::create(&mysql, "confab_c").await;
    let suffix = db.suffix.clone();
    let mut env = db.node_env(&redis);
    env.push((
        "CONFAB_CLUSTER__PRESENCE_TTL_SECS".to_owned(),
        "2".to_owned(),
    ));
    if let Ok(mongo) = std::env::var("CONFAB_TEST_MONGO_URL") {
        env.push(("CONFAB_HISTORY__URL".to_owned(), mongo));
        env.push((
            "CONFAB_HISTORY__DATABASE".to_owned(),
            format!("confab_c_{suffix}"),
        ));
    } else {
        eprintln!("note: CONFAB_TEST_MONGO_URL is unset; history stays in MySQL for this test");
    }
    let node_a = start(&env);
    let mut node_b = start(&env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    // Alice registers on A, Bob on B; each logs in on their own node.
    let mut tokens = Vec::new();
    for (name, node) in [("alice_c", &node_a), ("bob_c", &node_b)] {
        call(
            &client,
            node,
            "/user/register",
            None,
            json!({"username": name, "password": "password123"}),
        )
        .await;
        let login = call(
            &client,
            node,
            "/user/login",
            None,
            json!({"username": name, "password": "password123"}),
        )
        .await;
        tokens.push(login["aToken"].as_str().expect("aToken").to_owned());
    }
    let me = |i: usize| {
        let client = client.clone();
        let token = tokens[i].clone();
        let base = [&node_a.base, &node_b.base][i].clone();
        async move {
            let reply: Value = client
                .get(format!("{base}/user/me"))
                .header("Authorization", token)
                .send()
                .await
                .expect("me")
                .json()
                .await
                .expect("json");
            reply["data"]["ID"].as_i64().expect("id")
        }
    };
    let (alice, bob) = (me(0).await, me(1).await);

    // Private chat across nodes, with the shared online list.
    let mut a = socket(&node_a, &format!("/chat/ws?toUid={bob}"), &tokens[0]).await;
    let mut b = socket(&node_b, &format!("/chat/ws?toUid={alice}"), &tokens[1]).await;
    assert_eq!(recv(&mut a).await["code"], 50002);
    assert_eq!(recv(&mut b).await["code"], 50002);
    send(&mut a, json!({"type": 1, "content": "hello from A"})).await;
    let ack = recv(&mut a).await;
    assert_eq!(ack["code"], 50004, "bob is online on the other node");
    let first = ack["id"].as_i64().expect("acked id");
    let got = recv(&mut b).await;
    assert_eq!(
        (got["from"].clone(), got["content"].clone()),
        (json!(alice.to_string()), json!("hello from A"))
    );
    send(&mut b, json!({"type": 1, "content": "hello from B"})).await;
    assert_eq!(recv(&mut b).await["code"], 50004);
    assert_eq!(recv(&mut a).await["content"], "hello from B");

    // An edit, a read receipt and a recall made on one node reach the other.
    send(
        &mut a,
        json!({"type": 10, "id": first, "content": "hello, edited on A"}),
    )
    .await;
    assert_eq!(recv(&mut a).await["content"], "edited");
    let edited = recv(&mut b).await;
    assert_eq!(
        (edited["code"].clone(), edited["content"].clone()),
        (json!(50010), json!("hello, edited on A"))
    );
    send(&mut b, json!({"type": 14, "id": first})).await;
    assert_eq!(recv(&mut b).await["content"], "read");
    let receipt = recv(&mut a).await;
    assert_eq!(
        (receipt["code"].clone(), receipt["id"].clone()),
        (json!(50014), json!(first))
    );
    send(&mut a, json!({"type": 11, "id": first})).await;
    assert_eq!(recv(&mut a).await["content"], "recalled");
    let recalled = recv(&mut b).await;
    assert_eq!(
        (recalled["code"].clone(), recalled["id"].clone()),
        (json!(50011), json!(first))
    );

    // A group across nodes.
    let group = call(
        &client,
        &node_a,
        "/group/create",
        Some(&tokens[0]),
        json!({"group_name": "cluster"}),
    )
    .await["ID"]
        .as_i64()
        .expect("gid");
    call(
        &client,
        &node_b,
        "/group/join",
        Some(&tokens[1]),
        json!({"group_id": group}),
    )
    .await;
    let mut ga = socket(
        &node_a,
        &format!("/chat/group_ws?group_id={group}"),
        &tokens[0],
    )
    .await;
    let mut gb = socket(
        &node_b,
        &format!("/chat/group_ws?group_id={group}"),
        &tokens[1],
    )
    .await;
    send(&mut gb, json!({"content": "group hello from B"})).await;
    assert_eq!(recv(&mut gb).await["code"], 50002);
    let got = recv(&mut ga).await;
    assert_eq!(
        (got["sender"].clone(), got["content"].clone()),
        (json!(bob.to_string()), json!("group hello from B"))
    );

    // Node B dies without a word: Bob leaves the online list within seconds.
    node_b.child.kill().expect("kill node B");
    let _ = node_b.child.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        send(&mut a, json!({"type": 1, "content": "are you there?"})).await;
        let ack = recv(&mut a).await;
        if ack["code"] == 50005 {
            break;
        }
        assert_eq!(ack["code"], 50004);
        assert!(
            Instant::now() < deadline,
            "bob stayed online after his node died"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(node_a);
    db.drop_database().await;
}
