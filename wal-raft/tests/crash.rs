//! Power losses during appends, truncations, purges and votes, in every crash mode of
//! `wal_testkit::faulty`: after each one, the reopened store holds exactly the state some
//! prefix of its operations produced, and that prefix covers every acknowledged operation.
//! So nothing acknowledged is lost, nothing truncated comes back, and a vote (or purge
//! point, or committed index) never survives without what was written before it.
//!
//! An operation is acknowledged when it is durable by contract: an append once its
//! callback reported success, `save_vote` and `truncate` once they returned. `purge` and
//! `save_committed` are acknowledged by any later acknowledgement (the log keeps one
//! order). Each run is printed with its seed and mode when it fails.

mod common;

use std::sync::{mpsc, Arc};

use common::{run, Cfg};
use openraft::storage::RaftLogStorage;
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftLogReader, Vote};
use wal::{FsyncSchedule, Wal};
use wal_raft::WalLogStore;
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend, ALL_CRASH_MODES};

type Store = WalLogStore<Cfg>;

/// Runs per crash mode (each with its own seed and cut point).
const RUNS_PER_MODE: u64 = 16;
/// Operations per run.
const OPS: usize = 40;
/// Small segments, so that runs roll over to new segments.
const SEGMENT: u64 = 16 << 10;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn lid(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<openraft::Entry<Cfg>>),
    Vote(Vote<u64>),
    Committed(LogId<u64>),
    Purge(LogId<u64>),
    Truncate(LogId<u64>),
}

/// What the store shows: the model of it.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    purged: Option<LogId<u64>>,
    last: Option<LogId<u64>>,
    entries: Vec<(LogId<u64>, String)>,
}

impl State {
    fn next_index(&self) -> u64 {
        self.last.map_or(0, |l| l.index + 1)
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(es) => {
                for e in es {
                    self.entries.push((e.log_id, payload(e)));
                    self.last = Some(e.log_id);
                }
            }
            Op::Vote(v) => self.vote = Some(*v),
            Op::Committed(c) => self.committed = Some(*c),
            Op::Purge(p) => {
                if self.purged.is_some_and(|q| q.index >= p.index) {
                    return;
                }
                self.purged = Some(*p);
                self.entries.retain(|(id, _)| id.index > p.index);
                if self.last.is_none_or(|l| l.index < p.index) {
                    self.last = Some(*p);
                }
            }
            Op::Truncate(t) => {
                self.entries.retain(|(id, _)| id.index < t.index);
                self.last = self.entries.last().map(|(id, _)| *id).or(self.purged);
            }
        }
    }
}

fn payload(e: &openraft::Entry<Cfg>) -> String {
    match &e.payload {
        EntryPayload::Normal(s) => s.clone(),
        _ => String::new(),
    }
}

/// A script of `OPS` operations a Raft node could issue, and the state after each prefix.
fn script(seed: u64) -> (Vec<Op>, Vec<State>) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut state = State::default();
    let mut states = vec![state.clone()];
    let mut ops = Vec::new();
    let mut term = 1;
    while ops.len() < OPS {
        let first = state.entries.first().map(|(id, _)| id.index);
        let op = match rng.below(10) {
            5 => {
                term += rng.below(2);
                Op::Vote(Vote::new(term, 1))
            }
            6 if state.last.is_some() => {
                let last = state.last.unwrap();
                Op::Committed(lid(last.leader_id.term, last.index))
            }
            7 if first.is_some() => {
                let last = state.last.unwrap().index;
                let at = first.unwrap() + rng.below(last - first.unwrap() + 4);
                // Raft purges by the real log id of an entry, or past the end.
                let held = state.entries.iter().find(|(id, _)| id.index == at);
                Op::Purge(held.map_or(lid(term, at), |(id, _)| *id))
            }
            8 if first.is_some() => {
                let (f, last) = (first.unwrap(), state.last.unwrap().index);
                term += 1;
                Op::Truncate(lid(term, f + rng.below(last - f + 1)))
            }
            _ => {
                let next = state.next_index();
                let n = 1 + rng.below(6);
                let es = (next..next + n)
                    .map(|i| {
                        let len = 10 + rng.below(400) as usize;
                        let mut data = format!("{seed}-{}-{i}-", ops.len());
                        data.extend(std::iter::repeat_n('x', len));
                        openraft::Entry {
                            log_id: lid(term, i),
                            payload: EntryPayload::Normal(data),
                        }
                    })
                    .collect();
                Op::Append(es)
            }
        };
        state.apply(&op);
        states.push(state.clone());
        ops.push(op);
    }
    (ops, states)
}

/// Whether the log deletes old segments during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reclaim {
    /// Every segment is kept (`retain_bytes(u64::MAX)`): rollovers, no deletion.
    Off,
    /// The default: segments nothing needs are deleted after every rollover.
    On,
}

fn open(dir: &std::path::Path, backend: &FaultyBackend, reclaim: Reclaim) -> wal::Result<Arc<Wal>> {
    let mut builder = Wal::builder()
        .dir(dir)
        .fsync(FsyncSchedule::NoFsync)
        .segment_size(SEGMENT)
        .custom_backend(Arc::new(backend.clone()));
    if reclaim == Reclaim::Off {
        builder = builder.retain_bytes(u64::MAX);
    }
    Ok(Arc::new(builder.open()?))
}

/// Runs the script until an operation fails (the power went off) or to its end.
/// Returns how many operations were attempted, the prefix acknowledged by the calls
/// that are durable when they return, and the append callbacks' reports `(op, ok)`.
async fn drive(store: &mut Store, ops: &[Op]) -> (usize, usize, mpsc::Receiver<(usize, bool)>) {
    let (tx, rx) = mpsc::channel();
    let mut acked = 0;
    let mut attempted = 0;
    for (i, op) in ops.iter().enumerate() {
        attempted = i + 1;
        let ok = match op {
            Op::Append(es) => {
                let tx = tx.clone();
                let done = move |r: std::io::Result<()>| {
                    // The receiver outlives the store, except in the dry run.
                    tx.send((i, r.is_ok())).ok();
                };
                store.append_with_callback(es.clone(), done).is_ok()
            }
            Op::Vote(v) => store.save_vote(v).await.is_ok(),
            Op::Committed(c) => store.save_committed(Some(*c)).await.is_ok(),
            Op::Purge(p) => store.purge(*p).await.is_ok(),
            Op::Truncate(t) => store.truncate(*t).await.is_ok(),
        };
        if !ok {
            break;
        }
        if matches!(op, Op::Vote(_) | Op::Truncate(_)) {
            acked = i + 1;
        }
    }
    (attempted, acked, rx)
}

/// What the reopened store shows.
async fn observe(store: &mut Store) -> State {
    let state = store.get_log_state().await.unwrap();
    let entries = store.try_get_log_entries(0..).await.unwrap();
    State {
        vote: store.read_vote().await.unwrap(),
        committed: store.read_committed().await.unwrap(),
        purged: state.last_purged_log_id,
        last: state.last_log_id,
        entries: entries.iter().map(|e| (e.log_id, payload(e))).collect(),
    }
}

/// How many mutating backend calls opening the log and running the whole script make.
fn count_mutations(seed: u64, ops: &[Op], reclaim: Reclaim) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let backend = FaultyBackend::new(
        Arc::new(wal::StdBackend::default()),
        FaultPlan::seeded(seed),
    );
    let mut store = Store::with_wal(open(dir.path(), &backend, reclaim).unwrap(), "g").unwrap();
    run(drive(&mut store, ops));
    backend.counts().mutations
}

/// One run: the script with the power cut after a random number of backend calls (the
/// log's background thread makes some too, so the cut lands anywhere), a crash in
/// `mode`, a reopen, and the check.
fn power_loss(seed: u64, mode: CrashMode, reclaim: Reclaim) {
    let (ops, states) = script(seed);
    let total = count_mutations(seed, &ops, reclaim);
    let dir = tempfile::tempdir().unwrap();
    let backend = FaultyBackend::new(
        Arc::new(wal::StdBackend::default()),
        FaultPlan::seeded(seed),
    );
    let wal = open(dir.path(), &backend, reclaim).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let opened = backend.counts().mutations;
    let cut = opened + 1 + rng.below(total.saturating_sub(opened));
    backend.set_plan(FaultPlan::seeded(seed).power_off_after(cut));
    let mut store = Store::with_wal(wal, "g").unwrap();
    let (attempted, mut acked, reports) = run(drive(&mut store, &ops));
    drop(store); // the log closes: every append callback has reported
    for (i, ok) in reports.try_iter() {
        if ok {
            acked = acked.max(i + 1);
        }
    }
    backend.crash(mode).unwrap();
    backend.set_plan(FaultPlan::seeded(seed)); // the power stays on from now on
    let wal = open(dir.path(), &backend, reclaim)
        .unwrap_or_else(|e| panic!("seed {seed} {mode:?}: the log does not reopen: {e}"));
    let mut store = Store::with_wal(wal, "g").unwrap();
    let got = run(observe(&mut store));
    let fits = (acked..=attempted).find(|&k| states[k] == got);
    assert!(
        fits.is_some(),
        "seed {seed} {mode:?}: after {attempted} operations ({acked} acknowledged) the store \
         holds a state no acknowledged prefix produced:\n{got:#?}\nacknowledged prefix state:\n{:#?}",
        states[acked]
    );
    // The log goes on from what survived.
    let next = got.last.map_or(0, |l| l.index + 1);
    let e = openraft::Entry {
        log_id: lid(99, next),
        payload: EntryPayload::Normal("after".into()),
    };
    run(async {
        use openraft::storage::RaftLogStorageExt;
        store.blocking_append([e]).await.unwrap();
    });
}

fn seed_of(mode: CrashMode, run: u64) -> u64 {
    1000 * (1 + ALL_CRASH_MODES.iter().position(|m| *m == mode).unwrap() as u64) + run
}

macro_rules! crash_tests {
    ($($name:ident => $mode:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                for run in 0..RUNS_PER_MODE {
                    power_loss(seed_of($mode, run), $mode, Reclaim::Off);
                }
            }
        )*
    };
}

crash_tests!(
    power_loss_drop_unsynced => CrashMode::DropUnsynced,
    power_loss_keep_random_prefix => CrashMode::KeepRandomPrefix,
    power_loss_tear_last_sector => CrashMode::TearLastSector,
    power_loss_reorder_pages => CrashMode::ReorderPages,
    power_loss_torn_sectors => CrashMode::TornSectors,
    power_loss_lose_dir_ops => CrashMode::LoseDirOps,
    power_loss_chaos => CrashMode::Chaos,
);

/// The macro above covers every mode there is.
#[test]
fn every_crash_mode_is_tested() {
    assert_eq!(ALL_CRASH_MODES.len(), 7);
}

/// The same runs with segment deletion on. It used to fail about one run in a few
/// hundred (e.g. seed 1007 with `DropUnsynced`): reclaim deleted segments below a
/// `truncate_before` that the power loss then took back, so entries no acknowledged purge
/// removed were gone. The engine now deletes no segment before the last truncation of
/// either kind is durable.
#[test]
fn power_losses_with_segment_deletion() {
    for &mode in ALL_CRASH_MODES {
        for run in 0..RUNS_PER_MODE {
            power_loss(seed_of(mode, run), mode, Reclaim::On);
        }
    }
}
