//! The moderation-store conformance suite: finding accounts, their status and the audit
//! log behave the same on SQLite and MySQL.
//!
//! Names carry a random suffix, so a run may use a store that holds data.

use rand::Rng;

use crate::store::moderation::{AuditEntry, UserQuery};
use crate::store::{Page, Stores};
use crate::users::NewUser;

/// Runs every check on `stores`.
pub async fn run(stores: &Stores) {
    let tag: u32 = rand::thread_rng().gen_range(100_000..1_000_000);
    let mut ids = Vec::new();
    for name in ["_Ann", "_anna", "_bob", "%x"] {
        let user = stores
            .users
            .create_user(
                NewUser {
                    username: format!("m{tag}{name}"),
                    password_digest: "x".to_owned(),
                    status: "active".to_owned(),
                    now: 1,
                },
                None,
            )
            .await
            .expect("create a user");
        ids.push(user.id);
    }
    let find = |query: UserQuery, page: Page| async move {
        stores
            .moderation
            .find_users(&query, page)
            .await
            .expect("find users")
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    let named = |prefix: &str| UserQuery::Name {
        prefix: format!("m{tag}{}", prefix.to_lowercase()),
        id: None,
    };

    // A prefix matches without regard to case; `%` and `_` mean themselves.
    assert_eq!(find(named("_ANN"), Page::first(10)).await, ids[..2]);
    assert_eq!(find(named("_"), Page::first(10)).await, ids[..3]);
    assert_eq!(find(named("%"), Page::first(10)).await, ids[3..]);
    assert!(find(named("%ann"), Page::first(10)).await.is_empty());

    // A number finds its account as well as the names that start with it.
    let by_id = UserQuery::Name {
        prefix: ids[2].to_string(),
        id: Some(ids[2]),
    };
    assert!(find(by_id, Page::first(10)).await.contains(&ids[2]));

    // Pages follow ids.
    let first = find(named(""), Page::first(1)).await;
    let rest = find(
        named(""),
        Page {
            after: first[0],
            limit: 10,
        },
    )
    .await;
    assert_eq!(first, ids[..1]);
    assert_eq!(rest, ids[1..]);
    let everyone = find(UserQuery::All, Page::first(100_000)).await;
    assert!(ids.iter().all(|id| everyone.contains(id)));
    assert!(find(
        UserQuery::EmailIndex(format!("no-such-index-{tag}")),
        Page::first(10)
    )
    .await
    .is_empty());

    // The status changes, and reads back with the account.
    assert!(stores
        .moderation
        .set_status(ids[1], "banned", 5)
        .await
        .expect("ban"));
    assert!(stores
        .moderation
        .set_status(ids[1], "banned", 5)
        .await
        .expect("ban again"));
    let banned = stores
        .users
        .user_by_id(ids[1])
        .await
        .expect("read")
        .expect("there");
    assert_eq!((banned.status.as_str(), banned.updated_at), ("banned", 5));
    assert!(!stores
        .moderation
        .set_status(i64::MAX - 7, "banned", 5)
        .await
        .expect("no such user"));

    // The audit log reads newest first, a page at a time.
    let target = format!("user:{tag}");
    for (n, action) in ["user.ban", "user.unban", "user.delete"].iter().enumerate() {
        stores
            .audit
            .append_audit(&AuditEntry {
                id: 0,
                at: 1_000 + n as i64,
                action: (*action).to_owned(),
                target: target.clone(),
                actor: "ops ☃".to_owned(),
                address: "127.0.0.1".to_owned(),
                details: r#"{"reason":"spam"}"#.to_owned(),
            })
            .await
            .expect("append");
    }
    let newest = stores
        .audit
        .audit_before(i64::MAX, 2)
        .await
        .expect("read the log");
    let actions: Vec<&str> = newest.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user.delete", "user.unban"]);
    assert_eq!(newest[0].target, target);
    assert_eq!(newest[0].actor, "ops ☃");
    assert_eq!(newest[0].details, r#"{"reason":"spam"}"#);
    assert!(newest[0].id > newest[1].id);
    let older = stores
        .audit
        .audit_before(newest[1].id, 1)
        .await
        .expect("read the log");
    assert_eq!((older[0].action.as_str(), older[0].at), ("user.ban", 1_000));
}
