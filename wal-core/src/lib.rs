//! The engine of the `wal` write-ahead log.
//!
//! Most users depend on the facade crate instead (package `topicwal`, library `wal`),
//! which picks a backend for them.
//! This crate holds the on-disk format, topics, the append and read paths, recovery and
//! the background flush loop, and the traits a storage backend implements:
//! [`Storage`], [`Flusher`] and [`Backend`].
//!
//! ```
//! use std::sync::Arc;
//! use wal_core::{FsyncSchedule, WalBuilder};
//!
//! # fn main() -> wal_core::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let wal = WalBuilder::new()
//!     .dir(dir.path())
//!     .backend(Arc::new(wal_backend_std::StdBackend::default()))
//!     .fsync(FsyncSchedule::SyncEach)
//!     .open()?;
//! assert_eq!(wal.append_for_topic("events", b"hello")?, 0);
//! assert_eq!(wal.read_next("events", true)?.unwrap().data, b"hello");
//! # Ok(()) }
//! ```
//!
//! See `ARCHITECTURE.md` for how the pieces fit, and `docs/format.md` for the bytes on disk.

mod background;
pub mod builder;
mod close;
mod commit;
pub mod config;
mod consumer;
mod consumer_admin;
pub mod error;
mod flush;
pub mod format;
mod index;
pub mod inspect;
mod lock;
mod meta;
#[cfg(feature = "metrics")]
mod metrics;
mod notify;
mod observe;
mod pending;
mod poison;
mod pool;
mod precreate;
mod recovery;
mod recovery_stats;
mod replay;
mod retention;
pub mod segment;
mod shared;
pub mod source;
mod state;
mod stats;
pub mod storage;
mod suffix;
pub mod topic;
mod topic_stats;
mod topic_table;
mod trace;
mod wal;
mod walk;

pub use builder::WalBuilder;
pub use config::{FsyncSchedule, ReadConsistency, ReadVisibility, RecoveryMode};
pub use consumer::Consumer;
pub use error::{Error, Result, TopicNameProblem};
pub use format::MAX_META_VALUE;
pub use observe::{Failure, Health, Step};
pub use recovery_stats::RecoveryStats;
pub use source::{BackendInfo, BackendSource, Explicit};
pub use stats::Stats;
pub use storage::{Backend, FlushRequest, Flusher, SequentialFlusher, Storage};
pub use topic::{validate_topic_name, MAX_TOPIC_NAME_LEN};
pub use topic_stats::{ConsumerStats, TopicStats};
pub use wal::{Entry, Wal};
