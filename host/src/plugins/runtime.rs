//! The wasmtime side: one engine, compiled plugins, live instances and calls into them.
//!
//! One [`Engine`] serves every plugin: component model, the pooling allocator (instances
//! are carved from pre-reserved slots, so creating one is cheap and memory is bounded),
//! and epoch interruption driven by a ticker thread (`ticker.rs`: one tick a millisecond
//! while a call runs, none while none does), which is how a call's deadline is enforced.
//! At every tick a running call yields to the async runtime and, once it has *run* for its
//! deadline, traps: a plugin that spins never holds a worker thread for longer than a
//! tick, so the other sockets and requests on that thread go on.
//! The deadline counts the time the call ran, not the time it waited to be resumed after a
//! yield, so a busy server does not make an ordinary call miss its deadline (see
//! [`CallClock`]); a wall-clock backstop still ends any call. A plugin is compiled once, off the async runtime, and
//! cached on disk under the engine's compatibility hash and the plugin's sha256; then
//! pre-linked into an `InstancePre`. Calls run in live instances kept in a small pool per
//! plugin version; an instance that trapped, timed out or ran out of memory is thrown
//! away, never reused. Plugins get WASI with an empty context: no files, no network, no
//! environment, no inherited stdio; only clocks and randomness work.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::Digest;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::kv::PluginKv;
use super::manifest::{Hook, Limits};
use super::ticker::Ticker;
use crate::config::PluginsConfig;

/// The bindings generated from the WIT in `plugin-sdk/wit`, the current interface (plugins
/// built against older ones are called through `versions`).
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "confab-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

use bindings::confab::plugin::host as wit_host;
pub use bindings::exports::confab::plugin::plugin as wit;

pub use super::versions::WIT_VERSION;
use super::versions::{self, Guest, Pre};

/// The interface family a plugin must belong to.
const WIT_PACKAGE: &str = "confab:plugin/";

/// How long a plugin may wait on the host's store beyond its deadline before the call is
/// abandoned (the deadline itself is checked only while wasm runs).
const HOST_WAIT_GRACE: Duration = Duration::from_millis(500);
/// A call ends, whatever it ran, after this many times its deadline of wall-clock time
/// (plus [`HOST_WAIT_GRACE`]): time spent waiting to be resumed on a busy server counts
/// here only.
const WALL_CLOCK_FACTOR: u32 = 10;
/// The most running time one tick can stand for: ticks come every millisecond while a call
/// runs, so a longer gap between two was spent parked after a yield, not running.
const MAX_TICK: Duration = Duration::from_millis(2);
/// Calls after which a live instance is replaced, so memory a plugin leaked goes back.
const RECYCLE_AFTER_CALLS: u64 = 10_000;
/// Log lines one call may write; more are dropped.
const LOG_LINES_PER_CALL: u32 = 20;
/// Longest log line kept, bytes.
const LOG_LINE_BYTES: usize = 1024;

/// One engine and the linker every plugin is linked with.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    ticker: Arc<Ticker>,
    linker: Arc<Linker<CallState>>,
    cache_dir: Option<PathBuf>,
    instances_per_plugin: usize,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine for these settings. `cache_dir` (created if missing) keeps
    /// compiled plugins across restarts.
    pub fn new(config: &PluginsConfig, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let per_plugin = config.instances_per_plugin.max(1);
        // Room for sixteen plugins at full concurrency, plus instances used for checks and
        // the old version of a plugin still finishing calls during a swap.
        let instances = per_plugin.saturating_mul(16).saturating_add(32);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(4))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .total_stacks(instances)
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(config.max_memory_mib as usize * 1024 * 1024);
        let mut wasm = wasmtime::Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 * 1024)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(to_anyhow)?;
        let ticker = Ticker::start(&engine);

        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(to_anyhow)?;
        wit_host::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)
            .map_err(to_anyhow)?;
        versions::add_to_linker(&mut linker).map_err(to_anyhow)?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the plugin cache {}", dir.display()))?;
        }
        Ok(Self {
            engine,
            ticker,
            linker: Arc::new(linker),
            cache_dir,
            instances_per_plugin: per_plugin as usize,
        })
    }

    /// Compiles (or reads from the cache) and links a plugin, checks it against the WIT
    /// and asks which hooks it implements. Runs the compiler on a blocking thread.
    pub async fn load(
        &self,
        wasm: Arc<Vec<u8>>,
        limits: Limits,
        shared: Arc<PluginShared>,
    ) -> Result<Loaded, String> {
        let sha256 = hex::encode(sha2::Sha256::digest(wasm.as_slice()));
        let runtime = self.clone();
        let key = sha256.clone();
        let component = tokio::task::spawn_blocking(move || runtime.compile(&wasm, &key))
            .await
            .map_err(|e| format!("compiling: {e}"))??;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| self.explain(&component, e))?;
        let pre = Pre::new(pre).map_err(|e| self.explain(&component, e))?;
        let loaded = Loaded {
            sha256,
            hooks: Vec::new(),
            pre,
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
            limits,
            shared,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(self.instances_per_plugin),
        };
        let hooks = loaded
            .call(Request::Hooks)
            .await
            .map_err(|e| format!("asking the plugin for its hooks: {e}"))?;
        let Response::Hooks(hooks) = hooks else {
            return Err("the plugin answered something else than its hooks".to_owned());
        };
        Ok(Loaded { hooks, ..loaded })
    }

    fn compile(&self, wasm: &[u8], sha256: &str) -> Result<Component, String> {
        let cached = self.cache_dir.as_ref().map(|dir| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            self.engine
                .precompile_compatibility_hash()
                .hash(&mut hasher);
            dir.join(format!("{:016x}-{sha256}.cwasm", hasher.finish()))
        });
        if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
            match load_cached(&self.engine, path) {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring a bad cached plugin");
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        if !wasm.starts_with(b"\0asm") {
            return Err("not a WebAssembly file".to_owned());
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| {
            if wasm.get(4..8) == Some(&[1, 0, 0, 0]) {
                "a core wasm module, not a component: build it for wasm32-wasip2".to_owned()
            } else {
                format!("not a valid component: {e:#}")
            }
        })?;
        if let Some(path) = cached {
            if let Err(error) = store_cached(&component, &path) {
                tracing::warn!(path = %path.display(), %error, "could not cache a compiled plugin");
            }
        }
        Ok(component)
    }

    /// Turns a link error into a sentence about interface versions where that is the cause.
    fn explain(&self, component: &Component, error: wasmtime::Error) -> String {
        let ty = component.component_type();
        let names: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .chain(ty.exports(&self.engine).map(|(name, _)| name.to_owned()))
            .collect();
        let ours = names
            .iter()
            .filter_map(|name| name.strip_prefix(WIT_PACKAGE))
            .filter_map(|rest| rest.split_once('@').map(|(_, version)| version))
            .find(|version| !versions::compatible(version));
        match ours {
            Some(version) => format!(
                "built against confab:plugin@{version}; {}",
                versions::loads()
            ),
            None if !names.iter().any(|n| n.starts_with(WIT_PACKAGE)) => {
                "not a Confab plugin: it neither imports nor exports confab:plugin".to_owned()
            }
            None => format!("does not fit the confab:plugin interface: {error:#}"),
        }
    }

    /// Inspects a component without a server: its interface version, its hooks, and its
    /// imports and exports.
    pub async fn inspect(&self, wasm: Vec<u8>) -> Result<Inspection, String> {
        let component = {
            let runtime = self.clone();
            let wasm = wasm.clone();
            tokio::task::spawn_blocking(move || runtime.compile(&wasm, "inspect"))
                .await
                .map_err(|e| format!("compiling: {e}"))??
        };
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let wit_version = exports
            .iter()
            .chain(&imports)
            .filter_map(|n| n.strip_prefix(WIT_PACKAGE))
            .find_map(|rest| rest.split_once('@').map(|(_, v)| v.to_owned()))
            .unwrap_or_default();
        let shared = PluginShared::new(
            "inspect",
            "{}".to_owned(),
            Arc::new(super::kv::MemoryKv::default()),
        );
        let limits = Limits {
            memory_bytes: 64 << 20,
            deadline_ms: 1000,
        };
        let loaded = self.load(Arc::new(wasm), limits, shared).await?;
        Ok(Inspection {
            wit_version,
            hooks: loaded.hooks.clone(),
            imports,
            exports,
        })
    }
}

/// What `confab plugin check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The `confab:plugin` version the component was built against.
    pub wit_version: String,
    /// The hooks it says it implements.
    pub hooks: Vec<Hook>,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
}

#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `store_cached` into the server's own cache folder,
    // which has the same trust as the server's binary; wasmtime also checks that it was
    // compiled by a compatible engine before using it.
    unsafe { Component::deserialize_file(engine, path) }
}

fn store_cached(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize().map_err(to_anyhow)?;
    let dir = path.parent().context("the cache path has no folder")?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, &bytes)?;
    temp.persist(path)?;
    Ok(())
}

/// wasmtime's error type as an `anyhow::Error`.
pub(crate) fn to_anyhow(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

/// What a plugin shares across its versions: its name, its live configuration and its
/// store.
pub struct PluginShared {
    /// The plugin's name.
    pub name: String,
    config: RwLock<Arc<(String, u64)>>,
    kv: Arc<dyn PluginKv>,
}

impl std::fmt::Debug for PluginShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginShared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PluginShared {
    /// A plugin's shared part with this configuration (JSON).
    pub fn new(name: &str, config: String, kv: Arc<dyn PluginKv>) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            config: RwLock::new(Arc::new((config, 1))),
            kv,
        })
    }

    /// The configuration (JSON) and its version.
    pub fn config(&self) -> Arc<(String, u64)> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the configuration if it differs; live instances see it on their next
    /// call.
    pub fn set_config(&self, json: String) {
        let mut config = self.config.write().unwrap_or_else(|e| e.into_inner());
        if config.0 != json {
            let version = config.1 + 1;
            *config = Arc::new((json, version));
        }
    }
}

/// The data of one instance's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    shared: Arc<PluginShared>,
    log_lines: u32,
    /// How long the current call (or instantiation) has run, against its deadline.
    clock: CallClock,
}

/// The running time of one call, measured at the epoch ticks it sees.
///
/// The time between two ticks of a call counts in full only up to [`MAX_TICK`]: a running
/// call sees a tick every millisecond, so a longer gap means it sat parked after a yield
/// while other tasks ran, and that wait is not the plugin's. (A call that waited is resumed
/// straight into a tick, since the epoch moved on meanwhile.)
#[derive(Debug, Clone, Copy)]
struct CallClock {
    budget: Duration,
    used: Duration,
    last: Instant,
}

impl CallClock {
    fn start(budget: Duration) -> Self {
        Self {
            budget,
            used: Duration::ZERO,
            last: Instant::now(),
        }
    }

    /// Counts the time since the last tick; true once the budget is spent.
    fn tick(&mut self, now: Instant) -> bool {
        self.used += now.saturating_duration_since(self.last).min(MAX_TICK);
        self.last = now;
        self.used >= self.budget
    }
}

/// What the engine does at each epoch tick of a running call: yield to the async runtime,
/// so other tasks on the worker thread run, and trap once the call has run its deadline.
fn at_tick(state: &mut CallState) -> UpdateDeadline {
    if state.clock.tick(Instant::now()) {
        UpdateDeadline::Interrupt
    } else {
        UpdateDeadline::Yield(1)
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps an instance's memory and remembers whether the cap was hit, which tells a memory
/// bomb from other traps.
struct Limiter {
    memory_bytes: usize,
    exceeded: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl wit_host::Host for CallState {
    async fn log(&mut self, level: wit_host::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_PER_CALL {
            return Ok(());
        }
        let mut message = message;
        if message.len() > LOG_LINE_BYTES {
            let mut cut = LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let plugin = self.shared.name.as_str();
        match level {
            wit_host::Level::Trace => tracing::trace!(plugin, "{message}"),
            wit_host::Level::Debug => tracing::debug!(plugin, "{message}"),
            wit_host::Level::Info => tracing::info!(plugin, "{message}"),
            wit_host::Level::Warn => tracing::warn!(plugin, "{message}"),
            wit_host::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }

    async fn config(&mut self) -> wasmtime::Result<String> {
        Ok(self.shared.config().0.clone())
    }

    async fn config_version(&mut self) -> wasmtime::Result<u64> {
        Ok(self.shared.config().1)
    }

    async fn now_ms(&mut self) -> wasmtime::Result<i64> {
        Ok(chrono::Utc::now().timestamp_millis())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let shared = &self.shared;
        shared
            .kv
            .get(&shared.name, &key)
            .await
            .map_err(|e| wasmtime::Error::msg(format!("kv-get: {e:#}")))
    }

    async fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<()> {
        let shared = &self.shared;
        shared
            .kv
            .set(&shared.name, &key, value, ttl_ms.map(Duration::from_millis))
            .await
            .map_err(|e| wasmtime::Error::msg(format!("kv-set: {e:#}")))
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<bool> {
        let shared = &self.shared;
        shared
            .kv
            .delete(&shared.name, &key)
            .await
            .map_err(|e| wasmtime::Error::msg(format!("kv-delete: {e:#}")))
    }

    async fn kv_incr(
        &mut self,
        key: String,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<i64> {
        let shared = &self.shared;
        shared
            .kv
            .incr(&shared.name, &key, delta, ttl_ms.map(Duration::from_millis))
            .await
            .map_err(|e| wasmtime::Error::msg(format!("kv-incr: {e:#}")))
    }

    async fn kv_expire(&mut self, key: String, ttl_ms: Option<u64>) -> wasmtime::Result<bool> {
        let shared = &self.shared;
        shared
            .kv
            .expire(&shared.name, &key, ttl_ms.map(Duration::from_millis))
            .await
            .map_err(|e| wasmtime::Error::msg(format!("kv-expire: {e:#}")))
    }
}

/// A call into a plugin.
#[derive(Debug, Clone)]
pub enum Request {
    /// `hooks`.
    Hooks,
    /// `check-config`.
    CheckConfig(String),
    /// `filter-message` (0.1 plugins) or `filter-in-context` (0.2): the message and its
    /// context, which 0.1 plugins do not see.
    Filter(wit::Message, wit::FilterContext),
    /// `on-join`.
    Join(wit::Group, u64, u32),
    /// `on-owner-leave`.
    OwnerLeave(wit::Group, u64, Vec<wit::Member>),
    /// `on-upload`.
    Upload(wit::UploadMeta, Vec<u8>),
}

/// A plugin's answer, matching the request.
#[derive(Debug, Clone)]
pub enum Response {
    /// To `hooks`.
    Hooks(Vec<Hook>),
    /// To `check-config`.
    CheckConfig(Result<(), String>),
    /// To `filter-message`.
    Verdict(wit::Verdict),
    /// To `on-join`.
    Join(wit::JoinDecision),
    /// To `on-owner-leave`.
    Handoff(wit::Handoff),
    /// To `on-upload`.
    Upload(wit::UploadVerdict),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// It ran past its deadline.
    #[error("ran past its deadline")]
    Timeout,
    /// It tried to grow its memory past the cap.
    #[error("ran out of memory (cap reached)")]
    Memory,
    /// It trapped (a panic, an invalid operation, a failed host call).
    #[error("trapped: {0}")]
    Trap(String),
    /// A fresh instance could not be made.
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
}

/// A live instance.
struct Live {
    store: Store<CallState>,
    plugin: Guest,
    calls: u64,
}

/// One compiled version of a plugin, with its pool of live instances.
pub struct Loaded {
    /// The sha256 of its `.wasm`.
    pub sha256: String,
    /// The hooks it says it implements.
    pub hooks: Vec<Hook>,
    pre: Pre,
    engine: Engine,
    ticker: Arc<Ticker>,
    limits: Limits,
    shared: Arc<PluginShared>,
    idle: Mutex<Vec<Live>>,
    permits: Semaphore,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("plugin", &self.shared.name)
            .field("sha256", &self.sha256)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// The same compiled plugin with other limits, sharing nothing live.
    pub fn with_limits(&self, limits: Limits) -> Self {
        Self {
            sha256: self.sha256.clone(),
            hooks: self.hooks.clone(),
            pre: self.pre.clone(),
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
            limits,
            shared: self.shared.clone(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(self.permits.available_permits().max(1)),
        }
    }

    /// The plugin's shared part (name, configuration, store).
    pub fn shared(&self) -> &Arc<PluginShared> {
        &self.shared
    }

    /// Its limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether its filter reads the message's context: built against 0.2 or later.
    pub fn reads_context(&self) -> bool {
        self.pre.reads_context()
    }

    async fn instantiate(&self) -> Result<Live, CallError> {
        let state = CallState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: self.limits.memory_bytes,
                exceeded: false,
            },
            shared: self.shared.clone(),
            log_lines: 0,
            clock: CallClock::start(self.limits.deadline()),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut store| Ok(at_tick(store.data_mut())));
        store.set_epoch_deadline(1);
        let plugin = self
            .pre
            .instantiate(&mut store)
            .await
            .map_err(|e| classify(&store, e, true))?;
        Ok(Live {
            store,
            plugin,
            calls: 0,
        })
    }

    /// Makes one call within the plugin's deadline and memory cap.
    pub async fn call(&self, request: Request) -> Result<Response, CallError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| CallError::Instantiate("the plugin is unloading".to_owned()))?;
        // The deadline ticker ticks while any call runs (instantiation included).
        let _running = self.ticker.running();
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut live = match idle {
            Some(live) => live,
            None => self.instantiate().await?,
        };
        let budget = self.limits.deadline() * WALL_CLOCK_FACTOR + HOST_WAIT_GRACE;
        let outcome = tokio::time::timeout(budget, run(&mut live, request, self.limits)).await;
        match outcome {
            Ok(Ok(response)) => {
                live.calls += 1;
                if live.calls < RECYCLE_AFTER_CALLS {
                    self.idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(live);
                }
                Ok(response)
            }
            Ok(Err(error)) => Err(classify(&live.store, error, false)),
            // Waiting on the host's store for too long: the instance is dropped mid-call.
            Err(_) => Err(CallError::Timeout),
        }
    }
}

/// Runs one request in a live instance.
async fn run(live: &mut Live, request: Request, limits: Limits) -> wasmtime::Result<Response> {
    let store = &mut live.store;
    store.data_mut().log_lines = 0;
    store.data_mut().clock = CallClock::start(limits.deadline());
    store.set_epoch_deadline(1);
    live.plugin.call(store, request).await
}

fn classify(store: &Store<CallState>, error: wasmtime::Error, instantiating: bool) -> CallError {
    if store.data().limiter.exceeded {
        return CallError::Memory;
    }
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return CallError::Timeout;
    }
    let text = format!("{error:#}");
    let text = text.lines().next().unwrap_or_default().to_owned();
    if instantiating {
        CallError::Instantiate(text)
    } else {
        CallError::Trap(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks a millisecond apart count in full; a long gap (the call parked after a yield
    /// on a busy server) counts as one tick at most.
    #[test]
    fn the_call_clock_counts_running_time_not_waiting_time() {
        let start = Instant::now();
        let mut clock = CallClock {
            budget: Duration::from_millis(10),
            used: Duration::ZERO,
            last: start,
        };
        let ms = |n: u64| start + Duration::from_millis(n);
        for n in 1..=5 {
            assert!(!clock.tick(ms(n)), "5 ms of a 10 ms budget");
        }
        // Parked for 200 ms between two ticks: not the plugin's time.
        assert!(!clock.tick(ms(205)));
        assert_eq!(clock.used, Duration::from_millis(5) + MAX_TICK);
        for n in 206..=207 {
            assert!(!clock.tick(ms(n)));
        }
        assert!(
            clock.tick(ms(208)),
            "the budget's tenth millisecond of running ends it"
        );
    }
}
