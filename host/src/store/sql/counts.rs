//! [`ListCounts`] in SQL: one indexed count each.

use async_trait::async_trait;

use super::SqlStore;
use crate::error::Result;
use crate::store::counts::ListCounts;
use crate::users::UserId;

#[async_trait]
impl ListCounts for SqlStore {
    async fn friend_count(&self, owner: UserId) -> Result<u64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM friends WHERE owner_id = ?")
            .bind(owner)
            .fetch_one(&self.read)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn joined_count(&self, user: UserId) -> Result<u64> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM group_members WHERE user_id = ?")
                .bind(user)
                .fetch_one(&self.read)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
