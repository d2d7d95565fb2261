//! The contracts of the parsers that read untrusted input, as checks over raw bytes: the
//! fuzz targets in `fuzz/` run them under libFuzzer (nightly), and
//! `host/tests/fuzz_corpus.rs` replays the saved corpora through them on every
//! `cargo test` (stable), so an input that once kept a contract keeps it.
//!
//! A check panics when a contract is broken, never because the parser refused its input:
//! refusing is the parser's job. Input a parser is never handed in the server (a WebSocket
//! text frame that is not UTF-8) is skipped.

mod files;
mod frames;
mod params;
mod sealed;

pub use files::{config, plugin_manifest};
pub use frames::client_frame;
pub use params::{params_json, params_multipart, params_urlencoded};
pub use sealed::sealed_field;

/// A contract check over one input.
pub type Check = fn(&[u8]);

/// Every target: the name of its fuzz target and corpus folder, and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("client_frame", client_frame),
    ("params_urlencoded", params_urlencoded),
    ("params_json", params_json),
    ("params_multipart", params_multipart),
    ("plugin_manifest", plugin_manifest),
    ("config", config),
    ("sealed_field", sealed_field),
];

/// Whether two floats are equal within their last digits. serde_json reads decimal
/// fractions quickly rather than exactly (its `float_roundtrip` feature is off), so a float
/// written as JSON and read back can move by a unit in the last place.
fn close(x: f64, y: f64) -> bool {
    let bound = 4.0 * f64::EPSILON * x.abs().max(y.abs());
    x == y || (x - y).abs() <= bound.max(f64::MIN_POSITIVE)
}
