//! Moderation in SQL: accounts found by name, id or email index, an account's status, and
//! the audit log (`audit_log`).

use async_trait::async_trait;
use sqlx::FromRow;

use super::accounts::{UserRow, USER_COLUMNS};
use super::SqlStore;
use crate::error::Result;
use crate::store::moderation::{AuditEntry, AuditStore, ModerationStore, UserQuery};
use crate::store::Page;
use crate::users::{User, UserId};

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at_ms: i64,
    action: String,
    target: String,
    actor: String,
    address: String,
    details: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            at: row.at_ms,
            action: row.action,
            target: row.target,
            actor: row.actor,
            address: row.address,
            details: row.details,
        }
    }
}

/// `prefix` as a LIKE pattern that matches names starting with it, `!` escaping the
/// characters LIKE treats specially.
fn starts_with_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl ModerationStore for SqlStore {
    async fn find_users(&self, query: &UserQuery, page: Page) -> Result<Vec<User>> {
        let limit = i64::from(page.limit);
        let rows: Vec<UserRow> = match query {
            UserQuery::All => {
                sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?"
                ))
                .bind(page.after)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            UserQuery::Name { prefix, id } => {
                // An id no account has (0) when the query was not a number.
                sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users \
                     WHERE (username_key LIKE ? ESCAPE '!' OR id = ?) AND id > ? \
                     ORDER BY id LIMIT ?"
                ))
                .bind(starts_with_pattern(prefix))
                .bind(id.unwrap_or(0))
                .bind(page.after)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            UserQuery::EmailIndex(index) => {
                sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email_index = ? AND id > ? \
                     ORDER BY id LIMIT ?"
                ))
                .bind(index.as_str())
                .bind(page.after)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
        };
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn set_status(&self, user: UserId, status: &str, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET status = ?, updated_at = ? WHERE id = ?")
            .bind(status)
            .bind(now)
            .bind(user)
            .execute(&self.write)
            .await?;
        // MySQL counts only changed rows: setting the status it has reads as no change.
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = ?")
            .bind(user)
            .fetch_optional(&self.write)
            .await?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, action, target, actor, address, details) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.at)
        .bind(entry.action.as_str())
        .bind(entry.target.as_str())
        .bind(entry.actor.as_str())
        .bind(entry.address.as_str())
        .bind(entry.details.as_str())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn audit_before(&self, before: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at_ms, action, target, actor, address, details FROM audit_log \
             WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_only_the_prefix() {
        assert_eq!(starts_with_pattern("al"), "al%");
        assert_eq!(starts_with_pattern("a_b%c!"), "a!_b!%c!!%");
    }

    #[tokio::test]
    async fn sqlite_passes_the_moderation_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqlStore::connect(&crate::config::DatabaseConfig::default(), dir.path())
            .await
            .expect("connect");
        sql.migrate().await.expect("migrate");
        let stores = crate::store::Stores::from_sql(sql);
        crate::store::moderation_conformance::run(&stores).await;
    }
}
