//! The rest of the walk: the socket upgrades and the chat routes, the probes and pages, and
//! the operator's routes (plugins, moderation, audit, invites, backups).

use confab::plugins::bundled::BUNDLED;
use confab_e2e::plugins::test_plugin;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::json;

use super::frames::{connect, Frames, Socket};
use super::walk::Cast;
use super::{admin, Walk};

/// Messages the chat part sent.
pub(super) struct Said {
    /// A group message of alice's in the walk's group.
    pub(super) group_message: i64,
}

/// The upgrades, their refusals, a few messages, and the routes that read them.
pub(super) async fn chat(walk: &mut Walk<'_>, cast: &Cast) -> Said {
    let app = walk.app;
    let frames = Frames::load();
    let (a, b) = (&cast.alice, &cast.bob);
    let private = format!("/chat/ws?toUid={}", b.id);
    let mut to_bob = Socket::open(app, "alice→bob", &private, &a.access, &frames).await;
    walk.upgrade(&private, Ok(()));
    to_bob.code(50002).await;
    let unknown = "/chat/ws?toUid=987654321";
    let refused = connect(app, unknown, Some(&a.access), None).await.map(drop);
    assert_eq!(refused.as_ref().map_err(|r| r.0), Err(200));
    walk.upgrade(unknown, refused);
    let foreign = connect(app, &private, Some(&a.access), Some("https://evil.example")).await;
    let foreign = foreign.map(drop);
    assert_eq!(foreign.as_ref().map_err(|r| r.0), Err(403));
    walk.upgrade(&private, foreign);
    let anonymous = connect(app, &private, None, None).await.map(drop);
    walk.upgrade(&private, anonymous);

    let group = format!("/chat/group_ws?group_id={}", cast.group);
    let mut in_group = Socket::open(app, "alice@group", &group, &a.access, &frames).await;
    walk.upgrade(&group, Ok(()));
    let outsider = connect(app, &group, Some(&cast.dave.access), None)
        .await
        .map(drop);
    assert_eq!(outsider.as_ref().map_err(|r| r.0), Err(403));
    walk.upgrade(&group, outsider);
    let nameless = connect(app, "/chat/group_ws", Some(&a.access), None)
        .await
        .map(drop);
    walk.upgrade("/chat/group_ws", nameless);

    to_bob
        .send(json!({"type": 1, "content": "the harbour is calm"}))
        .await;
    to_bob.until("an ack", |f| f["id"].is_i64()).await;
    in_group
        .send(json!({"content": "harbour lights tonight"}))
        .await;
    let ack = in_group.code(50002).await;
    let group_message = ack["id"].as_i64().expect("an acknowledged id");
    let failures = frames.report().failures;
    assert!(failures.is_empty(), "{failures:#?}");

    let conversations = walk
        .req(Method::GET, "/chat/conversations", Some(&a.access))
        .query(&[("limit", "1")]);
    let conversations = walk.call(conversations).await;
    conversations.expect(200, 200);
    assert!(conversations.headers.contains_key("x-next-after"));
    let query = [("q", "harbour"), ("limit", "1")];
    let search = walk
        .req(Method::GET, "/chat/search", Some(&a.access))
        .query(&query);
    let search = walk.call(search).await;
    search.expect(200, 200);
    assert!(search.headers.contains_key("x-next-before"));
    let no_query = walk.req(Method::GET, "/chat/search", Some(&a.access));
    walk.call(no_query).await.expect(400, 400);
    let (g, id) = (cast.group.to_string(), group_message.to_string());
    let readers = walk
        .req(Method::GET, "/chat/readers", Some(&b.access))
        .query(&[("group_id", g.as_str()), ("id", id.as_str())]);
    walk.call(readers).await.expect(200, 200);
    let bad = walk
        .req(Method::GET, "/chat/readers", Some(&b.access))
        .query(&[("group_id", g.as_str()), ("id", "x")]);
    walk.call(bad).await.expect(400, 400);
    Said { group_message }
}

/// Probes, metrics, the pages and assets (with their 304s), and answers off the document.
pub(super) async fn web_and_probes(walk: &mut Walk<'_>) {
    for path in ["/healthz", "/readyz"] {
        assert_eq!(walk.call(walk.req(Method::GET, path, None)).await.http, 200);
    }
    let metrics = walk.req(Method::GET, "/metrics", Some(&admin()));
    assert_eq!(walk.call(metrics).await.http, 200);
    let metrics = walk.req(Method::GET, "/metrics", None);
    walk.call(metrics).await.expect(401, 30001);
    for path in [
        "/",
        "/admin",
        "/admin/",
        "/assets/style.css",
        "/assets/app.js",
    ] {
        let page = walk.call(walk.req(Method::GET, path, None)).await;
        assert_eq!(page.http, 200, "{path}");
        let etag = page.headers["etag"].to_str().expect("ascii").to_owned();
        let again = walk
            .req(Method::GET, path, None)
            .header("If-None-Match", etag);
        assert_eq!(walk.call(again).await.http, 304, "{path}");
    }
    let icon = walk.req(Method::GET, "/assets/favicon.svg", None);
    assert_eq!(walk.call(icon).await.http, 200);
    let missing = walk.req(Method::GET, "/assets/secrets.txt", None);
    walk.call(missing).await.expect(404, 30021);
    let nowhere = walk.req(Method::GET, "/no/such/route", None);
    walk.outside(nowhere).await.expect(404, 30021);
    let wrong_method = walk.req(Method::DELETE, "/user/ping", None);
    walk.outside(wrong_method).await.expect(405, 30022);
}

fn plugin_form(manifest: String, wasm: Vec<u8>) -> Form {
    Form::new()
        .part("manifest", Part::text(manifest))
        .part("wasm", Part::bytes(wasm).file_name("plugin.wasm"))
}

/// Installing, replacing, switching, configuring and removing plugins; their verdicts.
pub(super) async fn plugins(walk: &mut Walk<'_>, cast: &Cast) {
    let token = admin();
    let list = walk
        .call(walk.req(Method::GET, "/admin/plugins", Some(&token)))
        .await;
    list.expect(200, 200);
    let (wasm, manifest) = test_plugin("stamp-v1");
    let stamp = || {
        plugin_form(
            std::fs::read_to_string(&manifest).expect("stamp manifest"),
            std::fs::read(&wasm).expect("stamp component"),
        )
    };
    let install = walk
        .req(Method::POST, "/admin/plugins", Some(&token))
        .header("X-Operator", "ops")
        .multipart(stamp());
    walk.call(install).await.expect(200, 200);
    let filter = BUNDLED
        .iter()
        .find(|p| p.name == "word-filter")
        .expect("word-filter is bundled");
    let form = plugin_form(filter.manifest.to_owned(), filter.wasm.to_vec());
    let install = walk
        .req(Method::POST, "/admin/plugins", Some(&token))
        .multipart(form);
    walk.call(install).await.expect(200, 200);
    let replace = walk
        .req(Method::PUT, "/admin/plugins/stamp", Some(&token))
        .multipart(stamp());
    walk.call(replace).await.expect(200, 200);
    let show = walk.req(Method::GET, "/admin/plugins/stamp", Some(&token));
    walk.call(show).await.expect(200, 200);
    for action in ["disable", "enable", "reload"] {
        let path = format!("/admin/plugins/stamp/{action}");
        walk.call(walk.req(Method::POST, &path, Some(&token)))
            .await
            .expect(200, 200);
    }
    let config = "/admin/plugins/word-filter/config";
    walk.call(walk.req(Method::GET, config, Some(&token)))
        .await
        .expect(200, 200);
    let set = json!({"words": ["spam"], "mode": "mask"});
    let put = walk.req(Method::PUT, config, Some(&token)).json(&set);
    walk.call(put).await.expect(200, 200);
    let odd = walk
        .req(Method::PUT, config, Some(&token))
        .json(&json!({"colour": 1}));
    walk.call(odd).await.expect(400, 400);
    let nope = walk.req(Method::GET, "/admin/plugins/nope", Some(&token));
    walk.call(nope).await.expect(404, 30021);
    let anonymous = walk.req(Method::GET, "/admin/plugins", None);
    walk.call(anonymous).await.expect(401, 30001);

    // A rewritten message leaves a verdict per plugin.
    let frames = Frames::load();
    let path = format!("/chat/ws?toUid={}", cast.bob.id);
    let mut socket = Socket::open(walk.app, "alice→bob", &path, &cast.alice.access, &frames).await;
    for text in ["no spam here", "more spam"] {
        socket.send(json!({"type": 1, "content": text})).await;
        socket.until("an ack", |f| f["id"].is_i64()).await;
    }
    let failures = frames.report().failures;
    assert!(failures.is_empty(), "{failures:#?}");
    let verdicts = walk
        .req(Method::GET, "/admin/verdicts", Some(&token))
        .query(&[("limit", "1")]);
    let verdicts = walk.call(verdicts).await;
    verdicts.expect(200, 200);
    assert!(
        verdicts.headers.contains_key("x-next-after"),
        "{:?}",
        verdicts.body
    );
    let remove = walk.req(Method::DELETE, "/admin/plugins/stamp", Some(&token));
    walk.call(remove).await.expect(200, 200);
}

/// Users, groups, messages, the audit log, invites and a backup.
pub(super) async fn moderation(walk: &mut Walk<'_>, cast: &Cast, said: &Said) {
    let token = admin();
    let users = walk
        .req(Method::GET, "/admin/users", Some(&token))
        .query(&[("limit", "1")]);
    let users = walk.call(users).await;
    users.expect(200, 200);
    assert!(users.headers.contains_key("x-next-after"));
    let alice = format!("/admin/users/{}", cast.alice.id);
    walk.call(walk.req(Method::GET, &alice, Some(&token)))
        .await
        .expect(200, 200);
    let reason = json!({"reason": "contract walk"});
    for action in ["ban", "unban"] {
        let path = format!("/admin/users/{}/{action}", cast.dave.id);
        let request = walk.req(Method::POST, &path, Some(&token)).json(&reason);
        walk.call(request).await.expect(200, 200);
    }
    let erin = format!("/admin/users/{}", cast.erin.id);
    let request = walk.req(Method::DELETE, &erin, Some(&token)).json(&reason);
    walk.call(request).await.expect(200, 200);
    let gone = walk.req(Method::GET, &erin, Some(&token));
    walk.call(gone).await.expect(404, 30021);
    let not_an_id = walk.req(Method::GET, "/admin/users/abc", Some(&token));
    walk.call(not_an_id).await.expect(400, 400);

    let group = format!("/admin/groups/{}", cast.spare);
    walk.call(walk.req(Method::DELETE, &group, Some(&token)))
        .await
        .expect(200, 200);
    let message = format!("/admin/messages/{}", said.group_message);
    walk.call(walk.req(Method::DELETE, &message, Some(&token)))
        .await
        .expect(200, 200);
    let audit = walk
        .req(Method::GET, "/admin/audit", Some(&token))
        .query(&[("limit", "1")]);
    let audit = walk.call(audit).await;
    audit.expect(200, 200);
    assert!(audit.headers.contains_key("x-next-before"));
    let invites = walk
        .req(Method::POST, "/admin/invites", Some(&token))
        .json(&json!({"count": 2}));
    let invites = walk.call(invites).await;
    assert_eq!(invites.data().as_array().map(Vec::len), Some(2));
    let backup = walk.req(Method::POST, "/admin/backup", Some(&token));
    walk.call(backup).await.expect(200, 200);
}
