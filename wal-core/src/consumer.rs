//! Reading: cursors (the shared one and named consumers), reads by offset, and tail
//! following that blocks until an entry is appended.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::config::{FsyncSchedule, ReadConsistency, ReadVisibility};
use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{record_size, RecordKind};
use crate::lock::lock;
use crate::pool::Pins;
use crate::segment::segment_file_name;
use crate::shared::Shared;
use crate::state::State;
use crate::topic::{validate_topic_name, Location, TopicState, SHARED_CURSOR};
use crate::wal::{Entry, Wal};

/// Wakes readers blocked on the tail when something is appended, and when a sync makes
/// more durable (what readers under `ReadVisibility::Durable` wait for).
///
/// One generation counter for the whole log, not one per topic: an append to any topic
/// wakes every blocked reader, and each looks at its own topic again (cheap, and it keeps
/// the append path to one atomic load when nobody waits). Invariant: a reader registered in
/// `waiters` before it looks for an entry is woken by any append it did not see.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    generation: Mutex<u64>,
    appended: Condvar,
    waiters: AtomicUsize,
    /// Set by [`Wal::shutdown`]: blocked readers return, appends are refused.
    closed: AtomicBool,
}

impl Tail {
    /// Called after every append, once the entries are visible to readers.
    pub fn notify(&self) {
        // Pairs with the SeqCst increment of `waiters` in `Shared::read_blocking`: either
        // the reader sees the entry when it looks, or this load sees the reader and wakes it.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            *lock(&self.generation) += 1;
            self.appended.notify_all();
        }
    }

    /// `true` once [`Wal::shutdown`] was called or the log closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Wakes every blocked reader for good: they return [`Error::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        *lock(&self.generation) += 1;
        self.appended.notify_all();
    }
}

/// Reads a topic through a cursor of its own, independent of every other consumer.
/// Its position is persisted in the log like the shared cursor, as the log's
/// [`ReadConsistency`] says, and keeps the entries it has not read from being reclaimed.
/// Get one with [`Wal::consumer`]; clones share the cursor.
///
/// To follow a topic, read in batches ([`Consumer::batch_read_blocking`]): under
/// [`ReadConsistency::StrictlyAtOnce`] (the default) every checkpointed read call syncs
/// once to persist the new position, so reading one entry per call costs one sync per
/// entry (`wal/examples/producer_consumer.rs` measures it).
#[derive(Debug, Clone)]
pub struct Consumer {
    shared: Arc<Shared>,
    topic: String,
    name: String,
}

impl Consumer {
    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next offset this consumer reads.
    pub fn position(&self) -> u64 {
        let st = lock(&self.shared.state);
        st.topics
            .get(&self.topic)
            .map_or(0, |t| t.cursors.get(&self.name).map_or(0, |c| c.cursor))
    }

    /// Like [`Wal::read_next`], through this consumer's cursor.
    pub fn read_next(&self, checkpoint: bool) -> Result<Option<Entry>> {
        Ok(self
            .shared
            .read_cursor(&self.topic, &self.name, None, checkpoint)?
            .pop())
    }

    /// Like [`Wal::batch_read_for_topic`], through this consumer's cursor.
    pub fn batch_read(&self, max_bytes: usize, checkpoint: bool) -> Result<Vec<Entry>> {
        self.shared
            .read_cursor(&self.topic, &self.name, Some(max_bytes), checkpoint)
    }

    /// Like [`Wal::read_next_blocking`], through this consumer's cursor.
    pub fn read_next_blocking(&self, checkpoint: bool, timeout: Duration) -> Result<Option<Entry>> {
        Ok(self
            .shared
            .read_blocking(&self.topic, &self.name, None, checkpoint, timeout)?
            .pop())
    }

    /// Like [`Wal::batch_read_blocking`], through this consumer's cursor: waits up to
    /// `timeout` for an entry, then returns every available one up to `max_bytes` (at
    /// least one); empty on timeout. The fast way to consume: one cursor write per batch.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// use std::time::Duration;
    ///
    /// let worker = wal.consumer("events", "worker")?;
    /// wal.batch_append_for_topic("events", &[b"a", b"b"])?;
    /// let batch = worker.batch_read_blocking(1 << 20, true, Duration::from_secs(10))?;
    /// assert_eq!(batch.len(), 2);
    /// assert_eq!(worker.position(), 2);
    /// // Nothing more: empty once the timeout passes.
    /// assert!(worker.batch_read_blocking(1 << 20, true, Duration::from_millis(10))?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn batch_read_blocking(
        &self,
        max_bytes: usize,
        checkpoint: bool,
        timeout: Duration,
    ) -> Result<Vec<Entry>> {
        self.shared.read_blocking(
            &self.topic,
            &self.name,
            Some(max_bytes),
            checkpoint,
            timeout,
        )
    }

    /// Moves this consumer to `offset`: back to read entries again, or ahead to skip them
    /// (its topic's next offset skips everything). The new position is durable when this
    /// returns, under every schedule. An offset below the oldest retained one is
    /// [`Error::OffsetReclaimed`]; past the topic's next offset, [`Error::OffsetNotFound`].
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// wal.batch_append_for_topic("orders", &[b"a", b"b", b"c"])?;
    /// let replay = wal.consumer("orders", "replay")?;
    /// replay.seek(2)?; // skip ahead
    /// assert_eq!(replay.read_next(true)?.unwrap().offset, 2);
    /// replay.seek(0)?; // and back, to read again
    /// assert_eq!(replay.read_next(true)?.unwrap().offset, 0);
    /// # Ok(()) }
    /// ```
    pub fn seek(&self, offset: u64) -> Result<()> {
        self.shared.seek_cursor(&self.topic, &self.name, offset)
    }
}

impl<S> Wal<S> {
    /// A named consumer of `topic`: a cursor of its own, persisted in the log, that
    /// survives reopens. A new consumer starts at the topic's oldest retained entry, and is
    /// registered in the log at once (written to the OS before this returns, so it
    /// survives a crash of the process), so retention keeps what it has not read. The topic is
    /// created if it does not exist. Names follow the rules of topic names.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// wal.batch_append_for_topic("orders", &[b"a", b"b", b"c"])?;
    /// let billing = wal.consumer("orders", "billing")?;
    /// let audit = wal.consumer("orders", "audit")?;
    /// assert_eq!(billing.read_next(true)?.unwrap().data, b"a");
    /// assert_eq!(billing.read_next(true)?.unwrap().data, b"b");
    /// assert_eq!(audit.read_next(true)?.unwrap().data, b"a"); // a position of its own
    /// assert_eq!((billing.position(), audit.position()), (2, 1));
    /// assert_eq!(wal.read_next("orders", false)?.unwrap().offset, 0); // nor the shared cursor's
    /// # Ok(()) }
    /// ```
    pub fn consumer(&self, topic: &str, name: &str) -> Result<Consumer> {
        self.shared.check_open()?;
        validate_topic_name(topic)?;
        validate_topic_name(name)?;
        let shared = &self.shared;
        let lsn = {
            let mut st = lock(&shared.state);
            let id = shared.topic_or_create(&mut st, topic)?;
            let t = &st.topics[id];
            if let Some(c) = t.cursors.get(name) {
                // Its last record (the registration, or a later move) may still be queued
                // (an earlier call failed to write it, on a full disk): this call returns
                // only once it reached the OS too, without writing appends queued since.
                Some(c.persisted_lsn())
            } else {
                let at = t.first_offset();
                shared.check_table_room(&st, record_size(name.len()) as u64, || {
                    format!("consumer {name:?} of topic {topic:?}")
                })?;
                Some(shared.encode_cursor(&mut st, id, name, at)?)
            }
        };
        if let Some(lsn) = lsn {
            shared.ensure_written(lsn)?;
        }
        Ok(Consumer {
            shared: shared.clone(),
            topic: topic.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Reads entries of `topic` from `offset` on, without touching any cursor, until the
    /// next one would take the payload past `max_bytes` (at least one if any). Asking for
    /// an offset that retention or [`Wal::truncate_before`] reclaimed is
    /// [`Error::OffsetReclaimed`], naming the oldest retained offset; an offset at or past
    /// the end gives an empty result.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// use wal_core::Error;
    ///
    /// wal.batch_append_for_topic("raft", &[b"e0", b"e1", b"e2", b"e3"])?;
    /// let page = wal.read_from("raft", 2, 1 << 20)?; // no cursor moves
    /// assert_eq!(page.iter().map(|e| e.offset).collect::<Vec<_>>(), [2, 3]);
    /// assert!(wal.read_from("raft", 4, 1 << 20)?.is_empty()); // the end
    /// wal.truncate_before("raft", 2)?;
    /// assert!(matches!(
    ///     wal.read_from("raft", 0, 1 << 20),
    ///     Err(Error::OffsetReclaimed { oldest: 2, .. })
    /// ));
    /// # Ok(()) }
    /// ```
    pub fn read_from(&self, topic: &str, offset: u64, max_bytes: usize) -> Result<Vec<Entry>> {
        let shared = &self.shared;
        let (id, locs, _pins) = {
            let st = lock(&shared.state);
            let Some(id) = st.topics.id(topic) else {
                return Ok(Vec::new());
            };
            let t = &st.topics[id];
            if offset < t.first_offset() {
                return Err(Error::OffsetReclaimed {
                    topic: topic.to_owned(),
                    offset,
                    oldest: t.first_offset(),
                });
            }
            let (locs, pins) = shared.collect_pinned(t, offset, u64::MAX, Some(max_bytes));
            (id, locs, pins)
        };
        shared.read_locations(id, offset, &locs)
    }

    /// Entries `range` of `topic`, without touching any cursor: the range is clamped to
    /// what the topic retains (from its oldest retained entry to its end), and the result
    /// holds at most `max_bytes` of payload, but always at least one entry if any is in
    /// range. An unknown topic, or a range with nothing retained in it, gives an empty
    /// result. For a Raft log, whose index is the topic's offset.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wal_core::WalBuilder;
    ///
    /// # fn main() -> wal_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(Arc::new(wal_backend_std::StdBackend::default()))
    ///     .open()?;
    /// wal.batch_append_for_topic("raft", &[b"a", b"b", b"c", b"d"])?;
    /// let offsets = |v: Vec<wal_core::Entry>| v.iter().map(|e| e.offset).collect::<Vec<_>>();
    /// assert_eq!(offsets(wal.read_range("raft", 1..3, usize::MAX)?), [1, 2]);
    /// assert_eq!(offsets(wal.read_range("raft", 2..100, usize::MAX)?), [2, 3]);
    /// assert_eq!(offsets(wal.read_range("raft", 0..4, 2)?), [0, 1]); // 2 bytes of payload
    /// assert_eq!(offsets(wal.read_range("raft", 0..4, 0)?), [0]); // always one
    /// # Ok(()) }
    /// ```
    pub fn read_range(
        &self,
        topic: &str,
        range: std::ops::Range<u64>,
        max_bytes: usize,
    ) -> Result<Vec<Entry>> {
        let shared = &self.shared;
        let (id, from, locs, _pins) = {
            let st = lock(&shared.state);
            let Some(id) = st.topics.id(topic) else {
                return Ok(Vec::new());
            };
            let t = &st.topics[id];
            let from = range.start.max(t.first_offset());
            let (locs, pins) = shared.collect_pinned(t, from, range.end, Some(max_bytes));
            (id, from, locs, pins)
        };
        shared.read_locations(id, from, &locs)
    }

    /// Like [`Wal::read_next`], but waits up to `timeout` for an entry to be appended if
    /// none is available; it wakes as soon as one is (no polling). `Ok(None)` on timeout,
    /// [`Error::Closed`] once [`Wal::shutdown`] was called.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// use std::time::Duration;
    ///
    /// std::thread::scope(|s| {
    ///     let producer = s.spawn(|| wal.append_for_topic("jobs", b"work"));
    ///     // Waits, without polling, until an entry is there (or 10 s pass).
    ///     let job = wal.read_next_blocking("jobs", true, Duration::from_secs(10))?;
    ///     assert_eq!(job.unwrap().data, b"work");
    ///     producer.join().unwrap().map(drop)
    /// })?;
    /// // Nothing more: `None` once the timeout passes.
    /// assert_eq!(wal.read_next_blocking("jobs", true, Duration::from_millis(10))?, None);
    /// # Ok(()) }
    /// ```
    pub fn read_next_blocking(
        &self,
        topic: &str,
        checkpoint: bool,
        timeout: Duration,
    ) -> Result<Option<Entry>> {
        Ok(self
            .shared
            .read_blocking(topic, SHARED_CURSOR, None, checkpoint, timeout)?
            .pop())
    }

    /// Like [`Wal::batch_read_for_topic`], but waits up to `timeout` for an entry if none
    /// is available, waking as soon as one is: the fast way to follow a topic. It returns
    /// every entry available (up to `max_bytes`), so a consumer that falls behind catches
    /// up in large batches, and a checkpointed batch persists the cursor once (one sync
    /// under [`ReadConsistency::StrictlyAtOnce`]) for all its entries. Empty on timeout,
    /// [`Error::Closed`] once [`Wal::shutdown`] was called.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// use std::time::Duration;
    ///
    /// std::thread::scope(|s| {
    ///     let producer = s.spawn(|| {
    ///         for i in 0..1000u32 {
    ///             wal.append_for_topic("events", &i.to_le_bytes())?;
    ///         }
    ///         Ok::<_, wal_core::Error>(())
    ///     });
    ///     let mut next = 0;
    ///     while next < 1000 {
    ///         // Everything available, up to 1 MiB, in one call: the cursor is persisted once
    ///         // per batch (one sync under StrictlyAtOnce), not once per entry.
    ///         let batch = wal.batch_read_blocking("events", 1 << 20, true, Duration::from_secs(10))?;
    ///         assert!(!batch.is_empty(), "nothing for 10 s");
    ///         for entry in batch {
    ///             assert_eq!(entry.offset, next); // in order, each once
    ///             next += 1;
    ///         }
    ///     }
    ///     producer.join().unwrap()
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn batch_read_blocking(
        &self,
        topic: &str,
        max_bytes: usize,
        checkpoint: bool,
        timeout: Duration,
    ) -> Result<Vec<Entry>> {
        self.shared
            .read_blocking(topic, SHARED_CURSOR, Some(max_bytes), checkpoint, timeout)
    }

    /// Starts closing: blocked readers return [`Error::Closed`] at once, and appends are
    /// refused with it. Data already appended is still flushed when the log is dropped or
    /// [`Wal::close`]d. Call it from any thread, so that tail followers stop.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let wal = wal_core::WalBuilder::new()
    /// #     .dir(dir.path())
    /// #     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    /// #     .open()?;
    /// use std::time::Duration;
    /// use wal_core::Error;
    ///
    /// std::thread::scope(|s| {
    ///     let follower = s.spawn(|| wal.read_next_blocking("t", true, Duration::MAX));
    ///     wal.shutdown(); // from any thread
    ///     assert!(matches!(follower.join().unwrap(), Err(Error::Closed)));
    /// });
    /// assert!(matches!(wal.append_for_topic("t", b"x"), Err(Error::Closed)));
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self) {
        self.shared.signals.tail.close();
    }
}

/// Locations of entries from `from` on, before `end`, within `budget` payload bytes (one
/// entry when `budget` is `None`, at least one otherwise), none of whose records ends past
/// `visible_lsn`.
fn collect(
    t: &TopicState,
    from: u64,
    end: u64,
    budget: Option<usize>,
    visible_lsn: u64,
) -> Vec<Location> {
    let mut locs = Vec::new();
    let mut bytes = 0usize;
    let mut offset = from;
    while let Some(loc) = t.locate(offset).filter(|_| offset < end) {
        if loc.lsn_end > visible_lsn {
            break;
        }
        bytes += loc.len as usize;
        if !locs.is_empty() && budget.is_none_or(|max| bytes > max) {
            break;
        }
        locs.push(loc);
        offset += 1;
    }
    locs
}

impl Shared {
    /// [`collect`] up to what [`ReadVisibility`] lets readers see, with the segments of the
    /// locations pinned in the pool: called under the state lock, so that reclaim cannot
    /// delete one of them before it is read.
    fn collect_pinned(
        &self,
        t: &TopicState,
        from: u64,
        end: u64,
        budget: Option<usize>,
    ) -> (Vec<Location>, Pins<'_>) {
        let visible_lsn = match self.env.opts.durability.visibility {
            ReadVisibility::Appended => u64::MAX,
            ReadVisibility::Durable => self.pipeline.commit.durable_lsn(),
        };
        let locs = collect(t, from, end, budget, visible_lsn);
        let mut segments: Vec<u64> = locs.iter().map(|l| l.segment).collect();
        segments.dedup();
        let pins = self.files.pool.pin(segments);
        (locs, pins)
    }

    /// Reads through cursor `name` of `topic`: one entry when `budget` is `None`, else as
    /// many as fit in `budget` payload bytes (at least one).
    pub(crate) fn read_cursor(
        &self,
        topic: &str,
        name: &str,
        budget: Option<usize>,
        checkpoint: bool,
    ) -> Result<Vec<Entry>> {
        if checkpoint {
            // A checkpointed read writes a cursor: refused once the log is shutting down.
            self.check_open()?;
        }
        let Some((id, guard)) = ({
            let mut st = lock(&self.state);
            let id = st.topics.id(topic);
            id.map(|id| (id, st.topics[id].cursor_mut(name).lock.clone()))
        }) else {
            return Ok(Vec::new());
        };
        // One reader of this cursor at a time, so that two threads never get one entry.
        let _reading = lock(&guard);
        let (cursor, locs, pins) = {
            let mut st = lock(&self.state);
            let t = &mut st.topics[id];
            let first = t.first_offset();
            let c = t.cursor_mut(name);
            c.cursor = c.cursor.max(first); // entries below were reclaimed or truncated
            let cursor = c.cursor;
            let (locs, pins) = self.collect_pinned(&st.topics[id], cursor, u64::MAX, budget);
            (cursor, locs, pins)
        };
        let entries = self.read_locations(id, cursor, &locs)?;
        drop(pins);
        if checkpoint && !entries.is_empty() {
            self.advance_cursor(id, name, cursor + entries.len() as u64)?;
        }
        Ok(entries)
    }

    /// Reads through cursor `name` like [`Shared::read_cursor`], waiting up to `timeout`
    /// for an entry to become visible if none is; empty on timeout.
    fn read_blocking(
        &self,
        topic: &str,
        name: &str,
        budget: Option<usize>,
        checkpoint: bool,
        timeout: Duration,
    ) -> Result<Vec<Entry>> {
        // `None`: a timeout too long to represent (`Duration::MAX`) waits without one.
        let deadline = Instant::now().checked_add(timeout);
        self.signals.tail.waiters.fetch_add(1, Ordering::SeqCst);
        let result = (|| loop {
            let seen = *lock(&self.signals.tail.generation);
            if self.signals.tail.is_closed() {
                return Err(Error::Closed);
            }
            let entries = self.read_cursor(topic, name, budget, checkpoint)?;
            if !entries.is_empty() {
                return Ok(entries);
            }
            let mut generation = lock(&self.signals.tail.generation);
            while *generation == seen {
                // Without a deadline, wait a day at a time: the loop waits again.
                let left = deadline.map_or(Duration::from_secs(86_400), |d| {
                    d.saturating_duration_since(Instant::now())
                });
                if left.is_zero() {
                    return Ok(Vec::new());
                }
                generation = self
                    .signals
                    .tail
                    .appended
                    .wait_timeout(generation, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
        })();
        self.signals.tail.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Reads the entries at `locs` (consecutive offsets from `first`), verifying each record.
    pub(crate) fn read_locations(
        &self,
        topic: u32,
        first: u64,
        locs: &[Location],
    ) -> Result<Vec<Entry>> {
        if self.files.pool.is_closed() {
            return Err(Error::Closed);
        }
        let Some(last) = locs.iter().map(|l| l.lsn_end).max() else {
            return Ok(Vec::new());
        };
        self.ensure_written(last)?;
        self.guard_panic("read", || self.read_groups(topic, first, locs))
    }

    /// The reads of [`Shared::read_locations`]: one per run of records in one segment.
    fn read_groups(&self, topic: u32, first: u64, locs: &[Location]) -> Result<Vec<Entry>> {
        let mut out = Vec::with_capacity(locs.len());
        for group in locs.chunk_by(|a, b| a.segment == b.segment && a.pos < b.pos) {
            let seg = group[0].segment;
            let path = self.env.dir.join(segment_file_name(seg));
            let storage = self
                .files
                .pool
                .get(seg, || self.env.backend.open(&path))
                .map_err(|e| Error::io("open segment", &path, None, e))?;
            let start = u64::from(group[0].pos);
            let end = group
                .iter()
                .map(|l| u64::from(l.pos) + record_size(l.len as usize) as u64)
                .max()
                .unwrap_or(start);
            let mut buf = vec![0u8; (end - start) as usize];
            crate::storage::read_exact_at(&*storage, start, &mut buf)
                .map_err(|e| Error::io("read", &path, Some(start), e))?;
            for loc in group {
                let offset = first + out.len() as u64;
                let at = (u64::from(loc.pos) - start) as usize;
                let data = crate::recovery::decode_entry(
                    &buf[at..],
                    seg,
                    &path,
                    u64::from(loc.pos),
                    topic,
                    offset,
                )?;
                out.push(Entry { offset, data });
            }
        }
        Ok(out)
    }

    /// Persists cursor `name` of topic `id` at `cursor` as the read consistency asks, then
    /// moves it. If persisting fails the cursor does not move.
    fn advance_cursor(&self, id: u32, name: &str, cursor: u64) -> Result<()> {
        let persist = match self.env.opts.durability.consistency {
            ReadConsistency::StrictlyAtOnce => true,
            ReadConsistency::AtLeastOnce { persist_every } => {
                let (due, last) = {
                    let mut st = lock(&self.state);
                    let c = st.topics[id].cursor_mut(name);
                    let due = cursor.saturating_sub(c.persisted) >= u64::from(persist_every.max(1));
                    (due, c.persisted_lsn())
                };
                if !due {
                    // The last cursor record must have reached the OS, or a crash of the
                    // process would take back more than `persist_every` entries: its
                    // write may have failed (a full disk) and the record still be queued.
                    self.ensure_written(last)?;
                }
                due
            }
        };
        if persist {
            let lsn = self.append_cursor(id, name, cursor)?;
            let strict = self.env.opts.durability.consistency == ReadConsistency::StrictlyAtOnce;
            if strict && self.env.opts.durability.fsync != FsyncSchedule::NoFsync {
                self.wait_durable_lsn(lsn)?;
            } else {
                self.ensure_written(lsn)?;
            }
        }
        let mut st = lock(&self.state);
        let t = &mut st.topics[id];
        // A suffix truncation while the entries were read leaves the cursor at the cut.
        let cursor = cursor.min(t.next_offset);
        t.cursor_mut(name).cursor = cursor;
        Ok(())
    }

    /// Encodes a cursor record for consumer `name` of topic `id`; returns the LSN past it.
    pub(crate) fn append_cursor(&self, id: u32, name: &str, cursor: u64) -> Result<u64> {
        self.check_poison()?;
        let mut st = lock(&self.state);
        self.encode_cursor(&mut st, id, name, cursor)
    }

    pub(crate) fn encode_cursor(
        &self,
        st: &mut State,
        id: u32,
        name: &str,
        cursor: u64,
    ) -> Result<u64> {
        // Never past the topic's end: a suffix truncation may have cut below a position
        // read before it (recovery refuses a cursor past the end).
        let cursor = cursor.min(st.topics[id].next_offset);
        self.ensure_room(st, record_size(name.len()) as u64)?;
        let synced = self.synced_now(st);
        st.encode(
            RecordFields::new(RecordKind::Cursor, id, cursor).with_synced(synced),
            name.as_bytes(),
            self.env.opts.buffering.write_buffer,
        );
        let lsn = st.lsn_end();
        let durable = self.pipeline.commit.durable_lsn();
        st.topics[id].cursor_mut(name).persist(cursor, lsn, durable);
        Ok(lsn)
    }

    /// The id of topic `name`, defining it (in the log) if it is new.
    pub(crate) fn topic_or_create(&self, st: &mut State, name: &str) -> Result<u32> {
        if let Some(id) = st.topics.id(name) {
            return Ok(id);
        }
        self.check_poison()?;
        self.check_new_topic(st, name)?;
        self.ensure_room(st, record_size(name.len()) as u64)?;
        let synced = self.synced_now(st);
        Ok(st.create_topic(name, synced, self.env.opts.buffering.write_buffer))
    }
}
