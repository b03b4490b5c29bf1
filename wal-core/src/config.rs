//! The settings a log is opened with.

use std::time::Duration;

/// When appended data is made durable (synced to the device).
///
/// Every append first lands in an in-memory buffer. Data moves from there to the
/// operating system ("written": it survives a crash of this process) and then to the device
/// ("durable": it survives an OS crash and a power loss). [`crate::Wal::sync`] and
/// [`crate::Wal::wait_durable`] make everything before them durable under every schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncSchedule {
    /// A background thread writes and syncs what is pending every `n` milliseconds
    /// (and writes early when the buffer fills).
    ///
    /// - Process crash: entries appended in the last `n` ms may be lost.
    /// - OS crash or power loss: entries appended in the last `n` ms (plus the time of one
    ///   sync) may be lost.
    ///
    /// What survives is always a prefix of each topic, and batches are all or nothing.
    Milliseconds(u64),
    /// Every append returns only once its entry is durable. Concurrent appenders share
    /// syncs (group commit): while one sync runs, later appenders queue and the next sync
    /// covers them all.
    ///
    /// - Process crash, OS crash, power loss: every acknowledged entry survives.
    SyncEach,
    /// Never sync on a schedule. A background thread writes pending data to the operating
    /// system every [`crate::WalBuilder::write_interval`] (10 ms by default); only explicit
    /// [`crate::Wal::sync`] / [`crate::Wal::wait_durable`] calls sync.
    ///
    /// - Process crash: entries appended in the last write interval may be lost.
    /// - OS crash or power loss: anything not explicitly synced may be lost (what survives
    ///   is still a prefix of each topic, cut at a record boundary).
    NoFsync,
}

impl Default for FsyncSchedule {
    fn default() -> Self {
        Self::Milliseconds(200)
    }
}

/// How reads with `checkpoint = true` persist the topic's cursor.
///
/// What it costs: under `StrictlyAtOnce` every checkpointed read *call* waits for one sync
/// (unless the schedule is `NoFsync`), whatever the number of entries it returns, so a
/// consumer reading one entry per call is bound by the disk's sync rate; one reading in
/// batches (`batch_read_for_topic`, `batch_read_blocking`) pays a sync per batch. Under
/// `AtLeastOnce` reads never sync. `wal/examples/producer_consumer.rs` measures the four
/// combinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadConsistency {
    /// Every checkpointed read persists the cursor before it returns, so an entry is never
    /// delivered twice. The cursor is written to the OS before the read returns (it
    /// survives a process crash) and also synced unless the schedule is
    /// [`FsyncSchedule::NoFsync`] (then it survives an OS crash or power loss only if a
    /// later sync ran).
    #[default]
    StrictlyAtOnce,
    /// The cursor is persisted every `persist_every` consumed entries (and on a clean
    /// close). After a crash, at most `persist_every` entries are delivered again; none is
    /// skipped, unless a checkpointed read failed before the crash (its cursor record may
    /// still have reached the disk, see docs/durability.md, "Failures"). Persisting writes
    /// the cursor to the OS (it survives a process crash); it becomes durable with the
    /// schedule's next sync.
    AtLeastOnce {
        /// How many consumed entries between two persisted cursors (at least 1).
        persist_every: u32,
    },
}

/// Which entries reads return: every appended one, or only durable ones.
///
/// Under the default, [`ReadVisibility::Appended`], a reader sees an entry as soon as
/// [`crate::Wal::append_for_topic`] has returned, before it is durable: an OS crash or a
/// power loss can take back an entry that a reader already saw (a process crash cannot:
/// a read first writes what it returns to the operating system). Under
/// [`ReadVisibility::Durable`] every read stops at the topic's durable position
/// ([`crate::Wal::durable_offset`]), as Kafka consumers stop at the committed offset:
/// what a reader sees survives any crash, at the price of waiting for the sync that
/// covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadVisibility {
    /// Reads return every appended entry, durable or not (the default).
    #[default]
    Appended,
    /// Reads return only durable entries; blocking reads wake when a sync makes more
    /// durable. Under [`FsyncSchedule::SyncEach`] an entry is visible by the time its
    /// append returns; under [`FsyncSchedule::Milliseconds`] after the timer's next sync (or an
    /// earlier [`crate::Wal::sync`] / [`crate::Wal::wait_durable`]); under
    /// [`FsyncSchedule::NoFsync`] only once something syncs the log: [`crate::Wal::sync`],
    /// [`crate::Wal::wait_durable`], or a call documented as durable when it returns
    /// (such as [`crate::Consumer::seek`]).
    Durable,
}

/// What recovery does with damage that is not a torn tail.
///
/// A torn tail (damage after the last point the last segment was known durable, as after a
/// crash in the middle of a write) is always cut off: those entries were never acknowledged
/// as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Any other damage makes open fail with an error naming the file and offset
    /// (RocksDB's `kAbsoluteConsistency`, with torn tails tolerated).
    #[default]
    Strict,
    /// Stop at the first damaged record: keep everything before it, drop it and everything
    /// after it (RocksDB's `kPointInTimeRecovery`). Data after the damage is lost, and
    /// logged with `tracing::warn!`.
    PointInTime,
}

/// Settings of one open log (validated by [`crate::WalBuilder::open`]), grouped by what
/// they govern. Fixed once the log is open.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    pub durability: Durability,
    pub recovery: RecoveryOptions,
    pub limits: Limits,
    pub buffering: Buffering,
    pub files: FileOptions,
}

/// When appends and checkpointed reads are made durable.
#[derive(Debug, Clone, Default)]
pub(crate) struct Durability {
    pub fsync: FsyncSchedule,
    pub consistency: ReadConsistency,
    pub visibility: ReadVisibility,
}

/// What recovery does with damage.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecoveryOptions {
    pub mode: RecoveryMode,
    /// Set cut-off bytes aside in a `.damaged` file rather than erase them.
    pub keep_cut_data: bool,
}

/// Sizes: of a segment, of one entry, of one batch.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub segment_size: u64,
    pub max_entry_size: usize,
    pub max_batch_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            segment_size: 64 << 20,
            max_entry_size: 16 << 20,
            max_batch_entries: 1 << 20,
        }
    }
}

/// How much is buffered before the write phase runs, and how long it may wait.
#[derive(Debug, Clone)]
pub(crate) struct Buffering {
    /// Pending bytes that wake the background thread to write.
    pub write_buffer: usize,
    /// Pending bytes at which the appender writes them itself.
    pub max_pending: usize,
    /// The longest pending bytes wait for the background thread.
    pub write_interval: Duration,
}

impl Default for Buffering {
    fn default() -> Self {
        Self {
            write_buffer: 1 << 20,
            max_pending: 64 << 20,
            write_interval: Duration::from_millis(10),
        }
    }
}

/// Segment files: open handles, segments made ahead of time, and how long old ones are
/// kept.
#[derive(Debug, Clone)]
pub(crate) struct FileOptions {
    pub max_open: usize,
    pub idle_handle_timeout: Duration,
    pub precreate: bool,
    pub retention: Retention,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            max_open: 64,
            idle_handle_timeout: Duration::from_secs(30),
            precreate: true,
            retention: Retention::default(),
        }
    }
}

/// Time- and size-based retention (0 = off).
#[derive(Debug, Clone, Default)]
pub(crate) struct Retention {
    pub bytes: u64,
    pub age: Duration,
}
