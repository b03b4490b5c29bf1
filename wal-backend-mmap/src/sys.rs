//! Every platform difference of this crate, in one place.
//!
//! - Preallocation: `posix_fallocate` on Linux (as `wal-backend-std` does), `set_len` (no
//!   blocks reserved, a sparse file) elsewhere.
//! - Page size: `sysconf(_SC_PAGESIZE)` on unix, 4096 elsewhere.
//! - Directory sync: `fsync` of the directory on unix, a no-op elsewhere.
//! - Positional reads: `FileExt::read_at` (`pread`) on unix, `seek_read` on windows.
//! - File identity: `(st_dev, st_ino)` on unix, the canonical path elsewhere.
//! - `madvise`: on unix only (`MADV_NOHUGEPAGE` on Linux only); `POSIX_FADV_DONTNEED` on
//!   Linux only.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::MmapConfig;

// Preallocation and directory sync are the std backend's (one implementation for both):
// on Linux `posix_fallocate` reserves the blocks, so a full disk fails at creation instead
// of as a SIGBUS when a page of the mapping is written back; elsewhere only the length is
// set, the file is sparse, and a full disk can surface as a SIGBUS on a write.
pub(crate) use wal_backend_std::{preallocate, sync_dir};

/// Writes `len` zero bytes from the start of `file`, `chunk` bytes per write call.
///
/// The size of each write decides the size of the page-cache folios the kernel allocates
/// for it, which is what [`crate::Prefill`] is about.
pub(crate) fn write_zeros(file: &File, len: u64, chunk: usize) -> io::Result<()> {
    let zeros = vec![0u8; chunk];
    let mut left = len;
    let mut writer = file;
    writer.seek(SeekFrom::Start(0))?;
    while left > 0 {
        let n = usize::try_from(left).map_or(chunk, |rest| rest.min(chunk));
        writer.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Fills `buf` from `offset` of `file` with positional reads, stopping early only at the
/// end of the file: the reads of a storage whose backend has not written the file (the std
/// backend's loop).
///
/// On Linux (and every unix with a unified buffer cache) `pread` copies from the same
/// page-cache pages a `MAP_SHARED` mapping of the file maps, so it returns what was copied
/// into any mapping of the file, written back or not. On Windows `ReadFile` and mapped views
/// of a local file both go through the cache manager's one copy of the file; Microsoft does
/// not document it as a promise.
pub(crate) fn read_file_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    wal_backend_std::read_file_at(file, offset, buf)
}

/// The size of a memory page: the granularity of `msync`.
#[cfg(unix)]
pub(crate) fn page_size() -> usize {
    use nix::unistd::{sysconf, SysconfVar};

    match sysconf(SysconfVar::PAGE_SIZE) {
        Ok(Some(size)) => usize::try_from(size).unwrap_or(4096),
        Ok(None) | Err(_) => 4096,
    }
}

/// The size of a memory page: 4096 where it cannot be asked for.
#[cfg(not(unix))]
pub(crate) fn page_size() -> usize {
    4096
}

/// Gives the kernel the advice `config` asks for. Advice is only a hint: a kernel that
/// rejects it (no transparent huge pages, say) is logged at debug level, not an error.
#[cfg(unix)]
pub(crate) fn advise(raw: &memmap2::MmapRaw, config: &MmapConfig, path: &Path) {
    let mut advice = Vec::new();
    if config.random_access {
        advice.push(memmap2::Advice::Random);
    }
    #[cfg(target_os = "linux")]
    if config.no_huge_pages {
        advice.push(memmap2::Advice::NoHugePage);
    }
    for advice in advice {
        if let Err(err) = raw.advise(advice) {
            tracing::debug!(
                path = %path.display(),
                ?advice,
                error = %err,
                "madvise failed; going on without the hint"
            );
        }
    }
}

/// There is no `madvise` here: the advice in `config` is ignored.
#[cfg(not(unix))]
pub(crate) fn advise(_raw: &memmap2::MmapRaw, config: &MmapConfig, _path: &Path) {
    if config.random_access || config.no_huge_pages {
        tracing::debug!("madvise is not available on this platform; ignoring the advice");
    }
}

/// What identifies a file (not a path) for sharing one access lock and written flag between
/// all the storages one backend maps it with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FileKey {
    /// Device and inode number.
    #[cfg_attr(not(unix), allow(dead_code, reason = "constructed on unix only"))]
    Inode(u64, u64),
    /// The canonical path, where inode numbers are not available.
    #[cfg_attr(unix, allow(dead_code, reason = "constructed off unix only"))]
    Path(PathBuf),
}

/// The identity of the open `file`, found at `path`.
#[cfg(unix)]
pub(crate) fn file_key(file: &File, _path: &Path) -> io::Result<FileKey> {
    use std::os::unix::fs::MetadataExt;

    let meta = file.metadata()?;
    Ok(FileKey::Inode(meta.dev(), meta.ino()))
}

/// The identity of the open `file`, found at `path`.
#[cfg(not(unix))]
pub(crate) fn file_key(_file: &File, path: &Path) -> io::Result<FileKey> {
    Ok(FileKey::Path(std::fs::canonicalize(path)?))
}

/// Nothing to add after `msync(MS_SYNC)` on Linux: it is `vfs_fsync_range` with `datasync`
/// over the range, which writes the dirty pages and the metadata needed to read them back,
/// and flushes the device's volatile write cache.
#[cfg(target_os = "linux")]
pub(crate) fn after_msync(_file: &File) -> io::Result<()> {
    Ok(())
}

/// Elsewhere `msync(MS_SYNC)` (or `FlushViewOfFile`) does not promise that the data got past
/// the device's write cache (macOS needs `F_FULLFSYNC`, Windows `FlushFileBuffers`), so the
/// file's [`File::sync_data`] follows it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn after_msync(file: &File) -> io::Result<()> {
    file.sync_data()
}

/// Asks the kernel to drop the clean, unmapped page-cache pages of `file` in
/// `offset..offset + len` (`POSIX_FADV_DONTNEED`; dirty pages are only queued for writeback).
#[cfg(target_os = "linux")]
pub(crate) fn drop_page_cache(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    use std::os::fd::AsRawFd;

    let to_off = |n: u64| {
        nix::libc::off_t::try_from(n).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "offset does not fit in off_t")
        })
    };
    posix_fadvise(
        file.as_raw_fd(),
        to_off(offset)?,
        to_off(len)?,
        PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )?;
    Ok(())
}
