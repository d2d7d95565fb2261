//! A plugin's manifest: the `<name>.toml` beside its `<name>.wasm`.
//!
//! It names the plugin and the hooks it takes part in, where it runs in each chain, what a
//! failed call means (fail open or closed), its limits and its configuration. Everything is
//! checked here, so the rest of the runtime only sees valid manifests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::PluginsConfig;

/// The hooks a plugin can implement (the WIT's `hook` enum).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// Every private and group message.
    FilterMessage,
    /// A user joining a group.
    OnJoin,
    /// A group's owner leaving.
    OnOwnerLeave,
    /// An uploaded file.
    OnUpload,
}

impl Hook {
    /// Every hook, in the WIT's order.
    pub const ALL: [Hook; 4] = [
        Hook::FilterMessage,
        Hook::OnJoin,
        Hook::OnOwnerLeave,
        Hook::OnUpload,
    ];

    /// The hook's name in the WIT and in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::FilterMessage => "filter-message",
            Hook::OnJoin => "on-join",
            Hook::OnOwnerLeave => "on-owner-leave",
            Hook::OnUpload => "on-upload",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a failed call (trap, timeout, memory exhaustion, invalid answer) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// The plugin is skipped for that call: the message, join or upload goes on.
    #[default]
    Open,
    /// The call's subject is refused: the message is rejected, the join denied, the upload
    /// refused.
    Closed,
}

/// Per-plugin limits; missing values come from `[plugins]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Memory cap of one instance, MiB.
    pub memory_mib: Option<u32>,
    /// Deadline of one call, milliseconds.
    pub deadline_ms: Option<u64>,
}

/// A manifest as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name, which is also its file stem.
    pub name: String,
    /// Its version, shown to operators.
    pub version: String,
    /// One line for operators.
    #[serde(default)]
    pub description: String,
    /// The hooks it takes part in; each must be among those the plugin says it implements.
    pub hooks: Vec<Hook>,
    /// Its place in each chain: lower runs first, ties by name.
    #[serde(default)]
    pub order: i32,
    /// What a failed call means.
    #[serde(default)]
    pub failure: Failure,
    /// Whether it runs.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Its limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Its configuration, handed to the plugin as JSON.
    #[serde(default)]
    pub config: toml::Table,
}

fn enabled_by_default() -> bool {
    true
}

/// Limits in force for one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory cap of one instance, bytes.
    pub memory_bytes: usize,
    /// Deadline of one call, milliseconds.
    pub deadline_ms: u64,
}

impl Limits {
    /// The deadline of one call (at least a millisecond).
    pub fn deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.deadline_ms.max(1))
    }
}

impl Manifest {
    /// Parses and checks a manifest's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The checks `parse` applies, for manifests built in code.
    pub fn check(&self) -> Result<(), String> {
        if !valid_name(&self.name) {
            return Err(format!(
                "name {:?} must be 1 to 64 characters of a-z, 0-9 and '-', starting with a letter",
                self.name
            ));
        }
        if self.version.trim().is_empty() || self.version.len() > 64 {
            return Err("version must be 1 to 64 characters".to_owned());
        }
        if self.hooks.is_empty() {
            return Err("hooks must name at least one hook".to_owned());
        }
        let mut seen = self.hooks.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.hooks.len() {
            return Err("hooks names a hook twice".to_owned());
        }
        if self.limits.memory_mib == Some(0) || self.limits.deadline_ms == Some(0) {
            return Err("limits must be above zero".to_owned());
        }
        Ok(())
    }

    /// The limits in force, or why the manifest asks for more than the server allows.
    pub fn limits(&self, defaults: &PluginsConfig) -> Result<Limits, String> {
        let memory_mib = self.limits.memory_mib.unwrap_or(defaults.memory_mib);
        let deadline_ms = self.limits.deadline_ms.unwrap_or(defaults.deadline_ms);
        if memory_mib > defaults.max_memory_mib {
            return Err(format!(
                "limits.memory_mib = {memory_mib} is above the server's maximum of {}",
                defaults.max_memory_mib
            ));
        }
        if deadline_ms > defaults.max_deadline_ms {
            return Err(format!(
                "limits.deadline_ms = {deadline_ms} is above the server's maximum of {}",
                defaults.max_deadline_ms
            ));
        }
        Ok(Limits {
            memory_bytes: memory_mib as usize * 1024 * 1024,
            deadline_ms,
        })
    }

    /// The configuration as the JSON text the plugin reads.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Whether `name` can be a plugin's name (and so a file stem and a URL segment).
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// A JSON configuration as the TOML table stored in a manifest, or why it cannot be one.
pub fn config_table(json: &serde_json::Value) -> Result<toml::Table, String> {
    if !json.is_object() {
        return Err("the configuration must be a JSON object".to_owned());
    }
    fn reject_nulls(value: &serde_json::Value, path: &str) -> Result<(), String> {
        match value {
            serde_json::Value::Null => Err(format!(
                "{path} is null, which a manifest cannot hold; leave the key out instead"
            )),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| reject_nulls(v, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map
                .iter()
                .try_for_each(|(k, v)| reject_nulls(v, &format!("{path}.{k}"))),
            _ => Ok(()),
        }
    }
    reject_nulls(json, "config")?;
    toml::Table::deserialize(json.clone()).map_err(|e| format!("config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name = "word-filter"
version = "0.1.0"
description = "masks words"
hooks = ["filter-message"]
order = 10
failure = "closed"
[limits]
memory_mib = 8
deadline_ms = 3
[config]
words = ["a", "b"]
mode = "mask"
"#;

    #[test]
    fn a_full_manifest_parses() {
        let m = Manifest::parse(FULL).expect("parses");
        assert_eq!(m.hooks, vec![Hook::FilterMessage]);
        assert_eq!(m.failure, Failure::Closed);
        assert!(m.enabled);
        let limits = m.limits(&PluginsConfig::default()).expect("limits");
        assert_eq!(limits.memory_bytes, 8 << 20);
        assert_eq!(limits.deadline_ms, 3);
        let json: serde_json::Value = serde_json::from_str(&m.config_json()).expect("json");
        assert_eq!(json["words"][1], "b");
    }

    #[test]
    fn bad_manifests_say_why() {
        for (text, needle) in [
            ("name = \"x\"", "missing field"),
            (
                "name = \"Bad Name\"\nversion = \"1\"\nhooks = [\"on-join\"]",
                "name",
            ),
            ("name = \"x\"\nversion = \"1\"\nhooks = []", "at least one"),
            (
                "name = \"x\"\nversion = \"1\"\nhooks = [\"on-lunch\"]",
                "on-lunch",
            ),
            (
                "name = \"x\"\nversion = \"1\"\nhooks = [\"on-join\"]\nfailure = \"maybe\"",
                "maybe",
            ),
            (
                "name = \"x\"\nversion = \"1\"\nhooks = [\"on-join\"]\ncolour = 1",
                "colour",
            ),
        ] {
            let error = Manifest::parse(text).expect_err(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
        let greedy = Manifest::parse(
            "name = \"x\"\nversion = \"1\"\nhooks = [\"on-join\"]\n[limits]\nmemory_mib = 4096",
        )
        .expect("parses");
        let error = greedy
            .limits(&PluginsConfig::default())
            .expect_err("too much");
        assert!(error.contains("maximum"), "{error}");
    }

    #[test]
    fn json_configs_become_tables_or_say_why_not() {
        let table = config_table(&serde_json::json!({"words": ["x"], "n": 3})).expect("table");
        assert_eq!(table["n"].as_integer(), Some(3));
        assert!(config_table(&serde_json::json!([1])).is_err());
        let error = config_table(&serde_json::json!({"a": {"b": null}})).expect_err("null");
        assert!(error.contains("config.a.b"), "{error}");
    }
}
