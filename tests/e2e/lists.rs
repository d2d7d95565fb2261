//! Group members, group bans and plugin verdicts in pages: `limit` and `after` in, the
//! next cursor in `X-Next-After`; without either, the whole list as before.

use confab_e2e::plugins::test_plugin;
use confab_e2e::{spawn_app, spawn_with, Reply, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::json;

fn ids(reply: &Reply) -> Vec<i64> {
    reply
        .data()
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["ID"].as_i64().expect("ID"))
        .collect()
}

fn next(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get("x-next-after")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

/// Walks `path` page by page, `limit` at a time; every id in order and the page sizes.
async fn walk(
    app: &TestApp,
    path: &str,
    user: &TestUser,
    base: &[(&str, &str)],
    limit: usize,
) -> (Vec<Reply>, Vec<usize>) {
    let mut pages = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    let limit = limit.to_string();
    for _ in 0..20 {
        let mut query = base.to_vec();
        query.push(("limit", &limit));
        if let Some(after) = after.as_deref() {
            query.push(("after", after));
        }
        let page = app.get(path, Some(&user.access), &query).await;
        page.expect(200, 200);
        sizes.push(page.data().as_array().expect("array").len());
        after = next(&page);
        pages.push(page);
        if after.is_none() {
            return (pages, sizes);
        }
    }
    panic!("more pages than entries");
}

/// Bad paging parameters are a 400 that names the parameter.
async fn assert_bad_paging(app: &TestApp, path: &str, user: &TestUser, base: &[(&str, &str)]) {
    for (name, value) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "two"),
        ("after", "-1"),
        ("after", "x"),
    ] {
        let mut query = base.to_vec();
        query.push((name, value));
        let reply = app.get(path, Some(&user.access), &query).await;
        reply.expect(400, 400);
        assert!(
            reply.error().contains(name),
            "{path} {name}={value}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn members_and_bans_come_whole_or_in_pages() {
    let app = spawn_app().await;
    let owner = app.user("lead").await;
    let group = app
        .create_group(&owner, json!({ "group_name": "pages" }))
        .await;
    let g = group.to_string();
    let mut joined = vec![owner.id];
    let mut members = Vec::new();
    for _ in 0..5 {
        let user = app.user("crowd").await;
        app.join_group(&user, group).await.expect(200, 200);
        joined.push(user.id);
        members.push(user);
    }
    let base = [("group_id", g.as_str())];

    // Without paging: everyone, earliest-joined first, no cursor (the answer as before).
    let whole = app.get("/group/members", Some(&owner.access), &base).await;
    whole.expect(200, 200);
    assert_eq!(ids(&whole), joined);
    assert_eq!(next(&whole), None);
    assert_eq!(whole.data()[0]["role"], 1);

    // In pages of two, by user id: 2 + 2 + 2, each naming where the next starts.
    let (pages, sizes) = walk(&app, "/group/members", &members[0], &base, 2).await;
    assert_eq!(sizes, [2, 2, 2]);
    let paged: Vec<i64> = pages.iter().flat_map(ids).collect();
    let mut by_id = joined.clone();
    by_id.sort_unstable();
    assert_eq!(paged, by_id);
    assert_eq!(next(&pages[0]), Some(paged[1].to_string()));
    assert!(pages[0].data()[0]["UserName"].is_string());
    // The cursor of someone who has left still works: it is an id, not a position.
    let after = paged[1].to_string();
    let leaver = &members[0];
    assert_eq!(leaver.id, paged[1]);
    app.leave_group(leaver, group).await.expect(200, 200);
    let rest = app
        .get(
            "/group/members",
            Some(&owner.access),
            &[("group_id", &g), ("after", &after)],
        )
        .await;
    rest.expect(200, 200);
    assert_eq!(ids(&rest), paged[2..]);
    assert_bad_paging(&app, "/group/members", &owner, &base).await;
    // Paging changes nothing about who may look.
    let stranger = app.user("outside").await;
    app.get(
        "/group/members",
        Some(&stranger.access),
        &[("group_id", &g), ("limit", "2")],
    )
    .await
    .expect(200, 30009);

    // Bans: the owner removes three members, who are banned.
    let banned: Vec<i64> = members
        .iter()
        .filter(|m| m.id != leaver.id)
        .take(3)
        .map(|m| m.id)
        .collect();
    for target in &banned {
        app.json(
            Method::POST,
            "/group/remove",
            Some(&owner.access),
            json!({ "group_id": group, "user_id": target }),
        )
        .await
        .expect(200, 200);
    }
    let bans = app.get("/group/bans", Some(&owner.access), &base).await;
    bans.expect(200, 200);
    assert_eq!(ids(&bans), banned);
    assert_eq!(next(&bans), None);
    let (pages, sizes) = walk(&app, "/group/bans", &owner, &base, 2).await;
    assert_eq!(sizes, [2, 1]);
    let mut sorted = banned.clone();
    sorted.sort_unstable();
    assert_eq!(pages.iter().flat_map(ids).collect::<Vec<_>>(), sorted);
    assert_bad_paging(&app, "/group/bans", &owner, &base).await;
    // A plain member still may not list bans, paged or not.
    let plain = members
        .iter()
        .find(|m| m.id != leaver.id && !banned.contains(&m.id))
        .expect("one plain member left");
    app.get(
        "/group/bans",
        Some(&plain.access),
        &[("group_id", &g), ("limit", "1")],
    )
    .await
    .expect(200, 30012);

    // The seed's lists refuse bad cursors the same way.
    for path in ["/friend/list", "/group/mine", "/group/joined"] {
        assert_bad_paging(&app, path, &owner, &[]).await;
    }
}

const TOKEN: &str = "admin-token-for-the-list-tests-8d1e";

#[tokio::test]
async fn verdicts_come_newest_first_in_pages() {
    let app = spawn_with(|c| {
        c.admin.token = TOKEN.to_owned();
        c.plugins.enabled = true;
        c.plugins.install_bundled = false;
        c.plugins.watch = false;
        c.plugins.dir = c.server.data_dir.join("plugins");
        // A busy test machine must not turn a slow scheduler into plugin timeouts.
        c.plugins.deadline_ms = 200;
    })
    .await;
    let admin = format!("Bearer {TOKEN}");
    let (wasm, manifest) = test_plugin("stamp-v1");
    let form = Form::new()
        .part(
            "manifest",
            Part::text(std::fs::read_to_string(manifest).expect("stamp manifest")),
        )
        .part(
            "wasm",
            Part::bytes(std::fs::read(wasm).expect("stamp component")).file_name("stamp.wasm"),
        );
    app.send(
        app.request(Method::POST, "/admin/plugins", Some(&admin))
            .multipart(form),
    )
    .await
    .expect(200, 200);

    // Five messages, five rewrites.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = app
        .ws(&format!("/chat/ws?toUid={}", bob.id), Some(&alice.access))
        .await
        .expect("upgrade");
    assert_eq!(a.recv().await["code"], 50002, "welcome");
    for i in 0..5 {
        a.send(json!({"type": 1, "content": format!("message {i}")}))
            .await;
        // Bob is offline: the message is stored for him.
        assert_eq!(a.recv().await["code"], 50005, "ack");
    }

    let verdicts = |query: String| {
        let request = app.request(
            Method::GET,
            &format!("/admin/verdicts{query}"),
            Some(&admin),
        );
        app.send(request)
    };
    let subjects = |reply: &Reply| -> Vec<String> {
        reply
            .data()
            .as_array()
            .expect("list")
            .iter()
            .map(|v| v["subject"].as_str().expect("subject").to_owned())
            .collect()
    };
    let all = verdicts(String::new()).await;
    all.expect(200, 200);
    assert_eq!(subjects(&all)[0], "message 4");
    assert_eq!(subjects(&all).len(), 5);
    assert_eq!(next(&all), None);

    let first = verdicts("?limit=2".to_owned()).await;
    first.expect(200, 200);
    assert_eq!(subjects(&first), ["message 4", "message 3"]);
    let cursor = next(&first).expect("more remain");
    let second = verdicts(format!("?limit=2&after={cursor}")).await;
    assert_eq!(subjects(&second), ["message 2", "message 1"]);
    let cursor = next(&second).expect("one more");
    let last = verdicts(format!("?limit=2&after={cursor}&plugin=stamp")).await;
    assert_eq!(subjects(&last), ["message 0"]);
    assert_eq!(next(&last), None);
    for bad in ["?limit=501", "?after=-1", "?after=soon"] {
        verdicts(bad.to_owned()).await.expect(400, 400);
    }
}
