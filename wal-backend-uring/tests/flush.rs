//! The io_uring flusher: one submission per flush, per-request results, fallbacks and
//! batching. Each test returns early (passes) where io_uring is unavailable.

// `Storage::raw_fd` exists only on unix.
#![cfg(unix)]

mod common;

use std::any::Any;
use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{dirty_file, probe_or_skip, probe_or_skip_with};
use wal_backend_std::StdStorage;
use wal_backend_uring::{ProbeOptions, UringStats};
use wal_core::{Backend, FlushRequest, Storage};
use wal_testkit::{assert_bytes_eq, pattern, read_exact_at};

/// What one flush added to the counters.
fn delta(before: UringStats, after: UringStats) -> (u64, u64, u64) {
    (
        after.submissions - before.submissions,
        after.fsyncs - before.fsyncs,
        after.fallback_syncs - before.fallback_syncs,
    )
}

/// A storage that forwards I/O to a [`StdStorage`] but hides its descriptor, like a
/// wrapper around another backend's storage; counts its syncs.
#[derive(Debug)]
struct NoFd {
    inner: StdStorage,
    syncs: AtomicUsize,
}

impl Storage for NoFd {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, buf)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn sync(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync()
    }
    fn sync_range(&self, _range: Range<u64>) -> io::Result<()> {
        self.sync()
    }
    // raw_fd: the default, None.
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A storage whose descriptor is the read end of a pipe: `IORING_OP_FSYNC` on a pipe
/// fails with EINVAL (pipes have no fsync), every time.
#[derive(Debug)]
struct PipeFd {
    read_end: OwnedFd,
    _write_end: OwnedFd,
}

impl PipeFd {
    fn new() -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        Ok(Self {
            read_end: reader.into(),
            _write_end: writer.into(),
        })
    }
}

impl Storage for PipeFd {
    fn write_at(&self, _offset: u64, _buf: &[u8]) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    fn len(&self) -> io::Result<u64> {
        Ok(0)
    }
    fn sync(&self) -> io::Result<()> {
        panic!("a storage with a descriptor must be synced through the ring, not sync()")
    }
    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.read_end.as_raw_fd())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn one_submission_fsyncs_five_dirty_files() -> io::Result<()> {
    let Some(backend) = probe_or_skip() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut requests = Vec::new();
    let mut written = Vec::new();
    for i in 0..5u64 {
        let (offset, data) = (i * 4099 + 7, pattern(i, 3000 + i as usize));
        requests.push(dirty_file(
            &backend,
            dir.path(),
            &format!("{i}.seg"),
            offset,
            &data,
        )?);
        written.push((format!("{i}.seg"), offset, data));
    }
    backend.sync_dir(dir.path())?;

    let before = backend.stats();
    let results = backend.flusher().flush(&requests);
    assert_eq!(
        delta(before, backend.stats()),
        (1, 5, 0),
        "(submissions, fsyncs, fallbacks)"
    );
    assert_eq!(results.len(), 5);
    for (i, result) in results.into_iter().enumerate() {
        result.unwrap_or_else(|e| panic!("fsync of file {i} failed: {e}"));
    }

    drop(requests);
    for (name, offset, data) in written {
        let storage = backend.open(&dir.path().join(&name))?;
        let got = read_exact_at(&*storage, offset, data.len())?;
        assert_bytes_eq(&got, &data, &format!("data of {name} after the flush"));
    }
    Ok(())
}

#[test]
fn empty_flush_submits_nothing() {
    let Some(backend) = probe_or_skip() else {
        return;
    };
    assert!(backend.flusher().flush(&[]).is_empty());
    assert_eq!(backend.stats(), UringStats::default());
}

#[test]
fn storage_without_fd_falls_back_and_is_counted() -> io::Result<()> {
    let Some(backend) = probe_or_skip() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let first = dirty_file(&backend, dir.path(), "a.seg", 0, b"first")?;
    let wrapped = Arc::new(NoFd {
        inner: StdStorage::create(&dir.path().join("b.seg"), 4096)?,
        syncs: AtomicUsize::new(0),
    });
    wrapped.write_at(10, b"wrapped")?;
    let last = dirty_file(&backend, dir.path(), "c.seg", 0, b"last")?;
    let requests = [
        first,
        FlushRequest {
            storage: wrapped.clone(),
            dirty: 10..17,
        },
        last,
    ];

    let before = backend.stats();
    let results = backend.flusher().flush(&requests);
    assert_eq!(
        delta(before, backend.stats()),
        (1, 2, 1),
        "(submissions, fsyncs, fallbacks)"
    );
    assert_eq!(
        wrapped.syncs.load(Ordering::SeqCst),
        1,
        "the wrapper synced itself once"
    );
    assert!(results.iter().all(Result::is_ok), "results: {results:?}");
    Ok(())
}

#[test]
fn only_the_failing_member_reports_an_error() -> io::Result<()> {
    let Some(backend) = probe_or_skip() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut requests = Vec::new();
    for i in 0..4 {
        requests.push(dirty_file(
            &backend,
            dir.path(),
            &format!("{i}.seg"),
            0,
            b"data",
        )?);
    }
    requests.insert(
        2,
        FlushRequest {
            storage: Arc::new(PipeFd::new()?),
            dirty: 0..1,
        },
    );

    let before = backend.stats();
    let results = backend.flusher().flush(&requests);
    assert_eq!(
        delta(before, backend.stats()),
        (1, 5, 0),
        "(submissions, fsyncs, fallbacks)"
    );
    for (i, result) in results.iter().enumerate() {
        match (i, result) {
            (2, Err(err)) => {
                // EINVAL, the kernel's errno, unchanged.
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "got {err}");
                assert!(err.raw_os_error().is_some(), "an errno, got {err}");
            }
            (2, Ok(())) => panic!("the fsync of a pipe must fail"),
            (_, Err(err)) => panic!("request {i} failed although its file is healthy: {err}"),
            (_, Ok(())) => {}
        }
    }

    // A failed member does not break the ring: the next flush works.
    requests.remove(2);
    let results = backend.flusher().flush(&requests);
    assert!(results.iter().all(Result::is_ok), "results: {results:?}");
    assert_eq!(delta(before, backend.stats()), (2, 9, 0));
    Ok(())
}

#[test]
fn more_requests_than_ring_entries_take_few_submissions() -> io::Result<()> {
    let options = ProbeOptions {
        ring_entries: 4,
        ..Default::default()
    };
    let Some(backend) = probe_or_skip_with(options) else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let requests = (0..10)
        .map(|i| dirty_file(&backend, dir.path(), &format!("{i}.seg"), i, b"x"))
        .collect::<io::Result<Vec<_>>>()?;
    let results = backend.flusher().flush(&requests);
    assert!(results.iter().all(Result::is_ok), "results: {results:?}");
    // The kernel rounds 4 up to a power of two, which 4 already is: batches of 4, 4, 2.
    assert_eq!(delta(UringStats::default(), backend.stats()), (3, 10, 0));
    Ok(())
}

#[test]
fn clones_and_flushers_share_the_counters() -> io::Result<()> {
    let Some(backend) = probe_or_skip() else {
        return Ok(());
    };
    let clone = backend.clone();
    let dir = tempfile::tempdir()?;
    let request = dirty_file(&clone, dir.path(), "a.seg", 0, b"a")?;
    let results = clone.flusher().flush(std::slice::from_ref(&request));
    assert!(results.iter().all(Result::is_ok), "results: {results:?}");
    assert_eq!(backend.stats(), clone.stats());
    assert_eq!(backend.stats().fsyncs, 1);
    assert_eq!(backend.name(), "uring");
    Ok(())
}
