//! A seeded, simulated power-loss campaign over the whole public API of [`wal::Wal`].
//!
//! A campaign is a series of *runs*. Each run opens a fresh log on a
//! [`FaultyBackend`](crate::faulty::FaultyBackend) wrapping a real backend ([`InnerBackend`]),
//! with settings drawn from its seed ([`Setup`]: every fsync schedule, both read
//! consistencies, 4 to 16 KiB segments so that rollovers, segment pre-creation and
//! reclaims happen all the time, retention by bytes or age), and drives it with random
//! [`Op`]s: single and batch appends on three topics, reads through the shared cursor and
//! named consumers (peeks, checkpoints, batch reads), `read_from`, `sync`, `wait_durable`,
//! `truncate_before`, suffix truncations (`truncate_from`), topics that start past their
//! end, metadata (`set_meta`), `on_durable` callbacks, `reclaim`, concurrent phases
//! (threads appending to distinct topics while another consumes), clean reopens and
//! process crashes. Again and again it cuts the
//! power after a random number of mutating backend calls (so the cut lands inside whatever
//! runs then: a rollover, a reclaim, a pre-creation, a truncation, a cursor write, a
//! recovery), simulates the power loss with a [`CrashMode`], reopens the log and checks it
//! against a model ([`Violation`] lists what is checked). In half of the runs, before a
//! third of the power losses, it also injects one I/O failure ([`Op::Fault`]: a failed data
//! or directory sync, a failed or short write, a failed removal, a full disk), drives the
//! log on while it may fire, and checks what the failure did ([`Op::Heal`]): a poisoned
//! log refuses every write with `Poisoned` and keeps what was durable; a failed removal
//! or a full disk leave it healthy. The faults come from a generator of their own, so a
//! run's other operations are those it had before faults were added.
//!
//! Every result is checked as it comes (reads return exactly what was appended, in order,
//! within their budget; offsets are the expected ones), and after every restart:
//! - each topic holds a prefix of what was appended that includes every entry acknowledged
//!   as durable (a `SyncEach` append, a `sync`, a `wait_durable`, a synced checkpoint, a
//!   clean close), cut between batches, never inside one;
//! - nothing is invented: every retained entry is byte for byte what was appended at its
//!   offset, and no unknown topic appears;
//! - cursors keep their contract: never below their durable position (so under
//!   `StrictlyAtOnce` nothing consumed durably is delivered again, under `AtLeastOnce` at
//!   most `persist_every` entries are), never past what their reader consumed;
//! - retention and truncation never take an entry that a recovered cursor has not passed,
//!   nor one a durable cursor still needed; a durable truncation is never undone;
//!   `retain_age` keeps what it promises;
//! - a suffix truncation survives whole or not at all: the topic is a prefix of the
//!   version after it, or (while it may be lost) of the version before it; a topic start
//!   past the end is one atomic step;
//! - metadata holds a value that was set, no older than the last durable one, and one
//!   global order holds: a value that survived proves that everything written before it,
//!   in every topic, survived;
//! - every `on_durable` callback is told exactly once, `Ok` only if what came before it
//!   then survives every crash, an error only once the log is poisoned or closed;
//! - the log always opens.
//!
//! The operations of a run are a function of its seed, so a run can be replayed
//! ([`run_one`] with the seed a [`Failure`] names). The interleaving with the log's
//! background thread (timer syncs, pre-creation, reclaim) is not: a replay runs the same
//! operations and crash points counted in backend calls, which usually, not always, lands
//! on the same failure. To make races inside short windows show more often, the threads
//! that drive the log sleep briefly at random at the engine's `tracing` events (`jitter`).
//!
//! ```no_run
//! use wal_testkit::campaign::{run, CampaignConfig, InnerBackend};
//!
//! let cfg = CampaignConfig::new(42, 200, InnerBackend::Std);
//! let report = run(&cfg, &mut |p| eprintln!("{}/{}", p.power_losses, p.power_losses_total));
//! assert!(report.is_clean(), "{:#?}", report.failures);
//! ```

mod check;
mod concurrent;
mod fault;
mod harness;
mod jitter;
mod model;
mod op;
mod power;
mod raft;
mod report;
mod rng;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wal::StorageBackend;

pub use crate::faulty::ALL_CRASH_MODES;
pub use model::{payload, topic_name};
pub use op::{FaultKind, Op, Reader, Retention, Setup, CONSUMERS, TOPICS};
pub use report::{
    known_defect, Failure, FaultStats, Progress, Report, RunStats, Violation, ViolationKind,
};

use crate::faulty::CrashMode;
use harness::Harness;
use rng::{mix, Rng};

/// The real backend under the fault injector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerBackend {
    /// `wal::StdBackend`, always compiled in.
    Std,
    /// The mmap backend (this crate's feature `mmap`).
    Mmap,
    /// The io_uring backend (this crate's feature `uring`; Linux, if the kernel allows).
    Uring,
}

impl InnerBackend {
    /// Every inner backend, compiled in or not.
    pub const ALL: [InnerBackend; 3] = [Self::Std, Self::Mmap, Self::Uring];

    /// Its name (`std`, `mmap`, `uring`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Std => "std",
            Self::Mmap => "mmap",
            Self::Uring => "uring",
        }
    }

    /// `true` if this build has it (its cargo feature of this crate is on).
    pub fn is_compiled_in(self) -> bool {
        match self {
            Self::Std => true,
            Self::Mmap => cfg!(feature = "mmap"),
            Self::Uring => cfg!(feature = "uring"),
        }
    }

    /// A fresh instance, or why there is none (not compiled in, or io_uring refused).
    pub fn make(self) -> Result<Arc<dyn StorageBackend>, String> {
        if !self.is_compiled_in() {
            return Err(format!(
                "the {} backend is not compiled in (feature `{}` of wal-testkit)",
                self.name(),
                self.name()
            ));
        }
        match self {
            Self::Std => Ok(Arc::new(wal::StdBackend::default())),
            Self::Mmap => mmap(),
            Self::Uring => uring(),
        }
    }
}

impl std::str::FromStr for InnerBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown backend {s:?} (std, mmap, uring)"))
    }
}

#[cfg(feature = "mmap")]
fn mmap() -> Result<Arc<dyn StorageBackend>, String> {
    Ok(Arc::new(wal_backend_mmap::MmapBackend::default()))
}

#[cfg(not(feature = "mmap"))]
fn mmap() -> Result<Arc<dyn StorageBackend>, String> {
    Err("not compiled in".into())
}

#[cfg(feature = "uring")]
fn uring() -> Result<Arc<dyn StorageBackend>, String> {
    wal_backend_uring::UringBackend::probe()
        .map(|b| Arc::new(b) as Arc<dyn StorageBackend>)
        .map_err(|e| format!("io_uring is unavailable: {e}"))
}

#[cfg(not(feature = "uring"))]
fn uring() -> Result<Arc<dyn StorageBackend>, String> {
    Err("not compiled in".into())
}

/// What a campaign does.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// The seed every run's seed derives from.
    pub seed: u64,
    /// Simulated power losses to reach.
    pub power_losses: u64,
    /// The inner backends; runs take them in turn.
    pub backends: Vec<InnerBackend>,
    /// The crash modes; power losses take them in turn.
    pub modes: Vec<CrashMode>,
    /// Power losses per run, before a fresh log starts (default 25).
    pub losses_per_run: u64,
    /// Stop after this many violations (default 20; every run stops at its first).
    pub max_failures: usize,
    /// Where the runs' logs go (a temporary directory if `None`). The log of a run that
    /// found a violation is kept there (under `run-N`); the others are removed.
    pub dir: Option<PathBuf>,
    /// Count violations that match a known, open defect ([`known_defect`]) apart instead
    /// of as failures (default off). For CI while the defect is being fixed.
    pub waive_known_defects: bool,
}

impl CampaignConfig {
    /// `power_losses` power losses on `backend`, every crash mode, defaults otherwise.
    pub fn new(seed: u64, power_losses: u64, backend: InnerBackend) -> Self {
        Self {
            seed,
            power_losses,
            backends: vec![backend],
            modes: ALL_CRASH_MODES.to_vec(),
            losses_per_run: 25,
            max_failures: 20,
            dir: None,
            waive_known_defects: false,
        }
    }
}

/// One run: a fresh log, its seed and how many power losses it simulates.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The run's seed: its [`Setup`] and operations follow from it.
    pub run_seed: u64,
    /// Power losses to simulate.
    pub power_losses: u64,
    /// Crash modes, taken in turn from `first_mode`.
    pub modes: Vec<CrashMode>,
    /// Index in `modes` of the first crash's mode.
    pub first_mode: usize,
    /// The log's directory (created; should be empty).
    pub dir: PathBuf,
    /// Whether the run may inject I/O failures ([`Op::Fault`]; half the runs do). `false`
    /// runs exactly the operations the run had before faults were added to the campaign.
    pub inject_faults: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The settings drawn from the seed.
    pub setup: Setup,
    /// Counts.
    pub stats: RunStats,
    /// The operations run, in order (the last one is where a violation was found).
    pub ops: Vec<Op>,
    /// The violation that stopped the run, if any.
    pub violation: Option<Violation>,
}

/// Runs one run on `inner`; `on_loss` is called after each power loss with the run's
/// counts so far.
pub fn run_one(
    spec: &RunSpec,
    inner: Arc<dyn StorageBackend>,
    on_loss: &mut dyn FnMut(&RunStats),
) -> RunOutcome {
    let mut rng = Rng::new(spec.run_seed);
    let setup = Setup::random(&mut rng);
    let mix = op::Mix::random(&mut rng);
    let mut ops = Vec::new();
    let mut harness = match Harness::new(inner, setup, spec.dir.clone()) {
        Ok(h) => h,
        Err(v) => {
            return RunOutcome {
                setup,
                stats: RunStats::default(),
                ops,
                violation: Some(v),
            }
        }
    };
    let mut next_mode = spec.first_mode;
    let modes = if spec.modes.is_empty() {
        ALL_CRASH_MODES
    } else {
        &spec.modes[..]
    };
    let step = |h: &mut Harness, op: Op, ops: &mut Vec<Op>| {
        let r = h.step(&op);
        ops.push(op);
        r
    };
    // Injected I/O failures come from a generator of their own, so that the operations
    // the main one draws are those of a campaign without them: the faults are only
    // inserted.
    let mut faults = Rng::new(rng::mix(spec.run_seed ^ FAULT_STREAM));
    let faulty = faults.chance(1, 2) && spec.inject_faults;
    let result = (|| {
        while harness.stats.power_losses < spec.power_losses {
            for _ in 0..rng.below(8) {
                step(&mut harness, Op::random(&mut rng, &mix), &mut ops)?;
            }
            if faulty && faults.chance(1, 3) {
                // A fault, operations while it may fire, its check; then a clean reopen,
                // or the power cut below.
                step(&mut harness, FaultKind::random(&mut faults), &mut ops)?;
                for _ in 0..faults.range(2, 10) {
                    step(&mut harness, Op::random(&mut faults, &mix), &mut ops)?;
                }
                step(&mut harness, Op::Heal, &mut ops)?;
                if faults.chance(1, 2) {
                    step(&mut harness, Op::Reopen, &mut ops)?;
                }
            }
            // Mostly soon, so that the cut lands inside one of the next operations (or
            // in the background work they start); sometimes later, past a few rollovers.
            let reach = if rng.chance(1, 5) { 200 } else { 16 };
            let after = rng.below(reach) as u16;
            step(&mut harness, Op::PowerOff { after }, &mut ops)?;
            for _ in 0..rng.range(1, 10) {
                step(&mut harness, Op::random(&mut rng, &mix), &mut ops)?;
            }
            let mode = modes[next_mode % modes.len()];
            next_mode += 1;
            step(&mut harness, Op::Crash(mode), &mut ops)?;
            on_loss(&harness.stats);
        }
        step(&mut harness, Op::Reopen, &mut ops)
    })();
    RunOutcome {
        setup,
        stats: harness.stats.clone(),
        ops,
        violation: result.err(),
    }
}

/// Runs `ops` on a fresh log in `dir` opened with `setup` on `inner`: for tests that
/// generate their own operations (proptest shrinks them). Returns the counts, or the
/// first violation.
pub fn replay(
    inner: Arc<dyn StorageBackend>,
    setup: Setup,
    ops: &[Op],
    dir: &Path,
) -> Result<RunStats, Violation> {
    let mut harness = Harness::new(inner, setup, dir.to_owned())?;
    for op in ops {
        harness.step(op)?;
    }
    Ok(harness.stats.clone())
}

/// Seeds the generator of a run's injected faults (from the run's seed).
const FAULT_STREAM: u64 = 0xFA17_5EED;

/// The seed of run `index` of a campaign seeded `seed`.
pub fn run_seed(seed: u64, index: u64) -> u64 {
    mix(seed ^ mix(index.wrapping_add(0x5EED)))
}

/// Runs a campaign; `progress` is called after every power loss.
pub fn run(cfg: &CampaignConfig, progress: &mut dyn FnMut(&Progress)) -> Report {
    let started = Instant::now();
    let mut report = Report {
        seed: cfg.seed,
        ..Report::default()
    };
    let mut backends = Vec::new();
    for &b in &cfg.backends {
        match b.make() {
            Ok(inner) => backends.push((b, inner)),
            Err(reason) => report
                .skipped_backends
                .push(format!("{}: {reason}", b.name())),
        }
    }
    let temp = match &cfg.dir {
        Some(_) => None,
        None => match tempfile::tempdir() {
            Ok(t) => Some(t),
            Err(e) => {
                report
                    .skipped_backends
                    .push(format!("no temporary directory: {e}"));
                return report;
            }
        },
    };
    let root = cfg
        .dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_owned()))
        .expect("a directory");
    if backends.is_empty() || cfg.modes.is_empty() {
        return report;
    }
    let mut shown = Progress {
        power_losses_total: cfg.power_losses,
        ..Progress::default()
    };
    progress(&shown);
    // A run that fails before its first power loss still counts, so that a campaign
    // always ends.
    let max_runs = cfg.power_losses * 2 + 10;
    while report.stats.power_losses < cfg.power_losses
        && report.failures.len() < cfg.max_failures
        && report.runs < max_runs
    {
        let index = report.runs;
        let (backend, inner) = &backends[index as usize % backends.len()];
        let spec = RunSpec {
            run_seed: run_seed(cfg.seed, index),
            power_losses: cfg
                .losses_per_run
                .min(cfg.power_losses - report.stats.power_losses),
            modes: cfg.modes.clone(),
            first_mode: (index * cfg.losses_per_run) as usize,
            dir: root.join(format!("run-{index}")),
            inject_faults: true,
        };
        report.runs += 1;
        shown.runs = report.runs;
        let before = report.stats.clone();
        let outcome = run_one(&spec, inner.clone(), &mut |s| {
            shown.power_losses = before.power_losses + s.power_losses;
            shown.entries_checked = before.entries_checked + s.entries_checked;
            progress(&shown);
        });
        report.stats.add(&outcome.stats);
        match outcome.violation {
            Some(violation) => {
                tracing::warn!(run = index, %violation, "violation");
                let failure = Failure {
                    seed: cfg.seed,
                    run: index,
                    run_seed: spec.run_seed,
                    backend: backend.name().to_owned(),
                    violation,
                };
                report.record(failure, cfg.waive_known_defects);
            }
            None => {
                if let Err(e) = std::fs::remove_dir_all(&spec.dir) {
                    tracing::debug!(error = %e, "could not remove a run's log");
                }
            }
        }
        shown.power_losses = report.stats.power_losses;
        shown.entries_checked = report.stats.entries_checked;
        shown.violations = report.violations();
        progress(&shown);
    }
    report.duration = started.elapsed();
    report
}
