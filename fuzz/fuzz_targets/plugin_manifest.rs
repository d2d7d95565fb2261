//! Fuzz target: the contract checked by `confab::fuzzing::plugin_manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab::fuzzing::plugin_manifest(data));
