//! Friends over HTTP: add, list with profiles, delete, and every refusal.

use confab_e2e::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn add_list_and_delete_friends() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;

    app.json(
        Method::POST,
        "/friend/add",
        Some(&alice.access),
        json!({ "target_id": bob.id }),
    )
    .await
    .expect(200, 200);
    // The id may also arrive as a string, in a form.
    app.form(
        Method::POST,
        "/friend/add",
        Some(&alice.access),
        &[("target_id", &carol.id.to_string())],
    )
    .await
    .expect(200, 200);

    let list = app.get("/friend/list", Some(&alice.access), &[]).await;
    list.expect(200, 200);
    let entries = list.data().as_array().expect("array");
    assert_eq!(entries.len(), 2);
    let first = &entries[0];
    for key in [
        "ID",
        "CreatedAt",
        "UpdatedAt",
        "DeletedAt",
        "owner_id",
        "target_id",
        "Type",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert_eq!(first["owner_id"], alice.id);
    assert_eq!(first["target_id"], bob.id);
    assert_eq!(first["Type"], 1);
    assert_eq!(first["friend"]["ID"], bob.id);
    assert_eq!(first["friend"]["UserName"], bob.name.as_str());
    assert_eq!(first["friend"]["Avatar"], "");
    assert_eq!(entries[1]["friend"]["UserName"], carol.name.as_str());

    // One-way, as in the seed: Bob's list is his own.
    let bobs = app.get("/friend/list", Some(&bob.access), &[]).await;
    assert_eq!(bobs.data(), &json!([]));

    app.json(
        Method::POST,
        "/friend/delete",
        Some(&alice.access),
        json!({ "target_id": bob.id }),
    )
    .await
    .expect(200, 200);
    let list = app.get("/friend/list", Some(&alice.access), &[]).await;
    assert_eq!(list.data().as_array().expect("array").len(), 1);
}

#[tokio::test]
async fn friend_refusals_have_their_own_codes() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let add = |target: serde_json::Value| {
        app.json(
            Method::POST,
            "/friend/add",
            Some(&alice.access),
            json!({ "target_id": target }),
        )
    };
    let me = add(json!(alice.id)).await;
    me.expect(400, 400);
    assert!(me.error().contains("yourself"));
    add(json!(987_654_321)).await.expect(200, 30011);
    add(json!(bob.id)).await.expect(200, 200);
    add(json!(bob.id)).await.expect(200, 30023);
    add(json!("abc")).await.expect(400, 400);
    add(json!(-4)).await.expect(400, 400);
    add(json!([1])).await.expect(400, 400);
    app.json(Method::POST, "/friend/add", Some(&alice.access), json!({}))
        .await
        .expect(400, 400);
    app.json(
        Method::POST,
        "/friend/delete",
        Some(&alice.access),
        json!({ "target_id": 987_654_321 }),
    )
    .await
    .expect(200, 30024);
    app.get("/friend/list", None, &[]).await.expect(401, 30001);
}

#[tokio::test]
async fn deleting_a_user_removes_them_from_friend_lists() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.json(
        Method::POST,
        "/friend/add",
        Some(&alice.access),
        json!({ "target_id": bob.id }),
    )
    .await
    .expect(200, 200);
    app.json(
        Method::POST,
        "/friend/add",
        Some(&bob.access),
        json!({ "target_id": alice.id }),
    )
    .await
    .expect(200, 200);
    app.form(
        Method::DELETE,
        "/user/delete",
        Some(&bob.access),
        &[("username", &bob.name), ("password", &bob.password)],
    )
    .await
    .expect(200, 200);
    let list = app.get("/friend/list", Some(&alice.access), &[]).await;
    assert_eq!(list.data(), &json!([]));
}
