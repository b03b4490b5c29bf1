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
//! The sections below go through the rest: [consumers](#consumers), [tail
//! following](#tail-following), [durability modes](#durability-modes),
//! [errors](#errors), [retention](#retention) and [backends](#backends).
//!
//! # Consumers
//!
//! Every topic has a shared cursor ([`Wal::read_next`], [`Wal::batch_read_for_topic`]) and
//! any number of named consumers ([`Wal::consumer`]), each a position of its own,
//! persisted in the log: a consumer opened again under its name, after a restart, goes on
//! where it stopped. With `checkpoint = true` a read consumes (the position moves past
//! what it returned); with `false` it peeks. [`Wal::read_from`] reads by offset and moves
//! nothing.
//!
//! ```
//! use wal::Wal;
//!
//! # fn main() -> wal::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let open = || Wal::builder().dir(dir.path()).open();
//! let wal = open()?;
//! wal.batch_append_for_topic("orders", &[b"a", b"b", b"c"])?;
//! let billing = wal.consumer("orders", "billing")?;
//! assert_eq!(billing.read_next(true)?.unwrap().data, b"a");
//! assert_eq!(wal.read_from("orders", 2, 1 << 20)?[0].data, b"c");
//! wal.close()?;
//!
//! let wal = open()?;
//! let billing = wal.consumer("orders", "billing")?; // the same consumer
//! assert_eq!(billing.position(), 1);
//! assert_eq!(billing.read_next(true)?.unwrap().data, b"b");
//! assert_eq!(wal.consumers("orders"), vec![("billing".to_string(), 2)]);
//! # Ok(()) }
//! ```
//!
//! # Tail following
//!
//! [`Consumer::batch_read_blocking`] (and [`Wal::batch_read_blocking`] for the shared
//! cursor) waits until an entry is there, waking as soon as one is appended (a condition
//! variable, no polling), then returns everything available up to a byte budget; it
//! returns an empty batch when the timeout passes, and [`Error::Closed`] once
//! [`Wal::shutdown`] is called, from any thread. [`Consumer::read_next_blocking`] is the
//! same for one entry at a time, which costs much more under the default read consistency
//! (next section). A consumer that reads everything a producer on another thread appends:
//!
//! ```
//! use std::time::Duration;
//! use wal::Wal;
//!
//! # fn main() -> wal::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::builder().dir(dir.path()).open()?;
//! let follower = wal.consumer("events", "follower")?;
//! std::thread::scope(|s| {
//!     let consumer = s.spawn(|| {
//!         let mut next = 0;
//!         while next < 10_000 {
//!             let batch = follower.batch_read_blocking(1 << 20, true, Duration::from_secs(10))?;
//!             assert!(!batch.is_empty(), "nothing for 10 s");
//!             for entry in batch {
//!                 assert_eq!(entry.offset, next); // in order, each once
//!                 next += 1;
//!             }
//!         }
//!         Ok::<_, wal::Error>(next)
//!     });
//!     for i in 0..10_000u32 {
//!         wal.append_for_topic("events", &i.to_le_bytes())?;
//!     }
//!     assert_eq!(consumer.join().unwrap()?, 10_000);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! `wal/examples/producer_consumer.rs` is the same with timings
//! (`cargo run --release -p topicwal --example producer_consumer`).
//!
//! # Durability modes
//!
//! An entry is *appended* (in the log's buffer: `append_for_topic` has returned its
//! offset), then *written* (handed to the operating system: it survives a crash of the
//! process), then *durable* (synced to the device: it survives an OS crash and a power
//! loss). Three settings choose when each happens and what readers see:
//!
//! - [`FsyncSchedule`] — when appends become durable. [`FsyncSchedule::SyncEach`]: an
//!   append returns once its entry is durable (concurrent appenders share syncs).
//!   [`FsyncSchedule::Milliseconds`]`(n)` (the default, 200): appends return at once; a
//!   background thread syncs every `n` ms, so a crash loses about the last `n` ms at
//!   most. [`FsyncSchedule::NoFsync`]: no timer syncs; data is written to the OS every
//!   10 ms and synced only when asked (and at segment rollovers and a clean close). Under
//!   every schedule [`Wal::sync`] and [`Wal::wait_durable`] make everything
//!   before them durable at once: append many entries, then wait once.
//! - [`ReadConsistency`] — how a checkpointed read persists the reader's position.
//!   [`ReadConsistency::StrictlyAtOnce`] (the default) persists it before the read returns
//!   and, unless the schedule is `NoFsync`, syncs: nothing is delivered twice, even after
//!   a power loss, and every checkpointed read *call* costs one sync, however many entries
//!   it returns. [`ReadConsistency::AtLeastOnce`]`{ persist_every }` writes the position
//!   every `persist_every` entries and never syncs on the read path: after a crash at most
//!   `persist_every` entries are delivered again, none is skipped (unless a checkpointed
//!   read failed before the crash: its cursor record may still have reached the disk).
//! - [`ReadVisibility`] — which entries reads return. [`ReadVisibility::Appended`] (the
//!   default): every appended entry, **including entries that are not durable yet**: an OS
//!   crash or a power loss can take back an entry a reader has seen.
//!   [`ReadVisibility::Durable`]: reads stop at the durable position
//!   ([`Wal::durable_offset`]), as Kafka consumers stop at the committed offset; blocking
//!   reads wake when a sync makes more durable, so under `Milliseconds(n)` readers see an
//!   entry after the next timer sync, and under `NoFsync` only once something syncs the
//!   log ([`Wal::sync`], [`Wal::wait_durable`], or a call documented as durable when it
//!   returns, such as [`Consumer::seek`]).
//!
//! What the read consistency costs, measured with `wal/examples/producer_consumer.rs`
//! (20,000 entries of 100 B appended one at a time under `Milliseconds(200)` while a
//! consumer on another thread reads them; release build, 2 shared vCPUs, ext4 on a
//! virtio disk, three runs):
//!
//! | consumer | syncs | entries consumed per second |
//! |---|---:|---:|
//! | `read_next_blocking`, `StrictlyAtOnce` | 20,000 (one per entry) | 393 – 3,554 |
//! | `batch_read_blocking`, `StrictlyAtOnce` | 3 – 9 | 733,000 – 1,028,000 |
//! | `read_next_blocking`, `AtLeastOnce { persist_every: 1000 }` | 0 | 257,000 – 430,000 |
//! | `batch_read_blocking`, `AtLeastOnce { persist_every: 1000 }` | 0 | 699,000 – 1,324,000 |
//!
//! One entry per call under `StrictlyAtOnce` runs at the disk's sync rate (the wide range
//! is the shared disk's); in batches a consumer that falls behind catches up in a few
//! large reads, and keeps up with the producer.
//!
//! ```
//! use wal::{FsyncSchedule, ReadConsistency, ReadVisibility, Wal};
//!
//! # fn main() -> wal::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::builder()
//!     .dir(dir.path())
//!     .fsync(FsyncSchedule::NoFsync) // sync only when asked
//!     .consistency(ReadConsistency::AtLeastOnce { persist_every: 1000 })
//!     .read_visibility(ReadVisibility::Durable) // readers see only durable entries
//!     .open()?;
//! let offset = wal.append_for_topic("t", b"a")?;
//! assert_eq!(wal.read_next("t", false)?, None); // appended, not durable: not visible
//! wal.wait_durable("t", offset)?;
//! assert_eq!(wal.read_next("t", true)?.unwrap().offset, offset);
//! # Ok(()) }
//! ```
//!
//! `docs/durability.md` in the repository states the whole contract and how it is tested.
//!
//! # Errors
//!
//! Every fallible call returns [`Result`], whose error is the one `#[non_exhaustive]` enum
//! [`Error`]: bad input ([`Error::EntryTooLarge`], [`Error::BatchTooLarge`],
//! [`Error::InvalidTopic`], [`Error::Config`], [`Error::NotADirectory`]), limits reached
//! ([`Error::TopicTableFull`], [`Error::TooLargeForSegment`],
//! [`Error::OffsetsExhausted`]), reads ([`Error::OffsetNotFound`],
//! [`Error::OffsetReclaimed`]), damage found on open ([`Error::Corrupt`],
//! [`Error::ChecksumMismatch`], [`Error::ForeignFile`], [`Error::UnsupportedVersion`],
//! with [`Error::damage_location`]), [`Error::Locked`] (another instance has the
//! directory), [`Error::Closed`] (after [`Wal::shutdown`] or close), [`Error::Io`] (with
//! the operation, the path and the offset) and [`Error::BackendPanicked`].
//!
//! A failed sync, or a failed write other than a full disk, **poisons** the log: the page
//! cache can no longer be trusted to hold what was written, so every later append, sync or
//! checkpointed read fails with [`Error::Poisoned`] until the log is reopened, which
//! recovers what is really on disk. Its `cause` is the original failure. A full disk is
//! an [`Error::Io`] whose [`Error::io_kind`] is [`std::io::ErrorKind::StorageFull`]: it
//! poisons nothing, and what it could not write is written once there is room.
//!
//! An error's message says what failed; its cause (the operating system's error, the
//! failure that poisoned the log) is its [`source`](std::error::Error::source) and is not
//! repeated in the message, so `anyhow` and other reporters that print the chain name
//! each cause once. [`Error::io_kind`] gives the [`std::io::ErrorKind`] behind an error,
//! through `Poisoned` too.
//!
//! ```
//! use std::error::Error as _;
//! use wal::{Error, Wal};
//!
//! # fn main() -> wal::Result<()> {
//! let file = tempfile::NamedTempFile::new().unwrap();
//! let err = Wal::builder().dir(file.path()).open().unwrap_err();
//! assert!(matches!(err, Error::NotADirectory { .. }));
//! assert_eq!(err.to_string(), format!("{} is not a directory", file.path().display()));
//!
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::builder().dir(dir.path()).max_entry_size(1024).open()?;
//! match wal.append_for_topic("t", &[0; 2048]) {
//!     Err(Error::EntryTooLarge { size, max }) => assert_eq!((size, max), (2048, 1024)),
//!     other => panic!("{other:?}"),
//! }
//! let under_a_file = file.path().join("log");
//! let err = Wal::builder().dir(&under_a_file).open().unwrap_err();
//! assert!(matches!(err, Error::Io { op: "create directory", .. }));
//! let cause = err.source().unwrap(); // the OS error: "Not a directory (os error 20)"
//! assert!(!err.to_string().contains(&cause.to_string())); // said once, not twice
//! assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotADirectory));
//! # Ok(()) }
//! ```
//!
//! # Retention
//!
//! A segment file is deleted once every entry in it is behind every *durable* position
//! of its topic — the shared cursor and every named consumer — and behind the optional
//! [`WalBuilder::retain_bytes`] / [`WalBuilder::retain_age`] policy. So an idle consumer
//! keeps everything it has not read, and a topic nobody reads is kept; delete a consumer
//! that is gone for good with [`Wal::delete_consumer`]. Programs that track their own
//! positions (a Raft log after a snapshot) drop what they no longer need with
//! [`Wal::truncate_before`]. Deletion runs after every rollover, on the background
//! thread's rounds and on [`Wal::reclaim`], oldest segment first.
//!
//! ```
//! use wal::Wal;
//!
//! # fn main() -> wal::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::builder().dir(dir.path()).segment_size(64 << 10).open()?;
//! for _ in 0..500 {
//!     wal.append_for_topic("raft-log", &[7; 1000])?; // about 8 segments
//! }
//! let before = wal.segment_count();
//! // A snapshot covers entries 0..400: forget them.
//! wal.truncate_before("raft-log", 400)?;
//! wal.sync()?;
//! wal.reclaim()?;
//! assert!(wal.segment_count() < before);
//! assert_eq!(wal.oldest_offset("raft-log"), Some(400));
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
//! of your own plugs in with [`WalBuilder::custom_backend`] (`wal/examples/custom_backend.rs`
//! is a complete one).
//!
//! ```
//! use wal::{Backend, Wal};
//!
//! # fn main() -> wal::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let wal = Wal::builder().dir(dir.path()).backend(Backend::Std).open()?;
//! assert_eq!(wal.backend_info().active, "std");
//! if !Backend::Mmap.is_compiled_in() {
//!     // Asking for a backend that is not compiled in is an error, never a silent switch.
//!     let other = tempfile::tempdir().unwrap();
//!     let refused = Wal::builder().dir(other.path()).backend(Backend::Mmap).open();
//!     assert!(matches!(refused, Err(wal::Error::Config(_))));
//! }
//! # Ok(()) }
//! ```

mod backend;

pub use backend::{Backend, BuiltIn, SimulateUringRefusal};
pub use wal_backend_std::StdBackend;
/// Read-only inspection of a log directory (what `wal verify` and `wal dump` use).
pub use wal_core::inspect;
/// Segment file names (`{id:020}.wal`), and the listing of a log directory.
pub use wal_core::segment;
/// The rules topic, consumer and metadata key names follow (README, "API in a few lines").
pub use wal_core::{validate_topic_name, MAX_TOPIC_NAME_LEN};
pub use wal_core::{
    Backend as StorageBackend, BackendInfo, Consumer, Entry, Error, FlushRequest, Flusher,
    FsyncSchedule, ReadConsistency, ReadVisibility, RecoveryMode, Result, SequentialFlusher, Stats,
    Storage, TopicNameProblem, MAX_META_VALUE,
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

/// The README's code blocks, compiled and run by `cargo test --doc`, so that every
/// snippet in it keeps compiling as pasted.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
