//! What an operator reads: per-topic stats, recovery statistics, the log's health and the
//! `on_error` hook (fed by failures the fault-injecting backend causes).

use super::common;
use wal_testkit::faulty::{FaultPlan, FaultyBackend};
use wal_testkit::logdir::{flip, overwrite, segment_files, used_bytes};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use wal::{Error, Failure, FsyncSchedule, Health, RecoveryMode, Step, Wal};

#[test]
fn topic_stats_count_entries_and_consumer_lag() {
    let dir = tempfile::tempdir().unwrap();
    let wal = small(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap();
    assert_eq!(wal.topic_stats("t"), None);
    wal.append_for_topic("t", b"abc").unwrap();
    wal.batch_append_for_topic("t", &["de", "f", "ghij"])
        .unwrap();
    wal.append_for_topic("other", b"z").unwrap();
    let billing = wal.consumer("t", "billing").unwrap();
    assert_eq!(billing.batch_read(5, true).unwrap().len(), 2); // "abc" and "de": 5 bytes
    wal.consumer("t", "audit").unwrap();
    wal.read_next("t", true).unwrap().unwrap();

    let s = wal.topic_stats("t").unwrap();
    assert_eq!(s.name, "t");
    assert_eq!((s.first_offset, s.next_offset), (0, 4));
    assert_eq!((s.appended, s.appended_bytes), (4, 10));
    assert_eq!(s.durable_offset, Some(3));
    assert_eq!(s.shared_position, 1);
    let consumers: Vec<_> = s
        .consumers
        .iter()
        .map(|c| (c.name.as_str(), c.position, c.lag))
        .collect();
    assert_eq!(consumers, [("audit", 0, 4), ("billing", 2, 2)]);
    let all = wal.all_topic_stats();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].name.as_str(), all[1].name.as_str()), ("t", "other"));
    assert_eq!((all[1].appended, all[1].appended_bytes), (1, 1));

    // Truncation moves the first offset and the cursors; appended counts only grow.
    wal.truncate_before("t", 3).unwrap();
    let s = wal.topic_stats("t").unwrap();
    assert_eq!((s.first_offset, s.next_offset, s.appended), (3, 4, 4));
    assert!(s.consumers.iter().all(|c| c.position == 3 && c.lag == 1));
    wal.close().unwrap();

    // Counts are since the open; offsets and positions are the log's.
    let wal = small(dir.path()).open().unwrap();
    let s = wal.topic_stats("t").unwrap();
    assert_eq!((s.first_offset, s.next_offset), (3, 4));
    assert_eq!((s.appended, s.appended_bytes), (0, 0));
    assert_eq!(s.consumers.len(), 2);
    assert_eq!(wal.stats().durable_lag_bytes, 0);
}

#[test]
fn stats_show_append_to_durable_latency_and_durable_lag() {
    let dir = tempfile::tempdir().unwrap();
    let wal = small(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .open()
        .unwrap();
    wal.append_for_topic("t", &[1; 100]).unwrap();
    let before = wal.stats();
    assert!(before.durable_lag_bytes >= 100, "{before:?}");
    assert_eq!(before.append_to_durable_samples, 0);
    std::thread::sleep(Duration::from_millis(20));
    wal.sync().unwrap();
    let after = wal.stats();
    assert_eq!(after.durable_lag_bytes, 0);
    assert_eq!(after.append_to_durable_samples, 1);
    // The entry waited at least the 20 ms before the sync (1% precision).
    assert!(after.append_to_durable_p50_us >= 19_800, "{after:?}");
    assert!(after.append_to_durable_p999_us >= after.append_to_durable_p50_us);
    assert!(after.flush_p999_us >= after.flush_p50_us && after.flush_p50_us > 0);
}

/// Appends `n` durable entries of 100 bytes, each ending in a non-zero byte, and drops the
/// log as a crash would.
fn write_and_crash(dir: &Path, n: u8) {
    let wal = small(dir).fsync(FsyncSchedule::SyncEach).open().unwrap();
    for i in 0..n {
        wal.append_for_topic("t", &[0x40 + i; 100]).unwrap();
    }
    wal.abandon();
}

/// A builder for a log in `dir` with small segments, so that scans stay cheap.
fn small(dir: &Path) -> wal::WalBuilder {
    common::builder_with_segments(dir, common::SMALL_SEGMENT)
}

#[test]
fn recovery_stats_say_what_was_scanned_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let wal = small(dir.path()).open().unwrap();
    let fresh = wal.recovery_stats().clone();
    assert!(fresh.is_clean());
    assert_eq!(fresh.segments_scanned, 0, "a new log has nothing to scan");

    // A clean reopen of three segments scans them all and cuts nothing.
    while wal.segment_count() < 3 {
        wal.append_for_topic("t", &[7; 1000]).unwrap();
    }
    wal.close().unwrap();
    let wal = small(dir.path()).open().unwrap();
    let r = wal.recovery_stats();
    assert!(r.is_clean(), "{r:?}");
    assert_eq!(r.segments_scanned, 3);
    assert!(r.bytes_read >= common::SMALL_SEGMENT, "{r:?}");
    assert!(r.bytes_checksummed > 0 && r.bytes_checksummed <= r.bytes_read);
    wal.close().unwrap();

    // A torn tail: garbage after the last record is cut, and counted.
    let dir = tempfile::tempdir().unwrap();
    write_and_crash(dir.path(), 5);
    let seg = &segment_files(dir.path())[0];
    let end = used_bytes(seg).next_multiple_of(wal_core::format::RECORD_ALIGN as u64);
    overwrite(seg, end, &[0xA5; 40]);
    let wal = small(dir.path()).open().unwrap();
    let r = wal.recovery_stats().clone();
    assert_eq!(r.torn_tail_bytes, 40, "{r:?}");
    assert!(r.files_set_aside.is_empty() && !r.is_clean());
    assert_eq!(wal.get_topic_entry_count("t"), 5);
    wal.close().unwrap();
}

#[test]
fn recovery_stats_list_what_was_set_aside() {
    // Damage in an early record under PointInTime: the rest of the segment is set aside.
    let dir = tempfile::tempdir().unwrap();
    write_and_crash(dir.path(), 6);
    let seg = &segment_files(dir.path())[0];
    let bytes = std::fs::read(seg).unwrap();
    let at = bytes.windows(100).position(|w| w == [0x41; 100]).unwrap();
    flip(seg, at as u64 + 50);
    let wal = small(dir.path())
        .recovery_mode(RecoveryMode::PointInTime)
        .open()
        .unwrap();
    let r = wal.recovery_stats().clone();
    assert_eq!(wal.get_topic_entry_count("t"), 1);
    assert!(r.damaged_bytes_set_aside >= 5 * 100, "{r:?}");
    assert_eq!(r.files_set_aside.len(), 1, "{r:?}");
    assert!(r.files_set_aside[0].exists());
    assert_eq!(r.segments_set_aside, 0);
    wal.close().unwrap();
}

/// A log on the target's backend wrapped in a fault injector, whose failures are sent on
/// the returned channel as (thread name, failure kind, step, io kind of the error).
type Seen = (
    String,
    &'static str,
    Option<Step>,
    Option<io::ErrorKind>,
    PathBuf,
);

fn watched(dir: &Path, schedule: FsyncSchedule) -> (Wal, Arc<FaultyBackend>, mpsc::Receiver<Seen>) {
    let backend = Arc::new(FaultyBackend::new(
        common::raw_backend(),
        FaultPlan::seeded(7),
    ));
    let (tx, rx) = mpsc::channel();
    let wal = common::builder_without_dir()
        .dir(dir)
        .segment_size(common::SMALL_SEGMENT)
        .fsync(schedule)
        .custom_backend(backend.clone())
        .on_error(move |f: &Failure<'_>| {
            let thread = std::thread::current().name().unwrap_or("").to_owned();
            let (kind, step) = match f {
                Failure::Poisoned { .. } => ("poisoned", None),
                Failure::StepFailed { step, .. } => ("step", Some(*step)),
                _ => ("other", None),
            };
            let seen = (thread, kind, step, f.error().io_kind(), f.dir().to_owned());
            // Once the test is over, nobody listens.
            tx.send(seen).ok();
        })
        .open()
        .unwrap();
    (wal, backend, rx)
}

fn fail_next_sync(backend: &FaultyBackend) {
    let next = backend.counts().syncs + 1;
    backend.set_plan(FaultPlan::seeded(7).fail_sync(next, io::ErrorKind::Other));
}

#[test]
fn a_failed_sync_fires_the_hook_once_and_shows_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, backend, seen) = watched(dir.path(), FsyncSchedule::SyncEach);
    wal.append_for_topic("t", b"durable").unwrap();
    assert!(matches!(wal.health(), Health::Healthy));
    assert!(!wal.is_poisoned());
    assert!(seen.try_recv().is_err());

    fail_next_sync(&backend);
    let err = wal.append_for_topic("t", b"lost").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    for _ in 0..3 {
        assert!(wal.append_for_topic("t", b"refused").is_err());
    }
    assert!(wal.sync().is_err());
    let me = std::thread::current().name().unwrap().to_owned();
    let got = seen.try_recv().expect("the hook fired");
    assert_eq!(
        got,
        (
            me,
            "poisoned",
            None,
            Some(io::ErrorKind::Other),
            dir.path().to_owned()
        )
    );
    assert!(seen.try_recv().is_err(), "once per poisoning");
    assert!(wal.is_poisoned());
    match wal.health() {
        Health::Poisoned { cause } => assert_eq!(cause.io_kind(), Some(io::ErrorKind::Other)),
        other => panic!("{other:?}"),
    }
    assert!(wal.stats().flush_errors >= 1);
    drop(wal);
    assert!(
        seen.try_recv().is_err(),
        "closing a poisoned log fires nothing more"
    );
}

#[test]
fn the_background_threads_failure_fires_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, backend, seen) = watched(dir.path(), FsyncSchedule::Milliseconds(5));
    fail_next_sync(&backend);
    wal.append_for_topic("t", b"x").unwrap();
    let got = seen
        .recv_timeout(Duration::from_secs(60))
        .expect("the hook fired");
    assert_eq!((got.0.as_str(), got.1), ("wal-flush", "poisoned"));
    assert_eq!(got.3, Some(io::ErrorKind::Other));
    assert!(wal.is_poisoned());
    assert!(wal.append_for_topic("t", b"y").is_err());
    assert!(seen.try_recv().is_err(), "once per poisoning");
}

#[test]
fn a_background_write_on_a_full_disk_is_a_step_failure_not_poison() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, backend, seen) = watched(dir.path(), FsyncSchedule::NoFsync);
    backend.set_disk_full(true);
    wal.append_for_topic("t", b"waits for space").unwrap();
    let got = seen
        .recv_timeout(Duration::from_secs(60))
        .expect("the hook fired");
    assert_eq!(
        (got.0.as_str(), got.1, got.2, got.3),
        (
            "wal-flush",
            "step",
            Some(Step::BackgroundFlush),
            Some(io::ErrorKind::StorageFull)
        )
    );
    assert!(matches!(wal.health(), Health::Healthy));
    assert!(wal.stats().step_failures >= 1);
    backend.set_disk_full(false);
    wal.sync().unwrap();
    assert_eq!(
        wal.read_next("t", false).unwrap().unwrap().data,
        b"waits for space"
    );
    wal.close().unwrap();
}

#[test]
fn a_failed_segment_preparation_is_a_step_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, backend, seen) = watched(dir.path(), FsyncSchedule::NoFsync);
    let next = backend.counts().creates + 1;
    backend.set_plan(FaultPlan::seeded(7).fail_create(next, io::ErrorKind::StorageFull));
    // Past half of the first segment: the background thread prepares the next one.
    for _ in 0..40 {
        wal.append_for_topic("t", &[3; 1000]).unwrap();
    }
    assert_eq!(wal.segment_count(), 1);
    let got = seen
        .recv_timeout(Duration::from_secs(60))
        .expect("the hook fired");
    assert_eq!(
        (got.0.as_str(), got.1, got.2, got.3),
        (
            "wal-flush",
            "step",
            Some(Step::PrepareSegment),
            Some(io::ErrorKind::StorageFull)
        )
    );
    assert_eq!(wal.stats().step_failures, 1);
    // Rollover creates the segment itself.
    for _ in 0..40 {
        wal.append_for_topic("t", &[3; 1000]).unwrap();
    }
    assert_eq!(wal.segment_count(), 2);
    assert!(matches!(wal.health(), Health::Healthy));
    wal.close().unwrap();
}

/// The next failure the hook saw (from any thread): its kind, step and io kind.
fn next_failure(
    seen: &mpsc::Receiver<Seen>,
) -> (&'static str, Option<Step>, Option<io::ErrorKind>) {
    let got = seen
        .recv_timeout(Duration::from_secs(60))
        .expect("the hook fired");
    (got.1, got.2, got.3)
}

/// Fills three segments of `wal` and consumes them, so the first two can be reclaimed.
fn fill_and_consume(wal: &Wal) {
    for _ in 0..160 {
        wal.append_for_topic("t", &[5; 1000]).unwrap();
    }
    assert!(wal.segment_count() >= 3, "{}", wal.segment_count());
    while wal.read_next("t", true).unwrap().is_some() {}
    wal.sync().unwrap();
}

#[test]
fn a_failed_segment_removal_is_a_step_failure_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, backend, seen) = watched(dir.path(), FsyncSchedule::SyncEach);
    fill_and_consume(&wal);
    let first = segment_files(dir.path())[0].clone();
    let next = backend.counts().removes + 1;
    backend.set_plan(FaultPlan::seeded(7).fail_remove(next, io::ErrorKind::PermissionDenied));
    // The background thread may get there first; either way the removal fails once.
    wal.reclaim().unwrap();
    assert_eq!(
        next_failure(&seen),
        (
            "step",
            Some(Step::DeleteSegment),
            Some(io::ErrorKind::PermissionDenied)
        )
    );
    assert!(wal.stats().step_failures >= 1);
    assert!(matches!(wal.health(), Health::Healthy));
    // The next round deletes it, and the log goes on.
    wal.reclaim().unwrap();
    common::wait_until_gone(&first);
    wal.append_for_topic("t", b"after").unwrap();
    assert_eq!(wal.read_next("t", true).unwrap().unwrap().data, b"after");
    wal.close().unwrap();
}

#[test]
fn a_failed_directory_sync_after_a_removal_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, backend, seen) = watched(dir.path(), FsyncSchedule::SyncEach);
    fill_and_consume(&wal);
    let entries = wal.get_topic_entry_count("t");
    // Whichever directory sync comes next (a removal's, or the background thread
    // preparing a segment) fails: the directory can no longer be trusted.
    let next = backend.counts().dir_syncs + 1;
    backend.set_plan(FaultPlan::seeded(7).fail_sync_dir(next, io::ErrorKind::Other));
    wal.reclaim().unwrap();
    assert_eq!(
        next_failure(&seen),
        ("poisoned", None, Some(io::ErrorKind::Other))
    );
    let err = wal.append_for_topic("t", b"refused").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(wal.is_poisoned());
    // A poisoned log deletes nothing more: at most the one removal whose sync failed.
    let left = segment_files(dir.path()).len();
    wal.reclaim().ok();
    assert_eq!(segment_files(dir.path()).len(), left);
    drop(wal);
    // Reopening (recovery reads what is really on disk) brings the log back.
    let wal = small(dir.path()).open().unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), entries);
    wal.append_for_topic("t", b"again").unwrap();
    wal.close().unwrap();
}
