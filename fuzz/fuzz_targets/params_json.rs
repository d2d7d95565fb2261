//! Fuzz target: the contract checked by `confab::fuzzing::params_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab::fuzzing::params_json(data));
