//! Whole lists kept in memory per key (a user's blocks, a group's mutes), so the message path
//! asks the store once per key and node rather than once per message.
//!
//! Unlike the positive facts of `facts`, a list also answers "not there", which is the
//! common case (nobody blocked, nobody muted). That is only safe because every change to a
//! list is announced on the bus and makes every node forget its copy; a copy read from the
//! store while a change was being announced is not kept (see [`ListCache::remember`]).
//! Should an announcement be lost all the same (a bus that dropped events), a copy is also
//! read again once it is [`MAX_AGE`] old, so no stale list outlives that.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How much memory a cached list stands for, in entries.
pub trait Weigh {
    /// The list's entries, plus one for the list itself.
    fn weight(&self) -> usize;
}

impl<T> Weigh for HashSet<T> {
    fn weight(&self) -> usize {
        self.len() + 1
    }
}

/// How many entries, over all lists, a cache keeps before it starts over: a bound on
/// memory far above what one node's active users and groups need.
pub const DEFAULT_WEIGHT: usize = 1 << 20;

/// How long a list is kept before it is read again, whatever the bus says: one read per
/// list and node a minute at most.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Lists known to be current, by key.
///
/// A miss reads the store and then [`ListCache::remember`]s the list with the
/// [`ListCache::epoch`] read before the store: if any list was forgotten meanwhile, the
/// answer may predate the change that made it forgotten and is not kept.
#[derive(Debug)]
pub struct ListCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<K, V> {
    lists: HashMap<K, (Arc<V>, Instant)>,
    weight: usize,
    epoch: u64,
}

impl<K: Hash + Eq, V: Weigh> ListCache<K, V> {
    /// An empty cache holding lists of at most `capacity` entries in all.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                lists: HashMap::new(),
                weight: 0,
                epoch: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // Every change completes under the lock, so a poisoned lock guards a whole map.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The list for `key`, if kept and read less than [`MAX_AGE`] ago.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let inner = self.lock();
        let (list, read_at) = inner.lists.get(key)?;
        (read_at.elapsed() < MAX_AGE).then(|| list.clone())
    }

    /// The count of forgets so far; read it before asking the store.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps a list read from the store, unless anything was forgotten since `epoch`.
    pub fn remember(&self, key: K, list: Arc<V>, epoch: u64) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        let weight = list.weight();
        if inner.weight + weight > self.capacity {
            inner.lists.clear();
            inner.weight = 0;
        }
        inner.weight += weight;
        if let Some((old, _)) = inner.lists.insert(key, (list, Instant::now())) {
            inner.weight -= old.weight();
        }
    }

    /// Forgets one list.
    pub fn forget(&self, key: &K) {
        let mut inner = self.lock();
        inner.epoch += 1;
        if let Some((old, _)) = inner.lists.remove(key) {
            inner.weight -= old.weight();
        }
    }

    /// Forgets every list.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.lists.clear();
        inner.weight = 0;
    }

    /// How many lists are kept.
    pub fn len(&self) -> usize {
        self.lock().lists.len()
    }

    /// Whether no list is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[i64]) -> Arc<HashSet<i64>> {
        Arc::new(ids.iter().copied().collect())
    }

    #[test]
    fn a_list_read_before_a_forget_is_not_kept() {
        let cache = ListCache::new(100);
        let epoch = cache.epoch();
        // The user blocks someone while another task was reading their old list.
        cache.forget(&1);
        cache.remember(1, set(&[]), epoch);
        assert!(cache.get(&1).is_none(), "a stale list came back");
        let epoch = cache.epoch();
        cache.remember(1, set(&[2]), epoch);
        assert_eq!(cache.get(&1), Some(set(&[2])));
    }

    #[test]
    fn the_cache_is_bounded_by_entries() {
        let cache = ListCache::new(10);
        for user in 0..20 {
            let epoch = cache.epoch();
            cache.remember(user, set(&[1, 2, 3]), epoch);
            assert!(cache.lock().weight <= 10);
        }
        assert!(cache.get(&19).is_some());
        // A list replaced under the same key is counted once.
        let epoch = cache.epoch();
        cache.remember(19, set(&[4]), epoch);
        assert_eq!((cache.len(), cache.lock().weight), (2, 4 + 2));
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.lock().weight, 0);
    }
}
