//! Confab: a chat server whose behaviour operators change while it runs.
//!
//! Code map, top-down: [`app`] builds everything from a [`config::Config`]; [`api`] is the
//! REST edge; [`users`], [`friends`], [`groups`] and [`blocks`] are the services, with
//! [`facts`] keeping what rarely changes in memory; [`store`] holds the storage traits and
//! their SQL backends; [`crypto`], [`tokens`], [`mail`] and [`uploads`] are the edges for
//! secrets, JWTs, mail and files. See ARCHITECTURE.md for the invariants.

pub mod api;
pub mod app;
pub mod audit;
pub mod backup;
pub mod blocks;
pub mod bus;
pub mod config;
pub mod conversations;
pub mod crypto;
pub mod error;
pub mod facts;
pub mod friends;
pub mod friendships;
// The parsers' contracts, for the fuzz targets and the corpus replay test.
#[doc(hidden)]
pub mod fuzzing;
pub mod groups;
pub mod images;
pub mod mail;
pub mod messages;
pub mod metrics;
pub mod plugins;
pub mod presence;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod ws;

pub use app::App;
pub use config::Config;
pub use error::{Code, Error, Result};
