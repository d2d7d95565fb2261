//! A histogram that records without a lock: one atomic add for the bucket, one for the
//! sum. Its values are whole units (microseconds, messages); it is shown in the unit its
//! name says (seconds, messages) by dividing by `per_unit`.
//!
//! prometheus-client's own histogram takes a mutex on every observation; this one is for
//! the message path, where a lock per message would show in the benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Bucket bounds of latencies, microseconds: 100 µs to 10 s.
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Bucket bounds of batch sizes, messages.
pub const BATCH_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];

/// A fixed-bucket histogram of whole units.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One count per bound, and a last one for what lies above every bound.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    /// How many recorded units make one unit shown (a million microseconds per second).
    per_unit: f64,
}

impl Histogram {
    /// A histogram over `bounds` (ascending), shown divided by `per_unit`.
    pub fn new(bounds: &'static [u64], per_unit: f64) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            per_unit,
        }
    }

    /// Latencies, recorded in microseconds and shown in seconds.
    pub fn latency() -> Self {
        Self::new(&LATENCY_BOUNDS_US, 1e6)
    }

    /// Batch sizes, in messages.
    pub fn batch() -> Self {
        Self::new(&BATCH_BOUNDS, 1.0)
    }

    /// Records `value` units.
    pub fn observe(&self, value: u64) {
        let index = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Records a duration (for histograms of microseconds).
    pub fn observe_duration(&self, took: Duration) {
        self.observe(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The buckets as the encoder takes them: upper bounds (the last `+Inf`) and the count
    /// of each bucket alone (the encoder adds them up); the sum and the count.
    fn snapshot(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut total = 0;
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, count)| {
                let count = count.load(Ordering::Relaxed);
                total += count;
                let bound = self
                    .bounds
                    .get(i)
                    .map_or(f64::INFINITY, |b| *b as f64 / self.per_unit);
                (bound, count)
            })
            .collect();
        let sum = self.sum.load(Ordering::Relaxed) as f64 / self.per_unit;
        (buckets, sum, total)
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (buckets, sum, count) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_apart_and_are_scaled() {
        let histogram = Histogram::latency();
        histogram.observe_duration(Duration::from_micros(80));
        histogram.observe_duration(Duration::from_millis(3));
        histogram.observe_duration(Duration::from_secs(60));
        let (buckets, sum, count) = histogram.snapshot();
        assert_eq!(count, 3);
        assert_eq!(histogram.count(), 3);
        assert_eq!(buckets.len(), LATENCY_BOUNDS_US.len() + 1);
        assert_eq!(buckets[0], (0.0001, 1));
        assert_eq!(buckets[5], (0.005, 1));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 3);
        assert!((sum - 60.00308).abs() < 1e-9, "{sum}");
    }
}
