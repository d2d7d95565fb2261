//! End-to-end tests: each starts a real server on a free port and talks real HTTP.

mod accounts;
mod admin;
mod bad_input;
mod chat;
mod docs;
mod email;
mod friends;
mod groups;
mod hardening;
mod http_limits;
mod mongo;
mod paging;
mod plugin_units;
mod plugins;
mod redis;
mod socket_limits;
mod storage;
mod throttles;
mod tokens;
mod uploads;
mod web;
