//! The log itself: [`Wal`] and its public API.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::background::{HandlePool, Wake};
use crate::builder::WalBuilder;
use crate::config::{FsyncSchedule, Options, ReadConsistency};
use crate::consumer::Tail;
use crate::error::{Error, Result};
use crate::flush::{Commit, IoState};
use crate::format::{record_size, RecordKind, FLAG_BATCH, FLAG_BATCH_END, MAX_RECORD_OFFSET};
use crate::state::State;
use crate::stats::{Counters, Stats};
use crate::storage::{Backend, Flusher};
use crate::topic::{validate_topic_name, Location, SHARED_CURSOR};

/// One entry read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's offset in its topic (0, 1, 2, ...).
    pub offset: u64,
    /// The bytes that were appended.
    pub data: Vec<u8>,
}

/// Locks a mutex, carrying on if another thread panicked while holding it: every critical
/// section leaves the state consistent before anything that could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the log's threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: Options,
    pub backend: Arc<dyn Backend>,
    pub flusher: Arc<dyn Flusher>,
    pub state: Mutex<State>,
    pub io: Mutex<IoState>,
    pub commit: Commit,
    /// Mirrors of `IoState::written_lsn` and `Progress::durable_lsn` for lock-free checks.
    pub written_lsn: AtomicU64,
    pub durable_lsn: AtomicU64,
    pub poison: OnceLock<Arc<Error>>,
    pub pool: HandlePool,
    pub wake: Sender<Wake>,
    pub stats: Counters,
    pub tail: Tail,
    /// The segment prepared ahead of time (see `precreate.rs`).
    pub spare: Mutex<crate::precreate::SpareSlot>,
    /// Mirror of the active segment's id, readable without the state lock.
    pub active_id: AtomicU64,
    /// Set once the background thread was asked to prepare the next segment.
    pub spare_wanted: std::sync::atomic::AtomicBool,
    /// Set when the log is closed or abandoned: from then on nothing reads or writes the
    /// directory, which another instance may own already (see [`Shared::seal`]).
    pub sealed: std::sync::atomic::AtomicBool,
    /// An appender asked the background thread to write the buffer out.
    pub write_wanted: std::sync::atomic::AtomicBool,
}

/// A write-ahead log of named topics in one directory.
///
/// Open one with [`Wal::builder`]. All methods take `&self`: share a `Wal` between threads
/// with an `Arc`. Dropping it flushes and syncs what is pending, persists cursors and
/// releases the directory; [`Wal::close`] does the same and reports errors.
#[derive(Debug)]
pub struct Wal {
    pub(crate) shared: Arc<Shared>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) lock_file: Option<File>,
}

impl Wal {
    /// Starts configuring a log. The directory and the backend are required.
    pub fn builder() -> WalBuilder {
        WalBuilder::default()
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The name of the storage backend in use.
    pub fn backend_name(&self) -> &str {
        self.shared.backend.name()
    }

    /// The fsync schedule the log was opened with.
    pub fn fsync_schedule(&self) -> FsyncSchedule {
        self.shared.opts.fsync
    }

    /// The read consistency the log was opened with.
    pub fn read_consistency(&self) -> ReadConsistency {
        self.shared.opts.consistency
    }

    /// Appends one entry to `topic` (created on first use) and returns its offset in the
    /// topic. Under [`FsyncSchedule::SyncEach`] it returns once the entry is durable.
    pub fn append_for_topic(&self, topic: &str, data: &[u8]) -> Result<u64> {
        Ok(self.append_entries(topic, &[data])?.start)
    }

    /// Appends `entries` to `topic` as one atomic batch: after any crash, either all of them
    /// are there or none is. Returns their offsets. Under [`FsyncSchedule::SyncEach`] it
    /// returns once the batch is durable.
    pub fn batch_append_for_topic(&self, topic: &str, entries: &[&[u8]]) -> Result<Range<u64>> {
        self.append_entries(topic, entries)
    }

    fn append_entries(&self, topic: &str, entries: &[&[u8]]) -> Result<Range<u64>> {
        let (offsets, lsn) = self.shared.append(topic, entries)?;
        if self.shared.opts.fsync == FsyncSchedule::SyncEach && !offsets.is_empty() {
            self.shared.wait_durable_lsn(lsn)?;
        }
        Ok(offsets)
    }

    /// Reads the entry at the topic's cursor. With `checkpoint` the cursor moves past it
    /// (the entry is consumed, and the cursor persisted as [`ReadConsistency`] says);
    /// without, it is a peek. `Ok(None)` when the topic has nothing more (or does not exist).
    pub fn read_next(&self, topic: &str, checkpoint: bool) -> Result<Option<Entry>> {
        Ok(self
            .shared
            .read_cursor(topic, SHARED_CURSOR, None, checkpoint)?
            .pop())
    }

    /// Reads entries from the topic's cursor until the next one would take the payload
    /// bytes past `max_bytes`; always at least one entry if any is available.
    pub fn batch_read_for_topic(
        &self,
        topic: &str,
        max_bytes: usize,
        checkpoint: bool,
    ) -> Result<Vec<Entry>> {
        self.shared
            .read_cursor(topic, SHARED_CURSOR, Some(max_bytes), checkpoint)
    }

    /// The number of entries ever appended to `topic` (its next offset); 0 for an unknown
    /// topic.
    pub fn get_topic_entry_count(&self, topic: &str) -> u64 {
        let st = lock(&self.shared.state);
        st.topics
            .get(topic)
            .map_or(0, |&id| st.topic_list[id as usize].next_offset)
    }

    /// The topics in the log, in the order they were created.
    pub fn topics(&self) -> Vec<String> {
        let st = lock(&self.shared.state);
        st.topic_list.iter().map(|t| t.name.clone()).collect()
    }

    /// Makes everything appended before the call durable. Concurrent callers share one
    /// sync (group commit).
    pub fn sync(&self) -> Result<()> {
        self.shared.check_poison()?;
        let lsn = lock(&self.shared.state).lsn_end();
        self.shared.wait_durable_lsn(lsn)
    }

    /// Returns once entry `offset` of `topic`, and everything appended before it, is
    /// durable. Starts a flush at once if none is in flight; never waits for the timer.
    pub fn wait_durable(&self, topic: &str, offset: u64) -> Result<()> {
        let loc = self.shared.locate(topic, offset)?;
        self.shared.wait_durable_lsn(loc.lsn_end)
    }

    /// The highest offset of `topic` that is durable, if any.
    pub fn durable_offset(&self, topic: &str) -> Option<u64> {
        let durable = self.shared.durable_lsn.load(Ordering::Acquire);
        let st = lock(&self.shared.state);
        let id = *st.topics.get(topic)?;
        st.topic_list[id as usize].durable_offset(durable)
    }

    /// Counters since the log was opened.
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.stats.snapshot();
        stats.segments = lock(&self.shared.state).segments.len() as u64;
        stats.open_segment_handles = self.shared.pool.len() as u64;
        stats
    }
}

impl Shared {
    /// Ends this log's hold on its directory, by construction: the write phase (the only
    /// code that writes to segments) refuses under the `io` lock, segment creation refuses
    /// under the pre-creator's lock, the deletion queue is dropped and every pooled handle
    /// closed. Handles that outlive the log (a [`crate::Consumer`], another thread's
    /// clone) then get [`Error::Closed`] from every call. Called by close, drop and
    /// abandon once the final flush (if any) is done, before the directory lock is
    /// released.
    pub(crate) fn seal(&self) {
        self.tail.close();
        lock(&self.io).closed = true;
        self.sealed.store(true, Ordering::SeqCst);
        if let Some(spare) = lock(&self.spare).close() {
            // Left as an all-zero trailing segment, which the next open removes.
            tracing::debug!(
                segment = spare.id,
                "closing with an unused prepared segment"
            );
        }
        self.pool.close();
    }

    /// Fails with [`Error::Closed`] once [`Wal::shutdown`] was called or the log closed:
    /// the check for user writes (appends, cursor moves, truncation). The close path
    /// itself still persists cursors and syncs.
    pub(crate) fn check_open(&self) -> Result<()> {
        self.check_poison()?;
        if self.tail.closed.load(Ordering::SeqCst) {
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
        let cap = self.opts.write_buffer;
        let mut st = lock(&self.state);
        if n == 0 {
            let next = st
                .topics
                .get(topic)
                .map_or(0, |&id| st.topic_list[id as usize].next_offset);
            return Ok((next..next, st.lsn_end()));
        }
        let known = st.topics.get(topic).copied();
        let def = if known.is_none() {
            let def = (record_size(topic.len()) + record_size(0)) as u64;
            self.check_table_room(&st, def, || format!("topic {topic:?}"))?;
            def
        } else {
            0
        };
        self.ensure_room(&mut st, bytes + def)?;
        let synced = st.synced_in_active(self.durable_lsn.load(Ordering::Acquire));
        let id = match known {
            Some(id) => id,
            None => st.create_topic(topic, synced, cap),
        };
        let first = st.topic_list[id as usize].next_offset;
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
                RecordKind::Entry,
                flags,
                id,
                first + i as u64,
                data,
                synced,
                cap,
            );
            let (seg, base) = (st.active.id, st.active.base_lsn);
            st.topic_list[id as usize].push(seg, base, pos, data.len() as u32);
        }
        self.stats.appends.add(n);
        let half_full = st.active.end * 2 >= st.active.capacity;
        let lsn = st.lsn_end();
        let pending = st.pending_bytes;
        drop(st);
        self.tail.notify();
        if half_full && !self.spare_wanted.swap(true, Ordering::AcqRel) {
            self.wake_reclaimer();
        }
        self.stats
            .append_bytes
            .add(entries.iter().map(|e| e.len() as u64).sum());
        if pending >= self.opts.max_pending {
            self.write_pending()?;
        } else if pending >= self.opts.write_buffer {
            self.wake_writer();
        }
        Ok((first..first + n, lsn))
    }

    /// Checks entry and batch limits; returns the encoded size of the entries.
    fn check_sizes(&self, entries: &[&[u8]]) -> Result<u64> {
        let max = self.opts.max_entry_size;
        let mut bytes = 0u64;
        for e in entries {
            if e.len() > max {
                return Err(Error::EntryTooLarge { size: e.len(), max });
            }
            bytes += record_size(e.len()) as u64;
        }
        let max_bytes = self.max_batch_bytes();
        if entries.len() > self.opts.max_batch_entries || bytes > max_bytes {
            return Err(Error::BatchTooLarge {
                entries: entries.len(),
                bytes,
                max_entries: self.opts.max_batch_entries,
                max_bytes,
            });
        }
        Ok(bytes)
    }

    /// A batch must fit in one segment, after the header and the topic's definition.
    pub(crate) fn max_batch_bytes(&self) -> u64 {
        crate::builder::record_room(self.opts.segment_size)
    }

    /// Where entry `offset` of `topic` lives.
    pub(crate) fn locate(&self, topic: &str, offset: u64) -> Result<Location> {
        let st = lock(&self.state);
        let t = st.topics.get(topic).map(|&id| &st.topic_list[id as usize]);
        t.and_then(|t| t.locate(offset))
            .ok_or_else(|| Error::OffsetNotFound {
                topic: topic.to_owned(),
                offset,
                next: t.map_or(0, |t| t.next_offset),
            })
    }
}
