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

/// The live counters of one log.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub appends: Counter,
    pub append_bytes: Counter,
    pub writes: Counter,
    pub written_bytes: Counter,
    pub flushes: Counter,
    pub flushed_storages: Counter,
    pub flush_errors: Counter,
    pub max_entries_per_flush: Counter,
    pub segments_created: Counter,
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
        }
    }
}
