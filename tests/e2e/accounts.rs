//! Register, login, me, find and delete, with the seed's envelope and codes.

use confab_e2e::{spawn_app, spawn_with, suffix};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn register_accepts_get_post_and_both_spellings() {
    let app = spawn_app().await;
    let a = format!("get_{}", suffix());
    app.get(
        "/user/register",
        None,
        &[("username", &a), ("password", "password123")],
    )
    .await
    .expect(200, 200);
    let b = format!("form_{}", suffix());
    app.form(
        Method::POST,
        "/user/register",
        None,
        &[("user_name", &b), ("password", "password123")],
    )
    .await
    .expect(200, 200);
    let c = format!("multi_{}", suffix());
    let form = reqwest::multipart::Form::new()
        .text("username", c.clone())
        .text("password", "password123");
    app.send(
        app.request(Method::POST, "/user/register", None)
            .multipart(form),
    )
    .await
    .expect(200, 200);
    for name in [&a, &b, &c] {
        let login = app.login(name, "password123").await;
        login.expect(200, 200);
        assert!(login.data()["aToken"]
            .as_str()
            .is_some_and(|t| t.len() > 20));
        assert!(login.data()["rToken"]
            .as_str()
            .is_some_and(|t| t.len() > 20));
    }
    // Login by POST JSON, and with the other spelling.
    app.json(
        Method::POST,
        "/user/login",
        None,
        json!({ "user_name": a, "password": "password123" }),
    )
    .await
    .expect(200, 200);
}

#[tokio::test]
async fn register_rules_and_duplicates() {
    let app = spawn_app().await;
    let name = format!("dup_{}", suffix());
    app.register(&name, "password123").await.expect(200, 200);
    let dup = app.register(&name.to_uppercase(), "password123").await;
    dup.expect(200, 500);
    assert_eq!(dup.data(), "用户名已存在");
    assert!(dup.error().contains("already taken"));

    let cases = [
        ("ab", "password123", "3 to 32"),
        ("1234567", "password123", "only digits"),
        ("has space", "password123", "only letters"),
        ("fine_name", "short", "at least 8"),
        ("fine_name", &"x".repeat(80), "at most 72"),
    ];
    for (user, pass, reason) in cases {
        let reply = app.register(user, pass).await;
        reply.expect(400, 400);
        assert!(reply.error().contains(reason), "{user}: {}", reply.body);
    }
    let missing = app
        .json(
            Method::POST,
            "/user/register",
            None,
            json!({ "username": "someone" }),
        )
        .await;
    missing.expect(400, 400);
    assert_eq!(missing.error(), "password is required");
}

#[tokio::test]
async fn bad_login_is_the_seeds_fail() {
    let app = spawn_app().await;
    let user = app.user("login").await;
    for (name, pass) in [
        (user.name.as_str(), "wrong password"),
        ("nobody_here", "whatever1"),
    ] {
        let reply = app.login(name, pass).await;
        reply.expect(200, 500);
        assert_eq!(reply.data(), "用户名或密码错误");
    }
    app.get("/user/login", None, &[("username", &user.name)])
        .await
        .expect(400, 400);
}

#[tokio::test]
async fn me_and_find_show_public_profiles_only() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let me = app.get("/user/me", Some(&alice.access), &[]).await;
    me.expect(200, 200);
    let data = me.data();
    for key in [
        "ID",
        "CreatedAt",
        "UpdatedAt",
        "DeletedAt",
        "UserName",
        "Email",
        "Avatar",
        "Phone",
        "Status",
    ] {
        assert!(data.get(key).is_some(), "{key} in {data}");
    }
    assert_eq!(data["UserName"], alice.name.as_str());
    assert_eq!(data["Status"], "active");
    assert!(data["DeletedAt"].is_null());
    assert!(data["CreatedAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(data.get("PasswordDigest").is_none());

    let by_id = app
        .get(
            "/user/find",
            Some(&alice.access),
            &[("info", &bob.id.to_string())],
        )
        .await;
    by_id.expect(200, 200);
    assert_eq!(by_id.data()["UserName"], bob.name.as_str());
    assert!(!by_id.bytes.windows(4).any(|w| w == b"$2b$"), "no digest");
    let by_name = app
        .get("/user/find", Some(&alice.access), &[("info", &bob.name)])
        .await;
    by_name.expect(200, 200);
    assert_eq!(by_name.data()["ID"], bob.id);

    let missing = app
        .get(
            "/user/find",
            Some(&alice.access),
            &[("info", "no_such_user")],
        )
        .await;
    missing.expect(200, 30011);
    assert!(missing.data().is_null());
    app.get("/user/find", Some(&alice.access), &[("info", "99999999")])
        .await
        .expect(200, 30011);
    app.get("/user/find", Some(&alice.access), &[])
        .await
        .expect(400, 400);
    app.get("/user/find", None, &[("info", &bob.name)])
        .await
        .expect(401, 30001);
}

#[tokio::test]
async fn delete_only_yourself_with_your_password() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Bob's own credentials, presented with Alice's token: not allowed.
    let other = app
        .form(
            Method::DELETE,
            "/user/delete",
            Some(&alice.access),
            &[("username", &bob.name), ("password", &bob.password)],
        )
        .await;
    other.expect(200, 30012);
    app.login(&bob.name, &bob.password).await.expect(200, 200);

    app.form(
        Method::DELETE,
        "/user/delete",
        Some(&alice.access),
        &[("username", &alice.name), ("password", "not the password")],
    )
    .await
    .expect(200, 500);

    app.get(
        "/user/delete",
        Some(&alice.access),
        &[("username", &alice.name), ("password", &alice.password)],
    )
    .await
    .expect(405, 30022);

    // Query parameters on DELETE, as some seed clients send them.
    let url = format!(
        "/user/delete?username={}&password={}",
        alice.name,
        alice.password.replace(' ', "%20")
    );
    app.send(app.request(Method::DELETE, &url, Some(&alice.access)))
        .await
        .expect(200, 200);

    // The account and its tokens are gone; the name is free again.
    app.get("/user/me", Some(&alice.access), &[])
        .await
        .expect(401, 30002);
    let refresh = app
        .form(
            Method::POST,
            "/user/refresh",
            None,
            &[("rToken", &alice.refresh)],
        )
        .await;
    refresh.expect(401, 30002);
    app.login(&alice.name, &alice.password)
        .await
        .expect(200, 500);
    app.get("/user/find", Some(&bob.access), &[("info", &alice.name)])
        .await
        .expect(200, 30011);
    app.register(&alice.name, "another password")
        .await
        .expect(200, 200);
}

#[tokio::test]
async fn invite_only_registration_uses_each_key_once() {
    let app =
        spawn_with(|c| c.registration.mode = confab::config::RegistrationMode::InviteOnly).await;
    let keys = app.stores.invites.clone();
    let users = confab::app::services(&app.config, confab::app::Purpose::Tool)
        .await
        .expect("services")
        .0
        .users;
    let issued = users.issue_invites(2).await.expect("invites");
    assert_eq!(issued.len(), 2);
    assert!(issued.iter().all(|k| k.chars().count() == 16));
    assert!(keys.invite_usable(&issued[0]).await.expect("usable"));

    let name = format!("inv_{}", suffix());
    let no_key = app.register(&name, "password123").await;
    no_key.expect(200, 30014);
    let short = app
        .json(
            Method::POST,
            "/user/register",
            None,
            json!({"username": name, "password": "password123", "key": "short"}),
        )
        .await;
    short.expect(200, 30014);
    app.json(
        Method::POST,
        "/user/register",
        None,
        json!({"username": name, "password": "password123", "key": "ABCDEFGHJKLMNPQR"}),
    )
    .await
    .expect(200, 30014);
    app.json(
        Method::POST,
        "/user/register",
        None,
        json!({"username": name, "password": "password123", "key": issued[0]}),
    )
    .await
    .expect(200, 200);
    let second = format!("inv2_{}", suffix());
    app.json(
        Method::POST,
        "/user/register",
        None,
        json!({"username": second, "password": "password123", "key": issued[0]}),
    )
    .await
    .expect(200, 30014);
    app.get(
        "/user/register",
        None,
        &[
            ("username", &second),
            ("password", "password123"),
            ("key", &issued[1]),
        ],
    )
    .await
    .expect(200, 200);
}
