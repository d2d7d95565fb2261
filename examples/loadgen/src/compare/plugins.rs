//! What the server's plugins were during a comparison: which ran, the stranger limit in
//! force, and what each did during the rounds.

use super::Options;
use crate::confab::{Api, PluginState};

/// Prints the plugins the server runs, and warns when the stranger limit would refuse the
/// pairs' messages; returns them, to tell later what they did during the rounds.
pub(super) async fn report(
    api: &Api,
    admin_token: &str,
    options: &Options,
) -> anyhow::Result<Vec<PluginState>> {
    let plugins = api.plugins(admin_token).await?;
    let listed: Vec<String> = plugins.iter().map(ToString::to_string).collect();
    println!(
        "  plugins: {}",
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed.join(", ")
        }
    );
    let stranger = plugins
        .iter()
        .find(|p| p.name == "stranger-limit" && p.state == "running");
    if let Some(limit) = stranger.and_then(|p| p.limit) {
        let sent = options.pair_messages.max(options.half_load(1.0).messages);
        if limit < sent {
            println!(
                "  warning: the stranger limit ({limit}) is below the {sent} messages a pair's \
                 sender sends: the rest will be refused (raise it as run.sh does)"
            );
        }
    }
    let line: Vec<String> = plugins
        .iter()
        .map(|p| format!("{}:{}", p.name, p.state))
        .collect();
    println!(
        "RESULT scenario=compare-plugins plugins={} stranger_limit={}\n",
        if line.is_empty() {
            "-".to_owned()
        } else {
            line.join(",")
        },
        stranger
            .and_then(|p| p.limit)
            .map_or_else(|| "-".to_owned(), |l| l.to_string())
    );
    Ok(plugins)
}

/// Prints what each plugin did during the rounds: calls, and how many of them rejected,
/// rewrote, failed or timed out. A plugin fails open, so a failure or a timeout means a
/// message went on without the plugin's work, which the figures then leave out.
pub(super) async fn report_work(
    api: &Api,
    admin_token: &str,
    before: &[PluginState],
) -> anyhow::Result<()> {
    let after = api.plugins(admin_token).await?;
    for plugin in &after {
        let earlier = before
            .iter()
            .find(|p| p.name == plugin.name)
            .map_or([0; 5], |p| p.counters);
        let work: Vec<u64> = plugin
            .counters
            .iter()
            .zip(earlier)
            .map(|(now, then)| now.saturating_sub(then))
            .collect();
        if work.first().is_none_or(|&calls| calls == 0) {
            continue;
        }
        let fields: Vec<String> = PluginState::COUNTERS
            .iter()
            .zip(&work)
            .map(|(name, count)| format!("{name}={count}"))
            .collect();
        println!(
            "plugin {} during the rounds: {}",
            plugin.name,
            fields.join(" ")
        );
        let failed = work.get(3).copied().unwrap_or(0) + work.get(4).copied().unwrap_or(0);
        if failed > 0 {
            println!(
                "  warning: {failed} calls failed or timed out, and their messages went on \
                 without the plugin's work"
            );
        }
        println!(
            "RESULT scenario=compare-plugin plugin={} {}",
            plugin.name,
            fields.join(" ")
        );
    }
    Ok(())
}
