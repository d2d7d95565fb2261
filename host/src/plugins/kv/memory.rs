//! The in-memory store of one node: each plugin's keys with an index by last use and one
//! by expiry, so that making room in a full store takes no scan.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;

use super::{check, PluginKv, DEFAULT_MAX_KEYS};

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
    /// When it was last used, on the space's own clock; unique within the space.
    used: u64,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// One plugin's keys, with two indexes: by last use (for least-recently-used eviction)
/// and by expiry (so expired keys are found without a scan).
#[derive(Debug, Default)]
struct Space {
    entries: HashMap<Arc<str>, Entry>,
    by_use: BTreeMap<u64, Arc<str>>,
    by_expiry: BTreeMap<(Instant, u64), Arc<str>>,
    clock: u64,
}

impl Space {
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The live entry under `key`, marked as used now; an expired one is dropped.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        match self.entries.get(key) {
            None => return None,
            Some(entry) if !entry.live(now) => {
                self.remove(key);
                return None;
            }
            Some(_) => {}
        }
        self.clock += 1;
        let clock = self.clock;
        let (name, entry) = self.entries.get_key_value(key)?;
        let (name, old, expires) = (name.clone(), entry.used, entry.expires);
        self.by_use.remove(&old);
        self.by_use.insert(clock, name.clone());
        if let Some(at) = expires {
            self.by_expiry.remove(&(at, old));
            self.by_expiry.insert((at, clock), name);
        }
        let entry = self.entries.get_mut(key)?;
        entry.used = clock;
        Some(entry)
    }

    /// Stores a new value under `key`, replacing any there.
    fn insert(&mut self, key: &str, value: Vec<u8>, expires: Option<Instant>) {
        self.remove(key);
        self.clock += 1;
        let name: Arc<str> = Arc::from(key);
        self.by_use.insert(self.clock, name.clone());
        if let Some(at) = expires {
            self.by_expiry.insert((at, self.clock), name.clone());
        }
        self.entries.insert(
            name,
            Entry {
                value,
                expires,
                used: self.clock,
            },
        );
    }

    /// Changes the expiry of a live entry (already marked as used).
    fn set_expiry(&mut self, key: &str, expires: Option<Instant>) {
        let Some((name, entry)) = self.entries.get_key_value(key) else {
            return;
        };
        let (name, used, old) = (name.clone(), entry.used, entry.expires);
        if let Some(at) = old {
            self.by_expiry.remove(&(at, used));
        }
        if let Some(at) = expires {
            self.by_expiry.insert((at, used), name);
        }
        if let Some(entry) = self.entries.get_mut(key) {
            entry.expires = expires;
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.by_use.remove(&entry.used);
        if let Some(at) = entry.expires {
            self.by_expiry.remove(&(at, entry.used));
        }
        Some(entry)
    }

    /// Drops every expired key, soonest first, through the expiry index.
    fn drop_expired(&mut self, now: Instant) {
        while let Some((&(at, _), _)) = self.by_expiry.first_key_value() {
            if at > now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.remove(&key);
            }
        }
    }

    /// Makes room for one more key under a bound of `max`: expired keys first, then the
    /// least recently used. Returns how many live keys were evicted.
    fn make_room(&mut self, max: usize, now: Instant) -> u64 {
        if self.len() < max {
            return 0;
        }
        self.drop_expired(now);
        let mut evicted = 0;
        while self.len() >= max.max(1) {
            let Some((_, key)) = self.by_use.pop_first() else {
                break;
            };
            self.remove(&key);
            evicted += 1;
        }
        evicted
    }
}

/// Writes between two sweeps of expired keys in the in-memory store.
const SWEEP_EVERY: u64 = 4096;

#[derive(Debug, Default)]
struct Spaces {
    plugins: HashMap<String, Space>,
    /// Evictions per plugin, kept when a plugin's space empties.
    evictions: HashMap<String, u64>,
}

/// The in-memory store of one node.
#[derive(Debug)]
pub struct MemoryKv {
    spaces: Mutex<Spaces>,
    writes: std::sync::atomic::AtomicU64,
    max_keys: usize,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }
}

impl MemoryKv {
    /// A store holding at most `max_keys` keys per plugin.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            spaces: Mutex::new(Spaces::default()),
            writes: std::sync::atomic::AtomicU64::new(0),
            max_keys: max_keys.max(1),
        }
    }

    fn with_plugin<R>(&self, plugin: &str, f: impl FnOnce(&mut Space) -> R) -> R {
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        let space = spaces.plugins.entry(plugin.to_owned()).or_default();
        f(space)
    }

    /// Makes room for `key` in the plugin's space and counts what that evicted.
    fn room(&self, spaces: &mut Spaces, plugin: &str, key: &str, now: Instant) {
        let space = spaces.plugins.entry(plugin.to_owned()).or_default();
        if space.entries.contains_key(key) {
            return;
        }
        let evicted = space.make_room(self.max_keys, now);
        if evicted > 0 {
            *spaces.evictions.entry(plugin.to_owned()).or_default() += evicted;
        }
    }

    /// Counts a write; every [`SWEEP_EVERY`] writes, drops every expired key, so keys with
    /// a TTL that are never read again do not pile up.
    fn wrote(&self) {
        let writes = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if writes.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
    }

    /// Drops every expired key of every plugin.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        for space in spaces.plugins.values_mut() {
            space.drop_expired(now);
        }
        spaces.plugins.retain(|_, space| space.len() > 0);
    }

    /// How many keys are held, expired ones included until a sweep.
    pub fn len(&self) -> usize {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        spaces.plugins.values().map(Space::len).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl PluginKv for MemoryKv {
    async fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        check(key, None)?;
        let now = Instant::now();
        Ok(self.with_plugin(plugin, |space| {
            space.live(key, now).map(|entry| entry.value.clone())
        }))
    }

    async fn set(
        &self,
        plugin: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> anyhow::Result<()> {
        check(key, Some(&value))?;
        self.wrote();
        let now = Instant::now();
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        self.room(&mut spaces, plugin, key, now);
        let space = spaces.plugins.entry(plugin.to_owned()).or_default();
        space.insert(key, value, ttl.map(|ttl| now + ttl));
        Ok(())
    }

    async fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<bool> {
        check(key, None)?;
        let now = Instant::now();
        Ok(self.with_plugin(plugin, |space| {
            space.remove(key).is_some_and(|e| e.live(now))
        }))
    }

    async fn incr(
        &self,
        plugin: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> anyhow::Result<i64> {
        check(key, None)?;
        self.wrote();
        let now = Instant::now();
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        let space = spaces.plugins.entry(plugin.to_owned()).or_default();
        if let Some(entry) = space.live(key, now) {
            let old = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .context("the value there is not a counter")?;
            let new = old
                .checked_add(delta)
                .context("the counter would overflow")?;
            entry.value = new.to_string().into_bytes();
            return Ok(new);
        }
        self.room(&mut spaces, plugin, key, now);
        let space = spaces.plugins.entry(plugin.to_owned()).or_default();
        space.insert(
            key,
            delta.to_string().into_bytes(),
            ttl.map(|ttl| now + ttl),
        );
        Ok(delta)
    }

    async fn expire(&self, plugin: &str, key: &str, ttl: Option<Duration>) -> anyhow::Result<bool> {
        check(key, None)?;
        let now = Instant::now();
        Ok(self.with_plugin(plugin, |space| {
            if space.live(key, now).is_none() {
                return false;
            }
            space.set_expiry(key, ttl.map(|ttl| now + ttl));
            true
        }))
    }

    fn evictions(&self, plugin: &str) -> u64 {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        spaces.evictions.get(plugin).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::run(&MemoryKv::default(), "memory").await;
    }

    #[tokio::test]
    async fn memory_store_stays_within_its_bound() {
        conformance::bounded(&MemoryKv::with_max_keys(5), 5, "memory").await;
    }

    #[tokio::test]
    async fn a_flood_of_new_keys_keeps_the_recently_used_ones() {
        let kv = MemoryKv::with_max_keys(100);
        kv.set("p", "active", b"v".to_vec(), None)
            .await
            .expect("set");
        for i in 0..10_000 {
            kv.incr("p", &format!("stranger:{i}"), 1, None)
                .await
                .expect("never full");
            if i % 50 == 0 {
                // The active key is read now and then, as a rule's own counter would be.
                assert!(kv.get("p", "active").await.expect("get").is_some());
            }
        }
        assert_eq!(kv.len(), 100);
        assert_eq!(kv.evictions("p"), 10_001 - 100);
        assert_eq!(kv.evictions("q"), 0);
    }

    #[tokio::test]
    async fn expired_keys_are_swept_without_being_read() {
        let kv = MemoryKv::default();
        let ttl = Some(Duration::from_millis(1));
        for i in 0..100 {
            kv.incr("p", &format!("k{i}"), 1, ttl).await.expect("incr");
        }
        kv.set("p", "kept", b"v".to_vec(), None).await.expect("set");
        assert_eq!(kv.len(), 101);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Enough writes to reach the next sweep, all to one key.
        for _ in 0..SWEEP_EVERY {
            kv.incr("p", "busy", 1, None).await.expect("incr");
        }
        assert_eq!(kv.len(), 2, "only the keys without a ttl are left");
        assert_eq!(kv.get("p", "kept").await.expect("get"), Some(b"v".to_vec()));
    }
}
