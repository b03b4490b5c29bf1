//! Latencies of every system, recorded the same way: an HDR histogram (`hdrhistogram`,
//! three significant digits, 1 ns to one hour), one per thread, merged at the end.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest latency recorded exactly; longer ones count as this (one hour).
const HIGHEST_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits kept: values are exact to within 0.1 %.
const SIGFIG: u8 = 3;

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Samples recorded.
    pub samples: u64,
}

/// Durations in nanoseconds.
#[derive(Debug, Clone)]
pub struct Histogram(hdrhistogram::Histogram<u64>);

impl Default for Histogram {
    fn default() -> Self {
        // Bounds and digits are constants within hdrhistogram's limits: this cannot fail.
        Self(
            hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG)
                .expect("constant histogram bounds are valid"),
        )
    }
}

impl Histogram {
    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        self.record_ns(d.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Records one duration given in nanoseconds (clamped to 1 ns .. one hour).
    pub fn record_ns(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1));
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        // Both have the same fixed bounds, so the addition never needs to resize.
        self.0
            .add(&other.0)
            .expect("histograms of equal bounds always add");
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// `true` when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value (ns) at quantile `q` in `0..=1`.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }

    /// p50, p99 and p99.9, or `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        (!self.is_empty()).then(|| Percentiles {
            p50_us: self.quantile_ns(0.5) as f64 / 1e3,
            p99_us: self.quantile_ns(0.99) as f64 / 1e3,
            p999_us: self.quantile_ns(0.999) as f64 / 1e3,
            samples: self.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_resolution() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p = h.percentiles().unwrap();
        assert!((p.p50_us - 500.0).abs() / 500.0 < 0.002, "{p:?}");
        assert!((p.p99_us - 990.0).abs() / 990.0 < 0.002, "{p:?}");
        let mut other = Histogram::default();
        other.record(Duration::from_secs(1));
        h.merge(&other);
        assert_eq!(h.len(), 1001);
        assert!(h.quantile_ns(1.0) >= 999_000_000);
        assert_eq!(Histogram::default().percentiles(), None);
    }

    #[test]
    fn extremes_are_clamped_not_lost() {
        let mut h = Histogram::default();
        h.record_ns(0);
        h.record(Duration::from_secs(7200));
        assert_eq!(h.len(), 2);
        assert!(h.quantile_ns(1.0) >= HIGHEST_NS / 2);
    }
}
