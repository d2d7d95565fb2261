//! `confab restore FILE`: puts a backup in the place of the SQLite database of a data folder
//! that no server holds.
//!
//! The backup is copied in under a temporary name and checked there (a SQLite file, whole,
//! with Confab's tables, from this version or an older one), and only then renamed over the
//! database, so a refused or interrupted restore leaves the data folder as it was. A
//! database already there, its `-wal` and `-shm`, and the message log's segments (which
//! belong to that database and would otherwise be replayed into the restored one) are moved
//! into `before-restore-<time>/` rather than deleted.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::store::backup::{self as copies};
use crate::store::message_log_dir;

/// Restores `file` into the database of `config`; with `force`, over an existing one.
pub async fn restore(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let data_dir = &config.server.data_dir;
    let Some(database) = copies::sqlite_file(&config.database, data_dir) else {
        anyhow::bail!(
            "the database is MySQL or MariaDB: restore a dump with `mysql DATABASE < dump.sql` \
             (see \"Backups and restore\" in docs/operating.md)"
        );
    };
    anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    copies::check_header(file)?;
    super::same_owner(data_dir)?;
    super::create_private_dir(data_dir)?;
    let Some(_lock) = copies::lock_log(data_dir)? else {
        anyhow::bail!(
            "a server is running on {} (it holds {}): stop it, then restore",
            data_dir.display(),
            message_log_dir(data_dir).join("LOCK").display()
        );
    };

    let staged = sibling(&database, ".restoring");
    let checked = async {
        std::fs::copy(file, &staged)
            .with_context(|| format!("copying {} to {}", file.display(), staged.display()))?;
        copies::check_backup(&staged)
            .await
            .with_context(|| format!("{} cannot be restored", file.display()))
    }
    .await;
    let copied = match checked {
        Ok(copied) => copied,
        Err(err) => {
            let _ = std::fs::remove_file(&staged);
            return Err(err);
        }
    };

    let present = present_state(&database, data_dir)?;
    if !present.is_empty() {
        if !force {
            let _ = std::fs::remove_file(&staged);
            anyhow::bail!(
                "{} already holds a database: add --force to replace it (the current database \
                 and its message log are then moved to {}/before-restore-<time>/)",
                data_dir.display(),
                data_dir.display()
            );
        }
        let aside = move_aside(&present, data_dir)?;
        println!(
            "moved the database it replaces, with its message log, to {}",
            aside.display()
        );
    }
    publish(&staged, &database)?;
    println!(
        "restored {} into {}: {} messages (newest id {})",
        file.display(),
        database.display(),
        copied.messages,
        copied.newest_message
    );
    if !data_dir.join("secrets").join("data.key").exists() && config.security.data_key.is_empty() {
        println!(
            "note: {} holds no secrets: restore them from the old data folder before starting, \
             or new ones are generated (everyone signs in again, and stored emails and phones \
             cannot be read)",
            data_dir.join("secrets").display()
        );
    }
    Ok(())
}

/// The database's files and the log's segments, whichever exist.
fn present_state(database: &Path, data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut present: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| sibling(database, suffix))
        .filter(|path| path.exists())
        .collect();
    present.extend(copies::log_segments(data_dir)?);
    Ok(present)
}

/// Moves `files` into a new `before-restore-<time>/` of the data folder (log segments into
/// its `message-log/`); returns that folder.
fn move_aside(files: &[PathBuf], data_dir: &Path) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let aside = data_dir.join(format!("before-restore-{stamp}"));
    let log_dir = message_log_dir(data_dir);
    for file in files {
        let name = file
            .file_name()
            .with_context(|| format!("{} names no file", file.display()))?;
        let folder = if file.parent() == Some(log_dir.as_path()) {
            aside.join("message-log")
        } else {
            aside.clone()
        };
        super::create_private_dir(&folder)?;
        std::fs::rename(file, folder.join(name))
            .with_context(|| format!("moving {} to {}", file.display(), folder.display()))?;
    }
    copies::sync_parent(&log_dir.join("LOCK"))?;
    Ok(aside)
}

/// Gives the checked copy the database's name, private and durable.
fn publish(staged: &Path, database: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(staged).with_context(|| format!("opening {}", staged.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", staged.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("syncing {}", staged.display()))?;
    std::fs::rename(staged, database)
        .with_context(|| format!("renaming {} to {}", staged.display(), database.display()))?;
    copies::sync_parent(database)
}

/// `path` with `suffix` added to its file name (`confab.db` → `confab.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
