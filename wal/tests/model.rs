//! Model-based test: random sequences of appends, batch appends, reads with and without
//! checkpoint, syncs, simulated power losses and reopens, checked against a simple
//! in-memory model after every step.
//!
//! After every crash and reopen: every entry acknowledged as durable is present and intact,
//! each topic is a prefix of what was appended (no hole, nothing never appended), each batch
//! is all or nothing, and a cursor never moves back past a durable checkpoint.
//!
//! Failing cases are printed by proptest (and kept in `proptest-regressions/`); each one
//! found is also kept below as a named regression test replaying its operations.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use wal::{FsyncSchedule, ReadConsistency, Wal};
use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};

const TOPICS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Append { topic: usize, len: usize },
    Batch { topic: usize, n: usize },
    Read { topic: usize, checkpoint: bool },
    Sync,
    WaitDurable { topic: usize },
    Crash(CrashMode),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let topic = 0..TOPICS;
    prop_oneof![
        6 => (topic.clone(), 0usize..600).prop_map(|(topic, len)| Op::Append { topic, len }),
        2 => (topic.clone(), 2usize..6).prop_map(|(topic, n)| Op::Batch { topic, n }),
        4 => (topic.clone(), any::<bool>()).prop_map(|(topic, checkpoint)| Op::Read { topic, checkpoint }),
        1 => Just(Op::Sync),
        1 => topic.prop_map(|topic| Op::WaitDurable { topic }),
        1 => prop_oneof![
            Just(CrashMode::DropUnsynced),
            Just(CrashMode::KeepRandomPrefix),
            Just(CrashMode::TearLastSector)
        ].prop_map(Op::Crash),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Config {
    schedule: FsyncSchedule,
    consistency: ReadConsistency,
    seed: u64,
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![
            Just(FsyncSchedule::SyncEach),
            Just(FsyncSchedule::Milliseconds(3_600_000)),
            Just(FsyncSchedule::NoFsync)
        ],
        prop_oneof![
            Just(ReadConsistency::StrictlyAtOnce),
            Just(ReadConsistency::AtLeastOnce { persist_every: 3 })
        ],
        any::<u64>(),
    )
        .prop_map(|(schedule, consistency, seed)| Config {
            schedule,
            consistency,
            seed,
        })
}

fn data(topic: usize, offset: u64, len: usize) -> Vec<u8> {
    let mut d = wal_testkit::pattern(topic as u64 * 1_000_000 + offset, len);
    if len >= 8 {
        d[..8].copy_from_slice(&offset.to_le_bytes());
    }
    d
}

/// What the log must hold for one topic.
#[derive(Debug, Default)]
struct TopicModel {
    entries: Vec<Vec<u8>>,
    /// The global sequence number of each entry's append (the log's order across topics).
    seqs: Vec<u64>,
    /// Counts a crash may cut the topic at: after each single append or whole batch.
    boundaries: BTreeSet<usize>,
    /// Entries known durable: a crash may not lose them.
    durable: usize,
    cursor: u64,
    /// The cursor value last written to the log (AtLeastOnce persists every 3), and when.
    persisted_cursor: u64,
    persisted_seq: u64,
    /// The cursor value known durable: a crash may not move the cursor below it.
    durable_cursor: u64,
}

struct Harness {
    dir: tempfile::TempDir,
    backend: Arc<FaultyBackend>,
    cfg: Config,
    wal: Option<Wal>,
    topics: Vec<TopicModel>,
    /// Sequence number of the last append or cursor write, across topics.
    seq: u64,
}

fn name(topic: usize) -> String {
    format!("topic-{topic}")
}

impl Harness {
    fn new(cfg: Config) -> Self {
        let backend = Arc::new(FaultyBackend::new(
            Arc::new(wal::StdBackend::default()),
            FaultPlan::seeded(cfg.seed),
        ));
        let mut h = Self {
            dir: tempfile::tempdir().unwrap(),
            backend,
            cfg,
            wal: None,
            topics: (0..TOPICS)
                .map(|_| TopicModel {
                    boundaries: [0].into(),
                    ..Default::default()
                })
                .collect(),
            seq: 0,
        };
        h.wal = Some(h.open(h.dir.path()));
        h
    }

    fn open(&self, dir: &Path) -> Wal {
        Wal::builder()
            .dir(dir)
            .fsync(self.cfg.schedule)
            .consistency(self.cfg.consistency)
            .segment_size(16 << 10)
            .custom_backend(self.backend.clone())
            .open()
            .expect("open")
    }

    fn wal(&self) -> &Wal {
        self.wal.as_ref().expect("open log")
    }

    /// Everything written up to sequence number `upto` (entries and cursors, in every
    /// topic) is durable now: a sync covers all that came before it in the log.
    fn durable_upto(&mut self, upto: u64) {
        for t in &mut self.topics {
            t.durable = t.durable.max(t.seqs.partition_point(|&s| s <= upto));
            if t.persisted_seq <= upto {
                t.durable_cursor = t.durable_cursor.max(t.persisted_cursor);
            }
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn step(&mut self, op: &Op) {
        let sync_each = self.cfg.schedule == FsyncSchedule::SyncEach;
        match *op {
            Op::Append { topic, len } => {
                let t = &self.topics[topic];
                let offset = t.entries.len() as u64;
                let d = data(topic, offset, len);
                assert_eq!(
                    self.wal().append_for_topic(&name(topic), &d).unwrap(),
                    offset
                );
                let seq = self.next_seq();
                let t = &mut self.topics[topic];
                t.entries.push(d);
                t.seqs.push(seq);
                t.boundaries.insert(t.entries.len());
                if sync_each {
                    self.durable_upto(seq);
                }
            }
            Op::Batch { topic, n } => {
                let first = self.topics[topic].entries.len() as u64;
                let batch: Vec<Vec<u8>> = (0..n as u64)
                    .map(|i| data(topic, first + i, 40 + i as usize * 17))
                    .collect();
                let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                assert_eq!(
                    self.wal()
                        .batch_append_for_topic(&name(topic), &refs)
                        .unwrap(),
                    first..first + n as u64
                );
                let seq = self.next_seq();
                let t = &mut self.topics[topic];
                t.entries.extend(batch);
                t.seqs.extend(std::iter::repeat_n(seq, n));
                t.boundaries.insert(t.entries.len());
                if sync_each {
                    self.durable_upto(seq);
                }
            }
            Op::Read { topic, checkpoint } => self.read(topic, checkpoint),
            Op::Sync => {
                self.wal().sync().unwrap();
                self.durable_upto(self.seq);
            }
            Op::WaitDurable { topic } => {
                if let Some(last) = self.topics[topic].entries.len().checked_sub(1) {
                    self.wal().wait_durable(&name(topic), last as u64).unwrap();
                    // That entry and everything before it in the log.
                    let upto = self.topics[topic].seqs[last];
                    self.durable_upto(upto);
                }
            }
            Op::Crash(mode) => {
                self.wal.take().expect("open log").abandon();
                self.backend.crash(mode).unwrap();
                self.wal = Some(self.open(self.dir.path()));
                self.check_after_crash();
            }
            Op::Reopen => {
                self.wal.take().expect("open log").close().unwrap();
                self.wal = Some(self.open(self.dir.path()));
                self.check_after_clean_reopen();
            }
        }
    }

    fn read(&mut self, topic: usize, checkpoint: bool) {
        let got = self.wal().read_next(&name(topic), checkpoint).unwrap();
        let strict = self.cfg.consistency == ReadConsistency::StrictlyAtOnce;
        let seq = self.seq + 1;
        let t = &mut self.topics[topic];
        match t.entries.get(t.cursor as usize) {
            None => assert_eq!(got, None, "{} past its end", name(topic)),
            Some(expected) => {
                let e =
                    got.unwrap_or_else(|| panic!("{}: entry {} missing", name(topic), t.cursor));
                assert_eq!((e.offset, &e.data), (t.cursor, expected));
                if checkpoint {
                    t.cursor += 1;
                    let persist = strict || t.cursor - t.persisted_cursor >= 3;
                    if persist {
                        t.persisted_cursor = t.cursor;
                        t.persisted_seq = seq;
                        self.seq = seq;
                    }
                    if strict && self.cfg.schedule != FsyncSchedule::NoFsync {
                        // The checkpoint was synced, and with it everything before it.
                        self.durable_upto(seq);
                    }
                }
            }
        }
    }

    fn check_after_crash(&mut self) {
        for (i, t) in self.topics.iter_mut().enumerate() {
            let wal = self.wal.as_ref().expect("open log");
            let count = wal.get_topic_entry_count(&name(i)) as usize;
            assert!(
                count >= t.durable,
                "{}: {count} entries survived, {} were durable",
                name(i),
                t.durable
            );
            assert!(
                count <= t.entries.len(),
                "{}: {count} entries, only {} appended",
                name(i),
                t.entries.len()
            );
            assert!(
                t.boundaries.contains(&count),
                "{}: cut at {count}, inside a batch {:?}",
                name(i),
                t.boundaries
            );
            let rest = wal
                .batch_read_for_topic(&name(i), usize::MAX, false)
                .unwrap();
            let cursor = rest.first().map_or(count as u64, |e| e.offset);
            assert!(
                cursor >= t.durable_cursor,
                "{}: cursor {cursor} went back past durable {}",
                name(i),
                t.durable_cursor
            );
            assert!(
                cursor <= t.cursor.max(t.durable_cursor),
                "{}: cursor {cursor} is ahead of {}",
                name(i),
                t.cursor
            );
            for e in &rest {
                assert_eq!(
                    &e.data,
                    &t.entries[e.offset as usize],
                    "{} entry {}",
                    name(i),
                    e.offset
                );
            }
            assert_eq!(rest.len(), count - cursor as usize);
            // The model adopts what survived; recovery made it durable.
            t.entries.truncate(count);
            t.seqs.truncate(count);
            t.boundaries.retain(|&b| b <= count);
            t.durable = count;
            t.cursor = cursor;
            t.persisted_cursor = cursor;
            t.durable_cursor = cursor;
        }
    }

    fn check_after_clean_reopen(&mut self) {
        for (i, t) in self.topics.iter_mut().enumerate() {
            let wal = self.wal.as_ref().expect("open log");
            assert_eq!(
                wal.get_topic_entry_count(&name(i)) as usize,
                t.entries.len(),
                "{}",
                name(i)
            );
            let rest = wal
                .batch_read_for_topic(&name(i), usize::MAX, false)
                .unwrap();
            assert_eq!(
                rest.first().map_or(t.entries.len() as u64, |e| e.offset),
                t.cursor,
                "{} cursor",
                name(i)
            );
            t.durable = t.entries.len();
            t.persisted_cursor = t.cursor;
            t.durable_cursor = t.cursor;
        }
    }
}

fn run(cfg: Config, ops: &[Op]) {
    let mut h = Harness::new(cfg);
    for op in ops {
        h.step(op);
    }
    h.step(&Op::Crash(CrashMode::KeepRandomPrefix));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Failures go to `model.proptest-regressions` beside this file, replayed first
        // on the next run; copy each into a named test below as well.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_log_matches_the_model(cfg in config(), ops in prop::collection::vec(op(), 1..50)) {
        run(cfg, &ops);
    }
}

/// A batch torn by a power loss right after an acknowledged single append: the append
/// survives, the batch does not appear in part.
#[test]
fn regression_torn_batch_after_durable_append() {
    let cfg = Config {
        schedule: FsyncSchedule::NoFsync,
        consistency: ReadConsistency::StrictlyAtOnce,
        seed: 11,
    };
    run(
        cfg,
        &[
            Op::Append { topic: 0, len: 10 },
            Op::Sync,
            Op::Batch { topic: 0, n: 5 },
            Op::Crash(CrashMode::TearLastSector),
            Op::Read {
                topic: 0,
                checkpoint: true,
            },
            Op::Batch { topic: 1, n: 3 },
            Op::Crash(CrashMode::KeepRandomPrefix),
        ],
    );
}

/// Found by the first run (a model error, kept so the lesson stays checked):
/// `wait_durable` on an entry that is already durable returns at once, so it makes durable
/// only what came before that entry in the log, not what was appended before the call.
#[test]
fn regression_wait_durable_covers_what_came_before_the_entry() {
    let cfg = Config {
        schedule: FsyncSchedule::Milliseconds(3_600_000),
        consistency: ReadConsistency::AtLeastOnce { persist_every: 3 },
        seed: 0,
    };
    run(
        cfg,
        &[
            Op::Append { topic: 1, len: 0 },
            Op::Reopen,
            Op::Append { topic: 0, len: 0 },
            Op::WaitDurable { topic: 1 },
            Op::Crash(CrashMode::DropUnsynced),
        ],
    );
}
