//! Message history in SQL.
//!
//! Read state lives in `read_cursors`, one row per (conversation, reader); see
//! [`read_cursors`].

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, FromRow, Transaction};

use super::accounts::is_unique_violation;
use super::{Dialect, SqlStore};
use crate::error::Result;
use crate::messages::{Appended, Conversation, Message, NewMessage};
use crate::store::MessageStore;
use crate::users::UserId;

mod read_cursors;

#[derive(FromRow)]
pub(super) struct MessageRow {
    id: i64,
    conv: String,
    sender: i64,
    recipient: Option<i64>,
    content: String,
    client_id: Option<String>,
    sent_at: i64,
    reply_to: Option<i64>,
    edited_at: Option<i64>,
}

pub(super) const COLUMNS: &str =
    "id, conv, sender, recipient, content, client_id, sent_at, reply_to, edited_at";

impl MessageRow {
    /// The message under the conversation its key names.
    pub(super) fn into_stored(self) -> Result<Message> {
        let conversation = Conversation::from_key(&self.conv).ok_or_else(|| {
            anyhow::anyhow!("stored conversation key {:?} is malformed", self.conv)
        })?;
        Ok(self.into_message(conversation))
    }

    /// The message, its `read` flag not yet set from the cursors.
    pub(super) fn into_message(self, conversation: Conversation) -> Message {
        Message {
            id: self.id,
            conversation,
            sender: self.sender,
            recipient: self.recipient,
            content: self.content,
            client_id: self.client_id,
            sent_at: self.sent_at,
            read: false,
            reply_to: self.reply_to,
            edited_at: self.edited_at,
        }
    }
}

impl SqlStore {
    /// The sender's message with this client id, in whichever conversation it went to.
    async fn by_client_id(&self, sender: UserId, client_id: &str) -> Result<Option<Message>> {
        let mut conn = self.write.acquire().await?;
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM messages WHERE sender = ? AND client_id = ?"
        ))
        .bind(sender)
        .bind(client_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let conversation = Conversation::from_key(&row.conv).ok_or_else(|| {
            anyhow::anyhow!("stored conversation key {:?} is malformed", row.conv)
        })?;
        let mut message = row.into_message(conversation);
        read_cursors::set_read_flags(&mut conn, [&mut message]).await?;
        Ok(Some(message))
    }

    /// The messages `sql` selects, its first placeholder bound to the conversation and
    /// the others to `values`, in order, with their read flags.
    async fn list(
        &self,
        sql: &str,
        conversation: &Conversation,
        values: &[i64],
    ) -> Result<Vec<Message>> {
        let mut conn = self.read.acquire().await?;
        let mut query = sqlx::query_as::<_, MessageRow>(sql).bind(conversation.key());
        for value in values {
            query = query.bind(*value);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let mut messages: Vec<Message> = rows
            .into_iter()
            .map(|r| r.into_message(*conversation))
            .collect();
        read_cursors::set_read_flags(&mut conn, messages.iter_mut()).await?;
        Ok(messages)
    }

    /// Each message in its own transaction, after a batch met a concurrent duplicate.
    async fn append_one_by_one(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        let mut appended = Vec::with_capacity(batch.len());
        for message in batch {
            appended.push(self.append_single(message).await?);
        }
        Ok(appended)
    }

    /// The batch in one transaction, one row per statement (ids from each insert).
    async fn append_rows_one_by_one(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        let retry = batch.clone();
        let attempt = async {
            let mut tx = self.write.begin().await?;
            let stored = self.stored_client_ids(&mut tx, &batch).await?;
            let mut appended: Vec<Appended> = Vec::with_capacity(batch.len());
            for message in batch {
                let key = message.client_id.clone().map(|c| (message.sender, c));
                if let Some(old) = key.as_ref().and_then(|k| stored.get(k)) {
                    appended.push(Appended {
                        message: old.clone(),
                        duplicate: true,
                    });
                    continue;
                }
                let earlier = key.as_ref().and_then(|(sender, client_id)| {
                    appended.iter().find(|a| {
                        !a.duplicate
                            && a.message.sender == *sender
                            && a.message.client_id.as_deref() == Some(client_id.as_str())
                    })
                });
                if let Some(earlier) = earlier {
                    let message = earlier.message.clone();
                    appended.push(Appended {
                        message,
                        duplicate: true,
                    });
                    continue;
                }
                let ids = self.insert_rows(&mut tx, &[&message]).await?;
                appended.push(Appended {
                    message: message.stored_as(ids[0]),
                    duplicate: false,
                });
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(appended)
        };
        match attempt.await {
            Ok(appended) => Ok(appended),
            Err(err) if is_unique_violation(&err) => self.append_one_by_one(retry).await,
            Err(err) => Err(err.into()),
        }
    }

    /// One message in its own transaction; a concurrent duplicate is found and returned.
    async fn append_single(&self, message: NewMessage) -> Result<Appended> {
        if let Some(client_id) = &message.client_id {
            if let Some(old) = self.by_client_id(message.sender, client_id).await? {
                return Ok(Appended {
                    message: old,
                    duplicate: true,
                });
            }
        }
        let mut tx = self.write.begin().await?;
        let inserted = self.insert_rows(&mut tx, &[&message]).await;
        let id = match inserted {
            Ok(ids) => ids[0],
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
        };
        tx.commit().await?;
        Ok(Appended {
            message: message.stored_as(id),
            duplicate: false,
        })
    }
}

/// Rows per multi-row statement: well under SQLite's and MySQL's limits on bound values
/// (6 per row).
const ROWS_PER_STATEMENT: usize = 256;

/// Splits `len` rows into statements of power-of-two sizes, largest first, none over
/// [`ROWS_PER_STATEMENT`]: a handful of distinct statements that the driver prepares once
/// and keeps, rather than a new statement text (and a new prepare) for every batch size.
fn statement_sizes(mut len: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if len == 0 {
            return None;
        }
        let size = (1usize << len.ilog2()).min(ROWS_PER_STATEMENT);
        len -= size;
        Some(size)
    })
}

/// Cuts `items` into the pieces [`statement_sizes`] gives.
fn in_statements<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    statement_sizes(items.len()).map(move |size| {
        let (head, tail) = rest.split_at(size);
        rest = tail;
        head
    })
}

/// Binds one row's six values, in the column order of the inserts.
fn bind_row(
    args: &mut AnyArguments<'_>,
    message: &NewMessage,
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    args.add(message.conversation.key())?;
    args.add(message.sender)?;
    args.add(message.recipient)?;
    args.add(message.content.clone())?;
    args.add(message.client_id.clone())?;
    args.add(message.sent_at)?;
    args.add(message.reply_to)?;
    Ok(())
}

/// Where each message of a batch ends up.
enum Slot {
    /// Already stored before this batch: that message.
    Stored(Message),
    /// The same `client_id` came earlier in this batch, at this index.
    SameAs(usize),
    /// Inserted: the index among the inserted rows.
    Inserted(usize),
}

impl SqlStore {
    /// Stores a batch in one transaction: one look-up of the client ids, a multi-row
    /// insert per [`ROWS_PER_STATEMENT`] rows, one commit (and so one fsync).
    async fn try_append_batch(
        &self,
        batch: Vec<NewMessage>,
    ) -> std::result::Result<Vec<Appended>, sqlx::Error> {
        let mut tx = self.write.begin().await?;
        let stored = self.stored_client_ids(&mut tx, &batch).await?;
        let mut first_in_batch: HashMap<(UserId, &str), usize> = HashMap::new();
        let mut slots = Vec::with_capacity(batch.len());
        let mut fresh: Vec<&NewMessage> = Vec::with_capacity(batch.len());
        for (index, message) in batch.iter().enumerate() {
            let slot = match message.client_id.as_deref() {
                Some(client_id) => {
                    if let Some(old) = stored.get(&(message.sender, client_id.to_owned())) {
                        Slot::Stored(old.clone())
                    } else if let Some(&earlier) = first_in_batch.get(&(message.sender, client_id))
                    {
                        Slot::SameAs(earlier)
                    } else {
                        first_in_batch.insert((message.sender, client_id), index);
                        fresh.push(message);
                        Slot::Inserted(fresh.len() - 1)
                    }
                }
                None => {
                    fresh.push(message);
                    Slot::Inserted(fresh.len() - 1)
                }
            };
            slots.push(slot);
        }
        let mut ids = Vec::with_capacity(fresh.len());
        for rows in in_statements(&fresh) {
            ids.extend(self.insert_rows(&mut tx, rows).await?);
        }
        tx.commit().await?;

        let mut appended: Vec<Appended> = Vec::with_capacity(batch.len());
        for (message, slot) in batch.into_iter().zip(slots) {
            let done = match slot {
                Slot::Stored(old) => Appended {
                    message: old,
                    duplicate: true,
                },
                Slot::SameAs(earlier) => Appended {
                    message: appended[earlier].message.clone(),
                    duplicate: true,
                },
                Slot::Inserted(row) => Appended {
                    message: message.stored_as(ids[row]),
                    duplicate: false,
                },
            };
            appended.push(done);
        }
        Ok(appended)
    }

    /// The stored messages whose (sender, client id) appear in the batch.
    async fn stored_client_ids(
        &self,
        tx: &mut Transaction<'_, Any>,
        batch: &[NewMessage],
    ) -> std::result::Result<HashMap<(UserId, String), Message>, sqlx::Error> {
        let keyed: Vec<(UserId, &str)> = batch
            .iter()
            .filter_map(|m| m.client_id.as_deref().map(|c| (m.sender, c)))
            .collect();
        let mut found: HashMap<(UserId, String), Message> = HashMap::new();
        for chunk in in_statements(&keyed) {
            let condition = vec!["(sender = ? AND client_id = ?)"; chunk.len()].join(" OR ");
            let sql = format!("SELECT {COLUMNS} FROM messages WHERE {condition}");
            let mut query = sqlx::query_as::<_, MessageRow>(&sql);
            for (sender, client_id) in chunk {
                query = query.bind(*sender).bind(*client_id);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let conversation = Conversation::from_key(&row.conv).ok_or_else(|| {
                    sqlx::Error::Protocol(format!(
                        "stored conversation key {:?} is malformed",
                        row.conv
                    ))
                })?;
                let message = row.into_message(conversation);
                if let Some(client_id) = message.client_id.clone() {
                    found.insert((message.sender, client_id), message);
                }
            }
        }
        if !found.is_empty() {
            // A resend answers with the stored message as it is now, read or not.
            read_cursors::set_read_flags(tx, found.values_mut()).await?;
        }
        Ok(found)
    }

    /// Inserts rows with one statement and returns their ids, in the rows' order.
    async fn insert_rows(
        &self,
        tx: &mut Transaction<'_, Any>,
        rows: &[&NewMessage],
    ) -> std::result::Result<Vec<i64>, sqlx::Error> {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
        let sql = format!(
            "INSERT INTO messages (conv, sender, recipient, content, client_id, sent_at, \
             reply_to) \
             VALUES {values}"
        );
        let mut args = AnyArguments::default();
        for message in rows {
            bind_row(&mut args, message).map_err(sqlx::Error::Encode)?;
        }
        let done = sqlx::query_with(&sql, args).execute(&mut **tx).await?;
        let count = rows.len() as i64;
        if done.rows_affected() != rows.len() as u64 {
            return Err(sqlx::Error::Protocol(format!(
                "inserted {} of {count} rows",
                done.rows_affected()
            )));
        }
        let last = match done.last_insert_id() {
            Some(id) => id,
            None => self
                .last_insert_id(tx)
                .await
                .map_err(|err| sqlx::Error::Protocol(err.to_string()))?,
        };
        // The ids of the rows of one insert are consecutive, so the one id the driver
        // reports gives them all. SQLite reports the last: it numbers the rows of one
        // statement max(rowid)+1 in turn, and this connection is its only writer.
        // MySQL reports the first: InnoDB gives the rows of one multi-row insert ids one
        // step apart (checked at connect: the auto-increment lock mode and step).
        let (first, step) = match self.dialect {
            Dialect::Sqlite => (last - (count - 1), 1),
            Dialect::Mysql => (last, self.id_step),
        };
        Ok((0..count).map(|i| first + i * step).collect())
    }
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn append(&self, message: NewMessage) -> Result<Appended> {
        self.append_batch(vec![message])
            .await?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("a batch of one stored nothing").into())
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if self.dialect == Dialect::Mysql && !self.batch_inserts {
            // A server whose ids of one insert need not be consecutive: one row per
            // statement, still one transaction.
            return self.append_rows_one_by_one(batch).await;
        }
        let retry = batch.clone();
        match self.try_append_batch(batch).await {
            Ok(appended) => Ok(appended),
            // Another node stored one of these client ids between the look-up and the
            // insert: the batch was rolled back whole; storing one by one sorts it out.
            Err(err) if is_unique_violation(&err) => self.append_one_by_one(retry).await,
            Err(err) => Err(err.into()),
        }
    }
    async fn after(
        &self,
        conversation: &Conversation,
        after_ms: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.list(
            &format!(
                "SELECT {COLUMNS} FROM messages WHERE conv = ? AND sent_at > ? AND id > ? \
                 ORDER BY id LIMIT ?"
            ),
            conversation,
            &[after_ms, above_id, i64::from(limit)],
        )
        .await
    }

    async fn before(
        &self,
        conversation: &Conversation,
        before_id: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let mut page = self
            .list(
                &format!(
                    "SELECT {COLUMNS} FROM messages WHERE conv = ? AND id < ? AND id > ? \
                     ORDER BY id DESC LIMIT ?"
                ),
                conversation,
                &[before_id, above_id, i64::from(limit)],
            )
            .await?;
        page.reverse();
        Ok(page)
    }

    async fn unread(
        &self,
        conversation: &Conversation,
        reader: UserId,
        limit: u32,
    ) -> Result<Vec<Message>> {
        // Group messages have no recipient, so nothing in a group is unread.
        if matches!(conversation, Conversation::Group(_)) {
            return Ok(Vec::new());
        }
        let key = conversation.key();
        let mut conn = self.read.acquire().await?;
        let cursors = read_cursors::of_conversation(&mut conn, &key).await?;
        let cursor = cursors.get(&reader).copied().unwrap_or(0);
        // Walks the (conv, id) index from the cursor on; what it passes over is only the
        // reader's own messages since then. The index is named because for `ORDER BY id
        // LIMIT` MariaDB prefers walking the primary key from the cursor, through every
        // conversation's messages, whenever the cursor is far behind.
        let by_conv = match self.dialect {
            Dialect::Sqlite => "INDEXED BY messages_conv",
            Dialect::Mysql => "FORCE INDEX (messages_conv)",
        };
        let first: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT id FROM messages {by_conv} WHERE conv = ? AND id > ? AND recipient = ? \
             ORDER BY id LIMIT 1"
        ))
        .bind(&key)
        .bind(cursor)
        .bind(reader)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((first,)) = first else {
            return Ok(Vec::new());
        };
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM messages {by_conv} WHERE conv = ? AND id >= ? \
             ORDER BY id LIMIT ?"
        ))
        .bind(&key)
        .bind(first)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        let mut messages: Vec<Message> = rows
            .into_iter()
            .map(|r| r.into_message(*conversation))
            .collect();
        read_cursors::apply(&cursors, messages.iter_mut());
        Ok(messages)
    }

    async fn mark_read(
        &self,
        conversation: &Conversation,
        reader: UserId,
        up_to: i64,
    ) -> Result<bool> {
        self.advance_read_cursor(&conversation.key(), reader, up_to)
            .await
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM messages WHERE sent_at < ?")
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() > 0 {
            // What hangs on a purged message goes with it.
            for table in ["reactions", "message_hidden", "mentions"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE NOT EXISTS \
                     (SELECT 1 FROM messages m WHERE m.id = {table}.message_id)"
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_a_few_sizes() {
        let sizes: Vec<usize> = statement_sizes(198).collect();
        assert_eq!(sizes, [128, 64, 4, 2]);
        assert_eq!(
            statement_sizes(600).collect::<Vec<_>>(),
            [256, 256, 64, 16, 8]
        );
        assert_eq!(statement_sizes(0).count(), 0);
        for len in 0..1100 {
            let sizes: Vec<usize> = statement_sizes(len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), len);
            assert!(sizes
                .iter()
                .all(|s| s.is_power_of_two() && *s <= ROWS_PER_STATEMENT));
        }
        let items: Vec<usize> = (0..13).collect();
        let pieces: Vec<&[usize]> = in_statements(&items).collect();
        assert_eq!(pieces, [&items[0..8], &items[8..12], &items[12..13]]);
    }
}
