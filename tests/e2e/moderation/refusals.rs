//! Operator requests that are refused: no token, a user's token, unknown and malformed ids,
//! bad paging and parameters; none of them is recorded. And the moderation store on MySQL.

use reqwest::Method;
use serde_json::json;

use super::{admin, admin_app, audit_trail, operator};

#[tokio::test]
async fn bad_operator_requests_are_refused_and_change_nothing() {
    let app = admin_app().await;
    let user = app.user("plain").await;
    let routes = [
        (Method::GET, "/admin/users".to_owned()),
        (Method::GET, format!("/admin/users/{}", user.id)),
        (Method::POST, format!("/admin/users/{}/ban", user.id)),
        (Method::POST, format!("/admin/users/{}/unban", user.id)),
        (Method::DELETE, format!("/admin/users/{}", user.id)),
        (Method::DELETE, "/admin/groups/1".to_owned()),
        (Method::DELETE, "/admin/messages/1".to_owned()),
        (Method::GET, "/admin/audit".to_owned()),
    ];
    for (method, path) in &routes {
        app.send(app.request(method.clone(), path, None))
            .await
            .expect(401, 30001);
        app.send(app.request(method.clone(), path, Some(&user.access)))
            .await
            .expect(401, 30002);
    }

    let unknown = [
        (Method::GET, "/admin/users/99999999"),
        (Method::POST, "/admin/users/99999999/ban"),
        (Method::POST, "/admin/users/99999999/unban"),
        (Method::DELETE, "/admin/users/99999999"),
        (Method::DELETE, "/admin/groups/99999999"),
        (Method::DELETE, "/admin/messages/99999999"),
    ];
    for (method, path) in unknown {
        admin(&app, method, path).await.expect(404, 30021);
    }
    let malformed = [
        (Method::POST, "/admin/users/abc/ban"),
        (Method::DELETE, "/admin/users/0"),
        (Method::DELETE, "/admin/groups/-4"),
        (Method::DELETE, "/admin/messages/1.5"),
        (Method::GET, "/admin/users?limit=0"),
        (Method::GET, "/admin/users?limit=1001"),
        (Method::GET, "/admin/users?after=-1"),
        (Method::GET, "/admin/users?after=x"),
        (Method::GET, "/admin/users?q=not-an-address@"),
        (Method::GET, "/admin/audit?limit=501"),
        (Method::GET, "/admin/audit?before=0"),
        (Method::GET, "/admin/audit?before=x"),
    ];
    for (method, path) in malformed {
        let reply = admin(&app, method, path).await;
        reply.expect(400, 400);
        assert!(!reply.error().is_empty(), "{path}");
    }
    let ban = format!("/admin/users/{}/ban", user.id);
    let long_reason = json!({"reason": "x".repeat(501)});
    operator(&app, Method::POST, &ban, None, Some(long_reason))
        .await
        .expect(400, 400);
    let long_name = "n".repeat(65);
    operator(&app, Method::POST, &ban, Some(&long_name), None)
        .await
        .expect(400, 400);

    // Nothing above changed anything, so nothing was recorded; the user is untouched.
    assert_eq!(audit_trail(&app).await, []);
    app.get("/user/me", Some(&user.access), &[])
        .await
        .expect(200, 200);

    // The older operator actions are recorded too: invite keys by count, never the keys.
    let invites = operator(
        &app,
        Method::POST,
        "/admin/invites",
        Some("ops-bo"),
        Some(json!({"count": 2})),
    )
    .await;
    invites.expect(200, 200);
    let log = admin(&app, Method::GET, "/admin/audit").await;
    let entry = &log.data()[0];
    assert_eq!(
        (&entry["action"], &entry["target"], &entry["actor"]),
        (&json!("invites.issue"), &json!("invites"), &json!("ops-bo"))
    );
    assert_eq!(entry["details"], json!({"count": 2}));
    let keys = invites.data().as_array().expect("keys");
    assert!(!log
        .body
        .to_string()
        .contains(keys[0].as_str().expect("a key")));
}

#[tokio::test]
async fn the_moderation_store_on_mysql() {
    let Some(url) = crate::storage::fresh_mysql().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = confab::config::DatabaseConfig {
        url,
        max_connections: 4,
        ..confab::config::DatabaseConfig::default()
    };
    let sql = confab::store::SqlStore::connect(&config, dir.path())
        .await
        .expect("connect");
    sql.migrate().await.expect("migrate");
    let stores = confab::store::Stores::from_sql(sql.clone());
    confab::store::moderation_conformance::run(&stores).await;
    sql.pool().close().await;
    crate::storage::drop_mysql(&config.url).await;
}
