//! The operator API through the real server: the admin token, installing, listing,
//! enabling, disabling, reloading and removing plugins, their configuration, the verdict
//! log, invite keys and `/metrics`. Plugins are the ones the build scripts compile: the
//! bundled word-filter (host/build.rs) and the test plugins (tests/build.rs).

use confab::plugins::bundled::BUNDLED;
use confab_e2e::plugins::test_plugin;
use confab_e2e::ws::Ws;
use confab_e2e::{spawn_with, suffix, Reply, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-for-the-e2e-tests-5f2c";

/// A server with plugins on in a folder of its own, no bundled plugin unless asked, and the
/// admin token above. The folder is not watched: these tests drive it through the API.
async fn admin_app(bundled: bool) -> TestApp {
    spawn_with(|c| {
        c.admin.token = TOKEN.to_owned();
        c.plugins.enabled = true;
        c.plugins.install_bundled = bundled;
        c.plugins.watch = false;
        c.plugins.dir = c.server.data_dir.join("plugins");
        // A busy test machine must not turn a slow scheduler into plugin timeouts.
        c.plugins.deadline_ms = 200;
        c.chat.messages_per_second = 10_000;
        c.chat.message_burst = 10_000;
        c.chat.user_messages_per_second = 10_000;
        c.chat.user_message_burst = 10_000;
    })
    .await
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

async fn admin(app: &TestApp, method: Method, path: &str) -> Reply {
    app.send(app.request(method, path, Some(&bearer()))).await
}

async fn admin_json(app: &TestApp, method: Method, path: &str, body: Value) -> Reply {
    app.json(method, path, Some(&bearer()), body).await
}

/// A request with a raw body, for bodies that are not valid JSON.
async fn admin_raw(app: &TestApp, method: Method, path: &str, body: &'static str) -> Reply {
    app.send(
        app.request(method, path, Some(&bearer()))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await
}

fn upload_form(manifest: &str, wasm: Vec<u8>) -> Form {
    Form::new()
        .part("manifest", Part::text(manifest.to_owned()))
        .part("wasm", Part::bytes(wasm).file_name("plugin.wasm"))
}

async fn upload(app: &TestApp, method: Method, path: &str, form: Form) -> Reply {
    app.send(app.request(method, path, Some(&bearer())).multipart(form))
        .await
}

/// The stamp-v1 test plugin (name "stamp"): it appends " [v1]" to every message.
fn stamp() -> (String, Vec<u8>) {
    let (wasm, manifest) = test_plugin("stamp-v1");
    (
        std::fs::read_to_string(manifest).expect("stamp manifest"),
        std::fs::read(wasm).expect("stamp component"),
    )
}

/// The bundled word-filter.
fn word_filter() -> (String, Vec<u8>) {
    let plugin = BUNDLED
        .iter()
        .find(|p| p.name == "word-filter")
        .expect("word-filter is bundled");
    (plugin.manifest.to_owned(), plugin.wasm.to_vec())
}

async fn install(app: &TestApp, (manifest, wasm): (String, Vec<u8>)) -> Value {
    let reply = upload(
        app,
        Method::POST,
        "/admin/plugins",
        upload_form(&manifest, wasm),
    )
    .await;
    reply.expect(200, 200);
    reply.data().clone()
}

/// Two users with a private chat socket each, bound to each other.
async fn pair(app: &TestApp) -> (TestUser, TestUser, Ws, Ws) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = app
        .ws(&format!("/chat/ws?toUid={}", bob.id), Some(&alice.access))
        .await
        .expect("upgrade");
    assert_eq!(a.recv().await["code"], 50002, "welcome");
    let mut b = app
        .ws(&format!("/chat/ws?toUid={}", alice.id), Some(&bob.access))
        .await
        .expect("upgrade");
    assert_eq!(b.recv().await["code"], 50002, "welcome");
    (alice, bob, a, b)
}

/// Sends `text` from `a`; returns what `b` received, after checking the sender's ack.
async fn relay(a: &mut Ws, b: &mut Ws, text: &str) -> String {
    a.send(json!({"type": 1, "content": text})).await;
    let ack = a.recv().await;
    assert_eq!(ack["code"], 50004, "{ack}");
    b.recv().await["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

fn names(list: &Reply) -> Vec<String> {
    list.data()
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn admin_routes_need_the_admin_token_and_a_user_token_is_not_one() {
    let app = admin_app(false).await;
    let user = app.user("notadmin").await;
    let routes = [
        (Method::GET, "/admin/plugins"),
        (Method::POST, "/admin/plugins"),
        (Method::GET, "/admin/plugins/stamp"),
        (Method::PUT, "/admin/plugins/stamp"),
        (Method::DELETE, "/admin/plugins/stamp"),
        (Method::POST, "/admin/plugins/stamp/enable"),
        (Method::POST, "/admin/plugins/stamp/disable"),
        (Method::POST, "/admin/plugins/stamp/reload"),
        (Method::GET, "/admin/plugins/stamp/config"),
        (Method::PUT, "/admin/plugins/stamp/config"),
        (Method::GET, "/admin/verdicts"),
        (Method::POST, "/admin/invites"),
        (Method::GET, "/metrics"),
    ];
    let wrong = format!("Bearer {TOKEN}x");
    let user_bearer = format!("Bearer {}", user.access);
    for (method, path) in routes {
        let missing = app.send(app.request(method.clone(), path, None)).await;
        missing.expect(401, 30001);
        assert!(
            missing.headers.contains_key("www-authenticate"),
            "{method} {path}"
        );
        for token in [wrong.as_str(), user.access.as_str(), user_bearer.as_str()] {
            app.send(app.request(method.clone(), path, Some(token)))
                .await
                .expect(401, 30002);
        }
        // Nothing was done for the refused requests.
        assert!(app.state.plugins.list().is_empty());
    }
    // The token works with or without the Bearer prefix.
    admin(&app, Method::GET, "/admin/plugins")
        .await
        .expect(200, 200);
    let plain = app
        .send(app.request(Method::GET, "/admin/plugins", Some(TOKEN)))
        .await;
    plain.expect(200, 200);
    assert_eq!(plain.data(), &json!([]));
    // And the admin token is not a user token.
    app.get("/user/me", Some(TOKEN), &[])
        .await
        .expect(401, 30002);
}

#[tokio::test]
async fn unknown_plugins_are_404_with_30021_on_every_route() {
    let app = admin_app(false).await;
    for name in ["nope", "Not-A-Name", "..%2Fsecrets"] {
        for (method, path) in [
            (Method::GET, format!("/admin/plugins/{name}")),
            (Method::DELETE, format!("/admin/plugins/{name}")),
            (Method::POST, format!("/admin/plugins/{name}/enable")),
            (Method::POST, format!("/admin/plugins/{name}/disable")),
            (Method::POST, format!("/admin/plugins/{name}/reload")),
            (Method::GET, format!("/admin/plugins/{name}/config")),
        ] {
            admin(&app, method, &path).await.expect(404, 30021);
        }
        admin_json(
            &app,
            Method::PUT,
            &format!("/admin/plugins/{name}/config"),
            json!({"words": []}),
        )
        .await
        .expect(404, 30021);
    }
    // Unknown admin paths are 404 too, in the envelope.
    admin(&app, Method::GET, "/admin/nothing-here")
        .await
        .expect(404, 30021);
}

#[tokio::test]
async fn an_uploaded_plugin_is_listed_running_acts_and_follows_enable_disable_reload_delete() {
    let app = admin_app(false).await;
    let dir = app.config.plugins.dir.clone();
    let installed = install(&app, stamp()).await;
    assert_eq!(installed["name"], "stamp");
    assert_eq!(installed["version"], "1.0.0");
    assert_eq!(installed["state"], "running", "{installed}");
    assert_eq!(installed["hooks"], json!(["filter-message"]));
    assert!(installed["sha256"].as_str().is_some_and(|s| s.len() == 64));
    // It is written into the folder the way an operator would have put it there.
    assert!(dir.join("stamp.wasm").is_file() && dir.join("stamp.toml").is_file());

    let list = admin(&app, Method::GET, "/admin/plugins").await;
    list.expect(200, 200);
    assert_eq!(names(&list), ["stamp"]);
    assert_eq!(list.data()[0]["state"], "running");
    let one = admin(&app, Method::GET, "/admin/plugins/stamp").await;
    one.expect(200, 200);
    assert_eq!(one.data()["sha256"], installed["sha256"]);

    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(relay(&mut a, &mut b, "hello").await, "hello [v1]");
    let counted = admin(&app, Method::GET, "/admin/plugins/stamp").await;
    assert_eq!(counted.data()["counters"]["calls"], 1, "{}", counted.body);
    assert_eq!(counted.data()["counters"]["rewrites"], 1);

    let disabled = admin(&app, Method::POST, "/admin/plugins/stamp/disable").await;
    disabled.expect(200, 200);
    assert_eq!(disabled.data()["state"], "disabled");
    assert_eq!(disabled.data()["enabled"], false);
    assert_eq!(relay(&mut a, &mut b, "plain").await, "plain");
    // The choice is kept in the manifest, so a restart keeps it.
    let on_disk = std::fs::read_to_string(dir.join("stamp.toml")).expect("manifest");
    assert!(on_disk.contains("enabled = false"), "{on_disk}");

    let enabled = admin(&app, Method::POST, "/admin/plugins/stamp/enable").await;
    enabled.expect(200, 200);
    assert_eq!(enabled.data()["state"], "running");
    assert_eq!(relay(&mut a, &mut b, "back").await, "back [v1]");

    let reloaded = admin(&app, Method::POST, "/admin/plugins/stamp/reload").await;
    reloaded.expect(200, 200);
    assert_eq!(reloaded.data()["state"], "running");
    assert_eq!(reloaded.data()["sha256"], installed["sha256"]);
    assert_eq!(relay(&mut a, &mut b, "again").await, "again [v1]");

    admin(&app, Method::DELETE, "/admin/plugins/stamp")
        .await
        .expect(200, 200);
    admin(&app, Method::GET, "/admin/plugins/stamp")
        .await
        .expect(404, 30021);
    assert!(names(&admin(&app, Method::GET, "/admin/plugins").await).is_empty());
    assert!(!dir.join("stamp.wasm").exists() && !dir.join("stamp.toml").exists());
    assert_eq!(relay(&mut a, &mut b, "gone").await, "gone");
    admin(&app, Method::DELETE, "/admin/plugins/stamp")
        .await
        .expect(404, 30021);
}

#[tokio::test]
async fn put_installs_only_the_plugin_its_url_names() {
    let app = admin_app(false).await;
    let (manifest, wasm) = stamp();
    let wrong = upload(
        &app,
        Method::PUT,
        "/admin/plugins/other",
        upload_form(&manifest, wasm.clone()),
    )
    .await;
    wrong.expect(400, 400);
    assert!(
        wrong.error().contains("stamp") && wrong.error().contains("other"),
        "{}",
        wrong.body
    );
    assert!(app.state.plugins.list().is_empty());
    let put = upload(
        &app,
        Method::PUT,
        "/admin/plugins/stamp",
        upload_form(&manifest, wasm),
    )
    .await;
    put.expect(200, 200);
    assert_eq!(put.data()["state"], "running");
}

#[tokio::test]
async fn a_broken_upload_is_refused_with_its_reason_and_the_running_version_stays() {
    let app = admin_app(false).await;
    let dir = app.config.plugins.dir.clone();
    let installed = install(&app, stamp()).await;
    let wasm_before = std::fs::read(dir.join("stamp.wasm")).expect("wasm");
    let (manifest, _) = stamp();

    let garbage = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        upload_form(&manifest, b"\0asm\x0d\0\x01\0garbage".to_vec()),
    )
    .await;
    garbage.expect(400, 400);
    assert!(garbage.error().len() > 10, "{}", garbage.body);

    // A manifest naming a hook the component lacks is refused the same way.
    let (_, wasm) = stamp();
    let greedy = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        upload_form(
            &manifest.replace(
                "hooks = [\"filter-message\"]",
                "hooks = [\"filter-message\", \"on-upload\"]",
            ),
            wasm,
        ),
    )
    .await;
    greedy.expect(400, 400);
    assert!(greedy.error().contains("on-upload"), "{}", greedy.body);

    let after = admin(&app, Method::GET, "/admin/plugins/stamp").await;
    after.expect(200, 200);
    assert_eq!(after.data()["state"], "running");
    assert_eq!(after.data()["sha256"], installed["sha256"]);
    assert_eq!(after.data()["hooks"], json!(["filter-message"]));
    assert_eq!(
        std::fs::read(dir.join("stamp.wasm")).expect("wasm"),
        wasm_before
    );
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(relay(&mut a, &mut b, "still").await, "still [v1]");

    // A broken new plugin is not installed at all.
    let fresh = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        upload_form(
            &manifest.replace("name = \"stamp\"", "name = \"fresh\""),
            b"not wasm".to_vec(),
        ),
    )
    .await;
    fresh.expect(400, 400);
    admin(&app, Method::GET, "/admin/plugins/fresh")
        .await
        .expect(404, 30021);
    assert!(!dir.join("fresh.wasm").exists() && !dir.join("fresh.toml").exists());
}

#[tokio::test]
async fn malformed_uploads_say_what_is_wrong() {
    let app = admin_app(false).await;
    let (manifest, wasm) = stamp();

    let no_wasm = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        Form::new().text("manifest", manifest.clone()),
    )
    .await;
    no_wasm.expect(400, 400);
    assert!(no_wasm.error().contains("wasm"), "{}", no_wasm.body);

    let no_manifest = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        Form::new().part("wasm", Part::bytes(wasm.clone())),
    )
    .await;
    no_manifest.expect(400, 400);
    assert!(
        no_manifest.error().contains("manifest"),
        "{}",
        no_manifest.body
    );

    let bad_manifest = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        upload_form("name = [", wasm.clone()),
    )
    .await;
    bad_manifest.expect(400, 400);
    assert!(
        bad_manifest.error().contains("manifest"),
        "{}",
        bad_manifest.body
    );

    let json_body = admin_json(
        &app,
        Method::POST,
        "/admin/plugins",
        json!({"manifest": manifest}),
    )
    .await;
    json_body.expect(400, 400);
    assert!(
        json_body.error().contains("multipart"),
        "{}",
        json_body.body
    );

    let extra = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        upload_form(&manifest, wasm).text("colour", "blue"),
    )
    .await;
    extra.expect(400, 400);
    assert!(extra.error().contains("colour"), "{}", extra.body);

    // A component over the cap (32 MiB) is refused with 30020 while it is read.
    let huge = upload(
        &app,
        Method::POST,
        "/admin/plugins",
        upload_form(&manifest, vec![0u8; 32 * 1024 * 1024 + 1024]),
    )
    .await;
    huge.expect(413, 30020);
    assert!(app.state.plugins.list().is_empty());
}

#[tokio::test]
async fn configs_are_checked_by_the_plugin_and_applied_live() {
    let app = admin_app(false).await;
    install(&app, word_filter()).await;
    let path = "/admin/plugins/word-filter/config";
    let initial = admin(&app, Method::GET, path).await;
    initial.expect(200, 200);
    assert_eq!(initial.data()["words"], json!(["badword", "spam"]));
    assert_eq!(initial.data()["mode"], "mask");

    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(relay(&mut a, &mut b, "no spam").await, "no ****");

    let bad_json = admin_raw(&app, Method::PUT, path, "{\"words\": [").await;
    bad_json.expect(400, 400);
    assert!(bad_json.error().contains("JSON"), "{}", bad_json.body);
    let empty = admin_raw(&app, Method::PUT, path, "").await;
    empty.expect(400, 400);
    for not_object in [json!(["spam"]), json!("spam"), json!(3), json!(null)] {
        let reply = admin_json(&app, Method::PUT, path, not_object.clone()).await;
        reply.expect(400, 400);
        assert!(
            reply.error().contains("object"),
            "{not_object}: {}",
            reply.body
        );
    }
    let null_inside = admin_json(&app, Method::PUT, path, json!({"words": null})).await;
    null_inside.expect(400, 400);
    assert!(null_inside.error().contains("null"), "{}", null_inside.body);
    // The plugin's own check refuses an unknown key and a wrong type, and says why.
    let refused = admin_json(&app, Method::PUT, path, json!({"colour": "red"})).await;
    refused.expect(400, 400);
    assert!(refused.error().contains("colour"), "{}", refused.body);
    let refused = admin_json(&app, Method::PUT, path, json!({"mode": "explode"})).await;
    refused.expect(400, 400);
    assert!(refused.error().contains("explode"), "{}", refused.body);

    // None of that changed anything.
    assert_eq!(admin(&app, Method::GET, path).await.data(), initial.data());
    assert_eq!(relay(&mut a, &mut b, "spam").await, "****");

    let config =
        json!({"words": ["kumquat"], "mode": "reject", "code": 30013, "reason": "no fruit"});
    let set = admin_json(&app, Method::PUT, path, config.clone()).await;
    set.expect(200, 200);
    assert_eq!(set.data()["state"], "running");
    assert_eq!(admin(&app, Method::GET, path).await.data(), &config);
    // Applied to the next message, without a restart.
    a.send(json!({"type": 1, "content": "a Kumquat a day"}))
        .await;
    let refused = a.recv().await;
    assert_eq!(refused["code"], 30013, "{refused}");
    assert_eq!(refused["content"], "no fruit");
    assert_eq!(
        relay(&mut a, &mut b, "spam is fine now").await,
        "spam is fine now"
    );
    // And written into the manifest, so it survives a restart.
    let on_disk =
        std::fs::read_to_string(app.config.plugins.dir.join("word-filter.toml")).expect("manifest");
    assert!(on_disk.contains("kumquat"), "{on_disk}");
}

#[tokio::test]
async fn verdicts_list_rejections_and_rewrites_newest_first() {
    let app = admin_app(false).await;
    install(&app, word_filter()).await;
    install(&app, stamp()).await;
    let (alice, _bob, mut a, mut b) = pair(&app).await;
    // Both have order 10, so they run by name: the stamp, then the mask.
    assert_eq!(relay(&mut a, &mut b, "one spam").await, "one **** [v1]");
    admin_json(
        &app,
        Method::PUT,
        "/admin/plugins/word-filter/config",
        json!({"words": ["spam"], "mode": "reject", "reason": "nope"}),
    )
    .await
    .expect(200, 200);
    a.send(json!({"type": 1, "content": "two spam"})).await;
    assert_eq!(a.recv().await["code"], 30013);

    let all = admin(&app, Method::GET, "/admin/verdicts").await;
    all.expect(200, 200);
    let records = all.data().as_array().expect("a list");
    let newest = &records[0];
    assert_eq!(newest["plugin"], "word-filter");
    assert_eq!(newest["hook"], "filter-message");
    assert_eq!(newest["outcome"], "rejected");
    assert_eq!(newest["user"], alice.id);
    assert!(newest["subject"]
        .as_str()
        .is_some_and(|s| s.starts_with("two spam")));
    assert!(records
        .iter()
        .any(|r| r["outcome"] == "rewritten" && r["plugin"] == "stamp"));

    let filtered = admin(
        &app,
        Method::GET,
        "/admin/verdicts?plugin=word-filter&limit=1",
    )
    .await;
    filtered.expect(200, 200);
    assert_eq!(filtered.data().as_array().expect("list").len(), 1);
    assert_eq!(filtered.data()[0], *newest);
    let stamps = admin(&app, Method::GET, "/admin/verdicts?plugin=stamp").await;
    assert!(stamps
        .data()
        .as_array()
        .expect("list")
        .iter()
        .all(|r| r["plugin"] == "stamp"));
    let none = admin(&app, Method::GET, "/admin/verdicts?plugin=nobody").await;
    assert_eq!(none.data(), &json!([]));
    for limit in ["0", "501", "-1", "many"] {
        admin(&app, Method::GET, &format!("/admin/verdicts?limit={limit}"))
            .await
            .expect(400, 400);
    }
    admin(&app, Method::GET, "/admin/verdicts?limit=500")
        .await
        .expect(200, 200);
}

#[tokio::test]
async fn invites_from_the_api_open_invite_only_registration_once_each() {
    let app = spawn_with(|c| {
        c.admin.token = TOKEN.to_owned();
        c.registration.mode = confab::config::RegistrationMode::InviteOnly;
    })
    .await;
    let issued = admin_json(&app, Method::POST, "/admin/invites", json!({"count": 2})).await;
    issued.expect(200, 200);
    let keys: Vec<String> = issued
        .data()
        .as_array()
        .expect("a list of keys")
        .iter()
        .map(|k| k.as_str().expect("a key").to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.chars().count() == 16), "{keys:?}");
    assert_ne!(keys[0], keys[1]);

    // The count may come as a form, a query string or a JSON string; one key by default.
    let form = app
        .form(
            Method::POST,
            "/admin/invites",
            Some(&bearer()),
            &[("count", "3")],
        )
        .await;
    form.expect(200, 200);
    assert_eq!(form.data().as_array().expect("keys").len(), 3);
    let query = admin(&app, Method::POST, "/admin/invites?count=4").await;
    assert_eq!(query.data().as_array().expect("keys").len(), 4);
    let text = admin_json(&app, Method::POST, "/admin/invites", json!({"count": "5"})).await;
    assert_eq!(text.data().as_array().expect("keys").len(), 5);
    let default = admin(&app, Method::POST, "/admin/invites").await;
    assert_eq!(default.data().as_array().expect("keys").len(), 1);
    for bad in [json!(0), json!(1001), json!(-3), json!("lots"), json!([1])] {
        admin_json(
            &app,
            Method::POST,
            "/admin/invites",
            json!({ "count": bad }),
        )
        .await
        .expect(400, 400);
    }

    let register = |name: String, key: String| {
        let app = &app;
        async move {
            app.json(
                Method::POST,
                "/user/register",
                None,
                json!({"username": name, "password": "password123", "key": key}),
            )
            .await
        }
    };
    register(format!("inv_{}", suffix()), keys[0].clone())
        .await
        .expect(200, 200);
    register(format!("inv_{}", suffix()), keys[0].clone())
        .await
        .expect(200, 30014);
    register(format!("inv_{}", suffix()), keys[1].clone())
        .await
        .expect(200, 200);
}

/// The value of the sample `series` (name and labels, exactly as written) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_plugin_counters() {
    let app = admin_app(false).await;
    install(&app, word_filter()).await;
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(
        relay(&mut a, &mut b, "spam and eggs").await,
        "**** and eggs"
    );
    assert_eq!(relay(&mut a, &mut b, "just eggs").await, "just eggs");

    let reply = admin(&app, Method::GET, "/metrics").await;
    assert_eq!(reply.http, 200);
    let content_type = reply.headers["content-type"].to_str().expect("text");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = String::from_utf8(reply.bytes.clone()).expect("UTF-8");
    let plugin = "{plugin=\"word-filter\"}";
    assert_eq!(
        sample(&text, &format!("confab_plugin_calls_total{plugin}")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("confab_plugin_rewrites_total{plugin}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("confab_plugin_up{plugin}")),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "confab_plugin_call_seconds_count{plugin=\"word-filter\"}"
        ),
        Some(2.0)
    );
    assert!(text.contains("# TYPE confab_plugin_calls_total counter"));
    // This node's two chat sockets.
    assert_eq!(sample(&text, "confab_websockets"), Some(2.0), "{text}");
    assert!(text.contains("confab_build_info{version=\""));
    // Every sample line is `series value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().expect("a value");
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
}

#[tokio::test]
async fn with_plugins_turned_off_the_api_says_so() {
    let app = spawn_with(|c| c.admin.token = TOKEN.to_owned()).await;
    let list = admin(&app, Method::GET, "/admin/plugins").await;
    list.expect(200, 200);
    assert_eq!(list.data(), &json!([]));
    let install = upload(&app, Method::POST, "/admin/plugins", {
        let (manifest, wasm) = stamp();
        upload_form(&manifest, wasm)
    })
    .await;
    install.expect(400, 400);
    assert!(install.error().contains("turned off"), "{}", install.body);
    admin(&app, Method::GET, "/admin/verdicts")
        .await
        .expect(200, 200);
    let metrics = admin(&app, Method::GET, "/metrics").await;
    assert_eq!(metrics.http, 200);
    assert!(String::from_utf8_lossy(&metrics.bytes).contains("confab_websockets 0"));
}
