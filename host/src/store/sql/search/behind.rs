//! The SQLite search index, kept behind the messages: a task adds what is newer than
//! `search_indexed.upto` to the FTS5 table, a few thousand messages per transaction, when
//! no message has arrived for a poll interval, or at once when the unindexed tail passes
//! [`TAIL_MAX`] (then down to half of it, in small transactions spaced out so that the
//! messages being sent meanwhile are not held up behind a burst of indexing, unless the
//! tail keeps growing past twice the bound). A busy store thus indexes late and evenly, or
//! not at all until it is quiet, rather than with every insert; searches read the tail's
//! text directly (`search::statement`), so they find the same messages either way.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the task looks at the messages.
const POLL: Duration = Duration::from_secs(1);
/// The most messages a search reads without the index, in the worst case: the task
/// indexes at once, busy or not, past this many.
pub(crate) const TAIL_MAX: i64 = 50_000;
/// Messages per indexing transaction when the store is quiet.
const BATCH: i64 = 2_000;
/// Messages per indexing transaction while messages keep arriving.
const BUSY_BATCH: i64 = 500;
/// The pause between two busy transactions: at most 20,000 messages a second indexed
/// while the tail is within twice its bound.
const BUSY_PAUSE: Duration = Duration::from_millis(25);

/// Runs until `write` (the SQLite writer pool) closes.
pub(crate) async fn index_in_background(read: AnyPool, write: AnyPool) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_newest = None;
    while !write.is_closed() {
        tick.tick().await;
        match step(&read, &write, &mut seen_newest, TAIL_MAX).await {
            Ok(()) => {}
            Err(_) if write.is_closed() => return,
            Err(err) => tracing::warn!(error = %err, "indexing messages for search failed"),
        }
    }
}

/// One look: index if nothing arrived since the last look, or if more than `tail_max`
/// messages are not indexed.
async fn step(
    read: &AnyPool,
    write: &AnyPool,
    seen_newest: &mut Option<i64>,
    tail_max: i64,
) -> sqlx::Result<()> {
    let (upto, newest) = position(read).await?;
    let quiet = *seen_newest == Some(newest);
    *seen_newest = Some(newest);
    let backlog = newest - upto;
    if backlog <= 0 || (!quiet && backlog <= tail_max) {
        return Ok(());
    }
    if quiet {
        while index_batch(write, newest, BATCH).await?.is_some() {
            tokio::task::yield_now().await;
        }
        return Ok(());
    }
    // Far behind while busy: down to half the bound, a small transaction at a time.
    let target = newest - tail_max / 2;
    while let Some(last) = index_batch(write, target, BUSY_BATCH).await? {
        let (_, newest_now) = position(read).await?;
        if newest_now - last <= 2 * tail_max {
            tokio::time::sleep(BUSY_PAUSE).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// The newest indexed id and the newest message id.
async fn position(pool: &AnyPool) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT (SELECT upto FROM search_indexed), COALESCE((SELECT MAX(id) FROM messages), 0)",
    )
    .fetch_one(pool)
    .await
}

/// Indexes up to `batch` messages after `upto`, none past `limit`; the newest indexed, if
/// any were.
pub(crate) async fn index_batch(
    write: &AnyPool,
    limit: i64,
    batch: i64,
) -> sqlx::Result<Option<i64>> {
    let mut tx = write.begin().await?;
    let (upto,): (i64,) = sqlx::query_as("SELECT upto FROM search_indexed")
        .fetch_one(&mut *tx)
        .await?;
    let (last,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(id) FROM (SELECT id FROM messages WHERE id > ? AND id <= ? \
         ORDER BY id LIMIT ?)",
    )
    .bind(upto)
    .bind(limit)
    .bind(batch)
    .fetch_one(&mut *tx)
    .await?;
    let Some(last) = last else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO messages_fts (rowid, content) \
         SELECT id, content FROM messages WHERE id > ? AND id <= ? ORDER BY id",
    )
    .bind(upto)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE search_indexed SET upto = ?")
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseConfig;
    use crate::messages::search::{Direct, Scope, SearchQuery};
    use crate::messages::{Conversation, NewMessage};
    use crate::store::changes::ChangeStore;
    use crate::store::sql::{SqlSearch, SqlStore};
    use crate::store::{MessageStore, SearchStore};

    async fn store(dir: &std::path::Path) -> SqlStore {
        let sql = SqlStore::connect(&DatabaseConfig::default(), dir)
            .await
            .expect("connect");
        sql.migrate().await.expect("migrate");
        sql
    }

    async fn send(sql: &SqlStore, text: &str) -> i64 {
        sql.append(NewMessage {
            conversation: Conversation::direct(1, 2),
            sender: 1,
            recipient: Some(2),
            content: text.to_owned(),
            client_id: None,
            sent_at: 1_700_000_000_000,
            reply_to: None,
        })
        .await
        .expect("append")
        .message
        .id
    }

    async fn find(search: &SqlSearch, term: &str) -> Vec<String> {
        search
            .search(&SearchQuery {
                viewer: 2,
                terms: vec![term.to_owned()],
                scope: Scope {
                    direct: Direct::All,
                    groups: Vec::new(),
                },
                sender: None,
                since_ms: None,
                until_ms: None,
                before_id: None,
                limit: 50,
            })
            .await
            .expect("search")
            .into_iter()
            .map(|hit| hit.content)
            .collect()
    }

    /// The messages the index itself finds holding `term` (a read of the FTS5 table
    /// without MATCH would read the messages table behind it).
    async fn indexed_with(sql: &SqlStore, term: &str) -> Vec<i64> {
        sqlx::query_as::<_, (i64,)>(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid",
        )
        .bind(format!("\"{term}\""))
        .fetch_all(&sql.read)
        .await
        .expect("index rows")
        .into_iter()
        .map(|(id,)| id)
        .collect()
    }

    #[tokio::test]
    async fn a_search_finds_messages_before_and_after_they_are_indexed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = store(dir.path()).await;
        let search = SqlSearch::new(sql.clone());
        let first = send(&sql, "the harbour at dawn").await;
        let second = send(&sql, "港口的早晨 harbour lights").await;
        // Nothing is indexed with the insert: the search reads the tail.
        assert!(indexed_with(&sql, "harbour").await.is_empty());
        assert_eq!(
            find(&search, "HARBOUR").await,
            ["港口的早晨 harbour lights", "the harbour at dawn"]
        );
        assert_eq!(find(&search, "港口的").await, ["港口的早晨 harbour lights"]);

        assert!(index_batch(&sql.write, i64::MAX, BATCH)
            .await
            .expect("index")
            .is_some());
        assert_eq!(indexed_with(&sql, "harbour").await, [first, second]);
        assert!(index_batch(&sql.write, i64::MAX, BATCH)
            .await
            .expect("nothing left")
            .is_none());
        let third = send(&sql, "harbour again").await;
        // Indexed and tail together, newest first, each once.
        assert_eq!(
            find(&search, "harbour").await,
            [
                "harbour again",
                "港口的早晨 harbour lights",
                "the harbour at dawn"
            ]
        );
        assert_eq!(indexed_with(&sql, "harbour").await, [first, second]);
        let _ = third;
    }

    #[tokio::test]
    async fn edits_and_recalls_reach_the_index_and_the_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = store(dir.path()).await;
        let search = SqlSearch::new(sql.clone());
        let old = send(&sql, "meet at the lighthouse").await;
        index_batch(&sql.write, i64::MAX, BATCH)
            .await
            .expect("index");
        let new = send(&sql, "bring the lantern").await;

        assert!(sql.edit(old, "meet at the pier", 1).await.expect("edit"));
        assert!(sql.edit(new, "bring the torch", 1).await.expect("edit"));
        assert!(find(&search, "lighthouse").await.is_empty());
        assert!(find(&search, "lantern").await.is_empty());
        assert_eq!(find(&search, "pier").await, ["meet at the pier"]);
        assert_eq!(find(&search, "torch").await, ["bring the torch"]);

        // The tail is indexed as it stands now.
        index_batch(&sql.write, i64::MAX, BATCH)
            .await
            .expect("index");
        assert!(find(&search, "lantern").await.is_empty());
        assert_eq!(find(&search, "torch").await, ["bring the torch"]);

        assert!(sql.recall(old).await.expect("recall"));
        assert!(find(&search, "pier").await.is_empty());
    }

    #[tokio::test]
    async fn the_task_indexes_when_quiet_or_far_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = store(dir.path()).await;
        let mut seen = None;
        let mut ids = Vec::new();
        for n in 0..4 {
            ids.push(send(&sql, &format!("message {n}")).await);
        }
        // Messages arrived since the last look, and the tail is within its bound.
        step(&sql.read, &sql.write, &mut seen, 10)
            .await
            .expect("step");
        assert!(indexed_with(&sql, "message").await.is_empty());
        // Far behind while busy: indexed down to half the bound (here 1 of 3 left out).
        for n in 4..12 {
            ids.push(send(&sql, &format!("message {n}")).await);
        }
        step(&sql.read, &sql.write, &mut seen, 6)
            .await
            .expect("step");
        assert_eq!(indexed_with(&sql, "message").await, ids[..9]);
        // Quiet since the last look: all of it.
        step(&sql.read, &sql.write, &mut seen, 6)
            .await
            .expect("step");
        assert_eq!(indexed_with(&sql, "message").await, ids);
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_limit_and_at_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = store(dir.path()).await;
        let ids = [
            send(&sql, "bulk one").await,
            send(&sql, "bulk two").await,
            send(&sql, "bulk three").await,
        ];
        assert!(index_batch(&sql.write, ids[1], BATCH)
            .await
            .expect("index")
            .is_some());
        assert_eq!(indexed_with(&sql, "bulk").await, ids[..2]);
        assert!(index_batch(&sql.write, ids[1], BATCH)
            .await
            .expect("index")
            .is_none());
        let batch = usize::try_from(BATCH).expect("a small number");
        let mut tx = sql.write.begin().await.expect("begin");
        for n in 0..batch + 5 {
            sqlx::query(
                "INSERT INTO messages (conv, sender, recipient, content, sent_at) \
                 VALUES ('d:1:2', 1, 2, ?, 1)",
            )
            .bind(format!("bulk {n}"))
            .execute(&mut *tx)
            .await
            .expect("insert");
        }
        tx.commit().await.expect("commit");
        assert!(index_batch(&sql.write, i64::MAX, BATCH)
            .await
            .expect("index")
            .is_some());
        assert_eq!(indexed_with(&sql, "bulk").await.len(), 2 + batch);
        assert!(index_batch(&sql.write, i64::MAX, BATCH)
            .await
            .expect("index")
            .is_some());
        assert_eq!(indexed_with(&sql, "bulk").await.len(), 3 + batch + 5);
    }
}
