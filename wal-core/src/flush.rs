//! Moving data from the append buffer to storage (write phase) and making it durable
//! (sync phase), with group commit: one flush leader at a time, everybody else waits for
//! the flush that covers them.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::lock::lock;
use crate::pending::Chunk;
use crate::segment::segment_file_name;
use crate::shared::Shared;
use crate::storage::{FlushRequest, Flusher, Storage};

/// The write phase's state, guarded by [`Writer`]'s mutex: holding it serializes writes,
/// so chunks reach storage in the order they were appended.
#[derive(Debug, Default)]
struct IoState {
    /// Per segment: the storage and the range written since its last sync.
    dirty: BTreeMap<u64, (Arc<dyn Storage>, Range<u64>)>,
    /// LSN just past the last byte written to storage.
    written_lsn: u64,
    /// The appends counter when the last written chunk was taken.
    appends_written: u64,
    /// The appends counter covered by the last successful flush.
    appends_flushed: u64,
    /// Set by [`Writer::close`]: the log is closed and writes nothing more.
    closed: bool,
    /// How far the segment being written is known written (data or zeros), as (segment,
    /// end, segment length): the zero-ahead of [`Shared::zero_ahead`].
    zeroed: Option<(u64, u64, u64)>,
}

/// How far ahead of the data the write phase writes zeros (see [`Shared::zero_ahead`]).
const ZERO_AHEAD: usize = 1 << 20;

/// The write phase: the only code that writes record bytes to segments once a log is
/// open, and the backend's flusher that makes them durable.
///
/// Invariants: chunks are written in append order (the whole queue is taken and written
/// front to back under the mutex; a chunk refused for lack of space goes back to the front
/// of the queue); `written_lsn` only grows; once closed, nothing is written.
#[derive(Debug)]
pub(crate) struct Writer {
    io: Mutex<IoState>,
    /// Mirror of `IoState::written_lsn`, for lock-free checks.
    written_lsn: AtomicU64,
    flusher: Arc<dyn Flusher>,
    /// Zeros to write ahead of the data, or empty when nothing is ever synced.
    zeros: Vec<u8>,
}

impl Writer {
    /// A writer whose storage is written up to `lsn`. `zero_ahead` is off when the log
    /// never syncs on its own (`FsyncSchedule::NoFsync`), where extent conversion costs
    /// nothing worth a copy.
    pub fn new(flusher: Arc<dyn Flusher>, lsn: u64, zero_ahead: bool) -> Self {
        Self {
            io: Mutex::new(IoState {
                written_lsn: lsn,
                ..IoState::default()
            }),
            written_lsn: AtomicU64::new(lsn),
            flusher,
            zeros: if zero_ahead {
                vec![0; ZERO_AHEAD]
            } else {
                Vec::new()
            },
        }
    }

    /// From now on every write fails with [`Error::Closed`] (see `Shared::seal`).
    pub fn close(&self) {
        lock(&self.io).closed = true;
    }
}

impl Shared {
    /// Fails with [`Error::Poisoned`] once a flush has failed.
    pub(crate) fn check_poison(&self) -> Result<()> {
        self.pipeline.commit.poison().check()
    }

    /// Records `err` as the failure that poisons the log (the first one wins) and returns
    /// the error every caller from now on sees.
    pub(crate) fn poison(&self, err: Error) -> Error {
        tracing::error!(error = %err, dir = %self.env.dir.display(), "the log is poisoned; reopen it to recover");
        self.env.stats.flush_failed();
        let (cause, first) = self.pipeline.commit.poison().set(err);
        if first {
            self.report_poisoned(&cause);
        }
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
        let mut io = lock(&self.pipeline.writer.io);
        if io.closed {
            return Err(Error::Closed);
        }
        // A failed write poisons the log under this lock and drops the chunks it took:
        // writing what was queued after them would put records behind a hole, which
        // recovery then cuts (with entries a reader saw) or refuses to open.
        self.check_poison()?;
        let (mut chunks, appends) = {
            let mut st = lock(&self.state);
            (st.pending.take(), self.env.stats.taken_for_write())
        };
        while let Some(chunk) = chunks.pop_front() {
            if let Err(e) = self.write_chunk(&mut io, &chunk) {
                return Err(self.write_failed(e, chunk, chunks));
            }
            if !chunk.bytes.is_empty() {
                self.chunk_written(chunk.bytes);
            }
        }
        io.appends_written = appends;
        Ok(())
    }

    fn write_chunk(&self, io: &mut IoState, chunk: &Chunk) -> Result<()> {
        let path = || self.env.dir.join(segment_file_name(chunk.to.id));
        if !chunk.bytes.is_empty() {
            chunk
                .to
                .storage
                .write_at(chunk.pos, &chunk.bytes)
                .map_err(|e| Error::io("write", path(), Some(chunk.pos), e))?;
            self.env.stats.wrote(chunk.bytes.len() as u64);
            let range = io
                .dirty
                .entry(chunk.to.id)
                .or_insert_with(|| (chunk.to.storage.clone(), chunk.pos..chunk.pos));
            range.1.start = range.1.start.min(chunk.pos);
            range.1.end = range.1.end.max(chunk.end());
            self.zero_ahead(io, chunk)
                .map_err(|e| Error::io("write zeros ahead", path(), Some(chunk.end()), e))?;
        }
        if chunk.seal {
            // The next chunk goes to a newer segment: this one must be durable first.
            chunk
                .to
                .storage
                .sync()
                .map_err(|e| self.poison(Error::io("sync (seal)", path(), None, e)))?;
            io.dirty.remove(&chunk.to.id);
        }
        io.written_lsn = io.written_lsn.max(chunk.lsn_end());
        self.pipeline
            .writer
            .written_lsn
            .store(io.written_lsn, Ordering::Release);
        Ok(())
    }

    /// Writes zeros over the next [`ZERO_AHEAD`] bytes after `chunk` once the data passes
    /// the zeros written before, and marks them dirty, so that the sync that follows
    /// converts a whole MiB of `fallocate`d, never-written blocks at once. Without it every
    /// sync of a 4 KiB append also converts the extent it wrote into: 0.69–0.87× of the
    /// rate into written blocks (`docs/measurements.md`, row 2). Only bytes past every
    /// record are zeroed: within a segment chunks are written in order, so the write end
    /// never passes the zeroed end, and what lies past it is never-written space (cut or
    /// erased by recovery) that reads as zeros anyway.
    fn zero_ahead(&self, io: &mut IoState, chunk: &Chunk) -> io::Result<()> {
        if self.pipeline.writer.zeros.is_empty() {
            return Ok(());
        }
        let (to, len) = match io.zeroed {
            Some((seg, to, len)) if seg == chunk.to.id => (to, len),
            _ => (chunk.end(), chunk.to.storage.len()?),
        };
        let from = chunk.end().max(to);
        let end = (chunk.end() + ZERO_AHEAD as u64).min(len);
        if chunk.end() + (ZERO_AHEAD as u64) / 2 <= to || from >= end {
            io.zeroed = Some((chunk.to.id, to, len));
            return Ok(());
        }
        chunk
            .to
            .storage
            .write_at(from, &self.pipeline.writer.zeros[..(end - from) as usize])?;
        if let Some((_, range)) = io.dirty.get_mut(&chunk.to.id) {
            range.end = range.end.max(end);
        }
        io.zeroed = Some((chunk.to.id, end, len));
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
            let lost = chunk.bytes.len() + rest.iter().map(|c| c.bytes.len()).sum::<usize>();
            lock(&self.state).pending.dropped(lost);
            return match err {
                Error::Poisoned { .. } => err,
                other => self.poison(other),
            };
        }
        tracing::warn!(error = %err, "write failed for lack of space; it will be retried");
        let mut requeued = rest;
        requeued.push_front(chunk);
        lock(&self.state).pending.requeue_front(requeued);
        err
    }

    fn chunk_written(&self, bytes: Vec<u8>) {
        let max = self.env.opts.buffering.write_buffer.saturating_mul(2);
        lock(&self.state).pending.written(bytes, max);
    }

    /// Makes sure the record ending at `lsn` has reached the operating system.
    pub(crate) fn ensure_written(&self, lsn: u64) -> Result<()> {
        if self.pipeline.writer.written_lsn.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        self.check_poison()?;
        self.write_pending()
    }

    /// Returns once every byte before `lsn` is durable, leading a flush if none is in
    /// flight (group commit: a flush covers every writer that queued while the previous
    /// one ran).
    pub(crate) fn wait_durable_lsn(&self, lsn: u64) -> Result<()> {
        self.pipeline
            .commit
            .wait(lsn, || self.guard_panic("flush", || self.flush_cycle()))?;
        // Readers blocked under `ReadVisibility::Durable` wait for durability, not for
        // appends (one atomic load when nobody is blocked).
        self.signals.tail.notify();
        Ok(())
    }

    /// One flush: write what is pending, then sync every dirty storage in one call to the
    /// backend's flusher. Returns the LSN that is now durable.
    fn flush_cycle(&self) -> Result<u64> {
        let _span = self.enter(tracing::debug_span!(parent: self.log_span(), "wal.flush"));
        let started = std::time::Instant::now();
        self.write_pending()?;
        let (requests, written, entries, covered) = {
            let mut io = lock(&self.pipeline.writer.io);
            let requests: Vec<FlushRequest> = std::mem::take(&mut io.dirty)
                .into_values()
                .map(|(storage, dirty)| FlushRequest { storage, dirty })
                .collect();
            let entries = io.appends_written - io.appends_flushed;
            io.appends_flushed = io.appends_written;
            (
                requests,
                io.written_lsn,
                entries,
                self.env.stats.flush_covers(),
            )
        };
        if requests.is_empty() {
            return Ok(written);
        }
        let results = self.pipeline.writer.flusher.flush(&requests);
        if results.len() != requests.len() {
            return Err(self.poison(Error::io(
                "sync",
                &self.env.dir,
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
        self.env
            .stats
            .flushed(requests.len() as u64, entries, started, covered);
        Ok(written)
    }

    /// The path of an open storage, for error messages.
    fn path_of(&self, storage: &Arc<dyn Storage>) -> std::path::PathBuf {
        let st = lock(&self.state);
        if Arc::ptr_eq(&st.active.storage, storage) {
            return st
                .segments
                .get(&st.active.id)
                .map_or_else(|| self.env.dir.clone(), |m| m.path.clone());
        }
        self.files.pool.id_of(storage).map_or_else(
            || self.env.dir.clone(),
            |id| self.env.dir.join(segment_file_name(id)),
        )
    }
}
