//! Facts that rarely change, kept in memory so the message path does not ask the database
//! for them on every message: that a user exists, that a user is a member of a group.
//!
//! Only positive facts are kept, and each is forgotten by the event that ends it (an account
//! deleted, a member removed), on this node at once and on the others when the bus brings
//! the event. A negative answer is never cached: a new member or user is found in the
//! store the first time and remembered from then on. Block lists and mutes are the
//! exception: they are kept whole, "not blocked" included, and every change to one is
//! announced (see `blocks::cache`); so are friend lists and members' roles, which the
//! message filters' context reads (see `friendships` and `groups::roles`).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::blocks::{GroupMutes, ListCache};
use crate::bus::{Bus, Event};
use crate::groups::GroupId;
use crate::users::UserId;

/// How many facts of one kind are kept before the set starts over: a bound on memory,
/// far above what a single node's active users need.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// A set of facts known to be true.
///
/// A look-up that misses reads the store and then [`FactCache::remember`]s the answer with
/// the [`FactCache::epoch`] it read before the store: if anything was forgotten meanwhile
/// the answer may be stale and is not kept. So a fact removed while a reader was in the
/// store never comes back from that reader.
#[derive(Debug)]
pub struct FactCache<K> {
    inner: Mutex<Inner<K>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<K> {
    known: HashSet<K>,
    epoch: u64,
}

impl<K: Hash + Eq + Clone> FactCache<K> {
    /// An empty cache holding at most `capacity` facts.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                known: HashSet::new(),
                epoch: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        // Every change completes under the lock, so a poisoned lock guards a whole set.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the fact is known to be true.
    pub fn contains(&self, fact: &K) -> bool {
        self.lock().known.contains(fact)
    }

    /// The count of forgets so far; read it before asking the store.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps a fact read from the store, unless something was forgotten since `epoch`.
    pub fn remember(&self, fact: K, epoch: u64) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        if inner.known.len() >= self.capacity {
            inner.known.clear();
        }
        inner.known.insert(fact);
    }

    /// Forgets one fact.
    pub fn forget(&self, fact: &K) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.known.remove(fact);
    }

    /// Forgets every fact that matches.
    pub fn forget_where(&self, matches: impl Fn(&K) -> bool) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.known.retain(|fact| !matches(fact));
    }

    /// How many facts are kept.
    pub fn len(&self) -> usize {
        self.lock().known.len()
    }

    /// Whether no fact is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The facts the message path reads.
#[derive(Debug)]
pub struct Facts {
    /// Users known to exist.
    pub users: FactCache<UserId>,
    /// (group, user) pairs known to be memberships.
    pub members: FactCache<(GroupId, UserId)>,
    /// Whole block lists by user, negative answers included (see `blocks::cache`).
    pub blocks: ListCache<UserId, HashSet<UserId>>,
    /// What is muted, by group (see `blocks::cache`).
    pub mutes: ListCache<GroupId, GroupMutes>,
    /// Whole friend lists by owner, for the message filters' context (see `friendships`).
    pub friends: crate::friendships::FriendLists,
    /// Members' roles, for the message filters' context (see `groups::roles`).
    pub roles: ListCache<(GroupId, UserId), crate::groups::Role>,
}

impl Default for Facts {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Facts {
    /// Empty caches of `capacity` facts each.
    pub fn new(capacity: usize) -> Self {
        Self {
            users: FactCache::new(capacity),
            members: FactCache::new(capacity),
            blocks: ListCache::new(crate::blocks::cache::DEFAULT_WEIGHT),
            mutes: ListCache::new(crate::blocks::cache::DEFAULT_WEIGHT),
            friends: crate::friendships::FriendLists::new(crate::blocks::cache::DEFAULT_WEIGHT),
            roles: ListCache::new(capacity),
        }
    }

    /// Forgets what `event` ends.
    pub fn apply(&self, event: &Event) {
        match event {
            // Sent when an account is deleted (and on sign-out, where forgetting costs
            // only one read later).
            Event::Revoked { user } => {
                self.users.forget(user);
                self.members.forget_where(|(_, member)| member == user);
            }
            Event::Removed { group, user } => {
                self.members.forget(&(*group, *user));
                self.roles.forget(&(*group, *user));
            }
            Event::FriendsChanged { user } => self.friends.forget(user),
            Event::RoleChanged { group, user } => self.roles.forget(&(*group, *user)),
            Event::BlocksChanged { user } => self.blocks.forget(user),
            Event::MutesChanged { group } => self.mutes.forget(group),
            // Removals may have been missed: nothing cached can be trusted.
            Event::Resync => {
                self.users.forget_where(|_| true);
                self.members.forget_where(|_| true);
                self.blocks.clear();
                self.mutes.clear();
                self.friends.clear();
                self.roles.clear();
            }
            Event::Direct { .. }
            | Event::Group { .. }
            | Event::Change { .. }
            | Event::Mentioned { .. }
            | Event::Plugin { .. } => {}
        }
    }

    /// Keeps these facts true on this node: every event from every node goes through
    /// [`Facts::apply`]. A node that falls behind the bus forgets everything.
    pub fn watch(self: &Arc<Self>, bus: &Arc<dyn Bus>) {
        let mut events = bus.subscribe();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let event = events.recv().await;
                let Some(facts) = weak.upgrade() else { return };
                match event {
                    Ok(event) => facts.apply(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => facts.apply(&Event::Resync),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_read_before_a_forget_is_not_kept() {
        let cache = FactCache::new(10);
        let epoch = cache.epoch();
        // A member is removed while another task was reading "member" from the store.
        cache.forget(&(1, 2));
        cache.remember((1, 2), epoch);
        assert!(!cache.contains(&(1, 2)), "a stale answer came back");
        let epoch = cache.epoch();
        cache.remember((1, 2), epoch);
        assert!(cache.contains(&(1, 2)));
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = FactCache::new(3);
        for user in 0..10 {
            let epoch = cache.epoch();
            cache.remember(user, epoch);
            assert!(cache.len() <= 3);
        }
        assert!(cache.contains(&9));
    }

    #[test]
    fn events_forget_what_they_end() {
        let facts = Facts::new(100);
        for (group, user) in [(1, 7), (2, 7), (1, 8)] {
            let epoch = facts.members.epoch();
            facts.members.remember((group, user), epoch);
        }
        let epoch = facts.users.epoch();
        facts.users.remember(7, epoch);
        facts.apply(&Event::Removed { group: 1, user: 8 });
        assert!(!facts.members.contains(&(1, 8)));
        assert!(facts.members.contains(&(1, 7)));
        facts.apply(&Event::Revoked { user: 7 });
        assert!(!facts.users.contains(&7));
        assert!(!facts.members.contains(&(1, 7)) && !facts.members.contains(&(2, 7)));
    }

    #[tokio::test]
    async fn events_from_the_bus_reach_the_cache() {
        let bus: Arc<dyn Bus> = Arc::new(crate::bus::LocalBus::default());
        let facts = Arc::new(Facts::new(100));
        facts.watch(&bus);
        let epoch = facts.members.epoch();
        facts.members.remember((3, 4), epoch);
        bus.publish(Event::Removed { group: 3, user: 4 })
            .await
            .expect("publish");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while facts.members.contains(&(3, 4)) {
            assert!(tokio::time::Instant::now() < deadline, "never forgotten");
            tokio::task::yield_now().await;
        }
    }
}
