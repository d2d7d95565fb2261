//! The bundled plugins' and the example plugin's own unit tests, run natively, so the one
//! test command covers them too. Their crates live outside the main workspace (they are
//! built for wasm32-wasip2), so a nested cargo runs them, in a target folder of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn run_unit_tests(manifest: &str) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("plugin-unit-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .arg("test")
        .arg("--manifest-path")
        .arg(root().join(manifest))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the unit tests of {manifest} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("test result: ok"),
        "no tests ran for {manifest}:\n{stdout}"
    );
}

#[test]
fn the_bundled_plugins_pass_their_unit_tests() {
    run_unit_tests("plugins/Cargo.toml");
}

#[test]
fn the_minimal_example_plugin_passes_its_unit_tests() {
    run_unit_tests("examples/minimal-plugin/Cargo.toml");
}
