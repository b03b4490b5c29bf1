//! A portable storage backend for the `wal` write-ahead log, built on [`std::fs::File`].
//!
//! [`StdBackend`] implements [`wal_core::Backend`] and hands out [`StdStorage`] objects,
//! which implement [`wal_core::Storage`] with positional I/O (`pread`/`pwrite` on unix,
//! `seek_read`/`seek_write` on windows), so that any number of threads can read and write
//! one file without sharing a cursor. [`Storage::sync`] is [`File::sync_data`].
//!
//! Durability guarantees by platform:
//! - **Linux**: [`Backend::create`] reserves the file's blocks with `posix_fallocate`, so a
//!   full disk fails at creation with [`io::ErrorKind::StorageFull`], not on a later write.
//!   [`Backend::sync_dir`] fsyncs the directory.
//! - **Other unix**: creation only sets the length; blocks are not reserved, so a full disk
//!   can surface on a later write. The directory is fsynced.
//! - **Windows**: creation only sets the length, and [`Backend::sync_dir`] does nothing
//!   (std cannot open a directory handle for flushing).
//!
//! The engine's flushes use the default [`wal_core::SequentialFlusher`].
//!
//! # Example
//!
//! ```
//! use wal_backend_std::StdBackend;
//! use wal_core::Backend;
//!
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let backend = StdBackend::default();
//! let path = dir.path().join("00000001.seg");
//!
//! let storage = backend.create(&path, 4096)?;
//! backend.sync_dir(dir.path())?;
//! storage.write_at(100, b"hello")?;
//! storage.sync()?;
//!
//! let mut buf = [0u8; 5];
//! assert_eq!(storage.read_at(100, &mut buf)?, 5);
//! assert_eq!(&buf, b"hello");
//! assert_eq!(storage.len()?, 4096);
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_core::{Backend, Storage};

mod sys;

/// Gives the freshly created, empty `file` a length of `len` bytes with its blocks reserved
/// (`posix_fallocate` on Linux, so a full disk is [`io::ErrorKind::StorageFull`] here;
/// elsewhere only the length is set). Public so that other backends that create segment
/// files the same way (the mmap backend) share it.
pub fn preallocate(file: &File, len: u64) -> io::Result<()> {
    sys::preallocate(file, len)
}

/// Fills `buf` from `offset` of `file` with positional reads (`pread` on unix,
/// `seek_read` on windows), looping over short reads and `Interrupted`; returns less than
/// `buf.len()` only at the end of the file. Public for other backends, as [`preallocate`]
/// (the mmap backend reads files it has not written this way).
pub fn read_file_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    sys::read_at(file, offset, buf)
}

/// Makes the entries of `dir` durable (`fsync` of the directory on unix; a no-op where std
/// cannot open a directory). Public for other backends, as [`preallocate`].
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    sys::sync_dir(dir)
}

/// The portable backend: segment files are plain [`File`]s accessed with positional I/O.
///
/// It holds no state, so it is cheap to create and clone.
#[derive(Debug, Default, Clone)]
pub struct StdBackend {
    // Keeps the struct open to options without a breaking change.
    _private: (),
}

impl StdBackend {
    /// Creates the backend.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for StdBackend {
    fn name(&self) -> &str {
        "std"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(StdStorage::create(path, len)?))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(StdStorage::open(path)?))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Makes the directory's entries durable. On unix the directory is opened and fsynced;
    /// on other platforms this does nothing and returns `Ok(())`, because std offers no way
    /// to flush a directory there.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sys::sync_dir(dir)
    }
}

/// One segment file, opened for reading and writing.
///
/// All I/O is positional, so a `StdStorage` can be shared between threads (it is `Send` and
/// `Sync`) and used concurrently on non-overlapping byte ranges.
#[derive(Debug)]
pub struct StdStorage {
    file: File,
    path: PathBuf,
}

impl StdStorage {
    /// Creates a new file at `path` holding `len` zero bytes. Fails if the file exists.
    ///
    /// On Linux the blocks are reserved with `posix_fallocate`, so a full disk is an error
    /// of kind [`io::ErrorKind::StorageFull`] here. On other platforms only the length is
    /// set and blocks are **not** reserved: a full disk can surface on a later write.
    ///
    /// If sizing the file fails, the half-created file is removed before the error is
    /// returned. The caller syncs the directory afterwards.
    pub fn create(path: &Path, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        if let Err(err) = sys::preallocate(&file, len) {
            drop(file);
            if let Err(remove_err) = std::fs::remove_file(path) {
                tracing::warn!(
                    path = %path.display(),
                    error = %remove_err,
                    "could not remove a segment file whose preallocation failed"
                );
            }
            return Err(err);
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens the existing file at `path` for reading and writing.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The path the file was created or opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Storage for StdStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        sys::write_all_at(&self.file, offset, buf)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        sys::read_at(&self.file, offset, buf)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn zeros_from(&self) -> io::Result<Option<u64>> {
        sys::zeros_from(&self.file)
    }

    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.file.as_raw_fd())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<StdStorage>();
    }

    #[test]
    fn as_any_downcasts_to_std_storage() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("seg");
        let storage = StdBackend::new().create(&path, 16)?;
        let std_storage = storage
            .as_any()
            .downcast_ref::<StdStorage>()
            .expect("as_any must expose the concrete StdStorage");
        assert_eq!(std_storage.path(), path.as_path());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn raw_fd_is_exposed_on_unix() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let storage = StdBackend::new().create(&dir.path().join("seg"), 16)?;
        assert!(
            storage.raw_fd().is_some(),
            "raw_fd must return the file's descriptor"
        );
        Ok(())
    }

    #[test]
    fn failed_create_removes_the_half_created_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("seg");
        // No platform can size a file to u64::MAX bytes (it exceeds off_t / i64).
        let result = StdBackend::new().create(&path, u64::MAX);
        assert!(result.is_err(), "creating a u64::MAX-byte file must fail");
        assert!(
            !path.exists(),
            "a create that fails while sizing the file must remove it"
        );
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn enospc_maps_to_storage_full() {
        let err = io::Error::from(nix::errno::Errno::ENOSPC);
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod zeros_from_tests {
    use super::*;

    /// On a file system that reports `fallocate`d, never-written extents as holes (ext4,
    /// xfs, tmpfs do), a small write leaves `zeros_from` at the end of its block, far
    /// below the file's end: recovery then skips reading the rest.
    #[test]
    fn a_mostly_unwritten_file_ends_early() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let storage = StdStorage::create(&dir.path().join("seg"), 4 << 20)?;
        storage.write_at(100, &[7; 300])?;
        match storage.zeros_from()? {
            None => eprintln!("this file system does not report holes; nothing to check"),
            Some(z) => assert!((400..(4 << 20)).contains(&z), "zeros_from = {z}"),
        }
        Ok(())
    }
}
