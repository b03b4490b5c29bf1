//! Reading entries back: [`WalLogReader`], the handle openraft's replication tasks use.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig, StorageError};

use crate::codec::decode;
use crate::error::{read_logs, Result};
use crate::io::blocking;
use crate::Log;

/// How many payload bytes [`RaftLogReader::limited_get_log_entries`] returns at most
/// (always at least one entry): a replication message of a few MiB.
pub const LIMITED_READ_BYTES: usize = 4 << 20;

/// A read-only handle on one Raft group's entries, for openraft's replication tasks
/// ([`RaftLogStorage::get_log_reader`](openraft::storage::RaftLogStorage::get_log_reader)).
/// Cheap to clone; reads run on tokio's blocking pool.
pub struct WalLogReader<C: RaftTypeConfig> {
    pub(crate) log: Arc<Log>,
    pub(crate) group: Arc<str>,
    pub(crate) _types: std::marker::PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Clone for WalLogReader<C> {
    fn clone(&self) -> Self {
        Self {
            log: self.log.clone(),
            group: self.group.clone(),
            _types: std::marker::PhantomData,
        }
    }
}

impl<C: RaftTypeConfig> Debug for WalLogReader<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalLogReader")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// `[start, end)` of a range of indexes.
pub(crate) fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

/// Entries `start..end` of `group` (what is retained of them), decoded. With
/// `limit`, one read of at most that many encoded bytes (at least one entry).
pub(crate) fn read_entries<C: RaftTypeConfig>(
    log: &Log,
    group: &str,
    start: u64,
    end: u64,
    limit: Option<usize>,
) -> Result<Vec<C::Entry>> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let got = log.read_range(group, at..end, limit.unwrap_or(READ_CHUNK_BYTES))?;
        let Some(last) = got.last() else { break };
        at = last.offset + 1;
        for e in &got {
            out.push(decode(&e.data, &format!("entry {}", e.offset), group)?);
        }
        if limit.is_some() {
            break;
        }
    }
    Ok(out)
}

/// The bytes of one read of the log while an unlimited range is read.
const READ_CHUNK_BYTES: usize = 4 << 20;

impl<C: RaftTypeConfig> WalLogReader<C> {
    async fn read(&self, start: u64, end: u64, limit: Option<usize>) -> Result<Vec<C::Entry>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let (log, group) = (self.log.clone(), self.group.clone());
        blocking(move || read_entries::<C>(&log, &group, start, end, limit)).await
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for WalLogReader<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let (start, end) = bounds(&range);
        self.read(start, end, None).await.map_err(read_logs)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.read(start, end, Some(LIMITED_READ_BYTES))
            .await
            .map_err(read_logs)
    }
}
