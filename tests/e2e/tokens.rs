//! Access and refresh tokens: header forms, rotation, revocation, forgery and expiry.

use confab_e2e::spawn_app;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

fn sign(secret: &str, claims: serde_json::Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test]
async fn raw_and_bearer_headers_both_work() {
    let app = spawn_app().await;
    let user = app.user("hdr").await;
    app.get("/user/me", Some(&user.access), &[])
        .await
        .expect(200, 200);
    app.get("/user/me", Some(&format!("Bearer {}", user.access)), &[])
        .await
        .expect(200, 200);
    app.get("/user/me", Some(&format!("bearer  {}", user.access)), &[])
        .await
        .expect(200, 200);
    let missing = app.get("/user/me", None, &[]).await;
    missing.expect(401, 30001);
    assert!(missing.headers.contains_key("www-authenticate"));
    app.get("/user/me", Some("Bearer "), &[])
        .await
        .expect(401, 30001);
    app.get("/user/me", Some("garbage"), &[])
        .await
        .expect(401, 30002);
}

#[tokio::test]
async fn refresh_rotates_and_refuses_the_old_token() {
    let app = spawn_app().await;
    let user = app.user("rot").await;
    let first = app
        .form(
            Method::POST,
            "/user/refresh",
            None,
            &[("rToken", &user.refresh)],
        )
        .await;
    first.expect(200, 200);
    let new_access = first.data()["aToken"].as_str().expect("aToken").to_owned();
    let new_refresh = first.data()["rToken"].as_str().expect("rToken").to_owned();
    assert_ne!(new_refresh, user.refresh);
    app.get("/user/me", Some(&new_access), &[])
        .await
        .expect(200, 200);

    let reused = app
        .json(
            Method::POST,
            "/user/refresh",
            None,
            json!({ "rToken": user.refresh }),
        )
        .await;
    reused.expect(401, 30002);
    assert!(reused.error().contains("already used"), "{}", reused.body);

    // The new one works once, also from the Authorization header.
    app.send(app.request(
        Method::POST,
        "/user/refresh",
        Some(&format!("Bearer {new_refresh}")),
    ))
    .await
    .expect(200, 200);
    app.send(app.request(Method::POST, "/user/refresh", None))
        .await
        .expect(400, 400);
}

#[tokio::test]
async fn token_kinds_never_mix() {
    let app = spawn_app().await;
    let user = app.user("kind").await;
    let reply = app.get("/user/me", Some(&user.refresh), &[]).await;
    reply.expect(401, 30002);
    assert!(
        reply.error().contains("refresh token cannot be used"),
        "{}",
        reply.body
    );
    app.form(
        Method::POST,
        "/user/refresh",
        None,
        &[("rToken", &user.access)],
    )
    .await
    .expect(401, 30002);
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let user = app.user("forge").await;
    let secret = app.config.auth.jwt_secret.clone();
    let uid = user.id.to_string();

    // A well-formed token signed with the server's secret works: the harness is right.
    let good = sign(
        &secret,
        json!({"user_id": uid, "typ": "access", "ver": 0, "iss": "confab", "iat": now(), "exp": now() + 60}),
    );
    app.get("/user/me", Some(&good), &[]).await.expect(200, 200);

    let cases = [
        (
            "expired",
            sign(
                &secret,
                json!({"user_id": uid, "typ": "access", "ver": 0, "iss": "confab", "iat": now() - 7200, "exp": now() - 3600}),
            ),
        ),
        (
            "other secret",
            sign(
                "not-the-server-secret-at-all-000",
                json!({"user_id": uid, "typ": "access", "ver": 0, "iss": "confab", "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "seed issuer",
            sign(
                &secret,
                json!({"user_id": uid, "typ": "access", "ver": 0, "iss": "IM", "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "no user",
            sign(
                &secret,
                json!({"user_id": "", "typ": "access", "ver": 0, "iss": "confab", "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "unknown user",
            sign(
                &secret,
                json!({"user_id": "987654", "typ": "access", "ver": 0, "iss": "confab", "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "old version",
            sign(
                &secret,
                json!({"user_id": uid, "typ": "access", "ver": -1, "iss": "confab", "iat": now(), "exp": now() + 60}),
            ),
        ),
        (
            "no exp",
            sign(
                &secret,
                json!({"user_id": uid, "typ": "access", "ver": 0, "iss": "confab", "iat": now()}),
            ),
        ),
    ];
    for (what, token) in cases {
        let reply = app.get("/user/me", Some(&token), &[]).await;
        assert_eq!(
            (reply.http, reply.code()),
            (401, 30002),
            "{what}: {}",
            reply.body
        );
    }
    let expired = app
        .get("/user/me", Some(&sign(&secret, json!({"user_id": uid, "typ": "access", "ver": 0, "iss": "confab", "iat": 1, "exp": 2}))), &[])
        .await;
    assert!(expired.error().contains("expired"), "{}", expired.body);

    // Tampering with the payload breaks the signature.
    let mut parts: Vec<String> = user.access.split('.').map(str::to_owned).collect();
    parts[1].insert(3, 'A');
    app.get("/user/me", Some(&parts.join(".")), &[])
        .await
        .expect(401, 30002);
}

#[tokio::test]
async fn logout_revokes_every_token() {
    let app = spawn_app().await;
    let user = app.user("out").await;
    let second = app.login(&user.name, &user.password).await;
    let other_access = second.data()["aToken"].as_str().expect("aToken").to_owned();
    app.send(app.request(Method::POST, "/user/logout", Some(&user.access)))
        .await
        .expect(200, 200);
    app.get("/user/me", Some(&user.access), &[])
        .await
        .expect(401, 30002);
    app.get("/user/me", Some(&other_access), &[])
        .await
        .expect(401, 30002);
    app.form(
        Method::POST,
        "/user/refresh",
        None,
        &[("rToken", &user.refresh)],
    )
    .await
    .expect(401, 30002);
    app.login(&user.name, &user.password).await.expect(200, 200);
}
