//! Who is whose friend, as the message path asks it: whether two users are friends, for the
//! context the message filters see.
//!
//! Two users are friends when each has the other on their friend list. The seed's list is
//! one-way (anyone may add anyone), so a one-sided entry says nothing about the other side
//! wanting the messages: a rule such as the stranger limit must not let a sender exempt
//! themselves by adding their target.
//!
//! Each user's list is kept whole per node (a [`ListCache`] in [`crate::facts::Facts`]),
//! "not a friend" included, which is only safe because every change is announced:
//! [`crate::friends::FriendService`] forgets the owner's copy on this node and publishes
//! [`crate::bus::Event::FriendsChanged`] for the others. So a message costs two look-ups in
//! memory, and the store is read once per user and node, and again after each change.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use crate::blocks::ListCache;
use crate::error::Result;
use crate::store::{FriendStore, Page};
use crate::users::UserId;

/// Entries read from the store per query while a list is loaded.
const LOAD_PAGE: u32 = 500;

/// Every user's friend list that this node has read, and where to read the others.
pub struct FriendLists {
    lists: ListCache<UserId, HashSet<UserId>>,
    /// Connected once at start; without it nobody counts as friends (services built by
    /// hand in unit tests).
    store: OnceLock<Arc<dyn FriendStore>>,
}

impl std::fmt::Debug for FriendLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FriendLists")
            .field("kept", &self.lists.len())
            .finish_non_exhaustive()
    }
}

impl FriendLists {
    /// No lists yet, holding at most `capacity` entries over all lists.
    pub fn new(capacity: usize) -> Self {
        Self {
            lists: ListCache::new(capacity),
            store: OnceLock::new(),
        }
    }

    /// Reads missing lists from `store` from now on. Only the first call counts.
    pub fn read_from(&self, store: Arc<dyn FriendStore>) {
        let _ = self.store.set(store);
    }

    /// Whether `a` and `b` each have the other on their friend list.
    pub async fn mutual(&self, a: UserId, b: UserId) -> Result<bool> {
        Ok(self.list(a).await?.contains(&b) && self.list(b).await?.contains(&a))
    }

    /// Forgets `owner`'s list, which changed.
    pub fn forget(&self, owner: &UserId) {
        self.lists.forget(owner);
    }

    /// Forgets every list.
    pub fn clear(&self) {
        self.lists.clear();
    }

    /// The ids on `owner`'s list: from memory when kept, else from the store.
    async fn list(&self, owner: UserId) -> Result<Arc<HashSet<UserId>>> {
        if let Some(list) = self.lists.get(&owner) {
            return Ok(list);
        }
        let Some(store) = self.store.get() else {
            return Ok(Arc::default());
        };
        let epoch = self.lists.epoch();
        let mut ids = HashSet::new();
        let mut page = Page::first(LOAD_PAGE);
        loop {
            let entries = store.friends(owner, page).await?;
            ids.extend(entries.iter().map(|entry| entry.target));
            match entries.last() {
                Some(last) if entries.len() >= LOAD_PAGE as usize => page.after = last.id,
                _ => break,
            }
        }
        let list = Arc::new(ids);
        self.lists.remember(owner, list.clone(), epoch);
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseConfig;
    use crate::store::{SqlStore, Stores};
    use crate::users::NewUser;

    async fn users(stores: &Stores, count: usize) -> Vec<UserId> {
        let mut ids = Vec::new();
        for n in 0..count {
            let new = NewUser {
                username: format!("user{n}"),
                password_digest: "x".to_owned(),
                status: "active".to_owned(),
                now: 0,
            };
            ids.push(stores.users.create_user(new, None).await.expect("user").id);
        }
        ids
    }

    #[tokio::test]
    async fn friends_are_mutual_and_a_change_is_seen_once_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("connect");
        sql.migrate().await.expect("migrate");
        let stores = Stores::from_sql(sql);
        let ids = users(&stores, 3).await;
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        let lists = FriendLists::new(100);
        assert!(!lists.mutual(a, b).await.expect("no store"), "unconnected");
        lists.read_from(stores.friends.clone());

        stores.friends.add_friend(a, b, 0).await.expect("add");
        assert!(!lists.mutual(a, b).await.expect("read"), "one side only");
        stores.friends.add_friend(b, a, 0).await.expect("add");
        // b's list was kept from the first question: still stale until forgotten.
        assert!(!lists.mutual(b, a).await.expect("read"));
        lists.forget(&b);
        assert!(lists.mutual(b, a).await.expect("read"));
        assert!(lists.mutual(a, b).await.expect("read"));
        assert!(!lists.mutual(a, c).await.expect("read"));
        stores.friends.delete_friend(a, b).await.expect("delete");
        lists.forget(&a);
        assert!(!lists.mutual(a, b).await.expect("read"));
    }
}
