//! The background flush thread and the pool of open segment handles.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TrySendError};

use crate::config::FsyncSchedule;
use crate::error::Error;
use crate::segment::segment_file_name;
use crate::storage::Storage;
use crate::wal::{lock, Shared};

/// Messages to the background thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The append buffer is full: write it out.
    Write,
    /// A segment was sealed: see whether old segments can be deleted.
    Reclaim,
    /// The log is closing: stop.
    Shutdown,
}

/// Open segment handles, reused by readers and closed when idle.
#[derive(Debug)]
pub(crate) struct HandlePool {
    /// Most handles kept open; beyond it the least recently used idle one is closed.
    cap: usize,
    handles: Mutex<HashMap<u64, PooledHandle>>,
    /// Segments to delete once no handle refers to them, and whether the log is closed.
    doomed: Mutex<Doomed>,
    /// Readers' pins by segment id: a pinned segment is not deleted, nor any later one.
    pins: Mutex<HashMap<u64, usize>>,
}

/// The deletion queue. Deletion goes strictly from the front: a segment still in use holds
/// back every later one, so the ids on disk stay consecutive whatever a crash keeps.
#[derive(Debug, Default)]
struct Doomed {
    /// Ascending segment ids.
    ids: std::collections::BTreeSet<u64>,
    /// Set when the log closes: nothing is deleted any more.
    closed: bool,
}

/// Segments a reader is about to read: none of them (and no later one) is deleted until
/// the pin is dropped. Taken under the state lock together with the locations to read, so
/// that reclaim cannot delete a segment between the lookup and the read.
#[derive(Debug)]
pub(crate) struct Pins<'a> {
    pool: &'a HandlePool,
    ids: Vec<u64>,
}

impl Drop for Pins<'_> {
    fn drop(&mut self) {
        let mut pins = lock(&self.pool.pins);
        for id in &self.ids {
            if let Some(n) = pins.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(id);
                }
            }
        }
    }
}

#[derive(Debug)]
struct PooledHandle {
    storage: Arc<dyn Storage>,
    last_used: Instant,
}

impl Default for HandlePool {
    fn default() -> Self {
        Self::with_cap(64)
    }
}

impl HandlePool {
    /// A pool keeping at most `cap` handles open (busy handles are never closed).
    pub fn with_cap(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            handles: Mutex::default(),
            doomed: Mutex::default(),
            pins: Mutex::default(),
        }
    }

    /// Closes the least recently used handles nobody else holds until at most `cap` remain.
    fn trim(&self, handles: &mut HashMap<u64, PooledHandle>) {
        while handles.len() > self.cap {
            let lru = handles
                .iter()
                .filter(|(_, h)| Arc::strong_count(&h.storage) == 1)
                .min_by_key(|(_, h)| h.last_used)
                .map(|(&id, _)| id);
            match lru {
                Some(id) => handles.remove(&id),
                None => return, // every handle is in use
            };
        }
    }

    /// The handle of segment `id`, opening it with `open` if the pool has none.
    pub fn get(
        &self,
        id: u64,
        open: impl FnOnce() -> io::Result<Arc<dyn Storage>>,
    ) -> io::Result<Arc<dyn Storage>> {
        let mut handles = lock(&self.handles);
        if let Some(h) = handles.get_mut(&id) {
            h.last_used = Instant::now();
            return Ok(h.storage.clone());
        }
        let storage = open()?;
        handles.insert(
            id,
            PooledHandle {
                storage: storage.clone(),
                last_used: Instant::now(),
            },
        );
        self.trim(&mut handles);
        Ok(storage)
    }

    /// Adds a handle the engine opened itself.
    pub fn insert(&self, id: u64, storage: Arc<dyn Storage>) {
        let mut handles = lock(&self.handles);
        handles.insert(
            id,
            PooledHandle {
                storage,
                last_used: Instant::now(),
            },
        );
        self.trim(&mut handles);
    }

    /// The segment id of a pooled handle.
    pub fn id_of(&self, storage: &Arc<dyn Storage>) -> Option<u64> {
        lock(&self.handles)
            .iter()
            .find(|(_, h)| Arc::ptr_eq(&h.storage, storage))
            .map(|(&id, _)| id)
    }

    /// Closes handles idle for longer than `idle` that nobody else holds, except `keep`.
    pub fn evict_idle(&self, keep: u64, idle: Duration) -> usize {
        let now = Instant::now();
        let mut handles = lock(&self.handles);
        let before = handles.len();
        handles.retain(|&id, h| {
            id == keep
                || Arc::strong_count(&h.storage) > 1
                || now.duration_since(h.last_used) < idle
        });
        before - handles.len()
    }

    /// Number of handles held.
    pub fn len(&self) -> usize {
        lock(&self.handles).len()
    }

    /// Queues segment `id` for deletion once no handle refers to it.
    pub fn doom(&self, id: u64) {
        let mut doomed = lock(&self.doomed);
        if !doomed.closed {
            doomed.ids.insert(id);
        }
    }

    /// Pins segments `ids` against deletion until the returned guard is dropped.
    pub fn pin(&self, ids: impl IntoIterator<Item = u64>) -> Pins<'_> {
        let mut pins = lock(&self.pins);
        let ids: Vec<u64> = ids.into_iter().collect();
        for &id in &ids {
            *pins.entry(id).or_default() += 1;
        }
        Pins { pool: self, ids }
    }

    /// Takes the longest run of the oldest doomed segments that nobody holds or pins, in
    /// ascending order: a busy segment stops the run, so deletion never skips ahead.
    fn take_deletable(&self) -> Vec<u64> {
        let mut doomed = lock(&self.doomed);
        let mut handles = lock(&self.handles);
        let pins = lock(&self.pins);
        let mut ready = Vec::new();
        while let Some(&id) = doomed.ids.first() {
            let held = handles
                .get(&id)
                .is_some_and(|h| Arc::strong_count(&h.storage) > 1);
            if held || pins.contains_key(&id) {
                break;
            }
            doomed.ids.pop_first();
            handles.remove(&id);
            ready.push(id);
        }
        ready
    }

    /// Puts segments back in the queue after a failed deletion.
    fn requeue(&self, ids: impl IntoIterator<Item = u64>) {
        let mut doomed = lock(&self.doomed);
        if !doomed.closed {
            doomed.ids.extend(ids);
        }
    }

    /// The log is closing: forget the deletion queue (the next open reclaims again) and
    /// close every handle, so that nothing this log does later can touch the directory.
    pub fn close(&self) {
        let mut doomed = lock(&self.doomed);
        doomed.closed = true;
        doomed.ids.clear();
        lock(&self.handles).clear();
    }
}

impl Shared {
    /// Asks the background thread to write the buffer out.
    pub(crate) fn wake_writer(&self) {
        // The flag survives a full channel: the one queued wake-up may be a `Reclaim`,
        // and the thread writes after every wake-up while the flag is set.
        self.write_wanted
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake_with(Wake::Write);
    }

    /// Asks the background thread to look for segments to delete.
    pub(crate) fn wake_reclaimer(&self) {
        self.wake_with(Wake::Reclaim);
    }

    fn wake_with(&self, msg: Wake) {
        match self.wake.try_send(msg) {
            // Full: a wake-up is already queued, which is all we need.
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                tracing::debug!("background thread gone; the buffer is written on close");
            }
        }
    }

    /// Deletes doomed segments that no reader holds, oldest first, syncing the directory
    /// after each removal: on a file system without a journal, removals not yet synced may
    /// persist in any order, and a later segment gone while an earlier one is back would be
    /// a gap in the log. On a failure the rest waits for the next round.
    pub(crate) fn delete_doomed(&self) {
        let ready = self.pool.take_deletable();
        for (i, &id) in ready.iter().enumerate() {
            let path = self.dir.join(segment_file_name(id));
            let removed = match self.backend.remove(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()), // done by an earlier try
                other => other,
            };
            let synced = removed.and_then(|()| self.backend.sync_dir(&self.dir));
            if let Err(e) = synced {
                // Retry from here: removing an already removed file is a no-op.
                tracing::warn!(error = %e, path = %path.display(), "could not delete a segment; will retry");
                self.pool.requeue(ready[i..].iter().copied());
                return;
            }
        }
    }
}

/// Starts the background thread.
pub(crate) fn spawn(shared: Arc<Shared>, rx: Receiver<Wake>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wal-flush".into())
        .spawn(move || run(&shared, &rx))
}

/// The loop: wake on the schedule (or when the buffer fills), write or flush, then do the
/// housekeeping. Blocks in `recv_timeout` between rounds; never spins.
fn run(shared: &Shared, rx: &Receiver<Wake>) {
    let (tick, sync_on_tick) = match shared.opts.fsync {
        FsyncSchedule::Milliseconds(n) => (Duration::from_millis(n.max(1)), true),
        FsyncSchedule::SyncEach | FsyncSchedule::NoFsync => (shared.opts.write_interval, false),
    };
    // Never more often than every 10 ms, whatever the idle timeout: the loop must not spin.
    let housekeeping_every = shared
        .opts
        .idle_handle_timeout
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut next_tick = after(Instant::now(), tick);
    let mut next_housekeeping = after(Instant::now(), housekeeping_every);
    loop {
        let timeout = next_tick
            .min(next_housekeeping)
            .saturating_duration_since(Instant::now());
        let round = shared.guard_panic("background round", || {
            let woken = rx.recv_timeout(timeout);
            let result = match woken {
                Ok(Wake::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Closed)
                }
                Ok(Wake::Write) => Ok(()),
                Ok(Wake::Reclaim) => prepare_and_reclaim(shared),
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    let mut result = Ok(());
                    if now >= next_tick {
                        next_tick = after(now, tick);
                        result = if sync_on_tick {
                            let target = lock(&shared.state).lsn_end();
                            shared.wait_durable_lsn(target)
                        } else {
                            shared.write_pending()
                        };
                    }
                    if now >= next_housekeeping {
                        next_housekeeping = after(now, housekeeping_every);
                        housekeeping(shared);
                    }
                    result
                }
            };
            let wanted = shared
                .write_wanted
                .swap(false, std::sync::atomic::Ordering::AcqRel);
            match result {
                Ok(()) if wanted => shared.write_pending(),
                other => other,
            }
        });
        let result = match round {
            Err(Error::Closed) => return,
            other => other,
        };
        if let Err(e) = result {
            // Write and sync failures have poisoned the log already (and were logged there);
            // a full disk is retried on the next round.
            if shared.poison.get().is_some() {
                tracing::debug!(error = %e, "background flush stopped: the log is poisoned");
                return;
            }
            tracing::warn!(error = %e, "background flush failed; retrying on the next round");
        }
    }
}

/// `now + interval`, or a day from now when that is not representable (an interval of
/// `Duration::MAX` or `Milliseconds(u64::MAX)` means "practically never").
fn after(now: Instant, interval: Duration) -> Instant {
    now.checked_add(interval)
        .unwrap_or_else(|| now + Duration::from_secs(86_400))
}

/// After a rollover or once the active segment is half full: prepare the next segment,
/// then delete what nothing needs.
fn prepare_and_reclaim(shared: &Shared) -> crate::error::Result<()> {
    if shared
        .spare_wanted
        .load(std::sync::atomic::Ordering::Acquire)
    {
        if let Err(e) = shared.prepare_spare() {
            tracing::warn!(error = %e, "could not prepare the next segment; rollover will create it");
        }
    }
    shared.reclaim().map(|_| ())
}

fn housekeeping(shared: &Shared) {
    let active = lock(&shared.state).active.id;
    let closed = shared
        .pool
        .evict_idle(active, shared.opts.idle_handle_timeout);
    if closed > 0 {
        tracing::debug!(closed, "closed idle segment handles");
    }
    if let Err(e) = prepare_and_reclaim(shared) {
        tracing::warn!(error = %e, "reclaiming old segments failed; will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::any::Any;

    #[derive(Debug)]
    struct Nothing;

    impl Storage for Nothing {
        fn write_at(&self, _: u64, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn read_at(&self, _: u64, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn len(&self) -> io::Result<u64> {
            Ok(0)
        }
        fn sync(&self) -> io::Result<()> {
            Ok(())
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn a_held_or_pinned_segment_holds_back_every_later_deletion() {
        let pool = HandlePool::default();
        let held = pool.get(1, || Ok(Arc::new(Nothing))).unwrap();
        for id in [3, 1, 2] {
            pool.doom(id);
        }
        assert!(
            pool.take_deletable().is_empty(),
            "skipped past a held segment"
        );
        drop(held);
        let pin = pool.pin([2]);
        assert_eq!(pool.take_deletable(), vec![1]);
        assert!(
            pool.take_deletable().is_empty(),
            "skipped past a pinned segment"
        );
        drop(pin);
        assert_eq!(pool.take_deletable(), vec![2, 3]);
    }

    #[test]
    fn doomed_segment_waits_for_its_last_handle() {
        let pool = HandlePool::default();
        let held = pool.get(3, || Ok(Arc::new(Nothing))).unwrap();
        pool.doom(3);
        assert!(
            pool.take_deletable().is_empty(),
            "deleted while a reader held it"
        );
        drop(held);
        assert_eq!(pool.take_deletable(), vec![3]);
        assert_eq!(pool.len(), 0, "the handle is closed before deletion");
        assert!(pool.take_deletable().is_empty());
    }

    #[test]
    fn idle_handles_are_evicted_but_not_the_active_or_busy_ones() {
        let pool = HandlePool::default();
        for id in 1..=3 {
            pool.insert(id, Arc::new(Nothing));
        }
        let busy = pool.get(2, || unreachable!("pooled")).unwrap();
        assert_eq!(pool.evict_idle(3, Duration::ZERO), 1);
        assert_eq!(pool.len(), 2);
        drop(busy);
        assert_eq!(pool.evict_idle(3, Duration::ZERO), 1);
        assert_eq!(pool.evict_idle(3, Duration::from_secs(60)), 0);
        assert_eq!(pool.len(), 1);
    }
}
