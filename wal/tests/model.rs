//! Model-based test over the whole API: proptest draws a log's settings and a sequence of
//! operations (appends and batches on three topics, reads through the shared cursor and
//! named consumers under both read consistencies, batch reads, `read_from`, syncs,
//! `wait_durable`, `truncate_before`, suffix truncations (`truncate_from`), topics that
//! start past their end, metadata (`set_meta`), `on_durable` callbacks, `reclaim`,
//! concurrent writers and a reader, clean
//! reopens, process kills, power cuts in the middle of any of them, injected I/O failures
//! (a failed sync, directory sync, write or removal, a short write, a full disk) and
//! power losses in every crash mode), runs them on a `FaultyBackend` over each backend compiled in, and
//! checks every result and every restart against a model
//! (`wal_testkit::campaign`, whose documentation lists the checks).
//!
//! Failing cases are shrunk and printed by proptest (and kept in
//! `model.proptest-regressions` beside this file, replayed first on the next run); each
//! one found is also kept below as a named regression test replaying its operations.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use wal::{FsyncSchedule, ReadConsistency, StorageBackend};
use wal_testkit::campaign::{
    self, CampaignConfig, FaultKind, InnerBackend, Op, Reader, Retention, RunSpec, Setup,
};
use wal_testkit::faulty::{CrashMode, ALL_CRASH_MODES};

fn reader() -> impl Strategy<Value = Reader> {
    prop_oneof![Just(Reader::Shared), (0u8..2).prop_map(Reader::Named)]
}

fn crash_mode() -> impl Strategy<Value = CrashMode> {
    proptest::sample::select(ALL_CRASH_MODES)
}

fn op() -> impl Strategy<Value = Op> {
    let topic = 0u8..3;
    prop_oneof![
        12 => (topic.clone(), prop_oneof![4 => 0u16..300, 1 => 300u16..2000])
            .prop_map(|(topic, len)| Op::Append { topic, len }),
        4 => (topic.clone(), 2u8..8, 0u16..200).prop_map(|(topic, n, len)| Op::Batch { topic, n, len }),
        6 => (topic.clone(), reader(), any::<bool>())
            .prop_map(|(topic, reader, checkpoint)| Op::Read { topic, reader, checkpoint }),
        3 => (topic.clone(), reader(), 0u16..1500, any::<bool>()).prop_map(
            |(topic, reader, max_bytes, checkpoint)| Op::BatchRead { topic, reader, max_bytes, checkpoint }
        ),
        2 => (topic.clone(), any::<u8>(), 0u16..3000)
            .prop_map(|(topic, at, max_bytes)| Op::ReadFrom { topic, at, max_bytes }),
        2 => Just(Op::Sync),
        2 => topic.clone().prop_map(|topic| Op::WaitDurable { topic }),
        1 => (topic.clone(), any::<u8>()).prop_map(|(topic, at)| Op::TruncateBefore { topic, at }),
        2 => (topic.clone(), any::<u8>()).prop_map(|(topic, at)| Op::TruncateFrom { topic, at }),
        1 => (topic.clone(), 0u8..20).prop_map(|(topic, skip)| Op::StartAt { topic, skip }),
        1 => (topic, 0u8..3, 0u16..100).prop_map(|(topic, key, len)| Op::SetMeta { topic, key, len }),
        1 => Just(Op::OnDurable),
        2 => Just(Op::Reclaim),
        1 => (1u8..4, 1u8..12, proptest::option::of(reader()), any::<bool>()).prop_map(
            |(writers, appends, reader, churn)| Op::Concurrent { writers, appends, reader, churn }
        ),
        1 => Just(Op::Reopen),
        1 => Just(Op::Kill),
        2 => (0u16..40).prop_map(|after| Op::PowerOff { after }),
        2 => crash_mode().prop_map(Op::Crash),
        1 => (proptest::sample::select(&FaultKind::ALL[..]), 0u8..6, 1u8..40)
            .prop_map(|(kind, after, calls)| Op::Fault { kind, after, calls }),
        1 => Just(Op::Heal),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    let schedule = prop_oneof![
        Just(FsyncSchedule::SyncEach),
        Just(FsyncSchedule::Milliseconds(3_600_000)),
        Just(FsyncSchedule::Milliseconds(5)),
        Just(FsyncSchedule::NoFsync),
    ];
    let consistency = prop_oneof![
        Just(ReadConsistency::StrictlyAtOnce),
        (1u32..5).prop_map(|persist_every| ReadConsistency::AtLeastOnce { persist_every }),
    ];
    let retention = prop_oneof![
        3 => Just(Retention::None),
        1 => (1u8..4).prop_map(Retention::Segments),
        1 => Just(Retention::AgeForever),
        1 => (1u16..30).prop_map(Retention::AgeMillis),
    ];
    (
        (schedule, consistency, retention, any::<u64>()),
        (
            proptest::sample::select(&[4u64 << 10, 8 << 10, 16 << 10][..]),
            any::<bool>(),
            proptest::sample::select(&[512usize, 4 << 10, 1 << 20][..]),
            prop_oneof![
                Just(Duration::from_millis(2)),
                Just(Duration::from_secs(3600))
            ],
            proptest::sample::select(&[2usize, 64][..]),
        ),
    )
        .prop_map(
            |(
                (schedule, consistency, retention, fault_seed),
                (segment_size, precreate, write_buffer, write_interval, max_open_segments),
            )| Setup {
                fault_seed,
                schedule,
                consistency,
                segment_size,
                retention,
                precreate,
                write_buffer,
                write_interval,
                max_open_segments,
            },
        )
}

/// Runs `ops` and a last power loss on a fresh log, and fails on any violation.
fn run(inner: Arc<dyn StorageBackend>, setup: Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut ops = ops.to_vec();
    ops.push(Op::Crash(CrashMode::KeepRandomPrefix));
    ops.push(Op::Reopen);
    match campaign::replay(inner, setup, &ops, &dir.path().join("log")) {
        Ok(stats) => {
            prop_assert!(stats.power_losses >= 1, "the last power loss was simulated");
            Ok(())
        }
        Err(v) => Err(TestCaseError::fail(v.to_string())),
    }
}

/// The backends compiled in, each as a fresh raw backend.
fn std_backend() -> Arc<dyn StorageBackend> {
    Arc::new(wal::StdBackend::default())
}

#[cfg(feature = "mmap")]
fn mmap_backend() -> Arc<dyn StorageBackend> {
    Arc::new(wal_backend_mmap::MmapBackend::default())
}

#[cfg(feature = "uring")]
fn uring_backend() -> Arc<dyn StorageBackend> {
    match wal_backend_uring::UringBackend::probe() {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("io_uring is unavailable on this machine: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        // Failures go to `model.proptest-regressions` beside this file, replayed first
        // on the next run; copy each into a named test below as well.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_log_matches_the_model_on_std(setup in setup(), ops in prop::collection::vec(op(), 1..150)) {
        run(std_backend(), setup, &ops)?;
    }

    #[cfg(feature = "mmap")]
    #[test]
    fn the_log_matches_the_model_on_mmap(setup in setup(), ops in prop::collection::vec(op(), 1..150)) {
        run(mmap_backend(), setup, &ops)?;
    }

    #[cfg(feature = "uring")]
    #[test]
    fn the_log_matches_the_model_on_uring(setup in setup(), ops in prop::collection::vec(op(), 1..150)) {
        run(uring_backend(), setup, &ops)?;
    }
}

/// The campaign itself, briefly, on every backend compiled in: its own mix of operations,
/// with a power cut before every power loss.
#[test]
fn a_short_campaign_finds_nothing() {
    let mut cfg = CampaignConfig::new(0x10D, 150, InnerBackend::Std);
    cfg.backends = InnerBackend::ALL
        .into_iter()
        .filter(|b| b.is_compiled_in())
        .collect();
    cfg.losses_per_run = 10;
    let report = campaign::run(&cfg, &mut |_| {});
    assert!(
        report.skipped_backends.is_empty(),
        "{:?}",
        report.skipped_backends
    );
    assert!(report.is_clean(), "{:#?}", report.failures);
    assert!(report.stats.power_losses >= 150, "{:?}", report.stats);
    assert!(report.stats.entries_checked > 0, "{:?}", report.stats);
    let faults = report.stats.faults_total();
    assert!(
        faults.poisoned > 0 && faults.healthy > 0 && report.stats.refused_writes > 0,
        "injected faults poisoned the log and left it healthy: {:?}",
        report.stats.faults
    );
}

/// The settings the model test used before it covered the whole API: 16 KiB segments,
/// the builder's defaults otherwise.
fn first_model_setup(schedule: FsyncSchedule, consistency: ReadConsistency, seed: u64) -> Setup {
    Setup {
        fault_seed: seed,
        schedule,
        consistency,
        segment_size: 16 << 10,
        retention: Retention::None,
        precreate: true,
        write_buffer: 1 << 20,
        write_interval: Duration::from_millis(10),
        max_open_segments: 64,
    }
}

/// A batch torn by a power loss right after an acknowledged single append: the append
/// survives, the batch does not appear in part.
#[test]
fn regression_torn_batch_after_durable_append() {
    let setup = first_model_setup(FsyncSchedule::NoFsync, ReadConsistency::StrictlyAtOnce, 11);
    run(
        std_backend(),
        setup,
        &[
            Op::Append { topic: 0, len: 10 },
            Op::Sync,
            Op::Batch {
                topic: 0,
                n: 5,
                len: 40,
            },
            Op::Crash(CrashMode::TearLastSector),
            Op::Read {
                topic: 0,
                reader: Reader::Shared,
                checkpoint: true,
            },
            Op::Batch {
                topic: 1,
                n: 3,
                len: 40,
            },
        ],
    )
    .unwrap();
}

/// Found by the first run (a model error, kept so the lesson stays checked):
/// `wait_durable` on an entry that is already durable returns at once, so it makes durable
/// only what came before that entry in the log, not what was appended before the call.
#[test]
fn regression_wait_durable_covers_what_came_before_the_entry() {
    let setup = first_model_setup(
        FsyncSchedule::Milliseconds(3_600_000),
        ReadConsistency::AtLeastOnce { persist_every: 3 },
        0,
    );
    run(
        std_backend(),
        setup,
        &[
            Op::Append { topic: 1, len: 0 },
            Op::Reopen,
            Op::Append { topic: 0, len: 0 },
            Op::WaitDurable { topic: 1 },
            Op::Crash(CrashMode::DropUnsynced),
        ],
    )
    .unwrap();
}

/// Runs run `run` of a campaign (run seed `run_seed`, 25 power losses, on std) up to
/// `attempts` times, failing on the first violation. The operations and crash points are
/// the same every time, the interleaving with the background thread is not, so a
/// campaign's finding usually shows again within a few attempts.
fn replay_campaign_run(run_seed: u64, run: u64, attempts: u32) {
    for attempt in 1..=attempts {
        let dir = tempfile::tempdir().unwrap();
        let spec = RunSpec {
            run_seed,
            power_losses: 25,
            modes: ALL_CRASH_MODES.to_vec(),
            first_mode: (run * 25) as usize,
            dir: dir.path().join("log"),
            // Found before the campaign injected I/O failures: the same operations.
            inject_faults: false,
        };
        let outcome = campaign::run_one(&spec, std_backend(), &mut |_| {});
        if let Some(v) = outcome.violation {
            panic!("attempt {attempt} of run seed {run_seed:#x}: {v}");
        }
    }
}

/// Found by the campaign (seed 0xf00d, run 36): the last segment's header written in part
/// or garbled by a power loss (`TearLastSector`, `KeepRandomPrefix`), never synced, and
/// recovery refused it as a foreign file ("bad magic", "segment header checksum
/// mismatch") instead of cutting it as a torn tail: nothing in that segment can have been
/// acknowledged.
#[test]
fn regression_a_torn_header_of_the_last_segment_is_a_torn_tail() {
    replay_campaign_run(0x4f4e_3151_71e2_c734, 36, 10);
}

/// Found by the campaign (seed 0xf00d, runs 126 and 0): a trailing segment made ahead of
/// time whose zero-fill was never synced, its header zeros but its last sector garbled
/// (`TearLastSector`), was kept as a segment; the segment before it, whose own unsynced
/// tail was torn, was then judged as a middle segment and the log refused to open
/// ("checksum mismatch", "segment header is missing (zeros)").
#[test]
fn regression_a_headerless_trailing_segment_does_not_hide_the_torn_tail_before_it() {
    replay_campaign_run(0xd0ef_c7d7_82cd_1de9, 126, 10);
    replay_campaign_run(0x9ea5_2f40_51fe_66a0, 0, 10);
}

/// A backend whose first removal, once armed, waits before it removes: a deleter that
/// the scheduler put aside between choosing its segments and deleting them.
#[derive(Debug, Default)]
struct SlowFirstRemove {
    inner: wal::StdBackend,
    armed: std::sync::atomic::AtomicBool,
}

impl StorageBackend for SlowFirstRemove {
    fn name(&self) -> &str {
        "slow-first-remove"
    }

    fn create(&self, path: &std::path::Path, len: u64) -> std::io::Result<Arc<dyn wal::Storage>> {
        self.inner.create(path, len)
    }

    fn open(&self, path: &std::path::Path) -> std::io::Result<Arc<dyn wal::Storage>> {
        self.inner.open(path)
    }

    fn remove(&self, path: &std::path::Path) -> std::io::Result<()> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(500));
        }
        self.inner.remove(path)
    }

    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

/// Found by the campaign (seed 9, run 790 on mmap, run seed 0x633ec5f2767d9ad3: "segment
/// 9 is missing between 8 and 11" after a power loss). Two deleters (the background
/// thread and `reclaim()`) each take the oldest doomed segments nobody holds; the second
/// takes the next ones while the first is still deleting its own, so later segments go
/// first. A power loss then leaves a gap, and Strict open fails.
#[test]
fn regression_two_deleters_never_remove_a_later_segment_first() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(SlowFirstRemove::default());
    let wal = Arc::new(
        wal::Wal::builder()
            .dir(dir.path())
            .fsync(FsyncSchedule::SyncEach)
            .segment_size(4096)
            .precreate_segments(false)
            .custom_backend(backend.clone())
            .open()
            .unwrap(),
    );
    let fill = |n: u64| {
        for i in 0..n {
            wal.append_for_topic("t", &[i as u8; 300]).unwrap();
        }
        wal.batch_read_for_topic("t", usize::MAX, true).unwrap();
    };
    fill(40);
    backend
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let first = {
        let wal = wal.clone();
        std::thread::spawn(move || wal.reclaim().unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    fill(40);
    wal.reclaim().unwrap();
    let ids = wal_core::segment::list_segments(dir.path()).unwrap();
    first.join().unwrap();
    let contiguous = ids.windows(2).all(|w| w[1] == w[0] + 1);
    assert!(
        contiguous,
        "segments on disk while the first deleter waited: {ids:?}"
    );
}

/// What a reclaiming thread tells the test: it stopped right after taking its first
/// segment out of the log, or it returned without ever getting there.
#[derive(Debug, PartialEq, Eq)]
enum Reclaimer {
    Paused,
    Done,
}

/// A tracing subscriber, installed on one thread only, that stops that thread at its
/// first "reclaiming a segment" event (`wal_core::retention`, field `segment`) until the
/// test lets it go. That event comes between taking the oldest segment out of the log's
/// segment table and going on to delete it, with no lock held: the place where a
/// reclaimer the scheduler sets aside lets another one run.
struct PauseAtReclaim {
    tell: std::sync::mpsc::Sender<Reclaimer>,
    resume: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    paused: std::sync::atomic::AtomicBool,
}

impl tracing::Subscriber for PauseAtReclaim {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        let reclaiming =
            meta.target() == "wal_core::retention" && meta.fields().field("segment").is_some();
        if reclaiming && !self.paused.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.tell.send(Reclaimer::Paused).unwrap();
            // Until the test lets go (an error means it is gone: nothing to wait for).
            let resume = self.resume.lock().unwrap();
            resume.recv().unwrap_or(());
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Found by `regression_a_torn_header_of_the_last_segment_is_a_torn_tail` on a loaded
/// machine (run seed 0x4f4e315171e2c734, "segment 2 is missing between 1 and 3" after a
/// power loss): a concurrent phase's reclaiming thread took segment 1 out of the segment
/// table, and was set aside before it queued the segment for deletion; the background
/// thread then took segments 2 to 4 and deleted them, so segment 1 stayed behind a gap
/// once the power went off. Here the set-aside is made certain: the first reclaimer stops
/// after taking segment 1 out, another reclaims meanwhile, and the power goes off before
/// the first one goes on. The ids on disk must stay consecutive and the log must open.
#[test]
fn regression_a_reclaimer_set_aside_after_choosing_its_segment_holds_back_later_deletions() {
    use std::sync::mpsc::channel;
    use wal_testkit::faulty::{FaultPlan, FaultyBackend};

    // The background thread reclaims too, and may get there first: then the first
    // reclaimer never stops, and the set-up is tried again on a fresh log.
    for attempt in 0..5u64 {
        let dir = tempfile::tempdir().unwrap();
        let backend = FaultyBackend::new(std_backend(), FaultPlan::seeded(attempt));
        let open = || {
            wal::Wal::builder()
                .dir(dir.path())
                .fsync(FsyncSchedule::SyncEach)
                .segment_size(4096)
                .precreate_segments(false)
                .custom_backend(Arc::new(backend.clone()))
                .open()
        };
        let wal = Arc::new(open().unwrap());
        for i in 0..40u8 {
            wal.append_for_topic("t", &[i; 300]).unwrap();
        }
        assert!(wal.segment_count() >= 4, "{} segments", wal.segment_count());
        wal.batch_read_for_topic("t", usize::MAX, true).unwrap();

        let (tell, told) = channel();
        let (resume, resumed) = channel();
        let first = {
            let wal = wal.clone();
            let hook = PauseAtReclaim {
                tell: tell.clone(),
                resume: std::sync::Mutex::new(resumed),
                paused: std::sync::atomic::AtomicBool::new(false),
            };
            std::thread::spawn(move || {
                let r = tracing::subscriber::with_default(hook, || wal.reclaim());
                tell.send(Reclaimer::Done).unwrap();
                r
            })
        };
        if told.recv().unwrap() == Reclaimer::Done {
            first.join().unwrap().unwrap();
            continue;
        }
        let second = wal.reclaim().unwrap();
        let ids = wal_core::segment::list_segments(dir.path()).unwrap();
        // The power goes off before the first reclaimer goes on.
        let mutations = backend.counts().mutations;
        backend.set_plan(FaultPlan::seeded(attempt).power_off_after(mutations));
        resume.send(()).unwrap();
        assert_eq!(told.recv().unwrap(), Reclaimer::Done);
        // Its deletions fail with the power off, and are only logged.
        first.join().unwrap().unwrap();
        Arc::into_inner(wal).unwrap().abandon();
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "segments on disk while the first reclaimer was set aside \
             (the second reclaimed {second}): {ids:?}"
        );
        backend.crash(CrashMode::LoseDirOps).unwrap();
        let wal = open().unwrap();
        assert_eq!(wal.get_topic_entry_count("t"), 40);
        return;
    }
    panic!(
        "the first reclaimer never stopped: the background thread reclaimed first on every \
         attempt, or the event PauseAtReclaim waits for is gone from wal_core::retention"
    );
}

/// Found while chasing a replay failure of run seed 0x4f4e315171e2c734 that showed once in
/// 80 runs after the reclaim race above was fixed ("topic-0: 0 entries after a Power
/// restart, 129 of 129 had to survive"; 600 more runs with tracing added did not show it
/// again): a way to lose a whole topic. A power loss keeps only the first sector of the last
/// segment's preamble (the topic and cursor declarations a rollover writes first in a new
/// segment), so recovery declares the cut-off topics again at open. Those declarations
/// were only queued: reclaim could then delete the segment before, the last one that
/// declared those topics durably, and a second power loss lost the topics with every
/// offset they held. Open now makes them durable before it returns.
#[test]
fn regression_topics_declared_again_after_a_torn_preamble_are_durable_before_older_segments_go() {
    use wal_testkit::faulty::{FaultPlan, FaultyBackend};

    // Twelve topics: a segment's preamble declares them (and their shared cursors) in
    // about 1.1 KiB, more than two sectors.
    let names: Vec<String> = (0..12)
        .map(|i| format!("topic-{i:02}-{}", "x".repeat(32)))
        .collect();
    // Each filler size fills the first segment differently; one whose append (not the
    // cursor record of the read after it) starts the second segment is wanted.
    for filler in (40..200).step_by(8) {
        let dir = tempfile::tempdir().unwrap();
        let backend = FaultyBackend::new(std_backend(), FaultPlan::seeded(5));
        let open = || {
            wal::Wal::builder()
                .dir(dir.path())
                .fsync(FsyncSchedule::Milliseconds(3_600_000))
                .consistency(ReadConsistency::StrictlyAtOnce)
                .segment_size(4096)
                .precreate_segments(false)
                .custom_backend(Arc::new(backend.clone()))
                .open()
                .unwrap()
        };
        let wal = open();
        // Every entry of the first segment consumed, each cursor durable.
        for name in &names {
            wal.append_for_topic(name, b"first").unwrap();
            wal.batch_read_for_topic(name, usize::MAX, true).unwrap();
        }
        let rolled_by_append = loop {
            let at = wal.append_for_topic(&names[0], &vec![1u8; filler]).unwrap();
            if wal.segment_count() > 1 {
                break Some(at);
            }
            wal.batch_read_for_topic(&names[0], usize::MAX, true)
                .unwrap();
            if wal.segment_count() > 1 {
                break None;
            }
        };
        let Some(at) = rolled_by_append else {
            wal.abandon();
            continue;
        };
        // The new segment's preamble and that entry reach the OS (a read writes them), not
        // the disk: the power goes, and the disk keeps only their first sector (the header
        // before them was synced when the file was made). So from byte 512 on, the file
        // holds what it held before: zeros.
        assert_eq!(wal.read_from(&names[0], at, 1 << 20).unwrap().len(), 1);
        wal.abandon();
        let path = dir.path().join("00000000000000000002.wal");
        let bytes = std::fs::read(&path).unwrap();
        let last_declared = bytes
            .windows(names[11].len())
            .position(|w| w == names[11].as_bytes());
        assert!(
            last_declared.is_some_and(|p| p > 512),
            "the preamble's last declaration lies past the first sector: {last_declared:?}"
        );
        let second = backend.open(&path).unwrap();
        second.write_at(512, &[0u8; 3584]).unwrap();
        drop(second);
        let wal = open();
        let counts: Vec<u64> = names.iter().map(|n| wal.get_topic_entry_count(n)).collect();
        assert_eq!(counts[1..], [1; 11], "{counts:?}");
        // Nothing needs the first segment any more.
        assert_eq!(wal.reclaim().unwrap(), 1);
        wal.abandon();
        backend.crash(CrashMode::DropUnsynced).unwrap();
        let wal = open();
        let after: Vec<u64> = names.iter().map(|n| wal.get_topic_entry_count(n)).collect();
        assert_eq!(
            after, counts,
            "entries per topic before and after the second power loss"
        );
        return;
    }
    panic!("no filler size had an append start the second segment");
}

/// A consumer whose first `consumer()` call failed (an injected failed write) after the
/// log queued its registration survives the restart that follows; a later `consumer()`
/// then finds it and makes sure only its own record reached the OS, not the append queued
/// just before. The harness once counted that append as written, and blamed the process
/// crash that followed for losing it.
#[test]
fn regression_an_existing_consumer_writes_only_its_own_record() {
    let setup = Setup {
        fault_seed: 0,
        schedule: FsyncSchedule::Milliseconds(3_600_000),
        consistency: ReadConsistency::AtLeastOnce { persist_every: 2 },
        segment_size: 4096,
        retention: Retention::None,
        precreate: false,
        write_buffer: 4096,
        write_interval: Duration::from_millis(2),
        max_open_segments: 2,
    };
    let named = |checkpoint| Op::Read {
        topic: 1,
        reader: Reader::Named(1),
        checkpoint,
    };
    run(
        std_backend(),
        setup,
        &[
            Op::Append { topic: 1, len: 0 },
            Op::Read {
                topic: 1,
                reader: Reader::Shared,
                checkpoint: false,
            },
            Op::Reopen,
            Op::Fault {
                kind: FaultKind::Write,
                after: 1,
                calls: 1,
            },
            named(false),
            Op::Reopen,
            Op::Append { topic: 0, len: 0 },
            named(false),
            Op::Kill,
        ],
    )
    .unwrap();
}

/// A consumer's checkpointed read in a concurrent phase fails on a full disk after its
/// cursor record was queued; the record, written and synced later, stood ahead of the
/// cursor, and retention trusted it: the segment holding the entry the cursor still read
/// next was deleted (`faults::a_checkpointed_read_refused_by_a_full_disk_keeps_its_entry_from_retention`
/// in the suite is the deterministic form).
#[test]
fn regression_a_refused_checkpoint_does_not_let_retention_pass_the_cursor() {
    let setup = Setup {
        fault_seed: 18172962820711082560,
        schedule: FsyncSchedule::SyncEach,
        consistency: ReadConsistency::AtLeastOnce { persist_every: 4 },
        segment_size: 4096,
        retention: Retention::None,
        precreate: false,
        write_buffer: 512,
        write_interval: Duration::from_millis(2),
        max_open_segments: 2,
    };
    let append = |topic, len| Op::Append { topic, len };
    let batch = |topic, n, len| Op::Batch { topic, n, len };
    run(
        std_backend(),
        setup,
        &[
            append(0, 275),
            batch(0, 4, 162),
            Op::TruncateFrom { topic: 0, at: 235 },
            batch(2, 5, 156),
            batch(2, 5, 105),
            Op::BatchRead {
                topic: 0,
                reader: Reader::Named(0),
                max_bytes: 414,
                checkpoint: true,
            },
            Op::Reopen,
            append(2, 850),
            Op::StartAt { topic: 2, skip: 4 },
            append(0, 214),
            append(0, 228),
            Op::Fault {
                kind: FaultKind::DiskFull,
                after: 0,
                calls: 38,
            },
            Op::Concurrent {
                writers: 2,
                appends: 1,
                reader: Some(Reader::Named(0)),
                churn: false,
            },
            Op::Fault {
                kind: FaultKind::DirSync,
                after: 3,
                calls: 9,
            },
            Op::Concurrent {
                writers: 2,
                appends: 4,
                reader: Some(Reader::Shared),
                churn: false,
            },
        ],
    )
    .unwrap();
}

/// A topic start past the end (`truncate_before`) whose record an injected failed write
/// kept from the OS moved the shared cursor in memory; a concurrent reader that then read
/// nothing made the harness count every entry below the cursor as written, and blame the
/// process crash that followed for losing the (phantom) entries up to the start.
#[test]
fn regression_a_concurrent_reader_that_read_nothing_proves_nothing_written() {
    let setup = Setup {
        fault_seed: 0,
        schedule: FsyncSchedule::NoFsync,
        consistency: ReadConsistency::StrictlyAtOnce,
        segment_size: 4096,
        retention: Retention::None,
        precreate: false,
        write_buffer: 512,
        write_interval: Duration::from_millis(2),
        max_open_segments: 2,
    };
    run(
        std_backend(),
        setup,
        &[
            Op::Batch {
                topic: 0,
                n: 3,
                len: 95,
            },
            Op::PowerOff { after: 9 },
            Op::Fault {
                kind: FaultKind::Write,
                after: 1,
                calls: 18,
            },
            Op::Read {
                topic: 0,
                reader: Reader::Shared,
                checkpoint: true,
            },
            Op::StartAt { topic: 0, skip: 18 },
            Op::Concurrent {
                writers: 2,
                appends: 6,
                reader: Some(Reader::Shared),
                churn: false,
            },
            Op::Reopen,
        ],
    )
    .unwrap();
}
