//! Fuzz target: the contract checked by `confab::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab::fuzzing::config(data));
