//! Upload quotas in SQL, one row of counts per user, and the names files were uploaded
//! under.
//!
//! A reservation is one conditional UPDATE of the user's row, which both dialects run
//! atomically (SQLite has one writer; InnoDB locks the row), so concurrent uploads never
//! pass a quota together, as concurrent joins never pass a group's size.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{Dialect, SqlStore};
use crate::error::{Error, Result};
use crate::store::UploadStore;
use crate::uploads::Quota;
use crate::users::UserId;

#[derive(FromRow)]
struct UsageRow {
    day: i64,
    day_bytes: i64,
    total_bytes: i64,
}

/// A byte count as stored; no file comes near the end of `i64`.
fn stored(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[async_trait]
impl UploadStore for SqlStore {
    async fn reserve_upload(&self, user: UserId, bytes: u64, day: i64, quota: Quota) -> Result<()> {
        let insert = match self.dialect {
            Dialect::Sqlite => "INSERT OR IGNORE",
            Dialect::Mysql => "INSERT IGNORE",
        };
        sqlx::query(&format!(
            "{insert} INTO upload_usage (user_id, day, day_bytes, total_bytes) VALUES (?, ?, 0, 0)"
        ))
        .bind(user)
        .bind(day)
        .execute(&self.write)
        .await?;
        let size = stored(bytes);
        let (per_day, total) = (stored(quota.per_day), stored(quota.total));
        // MySQL assigns left to right with the new values, SQLite all at once with the old
        // ones: `day_bytes` comes before `day`, so both read the old day.
        let counted = sqlx::query(
            "UPDATE upload_usage SET \
             day_bytes = CASE WHEN day = ? THEN day_bytes + ? ELSE ? END, \
             day = ?, total_bytes = total_bytes + ? \
             WHERE user_id = ? \
             AND (? = 0 OR total_bytes + ? <= ?) \
             AND (? = 0 OR (CASE WHEN day = ? THEN day_bytes ELSE 0 END) + ? <= ?)",
        )
        .bind(day)
        .bind(size)
        .bind(size)
        .bind(day)
        .bind(size)
        .bind(user)
        .bind(total)
        .bind(size)
        .bind(total)
        .bind(per_day)
        .bind(day)
        .bind(size)
        .bind(per_day)
        .execute(&self.write)
        .await?;
        if counted.rows_affected() == 1 {
            return Ok(());
        }
        // Refused: read the counts to say which quota it was.
        let usage: UsageRow = sqlx::query_as(
            "SELECT day, day_bytes, total_bytes FROM upload_usage WHERE user_id = ?",
        )
        .bind(user)
        .fetch_one(&self.write)
        .await?;
        let today = if usage.day == day { usage.day_bytes } else { 0 };
        let over_day = per_day > 0 && today.saturating_add(size) > per_day;
        let over_total = total > 0 && usage.total_bytes.saturating_add(size) > total;
        Err(Error::QuotaExceeded(if over_day && !over_total {
            format!(
                "upload quota exceeded: at most {} bytes per day (UTC), {today} used today",
                quota.per_day
            )
        } else {
            format!(
                "upload quota exceeded: at most {} bytes in total, {} used",
                quota.total, usage.total_bytes
            )
        }))
    }

    async fn release_upload(&self, user: UserId, bytes: u64, day: i64) -> Result<()> {
        let size = stored(bytes);
        sqlx::query(
            "UPDATE upload_usage SET \
             day_bytes = CASE WHEN day = ? AND day_bytes >= ? THEN day_bytes - ? ELSE day_bytes END, \
             total_bytes = CASE WHEN total_bytes >= ? THEN total_bytes - ? ELSE 0 END \
             WHERE user_id = ?",
        )
        .bind(day)
        .bind(size)
        .bind(size)
        .bind(size)
        .bind(size)
        .bind(user)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn save_upload_name(
        &self,
        stored_name: &str,
        file_name: &str,
        user: UserId,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO upload_names (stored_name, file_name, uploader, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(stored_name)
        .bind(file_name)
        .bind(user)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn upload_name(&self, stored_name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT file_name FROM upload_names WHERE stored_name = ?")
                .bind(stored_name)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|(name,)| name))
    }
}
