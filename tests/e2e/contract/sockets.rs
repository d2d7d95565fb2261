//! Real conversations over `/chat/ws` and `/chat/group_ws`: each canonical client frame
//! (send, history, unread, renew, edit, recall, delete for me, react, receipt, typing) is
//! sent, every frame is checked against the published schema, and every shape the schema
//! lists must have been received at least once.

use std::sync::Arc;

use confab_e2e::{TestApp, TestUser};
use serde_json::{json, Value};

use super::frames::{Frames, Socket};

/// Reads `socket` until the 50002 that answers a change of message `id`.
async fn changed(socket: &mut Socket, id: &Value) -> Value {
    socket
        .until("a change's answer", |f| {
            f["code"] == 50002 && f["id"] == *id
        })
        .await
}

/// A fresh access token of `user`, for a renewal.
async fn fresh_token(app: &TestApp, user: &TestUser) -> String {
    let login = app.login(&user.name, &user.password).await;
    login.expect(200, 200);
    login.data()["aToken"].as_str().expect("aToken").to_owned()
}

async fn private(app: &TestApp, frames: &Arc<Frames>, alice: &TestUser, bob: &TestUser) {
    let path = |peer: &TestUser| format!("/chat/ws?toUid={}", peer.id);
    let mut a = Socket::open(app, "alice→bob", &path(bob), &alice.access, frames).await;
    let mut b = Socket::open(app, "bob→alice", &path(alice), &bob.access, frames).await;
    let mut inbox = Socket::open(app, "alice's inbox", "/chat/ws", &alice.access, frames).await;
    for socket in [&mut a, &mut b, &mut inbox] {
        socket.code(50002).await;
    }
    let mut ids = Vec::new();
    for (n, text) in ["one", "two", "three"].into_iter().enumerate() {
        let client_id = format!("p-{n}");
        a.send(json!({"type": 1, "content": text, "client_id": client_id}))
            .await;
        let ack = a.until("an ack", |f| f["client_id"] == client_id).await;
        assert_eq!(ack["code"], 50004, "{ack}");
        ids.push(ack["id"].clone());
        b.code(50001).await;
    }
    inbox
        .send(json!({"type": 1, "content": "from the inbox", "to": bob.id}))
        .await;
    inbox.code(50004).await;
    b.code(50001).await;

    a.send(json!({"type": 2})).await;
    a.code(50003).await;
    a.send(json!({"type": 2, "before": 9_007_199_254_740_991_i64}))
        .await;
    a.code(50003).await;
    // Four unread, two a page: more, then the end.
    b.send(json!({"type": 3})).await;
    b.until("more unread", |f| f["more"] == true).await;
    b.send(json!({"type": 3})).await;
    b.code(50003).await;
    a.code(50014).await;

    a.send(json!({"type": 10, "id": ids[0], "content": "one, edited", "client_id": "e-1"}))
        .await;
    changed(&mut a, &ids[0]).await;
    b.code(50010).await;
    b.send(json!({"type": 13, "id": ids[0], "content": "👍", "on": true}))
        .await;
    changed(&mut b, &ids[0]).await;
    a.code(50013).await;
    b.send(json!({"type": 14, "id": ids[2], "content": "delivered"}))
        .await;
    changed(&mut b, &ids[2]).await;
    a.code(50016).await;
    b.send(json!({"type": 14, "id": ids[2]})).await;
    changed(&mut b, &ids[2]).await;
    a.send(json!({"type": 15})).await;
    b.code(50017).await;
    let token = fresh_token(app, alice).await;
    a.send(json!({"type": 9, "content": token})).await;
    a.until("a renewal", |f| f["content"] == "token renewed")
        .await;
    // Refusals: someone else's message, and a frame that is no client frame at all.
    b.send(json!({"type": 10, "id": ids[0], "content": "not mine"}))
        .await;
    b.code(30030).await;
    let unknown = json!({"type": 99});
    assert!(!frames.is_client_frame(&unknown));
    a.send_raw(unknown.to_string()).await;
    a.code(400).await;

    a.send(json!({"type": 12, "id": ids[1]})).await;
    changed(&mut a, &ids[1]).await;
    inbox.code(50012).await;
    a.send(json!({"type": 11, "id": ids[2]})).await;
    changed(&mut a, &ids[2]).await;
    b.code(50011).await;
    for socket in [&mut a, &mut b, &mut inbox] {
        socket.drain().await;
    }
}

async fn group(app: &TestApp, frames: &Arc<Frames>, cast: [&TestUser; 3], group: i64) {
    let [alice, bob, carol] = cast;
    let path = format!("/chat/group_ws?group_id={group}");
    let mut a = Socket::open(app, "alice@group", &path, &alice.access, frames).await;
    let mut b = Socket::open(app, "bob@group", &path, &bob.access, frames).await;
    let mut inbox = Socket::open(app, "carol's inbox", "/chat/ws", &carol.access, frames).await;
    inbox.code(50002).await;

    a.send(json!({"content": "hi all", "client_id": "g-1"}))
        .await;
    let first = a.code(50002).await["id"].clone();
    b.until("alice's message", |f| f["id"] == first).await;
    b.send(json!({"type": 1, "content": "@carol look", "mentions": [carol.id]}))
        .await;
    let second = b.code(50002).await["id"].clone();
    a.until("bob's message", |f| f["id"] == second).await;
    inbox.code(50015).await;

    a.send(json!({"type": 2})).await;
    a.code(50003).await;
    b.send(json!({"type": 10, "id": second, "content": "@carol look here"}))
        .await;
    changed(&mut b, &second).await;
    a.code(50010).await;
    a.send(json!({"type": 13, "id": second, "content": "🎉"}))
        .await;
    changed(&mut a, &second).await;
    b.code(50013).await;
    b.send(json!({"type": 14, "id": first})).await;
    changed(&mut b, &first).await;
    a.code(50014).await;
    a.send(json!({"type": 15})).await;
    b.code(50017).await;
    let token = fresh_token(app, bob).await;
    b.send(json!({"type": 9, "content": token})).await;
    b.until("a renewal", |f| f["content"] == "token renewed")
        .await;
    // The owner recalls bob's message.
    a.send(json!({"type": 11, "id": second})).await;
    changed(&mut a, &second).await;
    b.code(50011).await;
    for socket in [&mut a, &mut b, &mut inbox] {
        socket.drain().await;
    }
}

/// The whole WebSocket walk and its verdict.
pub(super) async fn walk(app: &TestApp) {
    let frames = Frames::load();
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let g = app
        .create_group(&alice, json!({"group_name": "frames"}))
        .await;
    for member in [&bob, &carol] {
        app.join_group(member, g).await.expect(200, 200);
    }
    private(app, &frames, &alice, &bob).await;
    group(app, &frames, [&alice, &bob, &carol], g).await;

    let seen = frames.report();
    let (shapes, failures) = (&seen.shapes, &seen.failures);
    println!(
        "frames: {} sent, {} received; shapes received: {shapes:?}",
        seen.sent, seen.received
    );
    for note in &seen.notes {
        println!("field not in the frame's shape: {note}");
    }
    let never: Vec<String> = frames
        .shape_names()
        .into_iter()
        .filter(|name| !shapes.contains_key(name))
        .collect();
    println!("server frame shapes never received: {never:?}");
    assert!(
        failures.is_empty(),
        "{} frames do not fit the schema:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(never.is_empty(), "shapes never received: {never:?}");
}
