//! Real-time chat over real WebSockets: every frame type and code, offline delivery,
//! paging, several sockets, de-duplication, bad frames, groups, slow readers, restarts.

use confab_e2e::ws::{Ended, Ws};
use confab_e2e::{spawn_app, spawn_with, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

async fn open(app: &TestApp, user: &TestUser, query: &str) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws{query}"), Some(&user.access))
        .await
        .expect("upgrade");
    let welcome = ws.recv().await;
    assert_eq!(
        welcome,
        json!({"from": "", "code": 50002, "content": "已连接至服务器"})
    );
    ws
}

async fn conversation(app: &TestApp, user: &TestUser, peer: &TestUser) -> Ws {
    open(app, user, &format!("?toUid={}", peer.id)).await
}

async fn send(ws: &mut Ws, text: &str) -> Value {
    ws.send(json!({"type": 1, "content": text})).await;
    ws.recv().await
}

#[tokio::test]
async fn refused_before_the_upgrade() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let check = |(status, body): (u16, Value), want: (u16, i64)| {
        assert_eq!(
            (status, body["status"].as_i64().unwrap_or(-1)),
            want,
            "{body}"
        );
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    };
    check(
        app.ws("/chat/ws", None).await.err().expect("no token"),
        (401, 30001),
    );
    check(
        app.ws("/chat/ws", Some("forged"))
            .await
            .err()
            .expect("forged"),
        (401, 30002),
    );
    check(
        app.ws("/chat/ws", Some(&alice.refresh))
            .await
            .err()
            .expect("refresh"),
        (401, 30002),
    );
    check(
        app.ws(&format!("/chat/ws?uid={}", bob.id), Some(&alice.access))
            .await
            .err()
            .expect("uid"),
        (401, 30002),
    );
    check(
        app.ws("/chat/ws?toUid=9999999", Some(&alice.access))
            .await
            .err()
            .expect("peer"),
        (200, 30011),
    );
    check(
        app.ws("/chat/ws?toUid=abc", Some(&alice.access))
            .await
            .err()
            .expect("bad id"),
        (400, 400),
    );
    check(
        app.ws("/chat/group_ws?group_id=x", Some(&alice.access))
            .await
            .err()
            .expect("gid"),
        (400, 400),
    );
    check(
        app.ws("/chat/group_ws?group_id=12345", Some(&alice.access))
            .await
            .err()
            .expect("member"),
        (403, 30009),
    );
    // A token in the query string works, with a matching uid.
    let mut ws = app
        .ws(
            &format!("/chat/ws?token={}&uid={}", alice.access, alice.id),
            None,
        )
        .await
        .expect("query token");
    assert_eq!(ws.recv().await["code"], 50002);
    // A plain GET is not an upgrade.
    app.get("/chat/ws", Some(&alice.access), &[])
        .await
        .expect(400, 400);
}

#[tokio::test]
async fn a_private_conversation_both_ways() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    let mut b = conversation(&app, &bob, &alice).await;

    let ack = send(&mut a, "hello bob").await;
    assert_eq!(ack["code"], 50004, "bob is online: {ack}");
    let id = ack["id"].as_i64().expect("server id");
    let got = b.recv().await;
    assert_eq!(got["from"], alice.id.to_string());
    assert_eq!(got["code"], 50001);
    assert_eq!(got["content"], "hello bob");
    assert_eq!(got["id"], id);
    assert!(got["ts"].as_i64().is_some());

    let reply = send(&mut b, "hi alice").await;
    assert_eq!(reply["code"], 50004);
    assert!(reply["id"].as_i64().expect("id") > id, "ids increase");
    assert_eq!(a.recv().await["content"], "hi alice");

    // History from the beginning of time: both messages, seen from each side.
    a.send(json!({"type": 2, "content": "not a number"})).await;
    let (end, frames) = a.until_code(50003).await;
    assert_eq!(end["content"], "到底了");
    let seen: Vec<_> = frames
        .iter()
        .map(|f| (f["from"].clone(), f["content"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!("me"), json!("hello bob")),
            (json!("you"), json!("hi alice"))
        ]
    );
    assert_eq!(frames[0]["code"], 0);
    assert!(frames[0]["read"].is_boolean());
}

#[tokio::test]
async fn offline_messages_arrive_as_unread_exactly_once() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    for text in ["one", "two", "three"] {
        let ack = send(&mut a, text).await;
        assert_eq!(ack["code"], 50005, "bob is offline");
        assert_eq!(ack["content"], "对方不在线应答");
    }
    let mut b = conversation(&app, &bob, &alice).await;
    b.send(json!({"type": 3})).await;
    let (_, unread) = b.until_code(50003).await;
    let texts: Vec<_> = unread
        .iter()
        .map(|f| f["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(unread
        .iter()
        .all(|f| f["from"] == "you" && f["read"] == false));
    b.send(json!({"type": 3})).await;
    let (_, again) = b.until_code(50003).await;
    assert!(again.is_empty(), "each unread message once: {again:?}");
    // The history now shows them read.
    b.send(json!({"type": 2, "content": "0"})).await;
    let (_, history) = b.until_code(50003).await;
    assert!(history.iter().all(|f| f["read"] == true));
}

#[tokio::test]
async fn history_pages_forwards_and_backwards() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            send(&mut a, &format!("m{i}")).await["id"]
                .as_i64()
                .expect("id"),
        );
    }
    let texts = |frames: &[Value]| -> Vec<String> {
        frames
            .iter()
            .map(|f| f["content"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // Forwards: the ten oldest after T, and no end marker because more follow.
    a.send(json!({"type": 2, "content": "0"})).await;
    let mut page = Vec::new();
    for _ in 0..10 {
        page.push(a.recv().await);
    }
    assert_eq!(
        texts(&page),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    // Backwards from m20: m10..m19.
    a.send(json!({"type": 2, "before": ids[20]})).await;
    let mut page = Vec::new();
    for _ in 0..10 {
        page.push(a.recv().await);
    }
    assert_eq!(
        texts(&page),
        (10..20).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    // Backwards from m3: m0..m2, then the end.
    a.send(json!({"type": 2, "before": ids[3].to_string()}))
        .await;
    let (_, page) = a.until_code(50003).await;
    assert_eq!(texts(&page), ["m0", "m1", "m2"]);
    // After a time in the future: nothing but the end.
    a.send(json!({"type": 2, "content": "99999999999"})).await;
    let (_, page) = a.until_code(50003).await;
    assert!(page.is_empty());
}

#[tokio::test]
async fn inbox_and_several_sockets_each_get_what_they_should() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let mut bob_inbox = open(&app, &bob, "").await;
    let mut bob_with_alice = conversation(&app, &bob, &alice).await;
    let mut bob_with_carol = conversation(&app, &bob, &carol).await;
    let mut alice_conv = conversation(&app, &alice, &bob).await;
    let mut alice_inbox = open(&app, &alice, "").await;
    let mut carol_inbox = open(&app, &carol, "").await;

    assert_eq!(send(&mut alice_conv, "from alice").await["code"], 50004);
    // Bob's inbox and his conversation with Alice get it; Alice's other socket gets a copy.
    assert_eq!(bob_inbox.recv().await["content"], "from alice");
    assert_eq!(bob_with_alice.recv().await["content"], "from alice");
    let copy = alice_inbox.recv().await;
    assert_eq!(
        (copy["content"].clone(), copy["to"].clone()),
        (json!("from alice"), json!(bob.id.to_string()))
    );

    // From an inbox, "to" names the peer; without it the frame is refused and the socket lives.
    carol_inbox
        .send(json!({"type": 1, "content": "no to"}))
        .await;
    let refused = carol_inbox.recv().await;
    assert_eq!(refused["code"], 400);
    carol_inbox
        .send(json!({"type": 1, "content": "from carol", "to": bob.id}))
        .await;
    assert_eq!(carol_inbox.recv().await["code"], 50004);
    assert_eq!(bob_inbox.recv().await["content"], "from carol");
    // Bob's conversation with Carol got it; his conversation with Alice did not, as the
    // next frame it sees is Alice's next message.
    assert_eq!(bob_with_carol.recv().await["content"], "from carol");
    send(&mut alice_conv, "second").await;
    assert_eq!(bob_with_alice.recv().await["content"], "second");
    // Sending to an unknown user.
    carol_inbox
        .send(json!({"type": 1, "content": "x", "to": 9_999_999}))
        .await;
    assert_eq!(carol_inbox.recv().await["code"], 30011);
}

#[tokio::test]
async fn a_resent_client_id_is_stored_once() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    let mut b = conversation(&app, &bob, &alice).await;
    a.send(json!({"type": 1, "content": "once", "client_id": "c-42"}))
        .await;
    let first = a.recv().await;
    a.send(json!({"type": 1, "content": "once", "client_id": "c-42"}))
        .await;
    let second = a.recv().await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["client_id"], "c-42");
    assert_eq!(b.recv().await["content"], "once");
    send(&mut a, "next").await;
    assert_eq!(
        b.recv().await["content"],
        "next",
        "the resend was not delivered again"
    );
    a.send(json!({"type": 2, "content": "0"})).await;
    let (_, history) = a.until_code(50003).await;
    assert_eq!(history.len(), 2);
}

#[tokio::test]
async fn bad_frames_get_errors_and_garbage_closes_with_1008() {
    let app = spawn_with(|c| c.chat.max_frame_bytes = 2048).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    let cases: Vec<(String, &str)> = vec![
        ("not json".to_owned(), "invalid JSON"),
        ("[1,2]".to_owned(), "JSON object"),
        (
            json!({"type": 8, "content": "x"}).to_string(),
            "unknown type 8",
        ),
        (json!({"content": "x"}).to_string(), "type is required"),
        (
            json!({"type": 1, "content": 42}).to_string(),
            "content must be a string",
        ),
    ];
    for (frame, reason) in cases {
        a.send_text(frame.clone()).await;
        let reply = a.recv().await;
        assert_eq!(reply["code"], 400, "{frame}");
        assert!(
            reply["content"]
                .as_str()
                .is_some_and(|c| c.contains(reason)),
            "{frame}: {reply}"
        );
        // A good frame in between keeps the socket open and resets the count.
        assert_eq!(send(&mut a, "still here").await["code"], 50005);
    }
    a.send(json!({"type": 1, "content": "x".repeat(3000)}))
        .await;
    let big = a.recv().await;
    assert_eq!(big["code"], 400);
    assert!(big["content"]
        .as_str()
        .is_some_and(|c| c.contains("larger than 2048")));
    assert_eq!(send(&mut a, "still here").await["code"], 50005);
    a.send_binary(vec![1, 2, 3]).await;
    assert_eq!(a.recv().await["code"], 400);
    assert_eq!(send(&mut a, "still here").await["code"], 50005);
    // Five invalid frames in a row: each answered, then the socket is closed.
    for _ in 0..5 {
        a.send_text("garbage".to_owned()).await;
    }
    for _ in 0..5 {
        assert_eq!(a.recv().await["code"], 400);
    }
    assert_eq!(a.ended().await, Ended::Closed(1008));
    // Nothing that was sent correctly was lost.
    let mut b = conversation(&app, &bob, &alice).await;
    b.send(json!({"type": 3})).await;
    let (_, unread) = b.until_code(50003).await;
    assert_eq!(unread.len(), 7);
}

#[tokio::test]
async fn sending_too_fast_is_refused_not_dropped() {
    let app = spawn_with(|c| {
        c.chat.messages_per_second = 1;
        c.chat.message_burst = 2;
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    let mut codes = Vec::new();
    for i in 0..4 {
        a.send(json!({"type": 1, "content": format!("m{i}"), "client_id": format!("c{i}")}))
            .await;
        let reply = a.recv().await;
        codes.push((reply["code"].clone(), reply["client_id"].clone()));
    }
    assert_eq!(codes[0].0, 50005);
    assert_eq!(codes[1].0, 50005);
    assert_eq!(codes[2], (json!(30019), json!("c2")));
    assert_eq!(codes[3].0, 30019);
}

async fn group_ws(app: &TestApp, user: &TestUser, group: i64) -> Ws {
    app.ws(
        &format!("/chat/group_ws?group_id={group}"),
        Some(&user.access),
    )
    .await
    .expect("group upgrade")
}

#[tokio::test]
async fn a_group_of_three_chats_and_a_removed_member_stops_receiving() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let created = app
        .json(
            Method::POST,
            "/group/create",
            Some(&alice.access),
            json!({"group_name": "trio"}),
        )
        .await;
    let g = created.data()["ID"].as_i64().expect("group id");
    for u in [&bob, &carol] {
        app.json(
            Method::POST,
            "/group/join",
            Some(&u.access),
            json!({"group_id": g}),
        )
        .await
        .expect(200, 200);
    }
    let mut a = group_ws(&app, &alice, g).await;
    let mut b = group_ws(&app, &bob, g).await;
    let mut c = group_ws(&app, &carol, g).await;

    // The seed's frame, with a forged sender that is ignored.
    a.send(json!({"sender": bob.id.to_string(), "content": "hi all"}))
        .await;
    let ack = a.recv().await;
    assert_eq!(ack["code"], 50002);
    let id = ack["id"].as_i64().expect("id");
    for ws in [&mut b, &mut c] {
        let got = ws.recv().await;
        assert_eq!(
            got["sender"],
            alice.id.to_string(),
            "the sender is the token's user"
        );
        assert_eq!(
            (
                got["content"].clone(),
                got["group_id"].clone(),
                got["id"].clone()
            ),
            (json!("hi all"), json!(g), json!(id))
        );
        assert!(got["timestamp"].as_i64().is_some());
    }
    b.send(json!({"type": 1, "content": "hello"})).await;
    assert_eq!(b.recv().await["code"], 50002);
    assert_eq!(a.recv().await["content"], "hello");
    assert_eq!(c.recv().await["content"], "hello");

    // History in the group.
    c.send(json!({"type": 2, "content": "0"})).await;
    let (_, history) = c.until_code(50003).await;
    assert_eq!(
        history
            .iter()
            .map(|f| f["content"].clone())
            .collect::<Vec<_>>(),
        [json!("hi all"), json!("hello")]
    );

    // Carol is removed: her socket closes at once and she cannot reconnect.
    app.json(
        Method::POST,
        "/group/remove",
        Some(&alice.access),
        json!({"group_id": g, "user_id": carol.id}),
    )
    .await
    .expect(200, 200);
    assert_eq!(c.ended().await, Ended::Closed(1008));
    let refused = app
        .ws(&format!("/chat/group_ws?group_id={g}"), Some(&carol.access))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403);
    a.send(json!({"content": "after carol"})).await;
    assert_eq!(a.recv().await["code"], 50002);
    assert_eq!(b.recv().await["content"], "after carol");
}

#[tokio::test]
async fn offline_group_members_read_history() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app
        .json(
            Method::POST,
            "/group/create",
            Some(&alice.access),
            json!({"group_name": "later"}),
        )
        .await
        .data()["ID"]
        .as_i64()
        .expect("id");
    app.json(
        Method::POST,
        "/group/join",
        Some(&bob.access),
        json!({"group_id": g}),
    )
    .await
    .expect(200, 200);
    let mut a = group_ws(&app, &alice, g).await;
    for i in 0..3 {
        a.send(json!({"content": format!("g{i}")})).await;
        assert_eq!(a.recv().await["code"], 50002);
    }
    let mut b = group_ws(&app, &bob, g).await;
    b.send(json!({"type": 2, "content": ""})).await;
    let (_, history) = b.until_code(50003).await;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["sender"], alice.id.to_string());
}

#[tokio::test]
async fn a_slow_reader_is_closed_with_1013_and_loses_nothing() {
    let app = spawn_with(|c| {
        c.chat.outbound_queue = 4;
        c.chat.messages_per_second = 100_000;
        c.chat.message_burst = 100_000;
        c.chat.user_messages_per_second = 100_000;
        c.chat.user_message_burst = 100_000;
        c.admin.token = "admin-token-of-the-slow-reader-test".to_owned();
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut slow = conversation(&app, &bob, &alice).await;
    let mut a = conversation(&app, &alice, &bob).await;
    // Big messages fill the socket buffers quickly; Bob reads nothing meanwhile.
    let text = "慢".repeat(3900);
    let mut sent = 0;
    let mut last_id = 0;
    // The kill comes once the kernel's bounded unsent bytes and the queue are full. How
    // many messages that takes depends on the machine, so the bound is time, not a count.
    let slow_closes = || {
        app.state
            .hub
            .closes()
            .into_iter()
            .find(|(code, _)| *code == 1013)
            .map_or(0, |(_, count)| count)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let ack = send(&mut a, &text).await;
        last_id = ack["id"].as_i64().expect("acked");
        sent += 1;
        if slow_closes() > 0 {
            break;
        }
    }
    assert_eq!(
        slow_closes(),
        1,
        "the slow socket was still open after {sent} messages"
    );
    // Bob reads again a few seconds later: what reached him, then the close frame that
    // says why, which waited for him.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut received = 0;
    let ended = loop {
        match slow.next().await {
            Ok(_) => received += 1,
            Err(ended) => break ended,
        }
    };
    assert!(matches!(ended, Ended::Closed(1013)), "{ended:?}");
    // Operators see it counted.
    let metrics = app
        .send(
            app.request(reqwest::Method::GET, "/metrics", None)
                .bearer_auth("admin-token-of-the-slow-reader-test"),
        )
        .await;
    let text = String::from_utf8_lossy(&metrics.bytes);
    assert!(
        text.contains("confab_websocket_closes_total{code=\"1013\"} 1"),
        "{text}"
    );
    assert!(received < sent, "some messages never reached the socket");
    // Everything is in history.
    let conversation_key = confab::messages::Conversation::direct(alice.id, bob.id);
    let stored = app
        .stores
        .messages
        .before(&conversation_key, last_id + 1, 0, 100_000)
        .await
        .expect("history");
    assert_eq!(stored.len(), sent);
}

#[tokio::test]
async fn acknowledged_messages_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = confab::Config::for_tests(dir.path());
    let app = confab_e2e::start(config.clone()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(send(&mut a, &format!("kept {i}")).await["id"].clone());
    }
    drop(a);
    app.stop().await;

    let app = confab_e2e::start(config).await;
    let mut b = conversation(&app, &bob, &alice).await;
    b.send(json!({"type": 3})).await;
    let (_, unread) = b.until_code(50003).await;
    assert_eq!(
        unread.iter().map(|f| f["id"].clone()).collect::<Vec<_>>(),
        acked
    );
}

#[tokio::test]
async fn shutdown_acknowledges_or_refuses_every_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = confab::Config::for_tests(dir.path());
    let app = confab_e2e::start(config).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = conversation(&app, &alice, &bob).await;
    for i in 0..50 {
        a.send(json!({"type": 1, "content": format!("burst {i}"), "client_id": format!("b{i}")}))
            .await;
    }
    let stores = app.stores.clone();
    let stopping = tokio::spawn(app.stop());
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let ended = loop {
        match a.next().await {
            Ok(frame) if frame["code"] == 50005 => acked.push(frame["id"].as_i64().expect("id")),
            Ok(frame) if frame["code"] == 500 => {
                assert!(frame["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("shutting down")));
                refused.push(frame["client_id"].as_str().expect("client_id").to_owned());
            }
            Ok(other) => panic!("unexpected {other}"),
            Err(ended) => break ended,
        }
    };
    stopping.await.expect("stopped");
    assert_eq!(ended, Ended::Closed(1001));
    assert!(acked.len() + refused.len() <= 50);
    let conversation_key = confab::messages::Conversation::direct(alice.id, bob.id);
    let stored = stores
        .messages
        .after(&conversation_key, 0, 0, 1000)
        .await
        .expect("history");
    let stored_ids: Vec<i64> = stored.iter().map(|m| m.id).collect();
    assert_eq!(
        stored_ids, acked,
        "every ack is stored, and nothing unacknowledged half-way"
    );
}

#[tokio::test]
async fn a_silent_peer_is_dropped() {
    let app = spawn_with(|c| {
        c.chat.ping_interval_secs = 1;
        c.chat.idle_timeout_secs = 2;
    })
    .await;
    let alice = app.user("alice").await;
    // Connected, but never reads, so never answers a ping.
    let _silent = app
        .ws("/chat/ws", Some(&alice.access))
        .await
        .expect("upgrade");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !app.state.hub.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the silent socket was never dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

mod filters {
    use super::*;
    use async_trait::async_trait;
    use confab::messages::filter::Draft;
    use confab::messages::{FilterChain, MessageFilter, Verdict};
    use std::sync::Arc;

    struct Mask;
    struct Refuse;

    #[async_trait]
    impl MessageFilter for Mask {
        fn name(&self) -> &str {
            "mask"
        }
        async fn filter(&self, draft: &Draft) -> Verdict {
            if draft.content.contains("darn") {
                Verdict::Rewrite(draft.content.replace("darn", "****"))
            } else {
                Verdict::Allow
            }
        }
    }

    #[async_trait]
    impl MessageFilter for Refuse {
        fn name(&self) -> &str {
            "refuse"
        }
        async fn filter(&self, draft: &Draft) -> Verdict {
            if draft.content.contains("spam") {
                Verdict::Reject {
                    code: 50006,
                    reason: "达到限制: no spam".to_owned(),
                }
            } else {
                Verdict::Allow
            }
        }
    }

    #[tokio::test]
    async fn the_filter_chain_rewrites_and_rejects_private_and_group_messages() {
        let app = spawn_app().await;
        app.state
            .chat
            .set_filters(FilterChain::new(vec![Arc::new(Mask), Arc::new(Refuse)]));
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let mut a = conversation(&app, &alice, &bob).await;
        let mut b = conversation(&app, &bob, &alice).await;

        a.send(json!({"type": 1, "content": "buy spam now", "client_id": "s1"}))
            .await;
        let refused = a.recv().await;
        assert_eq!(
            refused,
            json!({"from": "", "code": 50006, "content": "达到限制: no spam", "client_id": "s1"})
        );
        assert_eq!(send(&mut a, "well darn it").await["code"], 50004);
        // The rejected message never reached Bob: the next frame is the rewritten one.
        assert_eq!(b.recv().await["content"], "well **** it");

        let g = app
            .json(
                Method::POST,
                "/group/create",
                Some(&alice.access),
                json!({"group_name": "filtered"}),
            )
            .await
            .data()["ID"]
            .as_i64()
            .expect("id");
        app.json(
            Method::POST,
            "/group/join",
            Some(&bob.access),
            json!({"group_id": g}),
        )
        .await
        .expect(200, 200);
        let mut ga = group_ws(&app, &alice, g).await;
        let mut gb = group_ws(&app, &bob, g).await;
        ga.send(json!({"content": "spam spam"})).await;
        assert_eq!(ga.recv().await["code"], 50006);
        ga.send(json!({"content": "darn group"})).await;
        assert_eq!(ga.recv().await["code"], 50002);
        assert_eq!(gb.recv().await["content"], "**** group");
        // History holds only what was accepted, as rewritten.
        gb.send(json!({"type": 2, "content": "0"})).await;
        let (_, history) = gb.until_code(50003).await;
        assert_eq!(
            history
                .iter()
                .map(|f| f["content"].clone())
                .collect::<Vec<_>>(),
            [json!("**** group")]
        );
    }
}

#[tokio::test]
async fn signing_out_or_deleting_the_account_closes_the_sockets() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut inbox = open(&app, &alice, "").await;
    let mut conv = conversation(&app, &alice, &bob).await;
    let mut bobs = open(&app, &bob, "").await;
    app.send(app.request(Method::POST, "/user/logout", Some(&alice.access)))
        .await
        .expect(200, 200);
    assert_eq!(inbox.ended().await, Ended::Closed(1008));
    assert_eq!(conv.ended().await, Ended::Closed(1008));
    let refused = app
        .ws("/chat/ws", Some(&alice.access))
        .await
        .err()
        .expect("revoked");
    assert_eq!(refused.0, 401);

    app.form(
        Method::DELETE,
        "/user/delete",
        Some(&bob.access),
        &[("username", &bob.name), ("password", &bob.password)],
    )
    .await
    .expect(200, 200);
    assert_eq!(bobs.ended().await, Ended::Closed(1008));
}
