//! Builds a Cargo workspace of plugins for `wasm32-wasip2` from a build script.
//!
//! Shared by the host's build script (the bundled plugins) and the tests' (test plugins),
//! the way wasmtime builds its test programs: the plugins are compiled from source by the
//! normal build, never committed. The nested `cargo` gets a target folder of its own inside
//! the outer one, so the two never wait for each other's lock, and an environment cleaned of
//! what the outer build set for the host target (flags, wrappers such as clippy-driver).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every plugin is built for.
pub(crate) const TARGET: &str = "wasm32-wasip2";

/// Variables the outer build sets that must not reach the nested one.
const CLEARED: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
];

/// The outer build's target folder (the first ancestor of `OUT_DIR` holding the
/// `CACHEDIR.TAG` cargo writes there), else `OUT_DIR` itself.
pub(crate) fn outer_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out_dir)
        .to_path_buf()
}

/// Builds the workspace at `manifest` in release mode for [`TARGET`] into `target_dir`, and
/// returns the folder holding the `.wasm` files. Panics with the compiler's output on
/// failure: a build script has no better way to report.
pub(crate) fn build(manifest: &Path, target_dir: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--release")
        .arg("--workspace")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    for name in CLEARED {
        command.env_remove(name);
    }
    let output = command.output().unwrap_or_else(|error| {
        panic!(
            "could not run cargo to build {}: {error}",
            manifest.display()
        )
    });
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            format!("\nthe {TARGET} target is missing: run `rustup target add {TARGET}`")
        } else {
            String::new()
        };
        panic!(
            "building the plugins in {} failed:\n{stderr}{hint}",
            manifest.display()
        );
    }
    target_dir.join(TARGET).join("release")
}

/// Asks cargo to run the build script again when anything under `dir` changes, skipping
/// `target` folders (a plugin author building in place must not trigger rebuilds).
pub(crate) fn rerun_if_changed(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        println!("cargo:rerun-if-changed={}", dir.display());
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rerun_if_changed(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
