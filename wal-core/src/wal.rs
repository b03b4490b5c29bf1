//! The log itself: [`Wal`] and its public API.

use std::fs::File;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::builder::WalBuilder;
use crate::config::{FsyncSchedule, ReadConsistency, ReadVisibility};
use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{record_size, RecordKind, FLAG_BATCH, FLAG_BATCH_END, MAX_RECORD_OFFSET};
use crate::lock::lock;
use crate::shared::Shared;
use crate::source::{BackendInfo, BackendSource, Explicit};
use crate::stats::Stats;
use crate::storage::Backend;
use crate::topic::{validate_topic_name, Location, TopicState, SHARED_CURSOR};

/// One entry read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's offset in its topic (0, 1, 2, ...).
    pub offset: u64,
    /// The bytes that were appended.
    pub data: Vec<u8>,
}

/// A write-ahead log of named topics in one directory.
///
/// Open one with [`Wal::builder`]. All methods take `&self`: share a `Wal` between threads
/// with an `Arc`. Dropping it flushes and syncs what is pending, persists cursors and
/// releases the directory; [`Wal::close`] does the same and reports errors.
///
/// `S` is where the builder got the storage backend from ([`BackendSource`]); it changes
/// nothing once the log is open. The `wal` facade crate's `Wal` is this type with its
/// built-in backend chooser.
#[derive(Debug)]
pub struct Wal<S = Explicit> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) lock_file: Option<File>,
    pub(crate) info: BackendInfo,
    pub(crate) source: PhantomData<fn() -> S>,
}

impl<S: BackendSource> Wal<S> {
    /// Starts configuring a log. The directory is required; so is the backend with the
    /// engine's own [`Explicit`] source (`Wal::<Explicit>::builder()`, or
    /// [`WalBuilder::new`]), while the `wal` facade chooses one by default.
    pub fn builder() -> WalBuilder<S> {
        WalBuilder::default()
    }
}

impl<S> Wal<S> {
    /// Which backend was asked for, which one is in use, and why they differ.
    pub fn backend_info(&self) -> &BackendInfo {
        &self.info
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.env.dir
    }

    /// The name of the storage backend in use.
    pub fn backend_name(&self) -> &str {
        self.shared.env.backend.name()
    }

    /// The fsync schedule the log was opened with.
    pub fn fsync_schedule(&self) -> FsyncSchedule {
        self.shared.env.opts.durability.fsync
    }

    /// The read consistency the log was opened with.
    pub fn read_consistency(&self) -> ReadConsistency {
        self.shared.env.opts.durability.consistency
    }

    /// Which entries reads return: every appended one, or only durable ones.
    pub fn read_visibility(&self) -> ReadVisibility {
        self.shared.env.opts.durability.visibility
    }

    /// Appends one entry to `topic` (created on first use) and returns its offset in the
    /// topic. Under [`FsyncSchedule::SyncEach`] it returns once the entry is durable.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// let first = wal.append_for_topic("orders", b"order 1")?;
    /// let second = wal.append_for_topic("orders", b"order 2")?;
    /// assert_eq!((first, second), (0, 1)); // offsets count per topic
    /// assert_eq!(wal.append_for_topic("audit", b"login alice")?, 0);
    /// # Ok(()) }
    /// ```
    pub fn append_for_topic(&self, topic: &str, data: &[u8]) -> Result<u64> {
        Ok(self.append_entries(topic, &[data])?.start)
    }

    /// Appends `entries` to `topic` as one atomic batch: after any crash, either all of them
    /// are there or none is. Returns their offsets. Under [`FsyncSchedule::SyncEach`] it
    /// returns once the batch is durable.
    ///
    /// `entries` is a slice of anything that holds bytes: `&[&[u8]]`, `&[Vec<u8>]`,
    /// `&[String]`, `&[&str]`, arrays. The payloads are borrowed and copied once, into the
    /// log's buffer, as by [`Wal::append_for_topic`]. Byte-string literals of different
    /// lengths are different types (`&[u8; 1]`, `&[u8; 2]`), so such a list needs its
    /// first element as a slice (`&[b"i".as_slice(), b"jk"]`), and an empty literal needs
    /// its type (`&[] as &[&[u8]]`).
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// let range = wal.batch_append_for_topic("orders", &[b"a", b"b"])?; // borrowed slices
    /// assert_eq!(range, 0..2);
    /// let owned: Vec<Vec<u8>> = vec![b"c".to_vec(), b"de".to_vec()];
    /// assert_eq!(wal.batch_append_for_topic("orders", &owned)?, 2..4); // owned buffers
    /// assert_eq!(wal.batch_append_for_topic("orders", &["f", "gh"])?, 4..6); // text
    /// assert_eq!(wal.batch_append_for_topic("orders", &[b"i".as_slice(), b"jk"])?, 6..8);
    /// # Ok(()) }
    /// ```
    pub fn batch_append_for_topic<E: AsRef<[u8]>>(
        &self,
        topic: &str,
        entries: &[E],
    ) -> Result<Range<u64>> {
        // Borrows of the payloads, never copies: the bytes are copied once, into the
        // log's buffer, as for any append.
        let slices: Vec<&[u8]> = entries.iter().map(AsRef::as_ref).collect();
        self.append_entries(topic, &slices)
    }

    fn append_entries(&self, topic: &str, entries: &[&[u8]]) -> Result<Range<u64>> {
        let (offsets, lsn) = self.shared.append(topic, entries)?;
        if self.shared.env.opts.durability.fsync == FsyncSchedule::SyncEach && !offsets.is_empty() {
            self.shared.wait_durable_lsn(lsn)?;
        }
        Ok(offsets)
    }

    /// Reads the entry at the topic's cursor. With `checkpoint` the cursor moves past it
    /// (the entry is consumed, and the cursor persisted as [`ReadConsistency`] says);
    /// without, it is a peek. `Ok(None)` when the topic has nothing more (or does not exist).
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// wal.append_for_topic("jobs", b"first")?;
    /// let peeked = wal.read_next("jobs", false)?; // the cursor stays
    /// let taken = wal.read_next("jobs", true)?; // consumed: the cursor moves on
    /// assert_eq!(peeked, taken);
    /// assert_eq!(taken.unwrap().data, b"first");
    /// assert_eq!(wal.read_next("jobs", true)?, None); // nothing more
    /// # Ok(()) }
    /// ```
    pub fn read_next(&self, topic: &str, checkpoint: bool) -> Result<Option<Entry>> {
        Ok(self
            .shared
            .read_cursor(topic, SHARED_CURSOR, None, checkpoint)?
            .pop())
    }

    /// Reads entries from the topic's cursor until the next one would take the payload
    /// bytes past `max_bytes`; always at least one entry if any is available.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// wal.batch_append_for_topic("jobs", &[[1u8; 100], [2; 100], [3; 100]])?;
    /// let two = wal.batch_read_for_topic("jobs", 250, true)?; // 2 × 100 bytes fit in 250
    /// assert_eq!(two.len(), 2);
    /// let rest = wal.batch_read_for_topic("jobs", 1, true)?; // at least one entry, always
    /// assert_eq!((rest.len(), rest[0].offset), (1, 2));
    /// # Ok(()) }
    /// ```
    pub fn batch_read_for_topic(
        &self,
        topic: &str,
        max_bytes: usize,
        checkpoint: bool,
    ) -> Result<Vec<Entry>> {
        self.shared
            .read_cursor(topic, SHARED_CURSOR, Some(max_bytes), checkpoint)
    }

    /// The offset the next append to `topic` gets: the number of entries ever appended,
    /// unless [`Wal::truncate_from`] cut the topic back or [`Wal::truncate_before`] made
    /// it start further on; 0 for an unknown topic.
    pub fn get_topic_entry_count(&self, topic: &str) -> u64 {
        let st = lock(&self.shared.state);
        st.topics.get(topic).map_or(0, |t| t.next_offset)
    }

    /// The topics in the log, in the order they were created.
    pub fn topics(&self) -> Vec<String> {
        let st = lock(&self.shared.state);
        st.topics.iter().map(|t| t.name.clone()).collect()
    }

    /// Makes everything appended before the call durable. Concurrent callers share one
    /// sync (group commit).
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use wal_core::{FsyncSchedule, WalBuilder};
    ///
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    ///     .fsync(FsyncSchedule::NoFsync) // nothing is synced unless asked
    ///     .open()?;
    /// wal.append_for_topic("t", b"a")?;
    /// assert_eq!(wal.durable_offset("t"), None);
    /// wal.sync()?;
    /// assert_eq!(wal.durable_offset("t"), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn sync(&self) -> Result<()> {
        self.shared.check_poison()?;
        let lsn = lock(&self.shared.state).lsn_end();
        self.shared.wait_durable_lsn(lsn)
    }

    /// Returns once entry `offset` of `topic`, and everything appended before it, is
    /// durable. Starts a flush at once if none is in flight; never waits for the timer.
    /// An offset the topic does not hold yet (or an unknown topic) is
    /// [`Error::OffsetNotFound`]; one below its oldest retained entry is
    /// [`Error::OffsetReclaimed`].
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// // Pipelined durability: append many entries, then wait once.
    /// let mut last = 0;
    /// for i in 0..1000u32 {
    ///     last = wal.append_for_topic("t", &i.to_le_bytes())?;
    /// }
    /// wal.wait_durable("t", last)?; // one sync covers all 1,000
    /// assert_eq!(wal.durable_offset("t"), Some(last));
    /// # Ok(()) }
    /// ```
    pub fn wait_durable(&self, topic: &str, offset: u64) -> Result<()> {
        let loc = self.shared.locate(topic, offset)?;
        self.shared.wait_durable_lsn(loc.lsn_end)
    }

    /// The highest offset of `topic` that is durable, if any.
    pub fn durable_offset(&self, topic: &str) -> Option<u64> {
        let durable = self.shared.pipeline.commit.durable_lsn();
        let st = lock(&self.shared.state);
        let id = st.topics.id(topic)?;
        st.topics[id].durable_offset(durable)
    }

    /// Counters since the log was opened.
    pub fn stats(&self) -> Stats {
        self.shared.stats_now()
    }
}

impl Shared {
    /// Fails with [`Error::Closed`] once [`Wal::shutdown`] was called or the log closed:
    /// the check for user writes (appends, cursor moves, truncation). The close path
    /// itself still persists cursors and syncs.
    pub(crate) fn check_open(&self) -> Result<()> {
        self.check_poison()?;
        if self.signals.tail.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Encodes entries into the pending buffer. Returns their offsets and the LSN just
    /// past the last one.
    pub(crate) fn append(&self, topic: &str, entries: &[&[u8]]) -> Result<(Range<u64>, u64)> {
        self.check_open()?;
        validate_topic_name(topic)?;
        let bytes = self.check_sizes(entries)?;
        let n = entries.len() as u64;
        let payload = entries.iter().map(|e| e.len() as u64).sum();
        let cap = self.env.opts.buffering.write_buffer;
        let mut st = lock(&self.state);
        if st.pending.bytes() >= self.env.opts.buffering.max_pending {
            // Backpressure: write the backlog before adding to it. While that fails (a
            // full disk), this append is refused before it is queued, so unwritten
            // appends hold about `max_pending` bytes at most, however long the disk is full.
            drop(st);
            self.write_pending()?;
            st = lock(&self.state);
        }
        if n == 0 {
            let next = st.topics.get(topic).map_or(0, |t| t.next_offset);
            return Ok((next..next, st.lsn_end()));
        }
        let known = st.topics.id(topic);
        let def = if known.is_none() {
            self.check_new_topic(&st, topic)?;
            record_size(topic.len()) as u64
        } else {
            0
        };
        self.ensure_room(&mut st, bytes + def)?;
        let synced = self.synced_now(&st);
        let id = match known {
            Some(id) => id,
            None => st.create_topic(topic, synced, cap),
        };
        let first = st.topics[id].next_offset;
        if first + n > MAX_RECORD_OFFSET {
            return Err(Error::OffsetsExhausted {
                topic: topic.to_owned(),
            });
        }
        for (i, data) in entries.iter().enumerate() {
            let flags = match (n, i as u64 + 1 == n) {
                (1, _) => 0,
                (_, false) => FLAG_BATCH,
                (_, true) => FLAG_BATCH | FLAG_BATCH_END,
            };
            let pos = st.encode(
                RecordFields::new(RecordKind::Entry, id, first + i as u64)
                    .with_flags(flags)
                    .with_synced(synced),
                data,
                cap,
            );
            let (seg, base) = (st.active.id, st.active.base_lsn);
            st.topics[id].push(seg, base, pos, data.len() as u32);
        }
        self.env.stats.appended(n, payload);
        st.topics[id].count_appended(n, payload);
        let half_full = st.active.end * 2 >= st.active.capacity;
        let lsn = st.lsn_end();
        let pending = st.pending.bytes();
        drop(st);
        self.signals.tail.notify();
        if half_full && self.files.precreator.request() {
            self.signals.doorbell.ring_maintain();
        }
        if pending >= self.env.opts.buffering.max_pending {
            self.write_pending()?;
        } else if pending >= self.env.opts.buffering.write_buffer {
            self.signals.doorbell.ring_write();
        }
        Ok((first..first + n, lsn))
    }

    /// Checks entry and batch limits; returns the encoded size of the entries.
    fn check_sizes(&self, entries: &[&[u8]]) -> Result<u64> {
        let max = self.env.opts.limits.max_entry_size;
        let mut bytes = 0u64;
        for e in entries {
            if e.len() > max {
                return Err(Error::EntryTooLarge { size: e.len(), max });
            }
            bytes += record_size(e.len()) as u64;
        }
        let max_bytes = self.max_batch_bytes();
        if entries.len() > self.env.opts.limits.max_batch_entries || bytes > max_bytes {
            return Err(Error::BatchTooLarge {
                entries: entries.len(),
                bytes,
                max_entries: self.env.opts.limits.max_batch_entries,
                max_bytes,
            });
        }
        Ok(bytes)
    }

    /// A batch must fit in one segment, after the header and the topic's definition.
    pub(crate) fn max_batch_bytes(&self) -> u64 {
        crate::builder::record_room(self.env.opts.limits.segment_size)
    }

    /// Where entry `offset` of `topic` lives: [`Error::OffsetReclaimed`] below the
    /// topic's oldest retained entry, as for reads; else [`Error::OffsetNotFound`] if the
    /// topic does not hold it.
    pub(crate) fn locate(&self, topic: &str, offset: u64) -> Result<Location> {
        let st = lock(&self.state);
        let t = st.topics.get(topic);
        if let Some(oldest) = t.map(TopicState::first_offset).filter(|&o| offset < o) {
            return Err(Error::OffsetReclaimed {
                topic: topic.to_owned(),
                offset,
                oldest,
            });
        }
        t.and_then(|t| t.locate(offset))
            .ok_or_else(|| Error::OffsetNotFound {
                topic: topic.to_owned(),
                offset,
                next: t.map_or(0, |t| t.next_offset),
            })
    }
}
