//! The plugins folder: `<name>.wasm` + `<name>.toml` pairs, read whole and written
//! atomically (a temporary file renamed into place), so a reader sees the old or the new
//! file, never a part.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::Digest;

use super::super::bundled;
use super::super::manifest;

/// A plugin's two files as read from the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPlugin {
    /// The manifest's text.
    pub manifest: String,
    /// The component.
    pub wasm: Vec<u8>,
    /// The component's sha256.
    pub sha256: String,
}

/// The path of `name`'s file with `extension` (`toml` or `wasm`).
pub fn file(dir: &Path, name: &str, extension: &str) -> PathBuf {
    dir.join(format!("{name}.{extension}"))
}

/// The plugin names in the folder: stems of `.toml` and `.wasm` files with a valid name.
pub fn stems(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let extension = path.extension()?.to_str()?;
            if extension != "toml" && extension != "wasm" {
                return None;
            }
            let stem = path.file_stem()?.to_str()?.to_owned();
            manifest::valid_name(&stem).then_some(stem)
        })
        .collect();
    stems.sort();
    stems.dedup();
    Ok(stems)
}

/// Reads `name`'s manifest and component; the error says which file and why.
pub fn read(dir: &Path, name: &str) -> Result<FolderPlugin, String> {
    let manifest = std::fs::read_to_string(file(dir, name, "toml"))
        .map_err(|e| format!("reading {name}.toml: {e}"))?;
    let wasm =
        std::fs::read(file(dir, name, "wasm")).map_err(|e| format!("reading {name}.wasm: {e}"))?;
    let sha256 = sha256(&wasm);
    Ok(FolderPlugin {
        manifest,
        wasm,
        sha256,
    })
}

/// Whether neither of `name`'s files is in the folder.
pub fn absent(dir: &Path, name: &str) -> bool {
    !file(dir, name, "toml").exists() && !file(dir, name, "wasm").exists()
}

/// The sha256 of a component, as hex.
pub fn sha256(wasm: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(wasm))
}

/// Writes a file so readers see the old or the new content, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a plugin file has a folder")?;
    let mut temp = tempfile::Builder::new()
        .prefix(".confab-")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, bytes).context("writing a plugin file")?;
    temp.persist(path).map_err(|e| {
        anyhow::Error::new(e.error).context(format!("replacing {}", path.display()))
    })?;
    Ok(())
}

/// Writes `name`'s two files, each only if its content differs (an unchanged file is not
/// touched, so the watcher has nothing to report). `wasm` is asked for only when the
/// component on disk is not the one with `sha256`.
pub fn write(
    dir: &Path,
    name: &str,
    manifest_text: &str,
    sha256_wanted: &str,
    wasm: impl FnOnce() -> Option<Vec<u8>>,
) -> anyhow::Result<()> {
    let toml = file(dir, name, "toml");
    if std::fs::read_to_string(&toml).ok().as_deref() != Some(manifest_text) {
        write_atomically(&toml, manifest_text.as_bytes())?;
    }
    let component = file(dir, name, "wasm");
    let on_disk = std::fs::read(&component).ok().map(|bytes| sha256(&bytes));
    if on_disk.as_deref() != Some(sha256_wanted) {
        if let Some(bytes) = wasm() {
            write_atomically(&component, &bytes)?;
        }
    }
    Ok(())
}

/// Deletes `name`'s two files; missing ones are fine.
pub fn remove(dir: &Path, name: &str) -> anyhow::Result<()> {
    for extension in ["wasm", "toml"] {
        let path = file(dir, name, extension);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("removing {}", path.display())))
            }
        }
    }
    Ok(())
}

/// Edits a manifest's text, keeping its comments and layout.
pub fn edit_manifest(
    name: &str,
    text: &str,
    edit: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), String>,
) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("{name}.toml: {e}"))?;
    edit(&mut doc)?;
    Ok(doc.to_string())
}

/// Writes the bundled plugins into a new plugins folder.
pub fn install_bundled(dir: &Path) -> anyhow::Result<()> {
    for plugin in bundled::BUNDLED {
        write_atomically(&file(dir, plugin.name, "toml"), plugin.manifest.as_bytes())?;
        write_atomically(&file(dir, plugin.name, "wasm"), plugin.wasm)?;
    }
    tracing::info!(dir = %dir.display(), count = bundled::BUNDLED.len(), "bundled plugins installed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_left_alone_and_changed_ones_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wasm = b"\0asm-pretend".to_vec();
        let sha = sha256(&wasm);
        write(dir.path(), "p", "name = \"p\"\n", &sha, || {
            Some(wasm.clone())
        })
        .expect("write");
        let read_back = read(dir.path(), "p").expect("read");
        assert_eq!(read_back.sha256, sha);
        // Same content: the component is not even asked for.
        write(dir.path(), "p", "name = \"p\"\n", &sha, || {
            panic!("the component on disk is already right")
        })
        .expect("rewrite");
        assert_eq!(stems(dir.path()).expect("stems"), ["p"]);
        remove(dir.path(), "p").expect("remove");
        remove(dir.path(), "p").expect("removing twice is fine");
        assert!(absent(dir.path(), "p"));
        assert!(read(dir.path(), "p").expect_err("gone").contains("p.toml"));
    }

    #[test]
    fn manifest_edits_keep_comments() {
        let text = "# mine\nname = \"p\"\nenabled = true\n";
        let edited = edit_manifest("p", text, |doc| {
            doc["enabled"] = toml_edit::value(false);
            Ok(())
        })
        .expect("edit");
        assert!(edited.contains("# mine") && edited.contains("enabled = false"));
        assert!(edit_manifest("p", "= nope", |_| Ok(())).is_err());
    }
}
