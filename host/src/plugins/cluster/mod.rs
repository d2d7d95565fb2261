//! Plugins in a cluster: the shared database is the truth, the bus the signal.
//!
//! Every change (an admin request on any node, or a file dropped into any node's folder)
//! is checked on the node that receives it, written to the shared store as the plugin's
//! next revision, applied there, and announced with [`Event::Plugin`]. Every node then
//! reads that revision from the store and swaps it in; one that cannot load it keeps the
//! previous version running and records why. The bus only says "look"; what a node loads
//! always comes from the store, so a node that missed an announcement (it was away, or its
//! bus connection lagged) catches up at its next poll ([`POLL_EVERY`]) or at start.
//!
//! Each node also keeps its folder as a copy of the store's plugins, so an operator can
//! read them there; a file in the folder that differs from both what the node last wrote
//! there and what the store holds is an operator's edit, and is published.
//!
//! A node reports, per plugin, the revision it runs, its state and its counters (every
//! [`POLL_EVERY`], and at once after a change), and hands its verdicts to the shared log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::registry::{Registry, Wasm};
use super::storage::{folder, NewRevision, PluginStore, StoredPlugin};
use super::PluginError;
use crate::bus::{Bus, Event};

mod report;
mod tasks;

pub(super) use tasks::spawn;

/// How often a node reports and reads the store for revisions it missed.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(2);
/// A node that has not reported for this long is shown as not live.
pub(super) const NODE_LIVE: Duration = Duration::from_secs(15);
/// Reports of nodes silent for this long are deleted.
const NODE_FORGET: Duration = Duration::from_secs(24 * 3600);
/// A component no live revision uses is kept this long for nodes still catching up.
const COMPONENT_GRACE: Duration = Duration::from_secs(3600);
/// Polls between two clean-ups of old reports and components.
const CLEAN_EVERY_POLLS: u32 = 150;
/// Verdicts waiting to be written to the shared log; past it they are dropped (counted).
pub(super) const VERDICT_QUEUE: usize = 10_000;
/// The most verdicts written in one statement.
const VERDICT_BATCH: usize = 500;
/// How long verdicts gather before they are written.
const VERDICT_GATHER: Duration = Duration::from_millis(200);
/// Tries at a compare-and-set before a change gives up (only when other nodes keep
/// changing the same plugin at that very moment).
const PUBLISH_TRIES: usize = 5;

/// What a node compares its folder with: the manifest and component it holds there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    manifest: String,
    sha256: String,
}

/// The cluster side of the registry.
pub(super) struct Link {
    pub(super) store: Arc<dyn PluginStore>,
    bus: Arc<dyn Bus>,
    verdicts_kept: u64,
    /// The newest revision of each plugin this node has handled, loaded or not, so a
    /// revision it could not load is not tried again at every poll.
    tried: Mutex<HashMap<String, i64>>,
    /// What this node last wrote into or saw in its folder, per plugin.
    mirror: Mutex<HashMap<String, Fingerprint>>,
    report_now: Notify,
    stop: CancellationToken,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What a change makes of the plugin's newest revision.
pub(super) enum Draft {
    /// A new version of the plugin (also a new manifest of the same component).
    Version {
        manifest: String,
        sha256: String,
        wasm: Wasm,
        force: bool,
    },
    /// The plugin's removal.
    Removal,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn io(error: crate::Error) -> PluginError {
    PluginError::Io(anyhow::anyhow!("the shared plugin store: {error:#}"))
}

impl Link {
    /// The cluster side for `store` and `bus`; `verdicts` receives this node's verdicts.
    pub(super) fn new(store: Arc<dyn PluginStore>, bus: Arc<dyn Bus>, verdicts_kept: u64) -> Self {
        Self {
            store,
            bus,
            verdicts_kept,
            tried: Mutex::new(HashMap::new()),
            mirror: Mutex::new(HashMap::new()),
            report_now: Notify::new(),
            stop: CancellationToken::new(),
        }
    }

    fn tried(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.tried.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, HashMap<String, Fingerprint>> {
        self.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest revision of `name` this node knows of.
    pub(super) fn known_revision(&self, name: &str) -> i64 {
        self.tried().get(name).copied().unwrap_or(0)
    }

    /// Start-up, with the change lock held: publishes the folder's plugins the store has
    /// never held (so the first node seeds the cluster), then loads the store's set.
    pub(super) async fn start(&self, registry: &Registry) -> anyhow::Result<()> {
        let stored: HashMap<String, StoredPlugin> = self
            .store
            .plugins()
            .await
            .map_err(|e| anyhow::anyhow!("reading the shared plugins: {e:#}"))?
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        for stem in folder::stems(&registry.dir)? {
            if stored.contains_key(&stem) {
                continue;
            }
            let files = match folder::read(&registry.dir, &stem) {
                Ok(files) => files,
                Err(error) => {
                    registry.record_error(&stem, &error);
                    continue;
                }
            };
            let label = format!("{stem}.toml");
            let wasm = Wasm::Bytes(Arc::new(files.wasm));
            let seeded = match registry
                .stage(&stem, &label, &files.manifest, &files.sha256, &wasm, false)
                .await
            {
                Ok(_) => {
                    let new = NewRevision {
                        name: &stem,
                        manifest: &files.manifest,
                        sha256: &files.sha256,
                        wasm: match &wasm {
                            Wasm::Bytes(bytes) => Some(bytes.as_slice()),
                            Wasm::Stored(_) => None,
                        },
                        removed: false,
                        at: now_ms(),
                        by: &registry.node,
                    };
                    self.store.publish(0, &new).await.map_err(io)
                }
                Err(error) => Err(error),
            };
            match seeded {
                Ok(Some(revision)) => {
                    tracing::info!(plugin = %stem, revision, "plugin from the folder published to the cluster");
                    self.announce(&stem, revision).await;
                }
                // Another node seeded it at the same moment; its revision is loaded below.
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(plugin = %stem, %error, "plugin in the folder not published");
                    registry.record_error(&stem, &error.to_string());
                }
            }
        }
        self.sync(registry, None)
            .await
            .map_err(anyhow::Error::new)?;
        Ok(())
    }

    /// Brings this node up to the store's newest revisions (of `only`, or of every
    /// plugin), with the change lock held. A revision that cannot be loaded is recorded,
    /// and the previous version keeps running.
    pub(super) async fn sync(
        &self,
        registry: &Registry,
        only: Option<&str>,
    ) -> Result<(), PluginError> {
        let rows = match only {
            Some(name) => self
                .store
                .plugin(name)
                .await
                .map_err(io)?
                .into_iter()
                .collect(),
            None => self.store.plugins().await.map_err(io)?,
        };
        let mut changed = false;
        for row in rows {
            let known = self.known_revision(&row.name);
            if row.revision <= known {
                continue;
            }
            self.tried().insert(row.name.clone(), row.revision);
            changed = true;
            if row.removed {
                if registry.unload(&row.name) {
                    tracing::info!(plugin = %row.name, revision = row.revision, "plugin removed from the cluster: unloaded");
                }
                self.forget_files(registry, &row.name);
                continue;
            }
            let wasm = Wasm::Stored(self.store.clone());
            let label = format!("the manifest of revision {}", row.revision);
            match registry
                .stage(&row.name, &label, &row.manifest, &row.sha256, &wasm, false)
                .await
            {
                Ok(staged) => registry.commit(&row.name, staged, row.revision),
                // The store did not answer: not the revision's fault, so it is tried
                // again at the next poll.
                Err(error @ PluginError::Io(_)) => {
                    tracing::warn!(plugin = %row.name, revision = row.revision, %error, "fetching a plugin revision failed; retrying at the next poll");
                    self.tried().insert(row.name.clone(), known);
                    continue;
                }
                Err(error) => {
                    let error = format!("revision {}: {error}", row.revision);
                    tracing::error!(plugin = %row.name, %error, "plugin revision not loaded; the previous version keeps running");
                    registry.record_error(&row.name, &error);
                }
            }
            self.write_files(registry, &row.name, &row.manifest, &row.sha256)
                .await;
        }
        if changed {
            registry.rebuild_chains();
            self.report_now.notify_one();
        }
        Ok(())
    }

    /// Writes a change as the plugin's next revision (retrying while other nodes race it),
    /// applies it here and announces it, with the change lock held. `make` turns the
    /// newest live revision (or none) into the change, and may refuse. Returns the new
    /// revision.
    pub(super) async fn publish(
        &self,
        registry: &Registry,
        name: &str,
        make: impl Fn(Option<&StoredPlugin>) -> Result<Draft, PluginError>,
    ) -> Result<i64, PluginError> {
        for _ in 0..PUBLISH_TRIES {
            let current = self.store.plugin(name).await.map_err(io)?;
            let expected = current.as_ref().map_or(0, |c| c.revision);
            let draft = make(current.as_ref().filter(|c| !c.removed))?;
            let at = now_ms();
            match draft {
                Draft::Removal => {
                    let new = NewRevision::removal(name, at, &registry.node);
                    let Some(revision) = self.store.publish(expected, &new).await.map_err(io)?
                    else {
                        continue;
                    };
                    self.tried().insert(name.to_owned(), revision);
                    registry.unload(name);
                    self.forget_files(registry, name);
                    registry.rebuild_chains();
                    self.announce(name, revision).await;
                    return Ok(revision);
                }
                Draft::Version {
                    manifest,
                    sha256,
                    wasm,
                    force,
                } => {
                    // Checked here before anything is written, so a refused change reaches
                    // no node.
                    let staged = registry
                        .stage(name, "the manifest", &manifest, &sha256, &wasm, force)
                        .await?;
                    let new = NewRevision {
                        name,
                        manifest: &manifest,
                        sha256: &sha256,
                        wasm: match &wasm {
                            Wasm::Bytes(bytes) => Some(bytes.as_slice()),
                            Wasm::Stored(_) => None,
                        },
                        removed: false,
                        at,
                        by: &registry.node,
                    };
                    let Some(revision) = self.store.publish(expected, &new).await.map_err(io)?
                    else {
                        continue;
                    };
                    self.tried().insert(name.to_owned(), revision);
                    // The same content as a new revision is a reload: `commit` lifts the
                    // quarantine, here and on every node.
                    registry.commit(name, staged, revision);
                    registry.rebuild_chains();
                    match &wasm {
                        Wasm::Bytes(bytes) => {
                            let bytes = bytes.clone();
                            self.write_files_with(registry, name, &manifest, &sha256, move || {
                                Some(bytes.to_vec())
                            });
                        }
                        Wasm::Stored(_) => {
                            self.write_files(registry, name, &manifest, &sha256).await;
                        }
                    }
                    self.announce(name, revision).await;
                    return Ok(revision);
                }
            }
        }
        Err(PluginError::Busy(name.to_owned()))
    }

    /// Reads the folder with the change lock held: a plugin whose files differ from what
    /// this node last wrote there and from the store's newest revision was edited by
    /// hand, and is published; one whose files were both deleted by hand is removed from
    /// the cluster.
    pub(super) async fn rescan(&self, registry: &Registry) {
        let stems = match folder::stems(&registry.dir) {
            Ok(stems) => stems,
            Err(error) => {
                tracing::error!(dir = %registry.dir.display(), error = %format!("{error:#}"), "cannot read the plugins folder");
                return;
            }
        };
        for stem in &stems {
            if let Err(error) = self.rescan_one(registry, stem).await {
                tracing::error!(plugin = %stem, %error, "plugin change in the folder not published; the previous version keeps running");
            }
        }
        let deleted: Vec<String> = self
            .mirror()
            .keys()
            .filter(|name| !stems.contains(name) && folder::absent(&registry.dir, name))
            .cloned()
            .collect();
        for name in deleted {
            self.mirror().remove(&name);
            let removed = self
                .publish(registry, &name, |current| match current {
                    Some(_) => Ok(Draft::Removal),
                    None => Err(PluginError::NotFound(name.clone())),
                })
                .await;
            match removed {
                Ok(revision) => {
                    tracing::info!(plugin = %name, revision, "plugin files deleted from the folder: removed from the cluster")
                }
                Err(PluginError::NotFound(_)) => {
                    registry.unload(&name);
                    registry.rebuild_chains();
                }
                Err(error) => {
                    tracing::error!(plugin = %name, %error, "plugin removal not published")
                }
            }
        }
    }

    /// One plugin of [`Link::rescan`], also used by a reload: whether the folder held a
    /// change, which is then published, or why that change was refused (recorded too).
    pub(super) async fn rescan_one(
        &self,
        registry: &Registry,
        name: &str,
    ) -> Result<bool, PluginError> {
        let files = match folder::read(&registry.dir, name) {
            Ok(files) => files,
            // Half a plugin (one file missing) is left alone until it is whole.
            Err(_) => return Ok(false),
        };
        let seen = Fingerprint {
            manifest: files.manifest.clone(),
            sha256: files.sha256.clone(),
        };
        if self.mirror().get(name) == Some(&seen) {
            return Ok(false);
        }
        let newest = self.store.plugin(name).await.map_err(io)?;
        if newest
            .as_ref()
            .is_some_and(|p| !p.removed && p.manifest == seen.manifest && p.sha256 == seen.sha256)
        {
            self.mirror().insert(name.to_owned(), seen);
            return Ok(false);
        }
        // Whatever comes of it, this content is handled once.
        self.mirror().insert(name.to_owned(), seen);
        let wasm = Arc::new(files.wasm);
        let published = self
            .publish(registry, name, |_| {
                Ok(Draft::Version {
                    manifest: files.manifest.clone(),
                    sha256: files.sha256.clone(),
                    wasm: Wasm::Bytes(wasm.clone()),
                    force: false,
                })
            })
            .await;
        match published {
            Ok(revision) => {
                tracing::info!(plugin = %name, revision, "plugin changed in the folder: published to the cluster");
                Ok(true)
            }
            Err(error) => {
                registry.record_error(name, &error.to_string());
                Err(error)
            }
        }
    }

    /// Tells every node to load `name`'s `revision`.
    async fn announce(&self, name: &str, revision: i64) {
        let event = Event::Plugin {
            name: name.to_owned(),
            revision,
        };
        if let Err(error) = self.bus.publish(event).await {
            // The others find the revision at their next poll.
            tracing::warn!(plugin = %name, %error, "announcing a plugin change failed");
        }
        self.report_now.notify_one();
    }

    /// Copies a revision into the folder, fetching the component from the store only if
    /// the folder's is another one.
    async fn write_files(&self, registry: &Registry, name: &str, manifest: &str, sha256: &str) {
        let on_disk = std::fs::read(folder::file(&registry.dir, name, "wasm"))
            .ok()
            .map(|bytes| folder::sha256(&bytes));
        let component = if on_disk.as_deref() == Some(sha256) {
            None
        } else {
            self.store.component(sha256).await.ok().flatten()
        };
        self.write_files_with(registry, name, manifest, sha256, move || component);
    }

    fn write_files_with(
        &self,
        registry: &Registry,
        name: &str,
        manifest: &str,
        sha256: &str,
        wasm: impl FnOnce() -> Option<Vec<u8>>,
    ) {
        if let Err(error) = folder::write(&registry.dir, name, manifest, sha256, wasm) {
            tracing::warn!(plugin = %name, error = %format!("{error:#}"), "could not copy a plugin into the folder");
        }
        self.mirror().insert(
            name.to_owned(),
            Fingerprint {
                manifest: manifest.to_owned(),
                sha256: sha256.to_owned(),
            },
        );
    }

    fn forget_files(&self, registry: &Registry, name: &str) {
        self.mirror().remove(name);
        if let Err(error) = folder::remove(&registry.dir, name) {
            tracing::warn!(plugin = %name, error = %format!("{error:#}"), "could not delete a removed plugin's files");
        }
    }
}
