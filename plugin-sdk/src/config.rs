//! The plugin's configuration: the manifest's `[config]` table, or what an operator set
//! through the admin API, handed over as a JSON document (`{}` when there is none).
//!
//! Describe it as a serde type with a default for every key, and read it with [`get`] in
//! each call; parse it with [`parse`] in [`Plugin::check_config`](crate::Plugin::check_config)
//! so that the server refuses a bad configuration before applying it:
//!
//! ```
//! use confab_plugin_sdk::config;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Settings {
//!     limit: u32,
//!     window_secs: u64,
//! }
//!
//! impl Default for Settings {
//!     fn default() -> Self {
//!         Settings { limit: 3, window_secs: 0 }
//!     }
//! }
//!
//! let settings: Settings = config::parse(r#"{"limit": 5}"#).unwrap();
//! assert_eq!((settings.limit, settings.window_secs), (5, 0));
//! let error = config::parse::<Settings>(r#"{"limits": 5}"#).err().unwrap();
//! assert!(error.contains("unknown field `limits`"), "{error}");
//! ```
//!
//! In a hook, `config::get::<Settings>()` returns the parsed value, parsing the JSON only
//! when the configuration changed since the last call (the server bumps a version number
//! with each change). The parsed value lives in the plugin's memory, which the server may
//! reset at any time; it is then parsed again, so the cache is only an optimisation and a
//! plugin never sees a stale configuration.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::__bindings::confab::plugin::host;

/// The configuration as the JSON text the server holds.
pub fn raw() -> String {
    host::config()
}

/// A number that changes whenever the configuration changes.
pub fn version() -> u64 {
    host::config_version()
}

/// Parses a configuration document into `T`, with serde's description of what is wrong
/// (for example "unknown field `wrds`, expected `words` or `mode` at line 1 column 7").
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|error| error.to_string())
}

/// The current configuration parsed into `T`, parsed once per configuration change.
///
/// It comes in an [`Rc`] so that a hook reads it without copying it. An error is the
/// parse error; it can only happen when the plugin's [`check_config`] accepts documents
/// that `T` does not, since the server applies no configuration that check refused.
///
/// [`check_config`]: crate::Plugin::check_config
pub fn get<T: DeserializeOwned + 'static>() -> Result<Rc<T>, String> {
    cached(version(), raw)
}

/// One parsed configuration, for one type and one version.
struct Parsed {
    version: u64,
    type_id: TypeId,
    value: Result<Rc<dyn Any>, String>,
}

thread_local! {
    /// The parsed configurations, at most one per type, all of the same version. A plugin
    /// instance is single-threaded, so this is its one cache.
    static PARSED: RefCell<Vec<Parsed>> = const { RefCell::new(Vec::new()) };
}

/// The configuration of `version` parsed into `T`, from the cache or else from `load()`.
fn cached<T: DeserializeOwned + 'static>(
    version: u64,
    load: impl FnOnce() -> String,
) -> Result<Rc<T>, String> {
    let type_id = TypeId::of::<T>();
    let hit = PARSED.with_borrow(|parsed| {
        parsed
            .iter()
            .find(|entry| entry.version == version && entry.type_id == type_id)
            .map(|entry| entry.value.clone())
    });
    let value = match hit {
        Some(value) => value,
        None => {
            // Parsed with the cache released: a `Deserialize` impl may read the configuration too.
            let value = parse::<T>(&load()).map(|parsed| Rc::new(parsed) as Rc<dyn Any>);
            PARSED.with_borrow_mut(|parsed| {
                parsed.retain(|entry| entry.version == version && entry.type_id != type_id);
                parsed.push(Parsed {
                    version,
                    type_id,
                    value: value.clone(),
                });
            });
            value
        }
    };
    value.map(|any| {
        any.downcast::<T>()
            .unwrap_or_else(|_| unreachable!("entries are looked up by the TypeId of their type"))
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Limit {
        limit: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Words {
        #[serde(default)]
        words: Vec<String>,
    }

    #[test]
    fn a_configuration_is_parsed_once_per_version() {
        let loads = Cell::new(0);
        let load = |json: &'static str| {
            let loads = &loads;
            move || {
                loads.set(loads.get() + 1);
                json.to_owned()
            }
        };
        let first = cached::<Limit>(1, load(r#"{"limit": 3}"#)).expect("parses");
        assert_eq!(first.limit, 3);
        let again = cached::<Limit>(1, load(r#"{"limit": 99}"#)).expect("cached");
        assert_eq!(again.limit, 3, "same version, same value");
        assert_eq!(loads.get(), 1);
        let changed = cached::<Limit>(2, load(r#"{"limit": 5}"#)).expect("parses");
        assert_eq!(changed.limit, 5);
        assert_eq!(loads.get(), 2);
    }

    #[test]
    fn each_type_has_its_own_entry_and_errors_are_cached_too() {
        let json = || r#"{"words": ["a"]}"#.to_owned();
        let limit = cached::<Limit>(1, json);
        assert!(limit
            .expect_err("no limit")
            .contains("missing field `limit`"));
        let words = cached::<Words>(1, json).expect("parses");
        assert_eq!(words.words, vec!["a".to_owned()]);
        let error = cached::<Limit>(1, || unreachable!("cached")).expect_err("still bad");
        assert!(error.contains("limit"), "{error}");
        let words = cached::<Words>(1, || unreachable!("cached")).expect("cached");
        assert_eq!(words.words.len(), 1);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let error = parse::<Limit>(r#"{"limit": "three"}"#).expect_err("a string");
        assert!(error.contains("invalid type"), "{error}");
    }
}
