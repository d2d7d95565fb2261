//! Who is online: a user is online while they hold at least one socket on any node.
//!
//! The embedded default counts sockets in memory ([`MemoryPresence`]); several nodes share
//! a Redis presence (`presence::redis`), where a node that stops refreshing its entries
//! (because it died) drops its users within seconds.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::Result;
use crate::users::UserId;

pub mod redis;

pub use self::redis::RedisPresence;

/// The online list.
#[async_trait]
pub trait Presence: Send + Sync {
    /// One more socket of `user` on this node.
    async fn connect(&self, user: UserId) -> Result<()>;
    /// One socket fewer of `user` on this node.
    async fn disconnect(&self, user: UserId) -> Result<()>;
    /// Whether `user` has a socket on any live node.
    async fn is_online(&self, user: UserId) -> Result<bool>;
    /// Those of `users` that are online, in the given order.
    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>>;
}

/// Socket counts of this process.
#[derive(Debug, Default)]
pub struct MemoryPresence {
    counts: Mutex<HashMap<UserId, usize>>,
}

impl MemoryPresence {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<UserId, usize>) -> T) -> T {
        // A panic while holding this lock cannot leave the map half-changed: every
        // change is a single insert or remove, so a poisoned lock is still consistent.
        let mut guard = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

#[async_trait]
impl Presence for MemoryPresence {
    async fn connect(&self, user: UserId) -> Result<()> {
        self.with(|m| *m.entry(user).or_default() += 1);
        Ok(())
    }

    async fn disconnect(&self, user: UserId) -> Result<()> {
        self.with(|m| {
            if let Some(n) = m.get_mut(&user) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&user);
                }
            }
        });
        Ok(())
    }

    async fn is_online(&self, user: UserId) -> Result<bool> {
        Ok(self.with(|m| m.contains_key(&user)))
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<UserId>> {
        Ok(self.with(|m| {
            users
                .iter()
                .copied()
                .filter(|u| m.contains_key(u))
                .collect()
        }))
    }
}

#[cfg(any(test, feature = "conformance"))]
pub mod conformance {
    //! The presence conformance suite; every backend passes it.

    use super::Presence;

    /// Runs every check. `user` must be an id nobody else uses in this backend.
    pub async fn run(presence: &dyn Presence, user: i64) {
        let other = user + 1;
        assert!(!presence.is_online(user).await.expect("query"));
        presence.connect(user).await.expect("connect");
        presence.connect(user).await.expect("second socket");
        assert!(presence.is_online(user).await.expect("query"));
        assert_eq!(
            presence.online(&[other, user]).await.expect("online"),
            vec![user]
        );
        presence.disconnect(user).await.expect("one closes");
        assert!(presence.is_online(user).await.expect("still one socket"));
        presence.disconnect(user).await.expect("last closes");
        assert!(!presence.is_online(user).await.expect("offline"));
        // A stray disconnect never goes negative.
        presence.disconnect(user).await.expect("stray");
        presence.connect(user).await.expect("again");
        assert!(presence.is_online(user).await.expect("online again"));
        presence.disconnect(user).await.expect("close");
        assert!(presence
            .online(&[user, other])
            .await
            .expect("none")
            .is_empty());
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_presence_passes_the_suite() {
        super::conformance::run(&super::MemoryPresence::default(), 1).await;
    }
}
