//! End-to-end tests: each starts a real server on a free port and talks real HTTP.

mod accounts;
mod bad_input;
mod chat;
mod email;
mod friends;
mod groups;
mod mongo;
mod plugins;
mod redis;
mod storage;
mod tokens;
mod uploads;
