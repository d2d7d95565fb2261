//! The Redis online list shared by several nodes, where a node that dies drops its users
//! within seconds.
//!
//! Each node writes only its own entries:
//!
//! - `confab:<ns>:presence:node:<node>`, a hash of user id → socket count on that node;
//! - `confab:<ns>:presence:alive:<node>`, a heartbeat key that expires after `ttl`;
//! - `confab:<ns>:presence:nodes`, the set of node ids that may hold sockets.
//!
//! A background task refreshes the heartbeat (and the hash's expiry) every `ttl / 3`. A
//! query counts only nodes whose heartbeat still exists, and removes the others from the
//! set together with their hashes, so a node that stops refreshing (because it died)
//! stops counting at most `ttl` later. The scripts name keys that are not in `KEYS`,
//! which standalone Redis allows and Redis Cluster does not.
//!
//! The node also keeps its counts in memory. They are the truth about its own sockets:
//! should Redis miss a write, or should the node be declared dead while it was only
//! slow (its heartbeat expired and another node removed its hash), the refresh task
//! rewrites the hash from memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use redis::aio::ConnectionManager;

/// How long one presence command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
use redis::Script;
use tokio::sync::RwLock;
use tokio::task::AbortHandle;

use super::Presence;
use crate::error::Result;
use crate::users::UserId;

/// The shortest heartbeat lifetime accepted: the refresh period is a third of it.
const MIN_TTL: Duration = Duration::from_millis(300);

/// Renews this node's heartbeat and the expiry of its hash, and says whether the
/// heartbeat still existed (if not, other nodes may have removed the hash).
///
/// KEYS: alive, hash, nodes. ARGV: node, ttl in milliseconds.
static REFRESH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local was_alive = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return was_alive
",
    )
});

/// Replaces this node's hash with the given counts.
///
/// KEYS: hash. ARGV: ttl in milliseconds, then user, count pairs.
static RESTORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
",
    )
});

/// One socket fewer; the field goes at zero so the hash holds online users only.
///
/// KEYS: hash. ARGV: user, ttl in milliseconds.
static DECREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
",
    )
});

/// Which of the users hold a socket on a live node (1) or not (0), in order; forgets the
/// nodes whose heartbeat expired on the way.
///
/// KEYS: nodes. ARGV: key prefix (`confab:<ns>:presence:`), then the users.
static ONLINE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local prefix = ARGV[1]
local live = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', prefix .. 'alive:' .. node) == 1 then
    live[#live + 1] = prefix .. 'node:' .. node
  else
    redis.call('SREM', KEYS[1], node)
    redis.call('DEL', prefix .. 'node:' .. node)
  end
end
local out = {}
for i = 2, #ARGV do
  local found = 0
  for _, hash in ipairs(live) do
    local n = tonumber(redis.call('HGET', hash, ARGV[i]) or '0')
    if n and n > 0 then
      found = 1
      break
    end
  end
  out[#out + 1] = found
end
return out
",
    )
});

/// The keys of one node in one namespace.
#[derive(Debug, Clone)]
struct Keys {
    /// `confab:<ns>:presence:`, which the query script extends itself.
    prefix: String,
    nodes: String,
    alive: String,
    hash: String,
}

impl Keys {
    fn new(namespace: &str, node: u64) -> Self {
        let prefix = if namespace.is_empty() {
            "confab:presence:".to_owned()
        } else {
            format!("confab:{namespace}:presence:")
        };
        Self {
            nodes: format!("{prefix}nodes"),
            alive: format!("{prefix}alive:{node}"),
            hash: format!("{prefix}node:{node}"),
            prefix,
        }
    }
}

/// What the trait methods and the refresh task share.
#[derive(Debug, Default)]
struct Local {
    /// This node's socket counts.
    counts: Mutex<HashMap<UserId, u64>>,
    /// Held shared by every write of a count (memory and Redis) and exclusively while the
    /// hash is rewritten, so a rewrite never races a count in flight.
    writes: RwLock<()>,
    /// A write to Redis failed, so the hash may differ from `counts`.
    dirty: AtomicBool,
}

impl Local {
    /// Applies `f` to the map. Every change is a single insert or remove, so a poisoned
    /// lock still holds a consistent map.
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<UserId, u64>) -> T) -> T {
        let mut guard = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// The online list in Redis, as seen and written by one node.
pub struct RedisPresence {
    conn: ConnectionManager,
    keys: Keys,
    node: u64,
    ttl_ms: i64,
    local: Arc<Local>,
    refresh: AbortHandle,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("node", &self.node)
            .field("keys", &self.keys)
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl RedisPresence {
    /// Connects to `url`, announces `node` and starts refreshing its heartbeat every
    /// `ttl / 3`. Keys live under `confab:<namespace>:presence:` (`confab:presence:` for an
    /// empty namespace); every node of a cluster must use the same namespace.
    pub async fn connect(
        url: &str,
        namespace: &str,
        node: u64,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            ttl >= MIN_TTL,
            "the presence ttl must be at least {MIN_TTL:?}, not {ttl:?}"
        );
        let ttl_ms = i64::try_from(ttl.as_millis()).context("the presence ttl is too long")?;
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        // Bounded waits: with Redis away, an online check or a socket's arrival must fail
        // fast (the caller then goes on without it), never hold a send until Redis is back.
        let mut conn = client
            .get_connection_manager_with_config(
                redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    .set_connection_timeout(Some(COMMAND_TIMEOUT))
                    .set_number_of_retries(1),
            )
            .await
            .context("connecting to Redis for presence")?;
        let keys = Keys::new(namespace, node);
        refresh(&mut conn, &keys, node, ttl_ms)
            .await
            .context("announcing this node's presence")?;
        let local = Arc::new(Local::default());
        let task = tokio::spawn(keep_alive(
            conn.clone(),
            keys.clone(),
            node,
            ttl_ms,
            local.clone(),
            ttl / 3,
        ));
        Ok(Self {
            conn,
            keys,
            node,
            ttl_ms,
            local,
            refresh: task.abort_handle(),
        })
    }

    /// Stops refreshing and removes this node's entries, so its users go offline at once.
    /// Failures are logged: the entries then expire after the ttl anyway.
    pub async fn shutdown(&self) {
        self.refresh.abort();
        let result = redis::pipe()
            .atomic()
            .del(&self.keys.alive)
            .ignore()
            .del(&self.keys.hash)
            .ignore()
            .srem(&self.keys.nodes, self.node)
            .ignore()
            .exec_async(&mut self.conn.clone())
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, node = self.node, "removing this node's presence failed");
        }
    }

    /// Whether Redis answers a PING now (the readiness probe).
    pub async fn ping(&self) -> Result<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .context("pinging Redis")?;
        Ok(())
    }

    /// Stops refreshing without removing anything, as if the process had died.
    #[doc(hidden)]
    pub fn kill_for_tests(&self) {
        self.refresh.abort();
    }

    /// Records the outcome of a count written to Redis: a failure leaves the hash to be
    /// rewritten by the refresh task.
    fn settle(&self, result: redis::RedisResult<()>, what: &'static str) -> Result<()> {
        if result.is_err() {
            self.local.dirty.store(true, Ordering::SeqCst);
        }
        Ok(result.context(what)?)
    }
}

impl Drop for RedisPresence {
    fn drop(&mut self) {
        // Without `shutdown` the entries stay until the heartbeat expires, as for a crash.
        self.refresh.abort();
    }
}

#[async_trait]
impl Presence for RedisPresence {
    async fn connect(&self, user: UserId) -> Result<()> {
        let _write = self.local.writes.read().await;
        self.local.with(|m| *m.entry(user).or_default() += 1);
        let result = redis::pipe()
            .atomic()
            .hincr(&self.keys.hash, user, 1)
            .ignore()
            .pexpire(&self.keys.hash, self.ttl_ms)
            .ignore()
            .exec_async(&mut self.conn.clone())
            .await;
        self.settle(result, "counting a socket in Redis")
    }

    async fn disconnect(&self, user: UserId) -> Result<()> {
        let _write = self.local.writes.read().await;
        let counted = self.local.with(|m| match m.get_mut(&user) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    m.remove(&user);
                }
                true
            }
            None => false,
        });
        // A stray disconnect must not take a socket from Redis that this node never added.
        if !counted {
            return Ok(());
        }
        let result = DECREMENT
            .key(&self.keys.hash)
            .arg(user)
            .arg(self.ttl_ms)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop);
        self.settle(result, "uncounting a socket in Redis")
    }

    async fn is_online(&self, user: UserId) -> Result<bool> {
        Ok(!self.online(&[user]).await?.is_empty())
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let found: Vec<i64> = ONLINE
            .key(&self.keys.nodes)
            .arg(&self.keys.prefix)
            .arg(users)
            .invoke_async(&mut self.conn.clone())
            .await
            .context("reading presence from Redis")?;
        if found.len() != users.len() {
            return Err(anyhow::anyhow!(
                "the presence script answered {} flags for {} users",
                found.len(),
                users.len()
            )
            .into());
        }
        Ok(users
            .iter()
            .zip(found)
            .filter(|(_, flag)| *flag == 1)
            .map(|(user, _)| *user)
            .collect())
    }
}

/// Renews the heartbeat; `Ok(false)` means it had expired.
async fn refresh(
    conn: &mut ConnectionManager,
    keys: &Keys,
    node: u64,
    ttl_ms: i64,
) -> redis::RedisResult<bool> {
    REFRESH
        .key(&keys.alive)
        .key(&keys.hash)
        .key(&keys.nodes)
        .arg(node)
        .arg(ttl_ms)
        .invoke_async(conn)
        .await
}

/// Rewrites the hash from the counts in memory.
async fn restore(
    conn: &mut ConnectionManager,
    keys: &Keys,
    ttl_ms: i64,
    local: &Local,
) -> redis::RedisResult<usize> {
    let _all = local.writes.write().await;
    local.dirty.store(false, Ordering::SeqCst);
    let counts: Vec<(UserId, u64)> = local.with(|m| m.iter().map(|(u, n)| (*u, *n)).collect());
    let mut script = RESTORE.prepare_invoke();
    script.key(&keys.hash).arg(ttl_ms);
    for (user, n) in &counts {
        script.arg(user).arg(n);
    }
    let result = script.invoke_async::<i64>(conn).await;
    if result.is_err() {
        local.dirty.store(true, Ordering::SeqCst);
    }
    result.map(|_| counts.len())
}

/// The refresh task: renews the heartbeat every `period`, and rewrites the hash when it
/// may have been lost or missed a write.
async fn keep_alive(
    mut conn: ConnectionManager,
    keys: Keys,
    node: u64,
    ttl_ms: i64,
    local: Arc<Local>,
    period: Duration,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let was_alive = match refresh(&mut conn, &keys, node, ttl_ms).await {
            Ok(was_alive) => was_alive,
            Err(err) => {
                tracing::warn!(error = %err, node, "refreshing this node's presence failed");
                continue;
            }
        };
        if !was_alive {
            tracing::warn!(
                node,
                "this node's presence had expired; restoring its online users"
            );
        }
        if !was_alive || local.dirty.load(Ordering::SeqCst) {
            match restore(&mut conn, &keys, ttl_ms, &local).await {
                Ok(users) => tracing::info!(node, users, "restored this node's presence"),
                Err(err) => {
                    tracing::warn!(error = %err, node, "restoring this node's presence failed")
                }
            }
        }
    }
}
