//! What the message log needs of SQLite: writing messages that already have their ids,
//! the newest id ever given, and finding messages by client id outside a transaction.

use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::{Arguments, FromRow};

use super::{Dialect, SqlStore};
use crate::error::Result;
use crate::messages::{Conversation, Message};
use crate::users::UserId;

/// The columns of a message the log writes and reads, in this order.
const COLUMNS: &str =
    "id, conv, sender, recipient, content, client_id, sent_at, reply_to, edited_at";

/// Rows per insert statement; a batch's remainder goes in power-of-two statements, so
/// only a few statement texts are ever prepared.
const ROWS_PER_STATEMENT: usize = 64;

#[derive(FromRow)]
struct Row {
    id: i64,
    conv: String,
    sender: i64,
    recipient: Option<i64>,
    content: String,
    client_id: Option<String>,
    sent_at: i64,
    reply_to: Option<i64>,
    edited_at: Option<i64>,
    read_up_to: i64,
}

impl SqlStore {
    /// The largest message id this database has given, including ids of messages since
    /// deleted (SQLite's `AUTOINCREMENT` remembers it), or 0.
    pub async fn newest_message_id(&self) -> Result<i64> {
        let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM messages")
            .fetch_one(&self.write)
            .await?;
        let mut newest = newest.unwrap_or(0);
        if self.dialect == Dialect::Sqlite {
            let sequence: Option<(i64,)> =
                sqlx::query_as("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
                    .fetch_optional(&self.write)
                    .await?;
            newest = newest.max(sequence.map_or(0, |s| s.0));
        }
        Ok(newest)
    }

    /// Writes messages that already have their ids, in one transaction; a message whose
    /// id is stored already is left as it is (replaying the log twice changes nothing).
    /// SQLite only.
    pub async fn insert_stored(&self, messages: &[Message]) -> Result<()> {
        if self.dialect != Dialect::Sqlite {
            return Err(anyhow::anyhow!("the message log writes to SQLite only").into());
        }
        let mut tx = self.write.begin().await?;
        let mut rest = messages;
        while !rest.is_empty() {
            let take = if rest.len() >= ROWS_PER_STATEMENT {
                ROWS_PER_STATEMENT
            } else {
                1 << rest.len().ilog2()
            };
            let (rows, after) = rest.split_at(take);
            rest = after;
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
            let sql = format!(
                "INSERT INTO messages ({COLUMNS}) VALUES {values} ON CONFLICT(id) DO NOTHING"
            );
            let mut args = AnyArguments::default();
            for m in rows {
                bind(&mut args, m).map_err(sqlx::Error::Encode)?;
            }
            sqlx::query_with(&sql, args).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored messages with these (sender, client id) pairs, read outside any
    /// transaction of the writer.
    pub async fn find_by_client_ids(
        &self,
        keys: &[(UserId, &str)],
    ) -> Result<HashMap<(UserId, String), Message>> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let condition = vec!["(sender = ? AND client_id = ?)"; chunk.len()].join(" OR ");
            // The read flag as it is now: whether the recipient's cursor has passed it.
            let sql = format!(
                "SELECT {COLUMNS}, COALESCE((SELECT c.read_up_to FROM read_cursors c \
                 WHERE c.conv = messages.conv AND c.reader = messages.recipient), 0) \
                 AS read_up_to FROM messages WHERE {condition}"
            );
            let mut query = sqlx::query_as::<_, Row>(&sql);
            for (sender, client_id) in chunk {
                query = query.bind(*sender).bind(*client_id);
            }
            for row in query.fetch_all(&self.read).await? {
                let conversation = Conversation::from_key(&row.conv).ok_or_else(|| {
                    anyhow::anyhow!("stored conversation key {:?} is malformed", row.conv)
                })?;
                let Some(client_id) = row.client_id.clone() else {
                    continue;
                };
                found.insert(
                    (row.sender, client_id),
                    Message {
                        id: row.id,
                        conversation,
                        sender: row.sender,
                        recipient: row.recipient,
                        content: row.content,
                        client_id: row.client_id,
                        sent_at: row.sent_at,
                        read: row.recipient.is_some() && row.id <= row.read_up_to,
                        reply_to: row.reply_to,
                        edited_at: row.edited_at,
                    },
                );
            }
        }
        Ok(found)
    }
}

fn bind(
    args: &mut AnyArguments<'_>,
    m: &Message,
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    args.add(m.id)?;
    args.add(m.conversation.key())?;
    args.add(m.sender)?;
    args.add(m.recipient)?;
    args.add(m.content.clone())?;
    args.add(m.client_id.clone())?;
    args.add(m.sent_at)?;
    args.add(m.reply_to)?;
    args.add(m.edited_at)?;
    Ok(())
}
