//! [`WalLogStore`]: openraft's log storage on one topic of a [`wal::Wal`].

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    LogId, LogState, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, Vote,
};
use wal::{FsyncSchedule, Wal};

use crate::codec::{decode, encode};
use crate::error::{to_io, write_logs, write_vote, Error, Result};
use crate::io::{blocking, durable};
use crate::reader::WalLogReader;
use crate::{wrap, Log};

/// The group (topic) [`WalLogStore::open`] uses.
pub const DEFAULT_GROUP: &str = "raft";

/// Metadata keys kept on the group's topic.
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "purged";

/// openraft's log storage (`RaftLogStorage` + `RaftLogReader`, storage API v2) on one
/// topic of a write-ahead log: one Raft group.
///
/// - **Raft index == topic offset.** Entries are encoded with postcard (see the crate
///   docs), one log entry per Raft entry; an `append` of several entries is one atomic
///   batch, unless it exceeds the log's batch limits ([`wal::WalBuilder::max_batch_entries`],
///   one segment's room): then it is split into several batches, each atomic, and a
///   crash may keep a prefix of them (a prefix of the entries, which Raft allows).
/// - **Group commit.** [`append`](RaftLogStorage::append) returns as soon as the entries
///   are in the log's buffer (readable at once); its `LogFlushed` callback fires from the
///   log's flusher when a sync covers them, and one sync covers every append (of every
///   group in the log) made before it.
/// - **Vote, committed, last purged** are metadata of the topic, in the same log: what a
///   crash keeps is a prefix of the whole log, so a vote (or committed index) never
///   survives without the entries written before it.
///
/// Which calls may wait for I/O, and where they wait:
/// - `append`, `save_vote`'s write and `save_committed` run inline: they copy into the
///   log's buffer, which may write it to the OS (buffered `pwrite`) when it is full, or
///   start the next segment when one is full (normally made ahead of time).
/// - `save_vote` and `truncate` then await a oneshot that the log's flusher completes
///   once they are durable: no thread is blocked.
/// - Reads, `truncate` and `purge` run on tokio's blocking pool (`spawn_blocking`), or
///   inline outside a tokio runtime.
/// - [`open`](WalLogStore::open) and [`with_wal`](WalLogStore::with_wal) are plain
///   functions that read the log: call them before starting Raft, not on a runtime
///   thread in the middle of serving.
///
/// One store per group at a time: two stores on one group of one log would each believe
/// they own it.
pub struct WalLogStore<C: RaftTypeConfig> {
    wal: Arc<Wal>,
    log: Arc<Log>,
    group: Arc<str>,
    vote: Option<Vote<C::NodeId>>,
    committed: Option<LogId<C::NodeId>>,
    last_purged: Option<LogId<C::NodeId>>,
    last_log_id: Option<LogId<C::NodeId>>,
    _types: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Debug for WalLogStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalLogStore")
            .field("dir", &self.wal.dir())
            .field("group", &self.group)
            .field("vote", &self.vote)
            .field("committed", &self.committed)
            .field("last_purged", &self.last_purged)
            .field("last_log_id", &self.last_log_id)
            .finish()
    }
}

impl<C: RaftTypeConfig> WalLogStore<C> {
    /// Opens (or creates) a log in `dir` holding one Raft group ([`DEFAULT_GROUP`]).
    ///
    /// The log is opened with [`FsyncSchedule::NoFsync`]: it never syncs on a timer, and
    /// the store asks for every sync Raft needs (appends, votes, truncations), so no
    /// acknowledged write depends on a timer. Recovery runs here: this call reads the log.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let wal = Wal::builder()
            .dir(dir.as_ref())
            .fsync(FsyncSchedule::NoFsync)
            .open()?;
        Self::with_wal(Arc::new(wal), DEFAULT_GROUP)
    }

    /// A store for Raft group `group` (a topic name) in a log opened and configured by the
    /// caller. Several groups can share one log, each with its own store: their appends
    /// share syncs. The log must not use [`FsyncSchedule::SyncEach`] ([`Error::SyncEach`]):
    /// under it every append would wait for its sync inside the async runtime.
    pub fn with_wal(wal: Arc<Wal>, group: &str) -> Result<Self> {
        if wal.fsync_schedule() == FsyncSchedule::SyncEach {
            return Err(Error::SyncEach);
        }
        let log = wrap(wal.clone());
        let group: Arc<str> = group.into();
        let vote = load_meta(&log, &group, VOTE)?;
        let committed = load_meta::<Option<LogId<C::NodeId>>>(&log, &group, COMMITTED)?.flatten();
        let last_purged: Option<LogId<C::NodeId>> = load_meta(&log, &group, PURGED)?;
        // `purge` records the purged id before it truncates the topic: finish a purge
        // that a crash cut short.
        if let Some(p) = &last_purged {
            if log
                .oldest_offset(&group)
                .is_none_or(|first| first <= p.index)
            {
                log.truncate_before(&group, p.index + 1)?;
            }
        }
        let last_log_id = last_entry_id::<C>(&log, &group)?.or_else(|| last_purged.clone());
        Ok(Self {
            wal,
            log,
            group,
            vote,
            committed,
            last_purged,
            last_log_id,
            _types: PhantomData,
        })
    }

    /// The group (topic) this store keeps.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The log the store writes to (for `stats()`, `sync()`, or another group's store).
    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    /// A reader of this group, as openraft's replication tasks get it.
    pub fn reader(&self) -> WalLogReader<C> {
        WalLogReader {
            log: self.log.clone(),
            group: self.group.clone(),
            _types: PhantomData,
        }
    }

    /// What [`RaftLogStorage::append`] does, with a callback of your own (openraft's
    /// `LogFlushed` can only be made by openraft): appends `entries` (consecutive, the
    /// first one the index the log expects next) as one batch (several if they exceed the
    /// log's batch limits), and returns at once. `done`
    /// runs once a sync covers them, on the log's flusher thread (it must not block), or
    /// with the error that stopped the log. Entries at or below the last purged index are
    /// skipped: they were applied and purged already.
    pub fn append_with_callback<I>(
        &mut self,
        entries: I,
        done: impl FnOnce(std::io::Result<()>) + Send + 'static,
    ) -> Result<()>
    where
        I: IntoIterator<Item = C::Entry>,
    {
        let mut first = None;
        let mut last = None;
        let mut encoded = Vec::new();
        let purged = self.last_purged.as_ref().map(|p| p.index);
        for entry in entries {
            let id = entry.get_log_id().clone();
            if purged.is_some_and(|p| id.index <= p) {
                // Already applied and purged (openraft's startup purges up to what the
                // state machine applied, and may then be handed such entries again).
                continue;
            }
            let want = first.map_or(id.index, |f: u64| f + encoded.len() as u64);
            if id.index != want {
                return Err(Error::NotContiguous {
                    group: self.group.to_string(),
                    expected: want,
                    got: id.index,
                });
            }
            first.get_or_insert(id.index);
            encoded.push(encode(&entry, "entry", &self.group)?);
            last = Some(id);
        }
        if let Some(first) = first {
            if let Err(e) = self.append_encoded(first, &encoded) {
                // Part of a split batch may be in: say what the log holds.
                self.last_log_id = last_entry_id::<C>(&self.log, &self.group)?
                    .or_else(|| self.last_purged.clone());
                return Err(e);
            }
            self.last_log_id = last;
        }
        self.log
            .on_durable(move |result| done(result.map_err(to_io)));
        Ok(())
    }

    /// The first index the log holds, and the index the next append gets.
    fn span(&self) -> (u64, u64) {
        let next = self.log.get_topic_entry_count(&self.group);
        (self.log.oldest_offset(&self.group).unwrap_or(next), next)
    }

    fn set_meta(&self, key: &str, value: &impl serde::Serialize) -> Result<()> {
        let bytes = encode(value, key, &self.group)?;
        Ok(self.log.set_meta(&self.group, key, &bytes)?)
    }

    /// Appends the encoded entries, first index `first`, as one batch, or as several when
    /// they do not fit in one (the log's batch limits).
    fn append_encoded(&mut self, first: u64, encoded: &[Vec<u8>]) -> Result<()> {
        let (oldest, next) = self.span();
        if first != next {
            // A topic with no entry and nothing purged starts where Raft starts it.
            let fresh = oldest == next && self.last_purged.is_none() && first > next;
            if !fresh {
                return Err(Error::NotContiguous {
                    group: self.group.to_string(),
                    expected: next,
                    got: first,
                });
            }
            self.log.truncate_before(&self.group, first)?;
        }
        let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        append_split(&self.log, &self.group, &slices)
    }
}

/// The metadata `key` of `group`, decoded.
fn load_meta<T: serde::de::DeserializeOwned>(
    log: &Log,
    group: &str,
    key: &str,
) -> Result<Option<T>> {
    log.meta(group, key)
        .map(|b| decode(&b, key, group))
        .transpose()
}

/// The log id of the last entry of `group`, if it holds any.
fn last_entry_id<C: RaftTypeConfig>(log: &Log, group: &str) -> Result<Option<LogId<C::NodeId>>> {
    let next = log.get_topic_entry_count(group);
    let first = log.oldest_offset(group).unwrap_or(next);
    if next <= first {
        return Ok(None);
    }
    let got = crate::reader::read_entries::<C>(log, group, next - 1, next, Some(1))?;
    Ok(got.last().map(|e| e.get_log_id().clone()))
}

/// `batch_append_for_topic`, halving the batch while the log says it is too large.
fn append_split(log: &Log, group: &str, slices: &[&[u8]]) -> Result<()> {
    match log.batch_append_for_topic(group, slices) {
        Err(wal::Error::BatchTooLarge { .. }) if slices.len() > 1 => {
            let (a, b) = slices.split_at(slices.len() / 2);
            append_split(log, group, a)?;
            append_split(log, group, b)
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for WalLogStore<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.reader().try_get_log_entries(range).await
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.reader().limited_get_log_entries(start, end).await
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for WalLogStore<C> {
    type LogReader = WalLogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        Ok(LogState {
            last_purged_log_id: self.last_purged.clone(),
            last_log_id: self.last_log_id.clone(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.set_meta(VOTE, vote).map_err(write_vote)?;
        durable(&self.log).await.map_err(write_vote)?;
        self.vote = Some(vote.clone());
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.vote.clone())
    }

    /// Recorded in the log and durable with the next sync (the next append's or vote's):
    /// openraft does not need it durable at once.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        self.set_meta(COMMITTED, &committed).map_err(write_logs)?;
        self.committed = committed;
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_with_callback(entries, move |result| callback.log_io_completed(result))
            .map_err(write_logs)
    }

    /// Removes entries `log_id.index..`, durably before it returns (so that a crash
    /// never brings them back).
    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let (first, next) = self.span();
        let at = log_id.index;
        if at >= next {
            return Ok(());
        }
        if at < first {
            return Err(write_logs(Error::TruncatePurged {
                group: self.group.to_string(),
                index: at,
                first,
            }));
        }
        let (log, group) = (self.log.clone(), self.group.clone());
        let before = blocking(move || {
            log.truncate_from(&group, at)?;
            if at > first {
                let kept = crate::reader::read_entries::<C>(&log, &group, at - 1, at, Some(1))?;
                return Ok(kept.last().map(|e| e.get_log_id().clone()));
            }
            Ok(None)
        })
        .await
        .map_err(write_logs)?;
        self.last_log_id = before.or_else(|| self.last_purged.clone());
        durable(&self.log).await.map_err(write_logs)
    }

    /// Forgets entries `..=log_id.index`; `log_id` may be past the last entry (the next
    /// append then gets `log_id.index + 1`). Durable with the next sync: a crash before
    /// it keeps the entries and the old purge point together.
    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        if self
            .last_purged
            .as_ref()
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        let bytes = encode(&log_id, PURGED, &self.group).map_err(write_logs)?;
        let (log, group, to) = (self.log.clone(), self.group.clone(), log_id.index + 1);
        blocking(move || {
            log.set_meta(&group, PURGED, &bytes)?;
            Ok(log.truncate_before(&group, to)?)
        })
        .await
        .map_err(write_logs)?;
        if self
            .last_log_id
            .as_ref()
            .is_none_or(|l| l.index < log_id.index)
        {
            self.last_log_id = Some(log_id.clone());
        }
        self.last_purged = Some(log_id);
        Ok(())
    }
}
