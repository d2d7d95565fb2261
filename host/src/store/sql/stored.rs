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
    ///
    /// The rows go in with `INSERT OR IGNORE`: a multi-row insert that could stop halfway
    /// on a constraint makes SQLite copy every page it changes into a statement journal
    /// first (a temporary file, 64 KiB past which it is written out), which cost more than
    /// the inserts themselves; one that ignores conflicts needs none. What the ignored
    /// conflicts were is then checked: every message of the batch must be in SQLite with
    /// its own id, sender and client id, or the transaction is rolled back with an error.
    pub async fn insert_stored(&self, messages: &[Message]) -> Result<()> {
        if self.dialect != Dialect::Sqlite {
            return Err(anyhow::anyhow!("the message log writes to SQLite only").into());
        }
        let mut tx = self.write.begin().await?;
        let mut inserted = 0;
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
            let sql = format!("INSERT OR IGNORE INTO messages ({COLUMNS}) VALUES {values}");
            let mut args = AnyArguments::default();
            for m in rows {
                bind(&mut args, m).map_err(sqlx::Error::Encode)?;
            }
            inserted += sqlx::query_with(&sql, args)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        if inserted != messages.len() as u64 {
            check_ignored(&mut tx, messages).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` (id, sender, client id) of the messages with a client id after id
    /// `after`, in id order.
    pub async fn client_ids_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, UserId, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, sender, client_id FROM messages \
             WHERE id > ? AND client_id IS NOT NULL ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
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

/// After an insert that ignored some rows: every one of `messages` must now be stored with
/// its id, sender and client id (a row ignored for its id was stored before: a replay, or
/// a transaction retried after it had committed). Anything else (a client id stored under
/// another id, a value SQLite refused) is an error, and nothing of the batch is kept.
async fn check_ignored(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    messages: &[Message],
) -> Result<()> {
    let mut stored: HashMap<i64, (i64, Option<String>)> = HashMap::new();
    for chunk in messages.chunks(ROWS_PER_STATEMENT) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT id, sender, client_id FROM messages WHERE id IN ({marks})");
        let mut query = sqlx::query_as::<_, (i64, i64, Option<String>)>(&sql);
        for m in chunk {
            query = query.bind(m.id);
        }
        for (id, sender, client_id) in query.fetch_all(&mut **tx).await? {
            stored.insert(id, (sender, client_id));
        }
    }
    let missing: Vec<i64> = messages
        .iter()
        .filter(|m| stored.get(&m.id) != Some(&(m.sender, m.client_id.clone())))
        .map(|m| m.id)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "SQLite refused {} of {} logged messages (ids {:?}{}): a conflicting client id or a value it cannot hold",
        missing.len(),
        messages.len(),
        &missing[..missing.len().min(8)],
        if missing.len() > 8 { ", ..." } else { "" }
    )
    .into())
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
