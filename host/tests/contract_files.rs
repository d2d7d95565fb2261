//! The committed contract files for client authors (docs/schema/) are what the code
//! generates: `confab schema openapi` and `confab schema ws-frames`, run without any
//! configuration, print exactly the committed files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository holds host/")
        .to_path_buf()
}

/// `confab schema <what>`'s output, run from an empty folder with no configuration.
fn generated(what: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["schema", what])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run confab");
    assert!(
        out.status.success(),
        "confab schema {what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn assert_committed(what: &str, file: &str) {
    let fresh = generated(what);
    let path = repository().join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "{file} is not what the code generates (first difference at line {}).\n\
             Regenerate it from the repository's root with\n\n    \
             cargo run -p confab -- schema {what} > {file}\n\n\
             then regenerate the TypeScript types with clients/typescript/generate.sh \
             and commit them with it.",
            first + 1
        );
    }
    let parsed: serde_json::Value = serde_json::from_str(&fresh).expect("JSON");
    assert!(parsed.is_object(), "{file} is a JSON object");
}

#[test]
fn the_frames_schema_is_committed_as_generated() {
    assert_committed("ws-frames", "docs/schema/ws-frames.schema.json");
}

#[test]
fn the_openapi_document_is_committed_as_generated() {
    assert_committed("openapi", "docs/schema/openapi.json");
}
