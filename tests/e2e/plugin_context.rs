//! What plugins see besides a message's text, and what senders see of what plugins did,
//! through the real server: the context interface 0.2 hands a filter (a send or an edit,
//! friends, the sender's role), the stranger rule exempting friends, a plugin built against
//! the published 0.1.2 interface still filtering, acks that carry a rewritten text, and the
//! bundled rules' refusals in English and Chinese. One server runs the whole story, so the
//! bundled plugins and both test plugins are compiled and loaded once.

use confab_e2e::plugins::install_plugin;
use confab_e2e::ws::Ws;
use confab_e2e::{spawn_with, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-for-the-plugin-context-tests";

/// A server with the bundled plugins and the context probe (order 30) and the 0.1.2 filter
/// (order 40) beside them, generous deadlines and send rates.
async fn context_app() -> TestApp {
    let app = spawn_with(|c| {
        c.admin.token = TOKEN.to_owned();
        c.plugins.enabled = true;
        c.plugins.install_bundled = true;
        c.plugins.watch = false;
        c.plugins.dir = c.server.data_dir.join("plugins");
        c.plugins.deadline_ms = 200;
        c.chat.messages_per_second = 10_000;
        c.chat.message_burst = 10_000;
        c.chat.user_messages_per_second = 10_000;
        c.chat.user_message_burst = 10_000;
    })
    .await;
    let dir = app.data_dir.join("plugins");
    install_plugin(&dir, "context-probe", "context-probe");
    install_plugin(&dir, "filter-0-1", "filter-0-1");
    app.state.plugins.rescan().await;
    for name in [
        "context-probe",
        "filter-0-1",
        "stranger-limit",
        "word-filter",
    ] {
        let view = app.state.plugins.get(name).expect("listed");
        assert_eq!(view.state, "running", "{view:?}");
    }
    app
}

async fn configure(app: &TestApp, plugin: &str, config: Value) {
    app.json(
        Method::PUT,
        &format!("/admin/plugins/{plugin}/config"),
        Some(&format!("Bearer {TOKEN}")),
        config,
    )
    .await
    .expect(200, 200);
}

async fn befriend(app: &TestApp, owner: &TestUser, target: &TestUser, add: bool) {
    let path = if add { "/friend/add" } else { "/friend/delete" };
    app.json(
        Method::POST,
        path,
        Some(&owner.access),
        json!({ "target_id": target.id }),
    )
    .await
    .expect(200, 200);
}

/// `from`'s socket for the conversation with `to`, past its welcome frame.
async fn chat(app: &TestApp, from: &TestUser, to: &TestUser) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", to.id), Some(&from.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

/// Sends `text` and returns the answer: its ack or its refusal.
async fn send(ws: &mut Ws, text: &str) -> Value {
    ws.send(json!({"type": 1, "content": text})).await;
    ws.recv().await
}

/// Sends `text` on a private socket and checks it was stored as `stored` and that the ack
/// says so exactly when that differs from what was sent; returns the message's id.
async fn stored_as(ws: &mut Ws, peer: &mut Ws, text: &str, stored: &str) -> i64 {
    let ack = send(ws, text).await;
    assert!(matches!(ack["code"].as_i64(), Some(50004 | 50005)), "{ack}");
    if text == stored {
        assert!(
            ack.get("rewritten").is_none() && ack.get("stored").is_none(),
            "{ack}"
        );
    } else {
        assert_eq!(
            (&ack["rewritten"], &ack["stored"]),
            (&json!(true), &json!(stored)),
            "{ack}"
        );
    }
    assert_eq!(peer.recv().await["content"], stored);
    ack["id"].as_i64().expect("an id")
}

/// Sends `text` on a group socket and returns its ack or refusal, skipping the messages of
/// others that arrive meanwhile.
async fn say(ws: &mut Ws, text: &str) -> Value {
    ws.send(json!({ "content": text })).await;
    loop {
        let frame = ws.recv().await;
        if frame.get("code").is_some() {
            return frame;
        }
    }
}

#[tokio::test]
async fn filters_see_friends_roles_and_edits_and_senders_see_what_was_stored() {
    let app = context_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    // Alice and Bob are friends; Alice has Carol on her list, but not the other way round.
    befriend(&app, &alice, &bob, true).await;
    befriend(&app, &bob, &alice, true).await;
    befriend(&app, &alice, &carol, true).await;
    let (mut ab, mut ba) = (
        chat(&app, &alice, &bob).await,
        chat(&app, &bob, &alice).await,
    );
    let (mut ac, mut ca) = (
        chat(&app, &alice, &carol).await,
        chat(&app, &carol, &alice).await,
    );

    // The probe sees the context, and Alice's ack carries the text it stored.
    let first = stored_as(&mut ab, &mut ba, "context?", "send friends=true role=none").await;
    stored_as(&mut ac, &mut ca, "context?", "send friends=false role=none").await;
    // An ack of a text no plugin changed keeps the seed's shape.
    stored_as(&mut ab, &mut ba, "plain words", "plain words").await;

    // Friends write freely: six unanswered messages and no refusal.
    for n in 1..=4 {
        stored_as(
            &mut ab,
            &mut ba,
            &format!("hi bob {n}"),
            &format!("hi bob {n}"),
        )
        .await;
    }
    // A one-sided entry exempts nobody: Carol has not answered Alice's first message.
    for n in 2..=3 {
        stored_as(
            &mut ac,
            &mut ca,
            &format!("hi carol {n}"),
            &format!("hi carol {n}"),
        )
        .await;
    }
    let refused = send(&mut ac, "hi carol 4").await;
    assert_eq!(
        (&refused["code"], &refused["content"]),
        (
            &json!(50006),
            &json!("limit reached: wait for a reply / 达到限制")
        ),
        "the seed's rule for strangers, in English and the seed's words"
    );

    // The operator counts friends too: the fourth unanswered message is refused.
    configure(&app, "stranger-limit", json!({"exempt_friends": false})).await;
    for n in 1..=3 {
        stored_as(
            &mut ab,
            &mut ba,
            &format!("counted {n}"),
            &format!("counted {n}"),
        )
        .await;
    }
    assert_eq!(send(&mut ab, "counted 4").await["code"], 50006);
    // Bob answers, and the default (friends exempt) comes back.
    stored_as(&mut ba, &mut ab, "hello alice", "hello alice").await;
    configure(&app, "stranger-limit", json!({})).await;

    // An edit passes the filters as an edit of its message, which the rule does not count.
    let edit = json!({"type": 10, "id": first, "content": "context?", "client_id": "e1"});
    ab.send(edit).await;
    let edited = ab.recv().await;
    let stored = format!("edit:{first} friends=true role=none");
    // The editor is told the text as the filter stored it.
    assert_eq!(
        (&edited["code"], &edited["rewritten"], &edited["stored"]),
        (&json!(50002), &json!(true), &json!(stored)),
        "{edited}"
    );
    assert_eq!(ba.recv().await["content"], stored);

    // A plugin built against the published 0.1.2 interface loads and filters.
    stored_as(&mut ab, &mut ba, "old?", "answered by a 0.1.2 plugin").await;
    let refused = send(&mut ab, "forbidden fruit").await;
    assert_eq!(
        (&refused["code"], &refused["content"]),
        (&json!(30013), &json!("refused by a 0.1.2 plugin"))
    );
    let wasm = std::fs::read(app.data_dir.join("plugins/filter-0-1.wasm")).expect("read");
    let inspection = confab::plugins::inspect(wasm).await.expect("inspects");
    assert_eq!(inspection.wit_version, "0.1.2");
    assert!(
        inspection
            .imports
            .iter()
            .any(|i| i == "confab:plugin/host@0.1.2"),
        "{inspection:?}"
    );

    // The word filter masks by default, and the sender sees the masked text it stored.
    stored_as(&mut ab, &mut ba, "no spam here", "no **** here").await;
    // Refusing, it says why in English and Chinese.
    configure(&app, "word-filter", json!({"mode": "reject"})).await;
    let refused = send(&mut ab, "spam again").await;
    assert_eq!(
        (&refused["code"], &refused["content"]),
        (
            &json!(30013),
            &json!("message contains a blocked word / 消息包含违禁词")
        )
    );

    // Bob takes Alice off his list: from the next message on they are no longer friends.
    befriend(&app, &bob, &alice, false).await;
    stored_as(&mut ab, &mut ba, "context?", "send friends=false role=none").await;

    // In a group the filters see the sender's role, as it changes.
    let created = app
        .json(
            Method::POST,
            "/group/create",
            Some(&alice.access),
            json!({"group_name": "roles"}),
        )
        .await;
    let group = created.data()["ID"].as_i64().expect("group id");
    app.join_group(&carol, group).await.expect(200, 200);
    let path = format!("/chat/group_ws?group_id={group}");
    let mut o = app.ws(&path, Some(&alice.access)).await.expect("upgrade");
    let mut d = app.ws(&path, Some(&carol.access)).await.expect("upgrade");

    let ack = say(&mut d, "context?").await;
    assert_eq!(
        (&ack["code"], &ack["rewritten"], &ack["stored"]),
        (
            &json!(50002),
            &json!(true),
            &json!("send friends=false role=member")
        ),
        "{ack}"
    );
    let refused = say(&mut d, "staff only").await;
    assert_eq!(
        (&refused["code"], &refused["content"]),
        (&json!(30013), &json!("only the owner and admins say that"))
    );
    let ack = say(&mut o, "staff only").await;
    assert_eq!(ack["code"], 50002, "{ack}");
    assert!(ack.get("rewritten").is_none(), "{ack}");

    // Carol becomes an admin: her next message sees the new role.
    app.json(
        Method::POST,
        "/group/role",
        Some(&alice.access),
        json!({"group_id": group, "user_id": carol.id, "role": 2}),
    )
    .await
    .expect(200, 200);
    assert_eq!(say(&mut d, "staff only").await["code"], 50002);
    let ack = say(&mut d, "context?").await;
    assert_eq!(ack["stored"], "send friends=false role=admin", "{ack}");
}
