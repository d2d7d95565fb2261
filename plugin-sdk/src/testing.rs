//! Checks for a plugin's own tests, run natively with `cargo test` (feature `testing`).
//!
//! ```toml
//! [dev-dependencies]
//! confab-plugin-sdk = { path = "../confab/plugin-sdk", features = ["testing"] }
//! ```

use crate::{Hook, Plugin};

/// The keys a manifest may hold; the server refuses any other.
const KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "hooks",
    "order",
    "failure",
    "enabled",
    "limits",
    "config",
];

/// Checks a manifest (the text of `plugin.toml`) against the plugin `P` the way the server
/// does when it loads them together: the manifest is well formed, its hooks are among
/// [`Plugin::HOOKS`], and `P` accepts its `[config]` table (as JSON, through
/// [`Plugin::check_config`]). The error says what is wrong.
///
/// ```
/// use confab_plugin_sdk::{testing, Hook, Plugin};
///
/// struct Quiet;
///
/// impl Plugin for Quiet {
///     const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
/// }
///
/// let manifest = r#"
///     name = "quiet"
///     version = "0.1.0"
///     hooks = ["filter-message"]
/// "#;
/// assert!(testing::check_manifest::<Quiet>(manifest).is_ok());
///
/// let wrong_hook = manifest.replace("filter-message", "on-join");
/// let error = testing::check_manifest::<Quiet>(&wrong_hook).unwrap_err();
/// assert!(error.contains("on-join"), "{error}");
/// ```
pub fn check_manifest<P: Plugin>(manifest: &str) -> Result<(), String> {
    let table: toml::Table = manifest.parse().map_err(|e| format!("not TOML: {e}"))?;
    if let Some(key) = table.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(format!("unknown key {key:?}"));
    }
    let name = string(&table, "name")?.ok_or("name is missing")?;
    if !valid_name(name) {
        return Err(format!(
            "name {name:?} must be 1 to 64 characters of a-z, 0-9 and '-', starting with a letter"
        ));
    }
    let version = string(&table, "version")?.ok_or("version is missing")?;
    if version.trim().is_empty() || version.len() > 64 {
        return Err("version must be 1 to 64 characters".to_owned());
    }
    string(&table, "description")?;
    check_hooks::<P>(&table)?;
    if table.get("order").is_some_and(|order| !order.is_integer()) {
        return Err("order must be an integer".to_owned());
    }
    if let Some(failure) = string(&table, "failure")? {
        if failure != "open" && failure != "closed" {
            return Err(format!(
                "failure must be \"open\" or \"closed\", not {failure:?}"
            ));
        }
    }
    if table
        .get("enabled")
        .is_some_and(|enabled| !enabled.is_bool())
    {
        return Err("enabled must be true or false".to_owned());
    }
    check_limits(&table)?;
    let config = match table.get("config") {
        None => toml::Table::new(),
        Some(toml::Value::Table(config)) => config.clone(),
        Some(_) => return Err("config must be a table".to_owned()),
    };
    let json = serde_json::to_string(&config).map_err(|e| format!("config: {e}"))?;
    P::check_config(&json).map_err(|e| format!("the plugin refuses [config]: {e}"))
}

/// The string under `key`, if there is one.
fn string<'t>(table: &'t toml::Table, key: &str) -> Result<Option<&'t str>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// Checks `hooks`: at least one, no repeats, each implemented by `P`.
fn check_hooks<P: Plugin>(table: &toml::Table) -> Result<(), String> {
    let Some(toml::Value::Array(names)) = table.get("hooks") else {
        return Err("hooks must be a list of hook names".to_owned());
    };
    if names.is_empty() {
        return Err("hooks must name at least one hook".to_owned());
    }
    let mut seen = Vec::new();
    for name in names {
        let name = name.as_str().ok_or("hooks must be a list of hook names")?;
        let hook = Hook::from_name(name).ok_or_else(|| {
            let known: Vec<_> = Hook::ALL.iter().map(|hook| hook.name()).collect();
            format!("unknown hook {name:?}; hooks are {}", known.join(", "))
        })?;
        if !P::HOOKS.contains(&hook) {
            return Err(format!(
                "the manifest names hook {name:?}, which the plugin does not implement (Plugin::HOOKS)"
            ));
        }
        if seen.contains(&hook) {
            return Err(format!("hooks names {name:?} twice"));
        }
        seen.push(hook);
    }
    Ok(())
}

/// Checks `[limits]`: only known keys, positive integers.
fn check_limits(table: &toml::Table) -> Result<(), String> {
    let limits = match table.get("limits") {
        None => return Ok(()),
        Some(toml::Value::Table(limits)) => limits,
        Some(_) => return Err("limits must be a table".to_owned()),
    };
    for (key, value) in limits {
        if key != "memory_mib" && key != "deadline_ms" {
            return Err(format!("unknown key \"limits.{key}\""));
        }
        if value.as_integer().is_none_or(|n| n <= 0) {
            return Err(format!("limits.{key} must be an integer above zero"));
        }
    }
    Ok(())
}

/// Whether `name` can be a plugin's name (and so a file stem and a URL segment).
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Picky;

    impl Plugin for Picky {
        const HOOKS: &'static [Hook] = &[Hook::OnJoin, Hook::OnUpload];

        fn check_config(config: &str) -> Result<(), String> {
            match crate::config::parse::<serde_json::Value>(config)?.get("size") {
                Some(size) if !size.is_u64() => Err("size must be a number".to_owned()),
                _ => Ok(()),
            }
        }
    }

    const GOOD: &str = r#"
name = "picky"
version = "0.1.0"
description = "checks joins and uploads"
hooks = ["on-join", "on-upload"]
order = 10
failure = "closed"
enabled = true
[limits]
memory_mib = 8
deadline_ms = 5
[config]
size = 3
"#;

    #[test]
    fn a_full_manifest_passes() {
        check_manifest::<Picky>(GOOD).expect("valid");
        check_manifest::<Picky>("name = \"p\"\nversion = \"1\"\nhooks = [\"on-join\"]")
            .expect("minimal");
    }

    #[test]
    fn each_problem_is_named() {
        for (from, to, needle) in [
            ("name = \"picky\"", "name = \"Picky\"", "name"),
            ("name = \"picky\"", "", "name is missing"),
            ("version = \"0.1.0\"", "version = \"\"", "version"),
            ("hooks = [", "hooks = ", "not TOML"),
            (
                "\"on-join\", \"on-upload\"",
                "\"on-join\", \"on-join\"",
                "twice",
            ),
            ("\"on-join\", \"on-upload\"", "", "at least one"),
            ("\"on-join\"", "\"filter-message\"", "does not implement"),
            ("\"on-join\"", "\"on-lunch\"", "on-lunch"),
            ("order = 10", "order = \"first\"", "order"),
            ("\"closed\"", "\"maybe\"", "maybe"),
            ("enabled = true", "colour = 1", "colour"),
            ("memory_mib = 8", "memory_mib = 0", "limits.memory_mib"),
            ("deadline_ms = 5", "deadline = 5", "limits.deadline"),
            ("size = 3", "size = \"big\"", "size must be a number"),
        ] {
            assert!(GOOD.contains(from), "{from}");
            let manifest = GOOD.replace(from, to);
            let error = check_manifest::<Picky>(&manifest).expect_err(to);
            assert!(error.contains(needle), "{to}: {error}");
        }
    }
}
