//! Derives the 0.1.0 interface this plugin is built against from the one WIT file.
//!
//! The interface lives only in plugin-sdk/wit/confab-plugin.wit, at its newest version. A
//! patch release only adds items marked `@since(version = …)` (see CHANGELOG.md there), so
//! the 0.1.0 interface is that file with the package version set back to 0.1.0 and every
//! item introduced after 0.1.0 removed. The result goes to `$OUT_DIR/wit`, which `generate!`
//! reads through `concat!(env!("OUT_DIR"), "/wit")`.

use std::path::{Path, PathBuf};

/// The interface version this plugin speaks.
const OLD: (u64, u64, u64) = (0, 1, 0);

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let source = manifest_dir.join("../../../plugin-sdk/wit/confab-plugin.wit");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");

    let wit = std::fs::read_to_string(&source)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", source.display()));
    let old = downgrade(&wit);

    let out = PathBuf::from(env("OUT_DIR")).join("wit");
    std::fs::create_dir_all(&out)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", out.display()));
    write(&out.join("confab-plugin.wit"), &old);
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

/// Rewrites the package version to [`OLD`] and removes every item whose `@since` version is
/// newer: its doc comment, the annotation and the declaration after it (one line up to `;`,
/// or a braced block).
fn downgrade(wit: &str) -> String {
    let lines: Vec<&str> = wit.lines().collect();
    let mut kept: Vec<String> = Vec::with_capacity(lines.len());
    let mut package_found = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("package confab:plugin@") {
            let suffix = rest.split_once(';').map_or("", |(_, after)| after);
            let indent = &line[..line.len() - line.trim_start().len()];
            kept.push(format!(
                "{indent}package confab:plugin@{}.{}.{};{suffix}",
                OLD.0, OLD.1, OLD.2
            ));
            package_found = true;
            i += 1;
            continue;
        }
        if let Some(version) = since(trimmed) {
            if version > OLD {
                // The doc comment above belongs to the removed item.
                while kept
                    .last()
                    .is_some_and(|l| l.trim_start().starts_with("///"))
                {
                    kept.pop();
                }
                i = end_of_declaration(&lines, i + 1);
                continue;
            }
        }
        kept.push(line.to_owned());
        i += 1;
    }
    assert!(
        package_found,
        "confab-plugin.wit has no `package confab:plugin@…;` line"
    );
    let mut text = kept.join("\n");
    text.push('\n');
    text
}

/// The version in a `@since(version = x.y.z)` line.
fn since(line: &str) -> Option<(u64, u64, u64)> {
    let inner = line.strip_prefix("@since(")?.strip_suffix(')')?;
    let version = inner
        .split(',')
        .find_map(|part| part.trim().strip_prefix("version"))?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    let mut parts = version.split('.').map(|n| {
        n.parse::<u64>()
            .unwrap_or_else(|_| panic!("bad version in WIT annotation `{line}`"))
    });
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(major), Some(minor), Some(patch), None) => Some((major, minor, patch)),
        _ => panic!("bad version in WIT annotation `{line}`"),
    }
}

/// The index of the first line after the declaration starting at `start`.
fn end_of_declaration(lines: &[&str], start: usize) -> usize {
    let mut depth = 0i64;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let code = line.split("//").next().unwrap_or("");
        depth += code.matches('{').count() as i64;
        depth -= code.matches('}').count() as i64;
        if depth <= 0 && (code.trim_end().ends_with(';') || code.trim_end().ends_with('}')) {
            return i + 1;
        }
    }
    panic!("unterminated declaration after a `@since` annotation in confab-plugin.wit")
}
