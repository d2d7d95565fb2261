//! Plugins in SQL, for a cluster: each plugin's newest revision (`plugins`), components
//! once per sha256 (`plugin_components`), what each node runs (`plugin_nodes`) and the
//! shared verdict log (`plugin_verdicts`).
//!
//! A revision is written with a compare-and-set (`UPDATE … WHERE revision = ?`, or an
//! `INSERT` whose primary key turns a second first revision away), so two nodes changing
//! one plugin at once never both win. Manifests and components are BLOBs: sqlx's `Any`
//! driver reads MySQL `TEXT` as bytes, and a manifest can outgrow a `VARCHAR`.

use async_trait::async_trait;
use sqlx::FromRow;

use super::accounts::is_unique_violation;
use super::{Dialect, SqlStore};
use crate::error::Result;
use crate::plugins::stats::{CounterSnapshot, VerdictRecord};
use crate::plugins::storage::{NewRevision, NodeReport, PluginStore, StoredPlugin};
use crate::plugins::view::PluginState;

/// Characters of a node's error kept in `plugin_nodes.error` (a `VARCHAR(1000)`).
const ERROR_CHARS: usize = 900;

#[derive(FromRow)]
struct PluginRow {
    name: String,
    revision: i64,
    manifest: Vec<u8>,
    sha256: String,
    removed: i64,
    updated_at: i64,
    updated_by: String,
}

impl From<PluginRow> for StoredPlugin {
    fn from(row: PluginRow) -> Self {
        Self {
            name: row.name,
            revision: row.revision,
            // Only the server writes manifests, from UTF-8 text.
            manifest: String::from_utf8_lossy(&row.manifest).into_owned(),
            sha256: row.sha256,
            removed: row.removed != 0,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

#[derive(FromRow)]
struct ReportRow {
    node: String,
    plugin: String,
    revision: i64,
    state: String,
    error: Option<String>,
    calls: i64,
    rejects: i64,
    rewrites: i64,
    errors: i64,
    timeouts: i64,
    skipped: i64,
    kv_evictions: i64,
    latency: String,
    latency_sum_us: i64,
    seen_at: i64,
}

impl From<ReportRow> for NodeReport {
    fn from(row: ReportRow) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            node: row.node,
            plugin: row.plugin,
            revision: row.revision,
            state: PluginState::parse(&row.state).unwrap_or(PluginState::Failed),
            error: row.error,
            counters: CounterSnapshot {
                calls: count(row.calls),
                rejects: count(row.rejects),
                rewrites: count(row.rewrites),
                errors: count(row.errors),
                timeouts: count(row.timeouts),
                skipped: count(row.skipped),
                kv_evictions: count(row.kv_evictions),
                latency: CounterSnapshot::parse_latency(&row.latency),
                latency_sum_us: count(row.latency_sum_us),
            },
            seen_at: row.seen_at,
        }
    }
}

#[derive(FromRow)]
struct VerdictRow {
    id: i64,
    at_ms: i64,
    node: String,
    plugin: String,
    hook: String,
    outcome: String,
    user_id: i64,
    detail: String,
    subject: String,
}

impl From<VerdictRow> for VerdictRecord {
    fn from(row: VerdictRow) -> Self {
        Self {
            at: row.at_ms,
            node: row.node,
            plugin: row.plugin,
            hook: row.hook,
            outcome: row.outcome,
            user: u64::try_from(row.user_id).unwrap_or(0),
            detail: row.detail,
            subject: row.subject,
            request_id: None,
        }
    }
}

/// A counter as stored; none comes near the end of `i64`.
fn stored(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

const PLUGIN_COLUMNS: &str = "name, revision, manifest, sha256, removed, updated_at, updated_by";
const REPORT_COLUMNS: &str = "node, plugin, revision, state, error, calls, rejects, rewrites, \
                              errors, timeouts, skipped, kv_evictions, latency, latency_sum_us, \
                              seen_at";

#[async_trait]
impl PluginStore for SqlStore {
    fn shared(&self) -> bool {
        self.dialect == Dialect::Mysql
    }

    async fn plugins(&self) -> Result<Vec<StoredPlugin>> {
        let rows: Vec<PluginRow> = sqlx::query_as(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins ORDER BY name"
        ))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(StoredPlugin::from).collect())
    }

    async fn plugin(&self, name: &str) -> Result<Option<StoredPlugin>> {
        let row: Option<PluginRow> = sqlx::query_as(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(StoredPlugin::from))
    }

    async fn component(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT wasm FROM plugin_components WHERE sha256 = ?")
                .bind(sha256)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|(wasm,)| wasm))
    }

    async fn publish(&self, expected: i64, new: &NewRevision<'_>) -> Result<Option<i64>> {
        let mut tx = self.write.begin().await?;
        if let Some(wasm) = new.wasm {
            // Stored once per sha256. Storing it again refreshes `stored_at`, which also
            // keeps `forget_components` off it until this transaction is done.
            let insert = match self.dialect {
                Dialect::Sqlite => "INSERT OR IGNORE",
                Dialect::Mysql => "INSERT IGNORE",
            };
            sqlx::query(&format!(
                "{insert} INTO plugin_components (sha256, wasm, stored_at) VALUES (?, ?, ?)"
            ))
            .bind(new.sha256)
            .bind(wasm.to_vec())
            .bind(new.at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE plugin_components SET stored_at = ? WHERE sha256 = ?")
                .bind(new.at)
                .bind(new.sha256)
                .execute(&mut *tx)
                .await?;
        }
        let removed = i64::from(new.removed);
        let revision = if expected == 0 {
            let inserted = sqlx::query(&format!(
                "INSERT INTO plugins ({PLUGIN_COLUMNS}) VALUES (?, 1, ?, ?, ?, ?, ?)"
            ))
            .bind(new.name)
            .bind(new.manifest.as_bytes().to_vec())
            .bind(new.sha256)
            .bind(removed)
            .bind(new.at)
            .bind(new.by)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => 1,
                Err(err) if is_unique_violation(&err) => return Ok(None),
                Err(err) => return Err(err.into()),
            }
        } else {
            let updated = sqlx::query(
                "UPDATE plugins SET revision = revision + 1, manifest = ?, sha256 = ?, \
                 removed = ?, updated_at = ?, updated_by = ? WHERE name = ? AND revision = ?",
            )
            .bind(new.manifest.as_bytes().to_vec())
            .bind(new.sha256)
            .bind(removed)
            .bind(new.at)
            .bind(new.by)
            .bind(new.name)
            .bind(expected)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Ok(None);
            }
            expected + 1
        };
        tx.commit().await?;
        Ok(Some(revision))
    }

    async fn forget_components(&self, before: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM plugin_components WHERE stored_at < ? \
             AND sha256 NOT IN (SELECT sha256 FROM plugins WHERE removed = 0)",
        )
        .bind(before)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn report(&self, node: &str, at: i64, reports: &[NodeReport]) -> Result<()> {
        // One statement per row keeps every lock on one row: an update of the node's row
        // (both dialects count a matched row, MySQL through CLIENT_FOUND_ROWS), else an
        // insert; an insert that lost a race updates the winner's row.
        for report in reports {
            let error = report.error.as_deref().map(|e| clip(e, ERROR_CHARS));
            let latency = report.counters.latency_text();
            let c = &report.counters;
            let update = || {
                sqlx::query(
                    "UPDATE plugin_nodes SET revision = ?, state = ?, error = ?, calls = ?, \
                     rejects = ?, rewrites = ?, errors = ?, timeouts = ?, skipped = ?, \
                     kv_evictions = ?, latency = ?, latency_sum_us = ?, seen_at = ? \
                     WHERE node = ? AND plugin = ?",
                )
                .bind(report.revision)
                .bind(report.state.as_str())
                .bind(error.clone())
                .bind(stored(c.calls))
                .bind(stored(c.rejects))
                .bind(stored(c.rewrites))
                .bind(stored(c.errors))
                .bind(stored(c.timeouts))
                .bind(stored(c.skipped))
                .bind(stored(c.kv_evictions))
                .bind(latency.clone())
                .bind(stored(c.latency_sum_us))
                .bind(at)
                .bind(node)
                .bind(report.plugin.as_str())
            };
            if update().execute(&self.write).await?.rows_affected() > 0 {
                continue;
            }
            let inserted = sqlx::query(&format!(
                "INSERT INTO plugin_nodes ({REPORT_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(node)
            .bind(report.plugin.as_str())
            .bind(report.revision)
            .bind(report.state.as_str())
            .bind(error.clone())
            .bind(stored(c.calls))
            .bind(stored(c.rejects))
            .bind(stored(c.rewrites))
            .bind(stored(c.errors))
            .bind(stored(c.timeouts))
            .bind(stored(c.skipped))
            .bind(stored(c.kv_evictions))
            .bind(latency.clone())
            .bind(stored(c.latency_sum_us))
            .bind(at)
            .execute(&self.write)
            .await;
            match inserted {
                Ok(_) => {}
                Err(err) if is_unique_violation(&err) => {
                    update().execute(&self.write).await?;
                }
                Err(err) => return Err(err.into()),
            }
        }
        // What this report did not mention, the node no longer has.
        sqlx::query("DELETE FROM plugin_nodes WHERE node = ? AND seen_at < ?")
            .bind(node)
            .bind(at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn reports(&self) -> Result<Vec<NodeReport>> {
        let rows: Vec<ReportRow> = sqlx::query_as(&format!(
            "SELECT {REPORT_COLUMNS} FROM plugin_nodes ORDER BY node, plugin"
        ))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(NodeReport::from).collect())
    }

    async fn forget_nodes(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM plugin_nodes WHERE seen_at < ?")
            .bind(before)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    async fn add_verdicts(&self, records: &[VerdictRecord], keep: u64) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; records.len()].join(", ");
        let sql = format!(
            "INSERT INTO plugin_verdicts (at_ms, node, plugin, hook, outcome, user_id, detail, \
             subject) VALUES {values}"
        );
        let mut insert = sqlx::query(&sql);
        for record in records {
            insert = insert
                .bind(record.at)
                .bind(clip(&record.node, 120))
                .bind(record.plugin.as_str())
                .bind(clip(&record.hook, 30))
                .bind(clip(&record.outcome, 14))
                .bind(i64::try_from(record.user).unwrap_or(i64::MAX))
                .bind(clip(&record.detail, 350))
                .bind(clip(&record.subject, 350));
        }
        insert.execute(&self.write).await?;
        // The newest `keep` stay: find the oldest of them, delete what came before.
        let offset = stored(keep.saturating_sub(1));
        let oldest_kept: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM plugin_verdicts ORDER BY id DESC LIMIT 1 OFFSET ?")
                .bind(offset)
                .fetch_optional(&self.write)
                .await?;
        if let Some((oldest,)) = oldest_kept {
            sqlx::query("DELETE FROM plugin_verdicts WHERE id < ?")
                .bind(oldest)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    async fn verdicts_before(
        &self,
        before: Option<i64>,
        limit: u32,
        plugin: Option<&str>,
    ) -> Result<Vec<(i64, VerdictRecord)>> {
        // Unnamed conditions hold for every row: one statement for each case.
        let rows: Vec<VerdictRow> = sqlx::query_as(
            "SELECT id, at_ms, node, plugin, hook, outcome, user_id, detail, subject \
             FROM plugin_verdicts WHERE (? = 0 OR id < ?) AND (? = 0 OR plugin = ?) \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(before.is_some()))
        .bind(before.unwrap_or(0))
        .bind(i64::from(plugin.is_some()))
        .bind(plugin.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.id, VerdictRecord::from(row)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;

    use super::*;
    use crate::config::DatabaseConfig;
    use crate::plugins::storage::conformance;

    #[tokio::test]
    async fn sqlite_passes_the_plugins_store_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        assert!(!store.shared());
        conformance::run(&store).await;
    }

    #[tokio::test]
    async fn mysql_passes_the_plugins_store_suite() {
        let Ok(url) = std::env::var("CONFAB_TEST_MYSQL_URL") else {
            eprintln!("SKIPPED: the MySQL plugins store test needs CONFAB_TEST_MYSQL_URL");
            return;
        };
        let mut admin = sqlx::MySqlConnection::connect(&url)
            .await
            .expect("CONFAB_TEST_MYSQL_URL is set but the server cannot be reached");
        let name = format!("confab_p_{:08x}", rand::random::<u32>());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = DatabaseConfig {
            url: format!("{base}/{name}"),
            max_connections: 4,
            ..DatabaseConfig::default()
        };
        let store = SqlStore::connect(&config, dir.path())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        assert!(store.shared());
        conformance::run(&store).await;
        store.pool().close().await;
        sqlx::query(&format!("DROP DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
    }
}
