//! openraft's log storage on the `wal` write-ahead log.
//!
//! [`WalLogStore`] implements openraft's `RaftLogStorage` and `RaftLogReader` (storage API
//! v2, openraft 0.9 with the `storage-v2` and `serde` features) for any
//! [`RaftTypeConfig`](openraft::RaftTypeConfig): Raft index == topic offset, one topic per
//! Raft group, vote / committed / last purged kept as the topic's metadata.
//!
//! - `append` returns at once, and its `LogFlushed` callback fires from the log's flusher
//!   when a sync covers the entries: appends of every group in the log share syncs
//!   (group commit), and no thread waits.
//! - `save_vote` is durable before it returns, awaiting the flusher, not blocking.
//! - `truncate(log_id)` removes `log_id.index..`, durably; `purge(log_id)` forgets
//!   `..=log_id.index`, and may go past the last entry.
//! - After a crash, what survives is a prefix of the whole log: a vote or a purge point
//!   never survives without what was written before it.
//!
//! # Example
//!
//! ```
//! use std::io::Cursor;
//! use openraft::storage::RaftLogStorage;
//! use openraft::Vote;
//! use wal_raft::WalLogStore;
//!
//! openraft::declare_raft_types!(pub Config: D = String, R = String);
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let mut store = WalLogStore::<Config>::open(dir.path())?;
//!     store.save_vote(&Vote::new(1, 7)).await?; // durable when it returns
//!     let state = store.get_log_state().await?;
//!     assert_eq!(state.last_log_id, None);
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//!
//! // Several Raft groups in one log, one topic each: their appends share syncs.
//! let wal = std::sync::Arc::new(
//!     wal::Wal::builder()
//!         .dir(dir.path().join("multi"))
//!         .fsync(wal::FsyncSchedule::NoFsync)
//!         .open()?,
//! );
//! let a = WalLogStore::<Config>::with_wal(wal.clone(), "group-a")?;
//! let b = WalLogStore::<Config>::with_wal(wal, "group-b")?;
//! assert_eq!((a.group(), b.group()), ("group-a", "group-b"));
//! # Ok(()) }
//! ```
//!
//! # Encoding
//!
//! Each Raft entry is one log entry, encoded with postcard: varint integers and no field
//! names, so a blank entry takes a few bytes and a byte-string payload its length plus one
//! or two. Its wire format is stable since postcard 1.0. It is not self-describing: an
//! application's request type must not use serde features that need a self-describing
//! format (`#[serde(untagged)]`, `#[serde(flatten)]`, `skip_serializing_if`).

mod codec;
mod error;
mod io;
mod reader;
mod store;

/// The log a store writes to: the engine itself (one topic per Raft group).
pub(crate) type Log = wal::Wal;

/// The log a store shares with the caller (the engine needs no wrapper).
pub(crate) fn wrap(w: std::sync::Arc<wal::Wal>) -> std::sync::Arc<Log> {
    w
}

pub use error::{Error, Result};
pub use reader::{WalLogReader, LIMITED_READ_BYTES};
pub use store::{WalLogStore, DEFAULT_GROUP};
