//! What an operator watches: the log's health, the `on_error` hook, recovery statistics,
//! and the per-log pieces the spans and metrics need.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::builder::WalBuilder;
use crate::error::Error;
use crate::lock::lock;
use crate::recovery_stats::RecoveryStats;
use crate::shared::Shared;
use crate::source::BackendSource;
use crate::stats::Stats;
use crate::wal::Wal;

/// A failure the log reports to the [`WalBuilder::on_error`] hook.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Failure<'a> {
    /// The log is poisoned: a write or sync failed (or a backend call panicked), so
    /// nothing not yet durable can be made durable. Every later write fails with
    /// [`Error::Poisoned`] until the log is reopened. Reported once per log.
    Poisoned {
        /// The log directory.
        dir: &'a Path,
        /// The failure that poisoned it.
        cause: &'a Error,
    },
    /// A step the log retries on its own failed; the log still works. Reported every time
    /// the step fails, so a lasting cause (a full disk) is reported on every retry.
    StepFailed {
        /// The log directory.
        dir: &'a Path,
        /// Which step.
        step: Step,
        /// Why.
        error: &'a Error,
    },
}

/// The steps the log retries on its own ([`Failure::StepFailed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The background thread's write or flush (a full disk; any other failure poisons the
    /// log instead). Retried on its next round.
    BackgroundFlush,
    /// Preparing the next segment ahead of time. Rollover creates it instead. (A failed
    /// directory sync poisons the log instead.)
    PrepareSegment,
    /// Deleting a segment nothing needs any more. Retried on the next reclaim. (A failed
    /// directory sync after the removal poisons the log instead.)
    DeleteSegment,
}

impl Failure<'_> {
    /// The log directory.
    pub fn dir(&self) -> &Path {
        match self {
            Failure::Poisoned { dir, .. } | Failure::StepFailed { dir, .. } => dir,
        }
    }

    /// The error.
    pub fn error(&self) -> &Error {
        match self {
            Failure::Poisoned { cause, .. } => cause,
            Failure::StepFailed { error, .. } => error,
        }
    }
}

/// The callback of [`WalBuilder::on_error`].
type OnErrorFn = dyn Fn(&Failure<'_>) + Send + Sync;

/// Observability settings a log is opened with.
#[derive(Clone, Default)]
pub(crate) struct ObserveOptions {
    on_error: Option<Arc<OnErrorFn>>,
}

impl fmt::Debug for ObserveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserveOptions")
            .field("on_error", &self.on_error.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// The per-log pieces of observability fixed at open: the log's span, the hook, and what
/// recovery did.
#[derive(Debug)]
pub(crate) struct Observer {
    /// The log's span (`crate::trace`).
    pub span: tracing::Span,
    options: ObserveOptions,
    recovery: RecoveryStats,
}

impl Observer {
    pub fn new(dir: &Path, options: ObserveOptions, recovery: RecoveryStats) -> Self {
        let span = crate::trace::log_span(dir);
        tracing::info!(
            parent: &span,
            segments = recovery.segments_scanned,
            bytes = recovery.bytes_read,
            micros = recovery.duration.as_micros() as u64,
            torn_tail_bytes = recovery.torn_tail_bytes,
            set_aside = recovery.files_set_aside.len(),
            "recovered"
        );
        Self {
            span,
            options,
            recovery,
        }
    }
}

/// Whether the log can still make data durable ([`Wal::health`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Health {
    /// No failure has poisoned the log.
    Healthy,
    /// A failure poisoned the log: writes fail until it is reopened.
    Poisoned {
        /// The failure that poisoned it.
        cause: Arc<Error>,
    },
}

impl<S: BackendSource> WalBuilder<S> {
    /// Calls `hook` on every failure an operator should hear about, from the thread where
    /// it happens: once when the log is poisoned ([`Failure::Poisoned`]), and every time a
    /// step the log retries on its own fails ([`Failure::StepFailed`]), such as the
    /// background thread's flush on a full disk. The failure is also logged (`tracing`)
    /// and counted ([`Stats::step_failures`], [`Stats::flush_errors`]).
    ///
    /// The hook may run on a writer's thread or the background thread, while the log
    /// holds internal locks: it must return quickly and must not call into the log (send
    /// the failure's text on a channel, set a flag). A panic in it is caught and logged.
    ///
    /// ```
    /// use std::sync::{mpsc, Arc};
    /// use wal_core::WalBuilder;
    ///
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let (tx, failures) = mpsc::channel();
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(Arc::new(wal_backend_std::StdBackend::default()))
    ///     .on_error(move |failure| {
    ///         // Hand it to a thread that may block (alerting, logging); a closed channel
    ///         // only means nobody listens any more.
    ///         tx.send(format!("{}: {}", failure.dir().display(), failure.error())).ok();
    ///     })
    ///     .open()?;
    /// wal.append_for_topic("t", b"x")?;
    /// assert!(failures.try_recv().is_err()); // nothing failed
    /// # Ok(()) }
    /// ```
    pub fn on_error(mut self, hook: impl Fn(&Failure<'_>) + Send + Sync + 'static) -> Self {
        self.observe.on_error = Some(Arc::new(hook));
        self
    }
}

impl<S> Wal<S> {
    /// [`Health::Poisoned`] once a failure poisoned the log, else [`Health::Healthy`].
    /// Takes no lock.
    pub fn health(&self) -> Health {
        match self.shared.check_poison() {
            Err(Error::Poisoned { cause }) => Health::Poisoned { cause },
            _ => Health::Healthy,
        }
    }

    /// `true` once a failure poisoned the log (see [`Wal::health`]).
    pub fn is_poisoned(&self) -> bool {
        self.shared.pipeline.commit.poison().is_set()
    }

    /// What recovery read, cut and set aside when this log was opened.
    pub fn recovery_stats(&self) -> &RecoveryStats {
        &self.shared.env.obs.recovery
    }
}

impl Shared {
    /// The log was just poisoned by `cause` (reported once: the first cause wins).
    pub(crate) fn report_poisoned(&self, cause: &Error) {
        #[cfg(feature = "metrics")]
        self.env.stats.metrics.poisoned();
        self.report(&Failure::Poisoned {
            dir: &self.env.dir,
            cause,
        });
    }

    /// `step`, which the log retries on its own, failed with `error`. An error that is
    /// the poison itself was reported when the log was poisoned, and is not again.
    pub(crate) fn report_step_failed(&self, step: Step, error: &Error) {
        if matches!(error, Error::Poisoned { .. }) {
            return;
        }
        self.env.stats.step_failed();
        self.report(&Failure::StepFailed {
            dir: &self.env.dir,
            step,
            error,
        });
    }

    fn report(&self, failure: &Failure<'_>) {
        let Some(hook) = &self.env.obs.options.on_error else {
            return;
        };
        let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(failure)));
        if called.is_err() {
            tracing::error!(dir = %self.env.dir.display(), "the on_error hook panicked");
        }
    }

    /// [`Stats`] now: the counters, and what the log's state says.
    pub(crate) fn stats_now(&self) -> Stats {
        let mut stats = self.env.stats.snapshot();
        {
            let st = lock(&self.state);
            stats.segments = st.segments.len() as u64;
            stats.durable_lag_bytes = st
                .lsn_end()
                .saturating_sub(self.pipeline.commit.durable_lsn());
        }
        stats.open_segment_handles = self.files.pool.len() as u64;
        stats
    }
}

#[cfg(not(feature = "metrics"))]
impl Shared {
    /// Without the `metrics` feature there is nothing to publish.
    pub(crate) fn publish_metrics_if_due(&self) {}
}
