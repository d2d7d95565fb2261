//! Conversation lists and group mentions in SQL (see [`crate::store::conversations`]).
//!
//! Every query walks the `(conv, id)` index of `messages` from a known id, so a list costs
//! a few index seeks per conversation whatever the length of its history. The index is
//! named in the queries because MariaDB, for `ORDER BY id` with a `LIMIT`, may otherwise
//! prefer walking the primary key through every conversation's messages.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{AnyConnection, FromRow};

use super::accounts::is_unique_violation;
use super::{Dialect, SqlStore};
use crate::error::Result;
use crate::groups::GroupId;
use crate::messages::Conversation;
use crate::store::conversations::{ConversationStore, LastMessage, Readable, Summary};
use crate::users::UserId;

/// Conversations looked up by one statement (two bound values each).
const PER_STATEMENT: usize = 32;

#[derive(FromRow)]
struct LastRow {
    id: i64,
    sender: i64,
    content: String,
    sent_at: i64,
}

impl SqlStore {
    /// The hint that makes a query walk `messages` by conversation and id.
    fn by_conversation(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "INDEXED BY messages_conv",
            Dialect::Mysql => "FORCE INDEX (messages_conv)",
        }
    }

    /// The newest ids of up to [`PER_STATEMENT`] conversations in one statement: one
    /// branch per conversation, each a single seek at the end of its index range.
    async fn newest_of_chunk(
        &self,
        conn: &mut AnyConnection,
        chunk: &[Readable],
    ) -> std::result::Result<Vec<i64>, sqlx::Error> {
        let hint = self.by_conversation();
        let sql = (0..chunk.len())
            .map(|i| {
                format!(
                    "SELECT {i} AS pos, id FROM (SELECT id FROM messages {hint} \
                     WHERE conv = ? AND id > ? ORDER BY id DESC LIMIT 1) AS t{i}"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for readable in chunk {
            query = query.bind(readable.conversation.key()).bind(readable.floor);
        }
        let mut newest = vec![0; chunk.len()];
        for (pos, id) in query.fetch_all(&mut *conn).await? {
            if let Some(slot) = usize::try_from(pos).ok().and_then(|p| newest.get_mut(p)) {
                *slot = id;
            }
        }
        Ok(newest)
    }

    /// The messages with these ids that are still stored, by id.
    async fn last_messages(
        conn: &mut AnyConnection,
        ids: &[i64],
    ) -> std::result::Result<HashMap<i64, LastMessage>, sqlx::Error> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(PER_STATEMENT * 2) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql =
                format!("SELECT id, sender, content, sent_at FROM messages WHERE id IN ({marks})");
            let mut query = sqlx::query_as::<_, LastRow>(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                let message = LastMessage {
                    id: row.id,
                    sender: row.sender,
                    content: row.content,
                    sent_at: row.sent_at,
                };
                found.insert(row.id, message);
            }
        }
        Ok(found)
    }

    /// `reader`'s read cursors of these conversations, by conversation key.
    async fn cursors_of(
        conn: &mut AnyConnection,
        reader: UserId,
        keys: &[String],
    ) -> std::result::Result<HashMap<String, i64>, sqlx::Error> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(PER_STATEMENT * 2) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT conv, read_up_to FROM read_cursors WHERE reader = ? AND conv IN ({marks})"
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(&sql).bind(reader);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            found.extend(query.fetch_all(&mut *conn).await?);
        }
        Ok(found)
    }

    /// Messages of `conv` from others than `reader` with ids in `(above, up_to]`, counted
    /// up to `cap`.
    async fn count_unread(
        &self,
        conn: &mut AnyConnection,
        conv: &str,
        reader: UserId,
        (above, up_to): (i64, i64),
        cap: u32,
    ) -> std::result::Result<u32, sqlx::Error> {
        let hint = self.by_conversation();
        let (count,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM (SELECT id FROM messages {hint} \
             WHERE conv = ? AND id > ? AND id <= ? AND sender <> ? LIMIT ?) AS t"
        ))
        .bind(conv)
        .bind(above)
        .bind(up_to)
        .bind(reader)
        .bind(i64::from(cap))
        .fetch_one(&mut *conn)
        .await?;
        Ok(u32::try_from(count).unwrap_or(cap))
    }

    /// `reader`'s mentions in `group` of stored messages with ids in `(above, up_to]`,
    /// counted up to `cap`.
    async fn count_mentions(
        conn: &mut AnyConnection,
        group: GroupId,
        reader: UserId,
        (above, up_to): (i64, i64),
        cap: u32,
    ) -> std::result::Result<u32, sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT m.message_id FROM mentions m \
             JOIN messages x ON x.id = m.message_id \
             WHERE m.user_id = ? AND m.group_id = ? AND m.message_id > ? \
             AND m.message_id <= ? LIMIT ?) AS t",
        )
        .bind(reader)
        .bind(group)
        .bind(above)
        .bind(up_to)
        .bind(i64::from(cap))
        .fetch_one(&mut *conn)
        .await?;
        Ok(u32::try_from(count).unwrap_or(cap))
    }
}

#[async_trait]
impl ConversationStore for SqlStore {
    async fn newest(&self, conversations: &[Readable]) -> Result<Vec<i64>> {
        let mut conn = self.read.acquire().await?;
        let mut newest = Vec::with_capacity(conversations.len());
        for chunk in conversations.chunks(PER_STATEMENT) {
            newest.extend(self.newest_of_chunk(&mut conn, chunk).await?);
        }
        Ok(newest)
    }

    async fn summaries(
        &self,
        reader: UserId,
        conversations: &[(Readable, i64)],
        cap: u32,
    ) -> Result<Vec<Summary>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.read.acquire().await?;
        let ids: Vec<i64> = conversations
            .iter()
            .map(|(_, newest)| *newest)
            .filter(|id| *id > 0)
            .collect();
        let last = Self::last_messages(&mut conn, &ids).await?;
        let keys: Vec<String> = conversations
            .iter()
            .map(|(readable, _)| readable.conversation.key())
            .collect();
        let cursors = Self::cursors_of(&mut conn, reader, &keys).await?;
        let mut summaries = Vec::with_capacity(conversations.len());
        for ((readable, newest), key) in conversations.iter().zip(&keys) {
            let cursor = cursors.get(key).copied().unwrap_or(0);
            let above = cursor.max(readable.floor);
            // Counted up to the newest message shown, so the counts agree with it; a
            // conversation read up to it has nothing to count.
            let (unread, mentions) = if *newest <= above {
                (0, 0)
            } else {
                let range = (above, *newest);
                let unread = self
                    .count_unread(&mut conn, key, reader, range, cap)
                    .await?;
                let mentions = match readable.conversation {
                    Conversation::Group(group) => {
                        Self::count_mentions(&mut conn, group, reader, range, cap).await?
                    }
                    Conversation::Direct(..) => 0,
                };
                (unread, mentions)
            };
            summaries.push(Summary {
                last: last.get(newest).cloned(),
                unread,
                mentions,
            });
        }
        Ok(summaries)
    }

    async fn add_mentions(
        &self,
        group: GroupId,
        message: i64,
        users: &[UserId],
    ) -> Result<Vec<UserId>> {
        let mut fresh = Vec::with_capacity(users.len());
        for &user in users {
            // One row per mention: a repeated one is the primary key's to refuse.
            let inserted = sqlx::query(
                "INSERT INTO mentions (user_id, group_id, message_id) VALUES (?, ?, ?)",
            )
            .bind(user)
            .bind(group)
            .bind(message)
            .execute(&self.write)
            .await;
            match inserted {
                Ok(_) => fresh.push(user),
                Err(err) if is_unique_violation(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::DatabaseConfig;
    use crate::store::SqlStore;

    #[tokio::test]
    async fn sqlite_passes_the_conversation_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        crate::store::conversation_conformance::run(&store, &store).await;
    }
}
