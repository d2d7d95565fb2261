//! The storage conformance suite: every backend must pass it unchanged.
//!
//! It runs against SQLite in the host's unit tests and against MySQL/MariaDB in the
//! end-to-end crate when `CONFAB_TEST_MYSQL_URL` is set. Each check uses fresh names, so
//! the suite can run on a database that already holds data.

use rand::Rng;

use crate::error::{Conflict, Error};
use crate::groups::{Ban, HistoryVisibility, NewGroup, Role};
use crate::store::{Page, PendingCode, SqlStore, Stores};
use crate::uploads::Quota;
use crate::users::{NewUser, ProfileChange, User};

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::thread_rng().gen::<u32>())
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        password_digest: "$2b$04$digest".to_owned(),
        status: "active".to_owned(),
        now: 1_700_000_000_000,
    }
}

/// Runs every check of the trait-level suite.
pub async fn run(stores: &Stores) {
    users(stores).await;
    profiles(stores).await;
    refresh_tokens(stores).await;
    invites(stores).await;
    codes(stores).await;
    friends(stores).await;
    groups(stores).await;
    concurrent_joins(stores).await;
    bans_and_join_points(stores).await;
    upload_quotas(stores).await;
    concurrent_reservations(stores).await;
    crate::store::block_conformance::run(stores).await;
}

async fn fresh_user(stores: &Stores, prefix: &str) -> User {
    stores
        .users
        .create_user(new_user(&unique(prefix)), None)
        .await
        .expect("user")
}

async fn users(stores: &Stores) {
    let name = unique("Alice");
    let created = stores
        .users
        .create_user(new_user(&name), None)
        .await
        .expect("create");
    assert!(created.id > 0);
    assert_eq!(created.username, name);
    assert_eq!(created.token_version, 0);
    assert_eq!(created.avatar, "");
    assert_eq!(created.created_at, 1_700_000_000_000);

    let by_id = stores.users.user_by_id(created.id).await.expect("by id");
    assert_eq!(by_id.as_ref(), Some(&created));
    let by_name = stores
        .users
        .user_by_name(&name.to_uppercase())
        .await
        .expect("by name");
    assert_eq!(by_name.map(|u| u.id), Some(created.id), "names ignore case");
    assert!(stores
        .users
        .user_by_id(created.id + 1_000_000)
        .await
        .expect("missing id")
        .is_none());

    let dup = stores
        .users
        .create_user(new_user(&name.to_lowercase()), None)
        .await;
    assert!(
        matches!(dup, Err(Error::Conflict(Conflict::Username))),
        "{dup:?}"
    );
    // A name that only looks like it (a Cyrillic а) is refused by its look-alike key.
    let look_alike = stores
        .users
        .create_user(new_user(&name.replacen('A', "\u{0410}", 1)), None)
        .await;
    assert!(
        matches!(look_alike, Err(Error::Conflict(Conflict::LookAlike))),
        "{look_alike:?}"
    );

    stores
        .users
        .bump_token_version(created.id)
        .await
        .expect("bump");
    let bumped = stores
        .users
        .user_by_id(created.id)
        .await
        .expect("reload")
        .expect("exists");
    assert_eq!(bumped.token_version, 1);

    assert!(stores.users.delete_user(created.id).await.expect("delete"));
    assert!(!stores.users.delete_user(created.id).await.expect("again"));
    assert!(stores
        .users
        .user_by_id(created.id)
        .await
        .expect("gone")
        .is_none());
    // The name is free again.
    stores
        .users
        .create_user(new_user(&name), None)
        .await
        .expect("name reusable after delete");
}

async fn profiles(stores: &Stores) {
    let a = stores
        .users
        .create_user(new_user(&unique("pa")), None)
        .await
        .expect("a");
    let b = stores
        .users
        .create_user(new_user(&unique("pb")), None)
        .await
        .expect("b");
    let index = unique("index-");
    let updated = stores
        .users
        .update_profile(
            a.id,
            ProfileChange {
                email: Some(("sealed-email".to_owned(), index.clone())),
                phone: Some("sealed-phone".to_owned()),
                avatar: Some("/upload/personal/x.png".to_owned()),
                now: 1_700_000_000_500,
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.email_sealed.as_deref(), Some("sealed-email"));
    assert_eq!(updated.email_index.as_deref(), Some(index.as_str()));
    assert_eq!(updated.phone_sealed.as_deref(), Some("sealed-phone"));
    assert_eq!(updated.avatar, "/upload/personal/x.png");
    assert_eq!(updated.updated_at, 1_700_000_000_500);
    assert_eq!(
        stores
            .users
            .user_by_email_index(&index)
            .await
            .expect("index"),
        Some(a.id)
    );

    let taken = stores
        .users
        .update_profile(
            b.id,
            ProfileChange {
                email: Some(("other".to_owned(), index.clone())),
                phone: Some("must not be applied".to_owned()),
                now: 1,
                ..ProfileChange::default()
            },
        )
        .await;
    assert!(
        matches!(taken, Err(Error::Conflict(Conflict::Email))),
        "{taken:?}"
    );
    let b_after = stores
        .users
        .user_by_id(b.id)
        .await
        .expect("b")
        .expect("exists");
    assert_eq!(
        b_after.phone_sealed, None,
        "a failed update changes nothing"
    );

    let only_phone = stores
        .users
        .update_profile(
            a.id,
            ProfileChange {
                phone: Some("new-phone".to_owned()),
                now: 1_700_000_000_900,
                ..ProfileChange::default()
            },
        )
        .await
        .expect("phone only");
    assert_eq!(only_phone.email_sealed.as_deref(), Some("sealed-email"));
    assert_eq!(only_phone.phone_sealed.as_deref(), Some("new-phone"));

    let missing = stores
        .users
        .update_profile(i64::MAX - 7, ProfileChange::default())
        .await;
    assert!(matches!(missing, Err(Error::UserNotFound)), "{missing:?}");
}

async fn refresh_tokens(stores: &Stores) {
    let u = stores
        .users
        .create_user(new_user(&unique("rt")), None)
        .await
        .expect("user");
    let far = crate::tokens::now() + 3600;
    let jti = unique("jti-");
    stores
        .tokens
        .save_refresh(&jti, u.id, far)
        .await
        .expect("save");
    assert!(!stores
        .tokens
        .consume_refresh(&jti, u.id + 1)
        .await
        .expect("other user"));
    assert!(stores
        .tokens
        .consume_refresh(&jti, u.id)
        .await
        .expect("once"));
    assert!(!stores
        .tokens
        .consume_refresh(&jti, u.id)
        .await
        .expect("twice"));

    let expired = unique("old-");
    stores
        .tokens
        .save_refresh(&expired, u.id, crate::tokens::now() - 10)
        .await
        .expect("save expired");
    assert!(!stores
        .tokens
        .consume_refresh(&expired, u.id)
        .await
        .expect("expired is refused"));
    assert!(
        stores
            .tokens
            .purge_expired_refresh(crate::tokens::now())
            .await
            .expect("purge")
            >= 1
    );

    let (a, b) = (unique("a-"), unique("b-"));
    stores.tokens.save_refresh(&a, u.id, far).await.expect("a");
    stores.tokens.save_refresh(&b, u.id, far).await.expect("b");
    stores
        .tokens
        .revoke_all_refresh(u.id)
        .await
        .expect("revoke");
    assert!(!stores
        .tokens
        .consume_refresh(&a, u.id)
        .await
        .expect("a gone"));
    assert!(!stores
        .tokens
        .consume_refresh(&b, u.id)
        .await
        .expect("b gone"));
}

async fn invites(stores: &Stores) {
    let key = unique("Key1234x");
    assert!(!stores.invites.invite_usable(&key).await.expect("unknown"));
    stores.invites.create_invite(&key, 1).await.expect("create");
    assert!(stores.invites.invite_usable(&key).await.expect("usable"));

    let first = unique("inv");
    stores
        .users
        .create_user(new_user(&first), Some(&key))
        .await
        .expect("invite consumed");
    assert!(!stores.invites.invite_usable(&key).await.expect("used"));

    let second = unique("inv");
    let reuse = stores
        .users
        .create_user(new_user(&second), Some(&key))
        .await;
    assert!(matches!(reuse, Err(Error::InvalidInvite(_))), "{reuse:?}");
    assert!(
        stores
            .users
            .user_by_name(&second)
            .await
            .expect("lookup")
            .is_none(),
        "a refused invite creates no user"
    );

    // A taken name must not burn the invite.
    let fresh = unique("Key5678y");
    stores
        .invites
        .create_invite(&fresh, 1)
        .await
        .expect("fresh");
    let clash = stores
        .users
        .create_user(new_user(&first), Some(&fresh))
        .await;
    assert!(matches!(clash, Err(Error::Conflict(Conflict::Username))));
    assert!(stores.invites.invite_usable(&fresh).await.expect("kept"));
}

async fn codes(stores: &Stores) {
    let u = stores
        .users
        .create_user(new_user(&unique("code")), None)
        .await
        .expect("user");
    let v = stores
        .users
        .create_user(new_user(&unique("code")), None)
        .await
        .expect("user");
    let index = unique("mail-");
    let pending = PendingCode {
        user: u.id,
        email_index: index.clone(),
        code_digest: "digest-1".to_owned(),
        expires_at: 2_000,
        attempts: 0,
        sent_at: 1_000,
    };
    assert!(stores.codes.put_code(&pending, 940).await.expect("first"));
    assert_eq!(
        stores.codes.code_for(u.id).await.expect("read"),
        Some(pending.clone())
    );

    let too_soon = PendingCode {
        code_digest: "digest-2".to_owned(),
        sent_at: 1_030,
        ..pending.clone()
    };
    assert!(
        !stores
            .codes
            .put_code(&too_soon, 970)
            .await
            .expect("throttled"),
        "a code sent at 1000 blocks a new one until 1060"
    );
    assert_eq!(
        stores
            .codes
            .code_for(u.id)
            .await
            .expect("read")
            .map(|c| c.code_digest),
        Some("digest-1".to_owned())
    );

    assert_eq!(stores.codes.record_wrong_attempt(u.id).await.expect("1"), 1);
    assert_eq!(stores.codes.record_wrong_attempt(u.id).await.expect("2"), 2);

    let later = PendingCode {
        code_digest: "digest-3".to_owned(),
        sent_at: 1_100,
        expires_at: 1_220,
        ..pending.clone()
    };
    assert!(stores.codes.put_code(&later, 1_040).await.expect("replace"));
    let now = stores
        .codes
        .code_for(u.id)
        .await
        .expect("read")
        .expect("some");
    assert_eq!(now.code_digest, "digest-3");
    assert_eq!(now.attempts, 0, "a new code resets the attempts");

    assert_eq!(
        stores
            .codes
            .last_sent_to(&index, v.id)
            .await
            .expect("other"),
        Some(1_100)
    );
    assert_eq!(
        stores.codes.last_sent_to(&index, u.id).await.expect("self"),
        None
    );

    assert!(!stores
        .codes
        .take_code(u.id, "digest-1")
        .await
        .expect("stale digest"));
    assert!(stores
        .codes
        .take_code(u.id, "digest-3")
        .await
        .expect("take"));
    assert!(!stores
        .codes
        .take_code(u.id, "digest-3")
        .await
        .expect("only once"));
    assert_eq!(stores.codes.code_for(u.id).await.expect("gone"), None);

    assert!(stores.codes.put_code(&later, 1_040).await.expect("again"));
    stores.codes.delete_code(u.id).await.expect("delete");
    assert_eq!(stores.codes.code_for(u.id).await.expect("gone"), None);

    // Deleting the account removes its pending code.
    assert!(stores.codes.put_code(&pending, 940).await.expect("again"));
    stores.users.delete_user(u.id).await.expect("delete user");
    assert_eq!(stores.codes.code_for(u.id).await.expect("gone"), None);
}

async fn friends(stores: &Stores) {
    let a = stores
        .users
        .create_user(new_user(&unique("fa")), None)
        .await
        .expect("a");
    let b = stores
        .users
        .create_user(new_user(&unique("fb")), None)
        .await
        .expect("b");
    let c = stores
        .users
        .create_user(new_user(&unique("fc")), None)
        .await
        .expect("c");
    stores
        .friends
        .add_friend(a.id, b.id, 10)
        .await
        .expect("a→b");
    stores
        .friends
        .add_friend(a.id, c.id, 20)
        .await
        .expect("a→c");
    let dup = stores.friends.add_friend(a.id, b.id, 30).await;
    assert!(matches!(dup, Err(Error::FriendExists)), "{dup:?}");
    stores
        .friends
        .add_friend(b.id, a.id, 40)
        .await
        .expect("b→a is its own row");

    let list = stores
        .friends
        .friends(a.id, Page::first(100))
        .await
        .expect("list");
    let targets: Vec<_> = list
        .iter()
        .map(|f| (f.target, f.target_name.clone()))
        .collect();
    assert_eq!(
        targets,
        vec![(b.id, b.username.clone()), (c.id, c.username.clone())]
    );
    assert!(list.iter().all(|f| f.owner == a.id && f.kind == 1));
    assert_eq!(list[0].created_at, 10);
    // Pages: at most `limit` entries, starting after the cursor.
    let first = stores
        .friends
        .friends(a.id, Page::first(1))
        .await
        .expect("first page");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].target, b.id);
    let rest = stores
        .friends
        .friends(
            a.id,
            Page {
                after: first[0].id,
                limit: 10,
            },
        )
        .await
        .expect("next page");
    assert_eq!(rest.iter().map(|f| f.target).collect::<Vec<_>>(), [c.id]);

    assert!(stores
        .friends
        .delete_friend(a.id, b.id)
        .await
        .expect("delete"));
    assert!(!stores
        .friends
        .delete_friend(a.id, b.id)
        .await
        .expect("again"));
    assert_eq!(
        stores
            .friends
            .friends(a.id, Page::first(100))
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        stores
            .friends
            .friends(b.id, Page::first(100))
            .await
            .expect("b's list")
            .len(),
        1
    );
}

async fn groups(stores: &Stores) {
    let owner = stores
        .users
        .create_user(new_user(&unique("go")), None)
        .await
        .expect("owner");
    let m1 = stores
        .users
        .create_user(new_user(&unique("g1")), None)
        .await
        .expect("m1");
    let m2 = stores
        .users
        .create_user(new_user(&unique("g2")), None)
        .await
        .expect("m2");
    let g = stores
        .groups
        .create_group(NewGroup {
            name: "团队 team".to_owned(),
            owner: owner.id,
            description: "desc".to_owned(),
            size: 3,
            history: HistoryVisibility::Joined,
            now: 100,
        })
        .await
        .expect("create");
    assert!(g.id > 0);
    assert_eq!((g.owner, g.size, g.member_count), (owner.id, 3, 1));
    assert_eq!(g.history, HistoryVisibility::Joined);
    assert_eq!(g.name, "团队 team");
    assert_eq!(
        stores.groups.group(g.id).await.expect("get"),
        Some(g.clone())
    );
    assert_eq!(
        stores.groups.role_of(g.id, owner.id).await.expect("role"),
        Some(Role::Owner)
    );

    stores
        .groups
        .add_member(g.id, m1.id, 0, 200)
        .await
        .expect("m1 joins");
    let again = stores.groups.add_member(g.id, m1.id, 0, 250).await;
    assert!(matches!(again, Err(Error::AlreadyMember)), "{again:?}");
    assert_eq!(
        stores
            .groups
            .group(g.id)
            .await
            .expect("g")
            .expect("g")
            .member_count,
        2,
        "a refused join reserves no seat"
    );
    stores
        .groups
        .add_member(g.id, m2.id, 0, 300)
        .await
        .expect("m2 joins");
    let extra = stores
        .users
        .create_user(new_user(&unique("gx")), None)
        .await
        .expect("x");
    let full = stores.groups.add_member(g.id, extra.id, 0, 400).await;
    assert!(matches!(full, Err(Error::GroupFull)), "{full:?}");
    let missing = stores
        .groups
        .add_member(i64::MAX - 3, extra.id, 0, 400)
        .await;
    assert!(matches!(missing, Err(Error::NoGroup(_))), "{missing:?}");

    let members = stores.groups.members(g.id).await.expect("members");
    let order: Vec<_> = members.iter().map(|m| (m.user, m.role)).collect();
    assert_eq!(
        order,
        vec![
            (owner.id, Role::Owner),
            (m1.id, Role::Member),
            (m2.id, Role::Member)
        ]
    );
    assert_eq!(members[1].username, m1.username);

    assert_eq!(
        stores
            .groups
            .groups_owned(owner.id, Page::first(100))
            .await
            .expect("owned")
            .len(),
        1
    );
    assert!(stores
        .groups
        .groups_owned(m1.id, Page::first(100))
        .await
        .expect("none")
        .is_empty());
    assert_eq!(
        stores
            .groups
            .groups_joined(m1.id, Page::first(100))
            .await
            .expect("joined")[0]
            .id,
        g.id
    );

    assert!(stores
        .groups
        .set_role(g.id, m2.id, Role::Admin, 500)
        .await
        .expect("promote"));
    assert!(stores
        .groups
        .set_role(g.id, m2.id, Role::Admin, 510)
        .await
        .expect("same role again"));
    assert!(!stores
        .groups
        .set_role(g.id, owner.id, Role::Member, 520)
        .await
        .expect("owner untouched"));
    assert!(!stores
        .groups
        .set_role(g.id, extra.id, Role::Admin, 530)
        .await
        .expect("not a member"));
    assert_eq!(
        stores.groups.role_of(g.id, m2.id).await.expect("role"),
        Some(Role::Admin)
    );

    assert!(!stores
        .groups
        .remove_member(g.id, owner.id, 600)
        .await
        .expect("owner stays"));
    assert!(stores
        .groups
        .remove_member(g.id, m1.id, 600)
        .await
        .expect("remove m1"));
    assert!(!stores
        .groups
        .remove_member(g.id, m1.id, 610)
        .await
        .expect("twice"));
    assert_eq!(
        stores
            .groups
            .group(g.id)
            .await
            .expect("g")
            .expect("g")
            .member_count,
        2
    );

    // Hand-off: refused for a non-owner or a non-member successor, then done atomically.
    assert!(!stores
        .groups
        .hand_off(g.id, m2.id, owner.id, 700)
        .await
        .expect("not owner"));
    assert!(!stores
        .groups
        .hand_off(g.id, owner.id, m1.id, 700)
        .await
        .expect("not a member"));
    assert_eq!(
        stores
            .groups
            .group(g.id)
            .await
            .expect("g")
            .expect("g")
            .owner,
        owner.id,
        "refusals change nothing"
    );
    assert!(stores
        .groups
        .hand_off(g.id, owner.id, m2.id, 710)
        .await
        .expect("hand off"));
    let after = stores.groups.group(g.id).await.expect("g").expect("g");
    assert_eq!((after.owner, after.member_count), (m2.id, 1));
    assert_eq!(
        stores.groups.role_of(g.id, m2.id).await.expect("role"),
        Some(Role::Owner)
    );
    assert_eq!(
        stores.groups.role_of(g.id, owner.id).await.expect("gone"),
        None
    );

    // Dissolving only happens to a lone owner's group.
    stores
        .groups
        .add_member(g.id, m1.id, 0, 800)
        .await
        .expect("m1 back");
    assert!(!stores
        .groups
        .dissolve_if_alone(g.id, m2.id)
        .await
        .expect("not alone"));
    assert!(stores
        .groups
        .remove_member(g.id, m1.id, 810)
        .await
        .expect("m1 out"));
    assert!(!stores
        .groups
        .dissolve_if_alone(g.id, m1.id)
        .await
        .expect("not the owner"));
    assert!(stores
        .groups
        .dissolve_if_alone(g.id, m2.id)
        .await
        .expect("dissolve"));
    assert_eq!(stores.groups.group(g.id).await.expect("gone"), None);
    assert!(stores.groups.members(g.id).await.expect("none").is_empty());

    let other = stores
        .groups
        .create_group(NewGroup {
            name: "x".to_owned(),
            owner: owner.id,
            description: String::new(),
            size: 5,
            history: HistoryVisibility::Joined,
            now: 1,
        })
        .await
        .expect("other");
    stores
        .groups
        .add_member(other.id, m1.id, 0, 2)
        .await
        .expect("join");
    stores.groups.dissolve(other.id).await.expect("dissolve");
    assert_eq!(stores.groups.group(other.id).await.expect("gone"), None);
    assert!(stores
        .groups
        .groups_joined(m1.id, Page::first(100))
        .await
        .expect("none")
        .is_empty());
}

/// Many simultaneous joins never push a group past its size.
async fn concurrent_joins(stores: &Stores) {
    let owner = stores
        .users
        .create_user(new_user(&unique("co")), None)
        .await
        .expect("owner");
    let g = stores
        .groups
        .create_group(NewGroup {
            name: "race".to_owned(),
            owner: owner.id,
            description: String::new(),
            size: 10,
            history: HistoryVisibility::Joined,
            now: 1,
        })
        .await
        .expect("group");
    let mut users = Vec::new();
    for _ in 0..30 {
        users.push(
            stores
                .users
                .create_user(new_user(&unique("cj")), None)
                .await
                .expect("user")
                .id,
        );
    }
    let joins = users.iter().map(|&u| {
        let groups = stores.groups.clone();
        tokio::spawn(async move { groups.add_member(g.id, u, 0, 2).await })
    });
    let mut joined = 0;
    for join in futures::future::join_all(joins).await {
        match join.expect("task") {
            Ok(()) => joined += 1,
            Err(Error::GroupFull) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(joined, 9, "the owner holds the tenth seat");
    let after = stores.groups.group(g.id).await.expect("g").expect("g");
    assert_eq!(after.member_count, 10);
    assert_eq!(
        stores.groups.members(g.id).await.expect("members").len(),
        10
    );
}

/// Join points, the history setting, and bans: a removed member stays out until the ban
/// is lifted, a member who leaves is not banned, and a dissolved group takes its bans along.
async fn bans_and_join_points(stores: &Stores) {
    let owner = fresh_user(stores, "bo").await;
    let admin = fresh_user(stores, "ba").await;
    let member = fresh_user(stores, "bm").await;
    let stranger = fresh_user(stores, "bs").await;
    let g = stores
        .groups
        .create_group(NewGroup {
            name: "bans".to_owned(),
            owner: owner.id,
            description: String::new(),
            size: 5,
            history: HistoryVisibility::All,
            now: 10,
        })
        .await
        .expect("group");
    assert_eq!(g.history, HistoryVisibility::All);
    let groups = &stores.groups;
    assert_eq!(
        groups.join_point(g.id, owner.id).await.expect("owner"),
        Some(0)
    );
    groups
        .add_member(g.id, member.id, 42, 20)
        .await
        .expect("member joins");
    groups
        .add_member(g.id, admin.id, 7, 21)
        .await
        .expect("admin joins");
    assert_eq!(
        groups.join_point(g.id, member.id).await.expect("member"),
        Some(42)
    );
    assert_eq!(
        groups.join_point(g.id, stranger.id).await.expect("none"),
        None
    );

    assert!(groups
        .set_history(g.id, HistoryVisibility::Joined, 30)
        .await
        .expect("set"));
    let after = groups.group(g.id).await.expect("g").expect("g");
    assert_eq!(
        (after.history, after.updated_at),
        (HistoryVisibility::Joined, 30)
    );
    assert!(!groups
        .set_history(i64::MAX - 5, HistoryVisibility::All, 30)
        .await
        .expect("no such group"));

    // Only a member who is not the owner can be banned.
    assert!(!groups
        .ban_member(g.id, owner.id, admin.id, 40)
        .await
        .expect("owner"));
    assert!(!groups
        .ban_member(g.id, stranger.id, owner.id, 40)
        .await
        .expect("stranger"));
    assert!(!groups.is_banned(g.id, stranger.id).await.expect("no ban"));
    assert!(groups
        .ban_member(g.id, member.id, admin.id, 50)
        .await
        .expect("ban"));
    assert_eq!(groups.role_of(g.id, member.id).await.expect("gone"), None);
    assert!(groups.is_banned(g.id, member.id).await.expect("banned"));
    assert_eq!(
        groups
            .group(g.id)
            .await
            .expect("g")
            .expect("g")
            .member_count,
        2
    );
    assert_eq!(
        groups.bans(g.id).await.expect("bans"),
        vec![Ban {
            user: member.id,
            username: member.username.clone(),
            avatar: String::new(),
            banned_by: admin.id,
            banned_at: 50,
        }]
    );
    let back = groups.add_member(g.id, member.id, 0, 60).await;
    assert!(matches!(back, Err(Error::Banned)), "{back:?}");
    assert_eq!(
        groups
            .group(g.id)
            .await
            .expect("g")
            .expect("g")
            .member_count,
        2,
        "a refused join reserves no seat"
    );

    assert!(groups.unban(g.id, member.id).await.expect("unban"));
    assert!(!groups.unban(g.id, member.id).await.expect("twice"));
    assert!(groups.bans(g.id).await.expect("none").is_empty());
    groups
        .add_member(g.id, member.id, 99, 70)
        .await
        .expect("back after the ban is lifted");
    assert_eq!(
        groups.join_point(g.id, member.id).await.expect("again"),
        Some(99),
        "a new join, a new join point"
    );

    // Leaving bans no one.
    assert!(groups
        .remove_member(g.id, member.id, 80)
        .await
        .expect("leave"));
    assert!(!groups.is_banned(g.id, member.id).await.expect("not banned"));

    // Bans go with their group.
    assert!(groups
        .ban_member(g.id, admin.id, owner.id, 90)
        .await
        .expect("ban"));
    groups.dissolve(g.id).await.expect("dissolve");
    assert!(!groups.is_banned(g.id, admin.id).await.expect("gone"));
    assert!(groups.bans(g.id).await.expect("gone").is_empty());
}

/// Quotas per day and in all: a refusal names its quota and counts nothing, a new day
/// starts a new daily count, given-back bytes count no more, and 0 means no limit.
async fn upload_quotas(stores: &Stores) {
    let user = fresh_user(stores, "q").await;
    let other = fresh_user(stores, "q").await;
    let uploads = &stores.uploads;
    let quota = Quota {
        per_day: 100,
        total: 250,
    };
    let refused = |result: crate::error::Result<()>, which: &str| match result {
        Err(Error::QuotaExceeded(reason)) => {
            assert!(reason.contains(which), "{reason} names {which}")
        }
        other => panic!("expected a refusal {which}, got {other:?}"),
    };
    uploads
        .reserve_upload(user.id, 60, 10, quota)
        .await
        .expect("60");
    refused(
        uploads.reserve_upload(user.id, 41, 10, quota).await,
        "per day",
    );
    uploads
        .reserve_upload(user.id, 40, 10, quota)
        .await
        .expect("the refusal counted nothing: 100 fits");
    refused(
        uploads.reserve_upload(user.id, 1, 10, quota).await,
        "per day",
    );
    uploads
        .reserve_upload(other.id, 100, 10, quota)
        .await
        .expect("each user has their own");

    uploads
        .reserve_upload(user.id, 100, 11, quota)
        .await
        .expect("a new day");
    refused(
        uploads.reserve_upload(user.id, 60, 12, quota).await,
        "in total",
    );
    uploads
        .release_upload(user.id, 100, 11)
        .await
        .expect("give back");
    uploads
        .reserve_upload(user.id, 100, 11, quota)
        .await
        .expect("given back, counted no more");
    uploads
        .reserve_upload(user.id, 50, 12, quota)
        .await
        .expect("exactly the total");
    refused(
        uploads.reserve_upload(user.id, 1, 13, quota).await,
        "in total",
    );
    uploads
        .reserve_upload(user.id, 1_000_000, 13, Quota::default())
        .await
        .expect("0 is no limit");
}

/// Many simultaneous uploads never pass a quota together.
async fn concurrent_reservations(stores: &Stores) {
    let user = fresh_user(stores, "qc").await;
    let quota = Quota {
        per_day: 0,
        total: 100,
    };
    let tries = (0..30).map(|_| {
        let uploads = stores.uploads.clone();
        tokio::spawn(async move { uploads.reserve_upload(user.id, 10, 5, quota).await })
    });
    let mut counted = 0;
    for done in futures::future::join_all(tries).await {
        match done.expect("task") {
            Ok(()) => counted += 1,
            Err(Error::QuotaExceeded(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(counted, 10);
}

/// Deleting a user removes their friendships (both directions), memberships, bans and
/// upload counts. Some rows are written with plain SQL.
pub async fn delete_cascades(sql: &SqlStore, stores: &Stores) {
    let a = stores
        .users
        .create_user(new_user(&unique("del")), None)
        .await
        .expect("a");
    let b = stores
        .users
        .create_user(new_user(&unique("del")), None)
        .await
        .expect("b");
    for (owner, target) in [(a.id, b.id), (b.id, a.id)] {
        sqlx::query(
            "INSERT INTO friends (owner_id, target_id, kind, created_at, updated_at) \
             VALUES (?, ?, 1, 0, 0)",
        )
        .bind(owner)
        .bind(target)
        .execute(sql.pool())
        .await
        .expect("friend row");
    }
    for user in [a.id, b.id] {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, 0, 0)",
        )
        .bind(a.id * 1000)
        .bind(user)
        .execute(sql.pool())
        .await
        .expect("member row");
    }
    sqlx::query(
        "INSERT INTO group_bans (group_id, user_id, banned_by, banned_at) VALUES (?, ?, ?, 0)",
    )
    .bind(b.id * 1000)
    .bind(a.id)
    .bind(b.id)
    .execute(sql.pool())
    .await
    .expect("ban row");
    stores
        .uploads
        .reserve_upload(a.id, 5, 1, Quota::default())
        .await
        .expect("usage row");
    assert!(stores.users.delete_user(a.id).await.expect("delete"));
    for table in ["group_bans", "upload_usage"] {
        let left: (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM {table} WHERE user_id = ?"))
                .bind(a.id)
                .fetch_one(sql.pool())
                .await
                .expect("count");
        assert_eq!(left.0, 0, "{table} forgets the deleted user");
    }
    let friends: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM friends WHERE owner_id = ? OR target_id = ? OR owner_id = ?",
    )
    .bind(a.id)
    .bind(a.id)
    .bind(b.id)
    .fetch_one(sql.pool())
    .await
    .expect("count friends");
    assert_eq!(friends.0, 0, "both directions are gone");
    let members: Vec<(i64,)> =
        sqlx::query_as("SELECT user_id FROM group_members WHERE group_id = ?")
            .bind(a.id * 1000)
            .fetch_all(sql.pool())
            .await
            .expect("members");
    assert_eq!(
        members,
        vec![(b.id,)],
        "only the deleted user's membership goes"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseConfig;

    #[tokio::test]
    async fn sqlite_passes_the_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("connect");
        sql.migrate().await.expect("migrate");
        assert!(dir.path().join("confab.db").is_file(), "a real file");
        let stores = Stores::from_sql(sql.clone());
        run(&stores).await;
        delete_cascades(&sql, &stores).await;
        crate::store::message_conformance::run(&sql).await;
        crate::store::change_conformance::run(&sql, &sql).await;
        // Migrations are idempotent.
        sql.migrate().await.expect("migrate again");
    }
}
