//! Two `confab serve` processes sharing MySQL and Redis share their plugins: the first
//! node seeds the database from its folder, a rule changed through one node's admin API
//! (or dropped into its folder) acts on messages sent through the other within a second,
//! both admin APIs show what each node runs, and a broken version is refused everywhere
//! while the previous one keeps running.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;
use sqlx::Connection;

mod common;

use common::{call, recv, send, socket, start, ClusterDb, Node, Socket};

const ADMIN_TOKEN: &str = "plugin-cluster-admin-token-0123456789";

/// An admin request; returns the whole envelope.
async fn admin(
    client: &reqwest::Client,
    node: &Node,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client
        .request(method, format!("{}{path}", node.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request
        .send()
        .await
        .expect("admin request")
        .json()
        .await
        .expect("an envelope")
}

/// The word filter as `node`'s admin API lists it.
async fn word_filter(client: &reqwest::Client, node: &Node) -> Value {
    let reply = admin(
        client,
        node,
        Method::GET,
        "/admin/plugins/word-filter",
        None,
    )
    .await;
    assert_eq!(reply["status"], 200, "{reply}");
    reply["data"].clone()
}

/// `(node, revision, state)` of every node in a plugin view, by node name.
fn runs(view: &Value) -> Vec<(String, i64, String)> {
    view["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["node"].as_str().expect("node").to_owned(),
                n["revision"].as_i64().expect("revision"),
                n["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

/// Waits (20 s at most) until both nodes list the word filter as `ready` says.
async fn until_both(
    client: &reqwest::Client,
    nodes: [&Node; 2],
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> [Value; 2] {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = word_filter(client, nodes[0]).await;
        let b = word_filter(client, nodes[1]).await;
        if ready(&a) && ready(&b) {
            return [a, b];
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never got there\nA: {a}\nB: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `text` from `from` and returns what `to` receives of it.
async fn relay(from: &mut Socket, to: &mut Socket, text: &str) -> String {
    send(from, json!({"type": 1, "content": text})).await;
    let ack = recv(from).await;
    assert_eq!(ack["code"], 50004, "{ack}");
    let got = recv(to).await;
    got["content"].as_str().expect("content").to_owned()
}

/// Sends `text` through B until A's user receives `wanted`, within `within` of `since`.
async fn until_relayed(
    from: &mut Socket,
    to: &mut Socket,
    text: &str,
    wanted: &str,
    since: Instant,
    within: Duration,
) {
    loop {
        let got = relay(from, to, text).await;
        if got == wanted {
            return;
        }
        assert!(
            since.elapsed() < within,
            "{text:?} still arrives as {got:?} after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn plugins_are_one_truth_across_nodes() {
    let (Ok(mysql), Ok(redis)) = (
        std::env::var("CONFAB_TEST_MYSQL_URL"),
        std::env::var("CONFAB_TEST_REDIS_URL"),
    ) else {
        eprintln!(
            "SKIPPED: the plugin cluster test needs CONFAB_TEST_MYSQL_URL and CONFAB_TEST_REDIS_URL"
        );
        return;
    };
    let cluster_db = ClusterDb::create(&mysql, "confab_pc").await;
    let suffix = cluster_db.suffix.clone();
    let db_url = cluster_db.url.clone();
    let mut env = cluster_db.node_env(&redis);
    env.extend([
        ("CONFAB_ADMIN__TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
        // A loaded machine must not turn scheduling into plugin timeouts.
        ("CONFAB_PLUGINS__DEADLINE_MS".to_owned(), "500".to_owned()),
        (
            "CONFAB_CHAT__USER_MESSAGE_BURST".to_owned(),
            "10000".to_owned(),
        ),
    ]);
    let with = |extra: &[(&str, String)]| {
        let mut env = env.clone();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };

    // Node A starts with the bundled word filter in its folder and seeds the database;
    // node B starts with an empty folder and loads it from there.
    let folder_a = tempfile::tempdir().expect("folder of A");
    let bundled = confab::plugins::bundled::BUNDLED
        .iter()
        .find(|p| p.name == "word-filter")
        .expect("the word filter is bundled");
    std::fs::write(folder_a.path().join("word-filter.toml"), bundled.manifest).expect("toml");
    std::fs::write(folder_a.path().join("word-filter.wasm"), bundled.wasm).expect("wasm");
    let node_a = start(&with(&[
        ("CONFAB_CLUSTER__NODE_NAME", "node-a".to_owned()),
        ("CONFAB_PLUGINS__DIR", folder_a.path().display().to_string()),
    ]));
    let node_b = start(&with(&[("CONFAB_CLUSTER__NODE_NAME", "node-b".to_owned())]));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let [a, _] = until_both(&client, [&node_a, &node_b], "seeded", |v| {
        runs(v)
            == [
                ("node-a".to_owned(), 1, "running".to_owned()),
                ("node-b".to_owned(), 1, "running".to_owned()),
            ]
    })
    .await;
    assert_eq!(a["revision"], 1, "{a}");

    // Alice listens on A, Bob writes through B.
    let mut tokens = Vec::new();
    for (name, node) in [
        (format!("alice_{suffix}"), &node_a),
        (format!("bob_{suffix}"), &node_b),
    ] {
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
    let mut ids = Vec::new();
    for (token, node) in tokens.iter().zip([&node_a, &node_b]) {
        let me: Value = client
            .get(format!("{}/user/me", node.base))
            .header("Authorization", token)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        ids.push(me["data"]["ID"].as_i64().expect("id"));
    }
    let mut alice = socket(&node_a, &format!("/chat/ws?toUid={}", ids[1]), &tokens[0]).await;
    let mut bob = socket(&node_b, &format!("/chat/ws?toUid={}", ids[0]), &tokens[1]).await;
    assert_eq!(recv(&mut alice).await["code"], 50002);
    assert_eq!(recv(&mut bob).await["code"], 50002);
    assert_eq!(relay(&mut bob, &mut alice, "no spam").await, "no ****");
    assert_eq!(relay(&mut bob, &mut alice, "a kumquat").await, "a kumquat");

    // A rule changed through A's admin API acts on B within a second.
    let set = admin(
        &client,
        &node_a,
        Method::PUT,
        "/admin/plugins/word-filter/config",
        Some(json!({"words": ["kumquat"], "mode": "mask"})),
    )
    .await;
    let changed = Instant::now();
    assert_eq!(set["status"], 200, "{set}");
    assert_eq!(set["data"]["revision"], 2, "{set}");
    until_relayed(
        &mut bob,
        &mut alice,
        "a kumquat",
        "a *******",
        changed,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(relay(&mut bob, &mut alice, "no spam").await, "no spam");

    // Both admin APIs agree, showing both nodes on the new revision.
    let want = |revision: i64| {
        vec![
            ("node-a".to_owned(), revision, "running".to_owned()),
            ("node-b".to_owned(), revision, "running".to_owned()),
        ]
    };
    let [a, b] = until_both(&client, [&node_a, &node_b], "revision 2 everywhere", |v| {
        runs(v) == want(2) && v["revision"] == 2
    })
    .await;
    assert_eq!(a["nodes"][0]["here"], true);
    assert_eq!(b["nodes"][1]["here"], true);
    let config = admin(
        &client,
        &node_b,
        Method::GET,
        "/admin/plugins/word-filter/config",
        None,
    )
    .await;
    assert_eq!(config["data"]["words"], json!(["kumquat"]), "{config}");

    // Counters are per node, and summed; verdicts of every node are in one log.
    let [a, _] = until_both(&client, [&node_a, &node_b], "counted on B", |v| {
        v["nodes"][1]["counters"]["rewrites"].as_u64() >= Some(2)
    })
    .await;
    let per_node: u64 = a["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["counters"]["calls"].as_u64().expect("calls"))
        .sum();
    assert_eq!(a["counters"]["calls"].as_u64(), Some(per_node), "{a}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let verdicts = admin(
            &client,
            &node_a,
            Method::GET,
            "/admin/verdicts?plugin=word-filter",
            None,
        )
        .await;
        let from_b = verdicts["data"]
            .as_array()
            .expect("verdicts")
            .iter()
            .any(|v| v["node"] == "node-b" && v["outcome"] == "rewritten");
        if from_b {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's verdicts never reached A: {verdicts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = client
        .get(format!("{}/metrics", node_b.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("confab_plugin_calls_total{plugin=\"word-filter\",node=\"node-b\"}"),
        "{metrics}"
    );

    // A manifest dropped into A's folder is published too.
    let edited = std::fs::read_to_string(folder_a.path().join("word-filter.toml"))
        .expect("A keeps a copy of the revision it runs")
        .replace("\"kumquat\"", "\"durian\"");
    assert!(edited.contains("durian"), "{edited}");
    std::fs::write(folder_a.path().join("word-filter.toml"), edited).expect("edit");
    until_relayed(
        &mut bob,
        &mut alice,
        "a durian",
        "a ******",
        Instant::now(),
        Duration::from_secs(10),
    )
    .await;
    until_both(&client, [&node_a, &node_b], "revision 3 everywhere", |v| {
        runs(v) == want(3)
    })
    .await;

    // A broken component installed through A is refused, and changes nothing anywhere.
    let form = Form::new()
        .part(
            "manifest",
            Part::text(bundled.manifest.to_owned()).file_name("word-filter.toml"),
        )
        .part(
            "wasm",
            Part::bytes(b"\0asm this is no component".to_vec()).file_name("word-filter.wasm"),
        );
    let refused: Value = client
        .post(format!("{}/admin/plugins", node_a.base))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("envelope");
    assert_eq!(refused["status"], 400, "{refused}");
    let [a, b] = until_both(&client, [&node_a, &node_b], "still revision 3", |v| {
        runs(v) == want(3) && v["revision"] == 3
    })
    .await;
    assert!(a["error"].is_null() && b["error"].is_null(), "{a}\n{b}");
    assert_eq!(relay(&mut bob, &mut alice, "a durian").await, "a ******");

    // A broken revision that reaches the database (written by a node of another build)
    // is refused by both nodes, which keep running revision 3 and say why.
    let garbage = b"\0asm a broken build".to_vec();
    let sha = hex::encode(sha2::Sha256::digest(&garbage));
    let mut db = sqlx::MySqlConnection::connect(&db_url).await.expect("db");
    sqlx::query("INSERT INTO plugin_components (sha256, wasm, stored_at) VALUES (?, ?, ?)")
        .bind(&sha)
        .bind(&garbage)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut db)
        .await
        .expect("a broken component");
    let written = sqlx::query(
        "UPDATE plugins SET revision = 4, sha256 = ?, updated_by = 'elsewhere' \
         WHERE name = 'word-filter' AND revision = 3",
    )
    .bind(&sha)
    .execute(&mut db)
    .await
    .expect("a broken revision");
    assert_eq!(written.rows_affected(), 1);
    let failed = |v: &Value| {
        runs(v) == want(3)
            && v["revision"] == 4
            && v["nodes"].as_array().is_some_and(|nodes| {
                nodes.iter().all(|n| {
                    n["error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("revision 4:"))
                })
            })
    };
    let [a, _] = until_both(&client, [&node_a, &node_b], "revision 4 refused", failed).await;
    assert_eq!(a["state"], "running", "{a}");
    assert_eq!(relay(&mut bob, &mut alice, "a durian").await, "a ******");

    drop(db);
    drop((node_a, node_b));
    cluster_db.drop_database().await;
}
