//! Replays the fuzz corpora through the contracts their fuzz targets check, on the stable
//! toolchain and without cargo-fuzz: every file of `fuzz/corpus/<target>/` (and every
//! kept crash reproducer in `fuzz/artifacts/<target>/`) goes through
//! `confab::fuzzing::<target>`, the same function the fuzz target calls. An input that
//! once kept its parser's contract and no longer does fails `cargo test`.

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use confab::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_keeps_its_parsers_contract() {
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{target} has no inputs: run the target to seed it"
        );
        let artifacts = inputs(&fuzz_dir().join("artifacts").join(target));
        for file in corpus.iter().chain(&artifacts) {
            let data =
                std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "inputs that break their parser's contract (the panic of each is printed above; \
         reproduce one with `cargo +nightly fuzz run <target> <file>`):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_corpus_folder_is_a_target() {
    let targets: BTreeSet<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    for folder in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(folder)) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a readable folder entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                targets.contains(name.as_ref()),
                "fuzz/{folder}/{name} belongs to no target of confab::fuzzing::TARGETS"
            );
        }
    }
    let declared = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for target in &targets {
        assert!(
            declared.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml declares no fuzz target {target}"
        );
        assert!(
            fuzz_dir()
                .join(format!("fuzz_targets/{target}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{target}.rs is missing"
        );
    }
}
