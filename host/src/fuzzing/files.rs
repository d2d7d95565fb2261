//! The two TOML files an operator writes: a plugin manifest and the server's
//! configuration. What parses is valid, and written back it parses to the same thing.

use crate::config::{Config, PluginsConfig};
use crate::plugins::manifest::{config_table, valid_name, Manifest};

use super::close;

/// A plugin manifest's text.
pub fn plugin_manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    assert!(valid_name(&manifest.name), "name {:?}", manifest.name);
    manifest
        .check()
        .expect("a parsed manifest passes its checks");
    let defaults = PluginsConfig::default();
    if let Ok(limits) = manifest.limits(&defaults) {
        assert!(limits.memory_bytes <= defaults.max_memory_mib as usize * 1024 * 1024);
        assert!(limits.deadline_ms > 0 && limits.deadline_ms <= defaults.max_deadline_ms);
    }
    // Written back, a configuration nested deeper than the TOML reader takes in one key
    // (80 levels) or the JSON reader at all (128) does not read again. A manifest can reach
    // that depth by splitting the path between a table header and dotted keys.
    if depth(&toml::Value::Table(manifest.config.clone())) >= MAX_DEPTH {
        return;
    }
    let written = toml::to_string(&manifest).expect("a parsed manifest can be written");
    let again = Manifest::parse(&written)
        .unwrap_or_else(|e| panic!("the manifest written back does not parse: {e}\n{written}"));
    // Compared as text: a NaN in the configuration is never equal to itself.
    let rewritten = toml::to_string(&again).expect("a parsed manifest can be written");
    assert_eq!(
        rewritten, written,
        "the manifest written back reads differently"
    );

    // The admin API shows the configuration as JSON and takes it back the same way.
    let json: serde_json::Value =
        serde_json::from_str(&manifest.config_json()).expect("the configuration is JSON");
    assert!(
        json.is_object(),
        "the configuration is not an object: {json}"
    );
    if finite(&toml::Value::Table(manifest.config.clone())) {
        let table = config_table(&json).unwrap_or_else(|e| panic!("{json} is refused: {e}"));
        let (table, config) = (
            toml::Value::Table(table),
            toml::Value::Table(manifest.config),
        );
        assert!(
            same(&table, &config),
            "the configuration changed through JSON: {table:?}"
        );
    }
}

/// Whether two TOML values are equal, floats within their last digits (see [`close`]).
fn same(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Float(x), toml::Value::Float(y)) => close(*x, *y),
        (toml::Value::Array(xs), toml::Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (toml::Value::Table(xs), toml::Value::Table(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

/// The nesting depth past which a configuration is not written back and read again.
const MAX_DEPTH: usize = 64;

/// How deeply tables and arrays nest in `value`.
fn depth(value: &toml::Value) -> usize {
    match value {
        toml::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        toml::Value::Table(table) => 1 + table.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether a TOML value holds only finite floats (JSON has no NaN or infinity).
fn finite(value: &toml::Value) -> bool {
    match value {
        toml::Value::Float(f) => f.is_finite(),
        toml::Value::Array(items) => items.iter().all(finite),
        toml::Value::Table(table) => table.values().all(finite),
        _ => true,
    }
}

/// The server's configuration file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml(text) else {
        return;
    };
    config.validate().expect("a loaded configuration is valid");
    let written = toml::to_string(&config).expect("a configuration can be written");
    let again = Config::from_toml(&written)
        .unwrap_or_else(|e| panic!("the configuration written back does not load: {e}"));
    assert_eq!(
        again, config,
        "the configuration written back reads differently"
    );

    // `confab config` shows the masked configuration: no secret, and still TOML that reads.
    let shown = config.masked();
    for secret in [
        &shown.auth.jwt_secret,
        &shown.security.data_key,
        &shown.security.index_key,
        &shown.email.smtp.password,
        &shown.admin.token,
    ] {
        assert!(
            secret.is_empty() || secret == "***",
            "shown secret {secret:?}"
        );
    }
    for key in &shown.security.retired_data_keys {
        assert!(key.ends_with("***"), "shown retired key {key:?}");
    }
    let shown_text = toml::to_string(&shown).expect("a masked configuration can be written");
    toml::from_str::<Config>(&shown_text).expect("a masked configuration reads");
}
