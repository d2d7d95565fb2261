//! WebAssembly plugins, kept in step with the chains the host runs.
//!
//! [`Plugins`] is the registry operators and the server talk to. Where plugins are kept
//! decides who is the truth:
//!
//! - **one node** (`local.rs`): the plugins folder of `<name>.wasm` + `<name>.toml` pairs.
//!   It is read at start, again whenever the watcher reports a change (debounced), and on
//!   the operator's requests, which write into it;
//! - **a cluster** (`cluster/`, with `[cluster] redis_url` and a MySQL/MariaDB
//!   database): the shared database ([`storage::PluginStore`]) holds every plugin's newest
//!   revision, every change is written there and announced on the bus, and every node
//!   loads what the database holds. The folder becomes each node's copy, and an edit
//!   dropped into it is published.
//!
//! Either way a new or changed plugin is compiled and checked first (`hooks` must cover
//! the manifest's, `check-config` must accept the configuration) and only then swapped in
//! (`registry.rs`); a broken one leaves the old version running and shows the error. Each
//! swap builds every chain anew into one [`hooks::Hooks`] snapshot and replaces it in one
//! step, so a message, join or upload sees one version from start to end. A configuration
//! change is applied without recompiling.

pub mod chain;
mod cluster;
pub mod hooks;
pub mod kv;
mod local;
pub mod manifest;
mod metrics;
mod registry;
pub mod runtime;
pub mod scaffold;
pub mod stats;
pub mod storage;
mod ticker;
mod versions;
pub mod view;
mod watch;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;

use self::cluster::{Draft, Link};
use self::hooks::SharedHooks;
use self::kv::PluginKv;
use self::manifest::Manifest;
use self::registry::{check_config, Registry, Wasm};
use self::runtime::Runtime;
use self::stats::VerdictLog;
use self::storage::folder;
use crate::bus::Bus;
use crate::config::PluginsConfig;
use crate::error::Error;

pub use self::runtime::Inspection;
pub use self::storage::PluginStore;
pub use self::view::{LimitsView, NodeView, PluginState, PluginView};

/// The plugins compiled into this binary from `plugins/`.
pub mod bundled {
    /// One bundled plugin.
    #[derive(Debug, Clone, Copy)]
    pub struct Bundled {
        /// Its folder name, which is also its plugin name.
        pub name: &'static str,
        /// Its `plugin.toml`.
        pub manifest: &'static str,
        /// Its component.
        pub wasm: &'static [u8],
    }

    include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
}

/// How many verdicts this node's own log keeps in memory.
const VERDICT_LOG: usize = 500;

/// Why a plugin, or an operator's request about one, was refused: the one error type of
/// the registry, whether the plugin came from an upload, the folder or the shared store.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No plugin of that name.
    #[error("no plugin named {0:?}")]
    NotFound(String),
    /// The plugin, its manifest or its configuration is refused; the message says why.
    #[error("{0}")]
    Refused(String),
    /// Other nodes kept changing the plugin at the same moment.
    #[error("{0} was changed on another node at the same moment; try again")]
    Busy(String),
    /// Plugins are turned off in the configuration.
    #[error("plugins are turned off ([plugins] enabled = false)")]
    Off,
    /// Reading or writing where plugins are kept failed.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

impl From<PluginError> for Error {
    fn from(error: PluginError) -> Self {
        match error {
            PluginError::NotFound(_) => Error::NotFound("no plugin of that name"),
            PluginError::Refused(why) => Error::invalid(why),
            busy @ PluginError::Busy(_) => Error::invalid(busy.to_string()),
            PluginError::Off => Error::invalid(PluginError::Off.to_string()),
            PluginError::Io(error) => Error::Internal(error),
        }
    }
}

/// The registry and, in a cluster, its link to the shared store.
struct Inner {
    registry: Arc<Registry>,
    link: Option<Arc<Link>>,
}

/// The plugin registry; cheap to clone. Turned off, it holds nothing and every hook keeps
/// the host's built-in behaviour.
#[derive(Clone, Default)]
pub struct Plugins {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("dir", &self.inner.as_ref().map(|i| i.registry.dir.clone()))
            .field(
                "cluster",
                &self.inner.as_ref().is_some_and(|i| i.link.is_some()),
            )
            .finish_non_exhaustive()
    }
}

/// What the registry needs from the rest of the server.
pub struct Wiring {
    /// Where every chain goes: the one snapshot the chat service, the group policy and
    /// the upload service read.
    pub hooks: SharedHooks,
    /// The plugins' store.
    pub kv: Arc<dyn PluginKv>,
    /// The message cap, which rewrites must respect.
    pub max_chars: usize,
    /// This node's name (`[cluster] node_name`, or its default).
    pub node: String,
    /// In a cluster, the shared store and the bus; `None` on a single node.
    pub cluster: Option<ClusterWiring>,
}

/// What the registry of a cluster's node shares with the others.
pub struct ClusterWiring {
    /// The shared database's plugins.
    pub store: Arc<dyn PluginStore>,
    /// The bus that announces changes.
    pub bus: Arc<dyn Bus>,
    /// How many verdicts the shared log keeps (`[cluster] verdicts_kept`).
    pub verdicts_kept: u64,
}

impl Plugins {
    /// Opens the plugins folder (creating it with the bundled plugins when configured),
    /// loads every plugin (from the folder, or in a cluster from the shared store after
    /// publishing what the folder has and the store never had) and, if configured,
    /// watches the folder.
    pub async fn start(
        settings: &PluginsConfig,
        data_dir: &Path,
        wiring: Wiring,
    ) -> anyhow::Result<Self> {
        if !settings.enabled {
            return Ok(Self::default());
        }
        let dir = if settings.dir.as_os_str().is_empty() {
            data_dir.join("plugins")
        } else {
            settings.dir.clone()
        };
        if !dir.exists() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the plugins folder {}", dir.display()))?;
            if settings.install_bundled {
                folder::install_bundled(&dir)?;
            }
        }
        let cache_dir = if settings.cache_dir.as_os_str().is_empty() {
            data_dir.join("plugin-cache")
        } else {
            settings.cache_dir.clone()
        };
        let runtime = Runtime::new(settings, Some(cache_dir))?;
        let (forward, verdicts) = match &wiring.cluster {
            Some(_) => {
                let (tx, rx) = mpsc::channel(cluster::VERDICT_QUEUE);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let registry = Arc::new(Registry {
            runtime,
            settings: settings.clone(),
            dir,
            kv: wiring.kv,
            hooks: wiring.hooks,
            max_chars: wiring.max_chars,
            entries: RwLock::new(BTreeMap::new()),
            verdicts: Arc::new(VerdictLog::for_node(VERDICT_LOG, &wiring.node, forward)),
            changes: tokio::sync::Mutex::new(()),
            watcher: std::sync::Mutex::new(None),
            node: wiring.node,
        });
        let link = wiring
            .cluster
            .map(|c| Arc::new(Link::new(c.store, c.bus, c.verdicts_kept)));
        let inner = Arc::new(Inner {
            registry: registry.clone(),
            link: link.clone(),
        });
        let plugins = Self {
            inner: Some(inner.clone()),
        };
        match &link {
            Some(link) => {
                // Following the bus starts first, so no announcement falls between the
                // start-up read and the subscription; it waits for the change lock.
                cluster::spawn(&registry, link, verdicts);
                let _changes = registry.changes.lock().await;
                link.start(&registry).await?;
                registry.rebuild_chains();
            }
            None => plugins.rescan().await,
        }
        if settings.watch {
            let watcher = watch::start(
                &registry.dir,
                Duration::from_millis(settings.debounce_ms),
                {
                    let weak = Arc::downgrade(&inner);
                    move || {
                        let weak = weak.clone();
                        async move {
                            if let Some(inner) = weak.upgrade() {
                                Plugins { inner: Some(inner) }.rescan().await;
                            }
                        }
                    }
                },
            )?;
            *registry.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(watcher);
        }
        for view in plugins.list() {
            match &view.error {
                Some(error) => tracing::error!(plugin = %view.name, %error, "plugin not loaded"),
                None => {
                    tracing::info!(plugin = %view.name, version = %view.version, state = %view.state, revision = view.revision, "plugin loaded")
                }
            }
        }
        Ok(plugins)
    }

    fn inner(&self) -> Result<&Arc<Inner>, PluginError> {
        self.inner.as_ref().ok_or(PluginError::Off)
    }

    /// The plugins folder, when plugins are on.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.as_ref().map(|i| i.registry.dir.as_path())
    }

    /// Whether plugins are shared with the other nodes of a cluster.
    pub fn clustered(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.link.is_some())
    }

    /// Reads the whole folder and applies what changed (in a cluster: publishes it).
    pub async fn rescan(&self) {
        let Some(inner) = &self.inner else { return };
        let _changes = inner.registry.changes.lock().await;
        match &inner.link {
            Some(link) => link.rescan(&inner.registry).await,
            None => local::rescan(&inner.registry).await,
        }
    }

    /// Installs or replaces a plugin: checks it fully first, then writes it (into the
    /// folder, or in a cluster into the shared store) and swaps it in. On any error nothing
    /// changes.
    pub async fn install(
        &self,
        manifest_text: &str,
        wasm: Vec<u8>,
    ) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        let registry = &inner.registry;
        let manifest = Manifest::parse(manifest_text)
            .map_err(|e| PluginError::Refused(format!("manifest: {e}")))?;
        let name = manifest.name.clone();
        let sha256 = folder::sha256(&wasm);
        let wasm = Arc::new(wasm);
        {
            let _changes = registry.changes.lock().await;
            match &inner.link {
                Some(link) => {
                    link.publish(registry, &name, |_| {
                        Ok(Draft::Version {
                            manifest: manifest_text.to_owned(),
                            sha256: sha256.clone(),
                            wasm: Wasm::Bytes(wasm.clone()),
                            force: true,
                        })
                    })
                    .await?;
                }
                None => {
                    let bytes = Wasm::Bytes(wasm.clone());
                    let staged = registry
                        .stage(&name, "manifest", manifest_text, &sha256, &bytes, true)
                        .await?;
                    local::install(registry, &name, manifest_text, &wasm, staged)?;
                }
            }
        }
        tracing::info!(plugin = %name, "plugin installed through the admin API");
        self.answer(&name).await
    }

    /// Unloads a plugin and deletes its files (in a cluster: on every node).
    pub async fn remove(&self, name: &str) -> Result<(), PluginError> {
        let inner = self.inner()?;
        let registry = &inner.registry;
        let _changes = registry.changes.lock().await;
        match &inner.link {
            Some(link) => {
                let removed = link
                    .publish(registry, name, |current| {
                        current
                            .map(|_| Draft::Removal)
                            .ok_or_else(|| PluginError::NotFound(name.to_owned()))
                    })
                    .await;
                match removed {
                    Ok(_) => {}
                    // Only this node has it (its files never made it into the cluster).
                    Err(PluginError::NotFound(_)) => local::remove(registry, name)?,
                    Err(error) => return Err(error),
                }
            }
            None => local::remove(registry, name)?,
        }
        tracing::info!(plugin = %name, "plugin removed through the admin API");
        Ok(())
    }

    /// Applies a change of `name`'s manifest: in the folder, or in a cluster as the next
    /// revision of the shared store's manifest.
    async fn edit_manifest(
        &self,
        name: &str,
        edit: impl Fn(&mut toml_edit::DocumentMut) -> Result<(), String>,
    ) -> Result<(), PluginError> {
        let inner = self.inner()?;
        let registry = &inner.registry;
        match &inner.link {
            Some(link) => {
                let store = link.store.clone();
                link.publish(registry, name, |current| {
                    let current = current.ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
                    let manifest = folder::edit_manifest(name, &current.manifest, &edit)
                        .map_err(PluginError::Refused)?;
                    Ok(Draft::Version {
                        manifest,
                        sha256: current.sha256.clone(),
                        wasm: Wasm::Stored(store.clone()),
                        force: false,
                    })
                })
                .await?;
            }
            None => local::edit(registry, name, edit).await?,
        }
        Ok(())
    }

    /// Enables or disables a plugin, in its manifest too so a restart keeps it.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        let registry = &inner.registry;
        {
            let _changes = registry.changes.lock().await;
            self.edit_manifest(name, |doc| {
                doc["enabled"] = toml_edit::value(enabled);
                Ok(())
            })
            .await?;
            if enabled {
                if let Some(entry) = registry.read_entries().get(name) {
                    entry.health.reset();
                }
            }
            registry.rebuild_chains();
        }
        self.answer(name).await
    }

    /// Reads the plugin again, recompiling, and clears its quarantine. In a cluster a
    /// changed file in the folder is published; otherwise the newest revision is written
    /// again, so every node reloads it.
    pub async fn reload(&self, name: &str) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        let registry = &inner.registry;
        {
            let _changes = registry.changes.lock().await;
            match &inner.link {
                Some(link) => {
                    if !link.rescan_one(registry, name).await? {
                        let store = link.store.clone();
                        let reloaded = link
                            .publish(registry, name, |current| {
                                let current = current
                                    .ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
                                Ok(Draft::Version {
                                    manifest: current.manifest.clone(),
                                    sha256: current.sha256.clone(),
                                    wasm: Wasm::Stored(store.clone()),
                                    force: true,
                                })
                            })
                            .await;
                        if let Err(error) = &reloaded {
                            if !matches!(error, PluginError::NotFound(_)) {
                                registry.record_error(name, &error.to_string());
                            }
                        }
                        reloaded?;
                    }
                }
                None => local::reload(registry, name).await?,
            }
        }
        self.answer(name).await
    }

    /// The plugin's configuration.
    pub fn config(&self, name: &str) -> Result<serde_json::Value, PluginError> {
        let inner = self.inner()?;
        let entries = inner.registry.read_entries();
        let entry = entries
            .get(name)
            .ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
        let config = entry
            .manifest
            .as_ref()
            .map(|m| m.config.clone())
            .unwrap_or_default();
        serde_json::to_value(config).map_err(|e| PluginError::Io(e.into()))
    }

    /// Replaces the plugin's configuration once the plugin accepts it; applied live
    /// without recompiling, and written into its manifest.
    pub async fn set_config(
        &self,
        name: &str,
        config: serde_json::Value,
    ) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        let registry = &inner.registry;
        let table = manifest::config_table(&config).map_err(PluginError::Refused)?;
        let text = toml::to_string(&table).map_err(|e| PluginError::Refused(e.to_string()))?;
        let parsed: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| PluginError::Refused(e.to_string()))?;
        {
            let _changes = registry.changes.lock().await;
            let loaded = registry
                .read_entries()
                .get(name)
                .ok_or_else(|| PluginError::NotFound(name.to_owned()))?
                .loaded
                .clone()
                .ok_or_else(|| {
                    PluginError::Refused(format!("{name} is not loaded; fix its error first"))
                })?;
            check_config(&loaded, &config.to_string()).await?;
            self.edit_manifest(name, |doc| {
                doc["config"] = toml_edit::Item::Table(parsed.as_table().clone());
                Ok(())
            })
            .await?;
            registry.rebuild_chains();
        }
        self.answer(name).await
    }
}

/// Inspects a component file without a server (for `confab plugin check`).
pub async fn inspect(wasm: Vec<u8>) -> Result<Inspection, String> {
    let runtime = Runtime::new(&PluginsConfig::default(), None).map_err(|e| format!("{e:#}"))?;
    runtime.inspect(wasm).await
}
