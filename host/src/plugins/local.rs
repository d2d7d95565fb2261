//! A single node's plugins: the plugins folder is the truth. The admin API writes into it
//! and the watcher reads it back, so a restart sees what the operator last saw. Each
//! function here runs with the registry's change lock held.

use std::sync::Arc;

use super::registry::{Registry, Staged, Wasm};
use super::storage::folder;
use super::PluginError;

/// Reads the whole folder and applies what changed.
pub(super) async fn rescan(registry: &Registry) {
    let stems = match folder::stems(&registry.dir) {
        Ok(stems) => stems,
        Err(error) => {
            tracing::error!(dir = %registry.dir.display(), error = %format!("{error:#}"), "cannot read the plugins folder");
            return;
        }
    };
    let known: Vec<String> = registry.read_entries().keys().cloned().collect();
    for gone in known.iter().filter(|name| !stems.contains(name)) {
        registry.unload(gone);
        tracing::info!(plugin = %gone, "plugin removed from the folder: unloaded");
    }
    for stem in &stems {
        if let Err(error) = load(registry, stem, false).await {
            tracing::error!(plugin = %stem, %error, "plugin change not applied");
        }
    }
    registry.rebuild_chains();
}

/// Loads `<name>.toml` + `<name>.wasm` if they changed (or always with `force`). On error
/// the old version stays and the error is recorded and returned.
pub(super) async fn load(registry: &Registry, name: &str, force: bool) -> Result<(), PluginError> {
    let result = try_load(registry, name, force).await;
    if let Err(error) = &result {
        registry.record_error(name, &error.to_string());
    }
    result
}

async fn try_load(registry: &Registry, name: &str, force: bool) -> Result<(), PluginError> {
    let files = folder::read(&registry.dir, name).map_err(PluginError::Refused)?;
    let wasm = Wasm::Bytes(Arc::new(files.wasm));
    let staged = registry
        .stage(
            name,
            &format!("{name}.toml"),
            &files.manifest,
            &files.sha256,
            &wasm,
            force,
        )
        .await?;
    registry.commit(name, staged, 0);
    Ok(())
}

/// Writes a checked plugin into the folder and puts it in place.
pub(super) fn install(
    registry: &Registry,
    name: &str,
    manifest: &str,
    wasm: &[u8],
    staged: Staged,
) -> Result<(), PluginError> {
    folder::write_atomically(
        &folder::file(&registry.dir, name, "toml"),
        manifest.as_bytes(),
    )?;
    folder::write_atomically(&folder::file(&registry.dir, name, "wasm"), wasm)?;
    registry.commit(name, staged, 0);
    registry.rebuild_chains();
    Ok(())
}

/// Unloads a plugin and deletes its files.
pub(super) fn remove(registry: &Registry, name: &str) -> Result<(), PluginError> {
    if !registry.unload(name) {
        return Err(PluginError::NotFound(name.to_owned()));
    }
    folder::remove(&registry.dir, name)?;
    registry.rebuild_chains();
    Ok(())
}

/// Edits a plugin's manifest file in place, keeping its comments and layout, and applies
/// it.
pub(super) async fn edit(
    registry: &Registry,
    name: &str,
    edit: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), String>,
) -> Result<(), PluginError> {
    if !registry.read_entries().contains_key(name) {
        return Err(PluginError::NotFound(name.to_owned()));
    }
    let path = folder::file(&registry.dir, name, "toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::Error::new(e).context(format!("reading {}", path.display())))?;
    let edited = folder::edit_manifest(name, &text, edit).map_err(PluginError::Refused)?;
    folder::write_atomically(&path, edited.as_bytes())?;
    load(registry, name, false).await
}

/// Reads a plugin's files again, recompiling, and clears its quarantine.
pub(super) async fn reload(registry: &Registry, name: &str) -> Result<(), PluginError> {
    if !registry.read_entries().contains_key(name)
        && !folder::file(&registry.dir, name, "toml").is_file()
    {
        return Err(PluginError::NotFound(name.to_owned()));
    }
    let result = load(registry, name, true).await;
    registry.rebuild_chains();
    result
}
