//! Counters a user can log or export ([`crate::Wal::stats`]), and the latency histograms
//! behind its percentiles.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock::lock;

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

/// Latencies in microseconds, from 1 µs to an hour, to two significant digits (a value is
/// reported within 1% of what was recorded; an hour or more counts as an hour). Recorded
/// once per flush, never per append, so the lock is taken by one flush leader at a time.
#[derive(Debug)]
pub(crate) struct Latency {
    hist: Mutex<hdrhistogram::Histogram<u64>>,
}

/// The longest latency a [`Latency`] tells apart: an hour, in microseconds.
const LATENCY_MAX_US: u64 = 3_600_000_000;

impl Default for Latency {
    fn default() -> Self {
        // 2 significant digits over 1 µs..1 h: about 25 KiB per histogram.
        let hist = hdrhistogram::Histogram::new_with_bounds(1, LATENCY_MAX_US, 2)
            .expect("1..=LATENCY_MAX_US with 2 significant digits is a valid range");
        Self {
            hist: Mutex::new(hist),
        }
    }
}

/// Percentiles of a [`Latency`], in microseconds (0 when nothing was recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Quantiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub count: u64,
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        lock(&self.hist).saturating_record(us);
    }

    pub fn quantiles(&self) -> Quantiles {
        let h = lock(&self.hist);
        if h.is_empty() {
            return Quantiles::default();
        }
        Quantiles {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            count: h.len(),
        }
    }
}

/// No time recorded (see [`DurableClock`]).
const NONE: u64 = u64::MAX;

/// When the oldest append that is not yet durable was made, as nanoseconds since the log
/// was opened, in two stages: `pending` for appends still in the append buffer, `written`
/// for appends written to storage but not yet synced by a flush. Each holds the earliest
/// time of its stage, or [`NONE`].
///
/// `pending` is set by the first append after the buffer was taken and moved to `written`
/// when the write phase takes the buffer; both happen under the `state` lock, so no
/// append is missed between them. A flush takes `written` under the writer's `io` lock,
/// in the same critical section that takes the dirty ranges it syncs: every byte written
/// before that point is covered by that flush, every byte written after it by a later
/// one. So each flush learns exactly when the oldest append it made durable was made.
#[derive(Debug)]
struct DurableClock {
    opened: Instant,
    pending: AtomicU64,
    written: AtomicU64,
}

impl DurableClock {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            pending: AtomicU64::new(NONE),
            written: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(NONE - 1)
    }
}

/// When the oldest append a flush made durable was made (see [`Counters::flush_covers`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Covered(u64);

/// The live counters of one log. Each is bumped by the one event its method names, from
/// any thread, without a lock (the two histograms take theirs once per flush); all only
/// grow (`max_entries_per_flush` is a running max).
#[derive(Debug)]
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
    step_failures: Counter,
    flush_latency: Latency,
    append_to_durable: Latency,
    clock: DurableClock,
    /// The same numbers, through the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub metrics: crate::metrics::Handles,
}

/// A snapshot of a log's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// Failed writes and syncs (each poisons the log, except a write refused for a full
    /// disk, which is retried).
    pub flush_errors: u64,
    /// The most entries one flush made durable.
    pub max_entries_per_flush: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Median time of a flush (writing what is pending, then one sync of every dirty
    /// segment), in microseconds, to within 1%.
    pub flush_p50_us: u64,
    /// 99th percentile time of a flush, in microseconds, to within 1%.
    pub flush_p99_us: u64,
    /// 99.9th percentile time of a flush, in microseconds, to within 1%.
    pub flush_p999_us: u64,
    /// Median append→durable latency, in microseconds, to within 1%. One sample per flush
    /// that made entries durable: the time from the oldest append that flush made
    /// durable to the moment its sync returned. That entry waited longest; entries
    /// appended after it in the same flush waited less. It includes the time the entry
    /// spent in the append buffer and written but not synced, whatever the schedule.
    pub append_to_durable_p50_us: u64,
    /// 99th percentile append→durable latency, in microseconds (see
    /// [`Stats::append_to_durable_p50_us`]).
    pub append_to_durable_p99_us: u64,
    /// 99.9th percentile append→durable latency, in microseconds (see
    /// [`Stats::append_to_durable_p50_us`]).
    pub append_to_durable_p999_us: u64,
    /// Flushes that recorded an append→durable sample.
    pub append_to_durable_samples: u64,
    /// Failures of steps the log retries on its own (a background write refused for a
    /// full disk, preparing the next segment, reclaiming or deleting old segments): each
    /// is also reported to [`crate::WalBuilder::on_error`].
    pub step_failures: u64,
    /// Segment files in the log now.
    pub segments: u64,
    /// Segment handles (descriptors or mappings) held open now.
    pub open_segment_handles: u64,
    /// Bytes appended (records of entries, cursors and truncations, with their headers)
    /// that are not durable yet, now.
    pub durable_lag_bytes: u64,
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
    /// The counters of the log in `dir` (the directory labels its metrics).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub fn new(dir: &Path) -> Self {
        Self {
            appends: Counter::default(),
            append_bytes: Counter::default(),
            writes: Counter::default(),
            written_bytes: Counter::default(),
            flushes: Counter::default(),
            flushed_storages: Counter::default(),
            flush_errors: Counter::default(),
            max_entries_per_flush: Counter::default(),
            segments_created: Counter::default(),
            step_failures: Counter::default(),
            flush_latency: Latency::default(),
            append_to_durable: Latency::default(),
            clock: DurableClock::new(),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Handles::new(dir),
        }
    }

    /// `entries` entries of `bytes` payload bytes in all were appended. Called with the
    /// `state` lock held: the first append after the buffer was taken notes the time (one
    /// clock read per write of the buffer, not per append).
    pub fn appended(&self, entries: u64, bytes: u64) {
        self.appends.add(entries);
        self.append_bytes.add(bytes);
        if self.clock.pending.load(Ordering::Relaxed) == NONE {
            self.clock
                .pending
                .store(self.clock.now(), Ordering::Relaxed);
        }
    }

    /// The write phase took the append buffer (with the `state` lock held): its oldest
    /// append is now written but not durable. Returns the entries appended so far.
    pub fn taken_for_write(&self) -> u64 {
        let pending = self.clock.pending.swap(NONE, Ordering::Relaxed);
        if pending != NONE {
            self.clock.written.fetch_min(pending, Ordering::Relaxed);
        }
        self.appends.get()
    }

    /// A flush took the dirty ranges it syncs (with the writer's `io` lock held): it
    /// covers every append written so far.
    pub fn flush_covers(&self) -> Covered {
        Covered(self.clock.written.swap(NONE, Ordering::Relaxed))
    }

    /// One write call of `bytes` bytes reached storage.
    pub fn wrote(&self, bytes: u64) {
        self.writes.inc();
        self.written_bytes.add(bytes);
    }

    /// A flush that started at `started` and ends now synced `storages` storages, made
    /// `entries` entries durable, and covered the appends `covered` says.
    pub fn flushed(&self, storages: u64, entries: u64, started: Instant, covered: Covered) {
        // One clock read for both latencies.
        let end = Instant::now();
        let took = end.saturating_duration_since(started);
        self.flushes.inc();
        self.flush_latency.record(took);
        self.flushed_storages.add(storages);
        self.max_entries_per_flush.max(entries);
        let waited = (covered.0 != NONE).then(|| {
            let end = u64::try_from(end.duration_since(self.clock.opened).as_nanos());
            Duration::from_nanos(end.unwrap_or(NONE - 1).saturating_sub(covered.0))
        });
        if let Some(waited) = waited {
            self.append_to_durable.record(waited);
        }
        #[cfg(feature = "metrics")]
        {
            self.metrics.flushed(took, waited);
            self.metrics.publish_counts(&self.counts());
        }
    }

    /// A write or sync failed.
    pub fn flush_failed(&self) {
        self.flush_errors.inc();
    }

    /// A step the log retries on its own failed.
    pub fn step_failed(&self) {
        self.step_failures.inc();
    }

    /// A segment file was made.
    pub fn segment_created(&self) {
        self.segments_created.inc();
    }

    /// The counters alone: every field that needs no lock (percentiles are 0, and so are
    /// the fields `Wal::stats` fills from the log's state).
    pub fn counts(&self) -> Stats {
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
            step_failures: self.step_failures.get(),
            ..Stats::default()
        }
    }

    /// What the counters and histograms say now.
    pub fn snapshot(&self) -> Stats {
        let flush = self.flush_latency.quantiles();
        let durable = self.append_to_durable.quantiles();
        Stats {
            flush_p50_us: flush.p50,
            flush_p99_us: flush.p99,
            flush_p999_us: flush.p999,
            append_to_durable_p50_us: durable.p50,
            append_to_durable_p99_us: durable.p99,
            append_to_durable_p999_us: durable.p999,
            append_to_durable_samples: durable.count,
            ..self.counts()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let h = Latency::default();
        assert_eq!(h.quantiles(), Quantiles::default());
        for _ in 0..989 {
            h.record(Duration::from_micros(100));
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(5));
        }
        h.record(Duration::from_secs(2));
        let q = h.quantiles();
        assert_eq!(q.count, 1000);
        assert!((99..=101).contains(&q.p50), "{q:?}");
        assert!((4950..=5050).contains(&q.p99), "{q:?}");
        assert!((4950..=5050).contains(&q.p999), "{q:?}");
        h.record(Duration::from_secs(86_400)); // past the range: counted as an hour
        assert_eq!(h.quantiles().count, 1001);
    }

    /// A flush's sample starts at the oldest append it covers; appends after the flush
    /// took its ranges go to the next flush; a flush that covers nothing records nothing.
    #[test]
    fn append_to_durable_follows_the_oldest_covered_append() {
        let c = Counters::new(Path::new("/nowhere"));
        c.appended(1, 10);
        std::thread::sleep(Duration::from_millis(20));
        c.appended(1, 10); // not the oldest: keeps the first time
        assert_eq!(c.taken_for_write(), 2);
        c.appended(1, 10); // after the take: pending for the next write
        let covered = c.flush_covers();
        c.flushed(1, 2, Instant::now(), covered);
        let s = c.snapshot();
        assert_eq!(s.append_to_durable_samples, 1);
        assert!(s.append_to_durable_p50_us >= 19_800, "{s:?}");
        // Nothing written since: the next flush has no sample.
        c.flushed(1, 0, Instant::now(), c.flush_covers());
        assert_eq!(c.snapshot().append_to_durable_samples, 1);
        // The third append is written and flushed now: a second sample.
        c.taken_for_write();
        c.flushed(1, 1, Instant::now(), c.flush_covers());
        let s = c.snapshot();
        assert_eq!((s.append_to_durable_samples, s.flushes), (2, 3));
    }
}
