//! Accounts in SQL: users, refresh tokens, invite keys and verification codes.

use async_trait::async_trait;
use sqlx::FromRow;

use super::SqlStore;
use crate::error::{Conflict, Error, Result};
use crate::store::{CodeStore, InviteStore, PendingCode, TokenStore, UserStore};
use crate::users::names::look_alike_key;
use crate::users::{NewUser, ProfileChange, User, UserId};

#[derive(FromRow)]
pub(super) struct UserRow {
    id: i64,
    username: String,
    password_digest: String,
    email_sealed: Option<String>,
    email_index: Option<String>,
    phone_sealed: Option<String>,
    avatar: String,
    status: String,
    token_version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            password_digest: row.password_digest,
            email_sealed: row.email_sealed,
            email_index: row.email_index,
            phone_sealed: row.phone_sealed,
            avatar: row.avatar,
            status: row.status,
            token_version: row.token_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(FromRow)]
struct CodeRow {
    user_id: i64,
    email_index: String,
    code_digest: String,
    expires_at_secs: i64,
    attempts: i64,
    sent_at_secs: i64,
}

pub(super) const USER_COLUMNS: &str = "id, username, password_digest, email_sealed, email_index, \
     phone_sealed, avatar, status, token_version, created_at, updated_at";

pub(super) fn conflict_or_internal(err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return if db.message().contains("email_index") {
                Error::Conflict(Conflict::Email)
            } else if db.message().contains("name_skeleton") {
                Error::Conflict(Conflict::LookAlike)
            } else {
                Error::Conflict(Conflict::Username)
            };
        }
    }
    Error::from(err)
}

pub(super) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqlStore {
    /// Gives every account made before the look-alike key existed its key. An account whose
    /// key another already holds (two look-alike names registered before) keeps none and is
    /// logged; it can still sign in, and a new name like it is still refused.
    pub(super) async fn fill_look_alike_keys(&self) -> anyhow::Result<()> {
        let missing: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, username FROM users WHERE name_skeleton IS NULL")
                .fetch_all(&self.write)
                .await
                .map_err(anyhow::Error::new)?;
        for (id, username) in missing {
            let filled = sqlx::query("UPDATE users SET name_skeleton = ? WHERE id = ?")
                .bind(look_alike_key(&username))
                .bind(id)
                .execute(&self.write)
                .await;
            match filled {
                Ok(_) => {}
                Err(err) if is_unique_violation(&err) => {
                    tracing::warn!(
                        user = id,
                        "a user name looks like another's; kept without a look-alike key"
                    );
                }
                Err(err) => return Err(anyhow::Error::new(err).context("filling look-alike keys")),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: NewUser, invite: Option<&str>) -> Result<User> {
        let mut tx = self.write.begin().await?;
        if let Some(key) = invite {
            let claimed = sqlx::query(
                "UPDATE invites SET used_by = 0, used_at = ? WHERE invite_key = ? AND used_by IS NULL",
            )
            .bind(user.now)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() != 1 {
                return Err(Error::InvalidInvite(
                    "the invite key is unknown or already used",
                ));
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO users (username, username_key, name_skeleton, password_digest, avatar, \
             status, token_version, created_at, updated_at) VALUES (?, ?, ?, ?, '', ?, 0, ?, ?)",
        )
        .bind(&user.username)
        .bind(user.username.to_lowercase())
        .bind(look_alike_key(&user.username))
        .bind(&user.password_digest)
        .bind(&user.status)
        .bind(user.now)
        .bind(user.now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_or_internal);
        if let Err(error) = inserted {
            // The same name breaks both unique keys, and which one a database names first
            // varies: the name being taken is the answer that matters.
            if matches!(error, Error::Conflict(Conflict::LookAlike)) {
                let taken: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM users WHERE username_key = ?")
                        .bind(user.username.to_lowercase())
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err(Error::Conflict(Conflict::Username));
                }
            }
            return Err(error);
        }
        // Read back by the unique key: the Any driver reports no insert id for SQLite.
        let row: UserRow = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key = ?"
        ))
        .bind(user.username.to_lowercase())
        .fetch_one(&mut *tx)
        .await?;
        if let Some(key) = invite {
            sqlx::query("UPDATE invites SET used_by = ? WHERE invite_key = ?")
                .bind(row.id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(row.into())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(User::from))
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key = ?"
        ))
        .bind(name.to_lowercase())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(User::from))
    }

    async fn user_by_email_index(&self, index: &str) -> Result<Option<UserId>> {
        let id: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email_index = ?")
            .bind(index)
            .fetch_optional(&self.read)
            .await?;
        Ok(id.map(|(id,)| id))
    }

    async fn update_profile(&self, id: UserId, change: ProfileChange) -> Result<User> {
        let mut tx = self.write.begin().await?;
        if let Some((sealed, index)) = &change.email {
            sqlx::query("UPDATE users SET email_sealed = ?, email_index = ? WHERE id = ?")
                .bind(sealed)
                .bind(index)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(conflict_or_internal)?;
        }
        if let Some(sealed) = &change.phone {
            sqlx::query("UPDATE users SET phone_sealed = ? WHERE id = ?")
                .bind(sealed)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(avatar) = &change.avatar {
            sqlx::query("UPDATE users SET avatar = ? WHERE id = ?")
                .bind(avatar)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE users SET updated_at = ? WHERE id = ?")
            .bind(change.now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let row = row.ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        Ok(row.into())
    }

    async fn bump_token_version(&self, id: UserId) -> Result<()> {
        sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn delete_user(&self, id: UserId) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM friends WHERE owner_id = ? OR target_id = ?")
            .bind(id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Memberships still held (the service hands groups off first) leave their counts right.
        sqlx::query(
            "UPDATE chat_groups SET member_count = member_count - 1 \
             WHERE id IN (SELECT group_id FROM group_members WHERE user_id = ?)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for table in [
            "group_members",
            "group_bans",
            "group_mutes",
            "refresh_tokens",
            "email_codes",
            "upload_usage",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM user_blocks WHERE blocker_id = ? OR blocked_id = ?")
            .bind(id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() == 1)
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn save_refresh(&self, jti: &str, user: UserId, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO refresh_tokens (jti, user_id, expires_at_secs) VALUES (?, ?, ?)")
            .bind(jti)
            .bind(user)
            .bind(expires_at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn consume_refresh(&self, jti: &str, user: UserId) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM refresh_tokens WHERE jti = ? AND user_id = ? AND expires_at_secs >= ?",
        )
        .bind(jti)
        .bind(user)
        .bind(crate::tokens::now())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_all_refresh(&self, user: UserId) -> Result<()> {
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = ?")
            .bind(user)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn purge_expired_refresh(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at_secs < ?")
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl InviteStore for SqlStore {
    async fn create_invite(&self, key: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO invites (invite_key, created_at) VALUES (?, ?)")
            .bind(key)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn invite_usable(&self, key: &str) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM invites WHERE invite_key = ? AND used_by IS NULL")
                .bind(key)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl CodeStore for SqlStore {
    async fn put_code(&self, code: &PendingCode, not_after: i64) -> Result<bool> {
        // Replace an old enough code in place; if there is none, insert, and let the
        // primary key turn a concurrent or too recent send into "no".
        let replaced = sqlx::query(
            "UPDATE email_codes SET email_index = ?, code_digest = ?, expires_at_secs = ?, \
             attempts = 0, sent_at_secs = ? WHERE user_id = ? AND sent_at_secs <= ?",
        )
        .bind(&code.email_index)
        .bind(&code.code_digest)
        .bind(code.expires_at)
        .bind(code.sent_at)
        .bind(code.user)
        .bind(not_after)
        .execute(&self.write)
        .await?;
        if replaced.rows_affected() == 1 {
            return Ok(true);
        }
        let inserted = sqlx::query(
            "INSERT INTO email_codes (user_id, email_index, code_digest, expires_at_secs, \
             attempts, sent_at_secs) VALUES (?, ?, ?, ?, 0, ?)",
        )
        .bind(code.user)
        .bind(&code.email_index)
        .bind(&code.code_digest)
        .bind(code.expires_at)
        .bind(code.sent_at)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(err) if is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    async fn code_for(&self, user: UserId) -> Result<Option<PendingCode>> {
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT user_id, email_index, code_digest, expires_at_secs, attempts, sent_at_secs \
             FROM email_codes WHERE user_id = ?",
        )
        .bind(user)
        .fetch_optional(&self.write)
        .await?;
        Ok(row.map(|r| PendingCode {
            user: r.user_id,
            email_index: r.email_index,
            code_digest: r.code_digest,
            expires_at: r.expires_at_secs,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            sent_at: r.sent_at_secs,
        }))
    }

    async fn last_sent_to(&self, email_index: &str, except: UserId) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT sent_at_secs FROM email_codes WHERE email_index = ? AND user_id <> ? \
             ORDER BY sent_at_secs DESC LIMIT 1",
        )
        .bind(email_index)
        .bind(except)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(t,)| t))
    }

    async fn record_wrong_attempt(&self, user: UserId) -> Result<u32> {
        sqlx::query("UPDATE email_codes SET attempts = attempts + 1 WHERE user_id = ?")
            .bind(user)
            .execute(&self.write)
            .await?;
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT attempts FROM email_codes WHERE user_id = ?")
                .bind(user)
                .fetch_optional(&self.write)
                .await?;
        Ok(row.map_or(u32::MAX, |(n,)| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    async fn take_code(&self, user: UserId, code_digest: &str) -> Result<bool> {
        let taken = sqlx::query("DELETE FROM email_codes WHERE user_id = ? AND code_digest = ?")
            .bind(user)
            .bind(code_digest)
            .execute(&self.write)
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn delete_code(&self, user: UserId) -> Result<()> {
        sqlx::query("DELETE FROM email_codes WHERE user_id = ?")
            .bind(user)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
