//! Injected I/O failures ([`Op::Fault`], [`Op::Heal`]): a failed data or directory sync,
//! a failed or short write, a failed removal, a full disk. The harness keeps driving the
//! log while the fault may fire, and checks the engine's contract for failures
//! (docs/durability.md, "Failures"):
//! - a failure that poisons the log makes every later write fail with `Error::Poisoned`
//!   (or `Closed`), leaves what was durable durable, and tells every `on_durable`
//!   callback once (an error is fine);
//! - a failed removal and a full disk leave the log healthy: it syncs once the fault is
//!   gone;
//! - entries whose durability was never acknowledged may or may not survive the restart
//!   that follows (a clean reopen, a process crash or a power loss), as after a power cut.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::harness::Harness;
use super::model::Existence;
use super::op::{FaultKind, Op, TOPICS};
use super::power;
use super::report::{Violation, ViolationKind};
use crate::faulty::FaultPlan;

/// What the log reported to its `on_error` hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reported {
    Poisoned,
    Step(wal::Step),
}

/// The reports of the open log instance (filled by its `on_error` hook).
pub(crate) type Reports = Arc<Mutex<Vec<Reported>>>;

/// Records what `failure` says in `reports`.
pub(crate) fn report(reports: &Reports, failure: &wal::Failure<'_>) {
    let what = match failure {
        wal::Failure::Poisoned { .. } => Reported::Poisoned,
        wal::Failure::StepFailed { step, .. } => Reported::Step(*step),
        _ => return,
    };
    reports
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(what);
}

/// A fault armed by [`Op::Fault`], until [`Op::Heal`] or a restart.
#[derive(Debug, Clone)]
pub(crate) struct Armed {
    kind: FaultKind,
    /// The plan that fires it (without a power cut).
    plan: FaultPlan,
    /// Faults the backend had injected before: one more means it fired.
    injected_before: u64,
}

/// The error an injected fault of `kind` returns.
fn error_kind(kind: FaultKind) -> io::ErrorKind {
    match kind {
        FaultKind::Sync | FaultKind::DirSync | FaultKind::Write => io::ErrorKind::Other,
        FaultKind::ShortWrite => io::ErrorKind::WriteZero,
        FaultKind::Remove => io::ErrorKind::PermissionDenied,
        FaultKind::DiskFull => io::ErrorKind::StorageFull,
    }
}

impl Harness {
    /// The plan to install: the armed fault, if any, and the planned power cut, if any.
    pub(super) fn plan(&self) -> FaultPlan {
        match &self.fault {
            Some(a) => a.plan.clone(),
            None => FaultPlan::seeded(self.setup.fault_seed),
        }
    }

    /// What a violation says of the armed fault (nothing if none is).
    pub(super) fn fault_note(&self) -> String {
        match &self.fault {
            Some(a) => format!(
                " (injected fault {} armed, fired: {}, poisoned: {})",
                a.kind.name(),
                self.fired(),
                self.poisoned
            ),
            None if self.poisoned => " (the log was poisoned by an injected fault)".into(),
            None => String::new(),
        }
    }

    /// `true` once the armed fault fired.
    fn fired(&self) -> bool {
        self.fault
            .as_ref()
            .is_some_and(|a| self.backend.counts().injected > a.injected_before)
    }

    /// [`Op::Fault`]: arms one fault (replacing one armed before, which counts as not
    /// fired if it did not).
    pub(super) fn arm_fault(&mut self, kind: FaultKind, after: u8, calls: u8) {
        self.end_fault();
        let c = self.backend.counts();
        let after = u64::from(after);
        let base = FaultPlan::seeded(self.setup.fault_seed);
        let e = error_kind(kind);
        let plan = match kind {
            FaultKind::Sync => base.fail_sync(c.syncs + after + 1, e),
            FaultKind::DirSync => base.fail_sync_dir(c.dir_syncs + after + 1, e),
            FaultKind::Write => base.fail_write(c.writes + after + 1, e),
            FaultKind::ShortWrite => base.short_write(c.writes + after + 1),
            FaultKind::Remove => base.fail_remove(c.removes + after + 1, e),
            FaultKind::DiskFull => {
                let from = c.mutations + after + 1;
                base.disk_full_during(from..from + u64::from(calls.max(1)))
            }
        };
        self.stats.fault(kind).armed += 1;
        self.fault = Some(Armed {
            kind,
            plan,
            injected_before: c.injected,
        });
        self.install_plan();
    }

    /// Installs [`Harness::plan`], with the planned power cut if one is pending.
    pub(super) fn install_plan(&self) {
        match self.cut {
            Some(at) => {
                let now = self.backend.counts().mutations;
                power::arm(&self.backend, self.plan(), at.saturating_sub(now));
            }
            None => self.backend.set_plan(self.plan()),
        }
    }

    /// Disarms the armed fault, if any; returns it and whether it fired (counted).
    fn end_fault(&mut self) -> Option<(FaultKind, bool)> {
        let fired = self.fired();
        let armed = self.fault.take()?;
        self.install_plan();
        if fired {
            self.stats.fault(armed.kind).fired += 1;
        }
        Some((armed.kind, fired))
    }

    /// Before a restart: the fault is disarmed (so that it never fires in a close or a
    /// recovery). Returns its kind if it fired, for [`Harness::note_poison_at_end`].
    pub(super) fn end_fault_for_restart(&mut self) -> Option<FaultKind> {
        match self.end_fault() {
            Some((kind, true)) => Some(kind),
            _ => None,
        }
    }

    /// Once the log instance has ended (closed or abandoned, its threads joined): notes
    /// whether the fault that `fired` poisoned it. Only now is that settled: the
    /// background thread may meet the fault and poison the log between the last look
    /// and the end, and tell `on_durable` callbacks so. The log reports the poisoning to
    /// its `on_error` hook on the thread that poisons it, before it returns the error
    /// to anyone.
    pub(super) fn note_poison_at_end(&mut self, fired: Option<FaultKind>) {
        let Some(kind) = fired else {
            return;
        };
        if self.reports().contains(&Reported::Poisoned) {
            self.stats.fault(kind).poisoned += 1;
            self.poisoned = true;
        }
    }

    /// The log was poisoned (a fault fired): from now on every write must be refused.
    fn mark_poisoned(&mut self) {
        if self.poisoned {
            return;
        }
        self.poisoned = true;
        self.durable_seen = self
            .model
            .topics
            .iter()
            .map(|tm| self.wal().durable_offset(&tm.name))
            .collect();
    }

    /// At the start of an operation: notes a poisoning the log shows.
    pub(super) fn observe_poison(&mut self) {
        if !self.poisoned && self.wal.is_some() && self.fired() && self.wal().is_poisoned() {
            self.mark_poisoned();
        }
    }

    /// After an operation on a poisoned log: what was durable still is.
    pub(super) fn check_durable_kept(&self) -> Result<(), Violation> {
        if !self.poisoned || self.wal.is_none() {
            return Ok(());
        }
        for (tm, seen) in self.model.topics.iter().zip(&self.durable_seen) {
            let now = self.wal().durable_offset(&tm.name);
            if now < *seen {
                return Err(self.violation(
                    ViolationKind::LostDurable,
                    format!(
                        "{}: durable_offset went from {seen:?} to {now:?} on the poisoned log",
                        tm.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the injected fault explains error `e` of an operation: the fault fired and
    /// `e` is its error, or the poison (or `Closed`) when the fault may poison.
    pub(super) fn fault_explains(&mut self, e: &wal::Error) -> bool {
        let poison = matches!(e, wal::Error::Poisoned { .. } | wal::Error::Closed);
        if self.poisoned && poison {
            return true;
        }
        let Some(kind) = self.fault.as_ref().map(|a| a.kind) else {
            return false;
        };
        if !self.fired() {
            return false;
        }
        // An operation that began before the poisoning showed may fail with whatever its
        // step met (a rollover finding the file a failed preparation left, say); from the
        // next operation on, writes must fail with `Poisoned` (see `refuse`).
        let explained = if kind.may_poison() {
            poison || e.io_kind() == Some(error_kind(kind)) || self.wal().is_poisoned()
        } else {
            !poison && e.io_kind() == Some(error_kind(kind))
        };
        if explained && kind.may_poison() && self.wal().is_poisoned() {
            self.mark_poisoned();
        }
        explained
    }

    /// After an operation failed because of the fault: entries the log gave no offset
    /// (the failure came first) are dropped from the model, and topics it never created.
    /// Entries that took their offsets stay: they may or may not survive a crash.
    pub(super) fn forget_refused(&mut self) -> Result<(), Violation> {
        let since = self.op_seq;
        for t in 0..self.model.topics.len() {
            let name = self.model.topics[t].name.clone();
            let engine = self.wal().get_topic_entry_count(&name) as usize;
            let known = self.wal().oldest_offset(&name).is_some();
            let tm = &self.model.topics[t];
            if engine < tm.entries.len() {
                let ours = tm.seqs[engine..].iter().all(|&s| s > since);
                if !ours || !tm.boundaries.contains(&engine) {
                    return Err(self.violation(
                        ViolationKind::Unexpected,
                        format!(
                            "{name}: the log counts {engine} entries after a failed operation, the model {} ({} before it)",
                            tm.entries.len(),
                            tm.seqs.partition_point(|&s| s <= since)
                        ),
                    ));
                }
                let tm = &mut self.model.topics[t];
                tm.entries.truncate(engine);
                tm.seqs.truncate(engine);
                tm.boundaries.retain(|&b| b <= engine);
            }
            let tm = &mut self.model.topics[t];
            if !known && tm.entries.is_empty() {
                if let Some(Existence::Pending(s)) = tm.created {
                    if s > since {
                        tm.created = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// A write on a poisoned log: it must fail with `Poisoned` (or `Closed`) and change
    /// nothing. `None` for the operations that are not writes (they run as usual, and may
    /// fail with the poison).
    pub(super) fn refuse(&mut self, op: &Op) -> Option<Result<(), Violation>> {
        if !self.poisoned {
            return None;
        }
        let topic = |t: u8| self.model.topics[usize::from(t % TOPICS)].name.clone();
        let wal = self.wal();
        let result = match *op {
            Op::Append { topic: t, .. } | Op::Batch { topic: t, .. } => wal
                .append_for_topic(&topic(t), b"refused")
                .map(|o| format!("offset {o}")),
            Op::Sync => wal.sync().map(|()| "Ok".into()),
            Op::TruncateBefore { topic: t, .. } | Op::StartAt { topic: t, .. } => {
                let name = topic(t);
                let end = wal.get_topic_entry_count(&name);
                wal.truncate_before(&name, end + 1).map(|()| "Ok".into())
            }
            Op::TruncateFrom { topic: t, .. } => {
                let name = topic(t);
                let from = wal.oldest_offset(&name).unwrap_or(0);
                wal.truncate_from(&name, from).map(|()| "Ok".into())
            }
            Op::SetMeta { topic: t, .. } => wal
                .set_meta(&topic(t), "k0", b"refused")
                .map(|()| "Ok".into()),
            _ => return None,
        };
        self.stats.refused_writes += 1;
        Some(match result {
            Err(wal::Error::Poisoned { .. } | wal::Error::Closed) => Ok(()),
            Err(e) => Err(self.violation(
                ViolationKind::Unexpected,
                format!("a write on the poisoned log failed with another error: {e}"),
            )),
            Ok(what) => Err(self.violation(
                ViolationKind::Unexpected,
                format!("a write on the poisoned log succeeded: {what}"),
            )),
        })
    }

    /// [`Op::Heal`]: disarms the fault and checks what it did. Waits (boundedly) for the
    /// log's own word on a failure met by its background thread.
    pub(super) fn heal(&mut self) -> Result<(), Violation> {
        let Some((kind, fired)) = self.end_fault() else {
            return Ok(());
        };
        if !fired {
            return Ok(());
        }
        let expected = |r: &Reported| match r {
            Reported::Poisoned => true,
            Reported::Step(s) => {
                *s == wal::Step::PrepareSegment
                    && matches!(
                        kind,
                        FaultKind::Sync | FaultKind::Write | FaultKind::ShortWrite
                    )
            }
        };
        if kind.may_poison() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !self.reports().iter().any(expected) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let poisoned = self.wal().is_poisoned();
        let what = kind.name();
        if poisoned {
            if !kind.may_poison() && power::is_off(&self.backend) && !self.poisoned_by(kind) {
                // A planned power cut came too, and the failed sync or write it made
                // poisoned the log: the log is dying anyway (the next restart is a power
                // loss), and the fault is not to blame.
                return Ok(());
            }
            if !kind.may_poison() {
                return Err(self.violation(
                    ViolationKind::Unexpected,
                    format!("an injected {what} failure poisoned the log"),
                ));
            }
            self.mark_poisoned();
            self.stats.fault(kind).poisoned += 1;
            return self.check_poisoned();
        }
        let reports = self.reports();
        if kind == FaultKind::DirSync || (kind.may_poison() && !reports.iter().any(expected)) {
            return Err(self.violation(
                ViolationKind::Unexpected,
                format!("an injected {what} failure neither poisoned the log nor was reported as a failed preparation ({reports:?})"),
            ));
        }
        match self.wal().sync() {
            Ok(()) => {
                self.stats.fault(kind).healthy += 1;
                self.model.durable_upto(self.model.seq());
                Ok(())
            }
            Err(e) => self.failed(&format!("sync after an injected {what} failure"), &e),
        }
    }

    /// `true` if the error that poisoned the log is the one a fault of `kind` injects.
    fn poisoned_by(&self, kind: FaultKind) -> bool {
        match self.wal().health() {
            wal::Health::Poisoned { cause } => cause.io_kind() == Some(error_kind(kind)),
            _ => false,
        }
    }

    fn reports(&self) -> Vec<Reported> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The poisoned log refuses `sync`, and still says that what was durable is.
    fn check_poisoned(&mut self) -> Result<(), Violation> {
        match self.wal().sync() {
            Err(wal::Error::Poisoned { .. }) => {}
            Err(e) if power::is_off(&self.backend) => return self.failed("sync", &e),
            other => {
                return Err(self.violation(
                    ViolationKind::Unexpected,
                    format!("sync on the poisoned log returned {other:?}"),
                ))
            }
        }
        for tm in &self.model.topics {
            let Some(last) = tm.durable.checked_sub(1) else {
                continue;
            };
            let last = last as u64;
            if self.wal().oldest_offset(&tm.name).is_none_or(|o| o > last) {
                continue;
            }
            if let Err(e) = self.wal().wait_durable(&tm.name, last) {
                return Err(self.violation(
                    ViolationKind::LostDurable,
                    format!(
                        "{}: wait_durable({last}) on the poisoned log failed ({e}); it was durable before",
                        tm.name
                    ),
                ));
            }
        }
        Ok(())
    }
}
