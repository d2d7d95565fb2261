//! Changes to sent messages and conversation signals over real sockets: edit, recall,
//! delete for me, replies, reactions, read and delivery receipts, typing, "read by", and
//! the refusals of each.

use confab_e2e::ws::Ws;
use confab_e2e::{spawn_with, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

/// Long enough that a slow machine recalls its fresh messages in time, short enough to
/// wait out once.
const RECALL_WINDOW_SECS: u64 = 3;

async fn app() -> TestApp {
    spawn_with(|c| c.chat.recall_window_secs = RECALL_WINDOW_SECS).await
}

async fn socket(app: &TestApp, user: &TestUser, query: &str) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws{query}"), Some(&user.access))
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

/// Sends a frame and returns the next frame with one of the answer codes (skipping live
/// frames of other kinds that may come first).
async fn ask(ws: &mut Ws, frame: Value) -> Value {
    ws.send(frame).await;
    loop {
        let got = ws.recv().await;
        let code = got["code"].as_i64().unwrap_or(0);
        if !(50010..=50017).contains(&code) && code != 50001 {
            return got;
        }
    }
}

fn id_of(frame: &Value) -> i64 {
    frame["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {frame}"))
}

async fn history(ws: &mut Ws) -> Vec<Value> {
    ws.send(json!({"type": 2, "content": "0"})).await;
    let (_, listed) = ws.until_code(50003).await;
    listed
        .into_iter()
        .filter(|f| f["id"].is_i64() && f.get("ts").or(f.get("timestamp")).is_some())
        .collect()
}

#[tokio::test]
async fn a_private_message_is_edited_replied_to_reacted_to_read_hidden_and_recalled() {
    private_story(&app().await).await;
}

#[tokio::test]
async fn changes_on_mysql() {
    let Some(url) = crate::storage::fresh_mysql().await else {
        return;
    };
    let app = spawn_with(|c| {
        c.chat.recall_window_secs = RECALL_WINDOW_SECS;
        c.database.url = url.clone();
    })
    .await;
    private_story(&app).await;
    app.stop().await;
    crate::storage::drop_mysql(&url).await;
}

#[tokio::test]
async fn changes_on_mongo() {
    let Ok(url) = std::env::var("CONFAB_TEST_MONGO_URL") else {
        eprintln!(
            "SKIPPED: MongoDB tests need CONFAB_TEST_MONGO_URL (e.g. mongodb://127.0.0.1:27017)"
        );
        return;
    };
    let name = format!("confab_ch_{}", confab_e2e::suffix());
    let app = spawn_with(|c| {
        c.chat.recall_window_secs = RECALL_WINDOW_SECS;
        c.history.url = url.clone();
        c.history.database = name.clone();
    })
    .await;
    private_story(&app).await;
    app.stop().await;
    let store = confab::store::MongoMessages::connect(&url, &name, 0)
        .await
        .expect("connect");
    store
        .database()
        .drop()
        .await
        .expect("drop the test database");
}

/// Two users, one of them on two devices: every change and signal of a private
/// conversation, with the refusals, on whichever backend `app` uses.
async fn private_story(app: &TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    // Alice has two devices: a socket bound to Bob and an inbox.
    let mut a = socket(app, &alice, &format!("?toUid={}", bob.id)).await;
    let mut a_inbox = socket(app, &alice, "").await;
    let mut b = socket(app, &bob, &format!("?toUid={}", alice.id)).await;

    let sent = ask(&mut a, json!({"type": 1, "content": "helo"})).await;
    let first = id_of(&sent);
    assert_eq!(b.recv().await["content"], "helo");
    assert_eq!(a_inbox.recv().await["content"], "helo");

    // An edit reaches both sides live, and history shows the new text as edited.
    let ack = ask(
        &mut a,
        json!({"type": 10, "id": first, "content": "hello", "client_id": "e1"}),
    )
    .await;
    assert_eq!(
        ack,
        json!({"from": "", "code": 50002, "content": "edited", "id": first, "client_id": "e1"})
    );
    let edited = b.recv().await;
    assert_eq!(
        (
            &edited["code"],
            &edited["content"],
            &edited["id"],
            &edited["from"],
            &edited["to"]
        ),
        (
            &json!(50010),
            &json!("hello"),
            &json!(first),
            &json!(alice.id.to_string()),
            &json!(bob.id.to_string())
        )
    );
    assert!(edited["edited_at"].is_i64());
    assert_eq!(a_inbox.recv().await["code"], 50010);
    // Nobody edits someone else's message, or a message that is not there.
    let refused = ask(
        &mut b,
        json!({"type": 10, "id": first, "content": "mine now"}),
    )
    .await;
    assert_eq!(refused["code"], 30030, "{refused}");
    let missing = ask(&mut b, json!({"type": 10, "id": 999_999, "content": "x"})).await;
    assert_eq!(missing["code"], 30021, "{missing}");

    // A reply quotes a message of the same conversation.
    let reply = ask(
        &mut b,
        json!({"type": 1, "content": "hi!", "reply_to": first}),
    )
    .await;
    assert_eq!(reply["code"], 50004, "{reply}");
    let second = id_of(&reply);
    let live = a.recv().await;
    assert_eq!(
        (&live["content"], &live["reply_to"]),
        (&json!("hi!"), &json!(first))
    );
    assert_eq!(a_inbox.recv().await["reply_to"], first);
    let bad_reply = ask(
        &mut b,
        json!({"type": 1, "content": "?", "reply_to": 999_999}),
    )
    .await;
    assert_eq!(bad_reply["code"], 400, "{bad_reply}");
    assert!(bad_reply["content"]
        .as_str()
        .is_some_and(|c| c.contains("reply_to")));

    // Reactions toggle, and come with the message in history.
    let on = ask(&mut b, json!({"type": 13, "id": first, "content": "👍"})).await;
    assert_eq!(
        (&on["code"], &on["content"]),
        (&json!(50002), &json!("reaction saved"))
    );
    let reacted = a.recv().await;
    assert_eq!(
        (&reacted["code"], &reacted["content"], &reacted["on"]),
        (&json!(50013), &json!("👍"), &json!(true))
    );
    ask(&mut b, json!({"type": 13, "id": first, "content": "👍"})).await;
    assert_eq!(a.recv().await["on"], false);
    ask(
        &mut b,
        json!({"type": 13, "id": first, "content": "❤️", "on": true}),
    )
    .await;
    ask(
        &mut a,
        json!({"type": 13, "id": first, "content": "❤️", "on": true}),
    )
    .await;
    let not_emoji = ask(&mut b, json!({"type": 13, "id": first, "content": "lol"})).await;
    assert_eq!(not_emoji["code"], 400, "{not_emoji}");
    let listed = history(&mut b).await;
    let original = listed.iter().find(|f| f["id"] == first).expect("listed");
    assert_eq!(original["content"], "hello");
    assert!(original["edited_at"].is_i64(), "{original}");
    // Who reacted comes oldest first; two reactions in the same millisecond by user id.
    let reactions = &original["reactions"];
    assert_eq!(
        (
            &reactions[0]["emoji"],
            &reactions[0]["count"],
            reactions.as_array().map(Vec::len)
        ),
        (&json!("❤️"), &json!(2), Some(1)),
        "{reactions}"
    );
    let mut users: Vec<String> = reactions[0]["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u.as_str().expect("a user id").to_owned())
        .collect();
    users.sort();
    let mut want = vec![alice.id.to_string(), bob.id.to_string()];
    want.sort();
    assert_eq!(users, want);
    let quoted = listed
        .iter()
        .find(|f| f["id"] == second)
        .expect("reply listed");
    assert_eq!(quoted["reply_to"], first);

    // Receipts: Bob's device got the message, then he read it; Alice sees both.
    ask(
        &mut b,
        json!({"type": 14, "id": first, "content": "delivered"}),
    )
    .await;
    let delivered = a.recv().await;
    assert_eq!(
        (&delivered["code"], &delivered["id"], &delivered["from"]),
        (&json!(50016), &json!(first), &json!(bob.id.to_string()))
    );
    let read = ask(&mut b, json!({"type": 14, "id": first})).await;
    assert_eq!(read["content"], "read");
    let receipt = a.recv().await;
    assert_eq!(
        (&receipt["code"], &receipt["id"]),
        (&json!(50014), &json!(first))
    );
    // Alice reads Bob's reply on her inbox: her other socket hears it, Bob too.
    let a_read = ask(
        &mut a_inbox,
        json!({"type": 14, "id": second, "to": bob.id}),
    )
    .await;
    assert_eq!(a_read["code"], 50002, "{a_read}");
    let synced = a.recv().await;
    assert_eq!(
        (&synced["code"], &synced["from"], &synced["id"]),
        (&json!(50014), &json!(alice.id.to_string()), &json!(second))
    );
    // A delivery receipt is for messages sent to you.
    let wrong = ask(
        &mut a,
        json!({"type": 14, "id": first, "content": "delivered"}),
    )
    .await;
    assert_eq!(wrong["code"], 400, "{wrong}");
    let inbox_without_peer = ask(&mut a_inbox, json!({"type": 14, "id": first})).await;
    assert_eq!(inbox_without_peer["code"], 400);

    // Typing: the other side hears it, with its expiry; a second notice at once is dropped.
    b.send(json!({"type": 15})).await;
    b.send(json!({"type": 15})).await;
    let typing = a.recv().await;
    assert_eq!(
        (&typing["code"], &typing["expires"], &typing["from"]),
        (&json!(50017), &json!(5), &json!(bob.id.to_string()))
    );

    // Delete for me: gone from Alice's history only, and her other device is told.
    let hidden = ask(&mut a, json!({"type": 12, "id": second})).await;
    assert_eq!(hidden["content"], "deleted for you");
    let told = a_inbox.until_code(50012).await.0;
    assert_eq!(told["id"], second);
    assert!(history(&mut a).await.iter().all(|f| f["id"] != second));
    assert!(history(&mut b).await.iter().any(|f| f["id"] == second));

    // Recall: only the sender, within the window; then it is gone for both.
    let not_hers = ask(&mut a, json!({"type": 11, "id": second})).await;
    assert_eq!(not_hers["code"], 30030);
    let recalled = ask(&mut a, json!({"type": 11, "id": first})).await;
    assert_eq!(recalled["content"], "recalled");
    assert_eq!(b.until_code(50011).await.0["id"], first);
    assert!(history(&mut b).await.iter().all(|f| f["id"] != first));
    let again = ask(&mut a, json!({"type": 11, "id": first})).await;
    assert_eq!(again["code"], 30021);
    let late = id_of(
        &ask(
            &mut a,
            json!({"type": 1, "content": "too late to take back"}),
        )
        .await,
    );
    tokio::time::sleep(std::time::Duration::from_millis(
        RECALL_WINDOW_SECS * 1000 + 300,
    ))
    .await;
    let expired = ask(&mut a, json!({"type": 11, "id": late})).await;
    assert_eq!(expired["code"], 30031, "{expired}");

    // Bad frames say what is missing.
    for (frame, words) in [
        (json!({"type": 10, "content": "x"}), "id is required"),
        (json!({"type": 10, "id": late}), "content is required"),
        (json!({"type": 13, "id": late}), "emoji"),
        (
            json!({"type": 13, "id": late, "content": "👍", "on": "yes"}),
            "on must be",
        ),
        (json!({"type": 14, "id": late, "content": "seen"}), "read"),
        (json!({"type": 11, "id": -4}), "positive"),
    ] {
        let answer = ask(&mut a, frame.clone()).await;
        assert_eq!(answer["code"], 400, "{frame}: {answer}");
        assert!(
            answer["content"]
                .as_str()
                .is_some_and(|c| c.contains(words)),
            "{frame}: {answer}"
        );
        // A good frame between them, so the socket is not closed for invalid frames.
        a.send(json!({"type": 2, "before": 1})).await;
        a.until_code(50003).await;
    }
    let empty = ask(&mut a, json!({"type": 10, "id": late, "content": ""})).await;
    assert_eq!(empty["code"], 400, "{empty}");
}

#[tokio::test]
async fn group_changes_reach_the_members_and_moderators_remove_anything() {
    let app = app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let outsider = app.user("outsider").await;
    let g = app
        .json(
            Method::POST,
            "/group/create",
            Some(&owner.access),
            json!({"group_name": "changes"}),
        )
        .await
        .data()["ID"]
        .as_i64()
        .expect("group id");
    app.json(
        Method::POST,
        "/group/join",
        Some(&member.access),
        json!({"group_id": g}),
    )
    .await
    .expect(200, 200);
    let mut o = group_socket(&app, &owner, g).await;
    let mut m = group_socket(&app, &member, g).await;

    let posted = ask(&mut m, json!({"content": "first post"})).await;
    let id = id_of(&posted);
    assert_eq!(o.recv().await["content"], "first post");

    // An edit reaches the group; the owner may not edit the member's words.
    ask(
        &mut m,
        json!({"type": 10, "id": id, "content": "first post!"}),
    )
    .await;
    let edited = o.recv().await;
    assert_eq!(
        (&edited["code"], &edited["group_id"], &edited["content"]),
        (&json!(50010), &json!(g), &json!("first post!"))
    );
    let refused = ask(&mut o, json!({"type": 10, "id": id, "content": "censored"})).await;
    assert_eq!(refused["code"], 30030);

    // Typing goes to the others, not back to the typist.
    m.send(json!({"type": 15})).await;
    let typing = o.recv().await;
    assert_eq!(
        (&typing["code"], &typing["group_id"]),
        (&json!(50017), &json!(g))
    );

    // Read positions: "read by" lists the owner once they have read it.
    let readers = |token: String| {
        let app = &app;
        async move {
            app.get(
                "/chat/readers",
                Some(&token),
                &[("group_id", &g.to_string()), ("id", &id.to_string())],
            )
            .await
        }
    };
    let before = readers(member.access.clone()).await;
    assert_eq!(before.data()["count"], 0, "{:?}", before.body);
    ask(&mut o, json!({"type": 14, "id": id})).await;
    assert_eq!(m.until_code(50014).await.0["from"], owner.id.to_string());
    let after = readers(member.access.clone()).await;
    assert_eq!(after.data()["readers"], json!([owner.id.to_string()]));
    let stranger = readers(outsider.access.clone()).await;
    assert_eq!(stranger.code(), 30009, "{:?}", stranger.body);
    let no_id = app
        .get(
            "/chat/readers",
            Some(&member.access),
            &[("group_id", &g.to_string())],
        )
        .await;
    assert_eq!(no_id.code(), 400);

    // The owner removes the member's message long after the window; a member cannot
    // remove the owner's.
    let owners = id_of(&ask(&mut o, json!({"content": "rules"})).await);
    assert_eq!(m.recv().await["content"], "rules");
    let not_allowed = ask(&mut m, json!({"type": 11, "id": owners})).await;
    assert_eq!(not_allowed["code"], 30030);
    tokio::time::sleep(std::time::Duration::from_millis(
        RECALL_WINDOW_SECS * 1000 + 300,
    ))
    .await;
    let removed = ask(&mut o, json!({"type": 11, "id": id})).await;
    assert_eq!(removed["content"], "recalled", "{removed}");
    let told = m.until_code(50011).await.0;
    assert_eq!(
        (&told["id"], &told["from"]),
        (&json!(id), &json!(owner.id.to_string()))
    );
    // A message of another conversation is not there for this socket.
    let mut dm = socket(&app, &member, &format!("?toUid={}", owner.id)).await;
    let elsewhere = ask(&mut dm, json!({"type": 13, "id": owners, "content": "👍"})).await;
    assert_eq!(elsewhere["code"], 30021, "{elsewhere}");
}

/// Reads a frame as the seed's client does: it must decode into the seed's
/// `{"from": string, "code": number, "content": string}`; the client then acts on the
/// codes it knows and ignores the others.
fn seed_reads(frame: &Value) -> (String, i64, String) {
    let from = frame["from"]
        .as_str()
        .unwrap_or_else(|| panic!("from: {frame}"));
    let code = frame["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("code: {frame}"));
    let content = frame["content"]
        .as_str()
        .unwrap_or_else(|| panic!("content: {frame}"));
    (from.to_owned(), code, content.to_owned())
}

#[tokio::test]
async fn a_seed_client_keeps_working_beside_a_client_that_uses_every_change() {
    let app = app().await;
    let seed = app.user("seeduser").await;
    let modern = app.user("modern").await;
    let mut s = socket(&app, &seed, &format!("?toUid={}", modern.id)).await;
    let mut m = socket(&app, &modern, &format!("?toUid={}", seed.id)).await;

    // The seed client sends as it always did; the modern one edits, reacts, reads,
    // types and recalls around it.
    s.send(json!({"type": 1, "content": "hello from the seed"}))
        .await;
    assert_eq!(seed_reads(&s.recv().await).1, 50004);
    let id = id_of(&m.recv().await);
    let reply = id_of(
        &ask(
            &mut m,
            json!({"type": 1, "content": "hi seed", "reply_to": id}),
        )
        .await,
    );
    ask(&mut m, json!({"type": 13, "id": id, "content": "👍"})).await;
    ask(&mut m, json!({"type": 14, "id": id})).await;
    m.send(json!({"type": 15})).await;
    ask(
        &mut m,
        json!({"type": 10, "id": reply, "content": "hi, seed"}),
    )
    .await;
    ask(&mut m, json!({"type": 11, "id": reply})).await;
    let last = id_of(&ask(&mut m, json!({"type": 1, "content": "still there?"})).await);

    // Everything the seed client got decodes into its shape; the messages it knows are
    // the two sends, in order, and the rest are codes it ignores.
    let mut messages = Vec::new();
    loop {
        let (from, code, content) = seed_reads(&s.recv().await);
        if code == 50001 {
            assert_eq!(from, modern.id.to_string());
            messages.push(content);
        }
        if messages.len() == 2 {
            break;
        }
    }
    assert_eq!(messages, ["hi seed", "still there?"]);
    // Its history and unread requests answer in the seed's shapes.
    s.send(json!({"type": 2, "content": "0"})).await;
    let (end, listed) = s.until_code(50003).await;
    seed_reads(&end);
    let texts: Vec<String> = listed
        .iter()
        .map(seed_reads)
        .filter(|(_, code, _)| *code == 0)
        .map(|(_, _, content)| content)
        .collect();
    assert_eq!(texts, ["hello from the seed", "still there?"]);
    s.send(json!({"type": 3})).await;
    let (_, unread) = s.until_code(50003).await;
    assert!(unread.iter().any(|f| f["id"] == last), "{unread:?}");
}

#[tokio::test]
async fn a_block_also_refuses_edits_reactions_and_typing() {
    let app = app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = socket(&app, &alice, &format!("?toUid={}", bob.id)).await;
    let mut b = socket(&app, &bob, &format!("?toUid={}", alice.id)).await;
    let hers = id_of(&ask(&mut a, json!({"type": 1, "content": "before the block"})).await);
    let his = id_of(&ask(&mut b, json!({"type": 1, "content": "mine"})).await);
    app.json(
        Method::POST,
        "/user/block",
        Some(&alice.access),
        json!({ "user_id": bob.id }),
    )
    .await
    .expect(200, 200);
    for frame in [
        json!({"type": 10, "id": his, "content": "edited after the block"}),
        json!({"type": 13, "id": hers, "content": "👍"}),
        json!({"type": 15}),
    ] {
        let refused = ask(&mut b, frame.clone()).await;
        assert_eq!(refused["code"], 30040, "{frame}: {refused}");
    }
    // What the blocked user may still do concerns only themselves.
    let hidden = ask(&mut b, json!({"type": 12, "id": hers})).await;
    assert_eq!(hidden["code"], 50002, "{hidden}");
    // Alice saw none of it: anything announced would be queued on her socket before the
    // answer to her next frame.
    a.send(json!({"type": 2, "content": "0"})).await;
    let first = a.recv().await;
    let code = first["code"].as_i64().unwrap_or(0);
    assert!(!(50010..=50017).contains(&code), "{first}");
}
