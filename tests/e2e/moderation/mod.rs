//! Moderation through the operator API: finding users, banning and unbanning them (their
//! sockets close with 1008, logins and tokens are refused with 30050), deleting them,
//! dissolving groups, removing messages, the audit log of every operator action, and the
//! refusals of bad input.

use confab_e2e::ws::{Ended, Ws};
use confab_e2e::{spawn_with, Reply, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

mod content;
mod refusals;

const TOKEN: &str = "admin-token-for-the-moderation-tests-91c3";

pub(super) async fn admin_app() -> TestApp {
    spawn_with(|c| c.admin.token = TOKEN.to_owned()).await
}

pub(super) fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// An operator request as `operator` (sent as `X-Operator`), with an optional JSON body.
pub(super) async fn operator(
    app: &TestApp,
    method: Method,
    path: &str,
    name: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = app.request(method, path, Some(&bearer()));
    if let Some(name) = name {
        request = request.header("X-Operator", name);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

pub(super) async fn admin(app: &TestApp, method: Method, path: &str) -> Reply {
    operator(app, method, path, None, None).await
}

/// The audit log, newest first: each entry's action and target.
pub(super) async fn audit_trail(app: &TestApp) -> Vec<(String, String)> {
    let reply = admin(app, Method::GET, "/admin/audit").await;
    reply.expect(200, 200);
    reply
        .data()
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                e["target"].as_str().expect("target").to_owned(),
            )
        })
        .collect()
}

pub(super) fn pair(action: &str, target: String) -> (String, String) {
    (action.to_owned(), target)
}

/// A private socket of `user` bound to `peer`, past its welcome.
pub(super) async fn private_socket(app: &TestApp, user: &TestUser, peer: &TestUser) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", peer.id), Some(&user.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

pub(super) async fn group_socket(app: &TestApp, user: &TestUser, group: i64) -> Ws {
    app.ws(
        &format!("/chat/group_ws?group_id={group}"),
        Some(&user.access),
    )
    .await
    .expect("group upgrade")
}

/// Sends `text` and returns the stored message's id from the acknowledgement.
pub(super) async fn post(ws: &mut Ws, text: &str) -> i64 {
    ws.send(json!({"type": 1, "content": text})).await;
    loop {
        let frame = ws.recv().await;
        if matches!(frame["code"].as_i64(), Some(50002 | 50004 | 50005)) {
            if let Some(id) = frame["id"].as_i64() {
                return id;
            }
        }
    }
}

#[tokio::test]
async fn a_ban_closes_sockets_and_refuses_logins_and_tokens_until_it_is_lifted() {
    let app = admin_app().await;
    let mallory = app.user("mallory").await;
    let alice = app.user("alice").await;
    let eve = app.user("eve").await;
    let mut socket = private_socket(&app, &mallory, &alice).await;
    let mut eves = private_socket(&app, &eve, &alice).await;

    // Found by a name prefix (any case), by id, not by an unknown email; a page at a time.
    let found = admin(
        &app,
        Method::GET,
        &format!("/admin/users?q={}", &mallory.name[..6].to_uppercase()),
    )
    .await;
    found.expect(200, 200);
    let hit = &found.data()[0];
    assert_eq!(
        (&hit["id"], &hit["name"]),
        (&json!(mallory.id), &json!(mallory.name))
    );
    assert_eq!(
        (&hit["status"], &hit["banned"], &hit["has_email"]),
        (&json!("active"), &json!(false), &json!(false))
    );
    assert!(hit.get("email").is_none(), "no email is shown: {hit}");
    let by_id = admin(&app, Method::GET, &format!("/admin/users?q={}", alice.id)).await;
    assert!(by_id
        .data()
        .as_array()
        .expect("list")
        .iter()
        .any(|u| u["id"] == alice.id));
    let by_email = admin(&app, Method::GET, "/admin/users?q=nobody@example.com").await;
    assert_eq!(by_email.data(), &json!([]));
    let first = admin(&app, Method::GET, "/admin/users?limit=1").await;
    let cursor = first.headers["x-next-after"]
        .to_str()
        .expect("a cursor")
        .to_owned();
    let next = admin(
        &app,
        Method::GET,
        &format!("/admin/users?limit=1&after={cursor}"),
    )
    .await;
    assert_ne!(next.data()[0]["id"], first.data()[0]["id"]);

    // The ban: the socket closes with 1008, login and every token are refused with 30050.
    let banned = operator(
        &app,
        Method::POST,
        &format!("/admin/users/{}/ban", mallory.id),
        Some("ops-ann"),
        Some(json!({"reason": "spam"})),
    )
    .await;
    banned.expect(200, 200);
    assert_eq!(
        (&banned.data()["status"], &banned.data()["banned"]),
        (&json!("banned"), &json!(true))
    );
    assert_eq!(socket.ended().await, Ended::Closed(1008));
    app.login(&mallory.name, &mallory.password)
        .await
        .expect(403, 30050);
    // A wrong password learns nothing of the ban.
    app.login(&mallory.name, "not the password")
        .await
        .expect(200, 500);
    app.get("/user/me", Some(&mallory.access), &[])
        .await
        .expect(403, 30050);
    app.json(
        Method::POST,
        "/user/refresh",
        None,
        json!({"rToken": mallory.refresh}),
    )
    .await
    .expect(403, 30050);
    let refused = app
        .ws(
            &format!("/chat/ws?toUid={}", alice.id),
            Some(&mallory.access),
        )
        .await
        .err()
        .expect("no socket for a banned user");
    assert_eq!((refused.0, &refused.1["status"]), (403, &json!(30050)));
    app.get("/user/me", Some(&alice.access), &[])
        .await
        .expect(200, 200);
    let shown = admin(&app, Method::GET, &format!("/admin/users/{}", mallory.id)).await;
    assert_eq!(shown.data()["status"], "banned");
    // Banning again changes nothing more.
    admin(
        &app,
        Method::POST,
        &format!("/admin/users/{}/ban", mallory.id),
    )
    .await
    .expect(200, 200);

    // Lifted: logins work again; the tokens the ban revoked stay revoked.
    let lifted = admin(
        &app,
        Method::POST,
        &format!("/admin/users/{}/unban", mallory.id),
    )
    .await;
    lifted.expect(200, 200);
    assert_eq!(lifted.data()["status"], "active");
    app.login(&mallory.name, &mallory.password)
        .await
        .expect(200, 200);
    app.get("/user/me", Some(&mallory.access), &[])
        .await
        .expect(401, 30002);

    // A deleted user is gone, with their sockets and tokens.
    let deleted = admin(&app, Method::DELETE, &format!("/admin/users/{}", eve.id)).await;
    deleted.expect(200, 200);
    assert_eq!(deleted.data()["name"], json!(eve.name));
    assert_eq!(eves.ended().await, Ended::Closed(1008));
    app.get("/user/me", Some(&eve.access), &[])
        .await
        .expect(401, 30002);
    app.get("/user/find", Some(&alice.access), &[("info", &eve.name)])
        .await
        .expect(200, 30011);
    admin(&app, Method::GET, &format!("/admin/users/{}", eve.id))
        .await
        .expect(404, 30021);

    // Every action is in the audit log, newest first, with who asked and from where.
    let user = |u: &TestUser| format!("user:{}", u.id);
    assert_eq!(
        audit_trail(&app).await,
        [
            pair("user.delete", user(&eve)),
            pair("user.unban", user(&mallory)),
            pair("user.ban", user(&mallory)),
            pair("user.ban", user(&mallory)),
        ]
    );
    let page = admin(&app, Method::GET, "/admin/audit?limit=3").await;
    let before = page.headers["x-next-before"]
        .to_str()
        .expect("a cursor")
        .to_owned();
    let oldest = admin(&app, Method::GET, &format!("/admin/audit?before={before}")).await;
    oldest.expect(200, 200);
    let entry = &oldest.data()[0];
    assert_eq!(oldest.data().as_array().expect("list").len(), 1);
    assert_eq!(
        (&entry["actor"], &entry["address"]),
        (&json!("ops-ann"), &json!("127.0.0.1"))
    );
    assert_eq!(
        entry["details"],
        json!({"name": mallory.name, "reason": "spam"})
    );
    assert!(entry["at"].as_i64().expect("a time") > 0);
    assert!(
        oldest.headers.get("x-next-before").is_none(),
        "the log ends here"
    );
}
