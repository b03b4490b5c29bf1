//! Group commit and pipelined durability, shown by counting flushes (never by timing).

use super::common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use wal::FsyncSchedule;
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};

fn slow_disk() -> Arc<FaultyBackend> {
    // A 2 ms sync makes writers queue behind a flush in flight on any file system.
    Arc::new(FaultyBackend::new(
        common::raw_backend(),
        FaultPlan::seeded(1).sync_delay(Duration::from_millis(2)),
    ))
}

#[test]
fn sixteen_writers_share_flushes_under_sync_each() {
    for same_topic in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let wal = common::builder_without_dir()
            .dir(dir.path())
            .fsync(FsyncSchedule::SyncEach)
            .custom_backend(slow_disk())
            .open()
            .unwrap();
        let barrier = Barrier::new(16);
        std::thread::scope(|s| {
            for t in 0..16 {
                let (wal, barrier) = (&wal, &barrier);
                s.spawn(move || {
                    let topic = if same_topic {
                        "shared".to_string()
                    } else {
                        format!("t{t}")
                    };
                    barrier.wait();
                    for i in 0..50u32 {
                        wal.append_for_topic(&topic, &i.to_le_bytes()).unwrap();
                        // Every acknowledged entry is durable at once.
                        assert!(wal.durable_offset(&topic).is_some());
                    }
                });
            }
        });
        let stats = wal.stats();
        assert_eq!(stats.appends, 800);
        assert!(
            stats.flushes < stats.appends / 2,
            "group commit: {} flushes for {} appends (same topic: {same_topic})",
            stats.flushes,
            stats.appends
        );
        assert!(stats.max_entries_per_flush > 1);
    }
}

#[test]
fn one_writer_alone_does_not_wait_for_a_timer() {
    // Under SyncEach a lone append must lead its own flush: with a one-hour timer it
    // would otherwise never return.
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap();
    for i in 0..20u64 {
        assert_eq!(wal.append_for_topic("t", b"x").unwrap(), i);
    }
    assert_eq!(wal.stats().flushes, 20);
    let wal2 = common::builder_without_dir()
        .dir(tempfile::tempdir().unwrap().path())
        .fsync(FsyncSchedule::Milliseconds(3_600_000))
        .open()
        .unwrap();
    wal2.append_for_topic("t", b"x").unwrap();
    wal2.sync().unwrap();
    assert_eq!(wal2.durable_offset("t"), Some(0));
}

fn pipelined_run(schedule: FsyncSchedule) -> (wal::Stats, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .fsync(schedule)
        .open()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..2 {
            let wal = &wal;
            s.spawn(move || {
                let topic = format!("p{t}");
                let mut last = 0;
                for i in 0..50_000u64 {
                    last = wal.append_for_topic(&topic, &i.to_le_bytes()).unwrap();
                }
                wal.wait_durable(&topic, last).unwrap();
                assert_eq!(wal.durable_offset(&topic), Some(49_999));
            });
        }
    });
    (wal.stats(), dir)
}

#[test]
fn a_hundred_thousand_pipelined_appends_take_a_few_flushes() {
    let (stats, _dir) = pipelined_run(FsyncSchedule::NoFsync);
    assert_eq!(stats.appends, 100_000);
    assert!(stats.flushes <= 4, "{} flushes", stats.flushes);
    // A timer schedule adds at most its ticks during the run.
    let (stats, _dir) = pipelined_run(FsyncSchedule::Milliseconds(1_000));
    assert!(stats.flushes <= 20, "{} flushes", stats.flushes);
}

#[test]
fn entries_whose_wait_durable_returned_survive_power_loss() {
    for (seed, mode) in [
        (1, CrashMode::DropUnsynced),
        (2, CrashMode::KeepRandomPrefix),
        (3, CrashMode::TearLastSector),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(FaultyBackend::new(
            common::raw_backend(),
            FaultPlan::seeded(seed),
        ));
        let open = || {
            common::builder_without_dir()
                .dir(dir.path())
                .fsync(FsyncSchedule::NoFsync)
                .segment_size(256 << 10)
                .custom_backend(backend.clone())
                .open()
                .unwrap()
        };
        let wal = open();
        let mut durable = 0;
        for i in 0..20_000u64 {
            let off = wal.append_for_topic("p", &i.to_le_bytes()).unwrap();
            if i % 5_000 == 4_999 {
                wal.wait_durable("p", off).unwrap();
                durable = off + 1;
            }
        }
        for i in 20_000..23_000u64 {
            wal.append_for_topic("p", &i.to_le_bytes()).unwrap();
        }
        wal.abandon();
        backend.crash(mode).unwrap();
        let wal = open();
        let entries = wal.batch_read_for_topic("p", usize::MAX, false).unwrap();
        assert!(
            entries.len() as u64 >= durable,
            "{mode:?}: {} < {durable}",
            entries.len()
        );
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.data, (i as u64).to_le_bytes(), "{mode:?} entry {i}");
        }
    }
}

#[test]
fn stats_report_flush_latency() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .custom_backend(slow_disk())
        .open()
        .unwrap();
    for _ in 0..10 {
        wal.append_for_topic("t", b"x").unwrap();
    }
    let s = wal.stats();
    assert!(
        s.flush_p50_us >= 1024,
        "a 2 ms sync shows in the p50: {s:?}"
    );
    assert!(s.flush_p99_us >= s.flush_p50_us);
    assert_eq!(s.flush_errors, 0);
}
