//! Latency samples and their percentiles.
//!
//! Samples are kept whole (a run makes at most a few hundred thousand) and sorted once at
//! the end, so percentiles are exact rather than bucketed.

use std::fmt;
use std::time::Duration;

/// Latencies in nanoseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    /// Adds one latency.
    pub(crate) fn record(&mut self, latency: Duration) {
        self.nanos
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub(crate) fn merge(&mut self, other: Samples) {
        self.nanos.extend(other.nanos);
    }

    /// The summary: sorts the samples once.
    pub(crate) fn summary(mut self) -> Summary {
        self.nanos.sort_unstable();
        let at = |q: f64| -> Duration {
            if self.nanos.is_empty() {
                return Duration::ZERO;
            }
            // The nearest-rank percentile: the smallest sample with at least q of all
            // samples at or below it.
            let rank = (q * self.nanos.len() as f64).ceil() as usize;
            Duration::from_nanos(self.nanos[rank.clamp(1, self.nanos.len()) - 1])
        };
        let total: u128 = self.nanos.iter().map(|&n| u128::from(n)).sum();
        let mean = match u128::try_from(self.nanos.len()) {
            Ok(n) if n > 0 => Duration::from_nanos(u64::try_from(total / n).unwrap_or(u64::MAX)),
            _ => Duration::ZERO,
        };
        Summary {
            count: self.nanos.len(),
            mean,
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// Percentiles of a set of samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    /// Number of samples.
    pub(crate) count: usize,
    /// Arithmetic mean.
    pub(crate) mean: Duration,
    /// Median.
    pub(crate) p50: Duration,
    /// 99th percentile.
    pub(crate) p99: Duration,
    /// Largest sample.
    pub(crate) max: Duration,
}

/// Milliseconds with two decimals, as the reports print them.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mean {} ms  p50 {} ms  p99 {} ms  max {} ms  ({} samples)",
            ms(self.mean),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.record(Duration::from_millis(ms));
        }
        let summary = samples.summary();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.mean, Duration::from_micros(50_500));
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
    }

    #[test]
    fn empty_is_zero() {
        let summary = Samples::default().summary();
        assert_eq!(summary.count, 0);
        assert_eq!(summary.max, Duration::ZERO);
    }
}
