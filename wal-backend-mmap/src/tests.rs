//! Unit tests of the mmap backend: counters, errors, creation failures and eviction.

use std::io;

use super::*;

fn temp_backend() -> io::Result<(tempfile::TempDir, MmapBackend)> {
    Ok((tempfile::tempdir()?, MmapBackend::new()))
}

#[test]
fn storage_and_backend_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MmapStorage>();
    assert_send_sync::<MmapBackend>();
    assert_send_sync::<MmapFlusher>();
}

#[test]
fn name_is_mmap() {
    assert_eq!(MmapBackend::default().name(), "mmap");
}

#[test]
fn small_append_msyncs_about_a_page_not_the_file() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let storage = backend.create(&dir.path().join("seg"), 8 << 20)?;
    storage.write_at(4000, &[7u8; 256])?;
    storage.sync_range(4000..4256)?;
    let stats = backend.stats();
    assert_eq!(stats.msync_calls, 1, "one sync_range is one msync");
    // 4000..4256 straddles a page boundary: two 4 KiB pages (one 16 KiB page elsewhere).
    assert!(
        stats.msync_bytes > 0 && stats.msync_bytes <= 8192.max(2 * sys::page_size() as u64),
        "a 256-byte sync_range must msync about a page, not the 8 MiB file: {stats:?}"
    );
    Ok(())
}

#[test]
fn empty_sync_range_makes_no_msync_and_sync_covers_the_file() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let storage = backend.create(&dir.path().join("seg"), 3 * 4096 + 1)?;
    storage.sync_range(10..10)?;
    assert_eq!(backend.stats(), MmapStats::default(), "nothing to sync");
    storage.sync()?;
    let stats = backend.stats();
    assert_eq!(stats.msync_calls, 1);
    assert!(stats.msync_bytes > 3 * 4096, "{stats:?}");
    Ok(())
}

#[test]
fn counters_are_per_backend_and_shared_by_clones() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (first, second) = (MmapBackend::new(), MmapBackend::new());
    let clone = first.clone();
    let storage = clone.create(&dir.path().join("seg"), 4096)?;
    storage.write_at(0, b"x")?;
    storage.sync_range(0..1)?;
    let flusher = first.flusher();
    let requests = [wal_core::FlushRequest {
        storage,
        dirty: 0..1,
    }];
    assert!(flusher.flush(&requests).iter().all(Result::is_ok));
    assert_eq!(first.stats().msync_calls, 2, "the clone's storage counts");
    assert_eq!(clone.stats(), first.stats());
    assert_eq!(second.stats(), MmapStats::default(), "another backend");
    Ok(())
}

#[test]
fn writes_and_syncs_past_the_end_are_invalid_input() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let storage = backend.create(&dir.path().join("seg"), 100)?;
    for (offset, len) in [(99, 2), (100, 1), (u64::MAX, 1)] {
        let err = storage
            .write_at(offset, &vec![1; len])
            .expect_err("a write past the end must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    storage.write_at(100, &[])?;
    for range in [90..101, 101..101] {
        let err = storage.sync_range(range).expect_err("past the end");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(storage.read_at(0, &mut [0; 100])?, 100);
    Ok(())
}

#[test]
fn zero_length_file_works() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let path = dir.path().join("seg");
    let storage = backend.create(&path, 0)?;
    assert!(storage.is_empty()?);
    assert_eq!(storage.read_at(0, &mut [0; 4])?, 0);
    storage.sync()?;
    drop(storage);
    assert_eq!(backend.open(&path)?.len()?, 0);
    Ok(())
}

#[test]
fn failed_create_removes_the_half_created_file() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let path = dir.path().join("seg");
    // No platform can size a file to u64::MAX bytes (it exceeds off_t / i64).
    assert!(backend.create(&path, u64::MAX).is_err());
    assert!(!path.exists(), "a failed create must remove its file");
    Ok(())
}

#[test]
fn as_any_and_raw_fd_expose_the_storage() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let path = dir.path().join("seg");
    let storage = backend.create(&path, 16)?;
    let mmap = storage
        .as_any()
        .downcast_ref::<MmapStorage>()
        .expect("as_any must expose the concrete MmapStorage");
    assert_eq!(mmap.path(), path.as_path());
    #[cfg(unix)]
    assert!(storage.raw_fd().is_some());
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn enospc_maps_to_storage_full() {
    let err = io::Error::from(nix::errno::Errno::ENOSPC);
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
}

/// Eviction before the first write must never lose bytes that are only in the page cache:
/// neither another storage's unsynced writes to the same file nor a buffered writer's.
#[test]
fn evicting_the_tail_keeps_unsynced_data() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    assert!(backend.config().evict_tail, "eviction is the default");
    let path = dir.path().join("seg");
    let first = backend.create(&path, 4 << 20)?;
    first.write_at(10, b"unsynced, through the first map")?;

    let std_path = dir.path().join("std");
    let std_storage = wal_backend_std::StdBackend::new().create(&std_path, 4 << 20)?;
    std_storage.write_at(3 << 20, b"unsynced, through pwrite")?;

    let second = backend.open(&path)?;
    // Maps the dirty page into the second map too, so that eviction has to unmap it.
    assert_eq!(wal_testkit::read_exact_at(&*second, 10, 3)?, b"uns");
    // The first write evicts from offset 0 (the 2 MiB boundary below 1 MiB).
    second.write_at(1 << 20, b"first write of the second map")?;
    let third = backend.open(&std_path)?;
    // Evicts from 2 MiB, over the page that pwrite dirtied.
    third.write_at(3 << 20 | 100, b"after")?;

    for storage in [&first, &second] {
        assert_eq!(
            wal_testkit::read_exact_at(&**storage, 10, 31)?,
            b"unsynced, through the first map"
        );
        assert_eq!(
            wal_testkit::read_exact_at(&**storage, 1 << 20, 29)?,
            b"first write of the second map"
        );
    }
    assert_eq!(
        wal_testkit::read_exact_at(&*third, 3 << 20, 24)?,
        b"unsynced, through pwrite"
    );
    assert_eq!(
        wal_testkit::read_exact_at(&*std_storage, 3 << 20 | 100, 5)?,
        b"after"
    );
    Ok(())
}
