//! Watches the plugins folder and calls back once things have been quiet for a moment, so
//! a plugin copied in as two files (or written in several steps) is read once, whole.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher};

/// Starts watching `dir`; `on_change` runs after each burst of changes, `debounce` after
/// the last one. Dropping the returned watcher stops it.
pub(super) fn start<F, Fut>(
    dir: &Path,
    debounce: Duration,
    on_change: F,
) -> anyhow::Result<notify::RecommendedWatcher>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(event) => !event.kind.is_access(),
            Err(_) => true,
        };
        if relevant {
            // A full channel already means "changed"; one signal is enough.
            let _ = tx.try_send(());
        }
    })
    .context("starting the plugins folder watcher")?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until nothing has changed for `debounce`.
            while let Ok(Some(())) = tokio::time::timeout(debounce, rx.recv()).await {}
            on_change().await;
        }
    });
    Ok(watcher)
}
