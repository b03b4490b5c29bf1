//! Group commit: one flush in flight at a time, and everybody who needs durability waits
//! for the flush that covers them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use crate::error::Result;
use crate::lock::lock;
use crate::notify::DurableWatchers;
use crate::poison::Poison;

/// Where the sync phase stands. Guarded by [`GroupCommit`]'s mutex, which is never held
/// across I/O and never taken with another engine lock held.
#[derive(Debug)]
struct Progress {
    durable_lsn: u64,
    flush_in_flight: bool,
}

/// The meeting point of a flush leader and its waiters.
///
/// Invariants: `durable_lsn` only grows, and only from a flush that returned `Ok` (it never
/// claims more than was synced); at most one flush is in flight, and whoever set
/// `flush_in_flight` clears it and wakes every waiter, whatever the flush returned, then
/// (with this lock released) fires the `on_durable` callbacks the flush covered, or fails
/// them all if the flush poisoned the log.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Mirror of `Progress::durable_lsn`, for lock-free reads.
    durable_lsn: AtomicU64,
    /// Set by the first failure after which nothing unsynced can be trusted.
    poison: Poison,
    /// `on_durable` callbacks, fired where the durable LSN advances.
    watchers: DurableWatchers,
}

impl GroupCommit {
    /// Everything before `lsn` is durable (what recovery found).
    pub fn new(lsn: u64) -> Self {
        Self {
            progress: Mutex::new(Progress {
                durable_lsn: lsn,
                flush_in_flight: false,
            }),
            changed: Condvar::new(),
            durable_lsn: AtomicU64::new(lsn),
            poison: Poison::default(),
            watchers: DurableWatchers::default(),
        }
    }

    /// The `on_durable` callbacks waiting for the durable LSN.
    pub fn watchers(&self) -> &DurableWatchers {
        &self.watchers
    }

    /// The log's poison: once set, nothing not yet durable can be made durable.
    pub fn poison(&self) -> &Poison {
        &self.poison
    }

    /// Everything before this LSN is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.durable_lsn.load(Ordering::Acquire)
    }

    /// Returns once every byte before `lsn` is durable. Leads a flush with `flush` (which
    /// returns the LSN it made durable) if none is in flight, else waits for the one in
    /// flight and goes again if it did not cover `lsn`: a flush covers every writer that
    /// queued while the previous one ran. Data synced before a failure stays durable, so
    /// only what is not yet durable is refused once the poison is set.
    pub fn wait(&self, lsn: u64, flush: impl Fn() -> Result<u64>) -> Result<()> {
        let mut p = lock(&self.progress);
        loop {
            if p.durable_lsn >= lsn {
                return Ok(());
            }
            self.poison.check()?;
            if !p.flush_in_flight {
                p.flush_in_flight = true;
                drop(p);
                let result = flush();
                p = lock(&self.progress);
                p.flush_in_flight = false;
                if let Ok(durable) = result {
                    p.durable_lsn = p.durable_lsn.max(durable);
                    self.durable_lsn.store(p.durable_lsn, Ordering::Release);
                }
                self.changed.notify_all();
                drop(p);
                // With no lock held: a callback may call into the log.
                match &result {
                    Ok(_) => self.watchers.fire(self.durable_lsn()),
                    Err(_) => self.watchers.fail(&self.poison),
                }
                if result? >= lsn {
                    return Ok(());
                }
                p = lock(&self.progress);
                continue;
            }
            p = self
                .changed
                .wait(p)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Many threads wait for LSNs that a slow flush covers in steps: every wait returns,
    /// each covered by a flush that really reached its LSN, and no flush is left in flight.
    #[test]
    fn every_waiter_returns_once_covered_and_flushes_are_shared() {
        let gc = Arc::new(GroupCommit::new(0));
        let appended = Arc::new(AtomicU64::new(0));
        let flushes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gc, appended, flushes) = (gc.clone(), appended.clone(), flushes.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let lsn = appended.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.wait(lsn, || {
                            flushes.fetch_add(1, Ordering::SeqCst);
                            let upto = appended.load(Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_micros(50));
                            Ok(upto)
                        })
                        .unwrap();
                        assert!(gc.durable_lsn() >= lsn);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(gc.durable_lsn(), 1600);
        assert!(!lock(&gc.progress).flush_in_flight);
        assert!(flushes.load(Ordering::SeqCst) >= 1);
    }

    /// A failed flush wakes every waiter, and each sees the error or the poison.
    #[test]
    fn a_failed_flush_reaches_every_waiter() {
        let gc = Arc::new(GroupCommit::new(0));
        let threads: Vec<_> = (1..=6u64)
            .map(|lsn| {
                let gc = gc.clone();
                std::thread::spawn(move || {
                    gc.wait(lsn, || {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        let err = crate::Error::Closed;
                        gc.poison().set(crate::Error::Closed);
                        Err(err)
                    })
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap().is_err());
        }
        assert!(!lock(&gc.progress).flush_in_flight);
    }
}
