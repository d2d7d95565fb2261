//! The conversation list, friends' presence and mentions in groups, through real HTTP and
//! real WebSockets, on SQLite and, when their servers are there, MariaDB and MongoDB.

use std::time::{Duration, Instant};

use confab_e2e::ws::Ws;
use confab_e2e::{spawn_app, Reply, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

mod backends;

async fn befriend(app: &TestApp, owner: &TestUser, target: &TestUser) {
    app.json(
        Method::POST,
        "/friend/add",
        Some(&owner.access),
        json!({ "target_id": target.id }),
    )
    .await
    .expect(200, 200);
}

/// The user's inbox socket, past its welcome.
async fn inbox(app: &TestApp, user: &TestUser) -> Ws {
    let mut ws = app.ws("/chat/ws", Some(&user.access)).await.expect("inbox");
    assert_eq!(ws.recv().await["code"], 50002, "the welcome");
    ws
}

async fn group_socket(app: &TestApp, user: &TestUser, group: i64) -> Ws {
    app.ws(
        &format!("/chat/group_ws?group_id={group}"),
        Some(&user.access),
    )
    .await
    .expect("group socket")
}

/// Sends a private message from an inbox and returns its id once acknowledged.
async fn send_to(ws: &mut Ws, to: i64, text: &str) -> i64 {
    ws.send(json!({ "type": 1, "to": to, "content": text }))
        .await;
    loop {
        let frame = ws.recv().await;
        if frame["code"] == 50004 || frame["code"] == 50005 {
            return frame["id"].as_i64().expect("an id");
        }
    }
}

/// Sends a group message with `mentions` and returns its id once acknowledged.
async fn say(ws: &mut Ws, text: &str, mentions: Value, client_id: &str) -> i64 {
    ws.send(json!({ "content": text, "mentions": mentions, "client_id": client_id }))
        .await;
    let (ack, _) = ws.until_code(50002).await;
    ack["id"].as_i64().expect("an id")
}

/// `GET /chat/conversations`, expecting success.
async fn conversations(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Reply {
    let reply = app
        .get("/chat/conversations", Some(&user.access), query)
        .await;
    reply.expect(200, 200);
    reply
}

fn entries(reply: &Reply) -> &Vec<Value> {
    reply.data().as_array().expect("a list")
}

/// Each entry's (kind, id, unread, mentions).
fn counts(reply: &Reply) -> Vec<(String, i64, i64, i64)> {
    entries(reply)
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_owned(),
                e["id"].as_i64().expect("id"),
                e["unread"].as_i64().expect("unread"),
                e["mentions"].as_i64().expect("mentions"),
            )
        })
        .collect()
}

fn next_after(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get("x-next-after")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

fn friend(user: &TestUser, unread: i64) -> (String, i64, i64, i64) {
    ("friend".to_owned(), user.id, unread, 0)
}

fn group(id: i64, unread: i64, mentions: i64) -> (String, i64, i64, i64) {
    ("group".to_owned(), id, unread, mentions)
}

/// Reads the unread messages of the conversation with `peer` (type 3), which marks them read.
async fn read_unread(app: &TestApp, reader: &TestUser, peer: &TestUser) -> Vec<String> {
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", peer.id), Some(&reader.access))
        .await
        .expect("conversation socket");
    assert_eq!(ws.recv().await["code"], 50002);
    ws.send(json!({ "type": 3 })).await;
    let (_, frames) = ws.until_code(50003).await;
    // The listed messages (code 0), not the read receipt that marking them read sends.
    frames
        .iter()
        .filter(|f| f["code"] == 0)
        .map(|f| f["content"].as_str().expect("text").to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_is_ordered_paged_and_counts_unread() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    for peer in [&bob, &carol, &dave] {
        befriend(&app, &alice, peer).await;
    }
    let g = app
        .create_group(&alice, json!({ "group_name": "team" }))
        .await;
    app.join_group(&bob, g).await.expect(200, 200);

    // Nothing said yet: every friend and group, none with a message.
    let quiet = conversations(&app, &alice, &[]).await;
    assert_eq!(entries(&quiet).len(), 4, "{}", quiet.body);
    assert!(entries(&quiet)
        .iter()
        .all(|e| e["last_message"].is_null() && e["unread"] == 0));
    let team = entries(&quiet)
        .iter()
        .find(|e| e["kind"] == "group")
        .expect("the group");
    assert_eq!(
        (team["id"].as_i64(), &team["name"]),
        (Some(g), &json!("team"))
    );
    let named_bob = entries(&quiet).iter().find(|e| e["id"] == bob.id);
    assert_eq!(named_bob.expect("bob")["name"], bob.name.as_str());

    let mut a = inbox(&app, &alice).await;
    let mut b = inbox(&app, &bob).await;
    let mut c = inbox(&app, &carol).await;
    send_to(&mut b, alice.id, "hi alice").await;
    send_to(&mut c, alice.id, "one").await;
    send_to(&mut c, alice.id, "two").await;
    let mut team_b = group_socket(&app, &bob, g).await;
    say(&mut team_b, "hello team", Value::Null, "t-1").await;
    let newest = send_to(&mut a, dave.id, "yo dave").await;

    // Newest first; the caller's own messages are never unread.
    let list = conversations(&app, &alice, &[]).await;
    assert_eq!(
        counts(&list),
        [
            friend(&dave, 0),
            group(g, 1, 0),
            friend(&carol, 2),
            friend(&bob, 1)
        ]
    );
    let last = &entries(&list)[0]["last_message"];
    assert_eq!(last["id"], newest);
    assert_eq!(last["sender"], alice.id);
    assert_eq!(last["content"], "yo dave");
    assert!(last["ts"].as_i64().is_some() && last["time"].as_str().is_some());
    assert_eq!(entries(&list)[2]["last_message"]["content"], "two");
    assert_eq!(next_after(&list), None, "one page holds it all");
    // Dave sees it from his side once Alice is on his list: one unread message.
    let daves = conversations(&app, &dave, &[]).await;
    assert!(entries(&daves).is_empty(), "a friend list is one-way");
    befriend(&app, &dave, &alice).await;
    let daves = conversations(&app, &dave, &[]).await;
    assert_eq!(counts(&daves), [friend(&alice, 1)]);

    // Pages of two; a conversation that moves to the top meanwhile is not listed again.
    let first = conversations(&app, &alice, &[("limit", "2")]).await;
    let ids: Vec<i64> = counts(&first).iter().map(|e| e.1).collect();
    assert_eq!(ids, [dave.id, g]);
    let after = next_after(&first).expect("more to come");
    send_to(&mut b, alice.id, "bob again").await;
    let second = conversations(&app, &alice, &[("limit", "2"), ("after", &after)]).await;
    assert_eq!(counts(&second), [friend(&carol, 2)]);
    assert_eq!(next_after(&second), None);
    let top = conversations(&app, &alice, &[("limit", "1")]).await;
    assert_eq!(counts(&top), [friend(&bob, 2)]);

    // Reading clears the count; the last message stays.
    assert_eq!(read_unread(&app, &alice, &carol).await, ["one", "two"]);
    let read = conversations(&app, &alice, &[]).await;
    let carols = entries(&read)
        .iter()
        .find(|e| e["id"] == carol.id)
        .expect("carol");
    assert_eq!(
        (&carols["unread"], &carols["last_message"]["content"]),
        (&json!(0), &json!("two"))
    );

    // Bad paging is refused with a reason; the route needs a token.
    for (name, value, reason) in [
        ("limit", "0", "limit must be between 1 and 100"),
        ("limit", "101", "limit must be between 1 and 100"),
        ("limit", "many", "limit"),
        ("after", "soon", "after"),
    ] {
        let bad = app
            .get("/chat/conversations", Some(&alice.access), &[(name, value)])
            .await;
        bad.expect(400, 400);
        assert!(bad.error().contains(reason), "{}", bad.body);
    }
    app.get("/chat/conversations", None, &[])
        .await
        .expect(401, 30001);
}

#[tokio::test]
async fn mentions_notify_the_inbox_and_count_until_read() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let g = app
        .create_group(&alice, json!({ "group_name": "mentions" }))
        .await;
    for member in [&bob, &carol] {
        app.join_group(member, g).await.expect(200, 200);
    }
    // Everything is readable by new members, so Dave's counts below are not hidden.
    app.json(
        Method::POST,
        "/group/history_visibility",
        Some(&alice.access),
        json!({ "group_id": g, "history_visibility": "all" }),
    )
    .await
    .expect(200, 200);
    let mut a = inbox(&app, &alice).await;
    let mut c = inbox(&app, &carol).await;
    let mut d = inbox(&app, &dave).await;
    let mut looking = group_socket(&app, &carol, g).await;
    let mut team_b = group_socket(&app, &bob, g).await;

    // Alice is not looking at the group: her inbox hears of it. Carol is, so hers does
    // not; Dave is not a member, and Bob's mention of himself is no mention.
    let everyone = json!([alice.id, carol.id, dave.id.to_string(), bob.id]);
    let first = say(&mut team_b, "@alice @carol @dave", everyone.clone(), "m-1").await;
    assert_eq!(
        a.recv().await,
        json!({"from": "", "code": 50015, "content": "mentioned in group", "group_id": g,
               "id": first, "sender": bob.id.to_string()})
    );
    assert_eq!(looking.recv().await["id"], first);
    // Nothing else reached Carol's or Dave's inbox: the next frame there is this one.
    send_to(&mut a, carol.id, "ping carol").await;
    assert_eq!(c.recv().await["content"], "ping carol");
    send_to(&mut a, dave.id, "ping dave").await;
    assert_eq!(d.recv().await["content"], "ping dave");

    // A resend is acknowledged with the stored message and tells no one again.
    let resent = say(&mut team_b, "@alice @carol @dave", everyone, "m-1").await;
    assert_eq!(resent, first);
    send_to(&mut c, alice.id, "after the resend").await;
    assert_eq!(a.recv().await["content"], "after the resend");

    let second = say(&mut team_b, "alice again", json!([alice.id]), "m-2").await;
    assert_eq!(a.recv().await["id"], second);
    let alices = conversations(&app, &alice, &[]).await;
    assert_eq!(counts(&alices)[0], group(g, 2, 2));
    let carols = conversations(&app, &carol, &[]).await;
    assert_eq!(counts(&carols), [group(g, 2, 1)]);
    // Dave joins later: he reads both messages, and no mention of him was kept.
    app.join_group(&dave, g).await.expect(200, 200);
    let daves = conversations(&app, &dave, &[]).await;
    assert_eq!(counts(&daves), [group(g, 2, 0)]);

    // Alice reads the group up to its newest message (a read receipt): both counts clear.
    let mut team_a = group_socket(&app, &alice, g).await;
    team_a.send(json!({ "type": 14, "id": second })).await;
    let (done, _) = team_a.until_code(50002).await;
    assert_eq!(done["id"], second);
    let read = conversations(&app, &alice, &[]).await;
    assert_eq!(counts(&read)[0], group(g, 0, 0));

    // Malformed mentions are refused with a reason, and nothing is sent.
    let too_many: Vec<i64> = (1..=21).collect();
    for (mentions, reason) in [
        (json!(too_many), "at most 20"),
        (json!("@all"), "no \"@all\""),
        (json!(["bob"]), "\"bob\" is not a user id"),
        (json!({ "id": alice.id }), "a list of user ids"),
    ] {
        team_b
            .send(json!({ "content": "x", "mentions": mentions }))
            .await;
        let (refused, _) = team_b.until_code(400).await;
        let content = refused["content"].as_str().expect("a reason");
        assert!(content.contains(reason), "{content}");
    }
    a.send(json!({ "type": 1, "to": bob.id, "content": "x", "mentions": [bob.id] }))
        .await;
    let private = a.recv().await;
    assert_eq!(private["code"], 400);
    assert!(private["content"]
        .as_str()
        .is_some_and(|c| c.contains("only for group messages")));
    let unchanged = conversations(&app, &alice, &[]).await;
    assert_eq!(counts(&unchanged)[0], group(g, 0, 0), "nothing was sent");
}

#[tokio::test]
async fn presence_shows_friends_online_then_offline() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    befriend(&app, &alice, &bob).await;
    befriend(&app, &alice, &carol).await;
    let states = |reply: &Reply| -> Vec<(i64, bool)> {
        entries(reply)
            .iter()
            .map(|e| {
                (
                    e["user_id"].as_i64().expect("id"),
                    e["online"].as_bool().expect("online"),
                )
            })
            .collect()
    };
    let presence = |query: &'static [(&'static str, &'static str)]| {
        let app = &app;
        let alice = &alice;
        async move {
            let reply = app
                .get("/friend/presence", Some(&alice.access), query)
                .await;
            reply.expect(200, 200);
            reply
        }
    };
    let before = presence(&[]).await;
    assert_eq!(states(&before), [(bob.id, false), (carol.id, false)]);
    assert_eq!(entries(&before)[0]["username"], bob.name.as_str());

    let bobs = inbox(&app, &bob).await;
    assert_eq!(
        states(&presence(&[]).await),
        [(bob.id, true), (carol.id, false)]
    );
    let first = presence(&[("limit", "1")]).await;
    assert_eq!(states(&first), [(bob.id, true)]);
    let after = next_after(&first).expect("a next page");
    let second = app
        .get(
            "/friend/presence",
            Some(&alice.access),
            &[("limit", "1"), ("after", &after)],
        )
        .await;
    second.expect(200, 200);
    assert_eq!(states(&second), [(carol.id, false)]);

    // Offline once the server has seen the socket close.
    bobs.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while states(&presence(&[]).await)[0].1 {
        assert!(Instant::now() < deadline, "bob still online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.get("/friend/presence", Some(&alice.access), &[("limit", "0")])
        .await
        .expect(400, 400);
}
