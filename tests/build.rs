//! Builds the plugins the end-to-end tests load: every crate of tests/plugins and the
//! standalone example examples/minimal-plugin, compiled from source for wasm32-wasip2.
//!
//! Each plugin ends up as `$OUT_DIR/test-plugins/<folder>/plugin.wasm` beside its
//! `plugin.toml`, and `CONFAB_TEST_PLUGINS` tells the tests where (see src/plugins.rs).

use std::path::{Path, PathBuf};

#[path = "../host/build/wasm_build.rs"]
mod wasm_build;

fn main() {
    let tests_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = tests_dir
        .parent()
        .expect("the tests crate sits inside the repository")
        .to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target_dir = wasm_build::outer_target_dir(&out_dir).join("wasm-plugins");
    let installed = out_dir.join("test-plugins");

    let test_plugins = tests_dir.join("plugins");
    let example = root.join("examples/minimal-plugin");
    wasm_build::rerun_if_changed(&test_plugins);
    wasm_build::rerun_if_changed(&root.join("plugin-sdk/src"));
    wasm_build::rerun_if_changed(&root.join("plugin-sdk/wit"));
    println!(
        "cargo:rerun-if-changed={}",
        root.join("plugin-sdk/Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("host/build/wasm_build.rs").display()
    );

    // Start empty, so a plugin removed from the sources does not linger for the tests.
    match std::fs::remove_dir_all(&installed) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot clear {}: {error}", installed.display()),
    }

    let release = wasm_build::build(&test_plugins.join("Cargo.toml"), &target_dir);
    for dir in plugin_dirs(&test_plugins) {
        install(&dir, &release, &installed);
    }

    if example.join("Cargo.toml").is_file() {
        wasm_build::rerun_if_changed(&example);
        let release = wasm_build::build(&example.join("Cargo.toml"), &target_dir);
        install(&example, &release, &installed);
    } else {
        // Watching the parent notices the example when it is created, without making this
        // script stale on every build the way a missing path would.
        println!("cargo:rerun-if-changed={}", root.join("examples").display());
        println!(
            "cargo:warning=skipping examples/minimal-plugin: {} does not exist yet",
            example.join("Cargo.toml").display()
        );
    }

    println!(
        "cargo:rustc-env=CONFAB_TEST_PLUGINS={}",
        installed.display()
    );
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

/// The folders of the plugins workspace that hold a crate, in name order.
fn plugin_dirs(workspace: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(workspace)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", workspace.display()));
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Copies the component built from the crate in `crate_dir` and the crate's `plugin.toml`
/// into `installed/<folder name>/` as `plugin.wasm` and `plugin.toml`.
fn install(crate_dir: &Path, release: &Path, installed: &Path) {
    let folder = crate_dir
        .file_name()
        .expect("a plugin crate is a named folder");
    let wasm = release.join(format!("{}.wasm", lib_name(crate_dir)));
    let manifest = crate_dir.join("plugin.toml");
    assert!(
        wasm.is_file(),
        "building {} produced no {}; is it a member of its workspace with crate-type \
         \"cdylib\"?",
        crate_dir.display(),
        wasm.display()
    );
    assert!(
        manifest.is_file(),
        "the plugin {} has no plugin.toml",
        crate_dir.display()
    );
    let dest = installed.join(folder);
    std::fs::create_dir_all(&dest)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dest.display()));
    copy(&wasm, &dest.join("plugin.wasm"));
    copy(&manifest, &dest.join("plugin.toml"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|error| {
        panic!(
            "cannot copy {} to {}: {error}",
            from.display(),
            to.display()
        )
    });
}

/// The name of the `.wasm` file a crate builds: its `[lib] name`, else its package name,
/// with `-` turned into `_`. A few lines of parsing, because a build script of this crate
/// has no TOML parser (and the manifests are ours).
fn lib_name(crate_dir: &Path) -> String {
    let path = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let mut section = "";
    let mut package = None;
    let mut lib = None;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "name" {
            continue;
        }
        let value = value.trim().trim_matches('"').to_owned();
        match section {
            "[package]" => package = Some(value),
            "[lib]" => lib = Some(value),
            _ => {}
        }
    }
    lib.or(package)
        .unwrap_or_else(|| panic!("{} names no package", path.display()))
        .replace('-', "_")
}
