//! Several logs in one process: each in its own directory with its own settings sees only
//! its own data, and one directory cannot be opened twice.

use super::common;

use std::path::Path;

use common::{builder, builder_with_segments, expected, payload, peek_all};
use wal::{Error, FsyncSchedule, Wal};

const SEGMENT_A: u64 = 64 << 10;
const SEGMENT_B: u64 = 256 << 10;

fn open_a(dir: &Path) -> Wal {
    builder_with_segments(dir, SEGMENT_A)
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap()
}

fn open_b(dir: &Path) -> Wal {
    builder_with_segments(dir, SEGMENT_B)
        .fsync(FsyncSchedule::NoFsync)
        .open()
        .unwrap()
}

/// Appends `n` entries to `prefix-0..3` and to `shared`, where the data names the log.
fn fill(wal: &Wal, prefix: &str, n: u64) {
    for i in 0..n {
        for k in 0..3 {
            let t = format!("{prefix}-{k}");
            assert_eq!(wal.append_for_topic(&t, &payload(&t, i)).unwrap(), i);
        }
        let shared = format!("{prefix} in shared #{i}");
        assert_eq!(
            wal.append_for_topic("shared", shared.as_bytes()).unwrap(),
            i
        );
    }
}

/// Checks a log holds exactly what [`fill`] wrote with `prefix`.
fn check(wal: &Wal, prefix: &str, n: u64) {
    let mut topics = wal.topics();
    topics.sort();
    let mut want: Vec<String> = (0..3).map(|k| format!("{prefix}-{k}")).collect();
    want.push("shared".into());
    want.sort();
    assert_eq!(topics, want, "{prefix}");
    for k in 0..3 {
        let t = format!("{prefix}-{k}");
        assert_eq!(peek_all(wal, &t), expected(&t, 0..n));
    }
    let shared: Vec<String> = peek_all(wal, "shared")
        .into_iter()
        .map(|e| String::from_utf8(e.data).unwrap())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("{prefix} in shared #{i}")).collect();
    assert_eq!(shared, want);
}

#[test]
fn two_logs_side_by_side_see_only_their_own_data() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (a, b) = (open_a(dir_a.path()), open_b(dir_b.path()));
    assert_eq!(a.fsync_schedule(), FsyncSchedule::SyncEach);
    assert_eq!(b.fsync_schedule(), FsyncSchedule::NoFsync);
    assert_ne!(a.dir(), b.dir());

    std::thread::scope(|s| {
        s.spawn(|| fill(&a, "a", 300));
        s.spawn(|| fill(&b, "b", 600));
    });
    b.sync().unwrap();
    check(&a, "a", 300);
    check(&b, "b", 600);
    // Consuming in one does not move the cursor of the same topic name in the other.
    assert_eq!(
        a.read_next("shared", true).unwrap().map(|e| e.offset),
        Some(0)
    );
    assert_eq!(
        b.read_next("shared", false).unwrap().map(|e| e.offset),
        Some(0)
    );
    assert_eq!(
        a.read_next("shared", false).unwrap().map(|e| e.offset),
        Some(1)
    );
    assert_eq!(b.read_next("a-0", false).unwrap(), None);
    assert_eq!(a.get_topic_entry_count("b-0"), 0);

    // Each uses its own segment size.
    let sizes = |dir: &Path| -> Vec<u64> {
        common::segment_files(dir)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect()
    };
    assert!(sizes(dir_a.path()).iter().all(|&l| l == SEGMENT_A));
    assert!(sizes(dir_b.path()).iter().all(|&l| l == SEGMENT_B));
    drop((a, b));

    // Reopened side by side in threads, each still holds only its own.
    std::thread::scope(|s| {
        s.spawn(|| {
            let a = open_a(dir_a.path());
            assert_eq!(a.fsync_schedule(), FsyncSchedule::SyncEach);
            assert_eq!(a.get_topic_entry_count("shared"), 300);
            for k in 0..3 {
                let t = format!("a-{k}");
                assert_eq!(peek_all(&a, &t), expected(&t, 0..300));
            }
            assert_eq!(
                a.read_next("shared", false).unwrap().map(|e| e.offset),
                Some(1)
            );
            assert_eq!(a.get_topic_entry_count("b-0"), 0);
        });
        s.spawn(|| {
            let b = open_b(dir_b.path());
            assert_eq!(b.fsync_schedule(), FsyncSchedule::NoFsync);
            check(&b, "b", 600);
        });
    });
}

#[test]
fn opening_the_same_directory_twice_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = builder(dir.path()).open().unwrap();
    first.append_for_topic("t", b"one").unwrap();

    let err = builder(dir.path()).open().unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path } if path == dir.path()),
        "{err:?}"
    );
    // With other settings, and from another thread: still locked.
    let err = std::thread::scope(|s| {
        s.spawn(|| {
            builder(dir.path())
                .fsync(FsyncSchedule::SyncEach)
                .open()
                .unwrap_err()
        })
        .join()
        .unwrap()
    });
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");

    // The refused opens did not disturb the first log.
    assert_eq!(first.append_for_topic("t", b"two").unwrap(), 1);
    assert_eq!(
        first.read_next("t", true).unwrap().map(|e| e.data),
        Some(b"one".to_vec())
    );
    drop(first);

    let second = builder(dir.path()).open().unwrap();
    assert_eq!(second.get_topic_entry_count("t"), 2);
    assert_eq!(
        second.read_next("t", true).unwrap().map(|e| e.data),
        Some(b"two".to_vec())
    );
    // Released by close and by abandon too.
    second.close().unwrap();
    let third = builder(dir.path()).open().unwrap();
    third.abandon();
    let fourth = builder(dir.path()).open().unwrap();
    assert_eq!(fourth.get_topic_entry_count("t"), 2);
}
