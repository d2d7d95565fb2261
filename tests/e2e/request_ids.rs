//! Request ids: every answer carries one; a trusted proxy's is kept, anyone else's is
//! replaced; and a plugin verdict names the request it was made for (for a WebSocket
//! message, the request that opened the socket).

use confab_e2e::plugins::install_plugin;
use confab_e2e::{spawn_with, Reply, TestApp};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "admin-token-of-the-request-id-tests";

fn id_of(reply: &Reply) -> &str {
    reply
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer has an x-request-id")
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

async fn ping(app: &TestApp, id: Option<&str>) -> Reply {
    let request = app.request(Method::GET, "/user/ping", None);
    let request = match id {
        Some(id) => request.header("x-request-id", id),
        None => request,
    };
    app.send(request).await
}

/// The newest verdict of `outcome`, from the admin API.
async fn verdict(app: &TestApp, outcome: &str) -> Value {
    let list = app
        .send(app.request(
            Method::GET,
            "/admin/verdicts",
            Some(&format!("Bearer {ADMIN}")),
        ))
        .await;
    list.expect(200, 200);
    list.data()
        .as_array()
        .expect("a list")
        .iter()
        .find(|v| v["outcome"] == outcome)
        .cloned()
        .unwrap_or_else(|| panic!("no {outcome} verdict in {}", list.body))
}

#[tokio::test]
async fn ids_are_kept_from_trusted_proxies_only_and_reach_plugin_verdicts() {
    let app = spawn_with(|c| {
        c.admin.token = ADMIN.to_owned();
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR block")];
        c.plugins.enabled = true;
        c.plugins.install_bundled = false;
        c.plugins.watch = false;
        c.plugins.dir = c.server.data_dir.join("plugins");
        c.plugins.deadline_ms = 200;
    })
    .await;
    let dir = app.config.plugins.dir.clone();
    install_plugin(&dir, "deny-join", "deny-join");
    install_plugin(&dir, "stamp-v1", "stamp");
    app.state.plugins.rescan().await;

    // The test client is a trusted proxy here: a plain id is kept, a malformed one not.
    let fresh = ping(&app, None).await;
    assert!(is_uuid(id_of(&fresh)), "{}", id_of(&fresh));
    assert_eq!(id_of(&ping(&app, Some("edge-7f3a.1")).await), "edge-7f3a.1");
    let forged = ping(&app, Some("two words")).await;
    assert!(is_uuid(id_of(&forged)), "{}", id_of(&forged));
    assert_ne!(
        id_of(&ping(&app, None).await),
        id_of(&fresh),
        "one per request"
    );

    // A join a plugin denies, through HTTP: the verdict names that request.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let closed = app
        .create_group(&alice, json!({"group_name": "closed-club"}))
        .await;
    let join = app
        .send(
            app.request(Method::POST, "/group/join", Some(&bob.access))
                .header("x-request-id", "join-via-proxy-1")
                .json(&json!({ "group_id": closed })),
        )
        .await;
    join.expect(200, 30013);
    assert_eq!(id_of(&join), "join-via-proxy-1");
    assert_eq!(
        verdict(&app, "denied").await["request_id"],
        "join-via-proxy-1"
    );

    // A message a plugin rewrites, through a socket: the verdict names the upgrade.
    let url = format!(
        "{}/chat/ws?toUid={}&token={}",
        app.base.replacen("http", "ws", 1),
        bob.id,
        alice.access
    );
    let mut request = url.into_client_request().expect("ws url");
    request.headers_mut().insert(
        "x-request-id",
        "socket-via-proxy-2".parse().expect("header"),
    );
    let (mut socket, upgraded) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(
        upgraded.headers()["x-request-id"].to_str().expect("text"),
        "socket-via-proxy-2"
    );
    socket
        .send(Message::text(
            json!({"type": 1, "content": "hi"}).to_string(),
        ))
        .await
        .expect("send");
    let mut acked = false;
    while !acked {
        let frame = tokio::time::timeout(confab_e2e::ws::FRAME_TIMEOUT, socket.next())
            .await
            .expect("an answer in time")
            .expect("a frame")
            .expect("readable");
        let frame: Value = serde_json::from_str(frame.to_text().expect("text")).expect("JSON");
        // The ack: 50004 when the recipient is online, 50005 when not (Bob is not).
        acked = frame["code"] == 50004 || frame["code"] == 50005;
    }
    let rewritten = verdict(&app, "rewritten").await;
    assert_eq!(rewritten["request_id"], "socket-via-proxy-2", "{rewritten}");
}
