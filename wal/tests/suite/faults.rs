//! Injected failures through the fault-injecting backend: a failed fsync poisons the log
//! and is reported to every writer it covered; a full disk is a typed error that damages
//! nothing; a short write never leaves a record recovery would accept.

use super::common;

use std::io;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use wal::{Error, FsyncSchedule, Health, Wal};
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};

fn open(dir: &Path, backend: &Arc<FaultyBackend>, schedule: FsyncSchedule) -> Wal {
    common::builder_without_dir()
        .dir(dir)
        .fsync(schedule)
        .segment_size(16 << 10)
        .custom_backend(backend.clone())
        .open()
        .unwrap()
}

/// A `SyncEach` log of 16 KiB segments made by rollover itself (none ahead of time), so
/// that a fault planned for a creation or a header write lands in an append.
fn open_rolling_over_itself(dir: &Path, backend: &Arc<FaultyBackend>) -> Wal {
    common::builder_without_dir()
        .dir(dir)
        .fsync(FsyncSchedule::SyncEach)
        .segment_size(16 << 10)
        .precreate_segments(false)
        .custom_backend(backend.clone())
        .open()
        .unwrap()
}

/// A `NoFsync` log in `dir` on `backend` whose background thread writes nothing during a
/// test (its write interval is an hour): what reaches the OS is what the calls write.
fn quiet(dir: &Path, backend: &Arc<FaultyBackend>) -> wal::WalBuilder {
    common::builder_without_dir()
        .dir(dir)
        .fsync(FsyncSchedule::NoFsync)
        .write_interval(Duration::from_secs(3600))
        .custom_backend(backend.clone())
}

fn is_poisoned_by(err: &Error, kind: io::ErrorKind) -> bool {
    matches!(err, Error::Poisoned { cause } if cause.io_kind() == Some(kind))
}

fn read_topic(wal: &Wal, topic: &str) -> Vec<Vec<u8>> {
    wal.batch_read_for_topic(topic, usize::MAX, false)
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect()
}

#[test]
fn failed_fsync_reaches_every_writer_and_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // Sync 1 makes the new first segment's header durable, sync 2 is recovery's on open,
    // sync 3 the first flush; every sync takes 20 ms so
    // that all eight writers are queued on the failing one.
    let backend = common::faulty(
        FaultPlan::seeded(1)
            .fail_sync(4, io::ErrorKind::Other)
            .sync_delay(Duration::from_millis(20)),
    );
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    wal.append_for_topic("t", b"durable").unwrap(); // sync 3
    let barrier = Barrier::new(8);
    let results: Vec<wal::Result<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (wal, barrier) = (&wal, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    wal.append_for_topic("t", format!("w{i}").as_bytes())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        let err = r
            .as_ref()
            .expect_err("a writer in the failed group was told it succeeded");
        assert!(is_poisoned_by(err, io::ErrorKind::Other), "{err}");
    }
    // Nothing is reported durable that was not, and the log refuses writes and syncs.
    assert_eq!(wal.durable_offset("t"), Some(0));
    assert!(is_poisoned_by(
        &wal.append_for_topic("t", b"later").unwrap_err(),
        io::ErrorKind::Other
    ));
    assert!(is_poisoned_by(
        &wal.sync().unwrap_err(),
        io::ErrorKind::Other
    ));
    assert!(
        wal.wait_durable("t", 0).is_ok(),
        "what was durable before stays durable"
    );
    assert!(wal.wait_durable("t", 1).is_err());
    assert_eq!(wal.stats().flush_errors, 1);
    let err = wal.close().unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");

    // Power loss, then reopen: recovery gives a consistent log, and it works again.
    backend.crash(CrashMode::KeepRandomPrefix).unwrap();
    backend.set_plan(FaultPlan::seeded(2));
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    let data = read_topic(&wal, "t");
    assert_eq!(data[0], b"durable");
    for d in &data[1..] {
        assert!(
            d.starts_with(b"w"),
            "only appended entries can survive: {d:?}"
        );
    }
    let next = wal.append_for_topic("t", b"after").unwrap();
    assert_eq!(next, data.len() as u64);
}

#[test]
fn failed_background_sync_poisons_timer_schedules_too() {
    let dir = tempfile::tempdir().unwrap();
    // Sync 1: the first segment's header; 2: recovery's; 3: the first timed flush.
    let backend = common::faulty(FaultPlan::seeded(1).fail_sync(3, io::ErrorKind::Other));
    let wal = open(dir.path(), &backend, FsyncSchedule::Milliseconds(1));
    wal.append_for_topic("t", b"x").unwrap();
    // The background thread's flush fails; sync() then reports the poison.
    let err = loop {
        match wal.sync() {
            Err(e) => break e,
            Ok(()) => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    assert!(is_poisoned_by(&err, io::ErrorKind::Other), "{err}");
    assert!(matches!(
        wal.append_for_topic("t", b"y"),
        Err(Error::Poisoned { .. })
    ));
}

#[test]
fn disk_full_on_write_is_typed_and_recoverable() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(1));
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    wal.append_for_topic("t", b"before").unwrap();
    backend.set_disk_full(true);
    let err = wal.append_for_topic("t", b"while full").unwrap_err();
    assert_eq!(err.io_kind(), Some(io::ErrorKind::StorageFull), "{err}");
    assert!(
        !matches!(err, Error::Poisoned { .. }),
        "a full disk does not poison"
    );
    assert_eq!(wal.durable_offset("t"), Some(0));
    backend.set_disk_full(false);
    // The refused entry stayed queued (its outcome was unknown to the caller); it is
    // written with the next flush, and nothing before it was damaged.
    wal.append_for_topic("t", b"after").unwrap();
    assert_eq!(
        read_topic(&wal, "t"),
        vec![
            b"before".to_vec(),
            b"while full".to_vec(),
            b"after".to_vec()
        ]
    );
    wal.close().unwrap();
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    assert_eq!(read_topic(&wal, "t").len(), 3);
}

#[test]
fn a_segment_that_cannot_be_made_ahead_of_time_is_made_at_rollover() {
    let dir = tempfile::tempdir().unwrap();
    // Creation 2 is usually the background preparation of segment 2: it fails, and
    // rollover creates the segment itself. (If rollover comes first, that append gets the
    // typed error instead.) Either way nothing stored is lost and the log goes on.
    let backend = common::faulty(FaultPlan::seeded(1).fail_create(2, io::ErrorKind::StorageFull));
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    let mut stored = Vec::new();
    for i in 0..60u8 {
        match wal.append_for_topic("t", &[i; 1000]) {
            Ok(_) => stored.push(vec![i; 1000]),
            Err(e) => assert_eq!(e.io_kind(), Some(io::ErrorKind::StorageFull), "{e}"),
        }
    }
    assert!(stored.len() >= 59, "{}", stored.len());
    assert!(wal.stats().segments_created >= 2);
    wal.close().unwrap();
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    assert_eq!(read_topic(&wal, "t"), stored);
}

#[test]
fn disk_full_at_segment_creation_is_typed_and_recoverable() {
    let dir = tempfile::tempdir().unwrap();
    // Creation 1 is the first segment; creation 2, the first rollover, finds the disk full.
    // (Without segments made ahead of time, so that rollover itself creates the file.)
    let backend = common::faulty(FaultPlan::seeded(1).fail_create(2, io::ErrorKind::StorageFull));
    let wal = open_rolling_over_itself(dir.path(), &backend);
    let entry = vec![5u8; 1000];
    let mut stored = 0;
    let err = loop {
        match wal.append_for_topic("t", &entry) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.io_kind(), Some(io::ErrorKind::StorageFull), "{err}");
    assert!(
        matches!(
            err,
            Error::Io {
                op: "create segment",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        wal.get_topic_entry_count("t"),
        stored,
        "the refused entry took no offset"
    );
    // Space is back: the same append succeeds, in a new segment.
    assert_eq!(wal.append_for_topic("t", &entry).unwrap(), stored);
    wal.close().unwrap();
    let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
    let data = read_topic(&wal, "t");
    assert_eq!(data.len() as u64, stored + 1);
    assert!(data.iter().all(|d| d == &entry));
}

#[test]
fn short_write_never_leaves_an_accepted_half_record() {
    for seed in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        // Write 1 is the first segment's header, write 2 the first record, write 3 the
        // zeros written a MiB ahead of it; write 4, the second record, is cut short.
        let backend = common::faulty(FaultPlan::seeded(seed).short_write(4));
        let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
        wal.append_for_topic("t", &[1; 300]).unwrap();
        let err = wal.append_for_topic("t", &[2; 300]).unwrap_err();
        assert!(is_poisoned_by(&err, io::ErrorKind::WriteZero), "{err}");
        wal.abandon();
        backend.crash(CrashMode::KeepRandomPrefix).unwrap();
        backend.set_plan(FaultPlan::seeded(seed));
        let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
        assert_eq!(read_topic(&wal, "t"), vec![vec![1; 300]], "seed {seed}");
    }
}

#[test]
fn a_full_disk_refuses_appends_once_max_pending_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(1));
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .segment_size(1 << 20)
        .write_buffer(8 << 10)
        .max_pending(32 << 10)
        .custom_backend(backend.clone())
        .open()
        .unwrap();
    wal.append_for_topic("t", b"before").unwrap();
    wal.sync().unwrap();
    backend.set_disk_full(true);
    let (mut queued, mut refused) = (Vec::new(), 0);
    for i in 0..200u8 {
        match wal.append_for_topic("t", &[i; 1000]) {
            Ok(_) => queued.push(vec![i; 1000]),
            Err(e) => {
                assert_eq!(e.io_kind(), Some(io::ErrorKind::StorageFull), "{e}");
                refused += 1;
            }
        }
    }
    // About max_pending (32 KiB, 32 entries of 1 KiB) is queued; the rest is refused
    // before it is queued, so memory does not follow how long the disk stays full.
    assert!(refused >= 150, "{refused} refused");
    let lag = wal.stats().durable_lag_bytes;
    assert!(lag <= 40 << 10, "{lag} bytes held unwritten");
    backend.set_disk_full(false);
    wal.sync().unwrap();
    // What was queued is written once there is space (the append that found the buffer
    // full and failed to write it may be among them: its fate was unknown to its caller).
    let got = read_topic(&wal, "t");
    assert_eq!(got[0], b"before");
    assert!(
        got.len() > queued.len(),
        "{} <= {}",
        got.len(),
        queued.len()
    );
    assert!(got.len() < 1 + 200 - refused + 2);
    wal.close().unwrap();
}

#[test]
fn a_consumer_whose_registration_failed_is_written_by_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(1));
    let builder = || quiet(dir.path(), &backend);
    let wal = builder().open().unwrap();
    wal.append_for_topic("t", b"x").unwrap();
    wal.sync().unwrap();
    backend.set_disk_full(true);
    let err = wal.consumer("t", "billing").map(drop).unwrap_err();
    assert_eq!(err.io_kind(), Some(io::ErrorKind::StorageFull), "{err}");
    backend.set_disk_full(false);
    // The registration stayed queued; the call that returns the consumer writes it.
    wal.consumer("t", "billing").unwrap();
    wal.abandon(); // a crash of the process: what reached the OS stays
    let wal = builder().open().unwrap();
    let stats = wal.topic_stats("t").unwrap();
    let names: Vec<_> = stats.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["billing"]);
}

#[test]
fn a_full_disk_at_any_write_never_poisons_the_log() {
    // Each log gets one write refused for lack of space, the Nth after open, so that
    // some N lands on a record chunk, the zeros written ahead, or a new segment's header.
    for nth in 1..40 {
        let dir = tempfile::tempdir().unwrap();
        let backend = common::faulty(FaultPlan::seeded(nth));
        let wal = open_rolling_over_itself(dir.path(), &backend);
        let at = backend.counts().writes + nth;
        backend.set_plan(FaultPlan::seeded(nth).fail_write(at, io::ErrorKind::StorageFull));
        let mut acknowledged = 0;
        for i in 0..40u8 {
            match wal.append_for_topic("t", &[i; 1000]) {
                Ok(_) => acknowledged += 1,
                Err(e) => assert_eq!(
                    e.io_kind(),
                    Some(io::ErrorKind::StorageFull),
                    "write {nth}: {e}"
                ),
            }
        }
        assert!(matches!(wal.health(), Health::Healthy), "write {nth}");
        assert!(wal.segment_count() >= 2, "write {nth}: no rollover");
        wal.close().unwrap();
        let wal = open(dir.path(), &backend, FsyncSchedule::SyncEach);
        assert!(read_topic(&wal, "t").len() >= acknowledged, "write {nth}");
    }
}

#[test]
fn at_least_once_never_delivers_past_a_cursor_record_a_full_disk_kept_from_the_os() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(1));
    let builder = || {
        quiet(dir.path(), &backend)
            .consistency(wal::ReadConsistency::AtLeastOnce { persist_every: 2 })
    };
    let wal = builder().open().unwrap();
    for i in 0..12u8 {
        wal.append_for_topic("t", &[i]).unwrap();
    }
    wal.sync().unwrap();
    for _ in 0..2 {
        wal.read_next("t", true).unwrap().unwrap();
    }
    backend.set_disk_full(true);
    let mut next = 2; // the offset after the last entry delivered
    for _ in 0..10 {
        match wal.read_next("t", true) {
            Ok(Some(e)) => next = e.offset + 1,
            Ok(None) => break,
            Err(e) => assert_eq!(e.io_kind(), Some(io::ErrorKind::StorageFull), "{e}"),
        }
    }
    backend.set_disk_full(false);
    wal.abandon(); // a crash of the process: what reached the OS stays
    let wal = builder().open().unwrap();
    let restart = wal.topic_stats("t").unwrap().shared_position;
    // AtLeastOnce { persist_every: 2 }: at most 2 entries are delivered again.
    assert!(
        next - restart <= 2,
        "delivered up to {next}, restarts at {restart}"
    );
}

#[test]
fn a_checkpointed_read_refused_by_a_full_disk_keeps_its_entry_from_retention() {
    // The read of entry `k` fails to persist its cursor (the disk is full), so the cursor
    // stays at `k`; but its record (at `k + 1`) stayed queued, and the next sync makes it
    // durable. Retention must not trust it past the cursor: for the `k` that ends a
    // segment, it once deleted entry `k`, and the next read skipped it.
    for consistency in [
        wal::ReadConsistency::StrictlyAtOnce,
        wal::ReadConsistency::AtLeastOnce { persist_every: 1 },
    ] {
        for k in 0..8u8 {
            let dir = tempfile::tempdir().unwrap();
            let backend = common::faulty(FaultPlan::seeded(1));
            let wal = quiet(dir.path(), &backend)
                .segment_size(4096)
                .consistency(consistency)
                .open()
                .unwrap();
            for i in 0..12u8 {
                wal.append_for_topic("t", &[i; 1000]).unwrap();
            }
            wal.sync().unwrap();
            for i in 0..k {
                assert_eq!(wal.read_next("t", true).unwrap().unwrap().data[0], i);
            }
            backend.set_disk_full(true);
            let err = wal.read_next("t", true).unwrap_err();
            assert_eq!(err.io_kind(), Some(io::ErrorKind::StorageFull), "{err}");
            backend.set_disk_full(false);
            wal.sync().unwrap();
            wal.reclaim().unwrap();
            let next = wal.read_next("t", true).unwrap().unwrap();
            assert_eq!(
                next.offset,
                u64::from(k),
                "{consistency:?}: the read after the refused read of {k} (oldest retained {:?})",
                wal.oldest_offset("t")
            );
            wal.close().unwrap();
        }
    }
}

#[test]
fn a_poisoned_log_reclaims_nothing() {
    // Found by the fault campaign (a `durable_offset` that went from Some(10) to None on a
    // poisoned log while a thread kept calling `reclaim`): a poisoned log changes nothing,
    // so it takes nothing out of its index either, until a reopen.
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(7));
    // Retention keeps sealed segments for a second: none can go before the poisoning.
    let open = |age: Duration| {
        common::tiny_sync_each(dir.path())
            .custom_backend(backend.clone())
            .retain_age(age)
            .open()
            .unwrap()
    };
    let wal = open(Duration::from_secs(1));
    for i in 0..12u8 {
        wal.append_for_topic("t", &[i; 1000]).unwrap();
    }
    for i in 0..12u8 {
        assert_eq!(wal.read_next("t", true).unwrap().unwrap().data[0], i);
    }
    let syncs = backend.counts().syncs;
    backend.set_plan(FaultPlan::seeded(7).fail_sync(syncs + 1, io::ErrorKind::Other));
    assert!(wal.append_for_topic("t", b"poison").is_err());
    assert!(wal.is_poisoned());
    let before = (wal.oldest_offset("t"), wal.durable_offset("t"));
    assert_eq!(before, (Some(0), Some(11)));
    // Every sealed segment is old enough now, and every entry in it consumed.
    std::thread::sleep(Duration::from_millis(1100));
    let err = wal.reclaim().unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert_eq!((wal.oldest_offset("t"), wal.durable_offset("t")), before);
    assert_eq!(wal.read_from("t", 0, 1).unwrap()[0].data, vec![0; 1000]);
    wal.abandon();

    // Reopened, the same segments go: the refusal above was the poison's, not retention's.
    backend.set_plan(FaultPlan::seeded(7));
    let wal = open(Duration::ZERO);
    assert!(wal.reclaim().unwrap() > 0);
    assert!(wal.oldest_offset("t").unwrap() > 0);
    wal.close().unwrap();
}
