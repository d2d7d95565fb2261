//! The counters the message path keeps as it goes: plain atomics, owned by the part that
//! counts (the hub, the writer, the bus) and read only when `/metrics` is scraped.

use std::sync::atomic::{AtomicU64, Ordering};

use super::histogram::Histogram;

/// Why a send frame was answered with an error rather than an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The socket's or the user's send rate was exceeded.
    RateLimited,
    /// A plugin rejected the message (or failed closed).
    Plugin,
    /// The store did not take it in time, or failed.
    NotStored,
    /// Anything else: invalid, blocked, muted, not a member, no such recipient.
    Other,
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 4] = [
        Refusal::RateLimited,
        Refusal::Plugin,
        Refusal::NotStored,
        Refusal::Other,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::RateLimited => "rate_limited",
            Refusal::Plugin => "plugin",
            Refusal::NotStored => "not_stored",
            Refusal::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Send frames answered on this node's sockets, and message frames queued on them.
#[derive(Debug, Default)]
pub struct MessageStats {
    accepted: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
    delivered: AtomicU64,
}

impl MessageStats {
    /// A send was stored and acknowledged.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// A send was refused.
    pub fn refused(&self, why: Refusal) {
        self.refused[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A message frame was queued on `sockets` sockets.
    pub fn delivered(&self, sockets: u64) {
        if sockets > 0 {
            self.delivered.fetch_add(sockets, Ordering::Relaxed);
        }
    }

    /// Sends acknowledged so far.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Sends refused so far for `why`.
    pub fn refused_total(&self, why: Refusal) -> u64 {
        self.refused[why.index()].load(Ordering::Relaxed)
    }

    /// Message frames queued on sockets so far.
    pub fn delivered_total(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

/// The message writer's commits: how long each took and how many messages it held.
#[derive(Debug)]
pub struct StoreStats {
    /// Seconds from the start of a commit to its end (stored, failed or timed out).
    pub commit: Histogram,
    /// Messages per commit.
    pub batch: Histogram,
    failed: AtomicU64,
}

impl Default for StoreStats {
    fn default() -> Self {
        Self {
            commit: Histogram::latency(),
            batch: Histogram::batch(),
            failed: AtomicU64::new(0),
        }
    }
}

impl StoreStats {
    /// A commit failed or timed out.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Commits that failed or timed out so far.
    pub fn failed_total(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// What this node published on the bus, and how late it heard what others published.
#[derive(Debug)]
pub struct BusStats {
    published: AtomicU64,
    /// Seconds from another node's append of an event to this node reading it (a bus
    /// between nodes only).
    pub lag: Histogram,
}

impl Default for BusStats {
    fn default() -> Self {
        Self {
            published: AtomicU64::new(0),
            lag: Histogram::latency(),
        }
    }
}

impl BusStats {
    /// An event was published.
    pub fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    /// Events published so far.
    pub fn published_total(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}
