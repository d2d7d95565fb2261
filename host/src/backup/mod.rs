//! Backups of the SQLite database: a consistent copy holding every acknowledged message,
//! taken while the server runs or not (`confab backup`, `POST /admin/backup`), and its
//! restore into a data folder no server holds (`confab restore`, in `restore.rs`).
//!
//! Why the serving process takes the copy: on SQLite a message is acknowledged once it is in
//! the message log, and SQLite is written behind it (`store/journal`), so a copy of
//! `confab.db` made by another process may lack the last acknowledged messages. The server
//! first waits for the log to settle (everything acknowledged before the request is then in
//! SQLite), then copies the database with `VACUUM INTO`, which reads one snapshot. With no
//! server running, `confab backup` writes the log into SQLite itself first, as the next start
//! would. ARCHITECTURE.md tells why this and not a copy of the log beside the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::backup::{self as copies, Copied};
use crate::store::MessageStore;

mod restore;

pub use restore::restore;

/// The folder, in the data folder, where the server writes the copies it takes.
pub const BACKUP_FOLDER: &str = "backups";

/// What refuses a backup of a MySQL or MariaDB database.
const MYSQL_BACKUP: &str = "the database is MySQL or MariaDB: back it up with \
     `mysqldump --single-transaction` (see \"Backups and restore\" in docs/operating.md)";

/// A copy the server took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Taken {
    /// Where it is, as an absolute path on the server's machine.
    pub file: String,
    /// What it holds.
    #[serde(flatten)]
    pub copied: Copied,
}

/// Takes copies of the database for `POST /admin/backup`, one at a time.
#[derive(Clone)]
pub struct Backups {
    inner: Arc<Inner>,
}

struct Inner {
    /// The SQLite file; `None` on MySQL.
    database: Option<PathBuf>,
    /// Where copies go.
    folder: PathBuf,
    /// The message history, to settle before copying.
    messages: Arc<dyn MessageStore>,
    /// Copies are taken one after another: each reads the whole database.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Backups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups")
            .field("database", &self.inner.database)
            .finish_non_exhaustive()
    }
}

impl Backups {
    /// Backups of the database of `config`, whose message history is `messages`.
    pub fn new(config: &Config, messages: Arc<dyn MessageStore>) -> Self {
        let data_dir = std::path::absolute(&config.server.data_dir)
            .unwrap_or_else(|_| config.server.data_dir.clone());
        Self {
            inner: Arc::new(Inner {
                database: copies::sqlite_file(&config.database, &data_dir),
                folder: data_dir.join(BACKUP_FOLDER),
                messages,
                turn: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Copies the database into a new file of the backup folder. The copy holds every
    /// message acknowledged before this call.
    pub async fn take(&self) -> Result<Taken> {
        let inner = &self.inner;
        let Some(database) = &inner.database else {
            return Err(Error::Invalid(MYSQL_BACKUP.to_owned()));
        };
        let _turn = inner.turn.lock().await;
        // From here on SQLite holds every message acknowledged before the request.
        inner.messages.settle().await?;
        create_private_dir(&inner.folder).map_err(Error::Internal)?;
        let dest = fresh_name(&inner.folder);
        let copied = copies::copy_database(database, &dest, false)
            .await
            .map_err(|err| Error::Internal(err.context("taking a backup")))?;
        tracing::info!(file = %dest.display(), bytes = copied.bytes, messages = copied.messages, "backup taken");
        Ok(Taken {
            file: dest.display().to_string(),
            copied,
        })
    }
}

/// `confab backup FILE`: asks the running server for a copy (or takes it directly when none
/// runs) and puts it at `file`.
pub async fn backup(
    config: &Config,
    file: &Path,
    force: bool,
    url: Option<&str>,
) -> anyhow::Result<()> {
    let data_dir = &config.server.data_dir;
    let Some(database) = copies::sqlite_file(&config.database, data_dir) else {
        anyhow::bail!("{MYSQL_BACKUP}");
    };
    anyhow::ensure!(
        force || !file.exists(),
        "{} exists: choose another name, or add --force to replace it",
        file.display()
    );
    let copied = if url.is_some() || copies::log_in_use(data_dir)? {
        let url = server_url(config, url)?;
        let token = admin_token(config)?;
        let taken = crate::api::backup::ask_server(&url, &token)
            .await
            .with_context(|| format!("asking the server at {url} for a backup"))?;
        move_into(Path::new(&taken.file), file, force)?;
        taken.copied
    } else {
        same_owner(data_dir)?;
        let replayed = copies::apply_log(&config.database, data_dir).await?;
        if replayed > 0 {
            println!("wrote {replayed} messages from the message log into the database first");
        }
        copies::copy_database(&database, file, force).await?
    };
    println!(
        "backed up {} into {}: {} bytes, {} messages (newest id {})",
        database.display(),
        file.display(),
        copied.bytes,
        copied.messages,
        copied.newest_message
    );
    println!(
        "keep a copy of {} as well: the backup does not hold the secrets",
        data_dir.join("secrets").display()
    );
    if !config.history.url.is_empty() {
        println!("message history is in MongoDB ([history] url): back it up with mongodump");
    }
    Ok(())
}

/// The running server's base URL: `given`, or `server.listen` (the loopback address when it
/// listens on every address).
fn server_url(config: &Config, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(given) = given {
        return Ok(given.trim_end_matches('/').to_owned());
    }
    let mut addr = config.server.listen;
    anyhow::ensure!(
        addr.port() != 0,
        "server.listen has port 0, so the running server's port is unknown: \
         give its address with --url http://127.0.0.1:PORT"
    );
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}"))
}

/// The admin token: configured, or the one the server generated into the data folder.
fn admin_token(config: &Config) -> anyhow::Result<String> {
    if !config.admin.token.is_empty() {
        return Ok(config.admin.token.clone());
    }
    let path = config.server.data_dir.join("secrets").join("admin.token");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading the admin token from {} (or set [admin] token)",
            path.display()
        )
    })?;
    let key = B64
        .decode(text.trim())
        .with_context(|| format!("{} is not base64", path.display()))?;
    Ok(B64.encode(key))
}

/// Moves the server's copy to where the operator wants it: a rename on one file system, a
/// copy (synced, then renamed into place) across two.
fn move_into(from: &Path, to: &Path, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        force || !to.exists(),
        "{} exists; the backup stays at {}",
        to.display(),
        from.display()
    );
    if std::fs::rename(from, to).is_ok() {
        return copies::sync_parent(to);
    }
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .with_context(|| format!("copying {} to {}", from.display(), partial.display()))?;
    std::fs::rename(&partial, to)
        .with_context(|| format!("renaming {} to {}", partial.display(), to.display()))?;
    copies::sync_parent(to)?;
    std::fs::remove_file(from).with_context(|| format!("removing {}", from.display()))
}

/// Refuses to work on a data folder as root when another user owns it: files SQLite or the
/// message log would create there (`-wal`, `-shm`, `LOCK`, the database itself) would belong
/// to root, and the server, running as that user, could not open them.
fn same_owner(data_dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(data_dir) {
            anyhow::ensure!(
                !rustix::process::geteuid().is_root() || meta.uid() == 0,
                "{} belongs to uid {}: run this as that user (runuser -u USER -- confab ...), \
                 so that the files it writes stay the server's",
                data_dir.display(),
                meta.uid()
            );
        }
    }
    Ok(())
}

/// `confab-<UTC time>.db` in `folder`, not taken yet.
fn fresh_name(folder: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut path = folder.join(format!("confab-{stamp}.db"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = folder.join(format!("confab-{stamp}-{n}.db"));
    }
    path
}

/// Creates a folder readable only by its owner, if it does not exist yet.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_found_at_its_listening_address() {
        let mut config = Config::default();
        config.server.listen = "0.0.0.0:8080".parse().expect("addr");
        assert_eq!(
            server_url(&config, None).expect("url"),
            "http://127.0.0.1:8080"
        );
        config.server.listen = "[::]:9000".parse().expect("addr");
        assert_eq!(server_url(&config, None).expect("url"), "http://[::1]:9000");
        assert_eq!(
            server_url(&config, Some("http://10.0.0.2:80/")).expect("url"),
            "http://10.0.0.2:80"
        );
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        assert!(server_url(&config, None)
            .expect_err("port 0")
            .to_string()
            .contains("--url"));
    }
}
