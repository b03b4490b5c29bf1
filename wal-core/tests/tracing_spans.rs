//! The tracing spans tell logs apart: two logs open in one process, and every event each
//! one emits (on the caller's threads and on its background thread) carries its own
//! directory, through the span it happens in. A small `Subscriber` written here records
//! spans and events; it is the process's global one (this binary holds one test).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use wal_core::{FsyncSchedule, Wal, WalBuilder};

#[derive(Debug, Clone)]
struct SpanData {
    name: &'static str,
    dir: Option<String>,
    parent: Option<u64>,
}

#[derive(Debug, Clone)]
struct EventData {
    target: String,
    message: String,
    thread: String,
    /// The `dir` field of the nearest span in the event's scope that has one.
    span_dir: Option<String>,
    /// The names of the spans in scope, innermost first.
    scope: Vec<&'static str>,
    /// The event's own `dir` and `segment` fields, if any.
    own_dir: Option<String>,
    segment: Option<u64>,
}

#[derive(Default)]
struct Collector {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, SpanData>>,
    events: Mutex<Vec<EventData>>,
    /// When set, DEBUG and TRACE spans are disabled (events stay enabled): a filter at
    /// INFO for spans.
    quiet_spans: AtomicBool,
}

thread_local! {
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    dir: Option<String>,
    segment: Option<u64>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = Some(format!("{value:?}")),
            "dir" => self.dir = Some(format!("{value:?}")),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "segment" {
            self.segment = Some(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl Collector {
    fn current(&self) -> Option<u64> {
        STACK.with(|s| s.borrow().last().copied())
    }

    /// (nearest `dir`, names) along the parent chain from `id`.
    fn scope(&self, mut id: Option<u64>) -> (Option<String>, Vec<&'static str>) {
        let spans = self.spans.lock().unwrap();
        let (mut dir, mut names) = (None, Vec::new());
        while let Some(s) = id.and_then(|i| spans.get(&i)) {
            names.push(s.name);
            if dir.is_none() {
                dir = s.dir.clone();
            }
            id = s.parent;
        }
        (dir, names)
    }
}

impl Subscriber for Collector {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes() // `enabled` decides every time: the filter changes mid-test
    }
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        !(m.is_span() && self.quiet_spans.load(Ordering::SeqCst) && *m.level() > Level::INFO)
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut f = Fields::default();
        attrs.record(&mut f);
        let parent = if attrs.is_root() {
            None
        } else if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else {
            self.current()
        };
        let data = SpanData {
            name: attrs.metadata().name(),
            dir: f.dir,
            parent,
        };
        self.spans.lock().unwrap().insert(id, data);
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let parent = if event.is_root() {
            None
        } else if let Some(p) = event.parent() {
            Some(p.into_u64())
        } else {
            self.current()
        };
        let (span_dir, scope) = self.scope(parent);
        self.events.lock().unwrap().push(EventData {
            target: event.metadata().target().to_owned(),
            message: f.message.unwrap_or_default(),
            thread: std::thread::current().name().unwrap_or("").to_owned(),
            span_dir,
            scope,
            own_dir: f.dir,
            segment: f.segment,
        });
    }
    fn enter(&self, id: &Id) {
        STACK.with(|s| s.borrow_mut().push(id.into_u64()));
    }
    fn exit(&self, id: &Id) {
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&x| x == id.into_u64()) {
                s.remove(i);
            }
        });
    }
}

fn collector() -> &'static Arc<Collector> {
    static C: OnceLock<Arc<Collector>> = OnceLock::new();
    C.get_or_init(|| {
        let c = Arc::new(Collector::default());
        tracing::subscriber::set_global_default(c.clone()).expect("no other subscriber");
        c
    })
}

fn open(dir: &Path, segment_size: u64) -> Wal {
    WalBuilder::new()
        .dir(dir)
        .backend(Arc::new(wal_backend_std::StdBackend::default()))
        .fsync(FsyncSchedule::SyncEach)
        .segment_size(segment_size)
        .open()
        .unwrap()
}

/// The highest segment id in `dir`: the log rolled over to 2, 3, ... up to it.
fn last_segment(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".wal")?.parse::<u64>().ok()
        })
        .max()
        .unwrap()
}

/// How a `dir` field shows the directory.
fn shown(dir: &Path) -> String {
    dir.display().to_string()
}

/// Appends `n` entries of 200 bytes, consumes them, and reclaims: enough to roll over,
/// flush, prepare segments in the background and delete old ones.
fn work(wal: &Wal, n: u64) {
    for i in 0..n {
        wal.append_for_topic("t", &[i as u8; 200]).unwrap();
    }
    while !wal
        .batch_read_for_topic("t", 1 << 20, true)
        .unwrap()
        .is_empty()
    {}
    wal.sync().unwrap();
    wal.reclaim().unwrap();
}

#[test]
fn every_event_of_two_logs_carries_its_own_directory() {
    let c = collector();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (shown(a.path()), shown(b.path()));

    // Two logs open at once, worked on from two threads; A has smaller segments.
    let (wa, wb) = (open(a.path(), 8 << 10), open(b.path(), 32 << 10));
    std::thread::scope(|s| {
        s.spawn(|| work(&wa, 300));
        s.spawn(|| work(&wb, 300));
    });
    let (flushes_a, flushes_b) = (wa.stats().flushes, wb.stats().flushes);
    wa.close().unwrap();
    wb.close().unwrap();
    let (last_a, last_b) = (last_segment(a.path()), last_segment(b.path()));
    assert!(last_a > last_b && last_b >= 2, "{last_a} {last_b}");

    let events: Vec<EventData> = std::mem::take(&mut *c.events.lock().unwrap());
    let ours: Vec<&EventData> = events
        .iter()
        .filter(|e| e.target.starts_with("wal_core"))
        .collect();
    assert!(ours.len() > 10, "{ours:#?}");
    for e in &ours {
        let dir = e.span_dir.as_deref();
        assert!(
            dir == Some(&da) || dir == Some(&db),
            "no log directory: {e:#?}"
        );
        if let Some(own) = &e.own_dir {
            assert_eq!(e.span_dir.as_ref(), Some(own), "{e:#?}");
        }
    }
    // Each log's rollovers carry its own directory: A's are exactly 2..=last_a, B's 2..=last_b.
    let rollovers = |dir: &str| -> BTreeSet<u64> {
        ours.iter()
            .filter(|e| e.message == "rolled over to a new segment")
            .filter(|e| e.span_dir.as_deref() == Some(dir))
            .map(|e| e.segment.unwrap())
            .collect()
    };
    assert_eq!(rollovers(&da), (2..=last_a).collect());
    assert_eq!(rollovers(&db), (2..=last_b).collect());
    for e in ours
        .iter()
        .filter(|e| e.message == "rolled over to a new segment")
    {
        assert_eq!(e.scope[..2], ["wal.rollover", "wal"], "{e:#?}");
    }
    // Each log's background thread prepared segments, and said so inside the log's span.
    for dir in [&da, &db] {
        let background: Vec<_> = ours
            .iter()
            .filter(|e| e.thread == "wal-flush" && e.span_dir.as_deref() == Some(dir))
            .collect();
        assert!(
            background
                .iter()
                .any(|e| e.message == "next segment prepared"),
            "{dir}: {background:#?}"
        );
    }
    // Opening and recovery happen in `wal.open`, which names the directory itself.
    for dir in [&da, &db] {
        assert!(ours.iter().any(|e| e.message == "opened log"
            && e.scope.first() == Some(&"wal.open")
            && e.span_dir.as_deref() == Some(dir)));
        assert!(ours
            .iter()
            .any(|e| e.message == "recovered" && e.span_dir.as_deref() == Some(dir)));
    }
    // One `wal.flush` span per flush leader's cycle (a cycle with nothing to sync is not
    // counted in `flushes`), each inside its log's span; reclaim ran in `wal.reclaim`.
    let spans = c.spans.lock().unwrap().clone();
    let count = |name: &str, dir: &str| {
        spans
            .values()
            .filter(|s| s.name == name)
            .filter(|s| s.parent.and_then(|p| spans[&p].dir.clone()).as_deref() == Some(dir))
            .count() as u64
    };
    assert!(count("wal.flush", &da) >= flushes_a && flushes_a >= 300);
    assert!(count("wal.flush", &db) >= flushes_b && flushes_b >= 300);
    assert!(count("wal.reclaim", &da) >= 1 && count("wal.reclaim", &db) >= 1);
    assert!(ours
        .iter()
        .any(|e| e.message.starts_with("reclaiming a segment") && e.scope[0] == "wal.reclaim"));
    drop(spans);

    // With DEBUG spans filtered out, the log's span stands in for them: a rollover's event
    // still carries the directory.
    c.quiet_spans.store(true, Ordering::SeqCst);
    let q = tempfile::tempdir().unwrap();
    let dq = shown(q.path());
    let wq = open(q.path(), 8 << 10);
    work(&wq, 100);
    wq.close().unwrap();
    let events = std::mem::take(&mut *c.events.lock().unwrap());
    let rolled: Vec<_> = events
        .iter()
        .filter(|e| e.message == "rolled over to a new segment")
        .collect();
    assert!(!rolled.is_empty());
    for e in rolled {
        assert_eq!(e.span_dir.as_deref(), Some(dq.as_str()), "{e:#?}");
        assert_eq!(e.scope, ["wal"], "no DEBUG span was created: {e:#?}");
    }
}
