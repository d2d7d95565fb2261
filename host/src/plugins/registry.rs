//! The registry's core, whatever keeps the plugins: the loaded versions by name, checking
//! a candidate version before it is applied, applying it, rebuilding every chain at once,
//! and the views operators see.
//!
//! A change is applied in two steps. [`Registry::stage`] checks a candidate fully (it
//! compiles the component unless the running one has the same sha256, asks for its hooks
//! and has its configuration checked) without touching anything; only when it passed, and
//! the change is written wherever plugins are kept, does [`Registry::commit`] put it in
//! place. So a refused change leaves the running version as it was.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::chain::{FilterLimits, FilterRunner, Health, Quarantine, Runner};
use super::hooks::{Hooks, SharedHooks};
use super::kv::PluginKv;
use super::manifest::{Hook, Manifest};
use super::runtime::{Loaded, PluginShared, Request, Response, Runtime};
use super::stats::{Counters, VerdictLog};
use super::storage::PluginStore;
use super::view::{LimitsView, PluginState, PluginView};
use super::PluginError;
use crate::config::PluginsConfig;
use crate::messages::filter::{FilterChain, MessageFilter};

/// One plugin as this node holds it.
pub(super) struct Entry {
    pub(super) manifest: Option<Manifest>,
    pub(super) manifest_text: String,
    pub(super) loaded: Option<Arc<Loaded>>,
    pub(super) error: Option<String>,
    pub(super) counters: Arc<Counters>,
    pub(super) health: Arc<Health>,
    pub(super) shared: Arc<PluginShared>,
    pub(super) loaded_at: Option<i64>,
    /// The shared store's revision this node runs (0: none, or no shared store).
    pub(super) revision: i64,
}

impl Entry {
    /// A plugin seen for the first time, not loaded yet.
    fn new(name: &str, config: String, kv: Arc<dyn PluginKv>) -> Self {
        Self {
            manifest: None,
            manifest_text: String::new(),
            loaded: None,
            error: None,
            counters: Arc::new(Counters::default()),
            health: Arc::new(Health::default()),
            shared: PluginShared::new(name, config, kv),
            loaded_at: None,
            revision: 0,
        }
    }

    /// Where the plugin stands on this node.
    pub(super) fn state(&self) -> PluginState {
        match (&self.manifest, &self.loaded) {
            (Some(_), None) | (None, _) => PluginState::Failed,
            (Some(m), Some(_)) if !m.enabled => PluginState::Disabled,
            _ if self.health.quarantined() => PluginState::Quarantined,
            _ => PluginState::Running,
        }
    }
}

/// Where a candidate's component comes from.
pub(super) enum Wasm {
    /// Its bytes are at hand (an upload, the folder).
    Bytes(Arc<Vec<u8>>),
    /// The shared store holds it; it is fetched only if it must be compiled.
    Stored(Arc<dyn PluginStore>),
}

impl Wasm {
    /// The bytes, fetched if need be, checked against `sha256`.
    async fn bytes(&self, sha256: &str) -> Result<Arc<Vec<u8>>, PluginError> {
        match self {
            Wasm::Bytes(bytes) => Ok(bytes.clone()),
            Wasm::Stored(store) => {
                let bytes = store
                    .component(sha256)
                    .await
                    .map_err(|e| PluginError::Io(anyhow::anyhow!("{e:#}")))?
                    .ok_or_else(|| {
                        PluginError::Refused(format!(
                            "its component {sha256} is missing from the database"
                        ))
                    })?;
                if super::storage::folder::sha256(&bytes) != sha256 {
                    return Err(PluginError::Refused(format!(
                        "the database's component {sha256} does not match its sha256"
                    )));
                }
                Ok(Arc::new(bytes))
            }
        }
    }
}

/// A checked candidate, ready to be put in place.
pub(super) enum Staged {
    /// It is what already runs.
    Same,
    /// A new manifest, with a new compiled version unless only the manifest changed.
    Apply {
        manifest: Manifest,
        text: String,
        loaded: Option<Arc<Loaded>>,
        /// Whether a new version was compiled, which forgets the failure streak.
        fresh: bool,
    },
}

/// The registry's state; the folder, the shared store and the operator's requests all go
/// through it.
pub(super) struct Registry {
    pub(super) runtime: Runtime,
    pub(super) settings: PluginsConfig,
    pub(super) dir: PathBuf,
    pub(super) kv: Arc<dyn PluginKv>,
    /// Where the chains go: the snapshot every service reads.
    pub(super) hooks: SharedHooks,
    pub(super) max_chars: usize,
    pub(super) entries: RwLock<BTreeMap<String, Entry>>,
    pub(super) verdicts: Arc<VerdictLog>,
    /// Held by whoever changes plugins, so changes apply one at a time.
    pub(super) changes: tokio::sync::Mutex<()>,
    pub(super) watcher: std::sync::Mutex<Option<notify::RecommendedWatcher>>,
    /// This node's name.
    pub(super) node: String,
}

impl Registry {
    pub(super) fn read_entries(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write_entries(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles, links and checks a plugin for this manifest, without touching the chains.
    pub(super) async fn prepare(
        &self,
        manifest: &Manifest,
        wasm: Arc<Vec<u8>>,
    ) -> Result<Arc<Loaded>, PluginError> {
        let limits = manifest
            .limits(&self.settings)
            .map_err(PluginError::Refused)?;
        let shared = self.shared_for(manifest);
        let loaded = self
            .runtime
            .load(wasm, limits, shared)
            .await
            .map_err(PluginError::Refused)?;
        if let Some(missing) = manifest.hooks.iter().find(|h| !loaded.hooks.contains(h)) {
            let implements: Vec<&str> = loaded.hooks.iter().map(|h| h.as_str()).collect();
            return Err(PluginError::Refused(format!(
                "the manifest lists {missing}, which the plugin does not implement (it implements: {})",
                if implements.is_empty() { "nothing".to_owned() } else { implements.join(", ") }
            )));
        }
        check_config(&loaded, &manifest.config_json()).await?;
        Ok(Arc::new(loaded))
    }

    /// The shared part of a plugin: the existing one (its configuration is switched when
    /// the new version is applied), or a new one.
    fn shared_for(&self, manifest: &Manifest) -> Arc<PluginShared> {
        match self.read_entries().get(&manifest.name) {
            Some(entry) => entry.shared.clone(),
            None => PluginShared::new(&manifest.name, manifest.config_json(), self.kv.clone()),
        }
    }

    /// Checks the candidate `text` + component `sha256` for the plugin `name` against
    /// what runs: nothing to do, only a new manifest, or a new version to compile (always
    /// with `force`). `label` names the manifest in errors.
    pub(super) async fn stage(
        &self,
        name: &str,
        label: &str,
        text: &str,
        sha256: &str,
        wasm: &Wasm,
        force: bool,
    ) -> Result<Staged, PluginError> {
        let manifest =
            Manifest::parse(text).map_err(|e| PluginError::Refused(format!("{label}: {e}")))?;
        if manifest.name != name {
            return Err(PluginError::Refused(format!(
                "{label} names the plugin {:?}; it must be called {name:?}",
                manifest.name
            )));
        }
        let limits = manifest
            .limits(&self.settings)
            .map_err(PluginError::Refused)?;
        let (current, same_text) = {
            let entries = self.read_entries();
            let entry = entries.get(name);
            (
                entry.and_then(|e| e.loaded.clone()),
                entry.is_some_and(|e| e.manifest_text == text && e.error.is_none()),
            )
        };
        match current {
            Some(loaded) if loaded.sha256 == sha256 && !force => {
                if same_text {
                    return Ok(Staged::Same);
                }
                // Only the manifest changed: no recompiling.
                if let Some(missing) = manifest.hooks.iter().find(|h| !loaded.hooks.contains(h)) {
                    return Err(PluginError::Refused(format!(
                        "the manifest lists {missing}, which the plugin does not implement"
                    )));
                }
                check_config(&loaded, &manifest.config_json()).await?;
                let relimited =
                    (loaded.limits() != limits).then(|| Arc::new(loaded.with_limits(limits)));
                Ok(Staged::Apply {
                    manifest,
                    text: text.to_owned(),
                    loaded: relimited,
                    fresh: false,
                })
            }
            _ => {
                let bytes = wasm.bytes(sha256).await?;
                let loaded = self.prepare(&manifest, bytes).await?;
                Ok(Staged::Apply {
                    manifest,
                    text: text.to_owned(),
                    loaded: Some(loaded),
                    fresh: true,
                })
            }
        }
    }

    /// Puts a staged candidate in place as `revision` (0 without a shared store). A new
    /// revision with the same content is a reload elsewhere: it lifts the quarantine.
    pub(super) fn commit(&self, name: &str, staged: Staged, revision: i64) {
        match staged {
            Staged::Same => {
                if let Some(entry) = self.write_entries().get_mut(name) {
                    if entry.revision != revision {
                        entry.revision = revision;
                        entry.health.reset();
                    }
                }
            }
            Staged::Apply {
                manifest,
                text,
                loaded,
                fresh,
            } => {
                let version = manifest.version.clone();
                let compiled = loaded.is_some() && fresh;
                self.apply(name, manifest, text, loaded, fresh, revision);
                if compiled {
                    tracing::info!(plugin = %name, %version, revision, "plugin loaded");
                } else {
                    tracing::info!(plugin = %name, revision, "plugin manifest applied");
                }
            }
        }
    }

    /// Records a plugin's new state. `loaded` is `None` when only the manifest changed.
    pub(super) fn apply(
        &self,
        name: &str,
        manifest: Manifest,
        text: String,
        loaded: Option<Arc<Loaded>>,
        fresh: bool,
        revision: i64,
    ) {
        let mut entries = self.write_entries();
        let entry = entries
            .entry(name.to_owned())
            .or_insert_with(|| Entry::new(name, manifest.config_json(), self.kv.clone()));
        if let Some(loaded) = &loaded {
            // The version's instances read this one; keep the entry pointing at it.
            entry.shared = loaded.shared().clone();
        }
        entry.shared.set_config(manifest.config_json());
        if let Some(loaded) = loaded {
            entry.loaded = Some(loaded);
            entry.loaded_at = Some(chrono::Utc::now().timestamp_millis());
        }
        if fresh || entry.revision != revision {
            entry.health.reset();
        }
        entry.manifest = Some(manifest);
        entry.manifest_text = text;
        entry.error = None;
        entry.revision = revision;
    }

    /// Remembers why a version of `name` was not applied; the running one stays.
    pub(super) fn record_error(&self, name: &str, error: &str) {
        let mut entries = self.write_entries();
        let entry = entries
            .entry(name.to_owned())
            .or_insert_with(|| Entry::new(name, "{}".to_owned(), self.kv.clone()));
        entry.error = Some(error.to_owned());
    }

    /// Forgets a plugin; false if there was none.
    pub(super) fn unload(&self, name: &str) -> bool {
        self.write_entries().remove(name).is_some()
    }

    /// Builds every chain from the running, enabled plugins into one new snapshot and
    /// swaps it in, so no message, join or upload sees chains of two versions.
    pub(super) fn rebuild_chains(&self) {
        let quarantine = Quarantine {
            after: self.settings.quarantine_after.max(1),
            duration: Duration::from_secs(self.settings.quarantine_secs),
        };
        let mut runners: Vec<Arc<Runner>> = self
            .read_entries()
            .iter()
            .filter_map(|(name, entry)| {
                let manifest = entry.manifest.as_ref().filter(|m| m.enabled)?;
                Some(Arc::new(Runner {
                    name: name.clone(),
                    order: manifest.order,
                    hooks: manifest.hooks.clone(),
                    failure: manifest.failure,
                    loaded: entry.loaded.clone()?,
                    counters: entry.counters.clone(),
                    health: entry.health.clone(),
                    verdicts: self.verdicts.clone(),
                    quarantine,
                }))
            })
            .collect();
        runners.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
        let of = |hook: Hook| -> Vec<Arc<Runner>> {
            runners
                .iter()
                .filter(|r| r.hooks.contains(&hook))
                .cloned()
                .collect()
        };
        let limits = FilterLimits {
            max_chars: self.max_chars,
        };
        let filters: Vec<Arc<dyn MessageFilter>> = of(Hook::FilterMessage)
            .into_iter()
            .map(|runner| Arc::new(FilterRunner { runner, limits }) as Arc<dyn MessageFilter>)
            .collect();
        self.hooks.swap(Hooks::new(
            FilterChain::new(filters),
            of(Hook::OnJoin),
            of(Hook::OnOwnerLeave),
            of(Hook::OnUpload),
        ));
    }

    /// The plugin as this node holds it; `revision` is the newest this node knows of.
    pub(super) fn view(&self, name: &str, entry: &Entry, revision: i64) -> PluginView {
        let manifest = entry.manifest.as_ref();
        let limits = entry.loaded.as_ref().map(|l| l.limits());
        PluginView {
            name: name.to_owned(),
            version: manifest.map(|m| m.version.clone()).unwrap_or_default(),
            description: manifest.map(|m| m.description.clone()).unwrap_or_default(),
            hooks: manifest.map(|m| m.hooks.clone()).unwrap_or_default(),
            implements: entry
                .loaded
                .as_ref()
                .map(|l| l.hooks.clone())
                .unwrap_or_default(),
            order: manifest.map_or(0, |m| m.order),
            failure: manifest.map(|m| m.failure).unwrap_or_default(),
            enabled: manifest.is_some_and(|m| m.enabled),
            state: entry.state(),
            error: entry.error.clone(),
            sha256: entry.loaded.as_ref().map(|l| l.sha256.clone()),
            limits: LimitsView {
                memory_mib: limits.map_or(u64::from(self.settings.memory_mib), |l| {
                    (l.memory_bytes >> 20) as u64
                }),
                deadline_ms: limits.map_or(self.settings.deadline_ms, |l| l.deadline_ms),
            },
            loaded_at: entry.loaded_at,
            counters: self.counters(name, entry).view(),
            revision,
            nodes: Vec::new(),
        }
    }

    /// The plugin's counters on this node, with its store's evictions.
    pub(super) fn counters(&self, name: &str, entry: &Entry) -> super::stats::CounterSnapshot {
        super::stats::CounterSnapshot {
            kv_evictions: self.kv.evictions(name),
            ..entry.counters.snapshot()
        }
    }
}

/// Has the plugin check a configuration (JSON).
pub(super) async fn check_config(loaded: &Loaded, json: &str) -> Result<(), PluginError> {
    match loaded.call(Request::CheckConfig(json.to_owned())).await {
        Ok(Response::CheckConfig(Ok(()))) => Ok(()),
        Ok(Response::CheckConfig(Err(why))) => Err(PluginError::Refused(format!(
            "the plugin refused its configuration: {why}"
        ))),
        Ok(_) => Err(PluginError::Refused(
            "the plugin answered something else than a configuration check".to_owned(),
        )),
        Err(error) => Err(PluginError::Refused(format!(
            "checking the configuration failed: the plugin {error}"
        ))),
    }
}
