//! An io_uring storage backend for the `wal` write-ahead log on Linux.
//!
//! [`UringBackend`] implements [`wal_core::Backend`]. Segment files are created, opened,
//! read and written exactly as by [`wal_backend_std::StdBackend`] (the backend delegates to
//! it, and its storages *are* [`wal_backend_std::StdStorage`]s). What differs is the
//! [`wal_core::Flusher`]: [`UringFlusher`] makes the whole set of dirty segment files of
//! one flush cycle durable with **one io_uring submission**, one `IORING_OP_FSYNC` with
//! `IORING_FSYNC_DATASYNC` (the equivalent of `fdatasync`) per file, and reports one result
//! per file. The kernel runs those fsyncs in parallel and merges the device flushes.
//!
//! # When it pays
//! Measured with `cargo run --release -p topicwal-backend-uring --example fsync_batch` on a
//! 2-vCPU VM (ext4 without a journal on a virtio disk with a volatile write cache, Linux
//! 6.18). Each round dirties k files (preallocated by writing) with a 4 KiB write each,
//! then makes all k durable; the table gives the median round of one run, and the last
//! column the ratio of medians in three runs (run-to-run spread there is 20–40%):
//!
//! | k files | sequential `sync_data` | one io_uring submission | speed-up (3 runs)   |
//! |--------:|-----------------------:|------------------------:|--------------------:|
//! | 1       | 131 µs                 | 142 µs                  | 0.93× (0.76–0.93×)  |
//! | 8       | 1.06 ms                | 570 µs                  | 1.86× (1.66–2.35×)  |
//! | 64      | 8.28 ms                | 3.30 ms                 | 2.51× (2.51–2.94×)  |
//!
//! With one dirty file per flush (the common case for a log with one active segment) the
//! backend is slightly *slower* than `wal-backend-std`: the kernel hands the fsync to an
//! io_uring worker thread, which costs a wake-up (10–40 µs here). It wins when a flush
//! covers several files.
//!
//! # Writes
//! Writes stay positional `pwrite`s through [`wal_backend_std::StdStorage`]. The engine
//! calls [`wal_core::Storage::write_at`] synchronously, one ~1 MiB chunk at a time, so an
//! io_uring write could not overlap anything and would only add a submission round trip
//! to a copy into the page cache. No io_uring write path exists, so none was measured.
//!
//! # Ring size and batching
//! The flusher owns one ring, [`ProbeOptions::ring_entries`] entries (256 by default,
//! rounded up to a power of two by the kernel). A flush of k storages is **one** submission
//! when k fits in the ring; a larger flush is split into `ceil(k / entries)` submissions,
//! each reaped completely before the next, and [`UringStats::submissions`] counts them.
//!
//! # Storages without a descriptor
//! A request whose storage has no descriptor ([`wal_core::Storage::raw_fd`] returns `None`,
//! e.g. a wrapper around another backend's storage) is made durable with its own
//! [`wal_core::Storage::sync_range`] instead, after the ring's batch, and counted in
//! [`UringStats::fallback_syncs`].
//!
//! # Availability
//! io_uring may be missing (not Linux, a kernel older than 5.6), forbidden (the
//! `kernel.io_uring_disabled` sysctl, a container's seccomp filter) or short of memory.
//! [`UringBackend::probe`] finds out at run time and returns [`Unavailable`] with a
//! readable reason; it never falls back silently. On targets other than Linux the crate
//! builds, and probing always reports [`std::io::ErrorKind::Unsupported`].
//!
//! # Example
//!
//! ```
//! use wal_backend_uring::UringBackend;
//! use wal_core::{Backend, FlushRequest};
//!
//! # fn main() -> std::io::Result<()> {
//! let backend = match UringBackend::probe() {
//!     Ok(backend) => backend,
//!     Err(unavailable) => {
//!         // A real program would choose wal_backend_std::StdBackend here.
//!         eprintln!("{unavailable}; use the std backend instead");
//!         return Ok(());
//!     }
//! };
//! let dir = tempfile::tempdir()?;
//! let mut requests = Vec::new();
//! for i in 0..3 {
//!     let storage = backend.create(&dir.path().join(format!("{i}.seg")), 8192)?;
//!     storage.write_at(0, b"hello")?;
//!     requests.push(FlushRequest { storage, dirty: 0..5 });
//! }
//! backend.sync_dir(dir.path())?;
//!
//! let results = backend.flusher().flush(&requests);
//! assert!(results.iter().all(|r| r.is_ok()));
//! let stats = backend.stats();
//! assert_eq!((stats.submissions, stats.fsyncs), (1, 3));
//! # Ok(())
//! # }
//! ```

use std::io;
use std::path::Path;
use std::sync::Arc;

use wal_backend_std::StdBackend;
use wal_core::{Backend, Flusher, Storage};

mod error;
mod flusher;
mod stats;

// Every platform difference of this crate is behind `sys`.
cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        mod linux;
        use linux as sys;
    } else {
        mod unsupported;
        use unsupported as sys;
    }
}

pub use error::Unavailable;
pub use flusher::UringFlusher;
pub use stats::UringStats;

use stats::Counters;

/// The ring size used when [`ProbeOptions::ring_entries`] is left at its default.
pub const DEFAULT_RING_ENTRIES: u32 = 256;

/// The largest ring the kernel accepts; larger [`ProbeOptions::ring_entries`] are clamped.
pub const MAX_RING_ENTRIES: u32 = 32768;

/// Settings for [`UringBackend::probe_with`].
///
/// ```
/// use wal_backend_uring::{ProbeOptions, UringBackend};
///
/// let err = UringBackend::probe_with(ProbeOptions {
///     force_unavailable: Some("forced by test".into()),
///     ..Default::default()
/// })
/// .unwrap_err();
/// assert_eq!(err.reason, "forced by test");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Submission queue entries of the flusher's ring: the most fsyncs one submission can
    /// carry. The kernel rounds it up to a power of two; 0 becomes 1 and values above
    /// [`MAX_RING_ENTRIES`] are clamped. Default [`DEFAULT_RING_ENTRIES`].
    pub ring_entries: u32,
    /// When `Some(reason)`, the probe fails with this reason without touching the kernel.
    /// For tests of the code that handles an unavailable io_uring; it affects only this
    /// call (no global or environment state).
    pub force_unavailable: Option<String>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            ring_entries: DEFAULT_RING_ENTRIES,
            force_unavailable: None,
        }
    }
}

/// The io_uring backend: std files and positional writes, io_uring batched fsyncs.
///
/// Create it with [`UringBackend::probe`]. Clones share the flusher, its ring and the
/// counters. [`Backend::flusher`] returns that one flusher every time, so logs sharing one
/// backend also share (and serialize on) its ring; probe one backend per log to avoid that.
#[derive(Debug, Clone)]
pub struct UringBackend {
    std: StdBackend,
    flusher: Arc<UringFlusher>,
    counters: Arc<Counters>,
}

impl UringBackend {
    /// Checks that io_uring works here and creates the backend with default
    /// [`ProbeOptions`]. See [`UringBackend::probe_with`].
    pub fn probe() -> Result<Self, Unavailable> {
        Self::probe_with(ProbeOptions::default())
    }

    /// Checks that io_uring works here and creates the backend.
    ///
    /// The probe creates the flusher's ring, asks the kernel (`IORING_REGISTER_PROBE`)
    /// whether it supports `IORING_OP_FSYNC`, and runs one `IORING_OP_NOP` round trip, so
    /// that a seccomp filter that allows ring setup but blocks `io_uring_enter` is caught
    /// here rather than at the first flush. Any failure is an [`Unavailable`] naming the
    /// cause (no io_uring in the kernel, `kernel.io_uring_disabled`, seccomp, memory lock
    /// limit, a kernel too old to probe).
    pub fn probe_with(options: ProbeOptions) -> Result<Self, Unavailable> {
        if let Some(reason) = options.force_unavailable {
            return Err(Unavailable::new(reason, None));
        }
        let entries = options.ring_entries.clamp(1, MAX_RING_ENTRIES);
        let ring = sys::Ring::new(entries)?;
        tracing::debug!(
            entries = ring.capacity(),
            "io_uring is available; fsyncs will be batched"
        );
        let counters = Arc::new(Counters::default());
        Ok(Self {
            std: StdBackend::new(),
            flusher: Arc::new(UringFlusher::new(ring, entries, Arc::clone(&counters))),
            counters,
        })
    }

    /// The flusher's counters since the backend was probed (shared by its clones).
    pub fn stats(&self) -> UringStats {
        self.counters.snapshot()
    }
}

impl Backend for UringBackend {
    fn name(&self) -> &str {
        "uring"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        self.std.create(path, len)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        self.std.open(path)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.std.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.std.sync_dir(dir)
    }

    fn flusher(&self) -> Arc<dyn Flusher> {
        // The clone of the concrete Arc coerces to Arc<dyn Flusher> at the return.
        self.flusher.clone()
    }
}
