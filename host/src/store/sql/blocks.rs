//! Blocks and group mutes in SQL.
//!
//! The caps (blocks per user, mutes per group) are checked in the statement or
//! transaction that writes, so requests made at once cannot pass them together: a block
//! is one `INSERT … SELECT` that counts as it inserts, and a mute deletes the group's ended
//! mutes first, which on MySQL locks the group's rows until it commits.

use async_trait::async_trait;
use sqlx::FromRow;

use super::accounts::is_unique_violation;
use super::SqlStore;
use crate::blocks::{Block, GroupMutes, Mute};
use crate::error::Result;
use crate::groups::GroupId;
use crate::store::BlockStore;
use crate::users::UserId;

#[derive(FromRow)]
struct BlockRow {
    blocked_id: i64,
    username: String,
    avatar: String,
    created_at: i64,
}

#[derive(FromRow)]
struct MuteRow {
    user_id: i64,
    username: String,
    avatar: String,
    muted_by: i64,
    muted_at: i64,
    muted_until: i64,
}

#[async_trait]
impl BlockStore for SqlStore {
    async fn block(&self, blocker: UserId, blocked: UserId, now: i64, limit: u32) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO user_blocks (blocker_id, blocked_id, created_at) \
             SELECT ?, ?, ? FROM (SELECT COUNT(*) AS n FROM user_blocks WHERE blocker_id = ?) c \
             WHERE c.n < ?",
        )
        .bind(blocker)
        .bind(blocked)
        .bind(now)
        .bind(blocker)
        .bind(i64::from(limit))
        .execute(&self.write)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => Ok(true),
            // Nothing inserted: the cap was reached, unless this block was already there.
            Ok(_) => {
                let existing: Option<(i64,)> = sqlx::query_as(
                    "SELECT blocked_id FROM user_blocks WHERE blocker_id = ? AND blocked_id = ?",
                )
                .bind(blocker)
                .bind(blocked)
                .fetch_optional(&self.write)
                .await?;
                Ok(existing.is_some())
            }
            Err(err) if is_unique_violation(&err) => Ok(true),
            Err(err) => Err(err.into()),
        }
    }

    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM user_blocks WHERE blocker_id = ? AND blocked_id = ?")
            .bind(blocker)
            .bind(blocked)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn blocked_ids(&self, blocker: UserId) -> Result<Vec<UserId>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT blocked_id FROM user_blocks WHERE blocker_id = ?")
                .bind(blocker)
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn blocks(&self, blocker: UserId) -> Result<Vec<Block>> {
        let rows: Vec<BlockRow> = sqlx::query_as(
            "SELECT b.blocked_id, u.username, u.avatar, b.created_at FROM user_blocks b \
             JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = ? \
             ORDER BY b.created_at, b.blocked_id",
        )
        .bind(blocker)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Block {
                user: r.blocked_id,
                username: r.username,
                avatar: r.avatar,
                blocked_at: r.created_at,
            })
            .collect())
    }

    async fn mute(
        &self,
        group: GroupId,
        user: UserId,
        until: i64,
        by: UserId,
        now: i64,
        limit: u32,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        // The user's old mute goes too: the new one replaces it.
        sqlx::query(
            "DELETE FROM group_mutes WHERE group_id = ? AND (user_id = ? OR muted_until <= ?)",
        )
        .bind(group)
        .bind(user)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let (running,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM group_mutes WHERE group_id = ?")
                .bind(group)
                .fetch_one(&mut *tx)
                .await?;
        if running >= i64::from(limit) {
            // Rolled back on drop: the old mute, if any, stays.
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO group_mutes (group_id, user_id, muted_until, muted_by, muted_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(group)
        .bind(user)
        .bind(until)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unmute(&self, group: GroupId, user: UserId, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM group_mutes WHERE group_id = ? AND user_id = ? AND muted_until > ?",
        )
        .bind(group)
        .bind(user)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_mute_all(&self, group: GroupId, on: bool, by: UserId, now: i64) -> Result<()> {
        if !on {
            sqlx::query("DELETE FROM group_mute_all WHERE group_id = ?")
                .bind(group)
                .execute(&self.write)
                .await?;
            return Ok(());
        }
        let inserted = sqlx::query(
            "INSERT INTO group_mute_all (group_id, muted_by, muted_at) VALUES (?, ?, ?)",
        )
        .bind(group)
        .bind(by)
        .bind(now)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn group_mutes(&self, group: GroupId, now: i64) -> Result<GroupMutes> {
        let all: Option<(i64,)> =
            sqlx::query_as("SELECT group_id FROM group_mute_all WHERE group_id = ?")
                .bind(group)
                .fetch_optional(&self.read)
                .await?;
        let members: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, muted_until FROM group_mutes WHERE group_id = ? AND muted_until > ?",
        )
        .bind(group)
        .bind(now)
        .fetch_all(&self.read)
        .await?;
        Ok(GroupMutes {
            all: all.is_some(),
            members: members.into_iter().collect(),
        })
    }

    async fn mutes(&self, group: GroupId, now: i64) -> Result<Vec<Mute>> {
        let rows: Vec<MuteRow> = sqlx::query_as(
            "SELECT m.user_id, u.username, u.avatar, m.muted_by, m.muted_at, m.muted_until \
             FROM group_mutes m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = ? AND m.muted_until > ? ORDER BY m.muted_at, m.user_id",
        )
        .bind(group)
        .bind(now)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Mute {
                user: r.user_id,
                username: r.username,
                avatar: r.avatar,
                muted_by: r.muted_by,
                muted_at: r.muted_at,
                until: r.muted_until,
            })
            .collect())
    }
}
