//! Open segment handles, shared by readers and closed when idle, and the queue of segments
//! to delete once no reader needs them.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lock::lock;
use crate::storage::Storage;

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
    /// Held by whoever is deleting (the background thread or a `reclaim()` caller), from
    /// taking the run of deletable segments to the last directory sync: with two deleters
    /// at once the second could remove later segments while the first still works on
    /// earlier ones. Outermost of the pool's locks.
    deleting: Mutex<()>,
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
            deleting: Mutex::default(),
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
            let storage = h.storage.clone();
            // Handles inserted while in use (segments being written) may have left the
            // pool over its cap; close the idle ones now that they may be idle.
            self.trim(&mut handles);
            return Ok(storage);
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

    /// Serialises deleters: hold the guard from [`HandlePool::take_deletable`] until the
    /// last of those segments is removed and the directory synced.
    pub fn deleter(&self) -> std::sync::MutexGuard<'_, ()> {
        lock(&self.deleting)
    }

    /// Takes the longest run of the oldest doomed segments that nobody holds or pins, in
    /// ascending order: a busy segment stops the run, so deletion never skips ahead.
    pub fn take_deletable(&self) -> Vec<u64> {
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
    pub fn requeue(&self, ids: impl IntoIterator<Item = u64>) {
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

    /// `true` once [`HandlePool::close`] ran: reads refuse from then on.
    pub fn is_closed(&self) -> bool {
        lock(&self.doomed).closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::any::Any;
    use std::io;

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
