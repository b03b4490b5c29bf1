//! Regression tests for the defects an outside review found (issue 10), one test per
//! defect, named after it. Each one failed on the code before its fix.

use std::any::Any;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use wal::{Error, FsyncSchedule, ReadConsistency, RecoveryMode, Storage, StorageBackend};
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};
use wal_testkit::logdir::{copy_dir, zero_range};
use wal_testkit::mutate::CountingBackend;

use super::common::{append_n, builder_with_segments, payload, raw_backend, segment_files};

/// Runs `f` on a thread and fails the test if it does not finish within `secs`: a hang
/// is a failure with a message, not a test run that never ends.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        tx.send(out).ok();
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: did not finish within {secs} s (hang)"),
    }
}

/// The segment ids present in `dir`.
fn segment_ids(dir: &Path) -> Vec<u64> {
    segment_files(dir)
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.trim_end_matches(".wal").parse().unwrap()
        })
        .collect()
}

fn assert_consecutive(ids: &[u64]) {
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "segment ids on disk have a gap: {ids:?}"
    );
}

/// A decorator over the suite's backend with two hooks: reads of one segment can be held
/// until released, and a sync can be made to panic once.
#[derive(Debug, Clone, Default)]
struct Hooks {
    /// File name whose reads block while `hold` is set.
    hold_file: Arc<Mutex<Option<String>>>,
    held: Arc<(Mutex<bool>, Condvar)>,
    entered: Arc<AtomicBool>,
    panic_next_sync: Arc<AtomicBool>,
}

#[derive(Debug)]
struct HookedBackend {
    inner: Arc<dyn StorageBackend>,
    hooks: Hooks,
}

#[derive(Debug)]
struct HookedStorage {
    inner: Arc<dyn Storage>,
    name: String,
    hooks: Hooks,
}

impl Hooks {
    fn hold_reads_of(&self, file: &str) {
        *self.hold_file.lock().unwrap() = Some(file.to_owned());
        *self.held.0.lock().unwrap() = true;
    }

    fn release(&self) {
        *self.held.0.lock().unwrap() = false;
        self.held.1.notify_all();
    }

    fn wait_entered(&self) {
        for _ in 0..2000 {
            if self.entered.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the reader never reached the held segment");
    }
}

impl HookedBackend {
    fn wrap(&self, path: &Path, inner: Arc<dyn Storage>) -> Arc<dyn Storage> {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        Arc::new(HookedStorage {
            inner,
            name,
            hooks: self.hooks.clone(),
        })
    }
}

impl StorageBackend for HookedBackend {
    fn name(&self) -> &str {
        "hooked"
    }
    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        Ok(self.wrap(path, self.inner.create(path, len)?))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        Ok(self.wrap(path, self.inner.open(path)?))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

impl HookedStorage {
    fn maybe_panic(&self) {
        if self.hooks.panic_next_sync.swap(false, Ordering::SeqCst) {
            panic!("injected panic in a backend sync");
        }
    }
}

impl Storage for HookedStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, buf)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let held = {
            let mut file = self.hooks.hold_file.lock().unwrap();
            let held = file.as_deref() == Some(&self.name);
            if held {
                *file = None; // only the first read is held
            }
            held
        };
        if held {
            self.hooks.entered.store(true, Ordering::SeqCst);
            let (lock, cv) = &*self.hooks.held;
            let mut on = lock.lock().unwrap();
            while *on {
                on = cv.wait(on).unwrap();
            }
        }
        self.inner.read_at(offset, buf)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn sync(&self) -> io::Result<()> {
        self.maybe_panic();
        self.inner.sync()
    }
    fn sync_range(&self, range: Range<u64>) -> io::Result<()> {
        self.maybe_panic();
        self.inner.sync_range(range)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn hooked() -> (Hooks, Arc<dyn StorageBackend>) {
    let hooks = Hooks::default();
    let backend = Arc::new(HookedBackend {
        inner: raw_backend(),
        hooks: hooks.clone(),
    });
    (hooks, backend)
}

/// A log of 4 KiB segments on the hooked backend, holding 60 entries of 200 bytes (several
/// segments), each appended durably.
fn hooked_log_of_several_segments() -> (tempfile::TempDir, Hooks, Arc<wal::Wal>) {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, backend) = hooked();
    let wal = Arc::new(
        builder_with_segments(dir.path(), 4096)
            .custom_backend(backend)
            .fsync(FsyncSchedule::SyncEach)
            .precreate_segments(false)
            .open()
            .unwrap(),
    );
    for i in 0..60u8 {
        wal.append_for_topic("t", &[i; 200]).unwrap();
    }
    (dir, hooks, wal)
}

/// Starts `read_from("t", 0, ..)` on a thread and holds it inside its first read of
/// segment `held`; meanwhile consumes every entry (durably) and reclaims. The read goes on
/// once `hooks.release()` is called.
fn held_read_while_reclaiming(
    hooks: &Hooks,
    wal: &Arc<wal::Wal>,
    held: u64,
) -> std::thread::JoinHandle<wal::Result<Vec<wal::Entry>>> {
    hooks.hold_reads_of(&super::common::segment_name(held));
    let reader = {
        let wal = wal.clone();
        std::thread::spawn(move || wal.read_from("t", 0, usize::MAX))
    };
    hooks.wait_entered();
    while wal.read_next("t", true).unwrap().is_some() {}
    wal.reclaim().unwrap();
    reader
}

#[test]
fn defect_01_a_held_reader_holds_back_every_later_deletion() {
    let (dir, hooks, wal) = hooked_log_of_several_segments();
    let before = segment_ids(dir.path());
    assert!(
        before.len() >= 4,
        "the set-up needs several segments: {before:?}"
    );

    let reader = held_read_while_reclaiming(&hooks, &wal, before[0]);
    let during = segment_ids(dir.path());
    assert_consecutive(&during);
    assert_eq!(
        during.first(),
        before.first(),
        "the held segment was deleted"
    );

    hooks.release();
    let read = reader.join().unwrap();
    // The read began before the reclaim: it returns what it pinned, or a typed error.
    match read {
        Ok(entries) => assert_eq!(entries[0].data, vec![0u8; 200]),
        Err(e) => assert!(matches!(e, Error::OffsetReclaimed { .. }), "{e}"),
    }
    wal.reclaim().unwrap();
    let after = segment_ids(dir.path());
    assert_consecutive(&after);
    assert!(
        after.len() < before.len(),
        "nothing was reclaimed: {after:?}"
    );
    drop(wal);
    let reopened = super::common::builder(dir.path()).open().unwrap();
    assert_eq!(reopened.get_topic_entry_count("t"), 60);
}

#[test]
fn defect_02_a_consumer_outliving_close_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        super::common::builder(dir.path())
            .fsync(FsyncSchedule::SyncEach)
            .open()
            .unwrap()
    };
    let wal = open();
    wal.append_for_topic("t", b"zero").unwrap();
    let c = wal.consumer("t", "c").unwrap();
    wal.close().unwrap();

    let second = open();
    for i in 0..5u8 {
        second.append_for_topic("t", &[i; 40]).unwrap();
    }
    assert!(matches!(c.read_next(true), Err(Error::Closed)));
    assert!(matches!(c.read_next(false), Err(Error::Closed)));
    drop(second);

    let third = super::common::builder(dir.path())
        .recovery_mode(RecoveryMode::Strict)
        .open()
        .unwrap();
    let all = third.read_from("t", 0, usize::MAX).unwrap();
    assert_eq!(all.len(), 6, "the second instance's entries survive");
    assert_eq!(all[5].data, vec![4u8; 40]);

    // shutdown(): the log still owns the directory, but handles stop writing at once.
    let c = third.consumer("t", "c").unwrap();
    third.shutdown();
    assert!(matches!(c.read_next(true), Err(Error::Closed)));
    assert!(matches!(third.consumer("t", "d"), Err(Error::Closed)));
    drop(third);
    let fourth = open();
    assert_eq!(fourth.consumer("t", "c").unwrap().position(), 0);
}

#[test]
fn defect_03_a_lost_header_page_after_rollover_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder_with_segments(dir.path(), 16 << 10)
        .fsync(FsyncSchedule::NoFsync)
        .precreate_segments(false)
        .open()
        .unwrap();
    // Fill segment 1 (durable: sealed at rollover), then reach well into segment 2, which
    // is written to the OS every write interval but never synced.
    let seg2 = dir.path().join(super::common::segment_name(2));
    let mut n = 0;
    while !seg2.exists() || super::common::used_bytes(&seg2) < 9000 {
        wal.append_for_topic("t", &payload("t", n)).unwrap();
        n += 1;
        if n % 20 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    wal.abandon();
    let durable = segment_one_entries(dir.path());
    assert!(durable > 0);
    // Power loss: the header page of segment 2 is lost, a later page of it survives.
    let seg2 = dir.path().join(super::common::segment_name(2));
    zero_range(&seg2, 0..4096);

    let report = wal::inspect::inspect(dir.path(), &*raw_backend()).unwrap();
    assert!(!report.is_damaged(), "a lost header page is a torn tail");
    for mode in [RecoveryMode::Strict, RecoveryMode::PointInTime] {
        let wal = super::common::builder(dir.path())
            .recovery_mode(mode)
            .open()
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let got = wal.read_from("t", 0, usize::MAX).unwrap();
        assert!(
            got.len() as u64 >= durable,
            "{mode:?}: lost durable entries"
        );
        for e in &got {
            assert_eq!(e.data, payload("t", e.offset));
        }
        let next = wal
            .append_for_topic("t", &payload("t", got.len() as u64))
            .unwrap();
        assert_eq!(next, got.len() as u64);
        wal.close().unwrap();
    }
}

/// Entries of topic "t" that live in segment 1 (made durable when it was sealed).
fn segment_one_entries(dir: &Path) -> u64 {
    let report = wal::inspect::inspect(dir, &*raw_backend()).unwrap();
    report
        .entries(&*raw_backend(), "t", 0, usize::MAX)
        .unwrap()
        .iter()
        .filter(|e| e.segment == 1)
        .count() as u64
}

/// Runs strict open, point-in-time open and inspect on `dir`; none may panic, and each
/// either succeeds or returns a typed error.
fn open_every_way(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for mode in [RecoveryMode::Strict, RecoveryMode::PointInTime] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir, copy.path());
        let path = copy.path().to_owned();
        let result = within(120, "open", move || {
            super::common::builder(&path)
                .recovery_mode(mode)
                .open()
                .map(|w| w.topics().len())
        });
        out.push(format!("{mode:?}: {:?}", result.map_err(|e| e.to_string())));
    }
    let path = dir.to_owned();
    let inspected = within(120, "inspect", move || {
        wal::inspect::inspect(&path, &*raw_backend()).map(|i| i.is_clean())
    });
    out.push(format!(
        "inspect: {:?}",
        inspected.map_err(|e| e.to_string())
    ));
    out
}

#[test]
fn defect_04_a_segment_length_that_is_not_a_multiple_of_8_is_refused_without_a_panic() {
    let src = tempfile::tempdir().unwrap();
    let wal = super::common::builder(src.path()).open().unwrap();
    wal.append_for_topic("t", &[7u8; 60]).unwrap();
    wal.append_for_topic("t", &[8u8; 60]).unwrap();
    wal.close().unwrap();
    let seg = segment_files(src.path())[0].clone();
    for len in [33u64, 60, 89, 95, 121, 130, 4095, 4097] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(src.path(), dir.path());
        let copy = dir.path().join(seg.file_name().unwrap());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_len(len)
            .unwrap();
        // Every way of opening it returns (a typed error is fine); a panic fails the test.
        let results = open_every_way(dir.path());
        assert_eq!(results.len(), 3, "length {len}: {results:?}");
    }
}

#[test]
fn defect_05_retention_trusts_only_durable_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyBackend::new(raw_backend(), FaultPlan::seeded(5)));
    let open = |faulty: &Arc<FaultyBackend>| {
        builder_with_segments(dir.path(), 4096)
            .custom_backend(faulty.clone())
            .fsync(FsyncSchedule::NoFsync)
            .consistency(ReadConsistency::StrictlyAtOnce)
            .precreate_segments(false)
            .open()
            .unwrap()
    };
    let wal = open(&faulty);
    for i in 0..60u8 {
        wal.append_for_topic("t", &[i; 200]).unwrap();
    }
    assert!(segment_ids(dir.path()).len() >= 4);
    wal.sync().unwrap();
    // Consumed in one checkpointed batch read: under NoFsync its cursor record is only
    // written, not durable.
    assert_eq!(
        wal.batch_read_for_topic("t", usize::MAX, true)
            .unwrap()
            .len(),
        60
    );
    wal.reclaim().unwrap();
    wal.abandon();
    faulty.crash(CrashMode::DropUnsynced).unwrap();

    let wal = open(&faulty);
    let all = wal.read_from("t", 0, usize::MAX).unwrap();
    assert_eq!(
        all.len(),
        60,
        "entries behind a cursor that was not durable were reclaimed"
    );
    assert_eq!(wal.read_next("t", false).unwrap().unwrap().offset, 0);
}

#[test]
fn defect_06_a_panicking_backend_poisons_the_log_and_every_waiter_returns() {
    for schedule in [FsyncSchedule::SyncEach, FsyncSchedule::Milliseconds(5)] {
        within(60, "panicking backend", move || {
            let dir = tempfile::tempdir().unwrap();
            let (hooks, backend) = hooked();
            let wal = Arc::new(
                super::common::builder(dir.path())
                    .custom_backend(backend)
                    .fsync(schedule)
                    .open()
                    .unwrap(),
            );
            wal.append_for_topic("t", b"before").unwrap();
            wal.sync().unwrap();
            hooks.panic_next_sync.store(true, Ordering::SeqCst);
            let first = wal
                .append_for_topic("t", b"during")
                .and_then(|_| wal.sync());
            let Err(Error::Poisoned { cause }) = first else {
                panic!("{schedule:?}: expected poisoned, got {first:?}");
            };
            assert!(
                matches!(&*cause, Error::BackendPanicked { .. }),
                "{schedule:?}: cause {cause}"
            );
            // Every later caller gets an answer.
            let waiters: Vec<_> = (0..4)
                .map(|_| {
                    let wal = wal.clone();
                    std::thread::spawn(move || wal.sync())
                })
                .collect();
            for w in waiters {
                assert!(matches!(w.join().unwrap(), Err(Error::Poisoned { .. })));
            }
            assert!(wal.append_for_topic("t", b"after").is_err());
            let wal = Arc::try_unwrap(wal).unwrap();
            assert!(wal.close().is_err(), "close reports the poison");
            // Data durable before the panic survives.
            let wal = super::common::builder(dir.path()).open().unwrap();
            assert_eq!(wal.read_from("t", 0, 1).unwrap()[0].data, b"before");
        });
    }
}

/// Writes a hostile segment `id` of `len` bytes into `dir`: a valid header and topic
/// definition, then one 8-byte word repeated to the end, chosen so that every 8-byte
/// position reads as a well-formed entry header whose length reaches far ahead and whose
/// `synced` field claims everything before it durable (kind 1, flags 0, length = synced).
fn write_hostile_segment(dir: &Path, id: u64, len: u64) -> PathBuf {
    use wal_core::format::{encode_record, encode_segment_header, RecordFields, RecordKind};
    let mut bytes = encode_segment_header(id).to_vec();
    encode_record(
        &mut bytes,
        id,
        RecordFields::new(RecordKind::TopicDef, 0, 0),
        b"t",
    );
    let claimed = ((len / 3) as u32) & !7;
    let mut word = [0u8; 8];
    word[0] = RecordKind::Entry as u8;
    word[4..8].copy_from_slice(&claimed.to_le_bytes());
    while (bytes.len() as u64) < len {
        bytes.extend_from_slice(&word);
    }
    bytes.truncate(len as usize);
    let path = dir.join(super::common::segment_name(id));
    std::fs::write(&path, &bytes).unwrap();
    path
}

#[test]
fn defect_07_recovery_is_linear_on_a_hostile_segment() {
    let dir = tempfile::tempdir().unwrap();
    let len = 4 << 20;
    write_hostile_segment(dir.path(), 1, len);
    let path = dir.path().to_owned();
    let report = within(120, "inspect of a hostile segment", move || {
        wal::inspect::inspect(&path, &*raw_backend()).unwrap()
    });
    let stats = report.scan_stats();
    assert!(
        stats.bytes_checksummed <= 3 * len + (1 << 20),
        "checksummed {} bytes of a {len}-byte file",
        stats.bytes_checksummed
    );
    let results = open_every_way(dir.path());
    assert!(
        results[0].contains("Err"),
        "strict open must refuse: {results:?}"
    );
}

#[test]
fn defect_08_recovery_memory_follows_configuration_not_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder_with_segments(dir.path(), 64 << 10).open().unwrap();
    append_n(&wal, "t", 100);
    wal.close().unwrap();
    // A segment file far larger than segment_size (sparse: cheap to make).
    let last = segment_files(dir.path()).pop().unwrap();
    let big = 256 << 20;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(big)
        .unwrap();
    let backend = Arc::new(CountingBackend::new(raw_backend()));
    let report = wal::inspect::inspect(dir.path(), &*backend).unwrap();
    assert!(report.scan_stats().largest_read <= 1 << 20);
    let counted = backend.clone();
    let wal = builder_with_segments(dir.path(), 64 << 10)
        .custom_backend(backend)
        .open()
        .unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 100);
    drop(wal);
    let largest = counted.counts().largest;
    assert!(
        largest <= 1 << 20,
        "a single read of {largest} bytes for a {big}-byte file"
    );
}

#[test]
fn defect_09_a_full_topic_table_refuses_new_topics_and_the_log_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let seg = 64 << 10;
    let wal = builder_with_segments(dir.path(), seg).open().unwrap();
    let mut created = 0;
    let err = loop {
        match wal.append_for_topic(&format!("topic-{created:05}"), b"x") {
            Ok(_) => created += 1,
            Err(e) => break e,
        }
        assert!(created < 10_000, "the topic table never filled up");
    };
    assert!(matches!(err, Error::TopicTableFull { .. }), "{err}");
    assert!(matches!(
        wal.consumer("topic-00000", &"c".repeat(200)),
        Err(Error::TopicTableFull { .. })
    ));
    // Existing topics keep working across many rollovers, and after a reopen.
    for i in 0..2_000u64 {
        wal.append_for_topic("topic-00001", &[i as u8; 200])
            .unwrap();
    }
    assert!(segment_files(dir.path()).len() > 3);
    drop(wal);
    let wal = builder_with_segments(dir.path(), seg).open().unwrap();
    wal.append_for_topic("topic-00001", b"after reopen")
        .unwrap();
    assert_eq!(wal.topics().len(), created);
}

#[test]
fn defect_10_read_next_blocking_with_duration_max_waits_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(super::common::builder(dir.path()).open().unwrap());
    let reader = {
        let wal = wal.clone();
        std::thread::spawn(move || wal.read_next_blocking("t", true, Duration::MAX))
    };
    std::thread::sleep(Duration::from_millis(50));
    wal.append_for_topic("t", b"wake").unwrap();
    let got = within(30, "blocking read", move || reader.join().unwrap());
    assert_eq!(got.unwrap().unwrap().data, b"wake");
}

#[test]
fn defect_10_huge_intervals_keep_the_flush_thread_alive() {
    for (schedule, interval) in [
        (FsyncSchedule::NoFsync, Duration::MAX),
        (FsyncSchedule::Milliseconds(u64::MAX), Duration::MAX),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let wal = super::common::builder(dir.path())
            .fsync(schedule)
            .write_interval(interval)
            .write_buffer(4096)
            .open()
            .unwrap();
        // Past write_buffer, the background thread is woken to write: it must be alive.
        for i in 0..100u8 {
            wal.append_for_topic("t", &[i; 100]).unwrap();
        }
        let alive = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            wal.stats().writes > 0
        });
        assert!(alive, "{schedule:?}: the flush thread never wrote");
        wal.sync().unwrap();
        wal.close().unwrap();
    }
}

#[test]
fn defect_10_huge_sizes_are_refused_or_work_without_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let err = super::common::builder(dir.path())
        .max_entry_size(usize::MAX)
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let wal = super::common::builder(dir.path())
        .write_buffer(usize::MAX)
        .max_pending(usize::MAX)
        .open()
        .unwrap();
    wal.append_for_topic("t", b"x").unwrap();
    wal.append_for_topic("t", b"y").unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.read_from("t", 0, usize::MAX).unwrap().len(), 2);
}

#[test]
fn defect_10_read_from_racing_reclaim_is_offset_reclaimed_never_io() {
    // Deterministic: a read_from is held inside its first segment while everything is
    // consumed and reclaimed; when it goes on to the next segment, that one must still be
    // readable (or the answer is OffsetReclaimed), never an I/O error.
    let (_dir, hooks, wal) = hooked_log_of_several_segments();
    let reader = held_read_while_reclaiming(&hooks, &wal, 1);
    hooks.release();
    match reader.join().unwrap() {
        Ok(entries) => assert_eq!(entries.len(), 60),
        Err(Error::OffsetReclaimed { .. }) => {}
        Err(e) => panic!("read_from racing reclaim: {e}"),
    }
}

#[test]
fn defect_10_read_from_racing_reclaim_in_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(super::common::tiny_sync_each(dir.path()).open().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (wal, stop) = (wal.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let oldest = wal.oldest_offset("t").unwrap_or(0);
                match wal.read_from("t", oldest, 4096) {
                    Ok(entries) => {
                        for e in entries {
                            assert_eq!(e.data, payload("t", e.offset));
                        }
                    }
                    Err(Error::OffsetReclaimed { .. }) => {}
                    Err(e) => panic!("read_from racing reclaim: {e}"),
                }
                reads += 1;
            }
            reads
        })
    };
    for i in 0..400 {
        wal.append_for_topic("t", &payload("t", i)).unwrap();
        while wal.read_next("t", true).unwrap().is_some() {}
        wal.reclaim().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn defect_10_flags_on_a_cursor_record_are_damage_not_accepted() {
    use wal_core::format::{encode_record, RecordFields, RecordKind, FLAG_BATCH, FLAG_BATCH_END};
    let dir = tempfile::tempdir().unwrap();
    let wal = super::common::builder(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap();
    wal.append_for_topic("t", b"a").unwrap();
    wal.append_for_topic("t", b"b").unwrap();
    wal.close().unwrap();
    let seg = segment_files(dir.path())[0].clone();
    let end = super::common::used_bytes(&seg).next_multiple_of(8);
    let mut bad = Vec::new();
    let flags = FLAG_BATCH | FLAG_BATCH_END; // a whole "batch" of one cursor record
    encode_record(
        &mut bad,
        1,
        RecordFields::new(RecordKind::Cursor, 0, 1).with_flags(flags),
        b"",
    );
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(&bad, end).unwrap();
    }
    let report = wal::inspect::inspect(dir.path(), &*raw_backend()).unwrap();
    assert!(
        !report.is_clean(),
        "a flagged cursor record passed as clean"
    );
    for _ in 0..2 {
        let wal = super::common::builder(dir.path()).open().unwrap();
        let all = wal.read_from("t", 0, 2).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].data, b"a");
        wal.append_for_topic("t", b"more").unwrap();
        wal.close().unwrap();
    }
}
