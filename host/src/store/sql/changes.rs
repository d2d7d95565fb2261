//! Edits, recalls, hidings and reactions in SQL (tables of migration 0010).

use std::collections::HashSet;

use async_trait::async_trait;

use super::accounts::is_unique_violation;
use super::messages::{MessageRow, COLUMNS};
use super::SqlStore;
use crate::error::Result;
use crate::messages::{Conversation, Message};
use crate::store::changes::{ChangeStore, Reaction};
use crate::users::UserId;

/// `?, ?, …` for `n` values.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl ChangeStore for SqlStore {
    async fn message(&self, id: i64) -> Result<Option<Message>> {
        let row: Option<MessageRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        row.map(MessageRow::into_stored).transpose()
    }

    async fn edit(&self, id: i64, content: &str, at_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE messages SET content = ?, edited_at = ? WHERE id = ?")
            .bind(content)
            .bind(at_ms)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn recall(&self, id: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM messages WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for table in ["reactions", "message_hidden"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE message_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn hide(&self, user: UserId, id: i64) -> Result<bool> {
        let inserted =
            sqlx::query("INSERT INTO message_hidden (user_id, message_id) VALUES (?, ?)")
                .bind(user)
                .bind(id)
                .execute(&self.write)
                .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(err) if is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    async fn hidden(&self, user: UserId, ids: &[i64]) -> Result<HashSet<i64>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT message_id FROM message_hidden WHERE user_id = ? AND message_id IN ({})",
            placeholders(ids.len())
        );
        let mut query = sqlx::query_as::<_, (i64,)>(&sql).bind(user);
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.read).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn react(&self, reaction: &Reaction, on: bool, at_ms: i64) -> Result<bool> {
        if !on {
            let done = sqlx::query(
                "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
            )
            .bind(reaction.message)
            .bind(reaction.user)
            .bind(&reaction.emoji)
            .execute(&self.write)
            .await?;
            return Ok(done.rows_affected() > 0);
        }
        let inserted = sqlx::query(
            "INSERT INTO reactions (message_id, user_id, emoji, reacted_at) VALUES (?, ?, ?, ?)",
        )
        .bind(reaction.message)
        .bind(reaction.user)
        .bind(&reaction.emoji)
        .bind(at_ms)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(err) if is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    async fn reactions(&self, ids: &[i64]) -> Result<Vec<Reaction>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT message_id, user_id, emoji FROM reactions WHERE message_id IN ({}) \
             ORDER BY reacted_at, user_id, emoji",
            placeholders(ids.len())
        );
        let mut query = sqlx::query_as::<_, (i64, i64, String)>(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.read).await?;
        Ok(rows
            .into_iter()
            .map(|(message, user, emoji)| Reaction {
                message,
                user,
                emoji,
            })
            .collect())
    }

    async fn cursors(&self, conversation: &Conversation) -> Result<Vec<(UserId, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT reader, read_up_to FROM read_cursors WHERE conv = ? ORDER BY reader",
        )
        .bind(conversation.key())
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }
}
