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

pub use backend::{Backend, BuiltIn, SimulateUringRefusal};
pub use wal_backend_std::StdBackend;
/// Read-only inspection of a log directory (what `wal verify` and `wal dump` use).
pub use wal_core::inspect;
/// Segment file names (`{id:020}.wal`), and the listing of a log directory.
pub use wal_core::segment;
pub use wal_core::{
    Backend as StorageBackend, BackendInfo, Consumer, Entry, Error, FlushRequest, Flusher,
    FsyncSchedule, ReadConsistency, RecoveryMode, Result, SequentialFlusher, Stats, Storage,
    TopicNameProblem,
};
/// Observability: per-topic and recovery statistics, health, and the `on_error` hook's
/// failures (README, "Observability").
pub use wal_core::{ConsumerStats, Failure, Health, RecoveryStats, Step, TopicStats};

/// An open write-ahead log: the engine's [`wal_core::Wal`], whose builder chooses among the
/// built-in backends ([`BuiltIn`]). Every method is documented on this page.
pub type Wal = wal_core::Wal<BuiltIn>;

/// Configures and opens a [`Wal`]: the engine's [`wal_core::WalBuilder`], whose
/// [`backend`](wal_core::WalBuilder::backend) setter takes a built-in [`Backend`] (default
/// [`Backend::Auto`]), and whose
/// [`custom_backend`](wal_core::WalBuilder::custom_backend) takes a backend of your own.
pub type WalBuilder = wal_core::WalBuilder<BuiltIn>;
