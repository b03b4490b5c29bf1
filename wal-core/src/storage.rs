//! The seams between the engine and the disk: [`Storage`], [`Flusher`] and [`Backend`].
//!
//! The engine never opens a file itself. A [`Backend`] creates and opens segment files as
//! [`Storage`] objects and hands out a [`Flusher`] that makes a *set* of them durable in one
//! call, so that a backend such as io_uring can put many fsyncs into one submission.
//!
//! # Threading contract
//! Every trait here is `Send + Sync`. The engine calls `write_at` for one storage from one
//! thread at a time (whichever thread holds the engine's write lock: the background
//! thread, a flush leader, an appender over the pending limit, or a reader that needs
//! buffered data), but `read_at`, `len`, `sync` and `sync_range` may be called
//! concurrently with writes from other threads, on byte ranges that do not overlap a
//! write in progress.

use std::any::Any;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// One open segment file.
///
/// Implementations must be safe to share between threads. All offsets are absolute byte
/// positions in the file. The file is created at its full size by [`Backend::create`], so
/// writes never extend it.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Writes all of `buf` at `offset`. A short write is an error, never a silent success.
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()>;

    /// Fills `buf` from `offset`. Returns the number of bytes read, which is less than
    /// `buf.len()` only at the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// The current length of the file in bytes.
    fn len(&self) -> io::Result<u64>;

    /// Returns `true` if [`Storage::len`] is zero.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Makes every byte written so far durable: when this returns `Ok`, the data survives a
    /// power loss. An error means the data may be lost and must never be retried as if it
    /// had not happened (the engine poisons itself).
    fn sync(&self) -> io::Result<()>;

    /// Makes the bytes in `range` durable. Backends that can flush part of a file (mmap's
    /// `msync` of dirty pages) override this; the default syncs the whole file.
    fn sync_range(&self, _range: Range<u64>) -> io::Result<()> {
        self.sync()
    }

    /// An offset from which the file holds only zeros, if the backend can tell without
    /// reading it (from the file system's extent map: `SEEK_DATA`/`SEEK_HOLE`). Recovery
    /// reads the end of the last segment backwards to find where its bytes stop; with this
    /// it starts there rather than at the end of a mostly never-written file. It must
    /// never be below a non-zero byte, written or cached; `None` (the default) means
    /// unknown, and recovery reads the whole tail.
    fn zeros_from(&self) -> io::Result<Option<u64>> {
        Ok(None)
    }

    /// The raw file descriptor, for flushers that submit their own system calls
    /// (io_uring). `None` when the storage is not backed by a descriptor.
    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// The storage as [`Any`], so that a backend's own [`Flusher`] can reach its concrete
    /// type (and whatever handle it holds) with `downcast_ref`.
    fn as_any(&self) -> &dyn Any;
}

/// Fills all of `buf` from `offset`, looping over short reads; reaching the end of the file
/// first is an [`io::ErrorKind::UnexpectedEof`] error.
pub fn read_exact_at(storage: &dyn Storage, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match storage.read_at(offset, buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the storage",
                ))
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One storage the engine wants durable, and the byte range it dirtied since the last flush.
#[derive(Debug, Clone)]
pub struct FlushRequest {
    /// The storage to make durable.
    pub storage: Arc<dyn Storage>,
    /// The bytes written since its last successful sync. Backends that can only sync whole
    /// files may ignore it.
    pub dirty: Range<u64>,
}

/// Makes a set of storages durable in one call.
///
/// The result has one entry per request, in the same order: a flusher must report each
/// storage's outcome, never fold a failure into a success.
pub trait Flusher: Send + Sync + fmt::Debug {
    /// Flushes every request and reports a result for each.
    fn flush(&self, requests: &[FlushRequest]) -> Vec<io::Result<()>>;
}

/// The flusher that syncs each storage in turn with [`Storage::sync_range`]: correct for any
/// backend, and the default of [`Backend::flusher`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SequentialFlusher;

impl Flusher for SequentialFlusher {
    fn flush(&self, requests: &[FlushRequest]) -> Vec<io::Result<()>> {
        requests
            .iter()
            .map(|r| r.storage.sync_range(r.dirty.clone()))
            .collect()
    }
}

/// Creates, opens and removes segment files in a directory.
pub trait Backend: Send + Sync + fmt::Debug {
    /// A short name for logs and [`crate::Wal::backend_name`] ("std", "mmap", ...).
    fn name(&self) -> &str;

    /// Creates a new file at `path` with `len` bytes allocated on disk, so that a full disk
    /// is an error here ([`io::ErrorKind::StorageFull`]) rather than on a later write.
    /// Fails if the file exists. The caller syncs the directory afterwards.
    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>>;

    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>>;

    /// Removes a file. The caller syncs the directory afterwards.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Renames a file within the log directory (recovery sets damaged segments aside this
    /// way). The caller syncs the directory afterwards. The default uses
    /// [`std::fs::rename`]; a backend that tracks its files (a fault injector, a remote
    /// store) overrides it.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    /// The flusher the engine uses to make dirty storages durable.
    fn flusher(&self) -> Arc<dyn Flusher> {
        Arc::new(SequentialFlusher)
    }
}

macro_rules! forward_backend {
    ($($ty:ty),*) => {$(
        impl<B: Backend + ?Sized> Backend for $ty {
            fn name(&self) -> &str { (**self).name() }
            fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
                (**self).create(path, len)
            }
            fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> { (**self).open(path) }
            fn remove(&self, path: &Path) -> io::Result<()> { (**self).remove(path) }
            fn sync_dir(&self, dir: &Path) -> io::Result<()> { (**self).sync_dir(dir) }
            fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
                (**self).rename(from, to)
            }
            fn flusher(&self) -> Arc<dyn Flusher> { (**self).flusher() }
        }
    )*};
}
forward_backend!(Box<B>, Arc<B>);
