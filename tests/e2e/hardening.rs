//! Hardening through the real server: a plugin's key-value store that a flood of strangers
//! cannot fill, the stranger rule's expiries, a spinning plugin that stalls no one else,
//! user names that only look like another's, and images whose header declares more pixels
//! than the server accepts. (The environment layer's test runs the `confab` binary: see
//! host/tests/cli.rs.)

use std::path::Path;
use std::time::{Duration, Instant};

use confab::Config;
use confab_e2e::plugins::test_plugin;
use confab_e2e::ws::Ws;
use confab_e2e::{spawn_with, suffix, Reply, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-for-the-hardening-tests";

/// A server with the bundled plugins in a folder of its own (not watched), the admin token
/// above, generous deadlines and send rates, changed by `adjust`.
async fn plugin_app(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with(|c| {
        c.admin.token = TOKEN.to_owned();
        c.plugins.enabled = true;
        c.plugins.install_bundled = true;
        c.plugins.watch = false;
        c.plugins.dir = c.server.data_dir.join("plugins");
        // A busy test machine must not turn a slow scheduler into plugin timeouts.
        c.plugins.deadline_ms = 200;
        c.chat.messages_per_second = 10_000;
        c.chat.message_burst = 10_000;
        c.chat.user_messages_per_second = 10_000;
        c.chat.user_message_burst = 10_000;
        adjust(c);
    })
    .await
}

async fn admin(app: &TestApp, method: Method, path: &str) -> Reply {
    app.send(app.request(method, path, Some(&format!("Bearer {TOKEN}"))))
        .await
}

/// A plugin's counters as `GET /admin/plugins/{name}` shows them.
async fn counters(app: &TestApp, plugin: &str) -> Value {
    let reply = admin(app, Method::GET, &format!("/admin/plugins/{plugin}")).await;
    reply.expect(200, 200);
    reply.data()["counters"].clone()
}

/// Replaces a plugin's configuration through the admin API.
async fn configure(app: &TestApp, plugin: &str, config: Value) {
    app.json(
        Method::PUT,
        &format!("/admin/plugins/{plugin}/config"),
        Some(&format!("Bearer {TOKEN}")),
        config,
    )
    .await
    .expect(200, 200);
}

/// `from`'s conversation socket with `to`, past its welcome frame.
async fn chat(app: &TestApp, from: &TestUser, to: &TestUser) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", to.id), Some(&from.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

/// `user`'s inbox socket, past its welcome frame.
async fn inbox(app: &TestApp, user: &TestUser) -> Ws {
    let mut ws = app
        .ws("/chat/ws", Some(&user.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

/// Sends `text` (to `to`, on an inbox) and returns the answer, skipping messages that
/// arrive meanwhile (50001).
async fn send(ws: &mut Ws, to: Option<i64>, text: &str) -> Value {
    let mut frame = json!({"type": 1, "content": text});
    if let Some(to) = to {
        frame["to"] = json!(to);
    }
    ws.send(frame).await;
    loop {
        let answer = ws.recv().await;
        if answer["code"] != 50001 {
            return answer;
        }
    }
}

fn delivered(answer: &Value) -> bool {
    matches!(answer["code"].as_i64(), Some(50004 | 50005))
}

#[tokio::test]
async fn a_flood_of_strangers_never_fails_the_stranger_rule_and_evictions_are_counted() {
    // The smallest store allowed: 21 conversations below overflow it by 5.
    let app = plugin_app(|c| c.plugins.kv_max_keys = 16).await;
    let mut users = Vec::new();
    for _ in 0..7 {
        users.push(app.user("flood").await);
    }
    let mut inboxes = Vec::new();
    for user in &users[..6] {
        inboxes.push(inbox(&app, user).await);
    }
    // Each of 21 pairs writes once: 21 counters in a store of 16.
    for (i, socket) in inboxes.iter_mut().enumerate() {
        for (j, reader) in users.iter().enumerate().skip(i + 1) {
            let answer = send(socket, Some(reader.id), "hello").await;
            assert!(delivered(&answer), "{i} -> {j}: {answer}");
        }
    }
    let seen = counters(&app, "stranger-limit").await;
    assert_eq!(seen["kv_evictions"], 5, "{seen}");
    assert_eq!(seen["errors"], 0, "a full store fails no call: {seen}");
    assert_eq!(seen["timeouts"], 0, "{seen}");

    // The rule still holds for a conversation that is going on: the newest counter stayed.
    let (writer, reader) = (5, users[6].id);
    for _ in 0..2 {
        let answer = send(&mut inboxes[writer], Some(reader), "anyone there?").await;
        assert!(delivered(&answer), "{answer}");
    }
    let refused = send(&mut inboxes[writer], Some(reader), "hello?").await;
    assert_eq!(refused["code"], 50006, "{refused}");
    assert_eq!(
        refused["content"],
        "limit reached: wait for a reply / 达到限制"
    );
    // An evicted counter starts over: the first pair may write again.
    let answer = send(&mut inboxes[0], Some(users[1].id), "again").await;
    assert!(delivered(&answer), "{answer}");

    let metrics = admin(&app, Method::GET, "/metrics").await;
    assert_eq!(metrics.http, 200);
    let text = String::from_utf8_lossy(&metrics.bytes);
    assert!(
        text.contains("# TYPE confab_plugin_kv_evictions_total counter"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("confab_plugin_kv_evictions_total{plugin=\"stranger-limit\"}"))
        .unwrap_or_else(|| panic!("no eviction counter: {text}"));
    let evicted: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(evicted >= 5, "{line}");
}

#[tokio::test]
async fn stranger_counters_expire_as_in_the_seed_and_as_configured() {
    let app = plugin_app(|_| {}).await;
    // The seed's expiries: 90 days after a counted message, 30 after a refused one.
    let shown = admin(&app, Method::GET, "/admin/plugins/stranger-limit/config").await;
    shown.expect(200, 200);
    assert_eq!(shown.data()["counted_ttl_secs"], 90 * 24 * 3600);
    assert_eq!(shown.data()["refused_ttl_secs"], 30 * 24 * 3600);

    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let (carol, dave) = (app.user("carol").await, app.user("dave").await);

    // A refusal lasts `refused_ttl_secs` after the last refused message.
    configure(&app, "stranger-limit", json!({"refused_ttl_secs": 1})).await;
    let mut a = chat(&app, &alice, &bob).await;
    for _ in 0..3 {
        assert!(delivered(&send(&mut a, None, "hi bob").await));
    }
    let refused = send(&mut a, None, "hi bob?").await;
    assert_eq!(refused["code"], 50006, "{refused}");
    // The refusal's second runs out (counted messages alone would last 90 days).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = send(&mut a, None, "hi again").await;
    assert!(delivered(&answer), "the refusal expired: {answer}");

    // A count lasts `counted_ttl_secs` after the last counted message.
    configure(&app, "stranger-limit", json!({"counted_ttl_secs": 1})).await;
    let mut c = chat(&app, &carol, &dave).await;
    for _ in 0..2 {
        assert!(delivered(&send(&mut c, None, "hi dave").await));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Without the expiry the third of these would be the fifth unanswered message.
    for _ in 0..3 {
        let answer = send(&mut c, None, "hi dave, again").await;
        assert!(delivered(&answer), "the count started over: {answer}");
    }
}

/// Installs the spin-loop test plugin with a deadline of `deadline_ms`.
fn install_spin_loop(plugins_dir: &Path, deadline_ms: u64) {
    let (wasm, manifest) = test_plugin("spin-loop");
    let text = std::fs::read_to_string(manifest).expect("manifest");
    assert!(text.contains("deadline_ms = 10"), "{text}");
    let text = text.replace("deadline_ms = 10", &format!("deadline_ms = {deadline_ms}"));
    std::fs::create_dir_all(plugins_dir).expect("plugins folder");
    std::fs::write(plugins_dir.join("spin-loop.toml"), text).expect("manifest");
    std::fs::copy(wasm, plugins_dir.join("spin-loop.wasm")).expect("component");
}

// One worker thread for the test and the server alike: a plugin call that held its thread
// until its deadline would stall every other socket and request until then.
#[tokio::test(flavor = "current_thread")]
async fn a_plugin_spinning_until_its_deadline_stalls_no_other_socket_or_request() {
    let app = plugin_app(|c| {
        c.plugins.install_bundled = false;
        c.plugins.max_deadline_ms = 10_000;
    })
    .await;
    install_spin_loop(&app.data_dir.join("plugins"), 5_000);
    app.state.plugins.rescan().await;
    let view = app.state.plugins.get("spin-loop").expect("installed");
    assert_eq!(view.state, "running", "{view:?}");
    assert_eq!(view.limits.deadline_ms, 5_000);

    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let mut a = chat(&app, &alice, &bob).await;
    let mut b = chat(&app, &bob, &alice).await;
    // Long enough for the deadline ticker to go to sleep (no plugin has run since the
    // scan): the spinning call has to wake it, or nothing would ever stop it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.send(json!({"type": 1, "content": "this one spins", "client_id": "spin-1"}))
        .await;
    // The plugin is running on the one thread there is...
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters(&app, "spin-loop").await["calls"] != 1 {
        assert!(Instant::now() < deadline, "the plugin was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...and meanwhile an HTTP login and another socket's request are answered.
    app.login(&bob.name, &bob.password).await.expect(200, 200);
    b.send(json!({"type": 2, "content": "0"})).await;
    let (end, _) = b.until_code(50003).await;
    assert_eq!(end["code"], 50003);
    let during = counters(&app, "spin-loop").await;
    assert_eq!(
        (during["calls"].as_u64(), during["timeouts"].as_u64()),
        (Some(1), Some(0)),
        "answered while the plugin was still spinning: {during}"
    );

    // At its deadline the call is stopped and, failing open, the message goes through.
    let ack = a.recv().await;
    assert_eq!(ack["client_id"], "spin-1", "{ack}");
    assert!(delivered(&ack), "{ack}");
    assert_eq!(b.recv().await["content"], "this one spins");
    assert_eq!(counters(&app, "spin-loop").await["timeouts"], 1);
}

/// `name` in full-width forms (ASCII letters and digits only).
fn full_width(name: &str) -> String {
    name.chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).expect("a full-width form"))
        .collect()
}

#[tokio::test]
async fn names_that_only_look_like_an_existing_one_are_refused() {
    let app = spawn_with(|_| {}).await;
    let name = format!("admin{}", suffix());
    let password = "correct horse battery";
    app.register(&name, password).await.expect(200, 200);

    let cyrillic = name.replacen('a', "\u{0430}", 1);
    for look_alike in [
        cyrillic.clone(),
        full_width(&name),
        name.replacen('m', "rn", 1),
    ] {
        assert_ne!(look_alike, name);
        let reply = app.register(&look_alike, password).await;
        reply.expect(200, 30029);
        assert!(reply.error().contains("looks like"), "{}", reply.body);
        // Nothing was made: the look-alike cannot sign in.
        app.login(&look_alike, password).await.expect(200, 500);
    }
    // The same name in other letter case is the seed's "name taken".
    let taken = app.register(&name.to_uppercase(), password).await;
    taken.expect(200, 500);
    assert_eq!(taken.data(), "用户名已存在");
    // A different name is fine, and the original still signs in.
    app.register(&format!("{name}x"), password)
        .await
        .expect(200, 200);
    app.login(&name, password).await.expect(200, 200);
}

/// A PNG's signature and header, declaring `width` x `height`: a few dozen bytes.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(b"\x08\x06\0\0\0\x1f\x15\xc4\x89");
    bytes
}

/// A JPEG whose frame header (60000 x 60000) sits after 2000 bytes of metadata, past the
/// first bytes an upload's type check looks at.
fn jpeg_bomb() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x07, 0xD2];
    bytes.extend(std::iter::repeat_n(0u8, 2000));
    bytes.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0xEA, 0x60, 0xEA, 0x60, 0x03]);
    bytes.extend(std::iter::repeat_n(0u8, 16));
    bytes
}

async fn upload(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> Reply {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    app.send(
        app.request(Method::POST, "/user/upload", Some(&user.access))
            .multipart(form),
    )
    .await
}

async fn avatar(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> Reply {
    let form = Form::new().part("avatar", Part::bytes(bytes).file_name("me.png"));
    app.send(
        app.request(Method::PUT, "/user/update", Some(&user.access))
            .multipart(form),
    )
    .await
}

fn stored(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[tokio::test]
async fn images_declaring_too_many_pixels_are_refused_before_they_are_stored() {
    // The bundled upload-guard plugin runs too, as on a default server.
    let app = plugin_app(|_| {}).await;
    let user = app.user("bomber").await;
    let uploads = app.data_dir.join("uploads");

    for (name, bomb) in [("bomb.png", png(60_000, 60_000)), ("bomb.jpg", jpeg_bomb())] {
        assert!(bomb.len() < 4096, "a small file");
        let reply = upload(&app, &user, name, bomb.clone()).await;
        reply.expect(413, 30028);
        assert!(reply.error().contains("60000x60000"), "{}", reply.body);
        let reply = avatar(&app, &user, bomb).await;
        reply.expect(413, 30028);
        assert!(reply.error().contains("40000000"), "{}", reply.body);
    }
    assert_eq!(stored(&uploads.join("data")), 0, "no upload stored");
    assert_eq!(stored(&uploads.join("personal")), 0, "no avatar stored");
    let me = app.get("/user/me", Some(&user.access), &[]).await;
    assert_eq!(me.data()["Avatar"], "");

    // Up to the bound, images are welcome.
    upload(&app, &user, "wide.png", png(8000, 5000))
        .await
        .expect(200, 200);
    avatar(&app, &user, png(1, 1)).await.expect(200, 200);
    assert_eq!(stored(&uploads.join("data")), 1);
    assert_eq!(stored(&uploads.join("personal")), 1);
}

#[tokio::test]
async fn the_pixel_bound_is_configurable() {
    let app = spawn_with(|c| c.uploads.max_image_pixels = 100).await;
    let user = app.user("tiny").await;
    upload(&app, &user, "ten.png", png(10, 10))
        .await
        .expect(200, 200);
    let reply = upload(&app, &user, "eleven.png", png(11, 10)).await;
    reply.expect(413, 30028);
    assert!(reply.error().contains("11x10"), "{}", reply.body);
}

#[tokio::test]
async fn the_plugins_store_in_redis_stays_within_its_bound() {
    let Ok(url) = std::env::var("CONFAB_TEST_REDIS_URL") else {
        eprintln!("SKIPPED: Redis tests need CONFAB_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)");
        return;
    };
    let kv = confab::plugins::kv::RedisKv::connect(&url, &format!("test-{}", suffix()))
        .await
        .expect("CONFAB_TEST_REDIS_URL is set but the server cannot be reached")
        .with_max_keys(5);
    confab::plugins::kv::conformance::bounded(&kv, 5, &suffix()).await;
}
