//! What an open log's threads share: four components and the log's fixed surroundings.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;

use crate::background::{Doorbell, Wake};
use crate::commit::GroupCommit;
use crate::config::{FsyncSchedule, Options};
use crate::consumer::Tail;
use crate::flush::Writer;
use crate::observe::{ObserveOptions, Observer};
use crate::pool::HandlePool;
use crate::precreate::Precreator;
use crate::recovery::Recovered;
use crate::state::State;
use crate::stats::Counters;
use crate::storage::Backend;

/// What the log's threads share: components, each a type with private state, its own lock
/// and its invariants stated on it, plus the log's fixed surroundings ([`Env`]).
///
/// # Lock order
///
/// A reader's cursor lock (`CursorState::lock`, one reader per cursor) → the writer's `io`
/// lock ([`Writer`]) → the `state` lock ([`State`]) → the pre-creator's slot
/// ([`Precreator`]) → the pool's locks ([`HandlePool`]: deleter, deletion queue, handles,
/// pins, in that order). Nothing takes a lock to the left of one it holds.
/// [`GroupCommit`]'s progress lock and [`Tail`]'s generation lock are taken with no other
/// engine lock held but a reader's cursor lock (a checkpointed read, a seek or a
/// consumer's deletion waits for its sync holding it; appenders drop `state` before they
/// notify), and neither is held
/// across I/O; rollover is the one place that holds `state` across I/O (segment creation).
/// The `on_durable` queue's lock (`DurableWatchers`, inside [`GroupCommit`]) is taken the
/// same way, and released while callbacks run.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Where the log lives, its settings, its storage and its counters: fixed once open.
    pub env: Env,
    /// The append-side state: topics, segments, the active segment, the pending queue.
    pub state: Mutex<State>,
    /// The flush pipeline: the write phase, then group commit.
    pub pipeline: Pipeline,
    /// The segment files beside the active one: handles, deletion, the next segment.
    pub files: SegmentFiles,
    /// Wake-ups: the background thread's doorbell and readers blocked on the tail.
    pub signals: Signals,
}

/// The fixed surroundings of an open log. Nothing in it changes after open except the
/// counters, which are atomics that only grow.
#[derive(Debug)]
pub(crate) struct Env {
    /// The log directory.
    pub dir: PathBuf,
    /// The validated settings.
    pub opts: Options,
    /// Makes and opens segment files.
    pub backend: Arc<dyn Backend>,
    /// What [`crate::Wal::stats`] reports.
    pub stats: Counters,
    /// The log's span, the `on_error` hook, what recovery did.
    pub obs: Observer,
}

/// The two phases every appended byte goes through, in order.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The write phase (the only writer of record bytes once open), and the syncs it
    /// issues under its `io` lock.
    pub writer: Writer,
    /// Group commit: how far the log is durable, the threads and callbacks waiting for
    /// it, and the poison a failure sets.
    pub commit: GroupCommit,
}

/// The segment files other than the one being appended to.
#[derive(Debug)]
pub(crate) struct SegmentFiles {
    /// Segment handles for readers, and deletion once no reader needs a segment.
    pub pool: HandlePool,
    /// The next segment, made ahead of time.
    pub precreator: Precreator,
}

/// How one thread tells another that something changed.
#[derive(Debug)]
pub(crate) struct Signals {
    /// Wakes the background thread (write, maintain, shut down).
    pub doorbell: Doorbell,
    /// Wakes readers blocked on the tail; closed by `shutdown`.
    pub tail: Tail,
}

impl Shared {
    /// The shared state of a log opened in `dir` with `opts`, the `on_error` hook in
    /// `observe` and `backend`, from what recovery rebuilt; returns it with the receiver the background thread listens on.
    pub(crate) fn new(
        dir: PathBuf,
        opts: Options,
        observe: ObserveOptions,
        backend: Arc<dyn Backend>,
        mut recovered: Recovered,
    ) -> (Self, Receiver<Wake>) {
        let lsn = recovered.state.active.base_lsn + recovered.state.active.end;
        let pool = HandlePool::with_cap(opts.files.max_open);
        for (id, storage) in std::mem::take(&mut recovered.handles) {
            pool.insert(id, storage);
        }
        let (doorbell, rx) = Doorbell::new();
        let stats = Counters::new(&dir);
        let obs = Observer::new(&dir, observe, std::mem::take(&mut recovered.stats));
        let shared = Self {
            pipeline: Pipeline {
                writer: Writer::new(
                    backend.flusher(),
                    lsn,
                    opts.durability.fsync != FsyncSchedule::NoFsync,
                ),
                commit: GroupCommit::new(lsn),
            },
            files: SegmentFiles {
                pool,
                precreator: Precreator::new(recovered.state.active.id),
            },
            signals: Signals {
                doorbell,
                tail: Tail::default(),
            },
            state: Mutex::new(recovered.state),
            env: Env {
                dir,
                opts,
                backend,
                stats,
                obs,
            },
        };
        (shared, rx)
    }

    /// Ends this log's hold on its directory, by construction: the write phase (the only
    /// code that writes to segments) refuses under the `io` lock, segment creation refuses
    /// under the pre-creator's lock, the deletion queue is dropped and every pooled handle
    /// closed. Handles that outlive the log (a [`crate::Consumer`], another thread's
    /// clone) then get [`crate::Error::Closed`] from every call. Called by close, drop and
    /// abandon once the final flush (if any) is done, before the directory lock is
    /// released.
    pub(crate) fn seal(&self) {
        self.signals.tail.close();
        self.pipeline
            .commit
            .watchers()
            .close(self.pipeline.commit.poison());
        self.pipeline.writer.close();
        if let Some(id) = self.files.precreator.close() {
            // Nothing after its header: the next open removes it.
            tracing::debug!(segment = id, "closing with an unused prepared segment");
        }
        self.files.pool.close();
    }
}
