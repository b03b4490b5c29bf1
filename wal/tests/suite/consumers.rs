//! Consumers and retention: named cursors, reads by offset, tail following, reclaiming
//! segments every cursor has passed, explicit truncation.

use std::path::Path;
use std::time::{Duration, Instant};

use wal::{Error, FsyncSchedule, ReadConsistency, Wal};

use super::common;

const SEGMENT: u64 = 16 << 10;

fn open(dir: &Path) -> Wal {
    common::builder(dir)
        .segment_size(SEGMENT)
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap()
}

fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".wal")
        })
        .count()
}

/// Waits (up to 10 s) for deferred deletions to bring the files down to `bound`.
fn wait_for_files(dir: &Path, bound: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while segment_files(dir) > bound && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        segment_files(dir) <= bound,
        "{} segment files",
        segment_files(dir)
    );
}

fn entry(i: u64) -> Vec<u8> {
    let mut d = vec![(i % 251) as u8; 1000];
    d[..8].copy_from_slice(&i.to_le_bytes());
    d
}

/// Bound on segment files in the steady state: the active segment, the next one (made
/// ahead of time once the active one is half full), and the one before the active one,
/// kept until the active one's preamble is durable or while its deletion is pending.
const STEADY_BOUND: usize = 3;

#[test]
fn steady_state_keeps_a_bounded_number_of_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    let mut most = 0;
    for i in 0..1000u64 {
        wal.append_for_topic("q", &entry(i)).unwrap();
        let e = wal.read_next("q", true).unwrap().unwrap();
        assert_eq!(e.data, entry(i));
        if i % 10 == 9 {
            wal.reclaim().unwrap();
            most = most.max(segment_files(dir.path()));
        }
    }
    assert!(wal.stats().segments_created >= 50, "{:?}", wal.stats());
    assert!(most <= STEADY_BOUND, "{most} segment files at once");
    assert!(wal.oldest_offset("q").unwrap() > 900);
    assert!(matches!(
        wal.read_from("q", 0, 1),
        Err(Error::OffsetReclaimed { oldest, .. }) if oldest > 900
    ));
    wal.close().unwrap();
    // What is left reopens into the same state.
    let wal = open(dir.path());
    assert_eq!(wal.get_topic_entry_count("q"), 1000);
    assert_eq!(wal.read_next("q", false).unwrap(), None);
    wal.append_for_topic("q", &entry(1000)).unwrap();
    assert_eq!(wal.read_next("q", true).unwrap().unwrap().offset, 1000);
}

#[test]
fn the_background_thread_reclaims_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    for i in 0..1000u64 {
        wal.append_for_topic("q", &entry(i)).unwrap();
        wal.read_next("q", true).unwrap().unwrap();
    }
    wait_for_files(dir.path(), STEADY_BOUND);
}

#[test]
fn an_idle_consumer_keeps_what_it_has_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    let idle = wal.consumer("q", "idle").unwrap();
    for i in 0..300u64 {
        wal.append_for_topic("q", &entry(i)).unwrap();
        wal.read_next("q", true).unwrap().unwrap();
    }
    wal.reclaim().unwrap();
    assert_eq!(
        wal.oldest_offset("q"),
        Some(0),
        "nothing reclaimed past the idle consumer"
    );
    assert_eq!(wal.read_from("q", 0, 1).unwrap()[0].data, entry(0));
    let segments = segment_files(dir.path());
    assert!(segments > 10, "{segments}");
    // Once it catches up, the segments go.
    while !idle.batch_read(1 << 20, true).unwrap().is_empty() {}
    assert_eq!(idle.position(), 300);
    wal.reclaim().unwrap();
    wait_for_files(dir.path(), STEADY_BOUND);
}

#[test]
fn named_consumers_are_independent_and_survive_reopen() {
    for consistency in [
        ReadConsistency::StrictlyAtOnce,
        ReadConsistency::AtLeastOnce { persist_every: 4 },
    ] {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            common::builder(dir.path())
                .consistency(consistency)
                .open()
                .unwrap()
        };
        let wal = open();
        for i in 0..20u64 {
            wal.append_for_topic("t", &entry(i)).unwrap();
        }
        let a = wal.consumer("t", "a").unwrap();
        let b = wal.consumer("t", "b").unwrap();
        assert_eq!(a.batch_read(usize::MAX, true).unwrap().len(), 20);
        assert_eq!(b.read_next(true).unwrap().unwrap().offset, 0);
        assert_eq!(b.read_next(false).unwrap().unwrap().offset, 1, "peek");
        assert_eq!(
            wal.read_next("t", true).unwrap().unwrap().offset,
            0,
            "the shared cursor is separate"
        );
        drop((a, b));
        wal.close().unwrap();
        let wal = open();
        assert_eq!(
            wal.consumer("t", "a").unwrap().position(),
            20,
            "{consistency:?}"
        );
        assert_eq!(
            wal.consumer("t", "b")
                .unwrap()
                .read_next(true)
                .unwrap()
                .unwrap()
                .offset,
            1
        );
        assert_eq!(wal.read_next("t", false).unwrap().unwrap().offset, 1);
        assert!(matches!(
            wal.consumer("t", "a/b"),
            Err(Error::InvalidTopic { .. })
        ));
    }
}

#[test]
fn read_from_any_retained_offset_leaves_cursors_alone() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    for i in 0..50u64 {
        wal.append_for_topic("t", &entry(i)).unwrap();
    }
    let got = wal.read_from("t", 17, 3000).unwrap();
    assert_eq!(
        got.iter().map(|e| e.offset).collect::<Vec<_>>(),
        vec![17, 18, 19]
    );
    assert_eq!(got[0].data, entry(17));
    assert_eq!(
        wal.read_from("t", 49, 0).unwrap().len(),
        1,
        "at least one entry"
    );
    assert!(
        wal.read_from("t", 50, 100).unwrap().is_empty(),
        "at the end"
    );
    assert!(wal.read_from("nope", 0, 100).unwrap().is_empty());
    assert_eq!(wal.read_next("t", false).unwrap().unwrap().offset, 0);
}

#[test]
fn truncate_before_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    for i in 0..200u64 {
        wal.append_for_topic("raft", &entry(i)).unwrap();
    }
    wal.truncate_before("raft", 150).unwrap();
    assert!(matches!(
        wal.read_from("raft", 149, 1),
        Err(Error::OffsetReclaimed {
            offset: 149,
            oldest: 150,
            ..
        })
    ));
    assert_eq!(
        wal.read_next("raft", false).unwrap().unwrap().offset,
        150,
        "cursor moved up"
    );
    // 13 segments of ~15 entries each; the last 50 entries need 4 of them. (The
    // background thread may have reclaimed them already: truncation wakes it.)
    wal.reclaim().unwrap();
    assert!(wal.segment_count() <= 5, "{:?}", wal.stats());
    wait_for_files(dir.path(), 5);
    wal.close().unwrap();
    let wal = open(dir.path());
    assert_eq!(wal.oldest_offset("raft"), Some(150));
    let rest = wal.read_from("raft", 150, usize::MAX).unwrap();
    assert_eq!(rest.len(), 50);
    for e in rest {
        assert_eq!(e.data, entry(e.offset));
    }
    assert!(matches!(
        wal.read_from("raft", 0, 1),
        Err(Error::OffsetReclaimed { oldest: 150, .. })
    ));
    assert_eq!(wal.append_for_topic("raft", b"next").unwrap(), 200);
}

#[test]
fn truncation_within_a_live_segment_survives_reopen() {
    // The segment holding the truncated entries is still there (another topic needs it):
    // the truncate record keeps them gone anyway.
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    for i in 0..5u64 {
        wal.append_for_topic("raft", &entry(i)).unwrap();
        wal.append_for_topic("other", &entry(i)).unwrap();
    }
    wal.truncate_before("raft", 3).unwrap();
    wal.close().unwrap();
    let wal = open(dir.path());
    assert_eq!(wal.oldest_offset("raft"), Some(3));
    assert_eq!(wal.read_from("raft", 3, usize::MAX).unwrap().len(), 2);
    assert_eq!(wal.read_from("other", 0, usize::MAX).unwrap().len(), 5);
}

#[test]
fn a_blocking_read_wakes_on_append_and_times_out_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path()).open().unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let got = wal
                .read_next_blocking("t", true, Duration::from_secs(30))
                .unwrap();
            (got, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(50));
        let appended = Instant::now();
        wal.append_for_topic("t", b"wake up").unwrap();
        let (got, woke) = reader.join().unwrap();
        assert_eq!(got.unwrap().data, b"wake up");
        let latency = woke.duration_since(appended);
        assert!(
            latency < Duration::from_secs(1),
            "woke {latency:?} after the append"
        );
    });
    let started = Instant::now();
    assert_eq!(
        wal.read_next_blocking("t", true, Duration::from_millis(50))
            .unwrap(),
        None
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    std::thread::scope(|s| {
        let reader = s.spawn(|| wal.read_next_blocking("t", true, Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        wal.shutdown();
        assert!(matches!(reader.join().unwrap(), Err(Error::Closed)));
    });
    assert!(matches!(
        wal.append_for_topic("t", b"x"),
        Err(Error::Closed)
    ));
}

#[test]
fn a_named_consumer_can_follow_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path()).open().unwrap();
    let c = wal.consumer("t", "follower").unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            (0..3)
                .map(|_| {
                    c.read_next_blocking(true, Duration::from_secs(30))
                        .unwrap()
                        .unwrap()
                        .offset
                })
                .collect::<Vec<_>>()
        });
        for i in 0..3u64 {
            std::thread::sleep(Duration::from_millis(5));
            wal.append_for_topic("t", &i.to_le_bytes()).unwrap();
        }
        assert_eq!(reader.join().unwrap(), vec![0, 1, 2]);
    });
}
