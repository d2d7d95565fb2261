//! How long a user's lists are, for the caps on them (friends, groups joined).

use async_trait::async_trait;

use crate::error::Result;
use crate::users::UserId;

/// Counts of a user's lists.
#[async_trait]
pub trait ListCounts: Send + Sync {
    /// How many users `owner` has on their friend list.
    async fn friend_count(&self, owner: UserId) -> Result<u64>;
    /// How many groups `user` is a member of (owned ones included).
    async fn joined_count(&self, user: UserId) -> Result<u64>;
}
