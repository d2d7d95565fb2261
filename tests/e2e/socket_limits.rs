//! What one user or one address may hold and send over WebSockets, tokens that expire on
//! an open socket, and unread answered a page at a time — through real sockets.

use std::time::Duration;

use confab_e2e::ws::{Ended, Ws};
use confab_e2e::{spawn_with, TestApp, TestUser};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-of-the-socket-limit-tests";

async fn inbox(app: &TestApp, user: &TestUser) -> Ws {
    let mut ws = app
        .ws("/chat/ws", Some(&user.access))
        .await
        .expect("inbox socket");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

/// A user at the cap gets a socket that closes at once with 1008; closing one frees a place.
#[tokio::test]
async fn sockets_per_user_are_capped() {
    let app = spawn_with(|c| {
        c.chat.max_sockets_per_user = 2;
        c.admin.token = ADMIN.to_owned();
    })
    .await;
    let ann = app.user("cap").await;
    let first = inbox(&app, &ann).await;
    let _second = inbox(&app, &ann).await;
    let mut third = app
        .ws("/chat/ws", Some(&ann.access))
        .await
        .expect("the upgrade itself succeeds");
    assert_eq!(third.ended().await, Ended::Closed(1008));
    // Operators see the refusal counted by close code.
    let metrics = app
        .send(
            app.request(reqwest::Method::GET, "/metrics", None)
                .bearer_auth(ADMIN),
        )
        .await;
    assert_eq!(metrics.http, 200);
    let text = String::from_utf8_lossy(&metrics.bytes);
    assert!(
        text.contains("confab_websocket_closes_total{code=\"1008\"} 1"),
        "{text}"
    );
    // Someone else is not affected.
    let ben = app.user("other").await;
    let _ben = inbox(&app, &ben).await;
    first.close().await;
    let mut again = None;
    for _ in 0..50 {
        let mut ws = app.ws("/chat/ws", Some(&ann.access)).await.expect("socket");
        match ws.next().await {
            Ok(frame) => {
                assert_eq!(frame["code"], 50002);
                again = Some(ws);
                break;
            }
            // The server may not have seen the first close yet.
            Err(Ended::Closed(1008)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("unexpected end: {other:?}"),
        }
    }
    assert!(again.is_some(), "a closed socket frees its place");
}

/// One client address may hold only so many sockets, whichever accounts they use.
#[tokio::test]
async fn sockets_per_address_are_capped() {
    let app = spawn_with(|c| c.chat.max_sockets_per_address = 3).await;
    let ann = app.user("addr").await;
    let ben = app.user("addr").await;
    let _a1 = inbox(&app, &ann).await;
    let _a2 = inbox(&app, &ann).await;
    let _b1 = inbox(&app, &ben).await;
    let mut b2 = app
        .ws("/chat/ws", Some(&ben.access))
        .await
        .expect("upgrade");
    assert_eq!(b2.ended().await, Ended::Closed(1008));
}

/// The send rate holds per user across all their sockets, not only per socket.
#[tokio::test]
async fn the_send_rate_is_per_user_across_sockets() {
    let app = spawn_with(|c| {
        c.chat.user_messages_per_second = 1;
        c.chat.user_message_burst = 3;
        c.chat.messages_per_second = 100;
        c.chat.message_burst = 100;
    })
    .await;
    let ann = app.user("rate").await;
    let ben = app.user("rate").await;
    let mut one = inbox(&app, &ann).await;
    let mut two = inbox(&app, &ann).await;
    let mut codes = Vec::new();
    for i in 0..4 {
        let ws = if i % 2 == 0 { &mut one } else { &mut two };
        ws.send(json!({"type": 1, "to": ben.id, "content": format!("m{i}"), "client_id": format!("c{i}")}))
            .await;
        let answer = loop {
            let frame = ws.recv().await;
            if frame["client_id"] == format!("c{i}") {
                break frame;
            }
        };
        codes.push(answer["code"].as_i64().expect("code"));
    }
    assert_eq!(&codes[..3], [50005, 50005, 50005], "the burst is stored");
    assert_eq!(codes[3], 30019, "the fourth, on another socket, is refused");
    // Another user still sends.
    let mut ben_ws = inbox(&app, &ben).await;
    ben_ws
        .send(json!({"type": 1, "to": ann.id, "content": "hi", "client_id": "b"}))
        .await;
    let (ack, _) = ben_ws.until_code(50004).await;
    assert_eq!(ack["client_id"], "b");
}

async fn fresh_token(app: &TestApp, user: &TestUser) -> String {
    let login = app.login(&user.name, &user.password).await;
    login.expect(200, 200);
    login.data()["aToken"].as_str().expect("aToken").to_owned()
}

/// A socket closes with 4001 when its token expires, unless it was renewed (type 9) with a
/// fresh token of the same user; bad renewals are refused and change nothing.
#[tokio::test]
async fn an_expired_token_closes_the_socket_unless_renewed() {
    let app = spawn_with(|c| c.auth.access_ttl_secs = 6).await;
    let ann = app.user("ttl").await;
    let ben = app.user("ttl").await;

    // Two tokens of Ann's, the second issued two seconds after the first, so it expires
    // two seconds later.
    let first = fresh_token(&app, &ann).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = fresh_token(&app, &ann).await;

    // Not renewed: closed with 4001 once its token has expired.
    let mut plain = app.ws("/chat/ws", Some(&first)).await.expect("socket");
    assert_eq!(plain.recv().await["code"], 50002, "welcome");
    let mut kept = app.ws("/chat/ws", Some(&first)).await.expect("socket");
    assert_eq!(kept.recv().await["code"], 50002, "welcome");

    // Bad renewals change nothing.
    kept.send(json!({"type": 9, "content": "not-a-token"}))
        .await;
    assert_eq!(
        kept.recv().await["code"],
        30002,
        "a forged token is refused"
    );
    let bens = fresh_token(&app, &ben).await;
    kept.send(json!({"type": 9, "content": bens})).await;
    let refused = kept.recv().await;
    assert_eq!(refused["code"], 30002, "another user's token is refused");
    assert!(refused["content"]
        .as_str()
        .unwrap_or_default()
        .contains("another user"));
    kept.send(json!({"type": 9})).await;
    assert_eq!(kept.recv().await["code"], 400, "a renewal needs a token");

    // A good one moves the socket's end to the new token's expiry.
    kept.send(json!({"type": 9, "content": second})).await;
    let renewed = kept.recv().await;
    assert_eq!(renewed["code"], 50002);
    let expires = renewed["expires"].as_i64().expect("expires");
    assert!(expires > chrono_now(), "the new expiry lies ahead");

    assert_eq!(plain.ended().await, Ended::Closed(4001));
    // The first token has expired (the plain socket says so) and the renewed socket
    // still works: about a second before its new end, it sends and is answered.
    let left = expires - chrono_now();
    if left > 1 {
        tokio::time::sleep(Duration::from_secs((left - 1) as u64)).await;
    }
    kept.send(json!({"type": 1, "to": ben.id, "content": "still here", "client_id": "k"}))
        .await;
    let ack = kept.recv().await;
    assert_eq!(ack["client_id"], "k");
    assert_eq!(ack["code"], 50005);
    // And it closes once the renewed token expires.
    assert_eq!(kept.ended().await, Ended::Closed(4001));
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Reads an unread answer: the messages, and the frame that ends it.
async fn unread_page(ws: &mut Ws, peer: i64) -> (Vec<String>, Value) {
    ws.send(json!({"type": 3, "to": peer})).await;
    let mut texts = Vec::new();
    loop {
        let frame = ws.recv().await;
        match frame["code"].as_i64() {
            Some(50003) | Some(50002) => return (texts, frame),
            _ => texts.push(frame["content"].as_str().expect("text").to_owned()),
        }
    }
}

/// Unread comes a page at a time; each page is marked read, and the last says so.
#[tokio::test]
async fn unread_is_answered_a_page_at_a_time() {
    let app = spawn_with(|c| c.chat.unread_page = 3).await;
    let ann = app.user("page").await;
    let ben = app.user("page").await;
    let mut sender = app
        .ws(&format!("/chat/ws?toUid={}", ann.id), Some(&ben.access))
        .await
        .expect("socket");
    sender.recv().await;
    for i in 0..7 {
        sender
            .send(json!({"type": 1, "content": format!("u{i}"), "client_id": format!("u{i}")}))
            .await;
        assert_eq!(sender.recv().await["code"], 50005);
    }
    let mut reader = inbox(&app, &ann).await;
    let (first, end) = unread_page(&mut reader, ben.id).await;
    assert_eq!(first, ["u0", "u1", "u2"]);
    assert_eq!(end["code"], 50002);
    assert_eq!(end["more"], true);
    let (second, end) = unread_page(&mut reader, ben.id).await;
    assert_eq!(second, ["u3", "u4", "u5"]);
    assert_eq!(end["more"], true);
    let (third, end) = unread_page(&mut reader, ben.id).await;
    assert_eq!(third, ["u6"]);
    assert_eq!(end["code"], 50003, "the last page ends with 50003");
    let (none, end) = unread_page(&mut reader, ben.id).await;
    assert!(none.is_empty());
    assert_eq!(end["code"], 50003);
}
