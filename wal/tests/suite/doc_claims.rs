//! Sentences of the README and `docs/` that no other test tried, each checked here.

use super::common;

use std::sync::Arc;
use std::time::Duration;

use common::{builder, builder_with_segments, segment_files};
use wal::{Error, FsyncSchedule, TopicNameProblem};
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};

/// docs/durability.md: "A segment file larger than the largest segment size
/// (4 GiB − 4 KiB) is refused as a foreign file." (A sparse file: nothing is written.)
#[test]
fn a_segment_file_larger_than_any_segment_is_a_foreign_file() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = builder(dir.path()).open().unwrap();
        wal.append_for_topic("t", b"x").unwrap();
        wal.close().unwrap();
    }
    let seg = segment_files(dir.path()).pop().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    file.set_len((u32::MAX as u64 & !4095) + 8).unwrap();
    drop(file);
    let err = builder(dir.path()).open().unwrap_err();
    assert!(
        matches!(&err, Error::ForeignFile { path, .. } if *path == seg),
        "{err:?}"
    );
}

/// README: "In the steady state (producing and consuming at one rate) a log holds at most
/// 3 segment files." (Reclaimed explicitly after each step: the background thread's
/// reclaim after a rollover runs at a moment no test can wait for without timing.)
#[test]
fn producing_and_consuming_at_one_rate_keeps_at_most_three_segment_files() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder_with_segments(dir.path(), 16 << 10).open().unwrap();
    let mut most = 0;
    for i in 0..300u32 {
        wal.append_for_topic("t", &[i as u8; 1000]).unwrap();
        // A checkpointed read under StrictlyAtOnce: the cursor is durable when it returns.
        assert_eq!(
            wal.read_next("t", true).unwrap().unwrap().offset,
            u64::from(i)
        );
        wal.reclaim().unwrap();
        most = most.max(segment_files(dir.path()).len());
    }
    assert!(wal.stats().segments_created >= 15, "{:?}", wal.stats());
    assert!(most <= 3, "{most} segment files");
}

/// README: topic names are "not `.` or `..`": refused by every call that can create a
/// topic or a cursor or change one, not only by appends (`bad_input.rs`). (Reads of an
/// invalid name find an unknown topic: nothing.)
#[test]
fn a_dot_name_is_refused_by_every_call_that_names_a_new_topic() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let is_dot = |r: wal::Result<()>| {
        matches!(
            r,
            Err(Error::InvalidTopic {
                problem: TopicNameProblem::DotName,
                ..
            })
        )
    };
    assert!(is_dot(wal.consumer("..", "c").map(drop)));
    assert!(is_dot(wal.consumer("t", "..").map(drop)));
    assert!(is_dot(wal.set_meta(".", "k", b"v")));
    assert!(is_dot(wal.truncate_before("..", 1)));
    assert!(is_dot(wal.truncate_from("..", 0)));
    assert!(wal.topics().is_empty(), "{:?}", wal.topics());
}

/// docs/durability.md: under `NoFsync` entries become durable by "a segment rollover
/// (sealing)", which `durable_offset` does not count: the sealed segment survives a power
/// loss that drops everything unsynced, while `durable_offset` still says nothing is.
#[test]
fn no_fsync_rollover_makes_the_sealed_segment_durable_without_moving_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(FaultyBackend::new(
        common::raw_backend(),
        FaultPlan::seeded(1),
    ));
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .write_interval(Duration::MAX) // nothing is written unless a call writes it
        .segment_size(16 << 10)
        .precreate_segments(false)
        .custom_backend(backend.clone())
        .open()
        .unwrap();
    // Fill the first segment; the append that starts the second one seals it.
    let mut sealed = 0;
    while wal.stats().segments_created < 2 {
        sealed = wal.append_for_topic("t", &[7; 1000]).unwrap();
    }
    // A read hands what it returns to the OS: the write of the sealed segment syncs it.
    assert_eq!(wal.read_from("t", sealed, 1).unwrap().len(), 1);
    assert_eq!(wal.durable_offset("t"), None);
    wal.abandon();
    backend.crash(CrashMode::DropUnsynced).unwrap();
    backend.set_plan(FaultPlan::seeded(2));
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .custom_backend(backend.clone())
        .open()
        .unwrap();
    // Every entry of the sealed segment survived (the one that sealed it was in the next).
    assert_eq!(wal.get_topic_entry_count("t"), sealed);
}

/// A backend that records the directories it is asked to sync.
#[derive(Debug)]
struct DirSyncs {
    inner: Arc<dyn wal::StorageBackend>,
    synced: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl wal::StorageBackend for DirSyncs {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn create(&self, path: &std::path::Path, len: u64) -> std::io::Result<Arc<dyn wal::Storage>> {
        self.inner.create(path, len)
    }
    fn open(&self, path: &std::path::Path) -> std::io::Result<Arc<dyn wal::Storage>> {
        self.inner.open(path)
    }
    fn remove(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.synced.lock().unwrap().push(dir.to_owned());
        self.inner.sync_dir(dir)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn flusher(&self) -> Arc<dyn wal::Flusher> {
        self.inner.flusher()
    }
}

/// docs/durability.md: file creation is not atomic without a journal, so "the directory is
/// synced after every creation": the log directory's own creation too, or a power loss
/// could take the new directory, and every entry acknowledged in it, away.
#[test]
fn creating_the_log_directory_syncs_the_directories_it_was_created_in() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a").join("log");
    let backend = Arc::new(DirSyncs {
        inner: common::raw_backend(),
        synced: Default::default(),
    });
    let wal = common::builder_without_dir()
        .dir(&dir)
        .fsync(FsyncSchedule::SyncEach)
        .custom_backend(backend.clone())
        .open()
        .unwrap();
    wal.append_for_topic("t", b"acknowledged").unwrap();
    let synced = backend.synced.lock().unwrap().clone();
    for parent in [root.path().to_owned(), root.path().join("a")] {
        assert!(
            synced.contains(&parent),
            "{} not synced: {synced:?}",
            parent.display()
        );
    }
}
