//! [`MmapStorage`]: one mapped segment file, and what the storages of one backend share.

use std::any::Any;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};

use wal_core::Storage;

use crate::map::{FileAccess, Region};
use crate::sys::{self, FileKey};
use crate::{MmapConfig, MmapStats, Prefill};

/// What every storage of one backend instance shares: the counters and, per file, its
/// [`FileAccess`] (lock and written flag).
#[derive(Debug)]
pub(crate) struct Shared {
    msync_calls: AtomicU64,
    msync_bytes: AtomicU64,
    page_size: u64,
    /// One [`FileAccess`] per mapped file, so that two storages of the same file never copy
    /// into and out of it at the same time, and read it the same way. Per instance only:
    /// see the `map` module for why that is enough.
    files: Mutex<HashMap<FileKey, Weak<FileAccess>>>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            msync_calls: AtomicU64::new(0),
            msync_bytes: AtomicU64::new(0),
            page_size: sys::page_size() as u64,
            files: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn stats(&self) -> MmapStats {
        MmapStats {
            msync_calls: self.msync_calls.load(Ordering::Relaxed),
            msync_bytes: self.msync_bytes.load(Ordering::Relaxed),
        }
    }

    fn record_msync(&self, bytes: u64) {
        self.msync_calls.fetch_add(1, Ordering::Relaxed);
        self.msync_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The access state of the file `key`, shared with every live storage of that file. A
    /// file no storage of this backend maps any more starts afresh (not written).
    fn file_access(&self, key: FileKey) -> Arc<FileAccess> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(access) = files.get(&key).and_then(Weak::upgrade) {
            return access;
        }
        files.retain(|_, access| access.strong_count() > 0);
        let access = Arc::new(FileAccess::default());
        files.insert(key, Arc::downgrade(&access));
        access
    }
}

/// One segment file, mapped whole into memory, shared and writable.
///
/// Writes and reads are copies into and out of the mapping; [`Storage::sync_range`] is an
/// `msync(MS_SYNC)` of the pages the range touches, and [`Storage::sync`] of every page.
/// Reads copy out of the mapping once the storage's backend has written the file (through
/// this storage or another), and go through `pread` on the file until then: a backend that
/// only reads a file, such as one given to `inspect`, never loads from a mapping that
/// another backend may be storing to (the crate docs say why).
///
/// It is `Send` and `Sync`; copies into the file take its lock exclusively and copies out
/// take it shared, so any number of readers run in parallel with each other, never with a
/// writer, while `pread` and `msync` take no lock at all. Created by [`crate::MmapBackend`].
#[derive(Debug)]
pub struct MmapStorage {
    region: Region,
    /// Kept open for reads by `pread`, for [`Storage::raw_fd`] and, off Linux, for
    /// `sync_data` after `msync`.
    file: File,
    path: PathBuf,
    len: u64,
    shared: Arc<Shared>,
    /// Runs [`MmapStorage::evict_tail`] before the first write, if the config asks for it.
    evict_tail: Option<Once>,
}

/// The largest page-cache folio on common configurations (a PMD: 2 MiB on x86-64 and on
/// arm64 with 4 KiB pages). Eviction starts at a multiple of it, so that a large folio
/// holding the first written byte goes too.
#[cfg(target_os = "linux")]
const LARGEST_FOLIO: u64 = 2 << 20;

impl MmapStorage {
    /// Creates the file, sizes it, prefills it as `config` says and maps it; removes the
    /// file again if any step after its creation fails.
    pub(crate) fn create(
        path: &Path,
        len: u64,
        config: &MmapConfig,
        shared: &Arc<Shared>,
    ) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Self::size_and_map(file, path, len, config, shared).inspect_err(|_| {
            if let Err(remove_err) = std::fs::remove_file(path) {
                tracing::warn!(
                    path = %path.display(),
                    error = %remove_err,
                    "could not remove a segment file whose creation failed"
                );
            }
        })
    }

    /// Opens and maps the existing file at `path` at its current length.
    pub(crate) fn open(path: &Path, config: &MmapConfig, shared: &Arc<Shared>) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        Self::map(file, path, len, config, shared)
    }

    fn size_and_map(
        file: File,
        path: &Path,
        len: u64,
        config: &MmapConfig,
        shared: &Arc<Shared>,
    ) -> io::Result<Self> {
        sys::preallocate(&file, len)?;
        let chunk = match config.prefill {
            Prefill::None => None,
            Prefill::ZeroPages => Some(shared.page_size as usize),
            Prefill::ZeroChunks => Some(1 << 20),
        };
        if let Some(chunk) = chunk {
            sys::write_zeros(&file, len, chunk)?;
            file.sync_data()?;
        }
        Self::map(file, path, len, config, shared)
    }

    fn map(
        file: File,
        path: &Path,
        len: u64,
        config: &MmapConfig,
        shared: &Arc<Shared>,
    ) -> io::Result<Self> {
        let map_len = usize::try_from(len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: a {len}-byte file does not fit in the address space",
                    path.display()
                ),
            )
        })?;
        let mut options = memmap2::MmapOptions::new();
        options.len(map_len);
        if config.populate {
            options.populate();
        }
        let raw = options.map_raw(&file)?;
        if map_len > 0 {
            sys::advise(&raw, config, path);
        }
        let access = shared.file_access(sys::file_key(&file, path)?);
        Ok(Self {
            region: Region::new(raw, access),
            file,
            path: path.to_path_buf(),
            len,
            shared: Arc::clone(shared),
            evict_tail: config.evict_tail.then(Once::new),
        })
    }

    /// Drops the cached pages from the [`LARGEST_FOLIO`] boundary at or below `offset` to
    /// the end of the file. A failure only costs write amplification: it is logged.
    fn evict_tail(&self, offset: u64) {
        #[cfg(target_os = "linux")]
        {
            let from = offset / LARGEST_FOLIO * LARGEST_FOLIO;
            // `from` <= `offset` <= `len`, and `len` came from a usize.
            if let Err(err) = self.region.evict(&self.file, from as usize) {
                tracing::debug!(
                    path = %self.path.display(),
                    from,
                    error = %err,
                    "could not drop cached pages before the first write; going on"
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            tracing::debug!(offset, "evict_tail needs Linux; ignored");
        }
    }

    /// Whether reads copy out of the mapping rather than going through `pread`.
    #[cfg(test)]
    pub(crate) fn reads_from_mapping(&self) -> bool {
        self.region.reads_from_mapping()
    }

    /// How many reads the storages of this file of this backend copied out of a mapping.
    #[cfg(test)]
    pub(crate) fn mapped_reads(&self) -> u64 {
        self.region.mapped_reads()
    }

    /// The path the file was created or opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error for a `what` of `count` bytes at `offset` that does not fit in the file.
    fn out_of_range(&self, what: &str, offset: u64, count: u64) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: {what} of {count} bytes at offset {offset} runs past the end of the \
                 {}-byte mapped file",
                self.path.display(),
                self.len
            ),
        )
    }

    /// `msync(MS_SYNC)` of the pages holding `range` (non-empty, inside the file).
    fn msync(&self, range: Range<u64>) -> io::Result<()> {
        let page = self.shared.page_size;
        let start = range.start / page * page;
        self.shared
            .record_msync(range.end.div_ceil(page) * page - start);
        // Both fit in usize: they are at most `len`, which the mapping's length came from.
        let (offset, count) = (start as usize, (range.end - start) as usize);
        self.region.raw().flush_range(offset, count)?;
        sys::after_msync(&self.file)
    }
}

impl Storage for MmapStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let count = buf.len() as u64;
        match offset.checked_add(count) {
            Some(end) if end <= self.len => {
                if let Some(once) = &self.evict_tail {
                    once.call_once(|| self.evict_tail(offset));
                }
                // In range of a `len` that came from a usize, so the cast is lossless.
                self.region.write(offset as usize, buf);
                Ok(())
            }
            _ => Err(self.out_of_range("write", offset, count)),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let available = usize::try_from(self.len - offset).unwrap_or(usize::MAX);
        let n = buf.len().min(available);
        self.region.read(&self.file, offset as usize, &mut buf[..n])
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn sync(&self) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.msync(0..self.len)
    }

    fn sync_range(&self, range: Range<u64>) -> io::Result<()> {
        if range.start > range.end || range.end > self.len {
            return Err(self.out_of_range(
                "sync_range",
                range.start,
                range.end.saturating_sub(range.start),
            ));
        }
        if range.is_empty() {
            return Ok(());
        }
        self.msync(range)
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
