//! Malformed requests of every kind get the envelope with a useful reason, never a panic,
//! an empty body or a 500.

use confab_e2e::spawn_app;
use reqwest::Method;

#[tokio::test]
async fn malformed_bodies_and_types() {
    let app = spawn_app().await;
    let raw = |body: &'static str, content_type: &'static str| {
        app.request(Method::POST, "/user/register", None)
            .header("content-type", content_type)
            .body(body)
    };
    let cases: [(&str, &str, &str); 7] = [
        ("{\"username\": \"abc", "application/json", "invalid JSON"),
        ("[1, 2]", "application/json", "must be an object"),
        (
            "{\"username\": {\"a\": 1}, \"password\": \"password123\"}",
            "application/json",
            "username must be a string, not an object",
        ),
        (
            "{\"username\": \"valid_name\", \"password\": true}",
            "application/json",
            "password must be a string, not a boolean",
        ),
        ("username=abc", "text/plain", "unsupported Content-Type"),
        ("--x\r\n", "multipart/form-data", "boundary"),
        (
            "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            "multipart/form-data; boundary=xyz",
            "malformed multipart",
        ),
    ];
    for (body, content_type, reason) in cases {
        let reply = app.send(raw(body, content_type)).await;
        reply.expect(400, 400);
        assert!(reply.error().contains(reason), "{body}: {}", reply.body);
    }
    // Numbers may arrive as JSON numbers; a numeric name then fails the name rule, not parsing.
    let reply = app
        .json(
            Method::POST,
            "/user/register",
            None,
            serde_json::json!({"username": 1234567, "password": "password123"}),
        )
        .await;
    reply.expect(400, 400);
    assert!(reply.error().contains("only digits"), "{}", reply.body);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = spawn_app().await;
    let big = format!("{{\"username\": \"{}\"}}", "x".repeat(70 * 1024));
    let reply = app
        .send(
            app.request(Method::POST, "/user/register", None)
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    reply.expect(413, 30020);
    let form = reqwest::multipart::Form::new().text("username", "y".repeat(70 * 1024));
    app.send(
        app.request(Method::POST, "/user/login", None)
            .multipart(form),
    )
    .await
    .expect(413, 30020);
}

#[tokio::test]
async fn unknown_routes_methods_and_queries() {
    let app = spawn_app().await;
    app.get("/no/such/route", None, &[])
        .await
        .expect(404, 30021);
    app.send(app.request(Method::GET, "/user/emailCheck", None))
        .await
        .expect(405, 30022);
    // A credential route with its parameters missing entirely.
    let reply = app
        .send(app.request(Method::GET, "/user/login", None))
        .await;
    reply.expect(400, 400);
    assert_eq!(reply.error(), "username is required");
    let ping = app.get("/user/ping", None, &[]).await;
    ping.expect(200, 200);
    assert_eq!(ping.data(), "success");
}
