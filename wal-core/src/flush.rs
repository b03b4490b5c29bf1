//! Moving data from the append buffer to storage (write phase) and making it durable
//! (sync phase), with group commit: one flush leader at a time, everybody else waits for
//! the flush that covers them.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use crate::error::{Error, Result};
use crate::segment::segment_file_name;
use crate::state::Chunk;
use crate::storage::{FlushRequest, Storage};
use crate::wal::{lock, Shared};

/// State of the write phase, guarded by `Shared::io`: holding it serializes writes, so
/// chunks reach storage in the order they were appended.
#[derive(Debug, Default)]
pub(crate) struct IoState {
    /// Per segment: the storage and the range written since its last sync.
    pub dirty: BTreeMap<u64, (Arc<dyn Storage>, Range<u64>)>,
    /// LSN just past the last byte written to storage.
    pub written_lsn: u64,
    /// The appends counter when the last written chunk was taken.
    pub appends_written: u64,
    /// The appends counter covered by the last successful flush.
    pub appends_flushed: u64,
    /// Set by [`Shared::seal`]: the log is closed and writes nothing more.
    pub closed: bool,
}

/// Progress of the sync phase, guarded by `Shared::progress` and signalled on its condvar.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub durable_lsn: u64,
    pub flush_in_flight: bool,
}

/// The pair a flush leader and its waiters meet on.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    pub progress: Mutex<Progress>,
    pub changed: Condvar,
}

impl Shared {
    /// Fails with [`Error::Poisoned`] once a flush has failed.
    pub(crate) fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records `err` as the failure that poisons the log (the first one wins) and returns
    /// the error every caller from now on sees.
    pub(crate) fn poison(&self, err: Error) -> Error {
        tracing::error!(error = %err, dir = %self.dir.display(), "the log is poisoned; reopen it to recover");
        self.stats.flush_errors.inc();
        let cause = self.poison.get_or_init(|| Arc::new(err)).clone();
        Error::Poisoned { cause }
    }

    /// Runs `f`, which calls into the backend. A panic in it poisons the log with
    /// [`Error::BackendPanicked`] instead of unwinding through the engine: a panic can leave
    /// a flush marked in flight or data taken from the queue and never written, and every
    /// waiter must still get an answer.
    pub(crate) fn guard_panic<T>(
        &self,
        op: &'static str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(result) => result,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                Err(self.poison(Error::BackendPanicked { op, message }))
            }
        }
    }

    /// Writes everything pending to storage (no sync). Returns once every record appended
    /// before the call has reached the operating system.
    pub(crate) fn write_pending(&self) -> Result<()> {
        self.guard_panic("write", || self.write_pending_unguarded())
    }

    fn write_pending_unguarded(&self) -> Result<()> {
        let mut io = lock(&self.io);
        if io.closed {
            return Err(Error::Closed);
        }
        let (mut chunks, appends) = {
            let mut st = lock(&self.state);
            st.pending_bytes = 0;
            (std::mem::take(&mut st.pending), self.stats.appends.get())
        };
        while let Some(chunk) = chunks.pop_front() {
            if let Err(e) = self.write_chunk(&mut io, &chunk) {
                return Err(self.write_failed(e, chunk, chunks));
            }
            if !chunk.bytes.is_empty() {
                self.recycle(chunk.bytes);
            }
        }
        io.appends_written = appends;
        Ok(())
    }

    fn write_chunk(&self, io: &mut IoState, chunk: &Chunk) -> Result<()> {
        let path = || self.dir.join(segment_file_name(chunk.segment));
        if !chunk.bytes.is_empty() {
            chunk
                .storage
                .write_at(chunk.pos, &chunk.bytes)
                .map_err(|e| Error::io("write", path(), Some(chunk.pos), e))?;
            self.stats.writes.inc();
            self.stats.written_bytes.add(chunk.bytes.len() as u64);
            let range = io
                .dirty
                .entry(chunk.segment)
                .or_insert_with(|| (chunk.storage.clone(), chunk.pos..chunk.pos));
            range.1.start = range.1.start.min(chunk.pos);
            range.1.end = range.1.end.max(chunk.end());
        }
        if chunk.seal {
            // The next chunk goes to a newer segment: this one must be durable first.
            chunk
                .storage
                .sync()
                .map_err(|e| self.poison(Error::io("sync (seal)", path(), None, e)))?;
            io.dirty.remove(&chunk.segment);
        }
        let base = {
            let st = lock(&self.state);
            st.segments.get(&chunk.segment).map(|m| m.base_lsn)
        };
        if let Some(base) = base {
            io.written_lsn = io.written_lsn.max(base + chunk.end());
            self.written_lsn.store(io.written_lsn, Ordering::Release);
        }
        Ok(())
    }

    /// A write failed. Disk full leaves the page cache as it was, so the unwritten chunks go
    /// back to the front of the queue to be retried; anything else poisons the log.
    fn write_failed(
        &self,
        err: Error,
        chunk: Chunk,
        rest: std::collections::VecDeque<Chunk>,
    ) -> Error {
        let disk_full =
            matches!(&err, Error::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull);
        if !disk_full || matches!(err, Error::Poisoned { .. }) {
            return match err {
                Error::Poisoned { .. } => err,
                other => self.poison(other),
            };
        }
        tracing::warn!(error = %err, "write failed for lack of space; it will be retried");
        let mut st = lock(&self.state);
        let mut requeued = rest;
        requeued.push_front(chunk);
        st.pending_bytes += requeued.iter().map(|c| c.bytes.len()).sum::<usize>();
        requeued.extend(std::mem::take(&mut st.pending));
        st.pending = requeued;
        err
    }

    fn recycle(&self, bytes: Vec<u8>) {
        let mut st = lock(&self.state);
        if st.spare.len() < 4 && bytes.capacity() <= self.opts.write_buffer.saturating_mul(2) {
            st.spare.push(bytes);
        }
    }

    /// Makes sure the record ending at `lsn` has reached the operating system.
    pub(crate) fn ensure_written(&self, lsn: u64) -> Result<()> {
        if self.written_lsn.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        self.check_poison()?;
        self.write_pending()
    }

    /// Returns once every byte before `lsn` is durable, leading a flush if none is in
    /// flight (group commit: a flush covers every writer that queued while the previous
    /// one ran).
    pub(crate) fn wait_durable_lsn(&self, lsn: u64) -> Result<()> {
        let mut p = lock(&self.commit.progress);
        loop {
            // Data synced before a failure stays durable; only what is not yet durable
            // is refused once the log is poisoned.
            if p.durable_lsn >= lsn {
                return Ok(());
            }
            self.check_poison()?;
            if !p.flush_in_flight {
                p.flush_in_flight = true;
                drop(p);
                let result = self.guard_panic("flush", || self.flush_cycle());
                p = lock(&self.commit.progress);
                p.flush_in_flight = false;
                if let Ok(durable) = result {
                    p.durable_lsn = p.durable_lsn.max(durable);
                    self.durable_lsn.store(p.durable_lsn, Ordering::Release);
                }
                self.commit.changed.notify_all();
                result?;
                continue;
            }
            p = self
                .commit
                .changed
                .wait(p)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// One flush: write what is pending, then sync every dirty storage in one call to the
    /// backend's flusher. Returns the LSN that is now durable.
    fn flush_cycle(&self) -> Result<u64> {
        let started = std::time::Instant::now();
        self.write_pending()?;
        let (requests, written, entries) = {
            let mut io = lock(&self.io);
            let requests: Vec<FlushRequest> = std::mem::take(&mut io.dirty)
                .into_values()
                .map(|(storage, dirty)| FlushRequest { storage, dirty })
                .collect();
            let entries = io.appends_written - io.appends_flushed;
            io.appends_flushed = io.appends_written;
            (requests, io.written_lsn, entries)
        };
        if requests.is_empty() {
            return Ok(written);
        }
        let results = self.flusher.flush(&requests);
        if results.len() != requests.len() {
            return Err(self.poison(Error::io(
                "sync",
                &self.dir,
                None,
                io::Error::other(format!(
                    "the flusher reported {} results for {} storages",
                    results.len(),
                    requests.len()
                )),
            )));
        }
        for (result, req) in results.into_iter().zip(&requests) {
            if let Err(e) = result {
                let path = self.path_of(&req.storage);
                return Err(self.poison(Error::io("sync", path, None, e)));
            }
        }
        self.stats.flushes.inc();
        self.stats.flush_latency.record(started.elapsed());
        self.stats.flushed_storages.add(requests.len() as u64);
        self.stats.max_entries_per_flush.max(entries);
        Ok(written)
    }

    /// The path of an open storage, for error messages.
    fn path_of(&self, storage: &Arc<dyn Storage>) -> std::path::PathBuf {
        let st = lock(&self.state);
        if Arc::ptr_eq(&st.active.storage, storage) {
            return st
                .segments
                .get(&st.active.id)
                .map_or_else(|| self.dir.clone(), |m| m.path.clone());
        }
        self.pool.id_of(storage).map_or_else(
            || self.dir.clone(),
            |id| self.dir.join(segment_file_name(id)),
        )
    }
}
