//! The caps on one user's lists: friends and groups belonged to, refused with 30042 at
//! the bound and open again once the list is shorter.

use confab_e2e::spawn_with;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn friend_lists_and_group_memberships_stop_at_their_caps() {
    let app = spawn_with(|c| {
        c.friends.max_per_user = 2;
        c.groups.max_joined = 2;
    })
    .await;
    let alice = app.user("alice").await;
    let others = [
        app.user("bob").await,
        app.user("carol").await,
        app.user("dave").await,
    ];
    let add = |target: i64| {
        let app = &app;
        let token = alice.access.clone();
        async move {
            app.json(
                Method::POST,
                "/friend/add",
                Some(&token),
                json!({ "target_id": target }),
            )
            .await
        }
    };
    add(others[0].id).await.expect(200, 200);
    add(others[1].id).await.expect(200, 200);
    let refused = add(others[2].id).await;
    refused.expect(200, 30042);
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("2 users")),
        "{:?}",
        refused.body
    );
    // The list holds the two added before the cap, not the refused one.
    let list = app.get("/friend/list", Some(&alice.access), &[]).await;
    assert_eq!(list.data().as_array().map(Vec::len), Some(2));
    app.json(
        Method::POST,
        "/friend/delete",
        Some(&alice.access),
        json!({ "target_id": others[0].id }),
    )
    .await
    .expect(200, 200);
    add(others[2].id).await.expect(200, 200);

    // Groups: one created (its owner belongs to it) and one joined fill the cap.
    app.create_group(&alice, json!({ "group_name": "mine" }))
        .await;
    let theirs = app
        .create_group(&others[0], json!({ "group_name": "bob's" }))
        .await;
    let third = app
        .create_group(&others[1], json!({ "group_name": "carol's" }))
        .await;
    app.join_group(&alice, theirs).await.expect(200, 200);
    app.join_group(&alice, third).await.expect(200, 30042);
    app.json(
        Method::POST,
        "/group/create",
        Some(&alice.access),
        json!({ "group_name": "one too many" }),
    )
    .await
    .expect(200, 30042);
    // Leaving one makes room again.
    app.json(
        Method::POST,
        "/group/delete",
        Some(&alice.access),
        json!({ "group_id": theirs }),
    )
    .await
    .expect(200, 200);
    app.join_group(&alice, third).await.expect(200, 200);
}
