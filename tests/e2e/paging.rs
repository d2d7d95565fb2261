//! REST lists come in pages: `limit` and `after` in, the next cursor in `X-Next-After`.

use confab_e2e::{spawn_app, Reply, TestApp, TestUser};
use reqwest::Method;
use serde_json::json;

fn ids(reply: &Reply, key: &str) -> Vec<i64> {
    reply
        .data()
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e[key].as_i64().expect("id"))
        .collect()
}

fn next(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get("x-next-after")
        .map(|v| v.to_str().expect("ascii").to_owned())
}

/// Walks a list page by page with `limit`, returning every id in order.
async fn walk(app: &TestApp, path: &str, user: &TestUser, limit: &str, key: &str) -> Vec<i64> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", limit)];
        if let Some(after) = after.as_deref() {
            query.push(("after", after));
        }
        let page = app.get(path, Some(&user.access), &query).await;
        page.expect(200, 200);
        let got = ids(&page, key);
        assert!(got.len() <= limit.parse::<usize>().expect("limit"));
        all.extend(got);
        match next(&page) {
            Some(cursor) => after = Some(cursor),
            None => return all,
        }
    }
    panic!("more pages than entries");
}

#[tokio::test]
async fn friends_and_groups_are_listed_in_pages() {
    let app = spawn_app().await;
    let ann = app.user("pager").await;
    for _ in 0..5 {
        let friend = app.user("paged").await;
        app.json(
            Method::POST,
            "/friend/add",
            Some(&ann.access),
            json!({ "target_id": friend.id }),
        )
        .await
        .expect(200, 200);
    }
    let mut groups = Vec::new();
    for i in 0..3 {
        groups.push(
            app.create_group(&ann, json!({"group_name": format!("g{i}")}))
                .await,
        );
    }

    // Without a limit, everything (up to the largest page) and no cursor: seed clients
    // see the lists as before.
    let whole = app.get("/friend/list", Some(&ann.access), &[]).await;
    whole.expect(200, 200);
    assert_eq!(ids(&whole, "ID").len(), 5);
    assert_eq!(next(&whole), None);

    // In pages of two: 2 + 2 + 1, in the same order, each page telling where the next starts.
    let paged = walk(&app, "/friend/list", &ann, "2", "ID").await;
    assert_eq!(paged, ids(&whole, "ID"));
    let first = app
        .get("/friend/list", Some(&ann.access), &[("limit", "2")])
        .await;
    assert_eq!(next(&first), Some(ids(&first, "ID")[1].to_string()));
    // A page that ends the list exactly has no cursor.
    let exact = app
        .get("/friend/list", Some(&ann.access), &[("limit", "5")])
        .await;
    assert_eq!(next(&exact), None);

    for path in ["/group/mine", "/group/joined"] {
        assert_eq!(walk(&app, path, &ann, "2", "ID").await, groups, "{path}");
    }

    // Bad paging parameters are refused in the envelope.
    for (key, value) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "many"),
        ("after", "-1"),
    ] {
        for path in ["/friend/list", "/group/mine", "/group/joined"] {
            let reply = app.get(path, Some(&ann.access), &[(key, value)]).await;
            reply.expect(400, 400);
            assert!(
                reply.error().contains(key),
                "{path} {key}={value}: {}",
                reply.body
            );
        }
    }
}
