//! The next segment, created ahead of time and zero-filled.
//!
//! Two reasons (`LIMITS.md`): a sync after writing into `fallocate`d, never-written blocks
//! also converts those extents (about 4.8k syncs/s for 4 KiB appends, against 10k/s into
//! written blocks), and creating a segment in the append path costs a file creation and a
//! directory sync (0.25 ms; zero-filling 64 MiB would cost 35 ms or more). So once the
//! active segment is half full, the background thread creates the next one, writes its
//! zeros, syncs it and the directory, and parks it here; rollover takes it. A spare left
//! at a crash is an all-zero trailing segment, which recovery removes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::segment::segment_file_name;
use crate::storage::Storage;
use crate::wal::{lock, Shared};

/// A prepared segment file.
#[derive(Debug)]
pub(crate) struct Spare {
    pub id: u64,
    pub storage: Arc<dyn Storage>,
}

/// The pre-creator's slot, guarded by `Shared::spare`: the prepared segment, if any, and
/// whether the log is closed (then no segment file is created any more, by preparation or
/// by rollover).
#[derive(Debug, Default)]
pub(crate) struct SpareSlot {
    spare: Option<Spare>,
    closed: bool,
}

impl SpareSlot {
    /// Closes the slot; returns the prepared segment, if any, for the caller to discard.
    pub fn close(&mut self) -> Option<Spare> {
        self.closed = true;
        self.spare.take()
    }
}

const ZERO_CHUNK: usize = 1 << 20;

impl Shared {
    /// Creates and zero-fills the segment after the active one, if it is not ready yet.
    /// Runs on the background thread; a failure only means rollover creates the segment
    /// itself.
    pub(crate) fn prepare_spare(&self) -> Result<()> {
        if !self.opts.precreate_segments {
            return Ok(());
        }
        let mut slot = lock(&self.spare);
        if slot.closed {
            return Ok(());
        }
        // Read without the state lock (lock order is state, then spare).
        let id = self.active_id.load(Ordering::Acquire) + 1;
        if slot.spare.as_ref().is_some_and(|s| s.id == id) {
            return Ok(());
        }
        if let Some(stale) = slot.spare.take() {
            self.remove_spare_file(stale.id);
        }
        let path = self.dir.join(segment_file_name(id));
        let storage = self
            .backend
            .create(&path, self.opts.segment_size)
            .map_err(|e| Error::io("create segment ahead of time", &path, None, e))?;
        let filled = zero_fill(&*storage, self.opts.segment_size)
            .and_then(|()| storage.sync())
            .and_then(|()| self.backend.sync_dir(&self.dir));
        if let Err(e) = filled {
            drop(storage);
            self.remove_spare_file(id);
            return Err(Error::io("prepare segment", &path, None, e));
        }
        tracing::debug!(segment = id, "next segment prepared");
        slot.spare = Some(Spare { id, storage });
        Ok(())
    }

    /// The storage of new segment `id` for rollover (called with the state lock held): the
    /// prepared one if it is ready, else a file created now. Holds the spare lock
    /// throughout (waiting for a preparation in progress), so that preparation and
    /// rollover never both create the same file.
    pub(crate) fn next_segment(&self, id: u64, path: &std::path::Path) -> Result<Arc<dyn Storage>> {
        let mut slot = lock(&self.spare);
        if slot.closed {
            return Err(Error::Closed);
        }
        let prepared = match slot.spare.take() {
            Some(s) if s.id == id => Some(s.storage),
            Some(stale) => {
                self.remove_spare_file(stale.id);
                None
            }
            None => None,
        };
        let storage = match prepared {
            Some(storage) => storage,
            None => {
                let storage = self.guard_panic("create segment", || {
                    self.backend
                        .create(path, self.opts.segment_size)
                        .map_err(|e| Error::io("create segment", path, None, e))
                })?;
                let synced =
                    self.guard_panic("sync directory", || Ok(self.backend.sync_dir(&self.dir)))?;
                if let Err(e) = synced {
                    // The file exists but its directory entry may not be durable: as with
                    // any failed sync, stop trusting the log until it is reopened.
                    return Err(self.poison(Error::io("sync directory", &self.dir, None, e)));
                }
                storage
            }
        };
        // Set while the spare lock is held: preparation reads it under the same lock.
        self.active_id.store(id, Ordering::Release);
        Ok(storage)
    }

    /// Removes an unused spare (at close), so a closed log holds only its data.
    pub(crate) fn discard_spare(&self) -> Result<()> {
        let Some(spare) = lock(&self.spare).spare.take() else {
            return Ok(());
        };
        drop(spare.storage);
        let path = self.dir.join(segment_file_name(spare.id));
        self.backend
            .remove(&path)
            .map_err(|e| Error::io("remove unused segment", &path, None, e))?;
        self.backend
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("sync directory", &self.dir, None, e))
    }

    fn remove_spare_file(&self, id: u64) {
        let path = self.dir.join(segment_file_name(id));
        if let Err(e) = self.backend.remove(&path) {
            // Harmless: an all-zero trailing segment is removed by the next recovery.
            tracing::warn!(error = %e, path = %path.display(), "could not remove an unused segment");
        }
    }
}

fn zero_fill(storage: &dyn Storage, len: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut pos = 0;
    while pos < len {
        let n = (len - pos).min(ZERO_CHUNK as u64) as usize;
        storage.write_at(pos, &zeros[..n])?;
        pos += n as u64;
    }
    Ok(())
}
