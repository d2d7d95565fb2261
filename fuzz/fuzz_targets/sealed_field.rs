//! Fuzz target: the contract checked by `confab::fuzzing::sealed_field`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab::fuzzing::sealed_field(data));
