//! What operators see of each plugin: call counters, a latency histogram, and a short log
//! of recent verdicts (rejections, rewrites, denials and failures) for auditing rules.
//!
//! In a cluster each node reports its counters as a [`CounterSnapshot`] (whose histogram
//! adds up across nodes, where percentiles would not), and its verdict log also forwards
//! every verdict to the shared store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

/// Upper bounds of the latency buckets, microseconds; a last bucket holds the rest.
pub const LATENCY_BUCKETS_US: [u64; 24] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 2_000, 5_000,
    10_000, 20_000, 50_000, 100_000,
];

/// Counters of one plugin, across its versions (a reload keeps them).
#[derive(Debug, Default)]
pub struct Counters {
    /// Calls made (including failed ones).
    pub calls: AtomicU64,
    /// Messages rejected, joins denied, uploads refused.
    pub rejects: AtomicU64,
    /// Messages rewritten, uploads renamed.
    pub rewrites: AtomicU64,
    /// Calls that trapped, ran out of memory or answered something invalid.
    pub errors: AtomicU64,
    /// Calls stopped at their deadline.
    pub timeouts: AtomicU64,
    /// Calls skipped because the plugin was quarantined.
    pub skipped: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

/// A copy of the counters, for the admin API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CountersView {
    /// Calls made (including failed ones).
    pub calls: u64,
    /// Messages rejected, joins denied, uploads refused.
    pub rejects: u64,
    /// Messages rewritten, uploads renamed.
    pub rewrites: u64,
    /// Calls that trapped, ran out of memory or answered something invalid.
    pub errors: u64,
    /// Calls stopped at their deadline.
    pub timeouts: u64,
    /// Calls skipped because the plugin was quarantined.
    pub skipped: u64,
    /// Keys the plugin's store dropped to stay within `[plugins] kv_max_keys` (with Redis,
    /// those this node's writes dropped). Filled in by the registry, which holds the store.
    pub kv_evictions: u64,
    /// Median call latency, microseconds (a bucket's upper bound); null before any call.
    pub p50_us: Option<u64>,
    /// 99th percentile call latency, microseconds; null before any call.
    pub p99_us: Option<u64>,
}

impl Counters {
    /// Records one call's duration.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let index = LATENCY_BUCKETS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency[index].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The histogram: cumulative counts per bucket (the last is `+Inf`), and the sum.
    pub fn histogram(&self) -> (Vec<u64>, u64) {
        let mut total = 0;
        let cumulative = self
            .latency
            .iter()
            .map(|bucket| {
                total += bucket.load(Ordering::Relaxed);
                total
            })
            .collect();
        (cumulative, self.latency_sum_us.load(Ordering::Relaxed))
    }

    /// A consistent-enough copy for display.
    pub fn view(&self) -> CountersView {
        self.snapshot().view()
    }

    /// A copy of every counter and of the histogram's buckets.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            rejects: self.rejects.load(Ordering::Relaxed),
            rewrites: self.rewrites.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            kv_evictions: 0,
            latency: self
                .latency
                .iter()
                .map(|bucket| bucket.load(Ordering::Relaxed))
                .collect(),
            latency_sum_us: self.latency_sum_us.load(Ordering::Relaxed),
        }
    }
}

/// The counters of one plugin on one node as plain numbers, which add up across nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// See [`Counters::calls`].
    pub calls: u64,
    /// See [`Counters::rejects`].
    pub rejects: u64,
    /// See [`Counters::rewrites`].
    pub rewrites: u64,
    /// See [`Counters::errors`].
    pub errors: u64,
    /// See [`Counters::timeouts`].
    pub timeouts: u64,
    /// See [`Counters::skipped`].
    pub skipped: u64,
    /// See [`CountersView::kv_evictions`].
    pub kv_evictions: u64,
    /// Calls per latency bucket (not cumulative), the last one past the largest bound.
    pub latency: Vec<u64>,
    /// The sum of all latencies, microseconds.
    pub latency_sum_us: u64,
}

impl CounterSnapshot {
    /// Adds another node's counters to these.
    pub fn add(&mut self, other: &CounterSnapshot) {
        self.calls += other.calls;
        self.rejects += other.rejects;
        self.rewrites += other.rewrites;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.skipped += other.skipped;
        self.kv_evictions += other.kv_evictions;
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            *mine += theirs;
        }
        self.latency_sum_us += other.latency_sum_us;
    }

    /// The counters as shown, with percentiles from the buckets.
    pub fn view(&self) -> CountersView {
        let mut total = 0;
        let cumulative: Vec<u64> = self
            .latency
            .iter()
            .map(|bucket| {
                total += bucket;
                total
            })
            .collect();
        CountersView {
            calls: self.calls,
            rejects: self.rejects,
            rewrites: self.rewrites,
            errors: self.errors,
            timeouts: self.timeouts,
            skipped: self.skipped,
            kv_evictions: self.kv_evictions,
            p50_us: quantile(&cumulative, 0.50),
            p99_us: quantile(&cumulative, 0.99),
        }
    }

    /// The buckets as stored: decimal counts separated by commas.
    pub fn latency_text(&self) -> String {
        self.latency
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Buckets read back from [`CounterSnapshot::latency_text`]; what does not parse
    /// counts as zero, since counters are for display only.
    pub fn parse_latency(text: &str) -> Vec<u64> {
        if text.is_empty() {
            return Vec::new();
        }
        text.split(',')
            .map(|count| count.trim().parse().unwrap_or(0))
            .collect()
    }
}

/// The bucket bound below which `q` of the calls fall, from cumulative bucket counts.
fn quantile(cumulative: &[u64], q: f64) -> Option<u64> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let index = cumulative.iter().position(|c| *c >= rank)?;
    Some(LATENCY_BUCKETS_US.get(index).copied().unwrap_or(u64::MAX))
}

/// One remembered verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VerdictRecord {
    /// When, unix milliseconds.
    pub at: i64,
    /// The node whose plugin decided (its `[cluster] node_name`).
    pub node: String,
    /// Which plugin.
    pub plugin: String,
    /// Which hook.
    pub hook: String,
    /// `rejected`, `rewritten`, `denied`, `failed` or `skipped`.
    pub outcome: String,
    /// The user the call was about (sender, joiner, uploader, leaving owner).
    pub user: u64,
    /// What was decided: the code and reason, the new text, or the failure.
    pub detail: String,
    /// The start of what was judged (message text or file name), at most 200 characters.
    pub subject: String,
    /// The HTTP request the verdict was made for (for a WebSocket message, the request
    /// that opened the socket), as in the `x-request-id` header and the logs; null when
    /// unknown, and in a cluster's shared log, which does not keep it.
    pub request_id: Option<String>,
}

/// The last few hundred verdicts of this node, newest last; in a cluster each one is also
/// handed on to be written to the shared store.
#[derive(Debug)]
pub struct VerdictLog {
    capacity: usize,
    node: String,
    /// Each with its number on this node, from 1 up.
    records: Mutex<VecDeque<(i64, VerdictRecord)>>,
    forward: Option<mpsc::Sender<VerdictRecord>>,
    dropped: AtomicU64,
}

impl VerdictLog {
    /// A log keeping at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self::for_node(capacity, "", None)
    }

    /// A log of the node `node` keeping at most `capacity` records, which also hands every
    /// record to `forward` when given (never waiting: a full channel drops the record
    /// there and counts it, since the message path must not wait for the shared store).
    pub fn for_node(
        capacity: usize,
        node: &str,
        forward: Option<mpsc::Sender<VerdictRecord>>,
    ) -> Self {
        Self {
            capacity,
            node: node.to_owned(),
            records: Mutex::new(VecDeque::with_capacity(capacity)),
            forward,
            dropped: AtomicU64::new(0),
        }
    }

    /// Verdicts that could not be handed on to the shared store.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Remembers one verdict, forgetting the oldest when full.
    pub fn push(&self, mut record: VerdictRecord) {
        record.subject = clip(&record.subject, 200);
        record.detail = clip(&record.detail, 300);
        if record.node.is_empty() {
            record.node.clone_from(&self.node);
        }
        if let Some(forward) = &self.forward {
            if forward.try_send(record.clone()).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let number = records.back().map_or(1, |(newest, _)| newest + 1);
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back((number, record));
    }

    /// The newest `limit` records, newest first, optionally of one plugin.
    pub fn recent(&self, limit: usize, plugin: Option<&str>) -> Vec<VerdictRecord> {
        self.recent_before(None, limit, plugin)
            .into_iter()
            .map(|(_, record)| record)
            .collect()
    }

    /// The newest `limit` records numbered below `before` (all when `None`), newest first,
    /// optionally of one plugin, each with its number.
    pub fn recent_before(
        &self,
        before: Option<i64>,
        limit: usize,
        plugin: Option<&str>,
    ) -> Vec<(i64, VerdictRecord)> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .iter()
            .rev()
            .filter(|(number, r)| {
                before.is_none_or(|b| *number < b) && plugin.is_none_or(|p| r.plugin == p)
            })
            .take(limit)
            .cloned()
            .collect()
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_buckets() {
        let counters = Counters::default();
        assert_eq!(counters.view().p50_us, None);
        for _ in 0..98 {
            counters.observe(Duration::from_micros(4));
        }
        counters.observe(Duration::from_micros(600));
        counters.observe(Duration::from_secs(5));
        let view = counters.view();
        assert_eq!(view.p50_us, Some(5));
        assert_eq!(view.p99_us, Some(700));
        let (cumulative, _) = counters.histogram();
        assert_eq!(cumulative.last(), Some(&100));
    }

    #[test]
    fn the_log_keeps_the_newest() {
        let log = VerdictLog::new(2);
        for i in 0..3u64 {
            log.push(VerdictRecord {
                at: i as i64,
                node: String::new(),
                plugin: if i == 1 { "b" } else { "a" }.to_owned(),
                hook: "filter-message".to_owned(),
                outcome: "rejected".to_owned(),
                user: i,
                detail: String::new(),
                subject: "é".repeat(300),
                request_id: None,
            });
        }
        let recent = log.recent(10, None);
        assert_eq!(recent.iter().map(|r| r.user).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(log.recent(10, Some("a")).len(), 1);
        assert_eq!(recent[0].subject.chars().count(), 201);
    }

    #[test]
    fn snapshots_add_up_across_nodes_and_survive_storage() {
        let a = Counters::default();
        let b = Counters::default();
        for _ in 0..50 {
            a.observe(Duration::from_micros(4));
            b.observe(Duration::from_micros(600));
        }
        a.calls.fetch_add(50, Ordering::Relaxed);
        b.calls.fetch_add(50, Ordering::Relaxed);
        let mut sum = a.snapshot();
        let stored = b.snapshot().latency_text();
        sum.add(&CounterSnapshot {
            calls: 50,
            latency: CounterSnapshot::parse_latency(&stored),
            ..CounterSnapshot::default()
        });
        let view = sum.view();
        assert_eq!(view.calls, 100);
        assert_eq!(view.p50_us, Some(5));
        assert_eq!(view.p99_us, Some(700));
        assert_eq!(CounterSnapshot::default().view().p50_us, None);
        assert!(CounterSnapshot::parse_latency("").is_empty());
    }

    #[tokio::test]
    async fn a_node_log_stamps_and_forwards_without_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let log = VerdictLog::for_node(10, "node-a", Some(tx));
        for user in 0..3 {
            log.push(VerdictRecord {
                at: 1,
                node: String::new(),
                plugin: "p".to_owned(),
                hook: "filter-message".to_owned(),
                outcome: "rejected".to_owned(),
                user,
                detail: String::new(),
                subject: String::new(),
                request_id: None,
            });
        }
        assert_eq!(log.recent(10, None).len(), 3);
        assert!(log.recent(10, None).iter().all(|r| r.node == "node-a"));
        let forwarded = rx.recv().await.expect("one forwarded");
        assert_eq!((forwarded.user, forwarded.node.as_str()), (0, "node-a"));
        assert_eq!(log.dropped(), 2);
    }
}
