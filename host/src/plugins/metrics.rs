//! The plugins' metrics in Prometheus' text format: per-plugin counters, the latency
//! histogram, and whether each plugin is up. In a cluster every series also carries
//! `node="<name>"`, so the nodes' series stay apart wherever they are gathered.

use std::fmt::Write as _;

use super::registry::Registry;
use super::stats::{self, CountersView};
use super::view::{PluginState, PluginView};

/// The labels of `plugin`'s series: `plugin="…"`, and `node="…"` when `node` is given.
fn labels(plugin: &str, node: Option<&str>) -> String {
    match node {
        Some(node) => format!("plugin=\"{plugin}\",node=\"{}\"", escape(node)),
        None => format!("plugin=\"{plugin}\""),
    }
}

/// A label value as Prometheus' text format writes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends the metrics of `views` (this node's plugins) to `out`.
pub(super) fn render(
    views: &[PluginView],
    registry: Option<&Registry>,
    node: Option<&str>,
    out: &mut String,
) {
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
        for view in views {
            let _ = writeln!(
                out,
                "confab_plugin_{name}_total{{{}}} {}",
                labels(&view.name, node),
                get(&view.counters)
            );
        }
    }
    let _ = writeln!(out, "# HELP confab_plugin_up 1 when the plugin is running (not disabled, quarantined or failed).");
    let _ = writeln!(out, "# TYPE confab_plugin_up gauge");
    for view in views {
        let _ = writeln!(
            out,
            "confab_plugin_up{{{}}} {}",
            labels(&view.name, node),
            u8::from(view.state == PluginState::Running)
        );
    }
    let Some(registry) = registry else { return };
    let _ = writeln!(
        out,
        "# HELP confab_plugin_call_seconds Latency of calls into the plugin."
    );
    let _ = writeln!(out, "# TYPE confab_plugin_call_seconds histogram");
    for (name, entry) in registry.read_entries().iter() {
        let series = labels(name, node);
        let (cumulative, sum_us) = entry.counters.histogram();
        for (i, count) in cumulative.iter().enumerate() {
            let le = stats::LATENCY_BUCKETS_US
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
            let _ = writeln!(
                out,
                "confab_plugin_call_seconds_bucket{{{series},le=\"{le}\"}} {count}"
            );
        }
        let total = cumulative.last().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "confab_plugin_call_seconds_sum{{{series}}} {}",
            sum_us as f64 / 1e6
        );
        let _ = writeln!(out, "confab_plugin_call_seconds_count{{{series}}} {total}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_escaped_in_labels() {
        assert_eq!(labels("p", None), "plugin=\"p\"");
        assert_eq!(
            labels("p", Some("a\"b\\c\nd")),
            "plugin=\"p\",node=\"a\\\"b\\\\c\\nd\""
        );
    }
}
