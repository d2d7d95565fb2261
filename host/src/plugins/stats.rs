//! What operators see of each plugin: call counters, a latency histogram, and a short log
//! of recent verdicts (rejections, rewrites, denials and failures) for auditing rules.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CountersView {
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

    fn quantile(&self, q: f64) -> Option<u64> {
        let (cumulative, _) = self.histogram();
        let total = *cumulative.last()?;
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let index = cumulative.iter().position(|c| *c >= rank)?;
        Some(LATENCY_BUCKETS_US.get(index).copied().unwrap_or(u64::MAX))
    }

    /// A consistent-enough copy for display.
    pub fn view(&self) -> CountersView {
        CountersView {
            calls: self.calls.load(Ordering::Relaxed),
            rejects: self.rejects.load(Ordering::Relaxed),
            rewrites: self.rewrites.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            kv_evictions: 0,
            p50_us: self.quantile(0.50),
            p99_us: self.quantile(0.99),
        }
    }
}

/// One remembered verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerdictRecord {
    /// When, unix milliseconds.
    pub at: i64,
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
}

/// The last few hundred verdicts, newest last.
#[derive(Debug)]
pub struct VerdictLog {
    capacity: usize,
    records: Mutex<VecDeque<VerdictRecord>>,
}

impl VerdictLog {
    /// A log keeping at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            records: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// Remembers one verdict, forgetting the oldest when full.
    pub fn push(&self, mut record: VerdictRecord) {
        record.subject = clip(&record.subject, 200);
        record.detail = clip(&record.detail, 300);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The newest `limit` records, newest first, optionally of one plugin.
    pub fn recent(&self, limit: usize, plugin: Option<&str>) -> Vec<VerdictRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .iter()
            .rev()
            .filter(|r| plugin.is_none_or(|p| r.plugin == p))
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
                plugin: if i == 1 { "b" } else { "a" }.to_owned(),
                hook: "filter-message".to_owned(),
                outcome: "rejected".to_owned(),
                user: i,
                detail: String::new(),
                subject: "é".repeat(300),
            });
        }
        let recent = log.recent(10, None);
        assert_eq!(recent.iter().map(|r| r.user).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(log.recent(10, Some("a")).len(), 1);
        assert_eq!(recent[0].subject.chars().count(), 201);
    }
}
