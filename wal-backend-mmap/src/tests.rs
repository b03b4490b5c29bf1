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

fn as_mmap(storage: &dyn Storage) -> &MmapStorage {
    storage
        .as_any()
        .downcast_ref::<MmapStorage>()
        .expect("a storage of the mmap backend")
}

/// Whether `storage` (an [`MmapStorage`]) copies its next reads out of its mapping.
fn reads_from_mapping(storage: &dyn Storage) -> bool {
    as_mmap(storage).reads_from_mapping()
}

/// How many reads the storages of `storage`'s backend and file copied out of a mapping.
fn mapped_reads(storage: &dyn Storage) -> u64 {
    as_mmap(storage).mapped_reads()
}

/// Issue 10, defect 10 (last bullet): two `MmapBackend` instances in one process, one
/// writing a file while the other reads it, as a log and a tool's `inspect` do.
///
/// Before the fix each instance copied out of its own mapping under its own lock, so the
/// reader's copies could run while the writer stored to the same physical pages: a data
/// race in Rust's memory model, which no run on real hardware shows (nor can Miri see it:
/// it cannot map files, and its race detector works on addresses, while the two mappings
/// alias only physically). So the test pins the mechanism that removes the race, a backend
/// that has not written the file reads it with `pread`, never out of its mapping, and checks
/// what that reader gets while the other backend stores through its mapping, pass after
/// pass, each pass writing generation `g` (mod 256) into every 64-byte unit: every byte is
/// from a generation written before or during the read, no byte goes back between reads,
/// and once the writer stops the reader sees its last pass.
#[test]
fn defect_10_two_backends_one_writing_one_reading_do_not_race() -> io::Result<()> {
    use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    const UNIT: usize = 64;
    const LEN: usize = 64 << 10;
    const MIXED_READS_WANTED: usize = 20;
    // Only if the threads never overlap (a badly overloaded machine) does the writer stop
    // on this deadline, and the test then fails rather than pass without having raced.
    const DEADLINE: Duration = Duration::from_secs(20);

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("seg");
    let writing = MmapBackend::new();
    let writer = writing.create(&path, LEN as u64)?;
    let reading = MmapBackend::new();
    let reader = reading.open(&path)?;
    assert!(!reads_from_mapping(&*writer), "nothing written yet");

    // The last generation written whole; bytes hold generations mod 256.
    let done = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (mixed_reads, checked_reads, reads) = std::thread::scope(|s| {
        let writer_thread = s.spawn(|| -> io::Result<()> {
            let mut generation = 0u32;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < DEADLINE {
                generation += 1;
                for offset in (0..LEN).step_by(UNIT) {
                    writer.write_at(offset as u64, &[generation as u8; UNIT])?;
                }
                done.store(generation, Ordering::Release);
                // The reader gets the bytes from the kernel, outside the memory model: order
                // this store before the next generation's as the hardware sees it, so that a
                // reader that sees a byte of generation g + 1 also sees `done` >= g.
                fence(Ordering::SeqCst);
            }
            Ok(())
        });
        // Stops the writer when the reader is done, by a failed check too.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let stop_writer = StopOnDrop(&stop);
        let mut previous = vec![0u8; LEN];
        let mut previous_low = 0u32;
        let mut snapshot = vec![0u8; LEN];
        let (mut mixed, mut checked, mut reads) = (0, 0, 0);
        let result = (|| -> io::Result<_> {
            while !writer_thread.is_finished() {
                let low = done.load(Ordering::Acquire);
                // 4 KiB per call, as the engine reads, so that calls interleave with stores.
                for (i, chunk) in snapshot.chunks_mut(4096).enumerate() {
                    assert_eq!(reader.read_at((i * 4096) as u64, chunk)?, chunk.len());
                }
                // Orders the kernel's loads before the load of `done`, on any hardware.
                fence(Ordering::SeqCst);
                // At most the generation in progress when the read ended.
                let high = done.load(Ordering::Acquire) + 1;
                reads += 1;
                // Generations are told apart mod 256: check reads that spanned fewer.
                if high - previous_low < 255 {
                    checked += 1;
                    let (span, progress) = ((high - low) as u8, (high - previous_low) as u8);
                    for (at, (&now, &before)) in snapshot.iter().zip(&previous).enumerate() {
                        assert!(
                            now.wrapping_sub(low as u8) <= span,
                            "byte {at} read as {now}: only generations {low}..={high} (mod \
                             256) were written before and during the read"
                        );
                        assert!(
                            now.wrapping_sub(before) <= progress,
                            "byte {at} went back from {before} to {now}"
                        );
                    }
                }
                if snapshot.iter().any(|&b| b != snapshot[0]) {
                    mixed += 1;
                    if mixed >= MIXED_READS_WANTED {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                std::mem::swap(&mut previous, &mut snapshot);
                previous_low = low;
            }
            Ok((mixed, checked, reads))
        })();
        drop(stop_writer);
        writer_thread.join().expect("the writer thread panicked")?;
        result
    })?;

    assert!(
        mixed_reads > 0 && checked_reads > 0,
        "in {reads} reads, {mixed_reads} overlapped a pass of the writer and {checked_reads} \
         were checked: the test proved nothing"
    );
    let last = done.load(Ordering::Acquire) as u8;
    let mut all = vec![0u8; LEN];
    assert_eq!(reader.read_at(0, &mut all)?, LEN);
    assert!(
        all.iter().all(|&b| b == last),
        "after the writer stopped, the reader sees its last generation"
    );
    assert_eq!(
        mapped_reads(&*reader),
        0,
        "a backend that has not written the file must never copy out of its mapping"
    );
    assert!(!reads_from_mapping(&*reader));
    assert_eq!(writer.read_at(0, &mut all)?, LEN);
    assert_eq!(
        mapped_reads(&*writer),
        1,
        "the writing backend reads its mapping"
    );
    assert!(all.iter().all(|&b| b == last));
    Ok(())
}

/// Which way a storage reads follows its backend, per file: `pread` until the backend has
/// written the file through any storage, the mapping from then on, and `pread` again for a
/// file reopened after the backend dropped every storage of it. Both ways return the same
/// bytes, unsynced ones included, and stop at the end of the file.
#[test]
fn reads_switch_to_the_mapping_once_the_backend_writes_the_file() -> io::Result<()> {
    let (dir, backend) = temp_backend()?;
    let path = dir.path().join("seg");
    let first = backend.create(&path, 10_000)?;
    let second = backend.open(&path)?;
    let other = MmapBackend::new().open(&path)?;
    assert!(![&first, &second, &other]
        .iter()
        .any(|s| reads_from_mapping(&***s)));

    second.write_at(9_990, b"0123456789")?;
    assert!(reads_from_mapping(&*first) && reads_from_mapping(&*second));
    assert!(!reads_from_mapping(&*other), "another backend");
    for storage in [&first, &second, &other] {
        let mut buf = [0u8; 16];
        assert_eq!(storage.read_at(9_990, &mut buf)?, 10, "clamped at the end");
        assert_eq!(&buf[..10], b"0123456789");
        assert_eq!(storage.read_at(10_000, &mut buf)?, 0);
    }
    assert_eq!(
        mapped_reads(&*first),
        2,
        "the writing backend's two in-range reads"
    );
    assert_eq!(mapped_reads(&*other), 0);

    drop((first, second));
    let reopened = backend.open(&path)?;
    assert!(
        !reads_from_mapping(&*reopened),
        "no storage of this backend wrote the file since it was reopened"
    );
    assert_eq!(
        wal_testkit::read_exact_at(&*reopened, 9_990, 10)?,
        b"0123456789"
    );
    assert_eq!(mapped_reads(&*reopened), 0);
    Ok(())
}
