//! End-to-end tests: each starts a real server on a free port and talks real HTTP.

mod accounts;
mod admin;
mod bad_input;
mod chat;
mod docs;
mod email;
mod friends;
mod groups;
mod mongo;
mod plugin_units;
mod plugins;
mod redis;
mod storage;
mod tokens;
mod uploads;
mod web;
