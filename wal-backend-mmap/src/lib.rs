//! A memory-mapped storage backend for the `wal` write-ahead log.
//!
//! [`MmapBackend`] implements [`wal_core::Backend`]. Its [`MmapStorage`]s map each segment
//! file whole (`MAP_SHARED`, read-write, with `memmap2`); [`Storage::write_at`] is a copy
//! into the mapping, and [`Storage::read_at`] a copy out of it once the backend has written
//! the file, a `pread` before (see "Several backends in one process"). Durability is `msync`
//! of the dirty pages only: [`Storage::sync_range`] flushes the pages a range touches (page-aligned,
//! `MS_SYNC`), [`Storage::sync`] every page of the file, and the engine's flushes go through
//! [`MmapFlusher`], one `msync` per dirty range. [`MmapBackend::stats`] counts the calls and
//! the bytes they covered, per backend instance.
//!
//! # Example
//!
//! ```
//! use wal_backend_mmap::MmapBackend;
//! use wal_core::Backend;
//!
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let backend = MmapBackend::default();
//! let storage = backend.create(&dir.path().join("00000001.seg"), 1 << 20)?;
//! backend.sync_dir(dir.path())?;
//!
//! storage.write_at(4096, b"hello")?;
//! storage.sync_range(4096..4101)?; // msync of one page, not of the whole file
//!
//! let mut buf = [0u8; 5];
//! assert_eq!(storage.read_at(4096, &mut buf)?, 5);
//! assert_eq!(&buf, b"hello");
//! assert_eq!(backend.stats().msync_calls, 1);
//! assert!(backend.stats().msync_bytes <= 16 * 1024);
//!
//! // The engine uses it like any backend:
//! let wal = wal_core::WalBuilder::new()
//!     .dir(dir.path().join("log"))
//!     .backend(std::sync::Arc::new(backend))
//!     .open()
//!     .expect("open the log");
//! assert_eq!(wal.backend_name(), "mmap");
//! # Ok(())
//! # }
//! ```
//!
//! # Contract: one writer per file, and nobody truncates a mapped file
//!
//! - While a storage maps a file, **nothing may truncate it**: the next access to a page
//!   past the new end raises SIGBUS, which kills the process.
//! - While a backend that has *written* a file maps it (through any storage of it or of its
//!   clones), **nothing else may write to that file**: no other backend instance, no other
//!   process, no plain file I/O. That backend copies its reads out of its mapping, and a
//!   store from outside would race with those copies. The engine keeps this for every log: a
//!   log holds its directory's lock, so one log, and so one backend, writes its segments.
//!   A backend stays a file's writer for as long as any of its storages of that file is
//!   alive, so a log's storages must not outlive its close while another log writes the
//!   directory.
//!
//! Reading a file from anywhere else is harmless to correctness (but see "Folios" below for
//! what buffered readers cost). Within one backend (and its clones) every storage of the
//! same file shares one lock, so even overlapping calls cannot race.
//!
//! # Several backends in one process
//!
//! Backend instances share nothing (there is no process-wide state), so the lock that
//! orders one backend's copies into and out of a file orders nobody else's: a log's backend
//! and the one a tool gives to `inspect` map the same pages at two addresses, each under
//! its own lock. What keeps them apart is how a backend reads:
//!
//! - A backend copies reads out of its mapping only once it has written the file itself
//!   (through any storage, since the last time it had none of that file). By the contract,
//!   its own copies, ordered by its lock, are then the only stores to those pages.
//! - Until then, and for a backend that never writes the file (`inspect`'s, a log's
//!   recovery before its first append), a read is a `pread` on the storage's descriptor:
//!   the kernel copies from the page cache, which is what every `MAP_SHARED` mapping of the
//!   file maps, so the bytes are the same, written back or not. The program never loads from
//!   a mapping that another backend may be storing to; it sees a system call fill a buffer.
//!
//! **Guaranteed:** any number of backends and threads in one process may read a file while
//! one backend writes it, with no data race in the sense of Rust's memory model (the docs
//! of `src/map.rs` give the argument, rule by rule). A reader sees every `write_at`
//! that returned before its read began, and each byte as it was before or after a copy
//! in progress, never a byte nobody wrote; there is no atomicity across bytes, so a
//! record being written may be read half done, which is what the engine's checksums catch.
//! **Not guaranteed:** two backends writing one file (a contract violation) may race in
//! their reads, and the file's bytes are then whatever the interleaved copies left.
//!
//! **Cost:** a `pread` is a system call per `read_at`, where a copy out of a mapping is
//! not. Measured on a 2-vCPU VM (Linux 6.18, warm page cache, medians of 5, quiet machine;
//! `cargo run --release -p topicwal-backend-mmap --example read_paths`), by a backend that has not
//! written the file: a 256 B read took ~470 ns instead of 10–18 ns out of a mapping, a
//! 4 KiB read ~1.0 µs instead of 0.15–0.28 µs, and 1 MiB reads ran at ~11.5 GiB/s, as fast
//! as a first pass over a fresh mapping (11–13 GiB/s; 16–20 GiB/s once faulted in). For
//! the engine this matters only where it reads segments its backend has not written, i.e.
//! those from before a reopen: reading 200,000 entries of 256 B one per `read_from` call
//! went from 440–480 ns to ~1040 ns per entry, in 1 MiB batches from 128–152 ns to 113 ns,
//! and the reopen itself (recovery) from 70–76 ms to 60 ms. A log's reads of the segments
//! it has written to since it opened still copy out of the mapping, at the same cost.
//!
//! # What the backend guarantees
//!
//! - A write or `sync_range` that does not fit inside the file is an
//!   [`io::ErrorKind::InvalidInput`] error naming the path, offset and length; nothing is
//!   written. A read returns the bytes before the end of the file (0 at or past it).
//! - When `sync_range(r)` returns `Ok`, the bytes in `r` survive a process crash, an OS
//!   crash and a power loss (on Linux `msync(MS_SYNC)` is `fsync` of the range: the pages,
//!   the metadata needed to read them, and a device cache flush). A process crash never
//!   loses a completed `write_at`: the bytes are in the page cache at once.
//! - An `msync` error is returned, never retried or hidden (the engine poisons itself).
//! - Threads: `MmapStorage` is `Send + Sync`; copies into a file are exclusive, copies out
//!   of it shared; `pread` and `msync` take no lock.
//!
//! # Platforms
//!
//! - **Linux**: [`Backend::create`] reserves the file's blocks with `posix_fallocate` (as
//!   `wal-backend-std` does) before mapping, so a full disk is an
//!   [`io::ErrorKind::StorageFull`] error at creation, never a SIGBUS on a later write. A
//!   file whose creation fails is removed again (a failure to remove it is logged with
//!   `tracing::warn!`; the original error is returned).
//! - **Other platforms** have no `posix_fallocate` here: creation only sets the length, the
//!   file is **sparse**, and a full disk surfaces when a dirty page is written back, which
//!   for a mapped file is **a SIGBUS on the write that touches a page** (or an `msync`
//!   error), not an error at creation. Each `msync` is followed by the file's `sync_data`
//!   there, because `msync` alone does not promise the data got past the drive's cache
//!   (macOS needs `F_FULLFSYNC`, Windows `FlushFileBuffers`). [`Backend::sync_dir`] does
//!   nothing off unix.
//!
//! # Folios: why a durable 256-byte append can write 1 MiB, and the default that avoids it
//!
//! `msync` writes back every dirty page-cache *folio* in its range, and dirtying a page
//! through a mapping dirties its whole folio. Linux allocates large folios (up to 2 MiB) for
//! large buffered writes and buffered readahead, so one small append through the mapping
//! can make the device write a megabyte; `pwrite` marks only the blocks it wrote. The
//! example `folio_amplification` measures it: 500 appends of 256 bytes into a 64 MiB
//! segment, each followed by `sync_range` of just that record, with bytes written read from
//! the device's counters (Linux 6.18, ext4 on virtio; bytes per append, medians of 3 runs;
//! two full runs agreed within 1%). Reproduce with
//! `cargo run --release -p topicwal-backend-mmap --example folio_amplification [DIR]`.
//!
//! | strategy | fresh segment | reopened, cold cache | reopened, warm cache |
//! |---|---:|---:|---:|
//! | std: `pwrite` + `fdatasync` | 4440 B | 4456 B | 4456 B |
//! | **mmap default: evict tail before the first write** | **4448 B** | **4448 B** | **4456 B** |
//! | mmap, page faults only (no eviction, no advice) | 4440 B | ~1 MiB \* | 1048895 B |
//! | `MADV_NOHUGEPAGE` | 4448 B | ~1 MiB \* | 1048904 B |
//! | `MADV_RANDOM` | 4448 B | ~1 MiB \* | 1048912 B |
//! | `MAP_POPULATE` | 4440 B | 1048879 B | 1048912 B |
//! | prefill zeros, 4 KiB `write`s | 4202 B (+64 MiB at creation) | ~1 MiB \* | 1048904 B |
//! | prefill zeros, 1 MiB `write`s | 1048871 B | ~1 MiB \* | 1048895 B |
//! | prefill zeros, 1 MiB `write`s, evict tail | 4202 B | 4202 B | 4194 B |
//!
//! "Reopened" writes the first half, drops the file's page cache, reopens the file and
//! reads it whole through the storage (as the engine's recovery does), then appends from
//! the middle; "warm" adds a buffered read of the whole file (a backup tool, `cat`) before
//! the reopen. Both backends write about 4.4 KiB (two device writes) per append: the 4 KiB
//! page and a little metadata. What creates large folios is *buffered* I/O on the file
//! (1 MiB zero-filling writes, a reader's `read`/`pread`) and `MAP_POPULATE`; the fault path of
//! a mapping, for reads and writes, creates single-page folios on this kernel, and neither
//! `MADV_NOHUGEPAGE` nor `MADV_RANDOM` helps once large folios are cached.
//!
//! \* Since a backend reads a file it has not written with `pread` (see "Several backends in
//! one process"), the reopened storage's whole-file read is buffered I/O too, and fills the
//! cache with large folios as the warm case's `cat` does: without eviction every strategy
//! then writes ~1 MiB per append in the cold column as well (re-measured on a busier
//! machine: 1056891–1057481 B, std 7840 B and the default 8077 B in the same run), and the
//! recovery read no longer depends on `MADV_RANDOM` (it measured 8x slower through the
//! mapping). The default, which evicts, did not change. So the default
//! ([`MmapConfig::default`]) is: reserve blocks only, no advice, and
//! [`MmapConfig::evict_tail`]: before the first write through a storage, unmap the pages
//! from the 2 MiB boundary at or below that write to the end of the file and ask the kernel
//! to drop them from the page cache (`MADV_DONTNEED`, then `POSIX_FADV_DONTNEED`; dirty
//! pages are never dropped). The appends then fault fresh single-page folios in. What it
//! cannot prevent: a buffered reader (another program, or another backend of this one,
//! such as a tool's `inspect` of the live log) that reads the not-yet-written tail of the
//! active segment *after* the first write brings large folios back, and those appends are
//! amplified again until they pass the folios. With single-page folios a durable append
//! takes about as long as with `pwrite` (p50 85–97 µs here, vs ~280 µs with 1 MiB folios).

use std::io;
use std::path::Path;
use std::sync::Arc;

use wal_core::{Backend, FlushRequest, Flusher, Storage};

mod map;
mod storage;
mod sys;

pub use storage::MmapStorage;

/// How a new segment file's pages get into the page cache before the file is mapped
/// (the "prefill" rows of the crate docs' table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Prefill {
    /// Only reserve the blocks (`posix_fallocate` on Linux); page faults bring the pages
    /// in, as single-page folios, on first touch. The default: it measured as well as
    /// anything, at no cost at creation.
    #[default]
    None,
    /// After reserving the blocks, write the file's zeros one page per `write` call, then
    /// `fdatasync`: single-page folios, and the extents are written rather than unwritten
    /// before the first append. Costs the whole file's size in device writes at creation
    /// (64 MiB per default segment) and measured only ~5% fewer bytes per append.
    ZeroPages,
    /// Like [`Prefill::ZeroPages`] with 1 MiB per `write` call: the kernel caches the file
    /// in large folios, and each small durable append then wrote ~1 MiB (measured 236x the
    /// std backend's bytes) unless [`MmapConfig::evict_tail`] drops them first.
    ZeroChunks,
}

/// Tuning of [`MmapBackend`]: how files are prepared and what the kernel is told about the
/// mappings. [`MmapConfig::default`] is the combination that measured best (crate docs):
/// no prefill, no advice, no populate, `evict_tail` on. Change fields on a default value:
///
/// ```
/// let mut config = wal_backend_mmap::MmapConfig::default();
/// config.random_access = true;
/// let backend = wal_backend_mmap::MmapBackend::with_config(config);
/// # drop(backend);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MmapConfig {
    /// How a new file's pages get into the page cache before mapping.
    pub prefill: Prefill,
    /// `madvise(MADV_RANDOM)` on every mapping (unix): a page fault reads only its page.
    /// Did not reduce write amplification on Linux 6.18 (the fault path already uses
    /// single-page folios), and made reading a cold 64 MiB segment through the mapping ~8x
    /// slower (~500 ms instead of ~60 ms), because faults no longer read ahead. (A reopened
    /// log's recovery no longer reads through the mapping: it uses `pread`, which the advice
    /// does not touch.)
    pub random_access: bool,
    /// `madvise(MADV_NOHUGEPAGE)` on every mapping (Linux; ignored elsewhere). Measured no
    /// effect: file-backed large folios do not come from transparent huge pages.
    pub no_huge_pages: bool,
    /// `MAP_POPULATE` (Linux): fault the whole file in when it is mapped. Harmful: on a
    /// reopened file it fills the page cache with large folios (~1 MiB written per small
    /// append).
    pub populate: bool,
    /// Linux: before the first write through a storage, unmap the pages from the 2 MiB
    /// boundary at or below that write's offset to the end of the file and ask the kernel
    /// to drop them from the page cache (`MADV_DONTNEED`, `POSIX_FADV_DONTNEED`), so the
    /// pages the appends dirty are faulted in afresh as single-page folios instead of
    /// reusing large folios that buffered I/O left in the cache. Dirty pages are never
    /// dropped. Storages that are only read never evict. Ignored off Linux.
    pub evict_tail: bool,
}

impl Default for MmapConfig {
    fn default() -> Self {
        Self {
            prefill: Prefill::None,
            random_access: false,
            no_huge_pages: false,
            populate: false,
            evict_tail: true,
        }
    }
}

/// Counters of one [`MmapBackend`] and the storages it created or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MmapStats {
    /// `msync` calls made by [`Storage::sync`] and [`Storage::sync_range`], failed ones
    /// included.
    pub msync_calls: u64,
    /// Bytes those calls covered, rounded out to whole pages: what the backend asked the
    /// kernel to make durable (the device may write more, see the crate docs).
    pub msync_bytes: u64,
}

/// The memory-mapped backend: segment files are mapped whole, shared and writable.
///
/// Clones share their counters ([`MmapBackend::stats`]), access locks and which files they
/// have written; separately created backends share nothing, and are still safe together
/// (crate docs: "Several backends in one process").
#[derive(Debug, Clone)]
pub struct MmapBackend {
    config: MmapConfig,
    shared: Arc<storage::Shared>,
}

impl Default for MmapBackend {
    fn default() -> Self {
        Self::with_config(MmapConfig::default())
    }
}

impl MmapBackend {
    /// Creates a backend with the default [`MmapConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a backend with `config`.
    pub fn with_config(config: MmapConfig) -> Self {
        Self {
            config,
            shared: Arc::new(storage::Shared::new()),
        }
    }

    /// The configuration this backend was made with.
    pub fn config(&self) -> &MmapConfig {
        &self.config
    }

    /// The counters of this backend (and its clones) since it was made.
    pub fn stats(&self) -> MmapStats {
        self.shared.stats()
    }
}

impl Backend for MmapBackend {
    fn name(&self) -> &str {
        "mmap"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(MmapStorage::create(
            path,
            len,
            &self.config,
            &self.shared,
        )?))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(MmapStorage::open(
            path,
            &self.config,
            &self.shared,
        )?))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Makes the directory's entries durable. On unix the directory is opened and fsynced;
    /// elsewhere this does nothing and returns `Ok(())`.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sys::sync_dir(dir)
    }

    fn flusher(&self) -> Arc<dyn Flusher> {
        Arc::new(MmapFlusher::default())
    }
}

/// The flusher of [`MmapBackend`]: one `msync` of each request's dirty range, in order.
///
/// `msync(MS_SYNC)` writes and waits in one call, so there is nothing to submit together;
/// what this flusher adds over syncing whole files is that only the dirty pages are named.
/// A request for a storage of another backend is served by that storage's own
/// [`Storage::sync_range`].
#[derive(Debug, Default, Clone, Copy)]
pub struct MmapFlusher {
    // Keeps the struct open to options without a breaking change.
    _private: (),
}

impl Flusher for MmapFlusher {
    fn flush(&self, requests: &[FlushRequest]) -> Vec<io::Result<()>> {
        requests
            .iter()
            .map(|request| request.storage.sync_range(request.dirty.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
