//! Fuzz target: the contract checked by `confab::fuzzing::client_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab::fuzzing::client_frame(data));
