//! Builds the bundled plugins (`plugins/`) for wasm32-wasip2 and embeds them, so the
//! default run can install them into a new plugins folder.

#[path = "build/wasm_build.rs"]
mod wasm_build;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ has a parent")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let plugins = root.join("plugins");
    println!("cargo:rerun-if-changed=build/wasm_build.rs");
    wasm_build::rerun_if_changed(&plugins);
    for path in ["plugin-sdk/src", "plugin-sdk/wit", "plugin-sdk/Cargo.toml"] {
        wasm_build::rerun_if_changed(&root.join(path));
    }

    write_sdk_files(&root.join("plugin-sdk"), &out_dir);

    println!("cargo:rerun-if-env-changed=CONFAB_NO_BUNDLED_PLUGINS");
    if std::env::var_os("CONFAB_NO_BUNDLED_PLUGINS").is_some() {
        // For builds that only check the host's Rust (docs, quick checks): the binary
        // then has no plugins to install into a new folder.
        println!("cargo:warning=CONFAB_NO_BUNDLED_PLUGINS is set: no bundled plugins");
        std::fs::write(out_dir.join("bundled.rs"), "/// None: built with CONFAB_NO_BUNDLED_PLUGINS.\npub const BUNDLED: &[Bundled] = &[];\n").expect("writing bundled.rs");
        return;
    }
    let target_dir = wasm_build::outer_target_dir(&out_dir).join("wasm-plugins");
    let release = wasm_build::build(&plugins.join("Cargo.toml"), &target_dir);

    let mut code = String::from("/// The plugins built from `plugins/`, in folder order.\npub const BUNDLED: &[Bundled] = &[\n");
    for dir in members(&plugins) {
        let manifest = dir.join("plugin.toml");
        let crate_name = package_name(&dir.join("Cargo.toml")).replace('-', "_");
        let wasm = release.join(format!("{crate_name}.wasm"));
        assert!(
            wasm.is_file(),
            "the build did not produce {}",
            wasm.display()
        );
        let name = dir
            .file_name()
            .expect("a member folder has a name")
            .to_string_lossy()
            .into_owned();
        let copy = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&wasm, &copy).expect("copying a built plugin");
        writeln!(
            code,
            "    Bundled {{ name: {name:?}, manifest: include_str!({manifest:?}), wasm: include_bytes!({copy:?}) }},",
            manifest = manifest.display().to_string(),
            copy = copy.display().to_string(),
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("bundled.rs"), code).expect("writing bundled.rs");
}

/// Embeds the plugin SDK's sources and WIT (`sdk_files.rs`), so `confab plugin new` can
/// write the SDK beside a new plugin and the plugin builds anywhere, with no path of this
/// machine and no network.
fn write_sdk_files(sdk: &Path, out_dir: &Path) {
    let mut files = Vec::new();
    for folder in ["src", "wit"] {
        collect_files(&sdk.join(folder), &mut files);
    }
    files.sort();
    let mut code = String::from(
        "/// The plugin SDK's sources and WIT: (path inside the SDK, contents).\npub(crate) const SDK_FILES: &[(&str, &str)] = &[\n",
    );
    for file in files {
        let relative = file
            .strip_prefix(sdk)
            .expect("collected under the SDK folder")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            code,
            "    ({relative:?}, include_str!({path:?})),",
            path = file.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("sdk_files.rs"), code).expect("writing sdk_files.rs");
}

fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.push(path);
        }
    }
}

/// The plugin folders of the workspace: those with a `plugin.toml`, sorted.
fn members(plugins: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(plugins)
        .expect("reading plugins/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("plugin.toml").is_file() && p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The `name` of a crate's `[package]`.
fn package_name(cargo_toml: &Path) -> String {
    let text = std::fs::read_to_string(cargo_toml).expect("reading a plugin's Cargo.toml");
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
            {
                return value.trim().trim_matches('"').to_owned();
            }
        }
    }
    panic!("{} has no package name", cargo_toml.display());
}
