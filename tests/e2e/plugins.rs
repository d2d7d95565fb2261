//! Plugins through the real server: each bundled plugin's hook, hostile plugins, hot swap
//! under a steady stream, broken files, older interface versions, and an operator's
//! drop-in changes to the plugins folder. The plugins are compiled from source by the
//! build scripts (bundled ones by host/build.rs, test ones by tests/build.rs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confab::plugins::PluginView;
use confab_e2e::plugins::install_plugin;
use confab_e2e::ws::Ws;
use confab_e2e::{spawn_with, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

/// A server with plugins on, watching a folder of its own, and generous deadlines (a busy
/// test machine must not turn a slow scheduler into plugin timeouts).
async fn plugin_app(bundled: bool) -> (TestApp, PathBuf) {
    let app = spawn_with(|c| {
        c.plugins.enabled = true;
        c.plugins.install_bundled = bundled;
        c.plugins.deadline_ms = 200;
        c.plugins.debounce_ms = 50;
        c.plugins.quarantine_after = 3;
        c.plugins.quarantine_secs = 60;
        c.chat.messages_per_second = 10_000;
        c.chat.message_burst = 10_000;
        c.chat.user_messages_per_second = 10_000;
        c.chat.user_message_burst = 10_000;
    })
    .await;
    let dir = app.data_dir.join("plugins");
    (app, dir)
}

/// Waits until the plugin `name` satisfies `ready`, or fails after ten seconds.
async fn until_plugin(
    app: &TestApp,
    name: &str,
    ready: impl Fn(Option<&PluginView>) -> bool,
) -> Option<PluginView> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view = app.state.plugins.get(name);
        if ready(view.as_ref()) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "plugin {name} never got there: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn chat(app: &TestApp, from: &TestUser, to: &TestUser) -> Ws {
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", to.id), Some(&from.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002, "welcome");
    ws
}

async fn send(ws: &mut Ws, text: &str) -> Value {
    ws.send(json!({"type": 1, "content": text})).await;
    ws.recv().await
}

async fn pair(app: &TestApp) -> (TestUser, TestUser, Ws, Ws) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let a = chat(app, &alice, &bob).await;
    let b = chat(app, &bob, &alice).await;
    (alice, bob, a, b)
}

fn set_config_line(dir: &Path, plugin: &str, from: &str, to: &str) {
    let path = dir.join(format!("{plugin}.toml"));
    let text = std::fs::read_to_string(&path).expect("manifest");
    assert!(text.contains(from), "{plugin}.toml has no {from:?}");
    std::fs::write(&path, text.replace(from, to)).expect("write manifest");
}

#[tokio::test]
async fn the_bundled_plugins_are_installed_and_running() {
    let (app, dir) = plugin_app(true).await;
    let names: Vec<String> = app
        .state
        .plugins
        .list()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(
        names,
        [
            "owner-handoff",
            "stranger-limit",
            "upload-guard",
            "word-filter"
        ]
    );
    let cached: Vec<String> = std::fs::read_dir(app.data_dir.join("plugin-cache"))
        .expect("the compiled plugins are cached")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for view in app.state.plugins.list() {
        assert_eq!(view.state, "running", "{view:?}");
        assert!(view.error.is_none(), "{view:?}");
        assert!(dir.join(format!("{}.wasm", view.name)).is_file());
        // Cached under the engine's compatibility hash and the component's sha256.
        let sha = view.sha256.expect("a running plugin has a sha256");
        assert!(
            cached.iter().any(|f| f.ends_with(&format!("-{sha}.cwasm"))),
            "{cached:?}"
        );
    }
}

#[tokio::test]
async fn word_filter_masks_and_an_edited_manifest_makes_it_reject_without_a_restart() {
    let (app, dir) = plugin_app(true).await;
    // Alice will write many times without an answer; the stranger rule is not under test.
    std::fs::remove_file(dir.join("stranger-limit.toml")).expect("remove");
    std::fs::remove_file(dir.join("stranger-limit.wasm")).expect("remove");
    app.state.plugins.rescan().await;
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(send(&mut a, "no SPAM here").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "no **** here");

    // The operator switches the mode in the folder; the next message sees it.
    set_config_line(&dir, "word-filter", "mode = \"mask\"", "mode = \"reject\"");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = send(&mut a, "spam again").await;
        if reply["code"] == 30013 {
            assert_eq!(
                reply["content"],
                "message contains a blocked word / 消息包含违禁词"
            );
            break;
        }
        assert_eq!(b.recv().await["content"], "**** again");
        assert!(Instant::now() < deadline, "the new mode never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A clean message still goes through, and nothing rejected reached Bob.
    assert_eq!(send(&mut a, "hello").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "hello");
    let view = app.state.plugins.get("word-filter").expect("listed");
    assert!(
        view.counters.rewrites >= 1 && view.counters.rejects >= 1,
        "{view:?}"
    );
}

#[tokio::test]
async fn stranger_limit_refuses_the_fourth_unanswered_message_with_50006() {
    let (app, _dir) = plugin_app(true).await;
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    for i in 1..=3 {
        assert_eq!(send(&mut a, &format!("hi {i}")).await["code"], 50004);
        assert_eq!(b.recv().await["content"], format!("hi {i}"));
    }
    let refused = send(&mut a, "hi 4").await;
    assert_eq!(
        (refused["code"].clone(), refused["content"].clone()),
        (
            json!(50006),
            json!("limit reached: wait for a reply / 达到限制")
        )
    );
    // Bob replies, and Alice may write again.
    assert_eq!(send(&mut b, "hello alice").await["code"], 50004);
    assert_eq!(a.recv().await["content"], "hello alice");
    assert_eq!(send(&mut a, "hi again").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "hi again");
}

async fn owner_of(app: &TestApp, viewer: &TestUser, group: i64) -> Option<i64> {
    let reply = app
        .get(
            "/group/members",
            Some(&viewer.access),
            &[("group_id", &group.to_string())],
        )
        .await;
    if reply.code() != 200 {
        return None;
    }
    reply
        .data()
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["role"] == 1)
        .and_then(|m| m["ID"].as_i64())
}

#[tokio::test]
async fn owner_handoff_picks_the_admin_and_its_config_can_dissolve_instead() {
    let (app, dir) = plugin_app(true).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let g = app
        .create_group(&alice, json!({"group_name": "handoff"}))
        .await;
    app.join_group(&bob, g).await.expect(200, 200);
    app.join_group(&carol, g).await.expect(200, 200);
    app.json(
        Method::POST,
        "/group/role",
        Some(&alice.access),
        json!({"group_id": g, "user_id": carol.id, "role": 2}),
    )
    .await
    .expect(200, 200);
    app.leave_group(&alice, g).await.expect(200, 200);
    assert_eq!(
        owner_of(&app, &bob, g).await,
        Some(carol.id),
        "the admin, not the earlier member"
    );
    let view = app.state.plugins.get("owner-handoff").expect("listed");
    assert_eq!(view.counters.calls, 1, "{view:?}");

    // Configured to dissolve groups without an admin, the plugin (not the host) decides.
    set_config_line(
        &dir,
        "owner-handoff",
        "dissolve_when_no_admin = false",
        "dissolve_when_no_admin = true",
    );
    until_plugin(&app, "owner-handoff", |v| {
        v.is_some_and(|_| {
            app.state
                .plugins
                .config("owner-handoff")
                .is_ok_and(|c| c["dissolve_when_no_admin"] == true)
        })
    })
    .await;
    let h = app
        .create_group(&alice, json!({"group_name": "dissolving"}))
        .await;
    app.join_group(&bob, h).await.expect(200, 200);
    app.leave_group(&alice, h).await.expect(200, 200);
    assert_eq!(owner_of(&app, &bob, h).await, None, "dissolved");
}

#[tokio::test]
async fn a_join_plugin_can_deny_with_its_reason() {
    let (app, dir) = plugin_app(false).await;
    install_plugin(&dir, "deny-join", "deny-join");
    app.state.plugins.rescan().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let closed = app
        .create_group(&alice, json!({"group_name": "closed-club"}))
        .await;
    let open = app
        .create_group(&alice, json!({"group_name": "open-club"}))
        .await;
    let reply = app.join_group(&bob, closed).await;
    reply.expect(200, 30013);
    assert!(
        reply.error().contains("this group is closed"),
        "{}",
        reply.error()
    );
    app.join_group(&bob, open).await.expect(200, 200);
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn upload(app: &TestApp, user: &TestUser, name: &str, bytes: &[u8]) -> confab_e2e::Reply {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    );
    app.send(
        app.request(Method::POST, "/user/upload", Some(&user.access))
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn upload_guard_refuses_a_renamed_executable_and_names_files_by_their_content() {
    let (app, _dir) = plugin_app(true).await;
    let alice = app.user("alice").await;
    let mut exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
    exe.resize(4096, 0);
    let refused = upload(&app, &alice, "holiday.png", &exe).await;
    refused.expect(200, 30017);
    assert!(
        refused.error().to_lowercase().contains("program")
            || refused.error().to_lowercase().contains("executable"),
        "{}",
        refused.error()
    );

    // A real PNG sent under a misleading name is stored and served as a PNG.
    let accepted = upload(&app, &alice, "notes.txt", PNG).await;
    accepted.expect(200, 200);
    let url = accepted.data()["url"].as_str().expect("url").to_owned();
    assert!(url.ends_with(".png"), "{url}");
    let served = app.client.get(app.url(&url)).send().await.expect("served");
    assert_eq!(served.headers()["content-type"], "image/png");
    let view = app.state.plugins.get("upload-guard").expect("listed");
    assert_eq!(
        (view.counters.rejects, view.counters.calls),
        (1, 2),
        "{view:?}"
    );
}

#[tokio::test]
async fn hostile_plugins_fail_alone_and_the_server_keeps_serving() {
    let (app, dir) = plugin_app(false).await;
    let counters = |name: &str| app.state.plugins.get(name).expect("listed").counters;
    let (_alice, _bob, mut a, mut b) = pair(&app).await;

    // A memory bomb fails closed: the message is refused with the plugin named.
    install_plugin(&dir, "memory-bomb", "memory-bomb");
    app.state.plugins.rescan().await;
    let refused = send(&mut a, "first").await;
    assert_eq!(refused["code"], 30013, "{refused}");
    assert!(
        refused["content"]
            .as_str()
            .unwrap_or_default()
            .contains("memory-bomb"),
        "{refused}"
    );
    assert_eq!(counters("memory-bomb").errors, 1);
    let verdicts = app.state.plugins.verdicts(10, Some("memory-bomb"));
    assert!(
        verdicts.iter().any(|v| v.detail.contains("out of memory")),
        "{verdicts:?}"
    );
    std::fs::remove_file(dir.join("memory-bomb.wasm")).expect("remove");
    std::fs::remove_file(dir.join("memory-bomb.toml")).expect("remove");
    until_plugin(&app, "memory-bomb", |v| v.is_none()).await;

    // An endless loop, a trap and a 4 MiB answer fail open: messages flow, unchanged.
    for name in ["spin-loop", "trap", "huge-output"] {
        install_plugin(&dir, name, name);
    }
    app.state.plugins.rescan().await;
    for i in 1..=3 {
        let text = format!("message {i}");
        assert_eq!(send(&mut a, &text).await["code"], 50004);
        assert_eq!(b.recv().await["content"], text.as_str());
        // Ordinary requests are served meanwhile.
        app.get("/user/ping", None, &[]).await.expect(200, 200);
    }
    assert_eq!(counters("spin-loop").timeouts, 3);
    assert_eq!(counters("trap").errors, 3);
    assert_eq!(counters("huge-output").errors, 3);

    // Three failures in a row quarantine each: skipped without being called.
    for name in ["spin-loop", "trap", "huge-output"] {
        let view = app.state.plugins.get(name).expect("listed");
        assert_eq!(view.state, "quarantined", "{view:?}");
    }
    let calls = counters("spin-loop").calls;
    assert_eq!(send(&mut a, "fourth").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "fourth");
    assert_eq!(
        counters("spin-loop").calls,
        calls,
        "a quarantined plugin is not called"
    );
    assert_eq!(counters("spin-loop").skipped, 1);
    let verdicts = app.state.plugins.verdicts(50, Some("spin-loop"));
    assert!(
        verdicts
            .iter()
            .any(|v| v.outcome == "failed" && v.detail.contains("deadline")),
        "{verdicts:?}"
    );

    // A reload lifts the quarantine.
    let view = app.state.plugins.reload("trap").await.expect("reloads");
    assert_eq!(view.state, "running");
}

#[tokio::test]
async fn a_hot_swap_under_a_steady_stream_loses_nothing_and_never_mixes_versions() {
    let (app, dir) = plugin_app(false).await;
    install_plugin(&dir, "stamp-v1", "stamp");
    app.state.plugins.rescan().await;
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    let receiver = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 300 {
            let frame = b.recv().await;
            got.push(frame["content"].as_str().expect("text").to_owned());
        }
        got
    });
    for i in 0..300 {
        if i == 100 {
            install_plugin(&dir, "stamp-v2", "stamp");
        }
        if i == 150 {
            // Make sure the swap happened by now, whatever the watcher's timing.
            until_plugin(&app, "stamp", |v| v.is_some_and(|v| v.version == "2.0.0")).await;
        }
        let ack = send(&mut a, &format!("m{i}")).await;
        assert_eq!(ack["code"], 50004, "{ack}");
    }
    let got = tokio::time::timeout(Duration::from_secs(30), receiver)
        .await
        .expect("all delivered")
        .expect("receiver");
    let mut seen_v2 = false;
    for (i, text) in got.iter().enumerate() {
        let v1 = format!("m{i} [v1]");
        let v2 = format!("m{i} [v2]");
        assert!(
            *text == v1 || *text == v2,
            "message {i} arrived as {text:?}"
        );
        if *text == v2 {
            seen_v2 = true;
        } else {
            assert!(!seen_v2, "message {i} went back to v1 after v2");
        }
    }
    assert!(got[0].ends_with("[v1]") && got[299].ends_with("[v2]"));
}

#[tokio::test]
async fn a_broken_plugin_file_leaves_the_old_version_running_and_says_why() {
    let (app, dir) = plugin_app(false).await;
    install_plugin(&dir, "stamp-v1", "stamp");
    app.state.plugins.rescan().await;
    let before = app.state.plugins.get("stamp").expect("listed");
    std::fs::write(dir.join("stamp.wasm"), b"\0asm\x0d\0\x01\0garbage").expect("write");
    let broken = until_plugin(&app, "stamp", |v| v.is_some_and(|v| v.error.is_some()))
        .await
        .expect("listed");
    assert_eq!(broken.state, "running");
    assert_eq!(
        broken.sha256, before.sha256,
        "the old version is still the one running"
    );
    assert!(
        broken
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("component"),
        "{broken:?}"
    );
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(send(&mut a, "still").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "still [v1]");

    // A manifest that does not parse is refused the same way.
    std::fs::write(dir.join("stamp.toml"), "name = [").expect("write");
    until_plugin(&app, "stamp", |v| {
        v.is_some_and(|v| v.error.as_deref().is_some_and(|e| e.contains("stamp.toml")))
    })
    .await;
    assert_eq!(send(&mut a, "again").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "again [v1]");

    // Removing both files unloads it.
    std::fs::remove_file(dir.join("stamp.toml")).expect("remove");
    std::fs::remove_file(dir.join("stamp.wasm")).expect("remove");
    until_plugin(&app, "stamp", |v| v.is_none()).await;
    assert_eq!(send(&mut a, "plain").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "plain");
}

#[tokio::test]
async fn a_plugin_built_against_an_older_interface_version_loads_and_acts() {
    let (app, dir) = plugin_app(false).await;
    let (wasm, _) = install_plugin(&dir, "old-abi", "old-abi");
    app.state.plugins.rescan().await;
    let view = app.state.plugins.get("old-abi").expect("listed");
    assert_eq!(view.state, "running", "{view:?}");
    let inspection = confab::plugins::inspect(std::fs::read(&wasm).expect("read"))
        .await
        .expect("inspects");
    assert_eq!(inspection.wit_version, "0.1.0");
    assert!(
        inspection
            .imports
            .iter()
            .any(|i| i == "confab:plugin/host@0.1.0"),
        "{inspection:?}"
    );
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(send(&mut a, "ping").await["code"], 50004);
    assert_eq!(b.recv().await["content"], "pong");
}

#[tokio::test]
async fn a_manifest_naming_a_hook_the_plugin_lacks_is_refused() {
    let (app, dir) = plugin_app(false).await;
    install_plugin(&dir, "stamp-v1", "stamp");
    set_config_line(
        &dir,
        "stamp",
        "hooks = [\"filter-message\"]",
        "hooks = [\"filter-message\", \"on-upload\"]",
    );
    app.state.plugins.rescan().await;
    let view = app.state.plugins.get("stamp").expect("listed");
    assert_eq!(view.state, "failed");
    assert!(
        view.error
            .as_deref()
            .unwrap_or_default()
            .contains("on-upload"),
        "{view:?}"
    );
}

#[tokio::test]
async fn the_minimal_example_plugin_works_as_its_readme_says() {
    let (app, dir) = plugin_app(false).await;
    let manifest = std::fs::read_to_string(confab_e2e::plugins::test_plugin("minimal-plugin").1)
        .expect("manifest");
    let name = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = "))
        .expect("name")
        .trim_matches('"')
        .to_owned();
    install_plugin(&dir, "minimal-plugin", &name);
    app.state.plugins.rescan().await;
    assert_eq!(
        app.state.plugins.get(&name).expect("listed").state,
        "running"
    );
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(send(&mut a, "/shrug fine").await["code"], 50004);
    let got = b.recv().await;
    assert!(
        got["content"]
            .as_str()
            .unwrap_or_default()
            .ends_with("¯\\_(ツ)_/¯"),
        "{got}"
    );
}

#[tokio::test]
async fn a_plugin_cannot_reach_files_the_environment_or_the_network() {
    let (app, dir) = plugin_app(false).await;
    install_plugin(&dir, "snoop", "snoop");
    app.state.plugins.rescan().await;
    let (_alice, _bob, mut a, mut b) = pair(&app).await;
    assert_eq!(send(&mut a, "look").await["code"], 50004);
    assert_eq!(
        b.recv().await["content"],
        "look | file: denied; dir: denied; env: 0; net: denied"
    );
}

#[tokio::test]
async fn upload_plugins_judge_avatars_too() {
    let (app, _dir) = plugin_app(true).await;
    let alice = app.user("alice").await;
    app.state
        .plugins
        .set_config("upload-guard", json!({"max_bytes": 16}))
        .await
        .expect("a smaller cap is accepted");
    let form = Form::new().part("avatar", Part::bytes(PNG.to_vec()).file_name("me.png"));
    let refused = app
        .send(
            app.request(Method::PUT, "/user/update", Some(&alice.access))
                .multipart(form),
        )
        .await;
    refused.expect(200, 30017);
    assert!(refused.error().contains("16"), "{}", refused.error());
    let me = app.get("/user/me", Some(&alice.access), &[]).await;
    let avatar = me.data()["Avatar"].as_str().unwrap_or_default().to_owned();
    assert!(
        !avatar.starts_with("/upload/personal/"),
        "the refused avatar was stored: {avatar}"
    );
}
