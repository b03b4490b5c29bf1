//! `on_durable`: callbacks told once what came before them is durable, under every fsync
//! schedule, without blocking the caller; many share one sync; every error reaches each
//! waiting callback exactly once.

use super::common;

use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use wal::{Error, FsyncSchedule, Wal};
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};

fn open(dir: &Path, backend: &Arc<FaultyBackend>, schedule: FsyncSchedule) -> Wal {
    common::builder_without_dir()
        .dir(dir)
        .fsync(schedule)
        .custom_backend(backend.clone())
        .open()
        .unwrap()
}

/// Long enough that a test never passes on a timer's sync, short enough that a lost
/// callback fails the test rather than hanging it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Registers a callback that sends its result (as text) on a fresh channel.
fn register(wal: &Wal) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    wal.on_durable(move |r| tx.send(format!("{r:?}")).unwrap());
    rx
}

#[test]
fn a_callback_is_told_under_every_schedule_and_what_it_covers_survives_a_power_loss() {
    let schedules = [
        FsyncSchedule::SyncEach,
        FsyncSchedule::Milliseconds(3_600_000),
        FsyncSchedule::NoFsync,
    ];
    for (seed, schedule) in schedules.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let backend = common::faulty(FaultPlan::seeded(seed as u64));
        let wal = open(dir.path(), &backend, schedule);
        for i in 0..20u64 {
            wal.append_for_topic("a", &i.to_le_bytes()).unwrap();
        }
        wal.set_meta("b", "vote", b"v1").unwrap();
        wal.truncate_from("a", 15).unwrap();
        let told = register(&wal);
        assert_eq!(
            told.recv_timeout(PATIENCE).unwrap(),
            "Ok(())",
            "{schedule:?}"
        );
        // Appended after the registration: not covered.
        wal.append_for_topic("a", b"later").unwrap();
        wal.abandon();
        backend.crash(CrashMode::DropUnsynced).unwrap();
        let wal = open(dir.path(), &backend, schedule);
        assert!(wal.get_topic_entry_count("a") >= 15, "{schedule:?}");
        let got = wal.read_range("a", 0..15, usize::MAX).unwrap();
        assert_eq!(got.len(), 15, "{schedule:?}");
        assert_eq!(wal.meta("b", "vote").as_deref(), Some(&b"v1"[..]));
        assert!(told.try_recv().is_err(), "told once");
    }
}

#[test]
fn many_registrations_share_one_sync_and_are_told_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path())
        .fsync(FsyncSchedule::Milliseconds(3_600_000))
        .open()
        .unwrap();
    for i in 0..100u64 {
        wal.append_for_topic("t", &i.to_le_bytes()).unwrap();
    }
    let before = wal.stats().flushes;
    let (tx, rx) = mpsc::channel();
    for i in 0..100u64 {
        let tx = tx.clone();
        wal.on_durable(move |r| tx.send((i, r.is_ok())).unwrap());
    }
    let told: Vec<(u64, bool)> = (0..100)
        .map(|_| rx.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(told, (0..100).map(|i| (i, true)).collect::<Vec<_>>());
    // Nothing was appended between the registrations: one sync covers them all.
    assert_eq!(wal.stats().flushes - before, 1, "{:?}", wal.stats());
    assert_eq!(wal.durable_offset("t"), Some(99));
}

#[test]
fn registering_never_blocks_and_a_callback_may_call_into_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(3));
    let wal = Arc::new(open(dir.path(), &backend, FsyncSchedule::NoFsync));
    // With the disk full nothing can become durable: a registration that waited for
    // durability would never return.
    backend.set_disk_full(true);
    wal.append_for_topic("t", b"x").unwrap();
    let (tx, rx) = mpsc::channel();
    let inner = wal.clone();
    wal.on_durable(move |r| {
        r.unwrap();
        // Registering again from inside a callback is answered after it returns.
        let tx2 = tx.clone();
        inner.on_durable(move |r| tx2.send(format!("inner {r:?}")).unwrap());
        tx.send("outer".to_string()).unwrap();
    });
    // Space comes back: the background thread's next round makes the entry durable.
    backend.set_disk_full(false);
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "outer");
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "inner Ok(())");
    assert_eq!(wal.durable_offset("t"), Some(0));
}

#[test]
fn a_failed_sync_tells_every_waiting_callback_once_and_later_ones_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Syncs 1 and 2 are the first segment's header and recovery's; the background
    // thread's first sync for the callbacks fails.
    let backend = common::faulty(FaultPlan::seeded(4).fail_sync(3, io::ErrorKind::Other));
    let wal = open(dir.path(), &backend, FsyncSchedule::Milliseconds(3_600_000));
    wal.append_for_topic("t", b"lost").unwrap();
    let waiting: Vec<_> = (0..10).map(|_| register(&wal)).collect();
    for rx in &waiting {
        let told = rx.recv_timeout(PATIENCE).unwrap();
        assert!(told.starts_with("Err(Poisoned"), "{told}");
        assert!(rx.try_recv().is_err(), "told once");
    }
    // A later registration is answered without a sync (by this thread, or by the one
    // still calling the others).
    let later = register(&wal);
    let told = later.recv_timeout(PATIENCE).unwrap();
    assert!(told.starts_with("Err(Poisoned"), "{told}");
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
}

#[test]
fn callbacks_still_waiting_when_the_log_closes_are_told_it_closed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(5));
    let wal = open(dir.path(), &backend, FsyncSchedule::NoFsync);
    // A full disk fails the writes without poisoning the log: the callbacks keep
    // waiting (the background thread tries again every round) until the log goes.
    backend.set_disk_full(true);
    wal.append_for_topic("t", b"no room").unwrap();
    let waiting: Vec<_> = (0..5).map(|_| register(&wal)).collect();
    std::thread::sleep(Duration::from_millis(50));
    for rx in &waiting {
        assert!(rx.try_recv().is_err(), "not durable, not failed");
    }
    wal.abandon();
    for rx in &waiting {
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "Err(Closed)");
        assert!(rx.try_recv().is_err(), "told once");
    }
}

#[test]
fn a_clean_close_makes_waiting_callbacks_durable() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::faulty(FaultPlan::seeded(6));
    let wal = open(dir.path(), &backend, FsyncSchedule::Milliseconds(3_600_000));
    wal.append_for_topic("t", b"x").unwrap();
    let told: Vec<_> = (0..5).map(|_| register(&wal)).collect();
    wal.close().unwrap();
    for rx in told {
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "Ok(())");
    }
}
