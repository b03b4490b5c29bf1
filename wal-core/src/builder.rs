//! [`WalBuilder`]: opening a log.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::background;
use crate::config::{FsyncSchedule, Options, ReadConsistency, ReadVisibility, RecoveryMode};
use crate::error::{Error, Result};
use crate::format::{record_size, RECORD_ALIGN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::observe::ObserveOptions;
use crate::recovery::recover;
use crate::segment::LOCK_FILE;
use crate::shared::Shared;
use crate::source::{BackendInfo, BackendSource, Explicit};
use crate::storage::Backend;
use crate::wal::Wal;
use crate::MAX_TOPIC_NAME_LEN;

/// Smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Largest segment size accepted: record positions are 32-bit.
pub const MAX_SEGMENT_SIZE: u64 = u32::MAX as u64 & !4095;

/// Configures and opens a [`Wal`].
///
/// ```
/// use std::sync::Arc;
/// use wal_core::{FsyncSchedule, ReadConsistency, WalBuilder};
///
/// # fn main() -> wal_core::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let wal = WalBuilder::new()
///     .dir(dir.path())
///     .backend(Arc::new(wal_backend_std::StdBackend::default()))
///     .fsync(FsyncSchedule::SyncEach)
///     .consistency(ReadConsistency::AtLeastOnce { persist_every: 100 })
///     .segment_size(8 << 20)
///     .open()?;
/// # drop(wal);
/// # Ok(()) }
/// ```
///
/// `S` says where the storage backend comes from ([`BackendSource`]): with the engine's
/// own [`Explicit`] (the default), `backend` takes a backend object; the `wal` facade's
/// builder is this type with a source that chooses among the built-in backends.
#[derive(Debug, Clone, Default)]
pub struct WalBuilder<S: BackendSource = Explicit> {
    dir: Option<PathBuf>,
    source: S,
    custom: Option<Arc<dyn Backend>>,
    pub(crate) opts: Options,
    /// The `on_error` hook: not a setting of the log's behaviour, so not in `opts`.
    pub(crate) observe: ObserveOptions,
    /// `max_entry_size` was set by the user (else it shrinks to fit small segments).
    max_entry_set: bool,
}

impl WalBuilder {
    /// A builder whose backend object is given with [`WalBuilder::backend`] (the same as
    /// `Wal::<Explicit>::builder()`).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S: BackendSource> WalBuilder<S> {
    /// The directory holding the log (created if missing). Required.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Chooses the storage backend, as the builder's [`BackendSource`] understands it:
    /// a backend object for the engine's own builder (required there), a built-in backend
    /// by name for the `wal` facade's (default: the best one available).
    pub fn backend(mut self, choice: S::Choice) -> Self {
        self.source.choose(choice);
        self
    }

    /// Uses a backend object of your own, whatever [`WalBuilder::backend`] chose (see
    /// `docs/backends.md` for how to write one).
    pub fn custom_backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.custom = Some(backend);
        self
    }

    /// Changes the backend source's own settings (for sources with more than a choice,
    /// such as the facade's io_uring probe).
    pub fn with_source(mut self, f: impl FnOnce(&mut S)) -> Self {
        f(&mut self.source);
        self
    }

    /// When data is synced (default: `Milliseconds(200)`). `Milliseconds(0)` is refused by
    /// `open` with [`Error::Config`] (use `SyncEach`).
    pub fn fsync(mut self, schedule: FsyncSchedule) -> Self {
        self.opts.durability.fsync = schedule;
        self
    }

    /// How checkpointed reads persist cursors (default: `StrictlyAtOnce`).
    /// `AtLeastOnce { persist_every: 0 }` is refused by `open` with [`Error::Config`].
    pub fn consistency(mut self, consistency: ReadConsistency) -> Self {
        self.opts.durability.consistency = consistency;
        self
    }

    /// Which entries reads return (default: [`ReadVisibility::Appended`], every appended
    /// entry, durable or not). [`ReadVisibility::Durable`] stops every read (cursors,
    /// consumers, [`Wal::read_from`], blocking reads) at the topic's durable position.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use wal_core::{FsyncSchedule, ReadVisibility, WalBuilder};
    ///
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    ///     .fsync(FsyncSchedule::NoFsync)
    ///     .read_visibility(ReadVisibility::Durable)
    ///     .open()?;
    /// wal.append_for_topic("t", b"a")?;
    /// assert_eq!(wal.read_next("t", false)?, None); // appended, not durable: not visible
    /// wal.sync()?;
    /// assert_eq!(wal.read_next("t", false)?.unwrap().data, b"a");
    /// # Ok(()) }
    /// ```
    pub fn read_visibility(mut self, visibility: ReadVisibility) -> Self {
        self.opts.durability.visibility = visibility;
        self
    }

    /// What recovery does with damage that is not a torn tail (default: `Strict`).
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.opts.recovery.mode = mode;
        self
    }

    /// Size of each segment file (default 64 MiB): from [`MIN_SEGMENT_SIZE`] (4 KiB) to
    /// [`MAX_SEGMENT_SIZE`] (4 GiB − 4 KiB); `open` refuses others with [`Error::Config`].
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.opts.limits.segment_size = bytes;
        self
    }

    /// Largest entry accepted (default 16 MiB, or less if that does not fit in a segment);
    /// larger appends fail with [`Error::EntryTooLarge`]. An entry must fit in one segment:
    /// `open` refuses a value that does not with [`Error::Config`].
    pub fn max_entry_size(mut self, bytes: usize) -> Self {
        self.opts.limits.max_entry_size = bytes;
        self.max_entry_set = true;
        self
    }

    /// Most entries in one batch (default 1,048,576; at least 1, else `open` fails with
    /// [`Error::Config`]). A larger batch fails with [`Error::BatchTooLarge`].
    pub fn max_batch_entries(mut self, entries: usize) -> Self {
        self.opts.limits.max_batch_entries = entries;
        self
    }

    /// Pending bytes at which the background thread is woken to write them out (default
    /// 1 MiB; at least 1, else `open` fails with [`Error::Config`]). Larger values mean
    /// fewer, larger writes.
    pub fn write_buffer(mut self, bytes: usize) -> Self {
        self.opts.buffering.write_buffer = bytes;
        self
    }

    /// Pending bytes at which an appender writes the buffer out itself instead of letting
    /// it grow (default 64 MiB): the bound on memory held by unwritten appends (give or
    /// take one append per appending thread). While that write fails (a full disk), appends
    /// are refused with its error before they are queued. Must be at least
    /// [`WalBuilder::write_buffer`], else `open` fails with [`Error::Config`].
    pub fn max_pending(mut self, bytes: usize) -> Self {
        self.opts.buffering.max_pending = bytes;
        self
    }

    /// How often pending data is written to the OS under `SyncEach` and `NoFsync`
    /// (default 10 ms; zero is refused by `open` with [`Error::Config`]).
    pub fn write_interval(mut self, interval: Duration) -> Self {
        self.opts.buffering.write_interval = interval;
        self
    }

    /// How long an unused segment handle stays open (default 30 s).
    pub fn idle_handle_timeout(mut self, timeout: Duration) -> Self {
        self.opts.files.idle_handle_timeout = timeout;
        self
    }

    /// Create the next segment ahead of time (blocks reserved, header written and synced)
    /// once the active one is half full (default on): rollover then does no file
    /// creation and no directory sync.
    pub fn precreate_segments(mut self, on: bool) -> Self {
        self.opts.files.precreate = on;
        self
    }

    /// Copy whatever recovery cuts off (a torn tail) into a `.damaged` file beside the log
    /// before erasing it (default off: a torn tail was never acknowledged). `wal repair`
    /// turns it on, so that it always keeps what it removes.
    pub fn keep_cut_data(mut self, keep: bool) -> Self {
        self.opts.recovery.keep_cut_data = keep;
        self
    }

    /// Most segment handles the log keeps open (default 64; 0 counts as 1). Whenever a
    /// read takes a handle while more are open, the least recently used idle ones are
    /// closed; a handle in use (the active segment's, one with writes not yet synced, one
    /// being read) is never closed, so while many are in use more can be open. The active
    /// segment is always open.
    pub fn max_open_segments(mut self, n: usize) -> Self {
        self.opts.files.max_open = n;
        self
    }

    /// Keep at least this many bytes of segments even when every cursor has passed them
    /// (default 0: reclaim as soon as nothing needs a segment).
    pub fn retain_bytes(mut self, bytes: u64) -> Self {
        self.opts.files.retention.bytes = bytes;
        self
    }

    /// Keep a segment at least this long after it was sealed, even when every cursor has
    /// passed it (default 0). Segments found on open count from the open.
    pub fn retain_age(mut self, age: Duration) -> Self {
        self.opts.files.retention.age = age;
        self
    }

    /// Opens the log: locks the directory, recovers what is there and starts the
    /// background flush thread.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use wal_core::{Error, WalBuilder};
    ///
    /// let builder = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()));
    /// let wal = builder.clone().open()?;
    /// // One instance per directory, in this process or any other.
    /// assert!(matches!(builder.clone().open(), Err(Error::Locked { .. })));
    /// wal.close()?;
    /// let again = builder.open()?; // the lock was released
    /// # drop(again);
    /// # Ok(()) }
    /// ```
    pub fn open(self) -> Result<Wal<S>> {
        let dir = self
            .dir
            .ok_or_else(|| Error::Config("no directory: call `.dir(path)`".into()))?;
        let (backend, info) = match self.custom {
            Some(backend) => {
                let info = BackendInfo::custom(&*backend);
                (backend, info)
            }
            None => self.source.resolve()?,
        };
        let mut opts = self.opts;
        if !self.max_entry_set {
            opts.limits.max_entry_size = opts
                .limits
                .max_entry_size
                .min(largest_entry(opts.limits.segment_size));
        }
        validate(&opts)?;
        let _span = crate::trace::open_span(&dir).entered();
        create_dir(&dir, &*backend)?;
        let lock_file = lock_dir(&dir)?;
        let recovered = recover(
            &dir,
            &*backend,
            opts.limits.segment_size,
            opts.recovery.mode,
            opts.recovery.keep_cut_data,
        )?;
        let undeclared = recovered.undeclared.clone();
        let (shared, rx) = Shared::new(dir, opts, self.observe, backend, recovered);
        let shared = Arc::new(shared);
        shared.redeclare(&undeclared)?;
        let thread = background::spawn(shared.clone(), rx)
            .map_err(|e| Error::io("spawn flush thread", &shared.env.dir, None, e))?;
        tracing::debug!(dir = %shared.env.dir.display(), backend = shared.env.backend.name(), "opened log");
        Ok(Wal {
            shared,
            thread: Some(thread),
            lock_file: Some(lock_file),
            info,
            source: std::marker::PhantomData,
        })
    }
}

/// Bytes of records a segment of `segment_size` bytes holds after its header and room
/// for a topic definition: the bound on one entry's record and on one batch.
pub(crate) fn record_room(segment_size: u64) -> u64 {
    segment_size.saturating_sub((SEGMENT_HEADER_LEN + 2 * record_size(MAX_TOPIC_NAME_LEN)) as u64)
}

/// The largest entry a segment of `segment_size` bytes holds after its header and a topic
/// definition.
fn largest_entry(segment_size: u64) -> usize {
    let room = record_room(segment_size).saturating_sub(RECORD_HEADER_LEN as u64);
    (room as usize) & !(RECORD_ALIGN - 1)
}

fn validate(o: &Options) -> Result<()> {
    let fail = |m: String| Err(Error::Config(m));
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&o.limits.segment_size) {
        return fail(format!(
            "segment_size {} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}",
            o.limits.segment_size
        ));
    }
    let too_large = o.limits.max_entry_size as u64 >= o.limits.segment_size
        || record_size(o.limits.max_entry_size) as u64 > record_room(o.limits.segment_size);
    if too_large {
        return fail(format!(
            "max_entry_size {} does not fit in a segment of {} bytes",
            o.limits.max_entry_size, o.limits.segment_size
        ));
    }
    if o.limits.max_batch_entries == 0
        || o.buffering.write_buffer == 0
        || o.buffering.max_pending < o.buffering.write_buffer
    {
        return fail("max_batch_entries and write_buffer must be positive, and max_pending at least write_buffer".into());
    }
    if o.durability.fsync == FsyncSchedule::Milliseconds(0) {
        return fail("Milliseconds(0) is not a schedule; use SyncEach".into());
    }
    if o.durability.consistency == (ReadConsistency::AtLeastOnce { persist_every: 0 }) {
        return fail("AtLeastOnce needs persist_every >= 1".into());
    }
    if o.buffering.write_interval.is_zero() {
        return fail("write_interval must be positive".into());
    }
    Ok(())
}

/// Creates the log directory if it is missing. A file that is not a directory in its place
/// is [`Error::NotADirectory`] (`create_dir_all` would say only "File exists").
///
/// The parent of every directory it creates is synced before the log opens: without a
/// journal, a directory's creation is not durable until its parent is, and a power loss
/// could otherwise take a new log away with every entry acknowledged in it.
fn create_dir(dir: &Path, backend: &dyn Backend) -> Result<()> {
    let created: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .collect();
    if let Err(e) = std::fs::create_dir_all(dir) {
        return match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => Err(Error::NotADirectory {
                path: dir.to_owned(),
            }),
            _ => Err(Error::io("create directory", dir, None, e)),
        };
    }
    for new in created {
        let parent = match new.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        backend
            .sync_dir(parent)
            .map_err(|e| Error::io("sync directory", parent, None, e))?;
    }
    Ok(())
}

/// Takes an exclusive lock on the directory, held until the log is closed. A second
/// instance, in this process or another, gets [`Error::Locked`].
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open lock file", &path, None, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked {
            path: dir.to_owned(),
        }),
        Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, None, e)),
    }
}
