//! Helpers shared by the integration tests of the `wal` facade.
//!
//! Every test opens its logs through [`builder`] or [`builder_without_dir`], which start
//! from the backend of the test target that includes the suite (`wal/tests/backend_*.rs`),
//! so every test runs against every backend compiled in.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;

use wal::{Entry, FsyncSchedule, Wal, WalBuilder};

pub use wal_testkit::logdir::{segment_files, segment_name, used_bytes};

/// A builder for a log in `dir`, with every other setting at its default.
pub fn builder(dir: &Path) -> WalBuilder {
    builder_without_dir().dir(dir)
}

/// The builder every log of the suite starts from, before a directory is set: set up for
/// the backend of the test target that compiled the suite (`crate::configure`).
pub fn builder_without_dir() -> WalBuilder {
    crate::configure(Wal::builder())
}

/// The target's backend as a raw backend object, for decorators such as
/// `wal_testkit::faulty::FaultyBackend`.
pub fn raw_backend() -> std::sync::Arc<dyn wal::StorageBackend> {
    crate::raw_backend()
}

/// The target's backend behind a fault injector that follows `plan`.
pub fn faulty(
    plan: wal_testkit::faulty::FaultPlan,
) -> std::sync::Arc<wal_testkit::faulty::FaultyBackend> {
    std::sync::Arc::new(wal_testkit::faulty::FaultyBackend::new(raw_backend(), plan))
}

/// A `SyncEach` log in `dir` with 4 KiB segments: every append is durable when it returns,
/// and a few hundred bytes per entry roll over to new segments all the time.
pub fn tiny_sync_each(dir: &Path) -> WalBuilder {
    builder_with_segments(dir, 4096).fsync(FsyncSchedule::SyncEach)
}

/// The three fsync schedules, for tests that run under each of them.
pub const SCHEDULES: [FsyncSchedule; 3] = [
    FsyncSchedule::SyncEach,
    FsyncSchedule::Milliseconds(5),
    FsyncSchedule::NoFsync,
];

/// A small segment size, so that tests roll over to new segments and stay cheap to scan.
pub const SMALL_SEGMENT: u64 = 64 << 10;

/// Deterministic payload of entry `i` of topic `topic`: distinct for every (topic, i), and
/// of varying length (including lengths that are not multiples of 8).
pub fn payload(topic: &str, i: u64) -> Vec<u8> {
    let mut data = format!("{topic}#{i}:").into_bytes();
    let extra = (i % 13) as usize;
    data.extend((0..extra).map(|k| (k as u8).wrapping_mul(31).wrapping_add(i as u8)));
    data
}

/// Every entry of `topic` from its cursor on, without moving the cursor.
pub fn peek_all(wal: &Wal, topic: &str) -> Vec<Entry> {
    wal.batch_read_for_topic(topic, usize::MAX, false)
        .expect("peek the rest of the topic")
}

/// Consumes every entry of `topic` from its cursor on, one `read_next` at a time.
pub fn consume_all(wal: &Wal, topic: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    while let Some(e) = wal.read_next(topic, true).expect("read_next") {
        out.push(e);
    }
    out
}

/// Consumes exactly `n` entries of `topic`, asserting that each exists.
pub fn consume_n(wal: &Wal, topic: &str, n: u64) -> Vec<Entry> {
    (0..n)
        .map(|k| {
            wal.read_next(topic, true)
                .expect("read_next")
                .unwrap_or_else(|| panic!("{topic}: entry {k} of {n} missing"))
        })
        .collect()
}

/// The entries `offsets` of `topic` as [`payload`] builds them.
pub fn expected(topic: &str, offsets: std::ops::Range<u64>) -> Vec<Entry> {
    offsets
        .map(|offset| Entry {
            offset,
            data: payload(topic, offset),
        })
        .collect()
}

/// Appends entries `0..n` of [`payload`] to `topic`, one by one, checking the offsets.
pub fn append_n(wal: &Wal, topic: &str, n: u64) {
    let start = wal.get_topic_entry_count(topic);
    for i in start..start + n {
        assert_eq!(wal.append_for_topic(topic, &payload(topic, i)).unwrap(), i);
    }
}

/// The used bytes of every segment in `dir`, summed.
pub fn total_used_bytes(dir: &Path) -> u64 {
    segment_files(dir).iter().map(|p| used_bytes(p)).sum()
}

/// A builder for a log in `dir` with segments of `segment_size` bytes, and a
/// `max_entry_size` that fits them (a quarter of a segment).
pub fn builder_with_segments(dir: &Path, segment_size: u64) -> WalBuilder {
    builder(dir)
        .segment_size(segment_size)
        .max_entry_size((segment_size / 4) as usize)
}

/// Waits (up to 10 s) until `path` is gone: the log's background thread may be the one
/// deleting it.
pub fn wait_until_gone(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while path.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!path.exists(), "{} was not deleted", path.display());
}
