//! Writing to the server's log. Each line is tagged with the plugin's name by the server.
//!
//! Every function takes anything that implements [`Display`], so both a plain `&str` and
//! `format_args!` work without building a `String` first:
//!
//! ```no_run
//! use confab_plugin_sdk::log;
//!
//! log::info("configuration loaded");
//! log::warn(format_args!("{} words in the list, the limit is {}", 1200, 1000));
//! ```
//!
//! (`no_run` because the host functions exist only inside the server.) Logging is a call
//! into the server; keep it out of the per-message path unless something is wrong.

use std::fmt::Display;

use crate::__bindings::confab::plugin::host;

/// How much a log line matters.
pub use crate::__bindings::confab::plugin::host::Level;

/// Writes `message` to the server's log at `level`.
pub fn log(level: Level, message: impl Display) {
    host::log(level, &message.to_string());
}

/// Writes `message` at [`Level::Trace`]: detail only useful when hunting a bug.
pub fn trace(message: impl Display) {
    log(Level::Trace, message);
}

/// Writes `message` at [`Level::Debug`]: what the plugin decided and why.
pub fn debug(message: impl Display) {
    log(Level::Debug, message);
}

/// Writes `message` at [`Level::Info`]: something an operator may want to know.
pub fn info(message: impl Display) {
    log(Level::Info, message);
}

/// Writes `message` at [`Level::Warn`]: something is off but the plugin carries on.
pub fn warn(message: impl Display) {
    log(Level::Warn, message);
}

/// Writes `message` at [`Level::Error`]: the plugin cannot do its job.
pub fn error(message: impl Display) {
    log(Level::Error, message);
}
