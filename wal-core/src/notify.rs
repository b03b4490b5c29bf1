//! Durability notifications ([`crate::Wal::on_durable`]): callbacks that run once what was
//! appended before their registration is durable, so that an async caller never blocks a
//! thread and many appends share one sync.
//!
//! The queue lives in [`crate::commit::GroupCommit`], which fires it at the one point
//! where the durable LSN advances (after a flush) and fails it when a flush poisons the
//! log. The background thread asks for a sync while anything waits, whatever the fsync
//! schedule, and fails the queue when it stops on a poisoned log; closing the log fails
//! what is left with [`Error::Closed`].

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::lock::lock;
use crate::poison::Poison;

/// A registered callback.
pub(crate) type Callback = Box<dyn FnOnce(Result<()>) + Send + 'static>;

/// What a callback is told.
enum Outcome {
    Durable,
    Poisoned(Arc<Error>),
    Closed,
}

impl Outcome {
    fn into_result(self) -> Result<()> {
        match self {
            Self::Durable => Ok(()),
            Self::Poisoned(cause) => Err(Error::Poisoned { cause }),
            Self::Closed => Err(Error::Closed),
        }
    }
}

#[derive(Default)]
struct Queue {
    /// Callbacks not yet answered, by the LSN they wait for (ascending; equal LSNs in
    /// registration order).
    waiting: VecDeque<(u64, Callback)>,
    /// Answered callbacks not yet called, in the order they must be called.
    ready: VecDeque<(Callback, Outcome)>,
    /// A thread is calling the ready callbacks: others leave new ones to it.
    firing: bool,
    /// The log is closed: registrations are answered with the error at once.
    closed: bool,
}

/// The callbacks waiting for the durable LSN to reach theirs.
///
/// Invariants:
/// - every registered callback is called exactly once: with `Ok` once the durable LSN
///   covers its LSN, or with the error that ended the log (its poison, or
///   [`Error::Closed`]); once closed, the queue answers every registration at once;
/// - callbacks are called by one thread at a time, without this queue's lock or
///   `GroupCommit`'s (a flush leader inside a checkpointed read still holds its cursor's
///   lock), in the order they were answered: the `Ok`s in LSN order. A thread that
///   answers callbacks while another is calling them leaves them to that thread, so a
///   callback that registers another never deadlocks on this queue;
/// - no registration is stranded: a registration checks the durable LSN under the lock
///   and queues itself there, and whoever raises the durable LSN publishes it before it
///   takes the lock to fire.
#[derive(Default)]
pub(crate) struct DurableWatchers {
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for DurableWatchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = lock(&self.queue);
        f.debug_struct("DurableWatchers")
            .field("waiting", &q.waiting.len())
            .field("ready", &q.ready.len())
            .field("closed", &q.closed)
            .finish()
    }
}

impl DurableWatchers {
    /// Calls `callback` once everything before `lsn` is durable (`durable` reads the
    /// durable LSN), at once if it is already, or the log is closed or poisoned.
    pub fn register(
        &self,
        lsn: u64,
        durable: impl FnOnce() -> u64,
        poison: &Poison,
        callback: Callback,
    ) {
        let mut q = lock(&self.queue);
        if q.closed {
            q.ready.push_back((callback, Outcome::Closed));
        } else {
            let durable = durable();
            // Earlier registrations that are durable too go first: `Ok`s in LSN order.
            move_durable(&mut q, durable);
            if durable >= lsn {
                q.ready.push_back((callback, Outcome::Durable));
            } else if let Some(cause) = poison.cause() {
                q.ready.push_back((callback, Outcome::Poisoned(cause)));
            } else {
                let at = q.waiting.partition_point(|(l, _)| *l <= lsn);
                q.waiting.insert(at, (lsn, callback));
                return;
            }
        }
        self.call_ready(q);
    }

    /// The durable LSN is now `durable`: calls every callback it covers.
    pub fn fire(&self, durable: u64) {
        let mut q = lock(&self.queue);
        move_durable(&mut q, durable);
        self.call_ready(q);
    }

    /// If `poison` is set, tells every waiting callback (a flush failed without poisoning
    /// the log, such as a full disk, leaves them waiting for the next one).
    pub fn fail(&self, poison: &Poison) {
        if let Some(cause) = poison.cause() {
            self.answer_all(|| Outcome::Poisoned(cause.clone()), false);
        }
    }

    /// The log is closing: tells every waiting callback (with the poison if there is one,
    /// else [`Error::Closed`]), and every later registration at once.
    pub fn close(&self, poison: &Poison) {
        match poison.cause() {
            Some(cause) => self.answer_all(|| Outcome::Poisoned(cause.clone()), true),
            None => self.answer_all(|| Outcome::Closed, true),
        }
    }

    /// The highest LSN a callback waits for, if any waits: what the next sync must cover.
    pub fn wanted(&self) -> Option<u64> {
        lock(&self.queue).waiting.back().map(|(lsn, _)| *lsn)
    }

    fn answer_all(&self, outcome: impl Fn() -> Outcome, close: bool) {
        let mut q = lock(&self.queue);
        q.closed |= close;
        while let Some((_, callback)) = q.waiting.pop_front() {
            q.ready.push_back((callback, outcome()));
        }
        self.call_ready(q);
    }

    /// Calls the ready callbacks unless another thread is at it, releasing the lock
    /// around each batch.
    fn call_ready<'a>(&'a self, mut q: MutexGuard<'a, Queue>) {
        if q.firing {
            return;
        }
        q.firing = true;
        loop {
            let batch = std::mem::take(&mut q.ready);
            if batch.is_empty() {
                q.firing = false;
                return;
            }
            drop(q);
            for (callback, outcome) in batch {
                // A panicking callback must not leave `firing` set (every later callback
                // would wait forever) nor unwind through the flush that fired it.
                let result = outcome.into_result();
                if catch_unwind(AssertUnwindSafe(move || callback(result))).is_err() {
                    tracing::error!("an on_durable callback panicked");
                }
            }
            q = lock(&self.queue);
        }
    }
}

/// Moves the waiting callbacks that `durable` covers to the ready ones.
fn move_durable(q: &mut Queue, durable: u64) {
    while q.waiting.front().is_some_and(|(lsn, _)| *lsn <= durable) {
        if let Some((_, callback)) = q.waiting.pop_front() {
            q.ready.push_back((callback, Outcome::Durable));
        }
    }
}

impl<S> crate::wal::Wal<S> {
    /// Calls `callback` once everything appended to this log before the call (entries of
    /// every topic, truncations, metadata, cursor moves) is durable, with `Ok(())`; or with
    /// the error that poisoned the log ([`Error::Poisoned`]), or [`Error::Closed`] if the
    /// log closes (or is abandoned) first. It is called exactly once.
    ///
    /// This never blocks: it asks the log's background thread for a sync, at once and
    /// under every [`crate::FsyncSchedule`] (`NoFsync` and `Milliseconds(n)` included), and
    /// returns. Registrations made while a sync runs share the next one (group commit), so
    /// an async caller can append, register and carry on without holding a thread.
    ///
    /// The callback runs on the thread whose flush made the data durable: usually the
    /// background thread, sometimes a caller of [`crate::Wal::sync`] or of a `SyncEach`
    /// append that led the flush. When the answer is known at once (the data is durable
    /// already, or the log is poisoned), this caller runs it before returning, unless
    /// another thread is running callbacks at that moment, which then runs it too.
    /// Callbacks run one at a time, those answered `Ok` in the order of the positions they
    /// wait for. A callback must not block (hand the result on: send it on a channel, wake
    /// a task); a panic in it is caught and logged.
    ///
    /// ```
    /// use std::sync::{mpsc, Arc};
    /// use wal_core::{FsyncSchedule, WalBuilder};
    ///
    /// # fn main() -> wal_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(Arc::new(wal_backend_std::StdBackend::default()))
    ///     .fsync(FsyncSchedule::NoFsync)
    ///     .open()?;
    /// let (tx, rx) = mpsc::channel();
    /// for i in 0..3u64 {
    ///     let offset = wal.append_for_topic("raft", b"entry")?;
    ///     let tx = tx.clone();
    ///     wal.on_durable(move |result| tx.send((offset, result.is_ok())).unwrap());
    /// }
    /// let told: Vec<_> = rx.iter().take(3).collect();
    /// assert_eq!(told, [(0, true), (1, true), (2, true)]);
    /// # Ok(()) }
    /// ```
    pub fn on_durable(&self, callback: impl FnOnce(Result<()>) + Send + 'static) {
        let shared = &self.shared;
        let lsn = lock(&shared.state).lsn_end();
        let commit = &shared.pipeline.commit;
        commit.watchers().register(
            lsn,
            || commit.durable_lsn(),
            commit.poison(),
            Box::new(callback),
        );
        if commit.durable_lsn() < lsn {
            shared.signals.doorbell.ring_durable();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<(u32, bool)>>>;

    fn recorder(log: &Log, id: u32) -> Callback {
        let log = log.clone();
        Box::new(move |r| lock(&log).push((id, r.is_ok())))
    }

    #[test]
    fn callbacks_fire_once_in_lsn_order_when_covered() {
        let w = DurableWatchers::default();
        let poison = Poison::default();
        let log = Log::default();
        w.register(300, || 0, &poison, recorder(&log, 3));
        w.register(100, || 0, &poison, recorder(&log, 1));
        w.register(200, || 0, &poison, recorder(&log, 2));
        assert_eq!(w.wanted(), Some(300));
        w.fire(150);
        assert_eq!(*lock(&log), [(1, true)]);
        // Already durable: answered at once, after the earlier ones it covers too.
        w.register(50, || 250, &poison, recorder(&log, 0));
        assert_eq!(*lock(&log), [(1, true), (2, true), (0, true)]);
        w.fire(1000);
        w.fire(2000);
        assert_eq!(lock(&log).len(), 4);
        assert_eq!(w.wanted(), None);
    }

    #[test]
    fn poison_and_close_reach_every_waiting_callback_once() {
        let w = DurableWatchers::default();
        let poison = Poison::default();
        let log = Log::default();
        w.register(10, || 0, &poison, recorder(&log, 1));
        w.fail(&poison); // not poisoned (a full disk): they keep waiting
        assert!(lock(&log).is_empty());
        poison.set(Error::Closed);
        w.fail(&poison);
        w.fail(&poison);
        assert_eq!(*lock(&log), [(1, false)]);
        w.register(20, || 0, &poison, recorder(&log, 2)); // poisoned: at once
        w.register(5, || 10, &poison, recorder(&log, 3)); // durable data stays durable
        assert_eq!(*lock(&log), [(1, false), (2, false), (3, true)]);

        let w = DurableWatchers::default();
        let healthy = Poison::default();
        let closed: Arc<Mutex<Vec<String>>> = Arc::default();
        let c = closed.clone();
        w.register(
            10,
            || 0,
            &healthy,
            Box::new(move |r| lock(&c).push(format!("{r:?}"))),
        );
        w.close(&healthy);
        let c = closed.clone();
        w.register(
            5,
            || 10,
            &healthy,
            Box::new(move |r| lock(&c).push(format!("{r:?}"))),
        );
        assert_eq!(*lock(&closed), ["Err(Closed)", "Err(Closed)"]);
    }

    #[test]
    fn a_callback_may_register_another_and_a_panicking_one_stops_nothing() {
        let w = Arc::new(DurableWatchers::default());
        let poison = Arc::new(Poison::default());
        let log = Log::default();
        let (w2, p2, log2) = (w.clone(), poison.clone(), log.clone());
        w.register(
            10,
            || 0,
            &poison,
            Box::new(move |_| {
                lock(&log2).push((1, true));
                // Runs while this thread is firing: queued, then called by the same loop.
                w2.register(5, || 10, &p2, recorder(&log2, 2));
            }),
        );
        w.register(10, || 0, &poison, Box::new(|_| panic!("a callback bug")));
        w.register(10, || 0, &poison, recorder(&log, 3));
        w.fire(10);
        assert_eq!(*lock(&log), [(1, true), (3, true), (2, true)]);
        w.register(1, || 10, &poison, recorder(&log, 4));
        assert_eq!(lock(&log).last(), Some(&(4, true)));
    }
}
