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
    ensure_target(target_dir);
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

/// Makes sure the standard library for [`TARGET`] is installed, adding it with rustup when
/// it is missing. rustup installs the targets of `rust-toolchain.toml` only when it installs
/// the toolchain itself, so a machine that already had the pinned Rust lacks it; the build
/// adds it (and says so) rather than failing. Without rustup it stops with the command to
/// run. The host's and the tests' build scripts may get here at once: a lock folder beside
/// the plugins' target folder makes one of them install while the other waits.
fn ensure_target(target_dir: &Path) {
    if target_installed() {
        return;
    }
    let rustup = std::env::var("RUSTUP").unwrap_or_else(|_| "rustup".to_owned());
    let has_rustup = Command::new(&rustup)
        .arg("--version")
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !has_rustup {
        panic!(
            "the {TARGET} target is missing and rustup was not found to add it; install the \
             standard library for {TARGET} (with rustup: `rustup target add {TARGET}`) and \
             build again"
        );
    }
    std::fs::create_dir_all(target_dir).unwrap_or_else(|error| {
        panic!("cannot create {}: {error}", target_dir.display());
    });
    let lock = target_dir.join(".target-install.lock");
    let _guard = LockDir::acquire(&lock);
    if target_installed() {
        return;
    }
    println!(
        "cargo:warning=the {TARGET} target is missing: adding it with `rustup target add {TARGET}`"
    );
    let mut command = Command::new(&rustup);
    command.args(["target", "add", TARGET]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        command.args(["--toolchain", &toolchain]);
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("could not run rustup: {error}"));
    if !output.status.success() || !target_installed() {
        panic!(
            "`rustup target add {TARGET}` failed:\n{}{}\nrun it by hand and build again",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Whether the sysroot of the compiler cargo uses holds a standard library for [`TARGET`].
fn target_installed() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .any(|entry| entry.file_name().to_string_lossy().starts_with("libcore-"))
                })
                .unwrap_or(false)
        }
        _ => false,
    }
}

/// A lock held as a folder: creating a folder is atomic, and a build script has no
/// file-locking crate. A lock older than ten minutes is taken to be left by a killed build.
struct LockDir(PathBuf);

impl LockDir {
    fn acquire(path: &Path) -> Self {
        let started = std::time::Instant::now();
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return Self(path.to_path_buf()),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(path)
                        .and_then(|meta| meta.modified())
                        .ok()
                        .and_then(|modified| modified.elapsed().ok())
                        .is_some_and(|age| age.as_secs() > 600);
                    if stale || started.elapsed().as_secs() > 900 {
                        let _ = std::fs::remove_dir(path);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(error) => panic!("cannot create {}: {error}", path.display()),
            }
        }
    }
}

impl Drop for LockDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
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
