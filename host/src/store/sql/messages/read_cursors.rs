//! Read state in SQL: one row of `read_cursors` per (conversation, reader).
//!
//! What a reader has read of a conversation is always a prefix by id (type 3 marks
//! everything up to the last message it returned), so the largest id read, `read_up_to`,
//! says everything a flag per message said: a private message is read when its id is at
//! most its recipient's cursor. Storing a message then writes no read state and no index
//! entry for it; marking read writes one row, whatever the number of messages it covers.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::super::{Dialect, SqlStore};
use super::is_unique_violation;
use crate::error::Result;
use crate::messages::{Conversation, Message};
use crate::users::UserId;

/// The read cursors of one conversation, by reader.
pub(super) async fn of_conversation(
    conn: &mut AnyConnection,
    conv: &str,
) -> std::result::Result<HashMap<UserId, i64>, sqlx::Error> {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT reader, read_up_to FROM read_cursors WHERE conv = ?")
            .bind(conv)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Sets the `read` flag of messages of one conversation from its cursors.
pub(super) fn apply<'m>(
    cursors: &HashMap<UserId, i64>,
    messages: impl IntoIterator<Item = &'m mut Message>,
) {
    for message in messages {
        message.read = message
            .recipient
            .and_then(|recipient| cursors.get(&recipient))
            .is_some_and(|&cursor| message.id <= cursor);
    }
}

/// Sets the `read` flag of each message from the cursors of its conversation: one query
/// per private conversation among them (a listing has one). Group messages stay unread.
pub(super) async fn set_read_flags<'m>(
    conn: &mut AnyConnection,
    messages: impl IntoIterator<Item = &'m mut Message>,
) -> std::result::Result<(), sqlx::Error> {
    let mut by_conversation: HashMap<Conversation, Vec<&'m mut Message>> = HashMap::new();
    for message in messages {
        message.read = false;
        if let Conversation::Direct(..) = message.conversation {
            by_conversation
                .entry(message.conversation)
                .or_default()
                .push(message);
        }
    }
    for (conversation, messages) in by_conversation {
        let cursors = of_conversation(conn, &conversation.key()).await?;
        apply(&cursors, messages);
    }
    Ok(())
}

impl SqlStore {
    /// Moves `reader`'s cursor in `conv` forward to `up_to`, never back; returns whether
    /// it moved.
    pub(super) async fn advance_read_cursor(
        &self,
        conv: &str,
        reader: UserId,
        up_to: i64,
    ) -> Result<bool> {
        // Ids start at 1, and no cursor reads as 0: nothing to move.
        if up_to <= 0 {
            return Ok(false);
        }
        match self.dialect {
            Dialect::Sqlite => {
                // The upsert's WHERE keeps a newer cursor; a skipped update counts no row.
                let done = sqlx::query(
                    "INSERT INTO read_cursors (conv, reader, read_up_to) VALUES (?, ?, ?) \
                     ON CONFLICT (conv, reader) DO UPDATE SET read_up_to = excluded.read_up_to \
                     WHERE excluded.read_up_to > read_cursors.read_up_to",
                )
                .bind(conv)
                .bind(reader)
                .bind(up_to)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }
            Dialect::Mysql => {
                // sqlx connects with CLIENT_FOUND_ROWS, under which ON DUPLICATE KEY UPDATE
                // counts an unchanged row like an inserted one; a conditional UPDATE counts
                // exactly the rows it moves. A reader's first cursor is inserted, and an
                // insert that lost a race with another one updates the winner's row.
                if self.move_read_cursor(conv, reader, up_to).await? {
                    return Ok(true);
                }
                let inserted = sqlx::query(
                    "INSERT INTO read_cursors (conv, reader, read_up_to) VALUES (?, ?, ?)",
                )
                .bind(conv)
                .bind(reader)
                .bind(up_to)
                .execute(&self.write)
                .await;
                match inserted {
                    Ok(_) => Ok(true),
                    Err(err) if is_unique_violation(&err) => {
                        self.move_read_cursor(conv, reader, up_to).await
                    }
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    /// Moves an existing cursor forward; false if there is none or it is at `up_to` or
    /// beyond.
    async fn move_read_cursor(&self, conv: &str, reader: UserId, up_to: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE read_cursors SET read_up_to = ? \
             WHERE conv = ? AND reader = ? AND read_up_to < ?",
        )
        .bind(up_to)
        .bind(conv)
        .bind(reader)
        .bind(up_to)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sqlx::migrate::Migrator;
    use sqlx::AnyPool;

    use super::*;
    use crate::config::DatabaseConfig;
    use crate::store::MessageStore;

    /// The last migration before read cursors.
    const BEFORE_CURSORS: i64 = 7;

    /// A migrator of the SQLite migrations up to `last`, read from the source folder.
    async fn migrations_up_to(last: i64, scratch: &Path) -> Migrator {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
        for entry in std::fs::read_dir(&source).expect("the migrations folder") {
            let path = entry.expect("a migration").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
            let version: i64 = name
                .split('_')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a numbered migration");
            if version <= last {
                std::fs::copy(&path, scratch.join(name)).expect("copy a migration");
            }
        }
        Migrator::new(scratch).await.expect("read the migrations")
    }

    /// What the flag schema answered: each message's flag, and for each reader the ids
    /// `unread` listed (from their oldest unread message on).
    async fn answers_from_flags(
        pool: &AnyPool,
        readers: &[(&str, i64)],
    ) -> (Vec<(i64, bool)>, Vec<Vec<i64>>) {
        let flags: Vec<(i64, i64)> = sqlx::query_as("SELECT id, is_read FROM messages ORDER BY id")
            .fetch_all(pool)
            .await
            .expect("flags");
        let mut unread = Vec::new();
        for (conv, reader) in readers {
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM messages WHERE conv = ? AND id >= (SELECT MIN(id) FROM messages \
                 WHERE conv = ? AND recipient = ? AND is_read = 0) ORDER BY id",
            )
            .bind(*conv)
            .bind(*conv)
            .bind(*reader)
            .fetch_all(pool)
            .await
            .expect("unread");
            unread.push(ids.into_iter().map(|(id,)| id).collect());
        }
        let flags = flags
            .into_iter()
            .map(|(id, read)| (id, read != 0))
            .collect();
        (flags, unread)
    }

    #[tokio::test]
    async fn a_resend_answers_with_the_read_flag_of_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let conversation = Conversation::direct(1, 2);
        let message = crate::messages::NewMessage {
            conversation,
            sender: 1,
            recipient: Some(2),
            content: "once".to_owned(),
            client_id: Some("c-1".to_owned()),
            sent_at: 1_000,
            reply_to: None,
        };
        let first = store.append(message.clone()).await.expect("append");
        assert!(!first.message.read);
        assert!(store
            .mark_read(&conversation, 2, first.message.id)
            .await
            .expect("read"));
        // Through the batch's look-up, and through the look-up of a single message.
        let again = store
            .append_batch(vec![message.clone(), message.clone()])
            .await
            .expect("resend");
        assert!(again.iter().all(|a| a.duplicate && a.message.read));
        let single = store.append_single(message).await.expect("resend one");
        assert!(single.duplicate && single.message.read);
    }

    #[tokio::test]
    async fn flags_become_cursors_with_the_same_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = tempfile::tempdir().expect("scratch");
        let config = DatabaseConfig::default();
        let old = SqlStore::connect(&config, dir.path()).await.expect("open");
        migrations_up_to(BEFORE_CURSORS, scratch.path())
            .await
            .run(&old.write)
            .await
            .expect("migrate to the flag schema");

        // Two private conversations and a group, interleaved; what each reader has read
        // is a prefix of what was sent to them, as marking read always left it.
        let rows: [(&str, i64, Option<i64>, bool); 11] = [
            ("d:1:2", 1, Some(2), true),
            ("d:1:3", 3, Some(1), true),
            ("d:1:2", 2, Some(1), true),
            ("g:9", 1, None, false),
            ("d:1:2", 1, Some(2), true),
            ("d:1:2", 2, Some(1), false),
            ("d:1:3", 1, Some(3), false),
            ("d:1:2", 1, Some(2), false),
            ("d:1:3", 3, Some(1), true),
            ("d:1:2", 2, Some(1), false),
            ("d:1:2", 2, Some(1), false),
        ];
        for (n, (conv, sender, recipient, read)) in rows.into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO messages (conv, sender, recipient, content, sent_at, is_read) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(conv)
            .bind(sender)
            .bind(recipient)
            .bind(format!("m{n}"))
            .bind(1_000 + n as i64)
            .bind(i64::from(read))
            .execute(&old.write)
            .await
            .expect("a row of the flag schema");
        }
        let readers = [
            ("d:1:2", 1),
            ("d:1:2", 2),
            ("d:1:3", 1),
            ("d:1:3", 3),
            ("g:9", 1),
        ];
        let (flags, unread) = answers_from_flags(&old.write, &readers).await;
        assert_eq!(unread[0], [6, 8, 10, 11], "the case is not trivial");
        assert_eq!(unread[2], Vec::<i64>::new());
        assert_eq!(unread[3], [7, 9]);
        old.read.close().await;
        old.write.close().await;

        // The server starts again on the same file and migrates.
        let store = SqlStore::connect(&config, dir.path())
            .await
            .expect("reopen");
        store.migrate().await.expect("migrate to cursors");
        let cursors: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT conv, reader, read_up_to FROM read_cursors ORDER BY conv, reader",
        )
        .fetch_all(&store.write)
        .await
        .expect("cursors");
        assert_eq!(
            cursors,
            [
                ("d:1:2".to_owned(), 1, 3),
                ("d:1:2".to_owned(), 2, 5),
                ("d:1:3".to_owned(), 1, 9),
            ]
        );
        for ((conv, reader), before) in readers.iter().zip(&unread) {
            let conversation = Conversation::from_key(conv).expect("a key");
            let after: Vec<i64> = store
                .unread(&conversation, *reader, 100)
                .await
                .expect("unread")
                .iter()
                .map(|m| m.id)
                .collect();
            assert_eq!(&after, before, "unread of {reader} in {conv}");
        }
        let mut listed = Vec::new();
        for conv in ["d:1:2", "d:1:3", "g:9"] {
            let conversation = Conversation::from_key(conv).expect("a key");
            let history = store.after(&conversation, 0, 0, 100).await.expect("after");
            listed.extend(history.iter().map(|m| (m.id, m.read)));
        }
        listed.sort_unstable();
        assert_eq!(listed, flags, "every message keeps its read flag");

        let leftovers: (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM pragma_table_info('messages') WHERE name = 'is_read') \
             + (SELECT COUNT(*) FROM sqlite_master WHERE name = 'messages_unread')",
        )
        .fetch_one(&store.write)
        .await
        .expect("schema");
        assert_eq!(leftovers.0, 0, "the flag and its index are gone");
        let kept: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('messages_conv', 'messages_conv_time')",
        )
        .fetch_one(&store.write)
        .await
        .expect("schema");
        assert_eq!(kept.0, 2, "the conversation indexes stay");
    }
}
