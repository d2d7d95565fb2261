//! The store in Redis, shared by every node of a deployment: each plugin's keys with a
//! sorted set of their names by last use, kept and trimmed to the bound by Lua scripts, so
//! each write and its evictions are one atomic step.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;

use super::{check, PluginKv, DEFAULT_MAX_KEYS};

/// What every script below starts with. Each plugin has an index beside its keys, a sorted
/// set of its key names by last use (microseconds of the server's clock), which is how the
/// least recently used keys are found when the plugin's store is over its bound.
const LUA_PRELUDE: &str = r"
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- Drops the least recently used keys past the bound; returns how many live keys went (a
-- key that expired on its own leaves only its name in the index).
local function trim(index, max, prefix)
  local over = redis.call('ZCARD', index) - max
  local evicted = 0
  if over > 0 then
    local old = redis.call('ZPOPMIN', index, over)
    for i = 1, #old, 2 do
      evicted = evicted + redis.call('DEL', prefix .. old[i])
    end
  end
  return evicted
end
";

fn script(body: &str) -> Script {
    Script::new(&format!("{LUA_PRELUDE}{body}"))
}

/// Reads a key and marks it used.
///
/// KEYS: the key, the index. ARGV: the key's name.
static GET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('ZADD', KEYS[2], now(), ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return value
",
    )
});

/// Stores a value, then trims the plugin's keys to the bound; returns the evictions.
///
/// KEYS: the key, the index. ARGV: the key's name, the value, ttl in milliseconds or 0
/// for none, the bound, the prefix of the plugin's keys.
static SET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('ZADD', KEYS[2], now(), ARGV[1])
return trim(KEYS[2], tonumber(ARGV[4]), ARGV[5])
",
    )
});

/// Adds to a counter, setting the expiry only when this call creates it, then trims the
/// plugin's keys to the bound; returns the new value and the evictions.
///
/// KEYS: the key, the index. ARGV: delta, ttl in milliseconds or 0 for none, the key's
/// name, the bound, the prefix of the plugin's keys.
static INCR: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
redis.call('ZADD', KEYS[2], now(), ARGV[3])
return {value, trim(KEYS[2], tonumber(ARGV[4]), ARGV[5])}
",
    )
});

/// Removes a key and its name from the index; returns 1 if the key was there.
///
/// KEYS: the key, the index. ARGV: the key's name.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
",
    )
});

/// Sets or removes a key's expiry and marks it used; returns 1 if the key was there.
///
/// KEYS: the key, the index. ARGV: the key's name, ttl in milliseconds or 0 for none.
static EXPIRE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local found
if tonumber(ARGV[2]) > 0 then
  found = redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  found = redis.call('EXISTS', KEYS[1])
  if found == 1 then
    redis.call('PERSIST', KEYS[1])
  end
end
if found == 1 then
  redis.call('ZADD', KEYS[2], now(), ARGV[1])
end
return found
",
    )
});

/// The store in Redis, under `confab:<namespace>:kv:<plugin>:<key>`, with each plugin's
/// index of key names by last use under `confab:<namespace>:kv-used:<plugin>`.
#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    namespace: String,
    max_keys: usize,
    /// Evictions this node's writes caused, per plugin.
    evictions: Arc<Mutex<HashMap<String, u64>>>,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("namespace", &self.namespace)
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Connects to the Redis at `url`, with the default bound of keys per plugin.
    pub async fn connect(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        let conn = client
            .get_connection_manager()
            .await
            .context("connecting to Redis for the plugins' store")?;
        Ok(Self {
            conn,
            namespace: namespace.to_owned(),
            max_keys: DEFAULT_MAX_KEYS,
            evictions: Arc::default(),
        })
    }

    /// The same store holding at most `max_keys` keys per plugin.
    pub fn with_max_keys(self, max_keys: usize) -> Self {
        Self {
            max_keys: max_keys.max(1),
            ..self
        }
    }

    /// The prefix of a plugin's keys.
    fn prefix(&self, plugin: &str) -> String {
        format!("confab:{}:kv:{plugin}:", self.namespace)
    }

    /// A plugin's key and its index.
    fn keys(&self, plugin: &str, key: &str) -> (String, String) {
        (
            format!("{}{key}", self.prefix(plugin)),
            format!("confab:{}:kv-used:{plugin}", self.namespace),
        )
    }

    fn evicted(&self, plugin: &str, count: u64) {
        if count > 0 {
            let mut evictions = self.evictions.lock().unwrap_or_else(|e| e.into_inner());
            *evictions.entry(plugin.to_owned()).or_default() += count;
        }
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
        let (data, index) = self.keys(plugin, key);
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = GET
            .key(data)
            .key(index)
            .arg(key)
            .invoke_async(&mut conn)
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
        let (data, index) = self.keys(plugin, key);
        let mut conn = self.conn.clone();
        let evicted: u64 = SET
            .key(data)
            .key(index)
            .arg(key)
            .arg(value)
            .arg(ttl_ms(ttl))
            .arg(self.max_keys)
            .arg(self.prefix(plugin))
            .invoke_async(&mut conn)
            .await
            .context("writing a plugin's key to Redis")?;
        self.evicted(plugin, evicted);
        Ok(())
    }

    async fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<bool> {
        check(key, None)?;
        let (data, index) = self.keys(plugin, key);
        let mut conn = self.conn.clone();
        let removed: u64 = DELETE
            .key(data)
            .key(index)
            .arg(key)
            .invoke_async(&mut conn)
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
        let (data, index) = self.keys(plugin, key);
        let mut conn = self.conn.clone();
        let (value, evicted): (i64, u64) = INCR
            .key(data)
            .key(index)
            .arg(delta)
            .arg(ttl_ms(ttl))
            .arg(key)
            .arg(self.max_keys)
            .arg(self.prefix(plugin))
            .invoke_async(&mut conn)
            .await
            .context("adding to a plugin's counter in Redis")?;
        self.evicted(plugin, evicted);
        Ok(value)
    }

    async fn expire(&self, plugin: &str, key: &str, ttl: Option<Duration>) -> anyhow::Result<bool> {
        check(key, None)?;
        let (data, index) = self.keys(plugin, key);
        let mut conn = self.conn.clone();
        let found: u64 = EXPIRE
            .key(data)
            .key(index)
            .arg(key)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut conn)
            .await
            .context("setting the expiry of a plugin's key in Redis")?;
        Ok(found > 0)
    }

    fn evictions(&self, plugin: &str) -> u64 {
        let evictions = self.evictions.lock().unwrap_or_else(|e| e.into_inner());
        evictions.get(plugin).copied().unwrap_or(0)
    }
}
