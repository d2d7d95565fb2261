//! Copies of the SQLite database: taken with `VACUUM INTO`, checked before they are
//! restored, and the message log's part in both (what the log holds must reach SQLite
//! before a copy can hold it, and a restored database must not meet another database's log).
//!
//! A copy is one self-contained file in rollback-journal mode, readable by any SQLite tool
//! without its `-wal` or `-shm`; the server puts its database back into WAL mode when it
//! opens it. The services that decide when a copy may be taken are in `crate::backup`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::config::DatabaseConfig;
use crate::store::{journal, message_log_dir, SqlStore};

/// The migrations this build knows, to tell a backup from a newer version.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Tables every Confab database has.
const TABLES: [&str; 3] = ["_sqlx_migrations", "users", "messages"];

/// What a copy of the database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Copied {
    /// The file's size.
    pub bytes: u64,
    /// Messages in it.
    pub messages: i64,
    /// The newest message id in it (0 when there is none).
    pub newest_message: i64,
}

/// The SQLite file of `config`, or `None` when the database is MySQL or MariaDB.
pub fn sqlite_file(config: &DatabaseConfig, data_dir: &Path) -> Option<PathBuf> {
    if config.url.is_empty() {
        return Some(data_dir.join("confab.db"));
    }
    let rest = config.url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Copies the database `source` into `dest` with `VACUUM INTO`, which reads one snapshot:
/// a copy taken while a server writes is consistent. The copy is written beside `dest`
/// under a temporary name, synced and renamed, so `dest` is always whole: the new copy, or
/// (until then) the file it replaces. An existing `dest` is replaced only with `replace`.
pub async fn copy_database(source: &Path, dest: &Path, replace: bool) -> anyhow::Result<Copied> {
    anyhow::ensure!(
        source.is_file(),
        "there is no database at {}",
        source.display()
    );
    anyhow::ensure!(
        replace || !dest.exists(),
        "{} exists: choose another name, or add --force to replace it",
        dest.display()
    );
    let partial = partial_path(dest)?;
    // A leftover of an interrupted copy has this name and nothing else does.
    remove_if_present(&partial)?;
    let target = partial
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", partial.display()))?
        .to_owned();
    let copied = async {
        let mut conn = connect(source).await?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&mut conn)
            .await
            .with_context(|| format!("copying {} with VACUUM INTO", source.display()))?;
        conn.close().await.context("closing the database")?;
        let mut copy = connect(&partial).await?;
        // One file, without a -wal beside it; the server turns WAL on again when it opens it.
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&mut copy)
            .await
            .context("setting the copy's journal mode")?;
        let counted = count(&mut copy).await;
        copy.close().await.context("closing the copy")?;
        counted
    }
    .await;
    let (messages, newest_message) = match copied {
        Ok(counted) => counted,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    let bytes = tokio::task::spawn_blocking({
        let (partial, dest) = (partial.clone(), dest.to_owned());
        move || publish(&partial, &dest)
    })
    .await
    .context("file work on the blocking pool")??;
    Ok(Copied {
        bytes,
        messages,
        newest_message,
    })
}

/// Checks that `file` is a whole Confab database this build can serve, and says what it
/// holds. Opens it read-write (a database in WAL mode needs that): check a copy, never the
/// operator's backup itself.
pub async fn check_backup(file: &Path) -> anyhow::Result<Copied> {
    let shown = file.display();
    check_header(file)?;
    let mut conn = connect(file)
        .await
        .with_context(|| format!("{shown} cannot be opened as a SQLite database"))?;
    let checked: anyhow::Result<Copied> = async {
        let (verdict,): (String,) = sqlx::query_as("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("{shown} is damaged"))?;
        anyhow::ensure!(verdict == "ok", "{shown} is damaged: {verdict}");
        for table in TABLES {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?")
                    .bind(table)
                    .fetch_optional(&mut conn)
                    .await
                    .context("reading the schema")?;
            anyhow::ensure!(
                found.is_some(),
                "{shown} is a SQLite database but not Confab's (it has no table {table})"
            );
        }
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .context("reading the migrations applied")?;
        let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
        let applied = applied.unwrap_or(0);
        anyhow::ensure!(
            applied <= known,
            "{shown} comes from a newer Confab (migration {applied}; this one knows up to {known}): \
             restore it with that version"
        );
        let (messages, newest_message) = count(&mut conn).await?;
        let bytes = std::fs::metadata(file)
            .with_context(|| format!("reading {shown}"))?
            .len();
        Ok(Copied {
            bytes,
            messages,
            newest_message,
        })
    }
    .await;
    conn.close().await.context("closing the database")?;
    checked
}

/// Refuses a file that does not start as every SQLite database does.
pub fn check_header(file: &Path) -> anyhow::Result<()> {
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    File::open(file)
        .and_then(|f| f.take(16).read_to_end(&mut head))
        .with_context(|| format!("reading {}", file.display()))?;
    anyhow::ensure!(
        head == SQLITE_HEADER,
        "{} is not a SQLite database, so not a Confab backup",
        file.display()
    );
    Ok(())
}

/// Whether a running server holds the message log of `data_dir` (it locks the log's
/// folder for as long as it serves).
pub fn log_in_use(data_dir: &Path) -> anyhow::Result<bool> {
    let path = message_log_dir(data_dir).join("LOCK");
    let file = match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Takes the lock a serving process holds on the message log of `data_dir`, so that no
/// server starts while the database is replaced; `None` if a running server holds it.
pub fn lock_log(data_dir: &Path) -> anyhow::Result<Option<File>> {
    let dir = message_log_dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// The segments of the message log of `data_dir`: messages acknowledged and perhaps not yet
/// in SQLite.
pub fn log_segments(data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = message_log_dir(data_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "log") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// With no server running: writes what the message log holds into SQLite (as the next
/// server start would), so that a copy of the database holds every acknowledged message.
/// Returns how many messages it wrote.
pub async fn apply_log(config: &DatabaseConfig, data_dir: &Path) -> anyhow::Result<usize> {
    if log_segments(data_dir)?.is_empty() {
        return Ok(0);
    }
    let store = SqlStore::connect(config, data_dir).await?;
    store.migrate().await?;
    journal::replay_if_present(&store, &message_log_dir(data_dir)).await
}

/// Opens one connection to an existing database file.
async fn connect(file: &Path) -> anyhow::Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("opening {}", file.display()))
}

/// How many messages the database holds, and the newest one's id.
async fn count(conn: &mut SqliteConnection) -> anyhow::Result<(i64, i64)> {
    sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM messages")
        .fetch_one(conn)
        .await
        .context("counting the messages")
}

/// `.<name>.partial` beside `dest`.
fn partial_path(dest: &Path) -> anyhow::Result<PathBuf> {
    let name = dest
        .file_name()
        .with_context(|| format!("{} names no file", dest.display()))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(".partial");
    Ok(dest.with_file_name(partial))
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Makes the finished copy private and durable, then gives it its name; returns its size.
fn publish(partial: &Path, dest: &Path) -> anyhow::Result<u64> {
    let file = File::open(partial).with_context(|| format!("opening {}", partial.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", partial.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("syncing {}", partial.display()))?;
    let bytes = file.metadata()?.len();
    std::fs::rename(partial, dest)
        .with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))?;
    sync_parent(dest)?;
    Ok(bytes)
}

/// Syncs the folder holding `path`, so a rename into it survives a power cut.
pub(crate) fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", parent.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_comes_from_the_url_or_the_data_folder() {
        let mut config = DatabaseConfig::default();
        let data = Path::new("/srv/confab");
        assert_eq!(
            sqlite_file(&config, data),
            Some(PathBuf::from("/srv/confab/confab.db"))
        );
        config.url = "sqlite:///var/db/chat.db?mode=rwc".to_owned();
        assert_eq!(
            sqlite_file(&config, data),
            Some(PathBuf::from("/var/db/chat.db"))
        );
        config.url = "mysql://root@127.0.0.1/confab".to_owned();
        assert_eq!(sqlite_file(&config, data), None);
    }

    #[tokio::test]
    async fn a_copy_is_checked_and_other_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = DatabaseConfig::default();
        let store = SqlStore::connect(&config, dir.path())
            .await
            .expect("sqlite");
        store.migrate().await.expect("migrations");
        let dest = dir.path().join("copy.db");
        let source = dir.path().join("confab.db");
        let copied = copy_database(&source, &dest, false).await.expect("a copy");
        assert_eq!((copied.messages, copied.newest_message), (0, 0));
        let header = std::fs::read(&dest).expect("the copy");
        assert_eq!(
            header[18..20],
            [1, 1],
            "a rollback-journal file, no -wal needed"
        );
        assert_eq!(check_backup(&dest).await.expect("a valid copy"), copied);
        let again = copy_database(&source, &dest, false)
            .await
            .expect_err("an existing file");
        assert!(again.to_string().contains("--force"), "{again:#}");
        copy_database(&source, &dest, true)
            .await
            .expect("replaced when asked");

        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a database at all").expect("write");
        let refused = check_backup(&text).await.expect_err("a text file");
        assert!(
            refused.to_string().contains("not a SQLite database"),
            "{refused:#}"
        );
    }
}
