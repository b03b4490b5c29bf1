//! The background flush thread and the pool of open segment handles.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::config::FsyncSchedule;
use crate::error::Error;
use crate::lock::lock;
use crate::observe::Step;
use crate::shared::Shared;

/// Messages to the background thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The append buffer is full: write it out (the request itself is a flag, see
    /// [`Doorbell`]).
    Write,
    /// An `on_durable` callback waits: sync (the request is the waiting callback itself,
    /// which the thread looks for after every wake-up).
    Durable,
    /// A segment was sealed or the active one is half full: prepare the next segment and
    /// see whether old segments can be deleted.
    Maintain,
    /// The log is closing: stop.
    Shutdown,
}

/// How the rest of the log wakes the background thread.
///
/// The channel holds one message: a wake-up already queued is all a sender needs, except
/// that the queued one may be of another kind. So a write request is also a flag, which
/// the thread checks after every wake-up: it is never lost.
#[derive(Debug)]
pub(crate) struct Doorbell {
    tx: Sender<Wake>,
    write_wanted: AtomicBool,
}

impl Doorbell {
    /// A doorbell and the receiver the background thread listens on.
    pub fn new() -> (Self, Receiver<Wake>) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let bell = Self {
            tx,
            write_wanted: AtomicBool::new(false),
        };
        (bell, rx)
    }

    /// Asks the thread to write the buffer out.
    pub fn ring_write(&self) {
        self.write_wanted.store(true, Ordering::Release);
        self.ring(Wake::Write);
    }

    /// Asks the thread to sync for the `on_durable` callbacks that wait.
    pub fn ring_durable(&self) {
        self.ring(Wake::Durable);
    }

    /// Asks the thread to prepare the next segment and reclaim old ones.
    pub fn ring_maintain(&self) {
        self.ring(Wake::Maintain);
    }

    /// Tells the thread to stop; `false` if it had stopped already.
    pub fn ring_shutdown(&self) -> bool {
        self.tx.send(Wake::Shutdown).is_ok()
    }

    /// Takes the write request, if one was made.
    fn take_write_request(&self) -> bool {
        self.write_wanted.swap(false, Ordering::AcqRel)
    }

    fn ring(&self, msg: Wake) {
        match self.tx.try_send(msg) {
            // Full: a wake-up is already queued, which is all we need.
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                tracing::debug!("background thread gone; the buffer is written on close");
            }
        }
    }
}

/// Starts the background thread.
pub(crate) fn spawn(shared: Arc<Shared>, rx: Receiver<Wake>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wal-flush".into())
        .spawn(move || {
            // Every event of this thread carries the log's directory.
            let _span = shared.log_span().clone().entered();
            run(&shared, &rx)
        })
}

/// The loop: wake on the schedule (or when the buffer fills), write or flush, then do the
/// housekeeping. Blocks in `recv_timeout` between rounds; never spins.
fn run(shared: &Shared, rx: &Receiver<Wake>) {
    let (tick, sync_on_tick) = match shared.env.opts.durability.fsync {
        FsyncSchedule::Milliseconds(n) => (Duration::from_millis(n.max(1)), true),
        FsyncSchedule::SyncEach | FsyncSchedule::NoFsync => {
            (shared.env.opts.buffering.write_interval, false)
        }
    };
    // Never more often than every 10 ms, whatever the idle timeout: the loop must not spin.
    let housekeeping_every = shared
        .env
        .opts
        .files
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
            let _round = tracing::debug_span!("wal.round", wake = ?woken).entered();
            let result = match woken {
                Ok(Wake::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Closed)
                }
                Ok(Wake::Write | Wake::Durable) => Ok(()),
                Ok(Wake::Maintain) => prepare_and_reclaim(shared),
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
            let wanted = shared.signals.doorbell.take_write_request();
            let result = match result {
                Ok(()) if wanted => shared.write_pending(),
                other => other,
            };
            // `on_durable` callbacks ask for a sync under every schedule; a failed one
            // (a full disk) is tried again on the next round, as long as they wait.
            match (result, shared.pipeline.commit.watchers().wanted()) {
                (Ok(()), Some(lsn)) => shared.wait_durable_lsn(lsn),
                (result, _) => result,
            }
        });
        let result = match round {
            Err(Error::Closed) => return,
            other => other,
        };
        if let Err(e) = result {
            // Write and sync failures have poisoned the log already (and were logged there);
            // a full disk is retried on the next round.
            if shared.pipeline.commit.poison().is_set() {
                tracing::debug!(error = %e, "background flush stopped: the log is poisoned");
                // Nothing syncs any more: waiting callbacks get the poison now.
                shared
                    .pipeline
                    .commit
                    .watchers()
                    .fail(shared.pipeline.commit.poison());
                return;
            }
            tracing::warn!(error = %e, "background flush failed; retrying on the next round");
            shared.report_step_failed(Step::BackgroundFlush, &e);
        }
        shared.publish_metrics_if_due();
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
    if shared.files.precreator.requested() {
        match shared.prepare_spare() {
            // Already reported as a poisoning (a failed directory sync).
            Ok(()) | Err(crate::error::Error::Poisoned { .. }) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not prepare the next segment; rollover will create it");
                shared.report_step_failed(Step::PrepareSegment, &e);
            }
        }
    }
    shared.reclaim().map(|_| ())
}

fn housekeeping(shared: &Shared) {
    let active = lock(&shared.state).active.id;
    let closed = shared
        .files
        .pool
        .evict_idle(active, shared.env.opts.files.idle_handle_timeout);
    if closed > 0 {
        tracing::debug!(closed, "closed idle segment handles");
    }
    match prepare_and_reclaim(shared) {
        // A poisoned log reclaims nothing; the round that sees the poison stops the thread.
        Ok(()) | Err(Error::Poisoned { .. }) => {}
        Err(e) => tracing::warn!(error = %e, "reclaiming old segments failed; will retry"),
    }
}
