//! The key-value store plugins get through the host: bytes and counters with optional
//! expiry, private to each plugin. In memory on one node; in Redis when the deployment has
//! one, so a rule such as the stranger limit holds across nodes.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;

/// The longest key a plugin may use, bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value a plugin may store, bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most keys one plugin may hold in the in-memory store.
pub const MAX_KEYS_PER_PLUGIN: usize = 100_000;

/// A plugin's store. Every method names the plugin; keys of different plugins never meet.
/// Errors become a failed call of the plugin (its failure policy applies).
#[async_trait]
pub trait PluginKv: Send + Sync {
    /// The value under `key`, if any and not expired.
    async fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores `value`, expiring after `ttl` if given.
    async fn set(
        &self,
        plugin: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> anyhow::Result<()>;
    /// Removes `key`; true if it was there.
    async fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<bool>;
    /// Adds `delta` to the decimal counter under `key`; a counter this call creates expires
    /// after `ttl` if given. Fails when the value there is not a counter.
    async fn incr(
        &self,
        plugin: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> anyhow::Result<i64>;
}

/// Checks a key and value against the limits.
pub fn check(key: &str, value: Option<&[u8]>) -> anyhow::Result<()> {
    anyhow::ensure!(!key.is_empty(), "a key must not be empty");
    anyhow::ensure!(
        key.len() <= MAX_KEY_BYTES,
        "a key must be at most {MAX_KEY_BYTES} bytes"
    );
    if let Some(value) = value {
        anyhow::ensure!(
            value.len() <= MAX_VALUE_BYTES,
            "a value must be at most {MAX_VALUE_BYTES} bytes"
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// Writes between two sweeps of expired keys in the in-memory store.
const SWEEP_EVERY: u64 = 4096;

/// The in-memory store of one node.
#[derive(Debug, Default)]
pub struct MemoryKv {
    plugins: Mutex<HashMap<String, HashMap<String, Entry>>>,
    writes: std::sync::atomic::AtomicU64,
}

impl MemoryKv {
    fn with_plugin<R>(&self, plugin: &str, f: impl FnOnce(&mut HashMap<String, Entry>) -> R) -> R {
        let mut plugins = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        let entries = plugins.entry(plugin.to_owned()).or_default();
        f(entries)
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
        let mut plugins = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        for entries in plugins.values_mut() {
            entries.retain(|_, entry| entry.live(now));
        }
        plugins.retain(|_, entries| !entries.is_empty());
    }

    /// How many keys are held, expired ones included until a sweep.
    pub fn len(&self) -> usize {
        let plugins = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        plugins.values().map(HashMap::len).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes room for one more key: drops expired ones first, then refuses.
    fn room(entries: &mut HashMap<String, Entry>, key: &str, now: Instant) -> anyhow::Result<()> {
        if entries.len() < MAX_KEYS_PER_PLUGIN || entries.contains_key(key) {
            return Ok(());
        }
        entries.retain(|_, entry| entry.live(now));
        anyhow::ensure!(
            entries.len() < MAX_KEYS_PER_PLUGIN,
            "the plugin's store is full ({MAX_KEYS_PER_PLUGIN} keys)"
        );
        Ok(())
    }
}

#[async_trait]
impl PluginKv for MemoryKv {
    async fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        check(key, None)?;
        let now = Instant::now();
        Ok(self.with_plugin(plugin, |entries| {
            entries
                .get(key)
                .filter(|e| e.live(now))
                .map(|e| e.value.clone())
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
        self.with_plugin(plugin, |entries| {
            Self::room(entries, key, now)?;
            entries.insert(
                key.to_owned(),
                Entry {
                    value,
                    expires: ttl.map(|ttl| now + ttl),
                },
            );
            Ok(())
        })
    }

    async fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<bool> {
        check(key, None)?;
        let now = Instant::now();
        Ok(self.with_plugin(plugin, |entries| {
            entries.remove(key).is_some_and(|e| e.live(now))
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
        self.with_plugin(plugin, |entries| {
            let current = entries.get(key).filter(|e| e.live(now)).cloned();
            let (old, expires) = match current {
                Some(entry) => {
                    let text = std::str::from_utf8(&entry.value).ok();
                    let old = text
                        .and_then(|t| t.parse::<i64>().ok())
                        .context("the value there is not a counter")?;
                    (old, entry.expires)
                }
                None => {
                    Self::room(entries, key, now)?;
                    (0, ttl.map(|ttl| now + ttl))
                }
            };
            let new = old
                .checked_add(delta)
                .context("the counter would overflow")?;
            entries.insert(
                key.to_owned(),
                Entry {
                    value: new.to_string().into_bytes(),
                    expires,
                },
            );
            Ok(new)
        })
    }
}

/// Adds to a counter, setting the expiry only when this call creates it.
///
/// KEYS: the key. ARGV: delta, ttl in milliseconds or 0 for none.
static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
",
    )
});

/// The store in Redis, under `confab:<namespace>:kv:<plugin>:<key>`.
#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Connects to the Redis at `url`.
    pub async fn connect(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        let conn = client
            .get_connection_manager()
            .await
            .context("connecting to Redis for the plugins' store")?;
        Ok(Self {
            conn,
            prefix: format!("confab:{namespace}:kv"),
        })
    }

    fn key(&self, plugin: &str, key: &str) -> String {
        format!("{}:{plugin}:{key}", self.prefix)
    }
}

fn ttl_ms(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |ttl| {
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

#[async_trait]
impl PluginKv for RedisKv {
    async fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        check(key, None)?;
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(plugin, key))
            .query_async(&mut conn)
            .await
            .context("reading a plugin's key from Redis")?;
        Ok(value)
    }

    async fn set(
        &self,
        plugin: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> anyhow::Result<()> {
        check(key, Some(&value))?;
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(plugin, key)).arg(value);
        if ttl.is_some() {
            cmd.arg("PX").arg(ttl_ms(ttl));
        }
        let () = cmd
            .query_async(&mut conn)
            .await
            .context("writing a plugin's key to Redis")?;
        Ok(())
    }

    async fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<bool> {
        check(key, None)?;
        let mut conn = self.conn.clone();
        let removed: u64 = redis::cmd("DEL")
            .arg(self.key(plugin, key))
            .query_async(&mut conn)
            .await
            .context("removing a plugin's key from Redis")?;
        Ok(removed > 0)
    }

    async fn incr(
        &self,
        plugin: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> anyhow::Result<i64> {
        check(key, None)?;
        let mut conn = self.conn.clone();
        let value: i64 = INCR
            .key(self.key(plugin, key))
            .arg(delta)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut conn)
            .await
            .context("adding to a plugin's counter in Redis")?;
        Ok(value)
    }
}

/// The behaviour every store must show; run on memory here and on Redis by the e2e tests.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance {
    use super::*;

    /// Runs every check against `kv`, using plugin names with `tag` in them so runs on a
    /// shared Redis do not meet.
    pub async fn run(kv: &dyn PluginKv, tag: &str) {
        let a = format!("a-{tag}");
        let b = format!("b-{tag}");
        assert_eq!(kv.get(&a, "k").await.expect("get"), None);
        kv.set(&a, "k", b"one".to_vec(), None).await.expect("set");
        assert_eq!(kv.get(&a, "k").await.expect("get"), Some(b"one".to_vec()));
        assert_eq!(
            kv.get(&b, "k").await.expect("get"),
            None,
            "plugins are apart"
        );

        assert_eq!(kv.incr(&a, "n", 2, None).await.expect("incr"), 2);
        assert_eq!(kv.incr(&a, "n", -5, None).await.expect("incr"), -3);
        assert_eq!(kv.get(&a, "n").await.expect("get"), Some(b"-3".to_vec()));
        assert!(kv.incr(&a, "k", 1, None).await.is_err(), "not a counter");

        assert!(kv.delete(&a, "n").await.expect("delete"));
        assert!(!kv.delete(&a, "n").await.expect("delete"));
        assert_eq!(kv.incr(&a, "n", 1, None).await.expect("incr"), 1);

        let short = Some(Duration::from_millis(150));
        assert_eq!(kv.incr(&a, "t", 1, short).await.expect("incr"), 1);
        // A later incr keeps the first expiry rather than extending it.
        assert_eq!(
            kv.incr(&a, "t", 1, Some(Duration::from_secs(60)))
                .await
                .expect("incr"),
            2
        );
        kv.set(&a, "s", b"x".to_vec(), short).await.expect("set");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let t = kv.get(&a, "t").await.expect("get");
            let s = kv.get(&a, "s").await.expect("get");
            if t.is_none() && s.is_none() {
                break;
            }
            assert!(Instant::now() < deadline, "keys with a ttl never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            kv.incr(&a, "t", 1, None).await.expect("incr"),
            1,
            "expired counts as 0"
        );

        assert!(kv.get(&a, "").await.is_err());
        assert!(kv.get(&a, &"x".repeat(MAX_KEY_BYTES + 1)).await.is_err());
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(kv.set(&a, "big", big, None).await.is_err());
        for key in ["k", "n", "t"] {
            let _ = kv.delete(&a, key).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::run(&MemoryKv::default(), "memory").await;
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
