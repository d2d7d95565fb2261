//! What operators see of plugins: each plugin's state, the revision each node runs, its
//! limits and counters, the verdicts and the metrics, as the admin API and the console
//! show them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::manifest::{Failure, Hook};
use super::stats::{CountersView, VerdictRecord};
use super::{metrics, Inner, PluginError, Plugins};

/// Where a plugin stands on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Loaded, enabled and taking part in its chains.
    Running,
    /// Loaded, but its manifest turns it off.
    Disabled,
    /// Loaded and enabled, but skipped for a while after failing too often in a row.
    Quarantined,
    /// No version of it could be loaded on this node.
    Failed,
}

impl PluginState {
    /// The name used on the wire and in the shared store.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::Disabled => "disabled",
            PluginState::Quarantined => "quarantined",
            PluginState::Failed => "failed",
        }
    }

    /// The state with this name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            PluginState::Running,
            PluginState::Disabled,
            PluginState::Quarantined,
            PluginState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for PluginState {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PluginState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One plugin as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// Its state on this node.
    pub state: PluginState,
    /// The last error loading it; with state `running`, an older version is still live.
    pub error: Option<String>,
    /// The sha256 of the running `.wasm`.
    pub sha256: Option<String>,
    /// Its limits in force.
    pub limits: LimitsView,
    /// When the running version was loaded, unix milliseconds.
    pub loaded_at: Option<i64>,
    /// Its counters: this node's, or in a cluster the sum over `nodes`.
    pub counters: CountersView,
    /// In a cluster, the plugin's newest revision in the shared database (every change
    /// makes a new one); 0 on a single node.
    pub revision: i64,
    /// In a cluster, what each node runs, this one included; empty on a single node.
    pub nodes: Vec<NodeView>,
}

/// Limits, as shown.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct LimitsView {
    /// MiB.
    pub memory_mib: u64,
    /// Milliseconds.
    pub deadline_ms: u64,
}

/// One node's report on one plugin.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    /// The node's name (`[cluster] node_name`).
    pub node: String,
    /// Whether this is the node that answered.
    pub here: bool,
    /// Whether the node reported within the last 15 seconds (it reports every 2).
    pub live: bool,
    /// The revision the node runs; 0 when it runs none.
    pub revision: i64,
    /// The plugin's state there.
    pub state: PluginState,
    /// Why the node could not load the newest revision, when it could not.
    pub error: Option<String>,
    /// When the node last reported, unix milliseconds.
    pub seen_at: i64,
    /// The plugin's counters on that node.
    pub counters: CountersView,
}

impl Plugins {
    /// Every plugin as this node holds it, by name.
    pub fn list(&self) -> Vec<PluginView> {
        let Some(inner) = &self.inner else {
            return Vec::new();
        };
        let entries = inner.registry.read_entries();
        entries
            .iter()
            .map(|(name, e)| inner.registry.view(name, e, inner.revision(name)))
            .collect()
    }

    /// One plugin as this node holds it.
    pub fn get(&self, name: &str) -> Option<PluginView> {
        let inner = self.inner.as_ref()?;
        let entries = inner.registry.read_entries();
        entries
            .get(name)
            .map(|e| inner.registry.view(name, e, inner.revision(name)))
    }

    /// Every plugin, and in a cluster what each node runs of it, with the counters summed
    /// over the nodes. Should the shared store not answer, this node's view stands in.
    pub async fn overview(&self) -> Vec<PluginView> {
        let views = self.list();
        let Some(inner) = &self.inner else {
            return views;
        };
        let Some(link) = &inner.link else {
            return views;
        };
        match link.overview(&inner.registry, views.clone()).await {
            Ok(views) => views,
            Err(error) => {
                tracing::warn!(%error, "reading the other nodes' plugin reports failed");
                views
            }
        }
    }

    /// One plugin as [`Plugins::overview`] shows it.
    pub async fn overview_of(&self, name: &str) -> Option<PluginView> {
        self.get(name)?;
        self.overview().await.into_iter().find(|v| v.name == name)
    }

    /// The answer to a change of `name`.
    pub(super) async fn answer(&self, name: &str) -> Result<PluginView, PluginError> {
        self.overview_of(name)
            .await
            .ok_or_else(|| PluginError::NotFound(name.to_owned()))
    }

    /// This node's recent verdicts, newest first.
    pub fn verdicts(&self, limit: usize, plugin: Option<&str>) -> Vec<VerdictRecord> {
        self.inner
            .as_ref()
            .map(|inner| inner.registry.verdicts.recent(limit, plugin))
            .unwrap_or_default()
    }

    /// Recent verdicts numbered below `before` (all when `None`), newest first, each with
    /// its number: in a cluster every node's from the shared log (this node's own when the
    /// store does not answer), otherwise this node's.
    pub async fn recent_verdicts(
        &self,
        before: Option<i64>,
        limit: usize,
        plugin: Option<&str>,
    ) -> Vec<(i64, VerdictRecord)> {
        if let Some(link) = self.inner.as_ref().and_then(|i| i.link.as_ref()) {
            let wanted = u32::try_from(limit).unwrap_or(u32::MAX);
            match link.store.verdicts_before(before, wanted, plugin).await {
                Ok(records) => return records,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "reading the shared verdict log failed")
                }
            }
        }
        self.inner
            .as_ref()
            .map(|inner| inner.registry.verdicts.recent_before(before, limit, plugin))
            .unwrap_or_default()
    }

    /// This node's plugin metrics in Prometheus' text format (labelled with the node's
    /// name in a cluster).
    pub fn render_metrics(&self, out: &mut String) {
        let views = self.list();
        let registry = self.inner.as_ref().map(|i| i.registry.as_ref());
        let node = self
            .inner
            .as_ref()
            .filter(|i| i.link.is_some())
            .map(|i| i.registry.node.as_str());
        metrics::render(&views, registry, node, out);
    }
}

impl Inner {
    /// The newest revision of `name` this node knows of (0 on a single node).
    fn revision(&self, name: &str) -> i64 {
        self.link
            .as_ref()
            .map_or(0, |link| link.known_revision(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_one_name_each_way() {
        for state in [
            PluginState::Running,
            PluginState::Disabled,
            PluginState::Quarantined,
            PluginState::Failed,
        ] {
            assert_eq!(PluginState::parse(state.as_str()), Some(state));
            assert_eq!(
                serde_json::to_value(state).expect("json"),
                serde_json::json!(state.as_str())
            );
            assert_eq!(state, state.as_str());
        }
        assert_eq!(PluginState::parse("asleep"), None);
    }
}
