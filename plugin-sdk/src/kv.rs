//! The plugin's own key-value store, kept by the server.
//!
//! This is where state that must outlive one call lives: the server may reset a plugin's
//! memory between any two calls, and runs several instances of it at once, so a counter in
//! a `static` would be both forgotten and split. Keys are private to the plugin (another
//! plugin's `"count"` is another key). The store is in the server's memory, or in Redis when
//! the deployment has one, so a rule holds across the server's nodes.
//!
//! Limits: a key is 1 to 512 bytes, a value at most 64 KiB. A call that breaks them, or that
//! [`incr`]ements a value that is not a counter, fails the whole hook call (the manifest's
//! `failure` policy applies).
//!
//! The store holds a bounded number of keys per plugin (the server's `[plugins]
//! kv_max_keys`, 100,000 by default). A write to a full store still succeeds: keys that
//! expired go first, then the least recently used ones. Give keys an expiry where the rule
//! allows, so what is dropped is what no longer matters.
//!
//! ```no_run
//! use std::time::Duration;
//! use confab_plugin_sdk::kv;
//!
//! // At most 10 messages a minute per sender: the counter is created with a one-minute
//! // expiry and counts up until it expires.
//! let sender = 42;
//! let sent = kv::incr(&format!("sent:{sender}"), 1, Some(Duration::from_secs(60)));
//! if sent > 10 {
//!     // reject
//! }
//! ```
//!
//! (`no_run` because the host functions exist only inside the server.)

use std::time::Duration;

use crate::__bindings::confab::plugin::host;

/// The value under `key`, if there is one and it has not expired.
///
/// A counter written by [`incr`] reads as its decimal text (`b"3"`).
pub fn get(key: &str) -> Option<Vec<u8>> {
    host::kv_get(key)
}

/// Stores `value` under `key`, replacing what was there. With `ttl` it expires that long
/// from now (rounded up to whole milliseconds); without, it stays until deleted.
pub fn set(key: &str, value: &[u8], ttl: Option<Duration>) {
    host::kv_set(key, value, ttl.map(ttl_ms));
}

/// Removes `key`; true if it was there.
pub fn delete(key: &str) -> bool {
    host::kv_delete(key)
}

/// Adds `delta` (which may be negative) to the counter under `key` and returns the new
/// value; a missing or expired key counts as 0. With `ttl`, a counter this call creates
/// expires that long from now; an existing counter keeps its expiry, so a window starts
/// with its first count.
pub fn incr(key: &str, delta: i64, ttl: Option<Duration>) -> i64 {
    host::kv_incr(key, delta, ttl.map(ttl_ms))
}

/// Makes `key` expire `ttl` from now, or never with `None`; true if the key was there
/// (an expired key is not). With [`incr`], this restarts a counter's window on every
/// count: `incr` keeps the expiry a counter was created with.
///
/// Needs a server on interface 0.1.2 or later.
pub fn expire(key: &str, ttl: Option<Duration>) -> bool {
    host::kv_expire(key, ttl.map(ttl_ms))
}

/// `ttl` in whole milliseconds, rounded up so that a short but non-zero expiry does not
/// become "expire at once", and capped at `u64::MAX`.
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_ms(Duration::ZERO), 0);
        assert_eq!(ttl_ms(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_ms(Duration::MAX), u64::MAX);
    }
}
