//! File uploads and avatars: auth, caps, quotas, naming, serving the file back safely, and
//! replaced avatars leaving no file behind.

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
    assert_eq!(
        served.headers()["content-disposition"],
        "attachment; filename=\"evil.html.bin\""
    );
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

/// Files in one of the upload folders.
fn files_in(app: &TestApp, folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(app.data_dir.join("uploads").join(folder))
        .expect("upload folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Fills `user`'s quota of 100 KiB (caps: 64 KiB a file) and checks each refusal says
/// `which` quota it was and counted nothing.
async fn fill_the_quota(app: &TestApp, user: &TestUser, which: &str) {
    const KIB: usize = 1024;
    upload(app, Some(user), "a.bin", vec![1u8; 60 * KIB])
        .await
        .expect(200, 200);
    // Over the size cap: refused before it counts.
    upload(app, Some(user), "b.bin", vec![2u8; 64 * KIB + 1])
        .await
        .expect(413, 30017);
    upload(app, Some(user), "empty.bin", Vec::new())
        .await
        .expect(400, 400);
    // The upload that crosses the quota.
    let crossing = upload(app, Some(user), "c.bin", vec![3u8; 50 * KIB]).await;
    crossing.expect(413, 30027);
    assert!(crossing.error().contains(which), "{}", crossing.body);
    // None of the refusals counted: exactly the quota still fits.
    upload(app, Some(user), "d.bin", vec![4u8; 40 * KIB])
        .await
        .expect(200, 200);
    upload(app, Some(user), "e.txt", b"x".to_vec())
        .await
        .expect(413, 30027);
    assert_eq!(files_in(app, "data").len(), 2, "only the two stored files");
    assert!(
        files_in(app, "tmp").is_empty(),
        "nothing half-written is left"
    );
}

#[tokio::test]
async fn the_daily_quota_refuses_the_upload_that_crosses_it() {
    let app = spawn_with(|c| {
        c.uploads.max_bytes = 64 * 1024;
        c.uploads.quota_bytes_per_day = 100 * 1024;
        c.uploads.quota_bytes_total = 0;
    })
    .await;
    let user = app.user("daily").await;
    fill_the_quota(&app, &user, "per day").await;
    // Each user has a quota of their own.
    let other = app.user("other").await;
    upload(&app, Some(&other), "a.bin", vec![1u8; 60 * 1024])
        .await
        .expect(200, 200);
}

#[tokio::test]
async fn the_total_quota_refuses_the_upload_that_crosses_it() {
    let app = spawn_with(|c| {
        c.uploads.max_bytes = 64 * 1024;
        c.uploads.quota_bytes_per_day = 0;
        c.uploads.quota_bytes_total = 100 * 1024;
    })
    .await;
    let user = app.user("total").await;
    fill_the_quota(&app, &user, "in total").await;
    // Avatars are not uploads: one replaces the other, so they do not count.
    let form = Form::new().part("avatar", Part::bytes(PNG.to_vec()).file_name("me.png"));
    app.send(
        app.request(Method::PUT, "/user/update", Some(&user.access))
            .multipart(form),
    )
    .await
    .expect(200, 200);
}

async fn set_avatar(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> confab_e2e::Reply {
    let form = Form::new().part("avatar", Part::bytes(bytes).file_name("me.png"));
    app.send(
        app.request(Method::PUT, "/user/update", Some(&user.access))
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn a_new_avatar_deletes_the_old_file() {
    let app = small_app().await;
    let user = app.user("face").await;
    let first = set_avatar(&app, &user, PNG.to_vec()).await;
    first.expect(200, 200);
    let first = first.data().as_str().expect("url").to_owned();
    let first_name = first.rsplit('/').next().expect("name").to_owned();
    assert_eq!(files_in(&app, "personal"), [first_name]);

    let second = set_avatar(&app, &user, PNG.to_vec()).await;
    second.expect(200, 200);
    let second = second.data().as_str().expect("url").to_owned();
    assert_ne!(second, first);
    let second_name = second.rsplit('/').next().expect("name").to_owned();
    assert_eq!(
        files_in(&app, "personal"),
        [second_name],
        "the old file is gone, the new one is there"
    );
    app.send(app.request(Method::GET, &first, None))
        .await
        .expect(404, 30021);
    let served = app.client.get(app.url(&second)).send().await.expect("get");
    assert_eq!(served.status(), 200);

    // A refused avatar changes nothing.
    set_avatar(&app, &user, b"MZ\x90\0".to_vec())
        .await
        .expect(200, 30017);
    let me = app.get("/user/me", Some(&user.access), &[]).await;
    assert_eq!(me.data()["Avatar"], second.as_str());
    assert_eq!(files_in(&app, "personal").len(), 1);
    // Another user's avatar is not touched.
    let other = app.user("other").await;
    set_avatar(&app, &other, PNG.to_vec())
        .await
        .expect(200, 200);
    set_avatar(&app, &other, PNG.to_vec())
        .await
        .expect(200, 200);
    assert_eq!(files_in(&app, "personal").len(), 2);
    assert!(app
        .client
        .get(app.url(&second))
        .send()
        .await
        .expect("get")
        .status()
        .is_success());
}
