//! The log's numbers through the [`metrics`] facade (cargo feature `metrics`): whatever
//! recorder the program installed (a Prometheus exporter, say) gets them without glue.
//!
//! Every series has the label `dir`, the log directory, so that several logs in one
//! process stay apart. Nothing is recorded per append: counters are set from the log's own
//! atomic counters ([`crate::stats::Counters`]) after every flush and on every
//! publication, histograms get one sample per flush, and gauges (lags, segments, the
//! per-topic series) are set on a publication: by the background thread about once a
//! second ([`PUBLISH_EVERY`]), and by [`Wal::publish_metrics`]. The README's
//! "Observability" section lists every series.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, SharedString, Unit};

use crate::lock::lock;
use crate::shared::Shared;
use crate::stats::Stats;
use crate::wal::Wal;

/// How often the background thread publishes the gauges.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// The handles of one log's series, registered once when it opens (with the recorder
/// installed then).
#[derive(Debug)]
pub(crate) struct Handles {
    dir: SharedString,
    appends: Counter,
    append_bytes: Counter,
    writes: Counter,
    written_bytes: Counter,
    flushes: Counter,
    flush_errors: Counter,
    step_failures: Counter,
    segments_created: Counter,
    flush_seconds: Histogram,
    append_to_durable_seconds: Histogram,
    durable_lag_bytes: Gauge,
    segments: Gauge,
    open_segment_handles: Gauge,
    poisoned: Gauge,
    /// (topic, consumer) of every consumer-lag series set so far: a consumer that is gone
    /// gets its gauge set to 0 once (the facade cannot remove a series).
    consumers: Mutex<BTreeSet<(String, String)>>,
    /// When the last publication started, in nanoseconds since `opened`.
    published: AtomicU64,
    opened: Instant,
}

impl Handles {
    pub fn new(dir: &Path) -> Self {
        describe();
        let dir: SharedString = dir.display().to_string().into();
        let counter = |name: &'static str| metrics::counter!(name, "dir" => dir.clone());
        let gauge = |name: &'static str| metrics::gauge!(name, "dir" => dir.clone());
        let histogram = |name: &'static str| metrics::histogram!(name, "dir" => dir.clone());
        Self {
            appends: counter("wal_appends_total"),
            append_bytes: counter("wal_append_bytes_total"),
            writes: counter("wal_writes_total"),
            written_bytes: counter("wal_written_bytes_total"),
            flushes: counter("wal_flushes_total"),
            flush_errors: counter("wal_flush_errors_total"),
            step_failures: counter("wal_step_failures_total"),
            segments_created: counter("wal_segments_created_total"),
            flush_seconds: histogram("wal_flush_seconds"),
            append_to_durable_seconds: histogram("wal_append_to_durable_seconds"),
            durable_lag_bytes: gauge("wal_durable_lag_bytes"),
            segments: gauge("wal_segments"),
            open_segment_handles: gauge("wal_open_segment_handles"),
            poisoned: gauge("wal_poisoned"),
            consumers: Mutex::default(),
            published: AtomicU64::new(0),
            opened: Instant::now(),
            dir,
        }
    }

    /// A flush took `took`; its oldest entry waited `waited` to be durable.
    pub fn flushed(&self, took: Duration, waited: Option<Duration>) {
        self.flush_seconds.record(took.as_secs_f64());
        if let Some(waited) = waited {
            self.append_to_durable_seconds.record(waited.as_secs_f64());
        }
    }

    /// Sets the counters from the log's own.
    pub fn publish_counts(&self, s: &Stats) {
        self.appends.absolute(s.appends);
        self.append_bytes.absolute(s.append_bytes);
        self.writes.absolute(s.writes);
        self.written_bytes.absolute(s.written_bytes);
        self.flushes.absolute(s.flushes);
        self.flush_errors.absolute(s.flush_errors);
        self.step_failures.absolute(s.step_failures);
        self.segments_created.absolute(s.segments_created);
    }

    /// The log is poisoned.
    pub fn poisoned(&self) {
        self.poisoned.set(1.0);
    }

    /// `true` (and the clock restarted) when the last publication is at least
    /// [`PUBLISH_EVERY`] old.
    fn due(&self) -> bool {
        let now = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.published.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PUBLISH_EVERY.as_nanos() as u64 {
            return false;
        }
        self.published.store(now, Ordering::Relaxed);
        true
    }
}

/// Describes every series once per open (recorders keep the first description).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("wal_appends_total", Unit::Count, "Entries appended");
    describe_counter!(
        "wal_append_bytes_total",
        Unit::Bytes,
        "Payload bytes appended"
    );
    describe_counter!("wal_writes_total", Unit::Count, "Write calls to storage");
    describe_counter!(
        "wal_written_bytes_total",
        Unit::Bytes,
        "Bytes written to storage"
    );
    describe_counter!("wal_flushes_total", Unit::Count, "Flushes that synced data");
    describe_counter!(
        "wal_flush_errors_total",
        Unit::Count,
        "Failed writes and syncs"
    );
    describe_counter!(
        "wal_step_failures_total",
        Unit::Count,
        "Failures of steps the log retries on its own"
    );
    describe_counter!(
        "wal_segments_created_total",
        Unit::Count,
        "Segment files created"
    );
    describe_histogram!(
        "wal_flush_seconds",
        Unit::Seconds,
        "Time of one flush: write what is pending, then sync"
    );
    describe_histogram!(
        "wal_append_to_durable_seconds",
        Unit::Seconds,
        "Per flush: from the oldest append it made durable to the end of its sync"
    );
    describe_gauge!(
        "wal_durable_lag_bytes",
        Unit::Bytes,
        "Bytes appended that are not durable yet"
    );
    describe_gauge!("wal_segments", Unit::Count, "Segment files in the log");
    describe_gauge!(
        "wal_open_segment_handles",
        Unit::Count,
        "Segment handles held open"
    );
    describe_gauge!("wal_poisoned", "1 once the log is poisoned (reopen it)");
    describe_counter!(
        "wal_topic_appends_total",
        Unit::Count,
        "Entries appended, per topic"
    );
    describe_counter!(
        "wal_topic_append_bytes_total",
        Unit::Bytes,
        "Payload bytes appended, per topic"
    );
    describe_gauge!(
        "wal_consumer_lag",
        Unit::Count,
        "Entries a named consumer has not read yet: the topic's next offset minus its position"
    );
}

impl Shared {
    /// Sets every series from the log's state now.
    pub(crate) fn publish_metrics(&self) {
        let m = &self.env.stats.metrics;
        let stats = self.stats_now();
        m.publish_counts(&stats);
        m.durable_lag_bytes.set(stats.durable_lag_bytes as f64);
        m.segments.set(stats.segments as f64);
        m.open_segment_handles
            .set(stats.open_segment_handles as f64);
        m.poisoned.set(if self.pipeline.commit.poison().is_set() {
            1.0
        } else {
            0.0
        });
        let mut seen = BTreeSet::new();
        for t in self.all_topic_stats() {
            let topic: SharedString = t.name.clone().into();
            metrics::counter!("wal_topic_appends_total", "dir" => m.dir.clone(), "topic" => topic.clone())
                .absolute(t.appended);
            metrics::counter!("wal_topic_append_bytes_total", "dir" => m.dir.clone(), "topic" => topic.clone())
                .absolute(t.appended_bytes);
            for c in t.consumers {
                metrics::gauge!("wal_consumer_lag", "dir" => m.dir.clone(), "topic" => topic.clone(), "consumer" => c.name.clone())
                    .set(c.lag as f64);
                seen.insert((t.name.clone(), c.name));
            }
        }
        let gone: Vec<_> = {
            let mut known = lock(&m.consumers);
            let gone = known.difference(&seen).cloned().collect();
            *known = seen;
            gone
        };
        for (topic, consumer) in gone {
            metrics::gauge!("wal_consumer_lag", "dir" => m.dir.clone(), "topic" => topic, "consumer" => consumer)
                .set(0.0);
        }
    }

    /// After a background round: publishes if [`PUBLISH_EVERY`] has passed.
    pub(crate) fn publish_metrics_if_due(&self) {
        if self.env.stats.metrics.due() {
            self.publish_metrics();
        }
    }
}

impl<S> Wal<S> {
    /// Sets every `wal_*` series of this log now (feature `metrics`), rather than waiting
    /// for the background thread, which does it about once a second: call it before a
    /// scrape for exact gauges. The series are registered with the recorder installed
    /// when the log was opened, so install it first.
    pub fn publish_metrics(&self) {
        self.shared.publish_metrics();
    }
}
