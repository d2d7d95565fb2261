//! `confab plugin new`: writes a plugin crate to start from, a small message filter that
//! builds on its own for `wasm32-wasip2` and installs as it is.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::plugins::manifest::valid_name;

/// Where a scaffolded plugin finds `confab-plugin-sdk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// The SDK this binary carries, written into the new crate's `confab-plugin-sdk/`
    /// folder: the crate then builds anywhere, offline, with no path of this machine.
    Bundled,
    /// A folder holding the SDK's sources (a checkout of Confab, say).
    Path(PathBuf),
    /// A version requirement on the published crate.
    Version(String),
}

/// The folder inside a new crate that holds the bundled SDK.
pub const BUNDLED_SDK_DIR: &str = "confab-plugin-sdk";

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));
}

impl Sdk {
    /// An SDK folder given by the user, made absolute so the new crate can live anywhere.
    pub fn from_folder(folder: &Path) -> anyhow::Result<Self> {
        let path = folder
            .canonicalize()
            .with_context(|| format!("the SDK folder {} does not exist", folder.display()))?;
        if !path.join("Cargo.toml").is_file() {
            bail!(
                "{} holds no Cargo.toml: it is not the confab-plugin-sdk folder",
                path.display()
            );
        }
        Ok(Sdk::Path(path))
    }

    /// The value of the dependency in the new crate's Cargo.toml.
    fn dependency(&self) -> String {
        format!("{{ {} }}", self.source())
    }

    /// The same dependency with the SDK's `testing` feature, for the tests.
    fn dependency_with_testing(&self) -> String {
        format!("{{ {}, features = [\"testing\"] }}", self.source())
    }

    /// `path = "..."` or `version = "..."`, quoted as TOML.
    fn source(&self) -> String {
        let (key, value) = match self {
            Sdk::Bundled => ("path", BUNDLED_SDK_DIR.to_owned()),
            Sdk::Path(path) => ("path", path.to_string_lossy().into_owned()),
            Sdk::Version(version) => ("version", version.clone()),
        };
        format!("{key} = {}", toml::Value::String(value))
    }
}

/// The SDK's version, which moves with the interface's minor version (a test holds it to
/// `plugin-sdk/Cargo.toml`).
const SDK_VERSION: &str = "0.2.0";

/// The bundled SDK's own Cargo.toml. The SDK's manifest in the source tree inherits from
/// Confab's workspace, which a copy cannot; a test holds the two to the same dependencies.
fn bundled_sdk_manifest() -> String {
    format!(
        r#"# The Confab plugin SDK {sdk_version}, as shipped with confab {version}. Keep it beside the
# plugin, or point the plugin at the published crate instead.
[package]
name = "confab-plugin-sdk"
version = "{sdk_version}"
edition = "2021"
license = "MIT OR Apache-2.0"
description = "Write Confab plugins: message filters, group policies and upload guards as wasm components"
publish = false

[features]
# `testing`: checks a plugin's manifest against the plugin in its own native tests.
testing = ["dep:toml"]

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
toml = {{ version = "0.8", optional = true }}
wit-bindgen = {{ version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }}
"#,
        version = env!("CARGO_PKG_VERSION"),
        sdk_version = SDK_VERSION,
    )
}

/// Writes the bundled SDK into `root/confab-plugin-sdk`.
fn write_bundled_sdk(root: &Path) -> anyhow::Result<()> {
    let sdk = root.join(BUNDLED_SDK_DIR);
    let mut files = vec![("Cargo.toml", bundled_sdk_manifest())];
    files.extend(
        embedded::SDK_FILES
            .iter()
            .map(|(path, text)| (*path, (*text).to_owned())),
    );
    for (relative, text) in files {
        let path = sdk.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes the plugin crate `name` into `dir/name` and returns that folder.
///
/// Refuses a name no plugin can have (it is also the file stem the server loads) and a
/// folder that already holds something, so nothing is ever overwritten.
pub fn scaffold(name: &str, dir: &Path, sdk: &Sdk) -> anyhow::Result<PathBuf> {
    if !valid_name(name) {
        bail!(
            "{name:?} cannot be a plugin name: use 1 to 64 characters of a-z, 0-9 and '-', \
             starting with a letter"
        );
    }
    let root = dir.join(name);
    if root.exists() {
        let mut entries = std::fs::read_dir(&root)
            .with_context(|| format!("{} exists and is not a readable folder", root.display()))?;
        if entries.next().is_some() {
            bail!("{} already exists and is not empty", root.display());
        }
    }
    std::fs::create_dir_all(root.join("src"))
        .with_context(|| format!("creating {}", root.display()))?;
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk)),
        ("src/lib.rs", lib_rs(name)),
        ("plugin.toml", manifest(name)),
        ("README.md", readme(name)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (file, text) in files {
        let path = root.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if *sdk == Sdk::Bundled {
        write_bundled_sdk(&root)?;
    }
    Ok(root)
}

/// The file cargo writes for the crate `name` (cargo turns '-' into '_' in library names).
fn wasm_file(name: &str) -> String {
    format!("{}.wasm", name.replace('-', "_"))
}

fn cargo_toml(name: &str, sdk: &Sdk) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
# A cdylib is what becomes a WebAssembly component on wasm32-wasip2.
crate-type = ["cdylib"]

[dependencies]
confab-plugin-sdk = {dependency}
serde = {{ version = "1", features = ["derive"] }}

[dev-dependencies]
# `testing` checks plugin.toml against the plugin in `cargo test`.
confab-plugin-sdk = {testing}

[profile.release]
# Small components load faster; a panic is a trap the server reports anyway.
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A workspace of its own, so it builds alone, even inside another workspace.
[workspace]
"#,
        dependency = sdk.dependency(),
        testing = sdk.dependency_with_testing(),
    )
}

fn lib_rs(name: &str) -> String {
    LIB_RS.replace("{name}", name)
}

const LIB_RS: &str = r##"//! {name}: a Confab message filter. A message containing a blocked word is refused; every
//! other message passes unchanged.
//!
//! The blocked words are its configuration: the `[config]` table of plugin.toml, which
//! operators change while the server runs with `PUT /admin/plugins/{name}/config`.

use confab_plugin_sdk::{config, log, Hook, Message, Plugin, Rejection, Verdict};
use serde::Deserialize;

/// The code a refused sender sees: Confab's "rejected by a plugin".
const REJECTED: u32 = 30013;

/// The configuration. Unknown keys are refused, so a typo is caught when it is set.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Words a message may not contain, compared without regard to case.
    blocked: Vec<String>,
}

/// The plugin: a unit struct, since a plugin keeps no state between calls.
pub struct Filter;

impl Plugin for Filter {
    // The hooks this plugin takes part in; the server calls no others.
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn check_config(json: &str) -> Result<(), String> {
        let settings: Settings = config::parse(json)?;
        if settings.blocked.iter().any(|word| word.trim().is_empty()) {
            return Err("blocked must not contain empty words".to_owned());
        }
        Ok(())
    }

    fn filter_message(message: Message) -> Verdict {
        // Parsed once per configuration change, not once per message.
        let settings = match config::get::<Settings>() {
            Ok(settings) => settings,
            Err(error) => {
                log::error(format_args!("unreadable configuration: {error}"));
                return Verdict::Allow;
            }
        };
        match blocked_word(&settings.blocked, &message.content) {
            Some(word) => {
                log::debug(format_args!("refused a message containing {word:?}"));
                Verdict::Reject(Rejection {
                    code: REJECTED,
                    reason: "your message contains a blocked word".to_owned(),
                })
            }
            None => Verdict::Allow,
        }
    }
}

// Writes the component's exports, which call the methods above.
confab_plugin_sdk::export!(Filter);

/// The first of `blocked` that `text` contains, ignoring case. A plain function, so a
/// native `cargo test` can call it.
fn blocked_word<'a>(blocked: &'a [String], text: &str) -> Option<&'a str> {
    let text = text.to_lowercase();
    blocked
        .iter()
        .map(|word| word.trim())
        .find(|word| !word.is_empty() && text.contains(&word.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_words_are_found_in_any_case() {
        let blocked = vec!["spam".to_owned()];
        assert_eq!(blocked_word(&blocked, "Buy SPAM now"), Some("spam"));
        assert_eq!(blocked_word(&blocked, "hello"), None);
        assert_eq!(blocked_word(&[], "spam"), None);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Filter::check_config(r#"{"blocked": ["spam"]}"#).is_ok());
        assert!(Filter::check_config("{}").is_ok());
        assert!(Filter::check_config(r#"{"blocked": [""]}"#).is_err());
        assert!(Filter::check_config(r#"{"blocked": "spam"}"#).is_err());
        assert!(Filter::check_config(r#"{"blokked": []}"#)
            .unwrap_err()
            .contains("blokked"));
    }

    #[test]
    fn the_manifest_matches_the_plugin() {
        confab_plugin_sdk::testing::check_manifest::<Filter>(include_str!("../plugin.toml"))
            .expect("plugin.toml");
    }
}
"##;

fn manifest(name: &str) -> String {
    format!(
        r#"# The manifest of {name}. Install it as {name}.toml beside {name}.wasm.
name = "{name}"
version = "0.1.0"
description = "Rejects messages containing a blocked word"
# The hooks it takes part in; each must be one the plugin implements.
hooks = ["filter-message"]
# Its place in each chain: lower runs first, ties by name.
order = 100
# What a trap or a timeout means: "open" lets the message through, "closed" rejects it.
failure = "open"
enabled = true

# Memory per instance and the deadline of one call; the server's defaults when left out.
# [limits]
# memory_mib = 16
# deadline_ms = 10

# Handed to the plugin as JSON; operators change it with the admin API.
[config]
blocked = ["spam"]
"#
    )
}

fn readme(name: &str) -> String {
    let wasm = wasm_file(name);
    format!(
        r#"# {name}

A Confab plugin: a message filter that rejects messages containing a word from its
`blocked` list and lets the others through. Start from `src/lib.rs`; the manifest is
`plugin.toml`. When the crate was made by `confab plugin new` without `--sdk`, the plugin SDK
it builds against is in `confab-plugin-sdk/`, so it builds on any machine with Rust.

## Build

```sh
rustup target add wasm32-wasip2   # once
cargo build --release --target wasm32-wasip2
```

The component is `target/wasm32-wasip2/release/{wasm}`. Check it, and that the manifest's
hooks are ones it implements, without a server:

```sh
confab plugin check target/wasm32-wasip2/release/{wasm} --manifest plugin.toml
```

## Install

Either copy both files into the server's plugins folder (`[plugins] dir`, by default
`<data_dir>/plugins`); a running server picks them up:

```sh
cp target/wasm32-wasip2/release/{wasm} <plugins folder>/{name}.wasm
cp plugin.toml <plugins folder>/{name}.toml
```

or upload them through the admin API with the admin token (`[admin] token`, or the one
generated into `<data_dir>/secrets/admin.token`):

```sh
curl -H "Authorization: Bearer $CONFAB_ADMIN_TOKEN" \
     -F manifest=@plugin.toml \
     -F wasm=@target/wasm32-wasip2/release/{wasm} \
     http://127.0.0.1:8080/admin/plugins
```

`GET /admin/plugins/{name}` then shows its state and counters, and
`PUT /admin/plugins/{name}/config` changes its `blocked` list while it runs:

```sh
curl -X PUT -H "Authorization: Bearer $CONFAB_ADMIN_TOKEN" \
     -H 'Content-Type: application/json' -d '{{"blocked": ["spam", "scam"]}}' \
     http://127.0.0.1:8080/admin/plugins/{name}/config
```
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::manifest::{Hook, Manifest};

    fn sdk() -> Sdk {
        Sdk::Path(PathBuf::from("/opt/confab/plugin-sdk"))
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "",
            "Upper",
            "1st",
            "has space",
            "../escape",
            "a/b",
            "snake_case",
        ] {
            let error = scaffold(name, dir.path(), &sdk()).expect_err(name);
            assert!(error.to_string().contains("plugin name"), "{name}: {error}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("read").count(),
            0,
            "nothing was written"
        );
    }

    #[test]
    fn an_existing_folder_with_files_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("taken");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::write(root.join("notes.txt"), "mine").expect("write");
        let error = scaffold("taken", dir.path(), &sdk()).expect_err("refused");
        assert!(error.to_string().contains("not empty"), "{error}");
        assert_eq!(
            std::fs::read_to_string(root.join("notes.txt")).expect("kept"),
            "mine"
        );
        assert!(!root.join("Cargo.toml").exists());

        // An empty folder is fine: people often create it first.
        std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
        scaffold("empty", dir.path(), &sdk()).expect("an empty folder is used");
    }

    #[test]
    fn the_crate_and_its_manifest_are_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = scaffold("my-filter", dir.path(), &sdk()).expect("scaffold");
        assert_eq!(root, dir.path().join("my-filter"));

        let cargo: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
            .expect("Cargo.toml")
            .parse()
            .expect("Cargo.toml is TOML");
        assert_eq!(cargo["package"]["name"].as_str(), Some("my-filter"));
        assert_eq!(
            cargo["lib"]["crate-type"].as_array().expect("crate-type")[0].as_str(),
            Some("cdylib")
        );
        assert!(cargo["workspace"].is_table(), "builds standalone");
        assert_eq!(
            cargo["dependencies"]["confab-plugin-sdk"]["path"].as_str(),
            Some("/opt/confab/plugin-sdk")
        );

        let manifest = Manifest::parse(
            &std::fs::read_to_string(root.join("plugin.toml")).expect("plugin.toml"),
        )
        .expect("the manifest is valid");
        assert_eq!(manifest.name, "my-filter");
        assert_eq!(manifest.hooks, vec![Hook::FilterMessage]);

        let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib.rs");
        assert!(lib.starts_with("//! my-filter:"), "{lib}");
        assert!(!lib.contains("{name}"), "every placeholder is filled");
        let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
        assert!(readme.contains("cargo build --release --target wasm32-wasip2"));
        assert!(readme.contains("release/my_filter.wasm"), "{readme}");
        assert!(readme.contains("my-filter.toml"));
    }

    #[test]
    fn a_published_sdk_is_a_version_requirement() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = scaffold("remote", dir.path(), &Sdk::Version("0.1".to_owned())).expect("ok");
        let cargo: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
            .expect("Cargo.toml")
            .parse()
            .expect("TOML");
        assert_eq!(
            cargo["dependencies"]["confab-plugin-sdk"]["version"].as_str(),
            Some("0.1")
        );
        assert_eq!(
            cargo["dev-dependencies"]["confab-plugin-sdk"]["features"][0].as_str(),
            Some("testing")
        );
    }

    #[test]
    fn the_bundled_sdk_is_written_into_the_crate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = scaffold("carried", dir.path(), &Sdk::Bundled).expect("scaffold");
        let cargo: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
            .expect("Cargo.toml")
            .parse()
            .expect("TOML");
        assert_eq!(
            cargo["dependencies"]["confab-plugin-sdk"]["path"].as_str(),
            Some(BUNDLED_SDK_DIR),
            "a relative path: no folder of the machine that built the server"
        );
        let sdk = root.join(BUNDLED_SDK_DIR);
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
        // Every file of the SDK's sources and WIT is there, byte for byte.
        for (relative, _) in embedded::SDK_FILES {
            assert_eq!(
                std::fs::read(sdk.join(relative)).expect(relative),
                std::fs::read(source.join(relative)).expect(relative),
                "{relative}"
            );
        }
        assert!(sdk.join("wit/confab-plugin.wit").is_file());
        assert!(sdk.join("src/lib.rs").is_file());
        let manifest = std::fs::read_to_string(sdk.join("Cargo.toml")).expect("SDK manifest");
        assert!(!manifest.contains("workspace"), "{manifest}");
    }

    /// The bundled SDK's manifest declares what the SDK in the source tree does: the same
    /// dependencies with the same requirements and features (workspace ones resolved).
    #[test]
    fn the_bundled_sdk_manifest_matches_the_source_tree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |path: PathBuf| -> toml::Table {
            std::fs::read_to_string(&path)
                .expect("readable")
                .parse()
                .expect("TOML")
        };
        let workspace = read(root.join("Cargo.toml"));
        let source = read(root.join("plugin-sdk/Cargo.toml"));
        let bundled: toml::Table = bundled_sdk_manifest().parse().expect("TOML");
        let resolve = |name: &str, spec: &toml::Value| -> (String, Vec<String>, bool) {
            let spec = match spec {
                toml::Value::Table(t) if t.get("workspace").is_some() => {
                    let mut merged = match &workspace["workspace"]["dependencies"][name] {
                        toml::Value::Table(w) => w.clone(),
                        other => {
                            let mut t = toml::Table::new();
                            t.insert("version".into(), other.clone());
                            t
                        }
                    };
                    for (k, v) in t {
                        if k != "workspace" {
                            merged.insert(k.clone(), v.clone());
                        }
                    }
                    toml::Value::Table(merged)
                }
                other => other.clone(),
            };
            match spec {
                toml::Value::String(version) => (version, Vec::new(), false),
                toml::Value::Table(t) => {
                    let mut features: Vec<String> = t
                        .get("features")
                        .and_then(|f| f.as_array())
                        .map(|f| {
                            f.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    features.sort();
                    (
                        t["version"].as_str().expect("a version").to_owned(),
                        features,
                        t.get("optional").and_then(|o| o.as_bool()).unwrap_or(false),
                    )
                }
                other => panic!("unexpected dependency {other:?}"),
            }
        };
        let deps = |manifest: &toml::Table| {
            let mut list: Vec<_> = manifest["dependencies"]
                .as_table()
                .expect("dependencies")
                .iter()
                .map(|(name, spec)| (name.clone(), resolve(name, spec)))
                .collect();
            list.sort();
            list
        };
        assert_eq!(deps(&bundled), deps(&source));
        assert_eq!(bundled["features"], source["features"]);
        assert_eq!(
            bundled["package"]["version"].as_str(),
            source["package"]["version"].as_str()
        );
    }
}
