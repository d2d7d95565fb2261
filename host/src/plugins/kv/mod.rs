//! The key-value store plugins get through the host: bytes and counters with optional
//! expiry, private to each plugin. In memory on one node; in Redis when the deployment has
//! one, so a rule such as the stranger limit holds across nodes.
//!
//! Each plugin's store is bounded in keys, and a full store never refuses a write: expired
//! keys go first, then the least recently used ones, and every key dropped that way is
//! counted as an eviction of that plugin. So a flood of new keys (strangers writing to
//! strangers) costs the oldest entries, never the plugin's calls.

use std::time::Duration;

use async_trait::async_trait;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod memory;
mod redis;

pub use self::memory::MemoryKv;
pub use self::redis::RedisKv;

/// The longest key a plugin may use, bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value a plugin may store, bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most keys one plugin's store holds unless configured otherwise
/// (`[plugins] kv_max_keys`).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// A plugin's store. Every method names the plugin; keys of different plugins never meet.
/// Errors become a failed call of the plugin (its failure policy applies); a full store is
/// not an error.
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
    /// Makes `key` expire after `ttl` from now, or never without one; true if it was there.
    async fn expire(&self, plugin: &str, key: &str, ttl: Option<Duration>) -> anyhow::Result<bool>;
    /// Keys this store dropped from the plugin's store to stay within its bound.
    fn evictions(&self, plugin: &str) -> u64;
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
