//! Where plugins are kept: the plugins folder of one node ([`folder`]), and in a cluster
//! the shared database behind [`PluginStore`], which is then the truth every node follows.
//!
//! The shared store holds each plugin's newest revision (manifest, component, and so its
//! configuration and enabled state), what each node runs of it, and the verdict log of
//! every node. A revision number per plugin grows with every change, removals included
//! (a removed plugin keeps a row marked removed), so a node can always tell whether what
//! it runs is the newest, and a node that was away never mistakes an old plugin in its
//! folder for a new one.

use async_trait::async_trait;

use super::stats::{CounterSnapshot, VerdictRecord};
use super::view::PluginState;
use crate::error::Result;

pub mod folder;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

/// One plugin's newest revision in the shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlugin {
    /// Its name.
    pub name: String,
    /// Its revision: 1 for the first, one more for every change after.
    pub revision: i64,
    /// The manifest's text (empty when removed).
    pub manifest: String,
    /// The sha256 of its component (empty when removed).
    pub sha256: String,
    /// Whether this revision removes the plugin.
    pub removed: bool,
    /// When the revision was written, unix milliseconds.
    pub updated_at: i64,
    /// The node that wrote it.
    pub updated_by: String,
}

/// A revision to write.
#[derive(Debug, Clone, Copy)]
pub struct NewRevision<'a> {
    /// The plugin's name.
    pub name: &'a str,
    /// The manifest's text (empty for a removal).
    pub manifest: &'a str,
    /// The sha256 of the component (empty for a removal).
    pub sha256: &'a str,
    /// The component, when the store may not hold it yet; `None` when an earlier revision
    /// stored it (a manifest-only change).
    pub wasm: Option<&'a [u8]>,
    /// Whether the revision removes the plugin.
    pub removed: bool,
    /// Now, unix milliseconds.
    pub at: i64,
    /// The node writing it.
    pub by: &'a str,
}

impl<'a> NewRevision<'a> {
    /// The removal of `name`.
    pub fn removal(name: &'a str, at: i64, by: &'a str) -> Self {
        Self {
            name,
            manifest: "",
            sha256: "",
            wasm: None,
            removed: true,
            at,
            by,
        }
    }
}

/// What one node reports about one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// The plugin's name.
    pub plugin: String,
    /// The revision the node runs (0: none).
    pub revision: i64,
    /// The plugin's state there.
    pub state: PluginState,
    /// Why the newest revision did not load there, if it did not.
    pub error: Option<String>,
    /// Its counters there.
    pub counters: CounterSnapshot,
    /// When the node reported, unix milliseconds.
    pub seen_at: i64,
}

/// The plugins of a cluster in its shared database. Every implementation passes
/// [`conformance::run`].
#[async_trait]
pub trait PluginStore: Send + Sync {
    /// Whether several nodes can share this store (MySQL/MariaDB can; SQLite is one
    /// node's file, so a node on SQLite keeps its plugins in its folder).
    fn shared(&self) -> bool;

    /// The newest revision of every plugin, removed ones included, without components.
    async fn plugins(&self) -> Result<Vec<StoredPlugin>>;
    /// The newest revision of one plugin.
    async fn plugin(&self, name: &str) -> Result<Option<StoredPlugin>>;
    /// The component with this sha256, if the store holds it.
    async fn component(&self, sha256: &str) -> Result<Option<Vec<u8>>>;
    /// Writes `new` as the plugin's next revision if its newest is still `expected`
    /// (0: the store has never held the plugin), storing its component with it, all at
    /// once. Returns the new revision, or `None` when another writer got there first (the
    /// caller reads the newest and decides again).
    async fn publish(&self, expected: i64, new: &NewRevision<'_>) -> Result<Option<i64>>;
    /// Deletes the components no live revision uses that were last stored before
    /// `before` (a node catching up may still be fetching one for a while). Returns how
    /// many.
    async fn forget_components(&self, before: i64) -> Result<u64>;

    /// Replaces what `node` reported: `reports` as of `at`, and nothing about the plugins
    /// it no longer has.
    async fn report(&self, node: &str, at: i64, reports: &[NodeReport]) -> Result<()>;
    /// Every node's reports.
    async fn reports(&self) -> Result<Vec<NodeReport>>;
    /// Forgets the reports of nodes silent since before `before`; returns how many rows.
    async fn forget_nodes(&self, before: i64) -> Result<u64>;

    /// Appends verdicts, then keeps only the newest `keep` of all nodes' verdicts.
    async fn add_verdicts(&self, records: &[VerdictRecord], keep: u64) -> Result<()>;
    /// The newest `limit` verdicts, newest first, optionally of one plugin.
    async fn verdicts(&self, limit: u32, plugin: Option<&str>) -> Result<Vec<VerdictRecord>> {
        let numbered = self.verdicts_before(None, limit, plugin).await?;
        Ok(numbered.into_iter().map(|(_, record)| record).collect())
    }
    /// The newest `limit` verdicts numbered below `before` (all when `None`), newest first,
    /// optionally of one plugin, each with its number in the shared log.
    async fn verdicts_before(
        &self,
        before: Option<i64>,
        limit: u32,
        plugin: Option<&str>,
    ) -> Result<Vec<(i64, VerdictRecord)>>;
}
