//! A storage backend of your own, written only against the public traits of `wal`.
//!
//! `CountingBackend` wraps the std backend and counts (and logs at debug level) every I/O
//! call, which is handy to see what the log does. The same shape fits any backend: a
//! `StorageBackend` that creates and opens `Storage` objects, and optionally a `Flusher`
//! that syncs many of them at once.
//!
//! Run it with `cargo run -p topicwal --example custom_backend`. The conformance suite and the
//! engine's integration suite run on it in `wal/tests/backend_custom.rs`.

#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

use std::any::Any;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wal::{Flusher, Storage, StorageBackend};

/// How many calls of each kind a [`CountingBackend`] has seen.
#[derive(Debug, Default)]
pub struct IoCounts {
    /// `write_at` calls.
    pub writes: AtomicU64,
    /// `read_at` calls.
    pub reads: AtomicU64,
    /// `sync` and `sync_range` calls.
    pub syncs: AtomicU64,
    /// Files created.
    pub creates: AtomicU64,
}

/// A backend that counts every I/O call and passes it to the std backend.
#[derive(Debug, Clone, Default)]
pub struct CountingBackend {
    inner: wal::StdBackend,
    counts: Arc<IoCounts>,
}

impl CountingBackend {
    /// The counters, shared by every storage this backend created or opened.
    pub fn counts(&self) -> &IoCounts {
        &self.counts
    }

    fn wrap(&self, inner: Arc<dyn Storage>) -> Arc<dyn Storage> {
        Arc::new(CountingStorage {
            inner,
            counts: self.counts.clone(),
        })
    }
}

impl StorageBackend for CountingBackend {
    fn name(&self) -> &str {
        "counting"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        self.counts.creates.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(path = %path.display(), len, "create");
        Ok(self.wrap(self.inner.create(path, len)?))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        Ok(self.wrap(self.inner.open(path)?))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }

    // `flusher` keeps its default, `SequentialFlusher`, which calls `sync_range` on each
    // dirty storage; a backend that can batch syncs returns its own `Flusher` here.
    fn flusher(&self) -> Arc<dyn Flusher> {
        Arc::new(wal::SequentialFlusher)
    }
}

/// One counted segment file.
#[derive(Debug)]
struct CountingStorage {
    inner: Arc<dyn Storage>,
    counts: Arc<IoCounts>,
}

impl Storage for CountingStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(offset, len = buf.len(), "write");
        self.inner.write_at(offset, buf)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read_at(offset, buf)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn sync(&self) -> io::Result<()> {
        self.counts.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync()
    }

    fn sync_range(&self, range: Range<u64>) -> io::Result<()> {
        self.counts.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_range(range)
    }

    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.raw_fd()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[allow(dead_code, reason = "the test target includes this file as a module")]
fn main() -> wal::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| wal::Error::Config(e.to_string()))?;
    let backend = CountingBackend::default();
    let wal = wal::Wal::builder()
        .dir(dir.path())
        .fsync(wal::FsyncSchedule::NoFsync)
        .custom_backend(Arc::new(backend.clone()))
        .open()?;
    for i in 0..10_000u32 {
        wal.append_for_topic("demo", &i.to_le_bytes())?;
    }
    wal.sync()?;
    let read = wal.batch_read_for_topic("demo", usize::MAX, true)?;
    wal.close()?;
    let c = backend.counts();
    println!(
        "10,000 appends and {} reads took {} writes, {} syncs, {} reads and {} file creations",
        read.len(),
        c.writes.load(Ordering::Relaxed),
        c.syncs.load(Ordering::Relaxed),
        c.reads.load(Ordering::Relaxed),
        c.creates.load(Ordering::Relaxed),
    );
    Ok(())
}
