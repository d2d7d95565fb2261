//! File uploads and avatars: auth, caps, naming, and serving the file back safely.

use confab_e2e::{spawn_with, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn upload(
    app: &TestApp,
    user: Option<&TestUser>,
    name: &str,
    bytes: Vec<u8>,
) -> confab_e2e::Reply {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    app.send(
        app.request(
            Method::POST,
            "/user/upload",
            user.map(|u| u.access.as_str()),
        )
        .multipart(form),
    )
    .await
}

async fn small_app() -> TestApp {
    spawn_with(|c| {
        c.uploads.max_bytes = 64 * 1024;
        c.uploads.avatar_max_bytes = 16 * 1024;
    })
    .await
}

#[tokio::test]
async fn uploads_are_served_back_typed_and_never_sniffed() {
    let app = small_app().await;
    let user = app.user("up").await;
    let reply = upload(&app, Some(&user), "photo.PNG", PNG.to_vec()).await;
    reply.expect(200, 200);
    let url = reply.data()["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with("/upload/data/") && url.ends_with(".png"),
        "{url}"
    );

    let fetched = app.client.get(app.url(&url)).send().await.expect("get");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.headers()["x-content-type-options"], "nosniff");
    assert_eq!(fetched.bytes().await.expect("body").as_ref(), PNG);

    // Same name, same second: two files.
    let again = upload(&app, Some(&user), "photo.PNG", b"second".to_vec()).await;
    again.expect(200, 200);
    assert_ne!(again.data()["url"], url.as_str());

    // A page or a script is stored as inert bytes and offered as a download.
    let html = upload(
        &app,
        Some(&user),
        "../../evil.html",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await;
    html.expect(200, 200);
    let html_url = html.data()["url"].as_str().expect("url").to_owned();
    assert!(html_url.ends_with(".bin"), "{html_url}");
    let served = app
        .client
        .get(app.url(&html_url))
        .send()
        .await
        .expect("get");
    assert_eq!(served.headers()["content-type"], "application/octet-stream");
    assert_eq!(served.headers()["content-disposition"], "attachment");
    assert!(!app.data_dir.join("evil.html").exists());
}

#[tokio::test]
async fn uploads_need_auth_a_file_and_a_sane_size() {
    let app = small_app().await;
    let user = app.user("cap").await;
    upload(&app, None, "a.png", PNG.to_vec())
        .await
        .expect(401, 30001);

    let big = upload(&app, Some(&user), "big.bin", vec![7u8; 64 * 1024 + 1]).await;
    big.expect(413, 30017);
    assert!(big.error().contains("65536"), "{}", big.body);
    // Nothing half-written is left behind.
    let leftovers = std::fs::read_dir(app.data_dir.join("uploads/tmp"))
        .expect("tmp")
        .count();
    let stored = std::fs::read_dir(app.data_dir.join("uploads/data"))
        .expect("data")
        .count();
    assert_eq!((leftovers, stored), (0, 0));

    let no_file = app
        .send(
            app.request(Method::POST, "/user/upload", Some(&user.access))
                .multipart(Form::new().text("file", "not a file")),
        )
        .await;
    no_file.expect(400, 400);
    app.form(
        Method::POST,
        "/user/upload",
        Some(&user.access),
        &[("file", "x")],
    )
    .await
    .expect(400, 400);
    upload(&app, Some(&user), "empty.txt", Vec::new())
        .await
        .expect(400, 400);
}

#[tokio::test]
async fn unknown_or_crafted_file_names_are_not_found() {
    let app = small_app().await;
    for path in [
        "/upload/data/0123456789abcdef0123456789abcdef.png",
        "/upload/data/..%2F..%2Fsecrets%2Fjwt.key",
        "/upload/secrets/jwt.key",
        "/upload/data/confab.db",
    ] {
        let reply = app.send(app.request(Method::GET, path, None)).await;
        reply.expect(404, 30021);
    }
}

#[tokio::test]
async fn avatars_must_be_images() {
    let app = small_app().await;
    let user = app.user("ava").await;
    let form = Form::new().part("avatar", Part::bytes(PNG.to_vec()).file_name("me.jpg"));
    let reply = app
        .send(
            app.request(Method::PUT, "/user/update", Some(&user.access))
                .multipart(form),
        )
        .await;
    reply.expect(200, 200);
    let url = reply.data().as_str().expect("avatar url").to_owned();
    assert!(
        url.starts_with("/upload/personal/") && url.ends_with(".png"),
        "{url}"
    );
    let me = app.get("/user/me", Some(&user.access), &[]).await;
    assert_eq!(me.data()["Avatar"], url.as_str());
    let fetched = app.client.get(app.url(&url)).send().await.expect("get");
    assert_eq!(fetched.headers()["content-type"], "image/png");

    let exe = Form::new().part(
        "avatar",
        Part::bytes(b"MZ\x90\0\x03\0\0\0".to_vec()).file_name("me.png"),
    );
    app.send(
        app.request(Method::PUT, "/user/update", Some(&user.access))
            .multipart(exe),
    )
    .await
    .expect(200, 30017);
    let huge = Form::new().part(
        "avatar",
        Part::bytes([PNG, &[0u8; 20 * 1024]].concat()).file_name("big.png"),
    );
    app.send(
        app.request(Method::PUT, "/user/update", Some(&user.access))
            .multipart(huge),
    )
    .await
    .expect(413, 30017);
}
