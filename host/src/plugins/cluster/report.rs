//! What a cluster's node tells the others: its report on every plugin it holds, and the
//! overview the admin API shows, with every node's report and the counters summed.

use std::collections::HashMap;

use super::{io, millis, now_ms, Link, NODE_LIVE};
use crate::plugins::registry::Registry;
use crate::plugins::stats::CounterSnapshot;
use crate::plugins::storage::NodeReport;
use crate::plugins::view::{NodeView, PluginView};
use crate::plugins::PluginError;

impl Link {
    /// This node's report on every plugin it holds.
    pub(super) fn reports(&self, registry: &Registry, at: i64) -> Vec<NodeReport> {
        registry
            .read_entries()
            .iter()
            .map(|(name, entry)| NodeReport {
                node: registry.node.clone(),
                plugin: name.clone(),
                revision: if entry.loaded.is_some() {
                    entry.revision
                } else {
                    0
                },
                state: entry.state(),
                error: entry.error.clone(),
                counters: registry.counters(name, entry),
                seen_at: at,
            })
            .collect()
    }

    /// Adds every node's report to this node's views: `nodes`, the summed counters, and
    /// the store's newest revision.
    pub(in crate::plugins) async fn overview(
        &self,
        registry: &Registry,
        mut views: Vec<PluginView>,
    ) -> Result<Vec<PluginView>, PluginError> {
        let at = now_ms();
        let mut reports = self.store.reports().await.map_err(io)?;
        reports.retain(|r| r.node != registry.node);
        // This node's own report is taken fresh rather than from its last write.
        reports.extend(self.reports(registry, at));
        let newest: HashMap<String, i64> = self
            .store
            .plugins()
            .await
            .map_err(io)?
            .into_iter()
            .map(|p| (p.name, p.revision))
            .collect();
        for view in &mut views {
            let mut sum = CounterSnapshot::default();
            let mut nodes: Vec<NodeView> = reports
                .iter()
                .filter(|r| r.plugin == view.name)
                .map(|r| {
                    sum.add(&r.counters);
                    NodeView {
                        node: r.node.clone(),
                        here: r.node == registry.node,
                        live: at - r.seen_at <= millis(NODE_LIVE),
                        revision: r.revision,
                        state: r.state,
                        error: r.error.clone(),
                        seen_at: r.seen_at,
                        counters: r.counters.view(),
                    }
                })
                .collect();
            nodes.sort_by(|a, b| a.node.cmp(&b.node));
            view.counters = sum.view();
            view.nodes = nodes;
            if let Some(revision) = newest.get(&view.name) {
                view.revision = *revision;
            }
        }
        Ok(views)
    }
}
