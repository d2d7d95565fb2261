//! Groups over HTTP: create, join, lists, members, roles, removal and bans, leaving, the
//! owner hand-off and who reads the history, with every error code.

use confab::groups::HistoryVisibility;
use confab_e2e::ws::Ws;
use confab_e2e::{spawn_app, spawn_with, TestApp, TestUser};
use reqwest::Method;
use serde_json::{json, Value};

async fn set_role(
    app: &TestApp,
    g: i64,
    by: &TestUser,
    target: i64,
    role: Value,
) -> confab_e2e::Reply {
    app.json(
        Method::POST,
        "/group/role",
        Some(&by.access),
        json!({ "group_id": g, "user_id": target, "role": role }),
    )
    .await
}

async fn remove(app: &TestApp, g: i64, by: &TestUser, target: i64) -> confab_e2e::Reply {
    app.json(
        Method::POST,
        "/group/remove",
        Some(&by.access),
        json!({ "group_id": g, "user_id": target }),
    )
    .await
}

async fn members(app: &TestApp, user: &TestUser, group: i64) -> Vec<(i64, i64)> {
    let reply = app
        .get(
            "/group/members",
            Some(&user.access),
            &[("group_id", &group.to_string())],
        )
        .await;
    reply.expect(200, 200);
    reply
        .data()
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            (
                m["ID"].as_i64().expect("ID"),
                m["role"].as_i64().expect("role"),
            )
        })
        .collect()
}

async fn owner_of(app: &TestApp, user: &TestUser, group: i64) -> Option<i64> {
    let joined = app.get("/group/joined", Some(&user.access), &[]).await;
    joined
        .data()
        .as_array()
        .expect("array")
        .iter()
        .find(|g| g["ID"] == group)
        .map(|g| g["group_owner"].as_i64().expect("owner"))
}

#[tokio::test]
async fn create_join_and_list_groups() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let reply = app
        .json(
            Method::POST,
            "/group/create",
            Some(&alice.access),
            json!({ "group_name": "debug", "desc": "用于测试的群" }),
        )
        .await;
    reply.expect(200, 200);
    let g = reply.data();
    for key in [
        "ID",
        "CreatedAt",
        "UpdatedAt",
        "DeletedAt",
        "group_name",
        "group_owner",
        "desc",
        "size",
    ] {
        assert!(g.get(key).is_some(), "{key} in {g}");
    }
    assert_eq!(g["group_name"], "debug");
    assert_eq!(g["desc"], "用于测试的群");
    assert_eq!(g["group_owner"], alice.id);
    assert_eq!(g["size"], 200);
    let first = g["ID"].as_i64().expect("id");

    // The upstream code's spellings, as a form with a string size.
    let second = app
        .form(
            Method::POST,
            "/group/create",
            Some(&alice.access),
            &[("name", "other"), ("description", "d"), ("size", "5")],
        )
        .await;
    second.expect(200, 200);
    assert_eq!(second.data()["size"], 5);
    let second = second.data()["ID"].as_i64().expect("id");

    app.join_group(&bob, first).await.expect(200, 200);
    app.join_group(&bob, first).await.expect(200, 30010);

    let mine = app.get("/group/mine", Some(&alice.access), &[]).await;
    let ids: Vec<_> = mine
        .data()
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["ID"].clone())
        .collect();
    assert_eq!(ids, vec![json!(first), json!(second)]);
    assert_eq!(
        app.get("/group/mine", Some(&bob.access), &[]).await.data(),
        &json!([])
    );
    let joined = app.get("/group/joined", Some(&bob.access), &[]).await;
    assert_eq!(joined.data().as_array().expect("array").len(), 1);
    assert_eq!(joined.data()[0]["member_count"], 2);

    let list = app
        .get(
            "/group/members",
            Some(&bob.access),
            &[("group_id", &first.to_string())],
        )
        .await;
    list.expect(200, 200);
    assert_eq!(list.data()[0]["UserName"], alice.name.as_str());
    assert_eq!(list.data()[0]["role"], 1);
    assert_eq!(list.data()[1]["ID"], bob.id);
    assert_eq!(list.data()[1]["role"], 0);
    assert!(list.data()[1]["JoinedAt"].as_str().is_some());
}

#[tokio::test]
async fn group_errors() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let g = app
        .create_group(&alice, json!({ "group_name": "tiny", "size": 2 }))
        .await;

    app.join_group(&bob, g).await.expect(200, 200);
    app.join_group(&carol, g).await.expect(200, 30008);
    app.join_group(&carol, 987_654).await.expect(200, 30009);
    app.json(
        Method::POST,
        "/group/join",
        Some(&carol.access),
        json!({ "group_id": "x1" }),
    )
    .await
    .expect(400, 400);
    app.json(Method::POST, "/group/join", Some(&carol.access), json!({}))
        .await
        .expect(400, 400);
    app.leave_group(&carol, g).await.expect(200, 30009);
    app.get(
        "/group/members",
        Some(&carol.access),
        &[("group_id", &g.to_string())],
    )
    .await
    .expect(200, 30009);

    for body in [
        json!({ "desc": "no name" }),
        json!({ "group_name": "   " }),
        json!({ "group_name": "x".repeat(65) }),
        json!({ "group_name": "ok", "desc": "d".repeat(101) }),
        json!({ "group_name": "ok", "size": 0 }),
        json!({ "group_name": "ok", "size": 100_000 }),
        json!({ "group_name": "ok", "size": "many" }),
        json!({ "group_name": { "nested": true } }),
    ] {
        let reply = app
            .json(
                Method::POST,
                "/group/create",
                Some(&alice.access),
                body.clone(),
            )
            .await;
        assert_eq!(
            (reply.http, reply.code()),
            (400, 400),
            "{body}: {}",
            reply.body
        );
    }
    app.json(
        Method::POST,
        "/group/create",
        None,
        json!({ "group_name": "x" }),
    )
    .await
    .expect(401, 30001);
}

#[tokio::test]
async fn roles_and_removal_follow_the_rules() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let second_admin = app.user("admin2").await;
    let member = app.user("member").await;
    let other = app.user("member2").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "roles" }))
        .await;
    for u in [&admin, &second_admin, &member, &other] {
        app.join_group(u, g).await.expect(200, 200);
    }
    set_role(&app, g, &owner, admin.id, json!(2))
        .await
        .expect(200, 200);
    set_role(&app, g, &owner, second_admin.id, json!("2"))
        .await
        .expect(200, 200);
    set_role(&app, g, &admin, member.id, json!(2))
        .await
        .expect(200, 30012);
    set_role(&app, g, &member, member.id, json!(2))
        .await
        .expect(200, 30012);
    set_role(&app, g, &owner, owner.id, json!(0))
        .await
        .expect(200, 30012);
    set_role(&app, g, &owner, admin.id, json!(1))
        .await
        .expect(400, 400);
    set_role(&app, g, &owner, admin.id, json!(7))
        .await
        .expect(400, 400);
    set_role(&app, g, &owner, 987_654, json!(2))
        .await
        .expect(200, 30009);

    remove(&app, g, &admin, owner.id).await.expect(200, 30012);
    remove(&app, g, &admin, second_admin.id)
        .await
        .expect(200, 30012);
    remove(&app, g, &member, other.id).await.expect(200, 30012);
    remove(&app, g, &admin, admin.id).await.expect(400, 400);
    remove(&app, g, &admin, member.id).await.expect(200, 200);
    remove(&app, g, &admin, member.id).await.expect(200, 30009);
    remove(&app, g, &owner, second_admin.id)
        .await
        .expect(200, 200);

    // Demoted, an admin loses the power to remove.
    set_role(&app, g, &owner, admin.id, json!(0))
        .await
        .expect(200, 200);
    remove(&app, g, &admin, other.id).await.expect(200, 30012);

    let now = members(&app, &owner, g).await;
    assert_eq!(now, vec![(owner.id, 1), (admin.id, 0), (other.id, 0)]);
    // A removed member no longer sees the group.
    app.get(
        "/group/members",
        Some(&member.access),
        &[("group_id", &g.to_string())],
    )
    .await
    .expect(200, 30009);
}

#[tokio::test]
async fn owner_hand_off_prefers_an_admin() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let early = app.user("early").await;
    let admin = app.user("admin").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "handoff" }))
        .await;
    app.join_group(&early, g).await.expect(200, 200);
    app.join_group(&admin, g).await.expect(200, 200);
    app.json(
        Method::POST,
        "/group/role",
        Some(&owner.access),
        json!({ "group_id": g, "user_id": admin.id, "role": 2 }),
    )
    .await
    .expect(200, 200);

    app.leave_group(&owner, g).await.expect(200, 200);
    assert_eq!(owner_of(&app, &admin, g).await, Some(admin.id));
    assert_eq!(
        members(&app, &admin, g).await,
        vec![(early.id, 0), (admin.id, 1)]
    );
    assert_eq!(
        app.get("/group/joined", Some(&owner.access), &[])
            .await
            .data(),
        &json!([])
    );
    let mine = app.get("/group/mine", Some(&admin.access), &[]).await;
    assert_eq!(mine.data()[0]["ID"], g);
}

#[tokio::test]
async fn owner_hand_off_without_admin_picks_the_earliest_member() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let first = app.user("first").await;
    let second = app.user("second").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "earliest" }))
        .await;
    app.join_group(&first, g).await.expect(200, 200);
    app.join_group(&second, g).await.expect(200, 200);
    app.leave_group(&owner, g).await.expect(200, 200);
    assert_eq!(owner_of(&app, &first, g).await, Some(first.id));
    assert_eq!(
        members(&app, &second, g).await,
        vec![(first.id, 1), (second.id, 0)]
    );
    // The group keeps its seat count right: the owner's seat is free again.
    let joined = app.get("/group/joined", Some(&second.access), &[]).await;
    assert_eq!(joined.data()[0]["member_count"], 2);
}

#[tokio::test]
async fn a_lone_owner_leaving_dissolves_the_group() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let late = app.user("late").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "alone" }))
        .await;
    app.leave_group(&owner, g).await.expect(200, 200);
    assert_eq!(
        app.get("/group/mine", Some(&owner.access), &[])
            .await
            .data(),
        &json!([])
    );
    app.join_group(&late, g).await.expect(200, 30009);
}

#[tokio::test]
async fn deleting_an_owner_hands_their_groups_off() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let heir = app.user("heir").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "inherit" }))
        .await;
    let solo = app
        .create_group(&owner, json!({ "group_name": "solo" }))
        .await;
    app.join_group(&heir, g).await.expect(200, 200);
    let other = app
        .create_group(&heir, json!({ "group_name": "heirs" }))
        .await;
    app.join_group(&owner, other).await.expect(200, 200);

    app.form(
        Method::DELETE,
        "/user/delete",
        Some(&owner.access),
        &[("username", &owner.name), ("password", &owner.password)],
    )
    .await
    .expect(200, 200);
    assert_eq!(owner_of(&app, &heir, g).await, Some(heir.id));
    assert_eq!(members(&app, &heir, g).await, vec![(heir.id, 1)]);
    assert_eq!(members(&app, &heir, other).await, vec![(heir.id, 1)]);
    app.join_group(&heir, solo).await.expect(200, 30009);
}

#[tokio::test]
async fn fifty_parallel_joins_fill_a_group_of_ten_exactly() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "race", "size": 10 }))
        .await;
    let mut users = Vec::new();
    for i in 0..50 {
        users.push(app.user(&format!("j{i}")).await);
    }
    let replies = futures::future::join_all(users.iter().map(|u| app.join_group(u, g))).await;
    let ok = replies.iter().filter(|r| r.code() == 200).count();
    let full = replies.iter().filter(|r| r.code() == 30008).count();
    assert_eq!((ok, full), (9, 41), "the owner holds the tenth seat");
    assert_eq!(members(&app, &owner, g).await.len(), 10);
}

async fn bans(app: &TestApp, by: &TestUser, group: i64) -> confab_e2e::Reply {
    app.get(
        "/group/bans",
        Some(&by.access),
        &[("group_id", &group.to_string())],
    )
    .await
}

async fn unban(app: &TestApp, by: &TestUser, group: i64, target: i64) -> confab_e2e::Reply {
    app.json(
        Method::POST,
        "/group/unban",
        Some(&by.access),
        json!({ "group_id": group, "user_id": target }),
    )
    .await
}

fn banned_ids(reply: &confab_e2e::Reply) -> Vec<i64> {
    reply.expect(200, 200);
    reply
        .data()
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["ID"].as_i64().expect("ID"))
        .collect()
}

#[tokio::test]
async fn a_removed_member_is_banned_until_the_ban_is_lifted() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let kicked = app.user("kicked").await;
    let plain = app.user("plain").await;
    let leaver = app.user("leaver").await;
    let g = app
        .create_group(&owner, json!({ "group_name": "bans" }))
        .await;
    for u in [&admin, &kicked, &plain, &leaver] {
        app.join_group(u, g).await.expect(200, 200);
    }
    set_role(&app, g, &owner, admin.id, json!(2))
        .await
        .expect(200, 200);

    remove(&app, g, &admin, kicked.id).await.expect(200, 200);
    // Every way back is closed, with a code that says why.
    let again = app.join_group(&kicked, g).await;
    again.expect(200, 30026);
    assert!(again.error().contains("ban"), "{}", again.body);
    let socket = app
        .ws(
            &format!("/chat/group_ws?group_id={g}"),
            Some(&kicked.access),
        )
        .await
        .err()
        .expect("no socket for a banned user");
    assert_eq!((socket.0, socket.1["status"].clone()), (403, json!(30009)));

    // The owner and admins see the ban; nobody else does.
    let listed = bans(&app, &owner, g).await;
    assert_eq!(banned_ids(&listed), vec![kicked.id]);
    let ban = &listed.data()[0];
    assert_eq!(ban["UserName"], kicked.name.as_str());
    assert_eq!(ban["banned_by"], admin.id);
    assert!(ban["BannedAt"].as_str().is_some(), "{ban}");
    assert_eq!(banned_ids(&bans(&app, &admin, g).await), vec![kicked.id]);
    bans(&app, &plain, g).await.expect(200, 30012);
    bans(&app, &kicked, g).await.expect(200, 30009);
    bans(&app, &owner, 987_654).await.expect(200, 30009);
    app.get("/group/bans", Some(&owner.access), &[])
        .await
        .expect(400, 400);
    app.get("/group/bans", None, &[("group_id", &g.to_string())])
        .await
        .expect(401, 30001);

    // A member who leaves on their own is not banned.
    app.leave_group(&leaver, g).await.expect(200, 200);
    app.join_group(&leaver, g).await.expect(200, 200);
    assert_eq!(banned_ids(&bans(&app, &owner, g).await), vec![kicked.id]);

    // Removed by the owner, an admin is banned too.
    remove(&app, g, &owner, admin.id).await.expect(200, 200);
    app.join_group(&admin, g).await.expect(200, 30026);
    assert_eq!(
        banned_ids(&bans(&app, &owner, g).await),
        vec![kicked.id, admin.id]
    );

    // Lifting: the owner or an admin only, and only an existing ban.
    unban(&app, &plain, g, kicked.id).await.expect(200, 30012);
    unban(&app, &kicked, g, kicked.id).await.expect(200, 30009);
    unban(&app, &owner, g, plain.id).await.expect(404, 30021);
    app.json(
        Method::POST,
        "/group/unban",
        Some(&owner.access),
        json!({ "group_id": g }),
    )
    .await
    .expect(400, 400);
    unban(&app, &owner, g, kicked.id).await.expect(200, 200);
    unban(&app, &owner, g, kicked.id).await.expect(404, 30021);
    assert_eq!(banned_ids(&bans(&app, &owner, g).await), vec![admin.id]);
    app.join_group(&kicked, g).await.expect(200, 200);
    // A new admin lifts the old one's ban.
    set_role(&app, g, &owner, plain.id, json!(2))
        .await
        .expect(200, 200);
    unban(&app, &plain, g, admin.id).await.expect(200, 200);
    app.join_group(&admin, g).await.expect(200, 200);
    assert_eq!(bans(&app, &owner, g).await.data(), &json!([]));
}

async fn group_socket(app: &TestApp, user: &TestUser, group: i64) -> Ws {
    app.ws(
        &format!("/chat/group_ws?group_id={group}"),
        Some(&user.access),
    )
    .await
    .expect("group upgrade")
}

/// Sends each text on `ws` and waits for its acknowledgement.
async fn say(ws: &mut Ws, texts: &[&str]) {
    for text in texts {
        ws.send(json!({ "content": text })).await;
        let (ack, _) = ws.until_code(50002).await;
        assert!(ack["id"].as_i64().is_some(), "{ack}");
    }
}

/// The contents of a type-2 history page, asked forwards from the beginning and backwards
/// from the newest message; both must agree.
async fn history(ws: &mut Ws) -> Vec<String> {
    ws.send(json!({ "type": 2, "content": "0" })).await;
    let (_, forwards) = ws.until_code(50003).await;
    ws.send(json!({ "type": 2, "before": 9_007_199_254_740_991_i64 }))
        .await;
    let (_, backwards) = ws.until_code(50003).await;
    let texts = |frames: Vec<Value>| -> Vec<String> {
        frames
            .iter()
            .map(|f| f["content"].as_str().expect("content").to_owned())
            .collect()
    };
    let (forwards, backwards) = (texts(forwards), texts(backwards));
    assert_eq!(
        forwards, backwards,
        "both directions show the same messages"
    );
    forwards
}

async fn set_visibility(
    app: &TestApp,
    by: &TestUser,
    group: i64,
    visibility: Value,
) -> confab_e2e::Reply {
    app.json(
        Method::POST,
        "/group/history_visibility",
        Some(&by.access),
        json!({ "group_id": group, "history_visibility": visibility }),
    )
    .await
}

async fn visibility_of(app: &TestApp, user: &TestUser, group: i64) -> Value {
    let joined = app.get("/group/joined", Some(&user.access), &[]).await;
    joined.expect(200, 200);
    joined
        .data()
        .as_array()
        .expect("array")
        .iter()
        .find(|g| g["ID"] == group)
        .map(|g| g["history_visibility"].clone())
        .expect("the group is listed")
}

#[tokio::test]
async fn with_joined_history_a_new_member_reads_from_their_join() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let reply = app
        .json(
            Method::POST,
            "/group/create",
            Some(&alice.access),
            json!({ "group_name": "private past" }),
        )
        .await;
    reply.expect(200, 200);
    assert_eq!(reply.data()["history_visibility"], "joined", "the default");
    let g = reply.data()["ID"].as_i64().expect("id");
    let mut a = group_socket(&app, &alice, g).await;
    say(&mut a, &["before 1", "before 2", "before 3"]).await;

    app.join_group(&bob, g).await.expect(200, 200);
    let mut b = group_socket(&app, &bob, g).await;
    assert_eq!(history(&mut b).await, Vec::<String>::new());
    say(&mut a, &["after 1"]).await;
    assert_eq!(b.recv().await["content"], "after 1");
    assert_eq!(history(&mut b).await, ["after 1"]);
    // The owner, there from the start, reads everything.
    assert_eq!(
        history(&mut a).await,
        ["before 1", "before 2", "before 3", "after 1"]
    );

    // Leaving and joining again starts from the new join.
    b.close().await;
    app.leave_group(&bob, g).await.expect(200, 200);
    say(&mut a, &["while away"]).await;
    app.join_group(&bob, g).await.expect(200, 200);
    let mut b = group_socket(&app, &bob, g).await;
    assert_eq!(history(&mut b).await, Vec::<String>::new());

    // Only the owner or an admin changes it, to one of the two values.
    set_visibility(&app, &bob, g, json!("all"))
        .await
        .expect(200, 30012);
    for bad in [json!("everything"), json!(""), json!(1)] {
        set_visibility(&app, &alice, g, bad).await.expect(400, 400);
    }
    set_visibility(&app, &alice, 987_654, json!("all"))
        .await
        .expect(200, 30009);
    set_role(&app, g, &alice, bob.id, json!(2))
        .await
        .expect(200, 200);
    set_visibility(&app, &bob, g, json!("all"))
        .await
        .expect(200, 200);
    assert_eq!(visibility_of(&app, &alice, g).await, "all");
    assert_eq!(
        history(&mut b).await,
        ["before 1", "before 2", "before 3", "after 1", "while away"]
    );
    set_visibility(&app, &alice, g, json!("joined"))
        .await
        .expect(200, 200);
    assert_eq!(history(&mut b).await, Vec::<String>::new());
}

#[tokio::test]
async fn with_all_history_by_configuration_a_new_member_reads_everything() {
    let app = spawn_with(|c| c.groups.history_visibility = HistoryVisibility::All).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app
        .create_group(&alice, json!({ "group_name": "open past" }))
        .await;
    assert_eq!(visibility_of(&app, &alice, g).await, "all");
    let mut a = group_socket(&app, &alice, g).await;
    say(&mut a, &["old 1", "old 2"]).await;
    app.join_group(&bob, g).await.expect(200, 200);
    let mut b = group_socket(&app, &bob, g).await;
    assert_eq!(history(&mut b).await, ["old 1", "old 2"]);
    // The group's own choice wins over the server's default.
    set_visibility(&app, &alice, g, json!("joined"))
        .await
        .expect(200, 200);
    assert_eq!(history(&mut b).await, Vec::<String>::new());
}
