//! The test plugins tests/build.rs compiled, and installing one into a server's plugins
//! folder the way an operator would.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where tests/build.rs put the built plugins: `<dir-name>/plugin.wasm` and
/// `<dir-name>/plugin.toml` for each folder of tests/plugins, and for `minimal-plugin`.
pub const TEST_PLUGINS: &str = env!("CONFAB_TEST_PLUGINS");

/// The component and manifest of the test plugin built from the folder `dir_name` (for
/// example `stamp-v1` or `minimal-plugin`). Panics, listing the plugins there are, when it
/// was not built.
pub fn test_plugin(dir_name: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(TEST_PLUGINS).join(dir_name);
    let wasm = dir.join("plugin.wasm");
    let manifest = dir.join("plugin.toml");
    if !wasm.is_file() || !manifest.is_file() {
        panic!(
            "no test plugin `{dir_name}` in {TEST_PLUGINS} (built: {}); tests/build.rs builds \
             every folder of tests/plugins and examples/minimal-plugin",
            built_plugins().join(", ")
        );
    }
    (wasm, manifest)
}

/// Installs the test plugin `dir_name` into `plugins_dir` as `<name>.toml` and `<name>.wasm`,
/// and returns those two paths. Each file is written under a temporary name in the same
/// folder and renamed into place, manifest first, so a watching server never sees a partial
/// file or a component without its manifest. Installing over an existing plugin replaces it.
pub fn install_plugin(plugins_dir: &Path, dir_name: &str, name: &str) -> (PathBuf, PathBuf) {
    let (wasm, manifest) = test_plugin(dir_name);
    let installed_manifest = plugins_dir.join(format!("{name}.toml"));
    let installed_wasm = plugins_dir.join(format!("{name}.wasm"));
    copy_atomically(&manifest, &installed_manifest);
    copy_atomically(&wasm, &installed_wasm);
    (installed_wasm, installed_manifest)
}

/// Copies `from` to `to` through a temporary file beside `to` (a dot file with no `.wasm`
/// or `.toml` extension, which a plugin loader skips) and one rename.
fn copy_atomically(from: &Path, to: &Path) {
    let bytes =
        std::fs::read(from).unwrap_or_else(|error| panic!("read {}: {error}", from.display()));
    let dir = to.parent().expect("a plugin file path has a folder");
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .unwrap_or_else(|error| panic!("temporary file in {}: {error}", dir.display()));
    temp.write_all(&bytes)
        .and_then(|()| temp.as_file().sync_all())
        .unwrap_or_else(|error| panic!("write a temporary file in {}: {error}", dir.display()));
    temp.persist(to)
        .unwrap_or_else(|error| panic!("rename into {}: {error}", to.display()));
}

/// The names of the plugins tests/build.rs built, for error messages.
fn built_plugins() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(TEST_PLUGINS)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
