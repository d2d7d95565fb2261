//! The SQL backend: SQLite (the embedded default) and MySQL/MariaDB, through sqlx.
//!
//! One implementation serves both dialects through sqlx's `Any` driver: the schema keeps
//! to types both share (BIGINT times, text), every statement uses `?` placeholders, and the
//! few statements that differ branch on [`Dialect`]. SQLite gets a single-connection writer
//! pool (SQLite has one writer anyway; this avoids busy errors from lock upgrades) and a
//! pool of readers in WAL mode; MySQL uses one pool for both.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::config::DatabaseConfig;

mod accounts;
mod blocks;
mod changes;
mod conversations;
mod counts;
mod group_pages;
mod messages;
mod moderation;
mod plugins;
mod search;
mod social;
mod stored;
mod uploads;

pub(crate) use search::SqlSearch;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

/// Which SQL dialect a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// MySQL 8 or MariaDB 10.
    Mysql,
}

/// Users, tokens, invites and codes in one SQL database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
    /// Whether one multi-row insert gets ids one `id_step` apart (always on SQLite; on
    /// MySQL unless the auto-increment lock mode is "interleaved").
    batch_inserts: bool,
    /// The auto-increment step (MySQL's `auto_increment_increment`; 1 on SQLite).
    id_step: i64,
}

impl SqlStore {
    /// Connects to `config.url`, or to `confab.db` in `data_dir` when it is empty.
    pub async fn connect(config: &DatabaseConfig, data_dir: &Path) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let url = if config.url.is_empty() {
            let path = data_dir.join("confab.db");
            format!("sqlite://{}?mode=rwc", path.display())
        } else {
            config.url.clone()
        };
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Dialect::Mysql
        } else {
            anyhow::bail!("database.url must start with sqlite: or mysql:");
        };
        let url = url.replacen("mariadb:", "mysql:", 1);
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("database.url {}", redact(&url)))?;
        match dialect {
            Dialect::Sqlite => {
                let write = sqlite_pool(1)
                    .connect_with(options.clone())
                    .await
                    .with_context(|| format!("opening the SQLite database {}", redact(&url)))?;
                let read = sqlite_pool(config.max_connections)
                    .connect_with(options)
                    .await
                    .context("opening SQLite readers")?;
                tokio::spawn(checkpoint_in_background(read.clone()));
                Ok(Self {
                    read,
                    write,
                    dialect,
                    batch_inserts: true,
                    id_step: 1,
                })
            }
            Dialect::Mysql => {
                let pool = AnyPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("connecting to MySQL at {}", redact(&url)))?;
                let (lock_mode, step): (i64, i64) = sqlx::query_as(
                    "SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED), \
                     CAST(@@auto_increment_increment AS SIGNED)",
                )
                .fetch_one(&pool)
                .await
                .context("reading the auto-increment settings")?;
                if lock_mode > 1 {
                    tracing::info!(
                        lock_mode,
                        "innodb_autoinc_lock_mode is interleaved: messages are inserted one row per statement"
                    );
                }
                Ok(Self {
                    read: pool.clone(),
                    write: pool,
                    dialect,
                    batch_inserts: lock_mode <= 1,
                    id_step: step.max(1),
                })
            }
        }
    }

    /// On SQLite, starts the task that keeps the search index behind the messages
    /// (`search::behind`); the serving process runs it, tools do not.
    pub fn index_search_in_background(&self) {
        if self.dialect == Dialect::Sqlite {
            tokio::spawn(search::behind::index_in_background(
                self.read.clone(),
                self.write.clone(),
            ));
        }
    }

    /// Applies the dialect's migrations from `migrations/`.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Mysql => &MYSQL_MIGRATIONS,
        };
        migrator
            .run(&self.write)
            .await
            .context("applying database migrations")?;
        self.fill_look_alike_keys().await
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool for raw statements (tests read the stored bytes through it).
    pub fn pool(&self) -> &AnyPool {
        &self.write
    }
}

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        // A local file has no connection to lose: pinging it before every use only costs
        // a round trip to the driver's thread.
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; FULL sync makes an
                // acknowledged write survive a power cut, not only a crash.
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA busy_timeout = 5000",
                    "PRAGMA foreign_keys = ON",
                    // Checkpoints are run beside the writer (see checkpoint_in_background);
                    // this one, in the committing connection, is the safety net.
                    "PRAGMA wal_autocheckpoint = 16384",
                    // 32 MiB of pages: the hot index pages of busy conversations stay in
                    // memory rather than being read back through the kernel.
                    "PRAGMA cache_size = -32768",
                ] {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        })
}

/// How often the WAL is copied back into the database beside the writer.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL into the database from a reader connection, so the writer's commits
/// never pay for it. A passive checkpoint waits for no one and blocks no one; the writer's
/// own automatic checkpoint remains for when this one falls behind. Ends when the pool
/// closes.
async fn checkpoint_in_background(pool: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "checkpointing the SQLite WAL failed");
        }
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl From<sqlx::Error> for crate::error::Error {
    fn from(err: sqlx::Error) -> Self {
        crate::error::Error::Internal(anyhow::Error::new(err).context("database"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("mysql://root:secret@127.0.0.1:3306/test"),
            "mysql://root:***@127.0.0.1:3306/test"
        );
        assert_eq!(
            redact("sqlite://./data/confab.db"),
            "sqlite://./data/confab.db"
        );
    }
}
