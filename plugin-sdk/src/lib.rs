//! The SDK for Confab plugins.
//!
//! Confab runs message filters, group policies and upload guards as WebAssembly components.
//! This crate will hold the one copy of the plugin interface (`wit/`) and the trait and
//! export macro a plugin author implements. It is empty until the plugin runtime lands;
//! the host's `GroupPolicy` seam (`confab::groups::GroupPolicy`) is the first interface it
//! will expose.
#![deny(missing_docs)]
