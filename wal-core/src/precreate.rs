//! The next segment, created ahead of time.
//!
//! Creating a segment in the append path costs a file creation and a directory sync
//! (0.26–0.6 ms, `docs/measurements.md` row 9). So once the active segment is half full,
//! the background thread creates the next one (its blocks reserved), writes its header,
//! syncs it and the directory, and parks it here; rollover takes it. The segment is not
//! zero-filled here: the write phase writes zeros a MiB ahead of the data instead
//! (`Shared::zero_ahead`), which spreads that cost and covers the first segment too.
//! A spare left at a crash is a trailing segment with nothing after its header, which
//! recovery removes. Either way a segment's header is durable before its first record is
//! written.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::lock::lock;
use crate::segment::{segment_file_name, write_durable_header, write_header};
use crate::shared::Shared;
use crate::storage::Storage;

/// A prepared segment file.
#[derive(Debug)]
pub(crate) struct Spare {
    pub id: u64,
    pub storage: Arc<dyn Storage>,
}

/// The pre-creator's slot: the prepared segment, if any, and whether the log is closed
/// (then no segment file is created any more, by preparation or by rollover).
#[derive(Debug, Default)]
struct SpareSlot {
    spare: Option<Spare>,
    closed: bool,
}

/// The segment made ahead of time, and the requests for it.
///
/// Invariants: a spare's id is `active_id + 1` when rollover takes it (a stale one is
/// removed); preparation and rollover never both create a file, because rollover holds the
/// slot's lock from its choice to the creation, and sets `active_id` under it; once closed,
/// no segment file is created. Lock order: the state lock, then the slot's.
#[derive(Debug)]
pub(crate) struct Precreator {
    slot: Mutex<SpareSlot>,
    /// Mirror of the active segment's id, readable without the state lock.
    active_id: AtomicU64,
    /// Set once the background thread was asked to prepare the next segment.
    wanted: AtomicBool,
}

impl Precreator {
    /// A pre-creator for a log whose active segment is `active_id`.
    pub fn new(active_id: u64) -> Self {
        Self {
            slot: Mutex::default(),
            active_id: AtomicU64::new(active_id),
            wanted: AtomicBool::new(false),
        }
    }

    /// Asks for the next segment; `true` if it was not asked for already (then the caller
    /// wakes the background thread).
    pub fn request(&self) -> bool {
        !self.wanted.swap(true, Ordering::AcqRel)
    }

    /// Whether the next segment was asked for.
    pub fn requested(&self) -> bool {
        self.wanted.load(Ordering::Acquire)
    }

    /// Closes the slot; returns the prepared segment's id, if any (left as a segment with
    /// nothing after its header, which the next open removes).
    pub fn close(&self) -> Option<u64> {
        let mut slot = lock(&self.slot);
        slot.closed = true;
        slot.spare.take().map(|s| s.id)
    }
}

impl Shared {
    /// Creates the segment after the active one, if it is not ready yet.
    /// Runs on the background thread; a failure only means rollover creates the segment
    /// itself.
    pub(crate) fn prepare_spare(&self) -> Result<()> {
        if !self.env.opts.files.precreate {
            return Ok(());
        }
        let pre = &self.files.precreator;
        let mut slot = lock(&pre.slot);
        if slot.closed {
            return Ok(());
        }
        // Read without the state lock (lock order is state, then slot).
        let id = pre.active_id.load(Ordering::Acquire) + 1;
        if slot.spare.as_ref().is_some_and(|s| s.id == id) {
            return Ok(());
        }
        if let Some(stale) = slot.spare.take() {
            self.remove_spare_file(stale.id);
        }
        let path = self.env.dir.join(segment_file_name(id));
        let storage = self
            .env
            .backend
            .create(&path, self.env.opts.limits.segment_size)
            .map_err(|e| Error::io("create segment ahead of time", &path, None, e))?;
        if let Err(e) = write_durable_header(&*storage, id) {
            // Only this new file's bytes are in doubt, and it goes: nothing else to distrust.
            drop(storage);
            self.remove_spare_file(id);
            return Err(Error::io("prepare segment", &path, None, e));
        }
        if let Err(e) = self.env.backend.sync_dir(&self.env.dir) {
            // The directory, which holds every segment, can no longer be trusted (a later
            // sync may succeed without what this one failed to write): as with any failed
            // sync, stop until the log is reopened. The unused file, if it persists, is an
            // unwritten trailing segment, which recovery removes.
            return Err(self.poison(Error::io("sync directory", &self.env.dir, None, e)));
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
        let pre = &self.files.precreator;
        let mut slot = lock(&pre.slot);
        if slot.closed {
            return Err(Error::Closed);
        }
        // Nothing new is written to a poisoned log (a failed preparation may also have
        // left the next segment's file behind).
        self.check_poison()?;
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
                    let storage = self
                        .env
                        .backend
                        .create(path, self.env.opts.limits.segment_size)
                        .map_err(|e| Error::io("create segment", path, None, e))?;
                    if let Err(e) = write_header(&*storage, id) {
                        // Nothing of the log is in the new file: it goes, and a full disk
                        // is a typed error like a failed creation (the entry takes no
                        // offset). Any other failed write poisons, as in the write phase.
                        drop(storage);
                        self.remove_spare_file(id);
                        let err = Error::io("write segment header", path, Some(0), e);
                        return Err(if err.io_kind() == Some(std::io::ErrorKind::StorageFull) {
                            err
                        } else {
                            self.poison(err)
                        });
                    }
                    storage.sync().map_err(|e| {
                        self.poison(Error::io("sync segment header", path, None, e))
                    })?;
                    Ok(storage)
                })?;
                let synced = self.guard_panic("sync directory", || {
                    Ok(self.env.backend.sync_dir(&self.env.dir))
                })?;
                if let Err(e) = synced {
                    // The file exists but its directory entry may not be durable: as with
                    // any failed sync, stop trusting the log until it is reopened.
                    return Err(self.poison(Error::io("sync directory", &self.env.dir, None, e)));
                }
                storage
            }
        };
        // Set while the spare lock is held: preparation reads it under the same lock.
        pre.active_id.store(id, Ordering::Release);
        pre.wanted.store(false, Ordering::Release);
        Ok(storage)
    }

    /// Removes an unused spare (at close), so a closed log holds only its data.
    pub(crate) fn discard_spare(&self) -> Result<()> {
        let Some(spare) = lock(&self.files.precreator.slot).spare.take() else {
            return Ok(());
        };
        drop(spare.storage);
        let path = self.env.dir.join(segment_file_name(spare.id));
        self.env
            .backend
            .remove(&path)
            .map_err(|e| Error::io("remove unused segment", &path, None, e))?;
        self.env
            .backend
            .sync_dir(&self.env.dir)
            .map_err(|e| Error::io("sync directory", &self.env.dir, None, e))
    }

    fn remove_spare_file(&self, id: u64) {
        let path = self.env.dir.join(segment_file_name(id));
        if let Err(e) = self.env.backend.remove(&path) {
            // Harmless: an all-zero trailing segment is removed by the next recovery.
            tracing::warn!(error = %e, path = %path.display(), "could not remove an unused segment");
        }
    }
}
