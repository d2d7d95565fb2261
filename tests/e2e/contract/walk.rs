//! The users' part of the walk: accounts and tokens, friends, groups, blocks and mutes,
//! files, and leaving.

use confab_e2e::{suffix, Reply, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

use super::Walk;

const PASSWORD: &str = "correct horse battery";
/// A 1×1 PNG header: enough for an avatar.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// The users of the walk and the groups they made.
pub(super) struct Cast {
    pub(super) alice: TestUser,
    pub(super) bob: TestUser,
    pub(super) carol: TestUser,
    pub(super) dave: TestUser,
    /// Deleted by the operator.
    pub(super) erin: TestUser,
    /// Deletes themself with POST, and gina with DELETE.
    frank: TestUser,
    gina: TestUser,
    /// Alice's group: bob (admin), dave and carol belong to it at times.
    pub(super) group: i64,
    /// Bob's group, dissolved by the operator.
    pub(super) spare: i64,
}

/// Registers (JSON, query or form, as clients do) and signs in `prefix`_….
async fn enrol(walk: &mut Walk<'_>, prefix: &str, how: usize) -> TestUser {
    let name = format!("{prefix}_{}", suffix());
    let credentials = [("username", name.as_str()), ("password", PASSWORD)];
    let register = match how {
        0 => walk.req(Method::POST, "/user/register", None).json(&json!({
            "username": name, "password": PASSWORD
        })),
        1 => walk
            .req(Method::GET, "/user/register", None)
            .query(&credentials),
        _ => walk
            .req(Method::POST, "/user/register", None)
            .form(&credentials),
    };
    walk.call(register).await.expect(200, 200);
    let login = match how {
        1 => walk
            .req(Method::POST, "/user/login", None)
            .json(&json!({"username": name, "password": PASSWORD})),
        _ => walk
            .req(Method::GET, "/user/login", None)
            .query(&credentials),
    };
    let login = walk.call(login).await;
    login.expect(200, 200);
    let access = login.data()["aToken"].as_str().expect("aToken").to_owned();
    let refresh = login.data()["rToken"].as_str().expect("rToken").to_owned();
    let me = walk
        .call(walk.req(Method::GET, "/user/me", Some(&access)))
        .await;
    me.expect(200, 200);
    TestUser {
        id: me.data()["ID"].as_i64().expect("ID"),
        name,
        password: PASSWORD.to_owned(),
        access,
        refresh,
    }
}

/// Registration, sign-in, refresh, profile, find and update, with their refusals.
pub(super) async fn accounts(walk: &mut Walk<'_>) -> Cast {
    walk.call(walk.req(Method::GET, "/user/ping", None)).await;
    let mut alice = enrol(walk, "alice", 0).await;
    let bob = enrol(walk, "bob", 1).await;
    let carol = enrol(walk, "carol", 2).await;
    let dave = enrol(walk, "dave", 0).await;
    let erin = enrol(walk, "erin", 2).await;
    let frank = enrol(walk, "frank", 0).await;
    let gina = enrol(walk, "gina", 1).await;

    // Refusals: a taken name, a wrong password, no token, a bad token, a bad parameter.
    let taken = walk.req(Method::POST, "/user/register", None).json(&json!({
        "username": alice.name, "password": PASSWORD
    }));
    assert_ne!(walk.call(taken).await.code(), 200);
    let wrong = walk.req(Method::GET, "/user/login", None).query(&[
        ("username", alice.name.as_str()),
        ("password", "wrong horse"),
    ]);
    assert_ne!(walk.call(wrong).await.code(), 200);
    let bare = walk.call(walk.req(Method::GET, "/user/me", None)).await;
    bare.expect(401, 30001);
    let junk = walk.req(Method::GET, "/user/me", Some("Bearer junk"));
    walk.call(junk).await.expect(401, 30002);
    let unnamed = walk.req(Method::POST, "/user/login", None).json(&json!({}));
    walk.call(unnamed).await.expect(400, 400);

    let refresh = walk
        .req(Method::POST, "/user/refresh", None)
        .form(&[("rToken", alice.refresh.as_str())]);
    let refreshed = walk.call(refresh).await;
    refreshed.expect(200, 200);
    alice.access = refreshed.data()["aToken"]
        .as_str()
        .expect("aToken")
        .to_owned();
    alice.refresh = refreshed.data()["rToken"]
        .as_str()
        .expect("rToken")
        .to_owned();

    let by_name = walk
        .req(Method::GET, "/user/find", Some(&bob.access))
        .query(&[("info", alice.name.as_str())]);
    walk.call(by_name).await.expect(200, 200);
    let by_id = walk
        .req(Method::POST, "/user/find", Some(&bob.access))
        .json(&json!({"info": alice.id.to_string()}));
    walk.call(by_id).await.expect(200, 200);
    let nobody = walk
        .req(Method::GET, "/user/find", Some(&bob.access))
        .query(&[("info", "nobody-at-all-here")]);
    assert_ne!(walk.call(nobody).await.code(), 200);

    let address = format!("{}@example.com", alice.name);
    let check = walk
        .req(Method::POST, "/user/emailCheck", Some(&alice.access))
        .query(&[("email", address.as_str())]);
    walk.call(check).await.expect(200, 200);
    let code = walk.app.mailed_code(&address).expect("a mailed code");
    let update = |walk: &Walk<'_>, method: Method, form: Form| {
        walk.req(method, "/user/update", Some(&alice.access))
            .multipart(form)
    };
    let wrong_code = Form::new()
        .text("email", address.clone())
        .text("verification_code", "000000");
    assert_ne!(
        walk.call(update(walk, Method::PUT, wrong_code))
            .await
            .code(),
        200
    );
    let verified = Form::new()
        .text("email", address.clone())
        .text("verification_code", code)
        .text("phone", "+86 138-0013-8000");
    let done = walk.call(update(walk, Method::PUT, verified)).await;
    done.expect(200, 200);
    assert!(done.data().is_null());
    let avatar = Form::new().part("avatar", Part::bytes(PNG.to_vec()).file_name("me.png"));
    let url = walk.call(update(walk, Method::POST, avatar)).await;
    url.expect(200, 200);
    assert!(url.data().is_string(), "{}", url.body);
    let me = walk
        .call(walk.req(Method::GET, "/user/me", Some(&alice.access)))
        .await;
    assert_eq!(me.data()["Phone"], "+8613800138000");

    Cast {
        alice,
        bob,
        carol,
        dave,
        erin,
        frank,
        gina,
        group: 0,
        spare: 0,
    }
}

/// POSTs `body` as the holder of `token`.
async fn post(walk: &mut Walk<'_>, path: &str, token: &str, body: Value) -> Reply {
    walk.call(walk.req(Method::POST, path, Some(token)).json(&body))
        .await
}

/// POSTs `body` as the holder of `token`, expecting success.
async fn ok(walk: &mut Walk<'_>, path: &str, token: &str, body: Value) -> Reply {
    let reply = post(walk, path, token, body).await;
    reply.expect(200, 200);
    reply
}

/// GETs `path` with `query` as the holder of `token`, expecting success.
async fn list(walk: &mut Walk<'_>, path: &str, token: &str, query: &[(&str, &str)]) -> Reply {
    let reply = walk
        .call(walk.req(Method::GET, path, Some(token)).query(query))
        .await;
    reply.expect(200, 200);
    reply
}

/// Friends, groups, blocks and mutes.
pub(super) async fn social(walk: &mut Walk<'_>, cast: &mut Cast) {
    let (a, b) = (cast.alice.access.clone(), cast.bob.access.clone());
    for friend in [&cast.bob, &cast.carol, &cast.dave] {
        ok(walk, "/friend/add", &a, json!({"target_id": friend.id})).await;
    }
    // A domain refusal answers HTTP 200 with its code; a bad parameter is a 400.
    let again = post(walk, "/friend/add", &a, json!({"target_id": cast.bob.id})).await;
    again.expect(200, 30023);
    let bad = post(walk, "/friend/add", &a, json!({"target_id": "abc"})).await;
    bad.expect(400, 400);
    for path in ["/friend/list", "/friend/presence"] {
        let page = list(walk, path, &a, &[("limit", "1")]).await;
        assert!(page.headers.contains_key("x-next-after"), "{path}");
    }
    ok(
        walk,
        "/friend/delete",
        &a,
        json!({"target_id": cast.carol.id}),
    )
    .await;
    let unfriend = walk
        .req(Method::DELETE, "/friend/delete", Some(&a))
        .query(&[("target_id", cast.dave.id.to_string())]);
    walk.call(unfriend).await.expect(200, 200);

    let created = ok(walk, "/group/create", &a, json!({"group_name": "harbour"})).await;
    cast.group = created.data()["ID"].as_i64().expect("group id");
    let spare = ok(walk, "/group/create", &a, json!({"group_name": "spare"})).await;
    cast.spare = spare.data()["ID"].as_i64().expect("group id");
    let (g, group) = (cast.group, cast.group.to_string());
    for member in [&cast.bob, &cast.carol, &cast.dave] {
        ok(walk, "/group/join", &member.access, json!({"group_id": g})).await;
    }
    let twice = post(walk, "/group/join", &b, json!({"group_id": g})).await;
    twice.expect(200, 30010);
    let paged = [("group_id", group.as_str()), ("limit", "1")];
    for (path, token) in [("/group/mine", &a), ("/group/joined", &a)] {
        let page = list(walk, path, token, &paged).await;
        assert!(page.headers.contains_key("x-next-after"), "{path}");
    }
    list(walk, "/group/members", &a, &paged).await;
    let not_a_number = walk
        .req(Method::GET, "/group/members", Some(&a))
        .query(&[("group_id", "abc")]);
    walk.call(not_a_number).await.expect(400, 400);

    let role = json!({"group_id": g, "user_id": cast.bob.id, "role": 2});
    ok(walk, "/group/role", &a, role).await;
    let (carol, dave) = (cast.carol.id, cast.dave.id);
    for user in [carol, dave] {
        ok(
            walk,
            "/group/remove",
            &a,
            json!({"group_id": g, "user_id": user}),
        )
        .await;
    }
    let bans = list(walk, "/group/bans", &a, &paged).await;
    assert!(bans.headers.contains_key("x-next-after"));
    for user in [carol, dave] {
        ok(
            walk,
            "/group/unban",
            &a,
            json!({"group_id": g, "user_id": user}),
        )
        .await;
    }
    ok(
        walk,
        "/group/join",
        &cast.dave.access,
        json!({"group_id": g}),
    )
    .await;
    let visibility = json!({"group_id": g, "history_visibility": "all"});
    ok(walk, "/group/history_visibility", &a, visibility).await;

    // Bob, an admin, mutes dave; a plain member may not mute.
    let mute = json!({"group_id": g, "user_id": dave, "seconds": 60});
    ok(walk, "/group/mute", &b, mute).await;
    let mute = json!({"group_id": g, "user_id": cast.bob.id, "seconds": 60});
    let refused = post(walk, "/group/mute", &cast.dave.access, mute).await;
    assert_ne!(refused.code(), 200);
    list(walk, "/group/mutes", &b, &[("group_id", group.as_str())]).await;
    ok(
        walk,
        "/group/unmute",
        &b,
        json!({"group_id": g, "user_id": dave}),
    )
    .await;
    ok(walk, "/group/mute_all", &b, json!({"group_id": g})).await;
    ok(walk, "/group/unmute_all", &b, json!({"group_id": g})).await;

    ok(walk, "/user/block", &a, json!({"user_id": dave})).await;
    let blocks = list(walk, "/user/blocks", &a, &[]).await;
    assert_eq!(blocks.data().as_array().map(Vec::len), Some(1));
    ok(walk, "/user/unblock", &a, json!({"user_id": dave})).await;

    // Dave leaves with POST; carol joins again and leaves with DELETE.
    ok(
        walk,
        "/group/delete",
        &cast.dave.access,
        json!({"group_id": g}),
    )
    .await;
    ok(
        walk,
        "/group/join",
        &cast.carol.access,
        json!({"group_id": g}),
    )
    .await;
    let leave = walk
        .req(Method::DELETE, "/group/delete", Some(&cast.carol.access))
        .query(&[("group_id", group.as_str())]);
    walk.call(leave).await.expect(200, 200);
}

/// A file uploaded and fetched whole, in part, and conditionally.
pub(super) async fn files(walk: &mut Walk<'_>, cast: &Cast) {
    let text = b"the harbour is calm tonight".to_vec();
    let form = Form::new().part("file", Part::bytes(text.clone()).file_name("note.txt"));
    let upload = walk
        .req(Method::POST, "/user/upload", Some(&cast.alice.access))
        .multipart(form);
    let uploaded = walk.call(upload).await;
    uploaded.expect(200, 200);
    let url = uploaded.data()["url"].as_str().expect("url").to_owned();
    let empty = walk
        .req(Method::POST, "/user/upload", Some(&cast.alice.access))
        .multipart(Form::new().text("nothing", "here"));
    walk.call(empty).await.expect(400, 400);

    let whole = walk.call(walk.req(Method::GET, &url, None)).await;
    assert_eq!((whole.http, whole.bytes.clone()), (200, text.clone()));
    let etag = whole.headers["etag"].to_str().expect("ascii").to_owned();
    let part = walk
        .req(Method::GET, &url, None)
        .header("Range", "bytes=4-10");
    let part = walk.call(part).await;
    assert_eq!((part.http, part.bytes.as_slice()), (206, &text[4..=10]));
    let same = walk
        .req(Method::GET, &url, None)
        .header("If-None-Match", &etag);
    assert_eq!(walk.call(same).await.http, 304);
    let changed = walk
        .req(Method::GET, &url, None)
        .header("If-Match", "\"other\"");
    assert_eq!(walk.call(changed).await.http, 412);
    let beyond = walk
        .req(Method::GET, &url, None)
        .header("Range", "bytes=5000-");
    assert_eq!(walk.call(beyond).await.http, 416);
    let missing = walk.req(Method::GET, "/upload/data/missing.txt", None);
    assert_eq!(walk.call(missing).await.http, 404);
}

/// Signing out and deleting accounts, last.
pub(super) async fn farewells(walk: &mut Walk<'_>, cast: &Cast) {
    let logout = walk.req(Method::POST, "/user/logout", Some(&cast.carol.access));
    walk.call(logout).await.expect(200, 200);
    let after = walk.req(Method::GET, "/user/me", Some(&cast.carol.access));
    walk.call(after).await.expect(401, 30002);
    let credentials = |user: &TestUser| json!({"username": user.name, "password": user.password});
    let delete = walk
        .req(Method::POST, "/user/delete", Some(&cast.frank.access))
        .json(&credentials(&cast.frank));
    walk.call(delete).await.expect(200, 200);
    let delete = walk
        .req(Method::DELETE, "/user/delete", Some(&cast.gina.access))
        .query(&[
            ("username", cast.gina.name.as_str()),
            ("password", cast.gina.password.as_str()),
        ]);
    walk.call(delete).await.expect(200, 200);
}
