//! Model-based test over the whole API: proptest draws a log's settings and a sequence of
//! operations (appends and batches on three topics, reads through the shared cursor and
//! named consumers under both read consistencies, batch reads, `read_from`, syncs,
//! `wait_durable`, `truncate_before`, `reclaim`, concurrent writers and a reader, clean
//! reopens, process kills, power cuts in the middle of any of them and power losses in
//! every crash mode), runs them on a `FaultyBackend` over each backend compiled in, and
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
use wal_testkit::campaign::{self, CampaignConfig, InnerBackend, Op, Reader, Retention, Setup};
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
        1 => (topic, any::<u8>()).prop_map(|(topic, at)| Op::TruncateBefore { topic, at }),
        2 => Just(Op::Reclaim),
        1 => (1u8..4, 1u8..12, proptest::option::of(reader()))
            .prop_map(|(writers, appends, reader)| Op::Concurrent { writers, appends, reader }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Kill),
        2 => (0u16..40).prop_map(|after| Op::PowerOff { after }),
        2 => crash_mode().prop_map(Op::Crash),
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
        // TODO(issue 10 defect 3): drop this arm once recovery cuts a torn segment header
        // as a torn tail (see `campaign::known_defect`).
        Err(v) if campaign::known_defect(&v).is_some() => {
            eprintln!("waived, known defect: {v}");
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
    // TODO(issue 10 defect 3): stop waiving once recovery cuts a torn segment header as a
    // torn tail (see `campaign::known_defect`).
    cfg.waive_known_defects = true;
    let report = campaign::run(&cfg, &mut |_| {});
    assert!(
        report.skipped_backends.is_empty(),
        "{:?}",
        report.skipped_backends
    );
    assert!(report.is_clean(), "{:#?}", report.failures);
    assert!(report.stats.power_losses >= 150, "{:?}", report.stats);
    assert!(report.stats.entries_checked > 0, "{:?}", report.stats);
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
