//! Counters a user can log or export ([`crate::Wal::stats`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn max(&self, n: u64) {
        self.0.fetch_max(n, Ordering::Relaxed);
    }
}

/// A histogram of durations in power-of-two microsecond buckets: cheap to record from
/// any thread, precise to a factor of two, which is what a p50/p99 needs.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; 32],
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Histogram {
    pub fn record(&self, d: std::time::Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let bucket = (64 - us.leading_zeros() as usize).min(31);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The upper bound (µs) of the bucket holding quantile `q` (0 when empty).
    pub fn quantile_us(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return if i == 0 { 1 } else { 1u64 << i };
            }
        }
        1u64 << 31
    }
}

/// The live counters of one log. Each is bumped by the one event its method names, from
/// any thread, without a lock; all only grow (`max_entries_per_flush` is a running max).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    appends: Counter,
    append_bytes: Counter,
    writes: Counter,
    written_bytes: Counter,
    flushes: Counter,
    flushed_storages: Counter,
    flush_errors: Counter,
    max_entries_per_flush: Counter,
    segments_created: Counter,
    flush_latency: Histogram,
}

/// A snapshot of a log's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Entries appended (a batch counts each of its entries).
    pub appends: u64,
    /// Payload bytes appended.
    pub append_bytes: u64,
    /// Write calls issued to storage.
    pub writes: u64,
    /// Bytes written to storage (records, padding, headers).
    pub written_bytes: u64,
    /// Flush cycles that synced at least one storage.
    pub flushes: u64,
    /// Storages synced, summed over all flushes (k storages in one flush count k).
    pub flushed_storages: u64,
    /// Flushes that failed.
    pub flush_errors: u64,
    /// The most entries one flush made durable.
    pub max_entries_per_flush: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Median time of a flush (write + sync), in microseconds, to within a factor of two.
    pub flush_p50_us: u64,
    /// 99th percentile time of a flush, in microseconds, to within a factor of two.
    pub flush_p99_us: u64,
    /// Segment files in the log now.
    pub segments: u64,
    /// Segment handles (descriptors or mappings) held open now.
    pub open_segment_handles: u64,
}

impl Stats {
    /// Mean entries made durable per flush (0 when nothing was flushed).
    pub fn mean_entries_per_flush(&self) -> f64 {
        if self.flushes == 0 {
            0.0
        } else {
            self.appends as f64 / self.flushes as f64
        }
    }
}

impl Counters {
    /// `entries` entries of `bytes` payload bytes in all were appended.
    pub fn appended(&self, entries: u64, bytes: u64) {
        self.appends.add(entries);
        self.append_bytes.add(bytes);
    }

    /// Entries appended so far.
    pub fn appends(&self) -> u64 {
        self.appends.get()
    }

    /// One write call of `bytes` bytes reached storage.
    pub fn wrote(&self, bytes: u64) {
        self.writes.inc();
        self.written_bytes.add(bytes);
    }

    /// A flush synced `storages` storages, made `entries` entries durable, and took
    /// `took`.
    pub fn flushed(&self, storages: u64, entries: u64, took: std::time::Duration) {
        self.flushes.inc();
        self.flush_latency.record(took);
        self.flushed_storages.add(storages);
        self.max_entries_per_flush.max(entries);
    }

    /// A write or sync failed.
    pub fn flush_failed(&self) {
        self.flush_errors.inc();
    }

    /// A segment file was made.
    pub fn segment_created(&self) {
        self.segments_created.inc();
    }

    /// What the counters say now.
    pub fn snapshot(&self) -> Stats {
        Stats {
            appends: self.appends.get(),
            append_bytes: self.append_bytes.get(),
            writes: self.writes.get(),
            written_bytes: self.written_bytes.get(),
            flushes: self.flushes.get(),
            flushed_storages: self.flushed_storages.get(),
            flush_errors: self.flush_errors.get(),
            max_entries_per_flush: self.max_entries_per_flush.get(),
            segments_created: self.segments_created.get(),
            flush_p50_us: self.flush_latency.quantile_us(0.5),
            flush_p99_us: self.flush_latency.quantile_us(0.99),
            segments: 0,
            open_segment_handles: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let h = Histogram::default();
        assert_eq!(h.quantile_us(0.5), 0);
        for _ in 0..98 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_millis(5));
        h.record(Duration::from_millis(5));
        assert_eq!(h.quantile_us(0.5), 128);
        assert_eq!(h.quantile_us(0.99), 8192);
    }
}
