//! The whole engine on the mmap backend: appends to several topics across several segments,
//! a clean close, a reopen (recovery reads every segment with `pread`: the reopened log's
//! backend has not written them) and reads of everything back.

use std::collections::BTreeMap;
use std::sync::Arc;

use wal_backend_mmap::MmapBackend;
use wal_core::{FsyncSchedule, Wal};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SEGMENT_SIZE: u64 = 1 << 20;

fn open(dir: &std::path::Path, backend: &Arc<MmapBackend>) -> wal_core::Result<Wal> {
    wal_core::WalBuilder::new()
        .dir(dir)
        .backend(backend.clone())
        .segment_size(SEGMENT_SIZE)
        .open()
}

/// Entry `i` of `topic`: sizes from 2 bytes to 300 KiB, contents unique per entry.
fn entry(topic: &str, i: usize) -> Vec<u8> {
    let len = match i % 5 {
        0 => 2,
        1 => 300 * 1024,
        2 => 4095,
        3 => 17,
        _ => 70_000,
    };
    let seed = topic.len() * 1000 + i;
    wal_testkit::pattern(seed as u64, len)
}

#[test]
fn append_close_reopen_read_back_across_segments() -> TestResult {
    let dir = tempfile::tempdir()?;
    let topics = ["orders", "events", "audit"];
    let mut expected: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();

    let backend = Arc::new(MmapBackend::default());
    let wal = open(dir.path(), &backend)?;
    assert_eq!(wal.backend_name(), "mmap");
    for i in 0..12 {
        for topic in topics {
            let data = entry(topic, i);
            let offset = wal.append_for_topic(topic, &data)?;
            let list = expected.entry(topic).or_default();
            assert_eq!(offset, list.len() as u64, "offsets count up per topic");
            list.push(data);
        }
    }
    let batch = [&b"b1"[..], &[9u8; 300 * 1024][..], b"b3"];
    let range = wal.batch_append_for_topic("orders", &batch)?;
    assert_eq!(range.end - range.start, 3);
    expected
        .entry("orders")
        .or_default()
        .extend(batch.iter().map(|e| e.to_vec()));
    wal.sync()?;
    wal.close()?;

    let segments = wal_core::segment::list_segments(dir.path())?;
    assert!(
        segments.len() >= 4,
        "~4.6 MiB of entries in 1 MiB segments must span several: {segments:?}"
    );
    let stats = backend.stats();
    assert!(stats.msync_calls > 0, "durability goes through msync");

    let backend = Arc::new(MmapBackend::default());
    let wal = open(dir.path(), &backend)?;
    for (topic, want) in &expected {
        assert_eq!(wal.get_topic_entry_count(topic), want.len() as u64);
        let mut got = Vec::new();
        loop {
            let batch = wal.batch_read_for_topic(topic, 512 * 1024, true)?;
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        assert_eq!(got.len(), want.len(), "{topic}: entry count after reopen");
        for (i, (entry, data)) in got.iter().zip(want).enumerate() {
            assert_eq!(entry.offset, i as u64, "{topic}: offsets in order");
            wal_testkit::assert_bytes_eq(&entry.data, data, &format!("{topic} entry {i}"));
        }
    }
    wal.close()?;
    Ok(())
}

#[test]
fn sync_each_appends_are_durable_through_msync() -> TestResult {
    let dir = tempfile::tempdir()?;
    let backend = Arc::new(MmapBackend::default());
    let wal = wal_core::WalBuilder::new()
        .dir(dir.path())
        .backend(backend.clone())
        .segment_size(SEGMENT_SIZE)
        .fsync(FsyncSchedule::SyncEach)
        .open()?;
    let before = backend.stats();
    // Enough appends that the MiB of zeros the write phase writes ahead of the data (and
    // syncs once, so later syncs find written blocks) is a small share of what is synced.
    for i in 0..500u32 {
        wal.append_for_topic("t", &[i as u8; 100])?;
    }
    let after = backend.stats();
    let calls = after.msync_calls - before.msync_calls;
    assert!(calls >= 1, "SyncEach appends must msync");
    let per_call = (after.msync_bytes - before.msync_bytes) / calls;
    assert!(
        per_call <= 2 * 16384,
        "small durable appends must msync their dirty pages, not the segment: {per_call} B"
    );
    wal.close()?;

    let wal = open(dir.path(), &backend)?;
    let all = wal.batch_read_for_topic("t", usize::MAX, false)?;
    assert_eq!(all.len(), 500);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, e)| e.data == [i as u8; 100]));
    Ok(())
}
