//! A write-ahead log of named topics, with durability you can rely on.
//!
//! Append to a topic and get the entry's offset back; read it back in order with a cursor
//! that survives restarts; choose when data is synced with an [`FsyncSchedule`]. Every
//! record is checksummed, a torn tail is cut on open, and a failed sync poisons the log
//! instead of being hidden.
//!
//! # Quick start
//!
//! ```
//! use wal::{FsyncSchedule, ReadConsistency, Wal};
//!
//! # fn main() -> wal::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::builder()
//!     .dir(dir.path())
//!     .fsync(FsyncSchedule::Milliseconds(200))
//!     .consistency(ReadConsistency::StrictlyAtOnce)
//!     .open()?;
//!
//! let first = wal.append_for_topic("orders", b"order 1")?;
//! let batch = wal.batch_append_for_topic("orders", &[b"order 2", b"order 3"])?;
//! assert_eq!((first, batch), (0, 1..3));
//!
//! wal.wait_durable("orders", 2)?; // one sync for everything up to offset 2
//!
//! let entry = wal.read_next("orders", true)?.unwrap(); // consume
//! assert_eq!((entry.offset, entry.data.as_slice()), (0, &b"order 1"[..]));
//! let rest = wal.batch_read_for_topic("orders", 1 << 20, true)?;
//! assert_eq!(rest.len(), 2);
//! assert_eq!(wal.get_topic_entry_count("orders"), 3);
//! # Ok(()) }
//! ```
//!
//! # Backends
//!
//! [`WalBuilder::backend`] chooses how segment files are written and synced:
//! [`Backend::Std`] (portable, always compiled in), [`Backend::Mmap`] (cargo feature
//! `mmap`), [`Backend::Uring`] (feature `uring`, Linux; falls back to std when the kernel
//! refuses io_uring) or [`Backend::Auto`] (the default: io_uring when compiled in and
//! usable, else std). [`Wal::backend_info`] tells which one is in use and why. A backend
//! of your own plugs in with [`WalBuilder::custom_backend`].

mod backend;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use backend::{Backend, BackendInfo};
pub use wal_backend_std::StdBackend;
/// Read-only inspection of a log directory (what `wal verify` and `wal dump` use).
pub use wal_core::inspect;
pub use wal_core::{
    Backend as StorageBackend, Consumer, Entry, Error, FlushRequest, Flusher, FsyncSchedule,
    ReadConsistency, RecoveryMode, Result, SequentialFlusher, Stats, Storage, TopicNameProblem,
};

/// An open write-ahead log: the engine's [`wal_core::Wal`] with the backend this crate
/// chose. Every method of the engine is available through `Deref`.
#[derive(Debug)]
pub struct Wal {
    inner: wal_core::Wal,
    info: BackendInfo,
}

impl Wal {
    /// Starts configuring a log; only the directory is required.
    pub fn builder() -> WalBuilder {
        WalBuilder::default()
    }

    /// Which backend was asked for, which one is in use, and why they differ.
    pub fn backend_info(&self) -> &BackendInfo {
        &self.info
    }

    /// Closes the log, flushing and syncing what is pending and reporting any error.
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }

    /// Drops the log as a process crash would (nothing pending is written). For tests.
    pub fn abandon(self) {
        self.inner.abandon();
    }
}

impl Deref for Wal {
    type Target = wal_core::Wal;

    fn deref(&self) -> &wal_core::Wal {
        &self.inner
    }
}

/// Configures and opens a [`Wal`].
#[derive(Debug, Clone, Default)]
pub struct WalBuilder {
    core: wal_core::WalBuilder,
    backend: Backend,
    custom: Option<Arc<dyn StorageBackend>>,
    uring_probe: backend::UringProbe,
}

impl WalBuilder {
    fn map(mut self, f: impl FnOnce(wal_core::WalBuilder) -> wal_core::WalBuilder) -> Self {
        self.core = f(self.core);
        self
    }

    /// The directory holding the log (created if missing). Required.
    pub fn dir(self, dir: impl Into<PathBuf>) -> Self {
        self.map(|b| b.dir(dir))
    }

    /// When data is synced (default `Milliseconds(200)`); see [`FsyncSchedule`].
    pub fn fsync(self, schedule: FsyncSchedule) -> Self {
        self.map(|b| b.fsync(schedule))
    }

    /// How checkpointed reads persist cursors (default `StrictlyAtOnce`).
    pub fn consistency(self, consistency: ReadConsistency) -> Self {
        self.map(|b| b.consistency(consistency))
    }

    /// What recovery does with damage that is not a torn tail (default `Strict`).
    pub fn recovery_mode(self, mode: RecoveryMode) -> Self {
        self.map(|b| b.recovery_mode(mode))
    }

    /// Size of each segment file (default 64 MiB).
    pub fn segment_size(self, bytes: u64) -> Self {
        self.map(|b| b.segment_size(bytes))
    }

    /// Largest entry accepted (default 16 MiB).
    pub fn max_entry_size(self, bytes: usize) -> Self {
        self.map(|b| b.max_entry_size(bytes))
    }

    /// Most entries in one batch (default 1,048,576).
    pub fn max_batch_entries(self, entries: usize) -> Self {
        self.map(|b| b.max_batch_entries(entries))
    }

    /// Pending bytes at which the buffer is written out in the background (default 1 MiB).
    pub fn write_buffer(self, bytes: usize) -> Self {
        self.map(|b| b.write_buffer(bytes))
    }

    /// Pending bytes at which appenders write the buffer themselves (default 64 MiB).
    pub fn max_pending(self, bytes: usize) -> Self {
        self.map(|b| b.max_pending(bytes))
    }

    /// How often pending data is written to the OS under `SyncEach` and `NoFsync`.
    pub fn write_interval(self, interval: Duration) -> Self {
        self.map(|b| b.write_interval(interval))
    }

    /// How long an unused segment handle stays open (default 30 s).
    pub fn idle_handle_timeout(self, timeout: Duration) -> Self {
        self.map(|b| b.idle_handle_timeout(timeout))
    }

    /// Most segment files kept open at once for reads (default 64).
    pub fn max_open_segments(self, n: usize) -> Self {
        self.map(|b| b.max_open_segments(n))
    }

    /// Keep at least this many bytes of segments even when every cursor passed them.
    pub fn retain_bytes(self, bytes: u64) -> Self {
        self.map(|b| b.retain_bytes(bytes))
    }

    /// Keep a segment at least this long after it was sealed.
    pub fn retain_age(self, age: Duration) -> Self {
        self.map(|b| b.retain_age(age))
    }

    /// Create the next segment ahead of time, zero-filled (default on).
    pub fn precreate_segments(self, on: bool) -> Self {
        self.map(|b| b.precreate_segments(on))
    }

    /// Copy what recovery cuts off (a torn tail) into a `.damaged` file before erasing it.
    pub fn keep_cut_data(self, keep: bool) -> Self {
        self.map(|b| b.keep_cut_data(keep))
    }

    /// Chooses a built-in backend (default [`Backend::Auto`]). Asking for one whose
    /// cargo feature is off makes [`WalBuilder::open`] fail with [`Error::Config`].
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Uses a backend of your own instead of the built-in ones (see `docs/backends.md`).
    pub fn custom_backend(mut self, backend: Arc<dyn StorageBackend>) -> Self {
        self.custom = Some(backend);
        self
    }

    /// Makes the io_uring probe fail with `reason`, as a kernel that refuses io_uring
    /// would: for testing the fallback to std. Affects only this builder.
    pub fn simulate_uring_unavailable(mut self, reason: impl Into<String>) -> Self {
        self.uring_probe.force_unavailable = Some(reason.into());
        self
    }

    /// Opens the log.
    pub fn open(self) -> Result<Wal> {
        let (backend, info) = match self.custom {
            Some(b) => {
                let info = BackendInfo {
                    requested: "custom".into(),
                    active: b.name().to_owned(),
                    fallback_reason: None,
                };
                (b, info)
            }
            None => backend::resolve(self.backend, &self.uring_probe)?,
        };
        Ok(Wal {
            inner: self.core.backend(backend).open()?,
            info,
        })
    }
}
