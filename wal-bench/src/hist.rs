//! A small log-linear latency histogram: 16 buckets per power of two (about 6 %
//! resolution), cheap to record into from one thread, merged across threads at the end.

use std::time::Duration;

use serde::{Deserialize, Serialize};

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

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

/// Counts of durations in nanoseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn index(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros();
    let sub = (ns >> (exp - SUB_BITS)) & (SUB - 1);
    ((exp - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The largest value that lands in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = i / SUB + u64::from(SUB_BITS) - 1;
    let sub = i % SUB;
    let low = (SUB + sub) << (exp - u64::from(SUB_BITS));
    low + ((1u64 << (exp - u64::from(SUB_BITS))) - 1)
}

impl Histogram {
    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        self.record_ns(d.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Records one duration given in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
        self.total += 1;
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// `true` when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value (ns, upper bound of its bucket) at quantile `q` in `0..=1`.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i);
            }
        }
        u64::MAX
    }

    /// p50, p99 and p99.9, or `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        (!self.is_empty()).then(|| Percentiles {
            p50_us: self.quantile_ns(0.5) as f64 / 1e3,
            p99_us: self.quantile_ns(0.99) as f64 / 1e3,
            p999_us: self.quantile_ns(0.999) as f64 / 1e3,
            samples: self.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        for ns in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            1000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let i = index(ns);
            assert!(i < BUCKETS, "{ns} -> {i}");
            assert!(upper(i) >= ns, "{ns}: bucket {i} ends at {}", upper(i));
            if i > 0 {
                assert!(upper(i - 1) < ns, "{ns}: bucket {} also holds it", i - 1);
            }
        }
    }

    #[test]
    fn quantiles_are_within_resolution() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p = h.percentiles().unwrap();
        assert!((p.p50_us - 500.0).abs() / 500.0 < 0.07, "{p:?}");
        assert!((p.p99_us - 990.0).abs() / 990.0 < 0.07, "{p:?}");
        let mut other = Histogram::default();
        other.record(Duration::from_secs(1));
        h.merge(&other);
        assert_eq!(h.len(), 1001);
        assert!(h.quantile_ns(1.0) >= 1_000_000_000);
        assert_eq!(Histogram::default().percentiles(), None);
    }
}
