//! Message search in SQL: one statement per search, whose text clause depends on the
//! full-text index the database has (see migrations `0011_search.sql`).
//!
//! Whatever the index, the answer is the same: the messages that hold every term as
//! written, in any case. An index only narrows the rows to read. On SQLite the trigram
//! index is exact for terms of three characters or more, and shorter terms are checked with
//! LIKE; the index follows the messages a little behind (`behind`), and the newest ones not
//! yet in it are checked with LIKE too. On MySQL and MariaDB the FULLTEXT match finds every row that could hold the terms
//! and LIKE keeps those that do, so an index that matches too much costs time, never a
//! wrong answer. A term the index cannot help with (too short, or with characters the
//! index may split on) is left to LIKE alone; a query of only such terms reads messages
//! newest first until the page is full.

use async_trait::async_trait;
use sqlx::any::AnyArguments;
use sqlx::{Arguments, FromRow};
use tokio::sync::OnceCell;

use self::terms::{fts5_query, grams_query, like_escape, ngram_query, TRIGRAM};

use super::{Dialect, SqlStore};
use crate::error::Result;
use crate::messages::search::{Direct, Hit, SearchQuery};
use crate::messages::Conversation;
use crate::store::SearchStore;

pub(crate) mod behind;
mod terms;

/// Which full-text index the database has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Index {
    /// SQLite: the FTS5 table `messages_fts` with the trigram tokenizer.
    Trigram,
    /// MySQL: FULLTEXT `messages_ngram` on `content` with the ngram parser, tokens of
    /// this many characters.
    Ngram(usize),
    /// MariaDB: FULLTEXT `messages_grams` on the generated trigrams in `search_grams`.
    Grams,
    /// None usable: LIKE alone.
    Scan,
}

/// The search of one SQL database.
#[derive(Debug)]
pub(crate) struct SqlSearch {
    store: SqlStore,
    index: OnceCell<Index>,
}

impl SqlSearch {
    /// Searches `store`'s messages.
    pub(crate) fn new(store: SqlStore) -> Self {
        Self {
            store,
            index: OnceCell::new(),
        }
    }

    /// The index in use, found on the first search.
    async fn index(&self) -> Result<Index> {
        let index = self
            .index
            .get_or_try_init(|| async {
                match self.store.dialect() {
                    Dialect::Sqlite => Ok(Index::Trigram),
                    Dialect::Mysql => self.mysql_index().await,
                }
            })
            .await?;
        Ok(*index)
    }

    /// What the MySQL migration made on this server, and whether the server's token sizes
    /// let it be used.
    async fn mysql_index(&self) -> Result<Index> {
        let pool = &self.store.read;
        let name: Option<(String,)> = sqlx::query_as(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages' \
             AND INDEX_NAME IN ('messages_ngram', 'messages_grams') LIMIT 1",
        )
        .fetch_optional(pool)
        .await?;
        let index = match name.as_ref().map(|(n,)| n.as_str()) {
            Some("messages_ngram") => {
                let (size,): (i64,) = sqlx::query_as("SELECT CAST(@@ngram_token_size AS SIGNED)")
                    .fetch_one(pool)
                    .await?;
                Index::Ngram(usize::try_from(size).unwrap_or(2).max(1))
            }
            Some("messages_grams") => {
                let (min,): (i64,) =
                    sqlx::query_as("SELECT CAST(@@innodb_ft_min_token_size AS SIGNED)")
                        .fetch_one(pool)
                        .await?;
                if min <= TRIGRAM as i64 {
                    Index::Grams
                } else {
                    tracing::warn!(
                        innodb_ft_min_token_size = min,
                        "message search reads without its index: trigrams are shorter than \
                         innodb_ft_min_token_size"
                    );
                    Index::Scan
                }
            }
            _ => Index::Scan,
        };
        tracing::debug!(?index, "message search index");
        Ok(index)
    }
}

#[derive(FromRow)]
struct HitRow {
    id: i64,
    conv: String,
    sender: i64,
    content: String,
    sent_at: i64,
    edited_at: Option<i64>,
}

#[async_trait]
impl SearchStore for SqlSearch {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>> {
        if query.scope.is_empty() || query.terms.is_empty() || query.limit == 0 {
            return Ok(Vec::new());
        }
        let (sql, args) = statement(self.index().await?, query).map_err(anyhow::Error::msg)?;
        let rows: Vec<HitRow> = sqlx::query_as_with(&sql, args)
            .fetch_all(&self.store.read)
            .await?;
        rows.into_iter()
            .map(|row| {
                let conversation = Conversation::from_key(&row.conv).ok_or_else(|| {
                    anyhow::anyhow!("stored conversation key {:?} is malformed", row.conv)
                })?;
                Ok(Hit {
                    id: row.id,
                    conversation,
                    sender: row.sender,
                    content: row.content,
                    sent_at: row.sent_at,
                    edited_at: row.edited_at,
                })
            })
            .collect()
    }
}

/// The statement of a search and its arguments.
fn statement(
    index: Index,
    query: &SearchQuery,
) -> std::result::Result<(String, AnyArguments<'static>), sqlx::error::BoxDynError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args = AnyArguments::default();
    // Terms LIKE must check: on SQLite those the trigrams cannot, elsewhere every one.
    let mut like_terms: Vec<&str> = query.terms.iter().map(String::as_str).collect();
    match index {
        Index::Trigram => {
            let (indexed, short): (Vec<&str>, Vec<&str>) = like_terms
                .iter()
                .partition(|t| t.chars().count() >= TRIGRAM);
            if !indexed.is_empty() {
                // The index holds the messages up to `search_indexed.upto`; the newer tail
                // (at most `behind::TAIL_MAX` of them) is read directly.
                let tail = vec!["m.content LIKE ? ESCAPE '!'"; indexed.len()].join(" AND ");
                clauses.push(format!(
                    "(m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) \
                     OR (m.id > (SELECT upto FROM search_indexed) AND {tail}))"
                ));
                args.add(fts5_query(&indexed))?;
                for term in &indexed {
                    args.add(format!("%{}%", like_escape(term)))?;
                }
            }
            like_terms = short;
        }
        Index::Ngram(size) => {
            if let Some(against) = ngram_query(&query.terms, size) {
                clauses.push("MATCH (m.content) AGAINST (? IN BOOLEAN MODE)".into());
                args.add(against)?;
            }
        }
        Index::Grams => {
            if let Some(against) = grams_query(&query.terms) {
                clauses.push("MATCH (m.search_grams) AGAINST (? IN BOOLEAN MODE)".into());
                args.add(against)?;
            }
        }
        Index::Scan => {}
    }
    for term in like_terms {
        clauses.push("m.content LIKE ? ESCAPE '!'".into());
        args.add(format!("%{}%", like_escape(term)))?;
    }
    clauses.push(scope_clause(query, &mut args)?);
    if let Some(sender) = query.sender {
        clauses.push("m.sender = ?".into());
        args.add(sender)?;
    }
    if let Some(since) = query.since_ms {
        clauses.push("m.sent_at >= ?".into());
        args.add(since)?;
    }
    if let Some(until) = query.until_ms {
        clauses.push("m.sent_at < ?".into());
        args.add(until)?;
    }
    if let Some(before) = query.before_id {
        clauses.push("m.id < ?".into());
        args.add(before)?;
    }
    clauses.push(
        "NOT EXISTS (SELECT 1 FROM message_hidden h \
         WHERE h.user_id = ? AND h.message_id = m.id)"
            .into(),
    );
    args.add(query.viewer)?;
    args.add(i64::from(query.limit))?;
    let sql = format!(
        "SELECT m.id, m.conv, m.sender, m.content, m.sent_at, m.edited_at FROM messages m \
         WHERE {} ORDER BY m.id DESC LIMIT ?",
        clauses.join(" AND ")
    );
    Ok((sql, args))
}

/// Where the viewer may look, as one condition. Group keys and floors are written into
/// the statement rather than bound: they are numbers formatted here, so nothing of the
/// request reaches the text, and a member of many groups would otherwise pass the
/// databases' limits on arguments.
fn scope_clause(
    query: &SearchQuery,
    args: &mut AnyArguments<'static>,
) -> std::result::Result<String, sqlx::error::BoxDynError> {
    let scope = &query.scope;
    let mut any: Vec<String> = Vec::new();
    match scope.direct {
        Direct::None => {}
        Direct::All => {
            // Only private messages have a recipient, and the viewer is one of the two.
            any.push("(m.recipient IS NOT NULL AND (m.sender = ? OR m.recipient = ?))".into());
            args.add(query.viewer)?;
            args.add(query.viewer)?;
        }
        Direct::With(peer) => {
            any.push("m.conv = ?".into());
            args.add(Conversation::direct(query.viewer, peer).key())?;
        }
    }
    let whole: Vec<String> = scope
        .groups
        .iter()
        .filter(|(_, floor)| *floor <= 0)
        .map(|(group, _)| format!("'{}'", Conversation::Group(*group).key()))
        .collect();
    if !whole.is_empty() {
        any.push(format!("m.conv IN ({})", whole.join(", ")));
    }
    for (group, floor) in scope.groups.iter().filter(|(_, floor)| *floor > 0) {
        any.push(format!(
            "(m.conv = '{}' AND m.id > {floor})",
            Conversation::Group(*group).key()
        ));
    }
    Ok(format!("({})", any.join(" OR ")))
}
