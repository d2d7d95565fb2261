//! Message history in SQL.

use async_trait::async_trait;
use sqlx::FromRow;

use super::accounts::is_unique_violation;
use super::SqlStore;
use crate::error::Result;
use crate::messages::{Appended, Conversation, Message, NewMessage};
use crate::store::MessageStore;
use crate::users::UserId;

#[derive(FromRow)]
struct MessageRow {
    id: i64,
    conv: String,
    sender: i64,
    recipient: Option<i64>,
    content: String,
    client_id: Option<String>,
    sent_at: i64,
    is_read: i64,
}

const COLUMNS: &str = "id, conv, sender, recipient, content, client_id, sent_at, is_read";

impl MessageRow {
    fn into_message(self, conversation: Conversation) -> Message {
        Message {
            id: self.id,
            conversation,
            sender: self.sender,
            recipient: self.recipient,
            content: self.content,
            client_id: self.client_id,
            sent_at: self.sent_at,
            read: self.is_read != 0,
        }
    }
}

impl SqlStore {
    /// The sender's message with this client id, in whichever conversation it went to.
    async fn by_client_id(&self, sender: UserId, client_id: &str) -> Result<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM messages WHERE sender = ? AND client_id = ?"
        ))
        .bind(sender)
        .bind(client_id)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let conversation = Conversation::from_key(&row.conv).ok_or_else(|| {
            anyhow::anyhow!("stored conversation key {:?} is malformed", row.conv)
        })?;
        Ok(Some(row.into_message(conversation)))
    }

    async fn list(
        &self,
        sql: &str,
        conversation: &Conversation,
        a: i64,
        b: i64,
    ) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(sql)
            .bind(conversation.key())
            .bind(a)
            .bind(b)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_message(*conversation))
            .collect())
    }
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn append(&self, message: NewMessage) -> Result<Appended> {
        if let Some(client_id) = &message.client_id {
            if let Some(old) = self.by_client_id(message.sender, client_id).await? {
                return Ok(Appended {
                    message: old,
                    duplicate: true,
                });
            }
        }
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO messages (conv, sender, recipient, content, client_id, sent_at, is_read) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(message.conversation.key())
        .bind(message.sender)
        .bind(message.recipient)
        .bind(&message.content)
        .bind(message.client_id.as_deref())
        .bind(message.sent_at)
        .bind(i64::from(message.read))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                drop(tx);
                let client_id = message.client_id.as_deref().unwrap_or_default();
                let old = self
                    .by_client_id(message.sender, client_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("a duplicate message vanished"))?;
                return Ok(Appended {
                    message: old,
                    duplicate: true,
                });
            }
            Err(err) => return Err(err.into()),
        }
        let id = self.last_insert_id(&mut tx).await?;
        tx.commit().await?;
        Ok(Appended {
            message: Message {
                id,
                conversation: message.conversation,
                sender: message.sender,
                recipient: message.recipient,
                content: message.content,
                client_id: message.client_id,
                sent_at: message.sent_at,
                read: message.read,
            },
            duplicate: false,
        })
    }

    async fn after(
        &self,
        conversation: &Conversation,
        after_ms: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.list(
            &format!(
                "SELECT {COLUMNS} FROM messages WHERE conv = ? AND sent_at > ? ORDER BY id LIMIT ?"
            ),
            conversation,
            after_ms,
            i64::from(limit),
        )
        .await
    }

    async fn before(
        &self,
        conversation: &Conversation,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let mut page = self
            .list(
                &format!("SELECT {COLUMNS} FROM messages WHERE conv = ? AND id < ? ORDER BY id DESC LIMIT ?"),
                conversation,
                before_id,
                i64::from(limit),
            )
            .await?;
        page.reverse();
        Ok(page)
    }

    async fn unread(&self, conversation: &Conversation, reader: UserId) -> Result<Vec<Message>> {
        let first: (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(id) FROM messages WHERE conv = ? AND recipient = ? AND is_read = 0",
        )
        .bind(conversation.key())
        .bind(reader)
        .fetch_one(&self.read)
        .await?;
        let Some(first) = first.0 else {
            return Ok(Vec::new());
        };
        self.list(
            &format!(
                "SELECT {COLUMNS} FROM messages WHERE conv = ? AND id >= ? AND id <= ? ORDER BY id"
            ),
            conversation,
            first,
            i64::MAX,
        )
        .await
    }

    async fn mark_read(
        &self,
        conversation: &Conversation,
        reader: UserId,
        up_to: i64,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE messages SET is_read = 1 WHERE conv = ? AND recipient = ? AND is_read = 0 AND id <= ?",
        )
        .bind(conversation.key())
        .bind(reader)
        .bind(up_to)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM messages WHERE sent_at < ?")
            .bind(cutoff_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
