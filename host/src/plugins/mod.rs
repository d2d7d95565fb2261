//! WebAssembly plugins: the folder of `<name>.wasm` + `<name>.toml` pairs, kept in step
//! with the chains the host runs.
//!
//! [`Plugins`] owns the registry. It reads the folder at start, again whenever the
//! watcher reports a change (debounced), and on the operator's requests. A new or changed
//! plugin is compiled and checked in the background (`hooks` must cover the manifest's,
//! `check-config` must accept the configuration) and only then swapped in; a broken one
//! leaves the old version running and shows the error. Each swap builds whole new chains
//! and replaces them in one step, so a message sees one chain version from start to end.
//! A configuration change is applied without recompiling.

pub mod chain;
pub mod kv;
pub mod manifest;
pub mod runtime;
pub mod scaffold;
pub mod stats;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use sha2::Digest;

use self::chain::{
    FilterLimits, FilterRunner, GroupChains, Health, PluginGroupPolicy, Quarantine, Runner,
    UploadDecision, UploadInfo,
};
use self::kv::PluginKv;
use self::manifest::{Failure, Hook, Manifest};
use self::runtime::{Loaded, PluginShared, Request, Response, Runtime};
use self::stats::{Counters, CountersView, VerdictLog, VerdictRecord};
use crate::config::PluginsConfig;
use crate::error::Error;
use crate::messages::filter::{FilterChain, MessageFilter};
use crate::messages::ChatService;

pub use self::runtime::Inspection;

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

/// How many verdicts the audit log keeps.
const VERDICT_LOG: usize = 500;

/// What went wrong with an operator's request.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No plugin of that name.
    #[error("no plugin named {0:?}")]
    NotFound(String),
    /// The request cannot be applied; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// Plugins are turned off in the configuration.
    #[error("plugins are turned off ([plugins] enabled = false)")]
    Off,
    /// Reading or writing the plugins folder failed.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

impl From<PluginError> for Error {
    fn from(error: PluginError) -> Self {
        match error {
            PluginError::NotFound(_) => Error::NotFound("no plugin of that name"),
            PluginError::Invalid(why) => Error::invalid(why),
            PluginError::Off => Error::invalid(PluginError::Off.to_string()),
            PluginError::Io(error) => Error::Internal(error),
        }
    }
}

/// One plugin as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    /// Its name.
    pub name: String,
    /// The version its manifest gives.
    pub version: String,
    /// Its description.
    pub description: String,
    /// The hooks its manifest puts it in.
    pub hooks: Vec<Hook>,
    /// The hooks the plugin says it implements (empty until it loaded once).
    pub implements: Vec<Hook>,
    /// Its place in the chains.
    pub order: i32,
    /// What a failed call means.
    pub failure: Failure,
    /// Whether the manifest enables it.
    pub enabled: bool,
    /// `running`, `disabled`, `quarantined` or `failed` (never loaded).
    pub state: &'static str,
    /// The last error loading it; with state `running`, an older version is still live.
    pub error: Option<String>,
    /// The sha256 of the running `.wasm`.
    pub sha256: Option<String>,
    /// Its limits in force.
    pub limits: LimitsView,
    /// When the running version was loaded, unix milliseconds.
    pub loaded_at: Option<i64>,
    /// Its counters.
    pub counters: CountersView,
}

/// Limits, as shown.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LimitsView {
    /// MiB.
    pub memory_mib: u64,
    /// Milliseconds.
    pub deadline_ms: u64,
}

struct Entry {
    manifest: Option<Manifest>,
    manifest_text: String,
    loaded: Option<Arc<Loaded>>,
    error: Option<String>,
    counters: Arc<Counters>,
    health: Arc<Health>,
    shared: Arc<PluginShared>,
    loaded_at: Option<i64>,
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
        }
    }
}

struct Inner {
    runtime: Runtime,
    settings: PluginsConfig,
    dir: PathBuf,
    kv: Arc<dyn PluginKv>,
    chat: ChatService,
    policy: PluginGroupPolicy,
    max_chars: usize,
    entries: RwLock<BTreeMap<String, Entry>>,
    uploads: RwLock<Arc<Vec<Arc<Runner>>>>,
    verdicts: Arc<VerdictLog>,
    changes: tokio::sync::Mutex<()>,
    watcher: std::sync::Mutex<Option<notify::RecommendedWatcher>>,
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
            .field("dir", &self.inner.as_ref().map(|i| i.dir.clone()))
            .finish_non_exhaustive()
    }
}

/// What the registry needs from the rest of the server.
pub struct Wiring {
    /// Where message filters go.
    pub chat: ChatService,
    /// Where group hooks go.
    pub policy: PluginGroupPolicy,
    /// The plugins' store.
    pub kv: Arc<dyn PluginKv>,
    /// The message cap, which rewrites must respect.
    pub max_chars: usize,
}

impl Plugins {
    /// Opens the plugins folder (creating it with the bundled plugins when configured),
    /// loads every plugin in it and, if configured, watches it.
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
                install_bundled(&dir)?;
            }
        }
        let cache_dir = if settings.cache_dir.as_os_str().is_empty() {
            data_dir.join("plugin-cache")
        } else {
            settings.cache_dir.clone()
        };
        let runtime = Runtime::new(settings, Some(cache_dir))?;
        let inner = Arc::new(Inner {
            runtime,
            settings: settings.clone(),
            dir,
            kv: wiring.kv,
            chat: wiring.chat,
            policy: wiring.policy,
            max_chars: wiring.max_chars,
            entries: RwLock::new(BTreeMap::new()),
            uploads: RwLock::new(Arc::new(Vec::new())),
            verdicts: Arc::new(VerdictLog::new(VERDICT_LOG)),
            changes: tokio::sync::Mutex::new(()),
            watcher: std::sync::Mutex::new(None),
        });
        let plugins = Self {
            inner: Some(inner.clone()),
        };
        plugins.rescan().await;
        if settings.watch {
            let watcher = watch::start(&inner.dir, Duration::from_millis(settings.debounce_ms), {
                let weak = Arc::downgrade(&inner);
                move || {
                    let weak = weak.clone();
                    async move {
                        if let Some(inner) = weak.upgrade() {
                            Plugins { inner: Some(inner) }.rescan().await;
                        }
                    }
                }
            })?;
            *inner.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(watcher);
        }
        for view in plugins.list() {
            match &view.error {
                Some(error) => tracing::error!(plugin = %view.name, %error, "plugin not loaded"),
                None => {
                    tracing::info!(plugin = %view.name, version = %view.version, state = view.state, "plugin loaded")
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
        self.inner.as_ref().map(|i| i.dir.as_path())
    }

    /// Reads the whole folder and applies what changed.
    pub async fn rescan(&self) {
        let Some(inner) = &self.inner else { return };
        let _changes = inner.changes.lock().await;
        let stems = match folder_stems(&inner.dir) {
            Ok(stems) => stems,
            Err(error) => {
                tracing::error!(dir = %inner.dir.display(), error = %format!("{error:#}"), "cannot read the plugins folder");
                return;
            }
        };
        let known: Vec<String> = inner.read_entries().keys().cloned().collect();
        for gone in known.iter().filter(|name| !stems.contains(name)) {
            inner.write_entries().remove(gone);
            tracing::info!(plugin = %gone, "plugin removed from the folder: unloaded");
        }
        for stem in &stems {
            if let Err(error) = inner.load_from_folder(stem, false).await {
                tracing::error!(plugin = %stem, %error, "plugin change not applied");
            }
        }
        inner.rebuild_chains();
    }

    /// Every plugin, by name.
    pub fn list(&self) -> Vec<PluginView> {
        let Some(inner) = &self.inner else {
            return Vec::new();
        };
        let entries = inner.read_entries();
        entries
            .iter()
            .map(|(name, e)| inner.view(name, e))
            .collect()
    }

    /// One plugin.
    pub fn get(&self, name: &str) -> Option<PluginView> {
        let inner = self.inner.as_ref()?;
        let entries = inner.read_entries();
        entries.get(name).map(|e| inner.view(name, e))
    }

    fn expect(&self, name: &str) -> Result<PluginView, PluginError> {
        self.get(name)
            .ok_or_else(|| PluginError::NotFound(name.to_owned()))
    }

    /// Installs or replaces a plugin: checks it fully first, then writes it into the
    /// folder and swaps it in. On any error nothing changes.
    pub async fn install(
        &self,
        manifest_text: &str,
        wasm: Vec<u8>,
    ) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        let manifest = Manifest::parse(manifest_text)
            .map_err(|e| PluginError::Invalid(format!("manifest: {e}")))?;
        let name = manifest.name.clone();
        let _changes = inner.changes.lock().await;
        let loaded = inner
            .prepare(&manifest, Arc::new(wasm.clone()))
            .await
            .map_err(PluginError::Invalid)?;
        write_atomically(
            &inner.dir.join(format!("{name}.toml")),
            manifest_text.as_bytes(),
        )?;
        write_atomically(&inner.dir.join(format!("{name}.wasm")), &wasm)?;
        inner.apply(
            &name,
            manifest,
            manifest_text.to_owned(),
            Some(loaded),
            true,
        );
        inner.rebuild_chains();
        tracing::info!(plugin = %name, "plugin installed through the admin API");
        self.expect(&name)
    }

    /// Unloads a plugin and deletes its files.
    pub async fn remove(&self, name: &str) -> Result<(), PluginError> {
        let inner = self.inner()?;
        let _changes = inner.changes.lock().await;
        if inner.write_entries().remove(name).is_none() {
            return Err(PluginError::NotFound(name.to_owned()));
        }
        for extension in ["wasm", "toml"] {
            let path = inner.dir.join(format!("{name}.{extension}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("removing {}", path.display()))
                        .into())
                }
            }
        }
        inner.rebuild_chains();
        tracing::info!(plugin = %name, "plugin removed through the admin API");
        Ok(())
    }

    /// Enables or disables a plugin, in its manifest too so a restart keeps it.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        {
            let _changes = inner.changes.lock().await;
            inner.edit_manifest(name, |doc| {
                doc["enabled"] = toml_edit::value(enabled);
                Ok(())
            })?;
            inner
                .load_from_folder(name, false)
                .await
                .map_err(PluginError::Invalid)?;
            if enabled {
                if let Some(entry) = inner.read_entries().get(name) {
                    entry.health.reset();
                }
            }
            inner.rebuild_chains();
        }
        self.expect(name)
    }

    /// Reads the plugin's files again, recompiling if needed, and clears its quarantine.
    pub async fn reload(&self, name: &str) -> Result<PluginView, PluginError> {
        let inner = self.inner()?;
        {
            let _changes = inner.changes.lock().await;
            if !inner.read_entries().contains_key(name)
                && !inner.dir.join(format!("{name}.toml")).is_file()
            {
                return Err(PluginError::NotFound(name.to_owned()));
            }
            let result = inner.load_from_folder(name, true).await;
            inner.rebuild_chains();
            result.map_err(PluginError::Invalid)?;
        }
        self.expect(name)
    }

    /// The plugin's configuration.
    pub fn config(&self, name: &str) -> Result<serde_json::Value, PluginError> {
        let inner = self.inner()?;
        let entries = inner.read_entries();
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
        let table = manifest::config_table(&config).map_err(PluginError::Invalid)?;
        {
            let _changes = inner.changes.lock().await;
            let loaded = inner
                .read_entries()
                .get(name)
                .ok_or_else(|| PluginError::NotFound(name.to_owned()))?
                .loaded
                .clone()
                .ok_or_else(|| {
                    PluginError::Invalid(format!("{name} is not loaded; fix its error first"))
                })?;
            check_config(&loaded, &config.to_string())
                .await
                .map_err(PluginError::Invalid)?;
            inner.edit_manifest(name, |doc| {
                let text = toml::to_string(&table).map_err(|e| e.to_string())?;
                let parsed: toml_edit::DocumentMut = text
                    .parse()
                    .map_err(|e: toml_edit::TomlError| e.to_string())?;
                doc["config"] = toml_edit::Item::Table(parsed.as_table().clone());
                Ok(())
            })?;
            inner
                .load_from_folder(name, false)
                .await
                .map_err(PluginError::Invalid)?;
            inner.rebuild_chains();
        }
        self.expect(name)
    }

    /// Recent verdicts, newest first.
    pub fn verdicts(&self, limit: usize, plugin: Option<&str>) -> Vec<VerdictRecord> {
        self.inner
            .as_ref()
            .map(|inner| inner.verdicts.recent(limit, plugin))
            .unwrap_or_default()
    }

    /// Runs the upload chain.
    pub async fn check_upload(&self, info: &UploadInfo, head: &[u8]) -> UploadDecision {
        let Some(inner) = &self.inner else {
            return UploadDecision::Accept {
                name: None,
                content_type: None,
            };
        };
        let chain = inner
            .uploads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        chain::check_upload(&chain, info, head).await
    }

    /// The plugins' metrics in Prometheus' text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let views = self.list();
        type Counter = (&'static str, &'static str, fn(&CountersView) -> u64);
        let counters: [Counter; 7] = [
            ("calls", "Calls into the plugin.", |c| c.calls),
            (
                "rejects",
                "Messages rejected, joins denied, uploads refused.",
                |c| c.rejects,
            ),
            ("rewrites", "Messages rewritten, uploads renamed.", |c| {
                c.rewrites
            }),
            (
                "errors",
                "Calls that trapped, ran out of memory or answered wrongly.",
                |c| c.errors,
            ),
            ("timeouts", "Calls stopped at their deadline.", |c| {
                c.timeouts
            }),
            ("skipped", "Calls skipped while quarantined.", |c| c.skipped),
            (
                "kv_evictions",
                "Keys dropped from the plugin's store to stay within its bound.",
                |c| c.kv_evictions,
            ),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP confab_plugin_{name}_total {help}");
            let _ = writeln!(out, "# TYPE confab_plugin_{name}_total counter");
            for view in &views {
                let _ = writeln!(
                    out,
                    "confab_plugin_{name}_total{{plugin=\"{}\"}} {}",
                    view.name,
                    get(&view.counters)
                );
            }
        }
        let _ = writeln!(out, "# HELP confab_plugin_up 1 when the plugin is running (not disabled, quarantined or failed).");
        let _ = writeln!(out, "# TYPE confab_plugin_up gauge");
        for view in &views {
            let _ = writeln!(
                out,
                "confab_plugin_up{{plugin=\"{}\"}} {}",
                view.name,
                u8::from(view.state == "running")
            );
        }
        let Some(inner) = &self.inner else { return };
        let _ = writeln!(
            out,
            "# HELP confab_plugin_call_seconds Latency of calls into the plugin."
        );
        let _ = writeln!(out, "# TYPE confab_plugin_call_seconds histogram");
        for (name, entry) in inner.read_entries().iter() {
            let (cumulative, sum_us) = entry.counters.histogram();
            for (i, count) in cumulative.iter().enumerate() {
                let le = stats::LATENCY_BUCKETS_US
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(
                    out,
                    "confab_plugin_call_seconds_bucket{{plugin=\"{name}\",le=\"{le}\"}} {count}"
                );
            }
            let total = cumulative.last().copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "confab_plugin_call_seconds_sum{{plugin=\"{name}\"}} {}",
                sum_us as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "confab_plugin_call_seconds_count{{plugin=\"{name}\"}} {total}"
            );
        }
    }
}

/// Inspects a component file without a server (for `confab plugin check`).
pub async fn inspect(wasm: Vec<u8>) -> Result<Inspection, String> {
    let runtime = Runtime::new(&PluginsConfig::default(), None).map_err(|e| format!("{e:#}"))?;
    runtime.inspect(wasm).await
}

async fn check_config(loaded: &Loaded, json: &str) -> Result<(), String> {
    match loaded.call(Request::CheckConfig(json.to_owned())).await {
        Ok(Response::CheckConfig(Ok(()))) => Ok(()),
        Ok(Response::CheckConfig(Err(why))) => {
            Err(format!("the plugin refused its configuration: {why}"))
        }
        Ok(_) => Err("the plugin answered something else than a configuration check".to_owned()),
        Err(error) => Err(format!(
            "checking the configuration failed: the plugin {error}"
        )),
    }
}

impl Inner {
    fn read_entries(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_entries(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles, links and checks a plugin for this manifest, without touching the chains.
    async fn prepare(
        &self,
        manifest: &Manifest,
        wasm: Arc<Vec<u8>>,
    ) -> Result<Arc<Loaded>, String> {
        let limits = manifest.limits(&self.settings)?;
        let shared = self.shared_for(manifest);
        let loaded = self.runtime.load(wasm, limits, shared).await?;
        if let Some(missing) = manifest.hooks.iter().find(|h| !loaded.hooks.contains(h)) {
            let implements: Vec<&str> = loaded.hooks.iter().map(|h| h.as_str()).collect();
            return Err(format!(
                "the manifest lists {missing}, which the plugin does not implement (it implements: {})",
                if implements.is_empty() { "nothing".to_owned() } else { implements.join(", ") }
            ));
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

    /// Records a plugin's new state. `loaded` is `None` when only the manifest changed.
    fn apply(
        &self,
        name: &str,
        manifest: Manifest,
        text: String,
        loaded: Option<Arc<Loaded>>,
        fresh: bool,
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
        if fresh {
            entry.health.reset();
        }
        entry.manifest = Some(manifest);
        entry.manifest_text = text;
        entry.error = None;
    }

    fn record_error(&self, name: &str, error: &str) {
        let mut entries = self.write_entries();
        let entry = entries
            .entry(name.to_owned())
            .or_insert_with(|| Entry::new(name, "{}".to_owned(), self.kv.clone()));
        entry.error = Some(error.to_owned());
    }

    /// Loads `<name>.toml` + `<name>.wasm` if they changed (or always with `force`).
    /// On error the old version stays and the error is recorded and returned.
    async fn load_from_folder(&self, name: &str, force: bool) -> Result<(), String> {
        let result = self.try_load_from_folder(name, force).await;
        if let Err(error) = &result {
            self.record_error(name, error);
        }
        result
    }

    async fn try_load_from_folder(&self, name: &str, force: bool) -> Result<(), String> {
        let toml_path = self.dir.join(format!("{name}.toml"));
        let wasm_path = self.dir.join(format!("{name}.wasm"));
        let text =
            std::fs::read_to_string(&toml_path).map_err(|e| format!("reading {name}.toml: {e}"))?;
        let manifest = Manifest::parse(&text).map_err(|e| format!("{name}.toml: {e}"))?;
        if manifest.name != name {
            return Err(format!(
                "{name}.toml names the plugin {:?}; the file must be called {}.toml",
                manifest.name, manifest.name
            ));
        }
        let wasm = std::fs::read(&wasm_path).map_err(|e| format!("reading {name}.wasm: {e}"))?;
        let sha256 = hex::encode(sha2::Sha256::digest(&wasm));
        let limits = manifest.limits(&self.settings)?;
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
                    return Ok(());
                }
                // Only the manifest changed: no recompiling.
                if let Some(missing) = manifest.hooks.iter().find(|h| !loaded.hooks.contains(h)) {
                    return Err(format!(
                        "the manifest lists {missing}, which the plugin does not implement"
                    ));
                }
                check_config(&loaded, &manifest.config_json()).await?;
                let relimited =
                    (loaded.limits() != limits).then(|| Arc::new(loaded.with_limits(limits)));
                self.apply(name, manifest, text, relimited, false);
                tracing::info!(plugin = %name, "plugin manifest applied");
                Ok(())
            }
            _ => {
                let loaded = self.prepare(&manifest, Arc::new(wasm)).await?;
                let version = manifest.version.clone();
                self.apply(name, manifest, text, Some(loaded), true);
                tracing::info!(plugin = %name, %version, %sha256, "plugin loaded");
                Ok(())
            }
        }
    }

    /// Edits a plugin's manifest file in place, keeping its comments and layout.
    fn edit_manifest(
        &self,
        name: &str,
        edit: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), String>,
    ) -> Result<(), PluginError> {
        if !self.read_entries().contains_key(name) {
            return Err(PluginError::NotFound(name.to_owned()));
        }
        let path = self.dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| PluginError::Invalid(format!("{name}.toml: {e}")))?;
        edit(&mut doc).map_err(PluginError::Invalid)?;
        write_atomically(&path, doc.to_string().as_bytes())?;
        Ok(())
    }

    /// Builds every chain from the running, enabled plugins and swaps them in.
    fn rebuild_chains(&self) {
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
        self.chat.set_filters(FilterChain::new(filters));
        self.policy.set(GroupChains {
            join: of(Hook::OnJoin),
            owner_leave: of(Hook::OnOwnerLeave),
        });
        *self.uploads.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(of(Hook::OnUpload));
    }

    fn view(&self, name: &str, entry: &Entry) -> PluginView {
        let manifest = entry.manifest.as_ref();
        let limits = entry.loaded.as_ref().map(|l| l.limits());
        let state = match (manifest, &entry.loaded) {
            (Some(_), None) | (None, _) => "failed",
            (Some(m), Some(_)) if !m.enabled => "disabled",
            _ if entry.health.quarantined() => "quarantined",
            _ => "running",
        };
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
            state,
            error: entry.error.clone(),
            sha256: entry.loaded.as_ref().map(|l| l.sha256.clone()),
            limits: LimitsView {
                memory_mib: limits.map_or(u64::from(self.settings.memory_mib), |l| {
                    (l.memory_bytes >> 20) as u64
                }),
                deadline_ms: limits.map_or(self.settings.deadline_ms, |l| l.deadline_ms),
            },
            loaded_at: entry.loaded_at,
            counters: CountersView {
                kv_evictions: self.kv.evictions(name),
                ..entry.counters.view()
            },
        }
    }
}

/// The plugin names in the folder: stems of `.toml` and `.wasm` files with a valid name.
fn folder_stems(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let extension = path.extension()?.to_str()?;
            if extension != "toml" && extension != "wasm" {
                return None;
            }
            let stem = path.file_stem()?.to_str()?.to_owned();
            manifest::valid_name(&stem).then_some(stem)
        })
        .collect();
    stems.sort();
    stems.dedup();
    Ok(stems)
}

/// Writes a file so readers see the old or the new content, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let dir = path.parent().context("a plugin file has a folder")?;
    let mut temp = tempfile::Builder::new()
        .prefix(".confab-")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, bytes).context("writing a plugin file")?;
    temp.persist(path).map_err(|e| {
        anyhow::Error::new(e.error).context(format!("replacing {}", path.display()))
    })?;
    Ok(())
}

/// Writes the bundled plugins into a new plugins folder.
fn install_bundled(dir: &Path) -> anyhow::Result<()> {
    for plugin in bundled::BUNDLED {
        write_atomically(
            &dir.join(format!("{}.toml", plugin.name)),
            plugin.manifest.as_bytes(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        write_atomically(&dir.join(format!("{}.wasm", plugin.name)), plugin.wasm)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    tracing::info!(dir = %dir.display(), count = bundled::BUNDLED.len(), "bundled plugins installed");
    Ok(())
}
