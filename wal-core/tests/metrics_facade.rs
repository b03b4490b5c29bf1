//! The `metrics` feature: a recorder written here (the process's global one) receives the
//! `wal_*` series of two logs, each labelled with its directory, and the values match what
//! the logs did and what `Wal::stats` and `Wal::topic_stats` say.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use wal_core::{FsyncSchedule, Wal, WalBuilder};
use wal_testkit::faulty::{FaultPlan, FaultyBackend};

/// A series' name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

#[derive(Default)]
struct Store {
    counters: Mutex<BTreeMap<Series, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<Series, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<Series, Arc<Samples>>>,
}

fn series(key: &Key) -> Series {
    let mut labels: Vec<_> = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    (key.name().to_owned(), labels)
}

struct TestRecorder(Arc<Store>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut m = self.0.counters.lock().unwrap();
        Counter::from_arc(m.entry(series(key)).or_default().clone())
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut m = self.0.gauges.lock().unwrap();
        Gauge::from_arc(m.entry(series(key)).or_default().clone())
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut m = self.0.histograms.lock().unwrap();
        Histogram::from_arc(m.entry(series(key)).or_default().clone())
    }
}

fn store() -> &'static Arc<Store> {
    static S: OnceLock<Arc<Store>> = OnceLock::new();
    S.get_or_init(|| {
        let s = Arc::new(Store::default());
        metrics::set_global_recorder(TestRecorder(s.clone())).expect("no other recorder");
        s
    })
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

fn counter(name: &str, l: &[(&str, &str)]) -> Option<u64> {
    let m = store().counters.lock().unwrap();
    m.get(&(name.to_owned(), labels(l)))
        .map(|a| a.load(Ordering::SeqCst))
}

fn gauge(name: &str, l: &[(&str, &str)]) -> Option<f64> {
    let m = store().gauges.lock().unwrap();
    m.get(&(name.to_owned(), labels(l)))
        .map(|a| f64::from_bits(a.load(Ordering::SeqCst)))
}

fn histogram(name: &str, l: &[(&str, &str)]) -> Vec<f64> {
    let m = store().histograms.lock().unwrap();
    m.get(&(name.to_owned(), labels(l)))
        .map(|s| s.0.lock().unwrap().clone())
        .unwrap_or_default()
}

fn open(dir: &Path) -> Wal {
    WalBuilder::new()
        .dir(dir)
        .backend(Arc::new(wal_backend_std::StdBackend::default()))
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap()
}

#[test]
fn two_logs_report_their_own_series() {
    store();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (wa, wb) = (open(a.path()), open(b.path()));
    let (da, db) = (
        a.path().display().to_string(),
        b.path().display().to_string(),
    );
    let (da, db) = (da.as_str(), db.as_str());

    for i in 0..10u8 {
        wa.append_for_topic("t", &[i; 100]).unwrap();
    }
    wb.batch_append_for_topic("u", &["x", "yz", "abc"]).unwrap();
    let c = wa.consumer("t", "billing").unwrap();
    assert_eq!(c.batch_read(400, true).unwrap().len(), 4);
    wa.consumer("t", "audit").unwrap();
    wa.sync().unwrap();
    wa.publish_metrics();
    wb.publish_metrics();

    let sa = wa.stats();
    let dir_a = [("dir", da)];
    assert_eq!(counter("wal_appends_total", &dir_a), Some(10));
    assert_eq!(counter("wal_append_bytes_total", &dir_a), Some(1000));
    assert_eq!(counter("wal_appends_total", &[("dir", db)]), Some(3));
    assert_eq!(counter("wal_append_bytes_total", &[("dir", db)]), Some(6));
    assert_eq!(counter("wal_flushes_total", &dir_a), Some(sa.flushes));
    assert!(sa.flushes >= 10, "{sa:?}");
    assert_eq!(counter("wal_writes_total", &dir_a), Some(sa.writes));
    assert_eq!(counter("wal_flush_errors_total", &dir_a), Some(0));
    assert_eq!(
        counter("wal_written_bytes_total", &dir_a),
        Some(sa.written_bytes)
    );
    assert_eq!(
        counter("wal_segments_created_total", &dir_a),
        Some(sa.segments_created)
    );
    assert_eq!(counter("wal_step_failures_total", &dir_a), Some(0));
    // One sample per flush, in seconds, and one append→durable sample per flush that had one.
    let flush = histogram("wal_flush_seconds", &dir_a);
    assert_eq!(flush.len() as u64, sa.flushes);
    assert!(flush.iter().all(|&s| s > 0.0 && s < 60.0), "{flush:?}");
    let durable = histogram("wal_append_to_durable_seconds", &dir_a);
    assert_eq!(durable.len() as u64, sa.append_to_durable_samples);
    assert!(durable.len() >= 10);
    // Gauges, set by the publication.
    assert_eq!(gauge("wal_durable_lag_bytes", &dir_a), Some(0.0));
    assert_eq!(gauge("wal_segments", &dir_a), Some(sa.segments as f64));
    assert_eq!(
        gauge("wal_open_segment_handles", &dir_a),
        Some(sa.open_segment_handles as f64)
    );
    assert!(sa.open_segment_handles >= 1);
    assert_eq!(gauge("wal_poisoned", &dir_a), Some(0.0));
    let topic_a = [("dir", da), ("topic", "t")];
    assert_eq!(counter("wal_topic_appends_total", &topic_a), Some(10));
    assert_eq!(
        counter("wal_topic_append_bytes_total", &topic_a),
        Some(1000)
    );
    let lag = |consumer: &str| {
        gauge(
            "wal_consumer_lag",
            &[("dir", da), ("topic", "t"), ("consumer", consumer)],
        )
    };
    assert_eq!(lag("billing"), Some(6.0));
    assert_eq!(lag("audit"), Some(10.0));
    let ts = wa.topic_stats("t").unwrap();
    assert_eq!(ts.consumers.len(), 2);
    assert_eq!(
        (ts.consumers[1].name.as_str(), ts.consumers[1].lag),
        ("billing", 6)
    );
    assert_eq!(
        counter("wal_topic_appends_total", &[("dir", db), ("topic", "u")]),
        Some(3)
    );

    // A deleted consumer's series drops to 0 on the next publication.
    assert!(wa.delete_consumer("t", "audit").unwrap());
    wa.publish_metrics();
    assert_eq!(lag("audit"), Some(0.0));

    // The background thread publishes on its own, about once a second.
    c.seek(9).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lag("billing") != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "never published: {:?}",
            lag("billing")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    wa.close().unwrap();
    wb.close().unwrap();
}

#[test]
fn durable_lag_and_poisoning_show_in_gauges() {
    store();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let at = [("dir", d.as_str())];
    let backend = Arc::new(FaultyBackend::new(
        Arc::new(wal_backend_std::StdBackend::default()),
        FaultPlan::seeded(3),
    ));
    let wal = WalBuilder::new()
        .dir(dir.path())
        .backend(backend.clone())
        .fsync(FsyncSchedule::NoFsync)
        .open()
        .unwrap();
    wal.append_for_topic("t", &[1; 100]).unwrap();
    wal.publish_metrics();
    let lag = gauge("wal_durable_lag_bytes", &at).unwrap();
    assert!(lag >= 100.0, "{lag}");
    assert_eq!(gauge("wal_poisoned", &at), Some(0.0));

    let next = backend.counts().syncs + 1;
    backend.set_plan(FaultPlan::seeded(3).fail_sync(next, std::io::ErrorKind::Other));
    assert!(wal.sync().is_err());
    // Set when the log is poisoned, before any publication.
    assert_eq!(gauge("wal_poisoned", &at), Some(1.0));
    wal.publish_metrics();
    assert_eq!(counter("wal_flush_errors_total", &at), Some(1));
    assert_eq!(gauge("wal_durable_lag_bytes", &at), Some(lag));
}
