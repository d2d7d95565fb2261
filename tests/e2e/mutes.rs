//! Group mutes through real HTTP and WebSockets: who may mute whom, what a muted member is
//! told, a mute that ends by itself, the whole group muted but its owner and admins, the
//! cap, and every bad input.

use confab_e2e::{spawn_app, Reply, TestApp, TestUser};
use serde_json::{json, Value};

use crate::blocks::{history, open, post, say};

async fn mute(app: &TestApp, by: &TestUser, body: Value) -> Reply {
    post(app, "/group/mute", by, body).await
}

async fn mutes(app: &TestApp, by: &TestUser, group: i64) -> Reply {
    app.get(
        "/group/mutes",
        Some(&by.access),
        &[("group_id", &group.to_string())],
    )
    .await
}

#[tokio::test]
async fn mutes_silence_members_until_lifted_or_ended() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let m1 = app.user("first").await;
    let m2 = app.user("second").await;
    let outsider = app.user("outsider").await;
    let g = app
        .create_group(&owner, json!({"group_name": "quiet"}))
        .await;
    for user in [&admin, &m1, &m2] {
        app.join_group(user, g).await.expect(200, 200);
    }
    post(
        &app,
        "/group/role",
        &owner,
        json!({"group_id": g, "user_id": admin.id, "role": 2}),
    )
    .await
    .expect(200, 200);
    let path = format!("/chat/group_ws?group_id={g}");
    let mut o = open(&app, &owner, &path).await;
    let mut a = open(&app, &admin, &path).await;
    let mut s1 = open(&app, &m1, &path).await;
    let mut s2 = open(&app, &m2, &path).await;

    // Bad input and the rules of who mutes whom.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let secs =
        |user: i64, seconds: Value| json!({"group_id": g, "user_id": user, "seconds": seconds});
    let cases = [
        (&m1, secs(m2.id, json!(60)), 200, 30012),
        (&admin, secs(owner.id, json!(60)), 200, 30012),
        (&owner, secs(owner.id, json!(60)), 400, 400),
        (&owner, secs(outsider.id, json!(60)), 200, 30009),
        (&outsider, secs(m1.id, json!(60)), 200, 30009),
        (&owner, secs(m1.id, json!(0)), 400, 400),
        (&owner, secs(m1.id, json!(2_592_001)), 400, 400),
        (&owner, secs(m1.id, json!("soon")), 400, 400),
        (&owner, secs(m1.id, Value::Null), 400, 400),
        (
            &owner,
            json!({"group_id": 99_999_999, "user_id": m1.id, "seconds": 60}),
            200,
            30009,
        ),
        (
            &owner,
            json!({"group_id": g, "user_id": m1.id, "seconds": 5, "until": now + 5}),
            400,
            400,
        ),
        (
            &owner,
            json!({"group_id": g, "user_id": m1.id, "until": now - 5}),
            400,
            400,
        ),
        (&owner, json!({"group_id": g, "seconds": 5}), 400, 400),
    ];
    for (by, body, http, code) in cases {
        mute(&app, by, body).await.expect(http, code);
    }
    post(
        &app,
        "/group/unmute",
        &owner,
        json!({"group_id": g, "user_id": m1.id}),
    )
    .await
    .expect(404, 30021);
    mutes(&app, &m1, g).await.expect(200, 30012);
    post(&app, "/group/mute_all", &m1, json!({"group_id": g}))
        .await
        .expect(200, 30012);

    // An admin mutes one member: only that member is refused, and is told until when.
    let muted = mute(
        &app,
        &admin,
        json!({"group_id": g, "user_id": m1.id, "seconds": 600}),
    )
    .await;
    muted.expect(200, 200);
    let until = muted.data()["MutedUntil"]
        .as_str()
        .expect("until")
        .to_owned();
    let refused = say(&mut s1, "muted talk").await;
    assert_eq!(refused["code"], 30041);
    assert_eq!(
        refused["content"],
        format!("you are muted in this group until {until}")
    );
    assert_eq!(say(&mut s2, "m2 talks").await["code"], 50002);
    assert_eq!(say(&mut a, "admin talks").await["code"], 50002);
    let listed = mutes(&app, &owner, g).await;
    listed.expect(200, 200);
    assert_eq!(listed.data()["muted_all"], false);
    let members = listed.data()["members"].as_array().expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(
        (
            members[0]["ID"].clone(),
            members[0]["MutedUntil"].clone(),
            members[0]["muted_by"].clone()
        ),
        (json!(m1.id), json!(until), json!(admin.id))
    );
    post(
        &app,
        "/group/unmute",
        &owner,
        json!({"group_id": g, "user_id": m1.id}),
    )
    .await
    .expect(200, 200);
    assert_eq!(say(&mut s1, "m1 is back").await["code"], 50002);

    // A short mute ends by itself; a mute until a given time says that time.
    mute(
        &app,
        &owner,
        json!({"group_id": g, "user_id": m2.id, "seconds": 1}),
    )
    .await
    .expect(200, 200);
    assert_eq!(say(&mut s2, "too soon").await["code"], 30041);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(say(&mut s2, "m2 again").await["code"], 50002);
    let later = mute(
        &app,
        &owner,
        json!({"group_id": g, "user_id": m2.id, "until": now + 3600}),
    )
    .await;
    later.expect(200, 200);
    assert!(later.data()["MutedUntil"]
        .as_str()
        .is_some_and(|t| t.ends_with("Z")));
    assert_eq!(say(&mut s2, "still muted").await["code"], 30041);
    post(
        &app,
        "/group/unmute",
        &admin,
        json!({"group_id": g, "user_id": m2.id}),
    )
    .await
    .expect(200, 200);

    // The whole group: only the owner and admins speak.
    post(&app, "/group/mute_all", &admin, json!({"group_id": g}))
        .await
        .expect(200, 200);
    let quiet = say(&mut s1, "during mute all").await;
    assert_eq!(
        (quiet["code"].clone(), quiet["content"].clone()),
        (
            json!(30041),
            json!("this group is muted: only the owner and admins can send")
        )
    );
    assert_eq!(say(&mut a, "admin in quiet").await["code"], 50002);
    assert_eq!(say(&mut o, "owner in quiet").await["code"], 50002);
    assert_eq!(mutes(&app, &admin, g).await.data()["muted_all"], true);
    // The owner may mute an admin, who is then refused like anyone.
    mute(
        &app,
        &owner,
        json!({"group_id": g, "user_id": admin.id, "seconds": 60}),
    )
    .await
    .expect(200, 200);
    assert_eq!(say(&mut a, "admin muted").await["code"], 30041);
    post(
        &app,
        "/group/unmute",
        &owner,
        json!({"group_id": g, "user_id": admin.id}),
    )
    .await
    .expect(200, 200);
    post(&app, "/group/unmute_all", &owner, json!({"group_id": g}))
        .await
        .expect(200, 200);
    assert_eq!(say(&mut s1, "loud again").await["code"], 50002);

    // Nothing refused was stored or delivered.
    let mut fresh = open(&app, &owner, &path).await;
    assert_eq!(
        history(&mut fresh).await,
        [
            "m2 talks",
            "admin talks",
            "m1 is back",
            "m2 again",
            "admin in quiet",
            "owner in quiet",
            "loud again"
        ]
    );

    // The cap: the group's running mutes are filled to one short of it in the store.
    let cap = confab::blocks::MAX_MUTES_PER_GROUP;
    for fake in 1..i64::from(cap) {
        let stored = app.stores.blocks.mute(
            g,
            1_000_000_000 + fake,
            (now + 3600) * 1000,
            owner.id,
            now * 1000,
            cap,
        );
        assert!(stored.await.expect("fill"));
    }
    mute(&app, &owner, secs(m1.id, json!(60)))
        .await
        .expect(200, 200);
    let full = mute(&app, &owner, secs(m2.id, json!(60))).await;
    full.expect(400, 400);
    assert!(full.error().contains("at most 1000 mutes"), "{}", full.body);
}
