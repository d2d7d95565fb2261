//! The conformance checks of [`BlockStore`]: blocks with their cap, mutes with their cap
//! and their end, the whole-group mute, and what deleting a user or a group leaves.
//!
//! Part of the storage suite (`conformance::run`), so it runs on SQLite in the unit tests
//! and on MySQL/MariaDB in the end-to-end crate.

use crate::groups::{HistoryVisibility, NewGroup};
use crate::store::{BlockStore, Stores};
use crate::users::{NewUser, User};

const NOW: i64 = 1_700_000_000_000;

async fn fresh_user(stores: &Stores) -> User {
    let name = format!("blk{:08x}", rand::random::<u32>());
    stores
        .users
        .create_user(
            NewUser {
                username: name,
                password_digest: "$2b$04$digest".to_owned(),
                status: "active".to_owned(),
                now: NOW,
            },
            None,
        )
        .await
        .expect("user")
}

/// Runs every check.
pub async fn run(stores: &Stores) {
    blocks(stores).await;
    mutes(stores).await;
    deletions(stores).await;
}

async fn blocks(stores: &Stores) {
    let store: &dyn BlockStore = stores.blocks.as_ref();
    let a = fresh_user(stores).await;
    let b = fresh_user(stores).await;
    let c = fresh_user(stores).await;
    assert!(store.block(a.id, b.id, NOW, 2).await.expect("block"));
    assert!(
        store.block(a.id, b.id, NOW + 1, 2).await.expect("again"),
        "blocking twice is not an error"
    );
    assert!(store.block(a.id, c.id, NOW + 2, 2).await.expect("second"));
    let d = fresh_user(stores).await;
    assert!(
        !store.block(a.id, d.id, NOW + 3, 2).await.expect("past cap"),
        "the cap refuses a third"
    );
    assert!(
        store.block(a.id, b.id, NOW + 4, 2).await.expect("at cap"),
        "a block already there is no new one, even at the cap"
    );
    let mut ids = store.blocked_ids(a.id).await.expect("ids");
    ids.sort_unstable();
    assert_eq!(ids, vec![b.id, c.id]);
    assert!(store.blocked_ids(b.id).await.expect("none").is_empty());
    let listed = store.blocks(a.id).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|x| (x.user, x.username.as_str(), x.blocked_at))
            .collect::<Vec<_>>(),
        vec![
            (b.id, b.username.as_str(), NOW),
            (c.id, c.username.as_str(), NOW + 2)
        ]
    );
    assert!(store.unblock(a.id, b.id).await.expect("unblock"));
    assert!(!store.unblock(a.id, b.id).await.expect("twice"));
    assert_eq!(store.blocked_ids(a.id).await.expect("ids"), vec![c.id]);
}

async fn group_of(stores: &Stores, owner: &User) -> i64 {
    stores
        .groups
        .create_group(NewGroup {
            name: "muted".to_owned(),
            owner: owner.id,
            description: String::new(),
            size: 10,
            history: HistoryVisibility::All,
            now: NOW,
        })
        .await
        .expect("group")
        .id
}

async fn mutes(stores: &Stores) {
    let store: &dyn BlockStore = stores.blocks.as_ref();
    let owner = fresh_user(stores).await;
    let m1 = fresh_user(stores).await;
    let m2 = fresh_user(stores).await;
    let m3 = fresh_user(stores).await;
    let g = group_of(stores, &owner).await;
    let empty = store.group_mutes(g, NOW).await.expect("none");
    assert!(!empty.all && empty.members.is_empty());

    assert!(store
        .mute(g, m1.id, NOW + 1000, owner.id, NOW, 2)
        .await
        .expect("mute"));
    assert!(store
        .mute(g, m2.id, NOW + 5000, owner.id, NOW + 1, 2)
        .await
        .expect("mute"));
    assert!(
        !store
            .mute(g, m3.id, NOW + 5000, owner.id, NOW + 2, 2)
            .await
            .expect("cap"),
        "the cap refuses a third running mute"
    );
    // Muting someone again replaces their mute, also at the cap.
    assert!(store
        .mute(g, m1.id, NOW + 2000, owner.id, NOW + 3, 2)
        .await
        .expect("again"));
    let running = store.group_mutes(g, NOW + 10).await.expect("running");
    assert_eq!(running.members.get(&m1.id), Some(&(NOW + 2000)));
    assert_eq!(running.members.get(&m2.id), Some(&(NOW + 5000)));
    let listed = store.mutes(g, NOW + 10).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|m| (m.user, m.until, m.muted_by))
            .collect::<Vec<_>>(),
        vec![(m2.id, NOW + 5000, owner.id), (m1.id, NOW + 2000, owner.id)],
        "earliest first"
    );
    // Once m1's mute has ended it no longer counts, and no longer holds a place.
    let later = NOW + 3000;
    let after = store.group_mutes(g, later).await.expect("after");
    assert_eq!(
        after.members.keys().copied().collect::<Vec<_>>(),
        vec![m2.id]
    );
    assert!(!store.unmute(g, m1.id, later).await.expect("ended"));
    assert!(store
        .mute(g, m3.id, later + 100, owner.id, later, 2)
        .await
        .expect("the ended mute made room"));
    assert!(store.unmute(g, m3.id, later).await.expect("unmute"));
    assert!(!store.unmute(g, m3.id, later).await.expect("twice"));

    store
        .set_mute_all(g, true, owner.id, NOW)
        .await
        .expect("all");
    store
        .set_mute_all(g, true, owner.id, NOW)
        .await
        .expect("all twice");
    assert!(store.group_mutes(g, later).await.expect("all").all);
    let other = group_of(stores, &owner).await;
    assert!(!store.group_mutes(other, later).await.expect("other").all);
    store
        .set_mute_all(g, false, owner.id, NOW)
        .await
        .expect("off");
    store
        .set_mute_all(g, false, owner.id, NOW)
        .await
        .expect("off twice");
    assert!(!store.group_mutes(g, later).await.expect("off").all);
}

/// A deleted user's blocks, both ways, and their mutes go with them; a dissolved group's
/// mutes go with it.
async fn deletions(stores: &Stores) {
    let store: &dyn BlockStore = stores.blocks.as_ref();
    let a = fresh_user(stores).await;
    let b = fresh_user(stores).await;
    let c = fresh_user(stores).await;
    assert!(store.block(a.id, b.id, NOW, 10).await.expect("a blocks b"));
    assert!(store.block(c.id, a.id, NOW, 10).await.expect("c blocks a"));
    let g = group_of(stores, &c).await;
    assert!(store
        .mute(g, a.id, NOW + 1000, c.id, NOW, 10)
        .await
        .expect("mute a"));
    assert!(stores.users.delete_user(a.id).await.expect("delete"));
    assert!(store.blocked_ids(a.id).await.expect("a").is_empty());
    assert!(store.blocked_ids(c.id).await.expect("c").is_empty());
    assert!(store
        .group_mutes(g, NOW)
        .await
        .expect("g")
        .members
        .is_empty());

    assert!(store
        .mute(g, b.id, NOW + 1000, c.id, NOW, 10)
        .await
        .expect("mute b"));
    store
        .set_mute_all(g, true, c.id, NOW)
        .await
        .expect("mute all");
    stores.groups.dissolve(g).await.expect("dissolve");
    let gone = store.group_mutes(g, NOW).await.expect("gone");
    assert!(!gone.all && gone.members.is_empty());
}
