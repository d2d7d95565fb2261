//! Message search over HTTP (`GET /chat/search`) on every backend: what matches (English,
//! Chinese of one to three characters, wildcards taken literally), newest first and paged,
//! the filters, and that nobody finds what they cannot read: another group, a group's
//! history from before they joined, a message they deleted for themselves, a recalled
//! message, or the text a message had before it was edited.

use confab::messages::{Conversation, NewMessage};
use confab_e2e::ws::Ws;
use confab_e2e::{spawn_app, spawn_with, suffix, Reply, TestApp, TestUser};
use serde_json::{json, Value};
use sqlx::Connection;

const DAY_MS: i64 = 86_400_000;

async fn search(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Reply {
    app.get("/chat/search", Some(&user.access), query).await
}

/// The ids of a successful search, in the order given.
async fn found(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Vec<i64> {
    let reply = search(app, user, query).await;
    reply.expect(200, 200);
    ids(&reply)
}

fn ids(reply: &Reply) -> Vec<i64> {
    reply
        .data()
        .as_array()
        .unwrap_or_else(|| panic!("a list of hits: {}", reply.body))
        .iter()
        .map(|hit| hit["id"].as_i64().expect("hit id"))
        .collect()
}

fn next_before(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get("x-next-before")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

async fn private_socket(app: &TestApp, user: &TestUser, peer: &TestUser) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", peer.id), Some(&user.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

async fn group_socket(app: &TestApp, user: &TestUser, group: i64) -> Ws {
    app.ws(
        &format!("/chat/group_ws?group_id={group}"),
        Some(&user.access),
    )
    .await
    .expect("group upgrade")
}

/// Sends a private message and returns its id once acknowledged.
async fn say(ws: &mut Ws, text: &str) -> i64 {
    ws.send(json!({"type": 1, "content": text})).await;
    let ack = until_code_in(ws, &[50004, 50005]).await;
    ack["id"].as_i64().expect("acknowledged with an id")
}

/// Sends a group message and returns its id once acknowledged.
async fn say_in_group(ws: &mut Ws, text: &str) -> i64 {
    ws.send(json!({"content": text})).await;
    // Acknowledgements carry the id; the others' messages arrive without a code.
    let ack = until_code_in(ws, &[50002]).await;
    ack["id"].as_i64().expect("acknowledged with an id")
}

/// The next frame with one of `codes`, skipping the frames other users' messages bring.
async fn until_code_in(ws: &mut Ws, codes: &[i64]) -> Value {
    loop {
        let frame = ws.recv().await;
        if codes.iter().any(|c| frame["code"] == *c) {
            return frame;
        }
    }
}

/// The whole behaviour, on whatever backend `app` runs.
async fn search_suite(app: &TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let now = now_ms();

    // Three days ago, stored directly: a socket cannot date a message in the past.
    let old = app
        .stores
        .messages
        .append(NewMessage {
            conversation: Conversation::direct(alice.id, bob.id),
            sender: alice.id,
            recipient: Some(bob.id),
            content: "old news about the harbour".to_owned(),
            client_id: None,
            sent_at: now - 3 * DAY_MS,
            reply_to: None,
        })
        .await
        .expect("stored")
        .message
        .id;
    let mut ab = private_socket(app, &alice, &bob).await;
    let mut ba = private_socket(app, &bob, &alice).await;
    let calm = say(&mut ab, "Hello Bob, the harbour is calm").await;
    let film = say(&mut ab, "我们明天去上海看电影").await;
    let lights = say(&mut ab, "harbour lights tonight").await;
    let sale = say(&mut ab, "50% off at the harbour_shop!").await;
    let loud = say(&mut ba, "HARBOUR is where I'll be").await;

    let group = app
        .create_group(&alice, json!({"group_name": format!("port{}", suffix())}))
        .await;
    app.join_group(&bob, group).await.expect(200, 200);
    let mut ga = group_socket(app, &alice, group).await;
    let mut gb = group_socket(app, &bob, group).await;
    let meeting = say_in_group(&mut ga, "group harbour meeting").await;
    let shanghai = say_in_group(&mut gb, "上海 group chat").await;
    // Dave joins now and, by default, reads the group only from here on.
    app.join_group(&dave, group).await.expect(200, 200);
    let later = say_in_group(&mut ga, "harbour after dave joined").await;

    // Every message holding the word, newest first, found the moment it is acknowledged.
    let harbour = vec![later, meeting, loud, sale, lights, calm, old];
    assert_eq!(found(app, &alice, &[("q", "harbour")]).await, harbour);
    assert_eq!(found(app, &bob, &[("q", "Harbour")]).await, harbour);
    let hit = &search(app, &alice, &[("q", "lights")]).await.data()[0].clone();
    assert_eq!(hit["id"], lights);
    assert_eq!(hit["with"], bob.id);
    assert_eq!(hit["group_id"], Value::Null);
    assert_eq!(hit["sender"], alice.id);
    assert_eq!(hit["content"], "harbour lights tonight");
    assert!(hit["ts"].as_i64().expect("ts") >= now / 1000);
    assert!(hit["time"].as_str().expect("time").ends_with('Z'));
    assert_eq!(hit["edited_at"], Value::Null);
    let in_group = &search(app, &bob, &[("q", "meeting")]).await.data()[0].clone();
    assert_eq!(
        (&in_group["group_id"], &in_group["with"]),
        (&json!(group), &Value::Null)
    );

    // Pages: three, three, one, each pointing to the next.
    let first = search(app, &alice, &[("q", "harbour"), ("limit", "3")]).await;
    assert_eq!(ids(&first), harbour[..3]);
    let cursor = next_before(&first).expect("more pages");
    assert_eq!(cursor, harbour[2].to_string());
    let second = search(
        app,
        &alice,
        &[("q", "harbour"), ("limit", "3"), ("before", &cursor)],
    )
    .await;
    assert_eq!(ids(&second), harbour[3..6]);
    let cursor = next_before(&second).expect("one more page");
    let last = search(
        app,
        &alice,
        &[("q", "harbour"), ("limit", "3"), ("before", &cursor)],
    )
    .await;
    assert_eq!(ids(&last), harbour[6..]);
    assert_eq!(next_before(&last), None, "the last page says so");

    // Chinese of three, two and one characters; several words; wildcards as written.
    assert_eq!(found(app, &alice, &[("q", "看电影")]).await, [film]);
    assert_eq!(found(app, &alice, &[("q", "上海")]).await, [shanghai, film]);
    assert_eq!(found(app, &alice, &[("q", "影")]).await, [film]);
    assert_eq!(found(app, &alice, &[("q", "calm  harbour")]).await, [calm]);
    assert_eq!(found(app, &alice, &[("q", "上海 group")]).await, [shanghai]);
    assert_eq!(found(app, &alice, &[("q", "%")]).await, [sale]);
    assert_eq!(found(app, &alice, &[("q", "r_s")]).await, [sale]);
    assert!(found(app, &alice, &[("q", "harbor")]).await.is_empty());

    // Filters: one conversation, a sender, a time window.
    let with_bob = [("q", "harbour"), ("with", &*bob.id.to_string())];
    assert_eq!(found(app, &alice, &with_bob).await, harbour[2..]);
    let in_group = [("q", "harbour"), ("group_id", &*group.to_string())];
    assert_eq!(found(app, &alice, &in_group).await, [later, meeting]);
    let from_bob = [("q", "harbour"), ("sender", &*bob.id.to_string())];
    assert_eq!(found(app, &alice, &from_bob).await, [loud]);
    let yesterday = ((now - DAY_MS) / 1000).to_string();
    let since = [("q", "harbour"), ("since", yesterday.as_str())];
    assert_eq!(found(app, &alice, &since).await, harbour[..6]);
    let until = [("q", "harbour"), ("until", yesterday.as_str())];
    assert_eq!(found(app, &alice, &until).await, [old]);

    // Nobody finds what they cannot read.
    assert!(found(app, &carol, &[("q", "harbour")]).await.is_empty());
    search(app, &carol, &in_group).await.expect(200, 30009);
    assert_eq!(found(app, &dave, &[("q", "harbour")]).await, [later]);
    assert!(found(app, &dave, &[("q", "上海")]).await.is_empty());

    // Deleted for alice only; recalled for everyone; edited: found by its new text only.
    app.stores.messages.settle().await.expect("settled");
    let changes = &app.stores.changes;
    assert!(changes.hide(alice.id, lights).await.expect("hidden"));
    assert!(!found(app, &alice, &[("q", "lights")])
        .await
        .contains(&lights));
    assert_eq!(found(app, &bob, &[("q", "lights")]).await, [lights]);
    assert!(changes.recall(calm).await.expect("recalled"));
    assert!(found(app, &bob, &[("q", "calm")]).await.is_empty());
    assert!(changes
        .edit(sale, "everything is sold out", now + 5_000)
        .await
        .expect("edited"));
    assert!(found(app, &alice, &[("q", "50%")]).await.is_empty());
    let sold = search(app, &alice, &[("q", "sold out")]).await;
    assert_eq!(ids(&sold), [sale]);
    assert_eq!(sold.data()[0]["edited_at"], (now + 5_000) / 1000);

    // Bad input: a clear reason in the envelope.
    let long = "字".repeat(101);
    for (query, reason) in [
        (vec![], "q is required"),
        (vec![("q", "  ")], "q is required"),
        (vec![("q", long.as_str())], "at most 100 characters"),
        (
            vec![("q", "x"), ("with", "bob")],
            "with must be a whole number",
        ),
        (
            vec![("q", "x"), ("sender", "0")],
            "sender must be a positive id",
        ),
        (
            vec![("q", "x"), ("with", "2"), ("group_id", "3")],
            "not both",
        ),
        (
            vec![("q", "x"), ("since", "20"), ("until", "10")],
            "since must be before until",
        ),
        (
            vec![("q", "x"), ("limit", "101")],
            "limit must be between 1 and 100",
        ),
    ] {
        let reply = search(app, &alice, &query).await;
        reply.expect(400, 400);
        assert!(reply.error().contains(reason), "{query:?}: {}", reply.body);
    }
    app.get("/chat/search", None, &[("q", "harbour")])
        .await
        .expect(401, 30001);
    for ws in [ab, ba, ga, gb] {
        ws.close().await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("after 1970")
}

#[tokio::test]
async fn search_finds_what_each_user_may_read() {
    let app = spawn_app().await;
    search_suite(&app).await;
}

#[tokio::test]
async fn search_on_mysql() {
    let Ok(url) = std::env::var("CONFAB_TEST_MYSQL_URL") else {
        eprintln!("SKIPPED: MySQL tests need CONFAB_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test)");
        return;
    };
    let name = format!("confab_s_{}", suffix());
    let mut admin = sqlx::MySqlConnection::connect(&url)
        .await
        .expect("CONFAB_TEST_MYSQL_URL is set but the server cannot be reached");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let database = format!("{base}/{name}");
    let app = spawn_with(|c| c.database.url = database.clone()).await;
    // The migration made the index of this server's kind: ngram on MySQL, trigrams on MariaDB.
    let (index,): (String,) = sqlx::query_as(&format!(
        "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{name}' \
         AND TABLE_NAME = 'messages' AND INDEX_TYPE = 'FULLTEXT'"
    ))
    .fetch_one(&mut admin)
    .await
    .expect("a full-text index on messages");
    assert!(
        ["messages_ngram", "messages_grams"].contains(&index.as_str()),
        "{index}"
    );
    search_suite(&app).await;
    app.stop().await;
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
}

#[tokio::test]
async fn search_on_mongo() {
    let Ok(url) = std::env::var("CONFAB_TEST_MONGO_URL") else {
        eprintln!(
            "SKIPPED: MongoDB tests need CONFAB_TEST_MONGO_URL (e.g. mongodb://127.0.0.1:27017)"
        );
        return;
    };
    let name = format!("confab_s_{}", suffix());
    let app = spawn_with(|c| {
        c.history.url = url.clone();
        c.history.database = name.clone();
    })
    .await;
    search_suite(&app).await;
    app.stop().await;
    let store = confab::store::MongoMessages::connect(&url, &name, 0)
        .await
        .expect("reconnect");
    store
        .database()
        .drop()
        .await
        .expect("drop the test database");
}
