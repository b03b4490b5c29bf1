//! The harness: runs [`Op`]s against a log on a [`FaultyBackend`] and checks each result
//! against the [`Model`] as it goes.

use std::path::PathBuf;
use std::sync::Arc;

use wal::{Entry, FsyncSchedule, ReadConsistency, StorageBackend, Wal};

use super::jitter::Jitter;
use super::model::{payload, CursorModel, Existence, Model, Persisted};
use super::op::{Op, Reader, Retention, Setup, CONSUMERS, TOPICS};
use super::power;
use super::report::{RunStats, Violation, ViolationKind};
use crate::faulty::{CrashMode, FaultPlan, FaultyBackend};

/// Bytes a record of `len` payload bytes takes (header, payload, alignment).
fn record_size(len: usize) -> u64 {
    (24 + len).next_multiple_of(8) as u64
}

/// How the last log instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    /// `close` succeeded: everything is durable.
    Clean,
    /// A process crash: what reached the OS stays.
    Kill,
    /// A power loss.
    Power,
}

/// A log under test, its fault injector and its model.
pub(crate) struct Harness {
    pub(super) dir: PathBuf,
    pub(super) backend: FaultyBackend,
    pub(super) setup: Setup,
    pub(super) wal: Option<Wal>,
    pub(super) model: Model,
    /// An operation failed with the power off: the log is dead until the next crash, and
    /// operations are skipped.
    pub(super) dead: bool,
    pub(super) stats: RunStats,
    /// The step being run and its operation, for violations.
    pub(super) step: u64,
    pub(super) op: String,
    /// How many crash modes were used, to pick one for a crash no operation asked for.
    crash_count: u64,
    /// The oldest segment id seen at the last restart.
    first_segment: u64,
    /// What `on_durable` callbacks said, as they said it (see `raft.rs`).
    pub(super) notices: super::raft::Notices,
    /// Pauses the threads that drive the log at some of the engine's events.
    pub(super) jitter: tracing::Dispatch,
    /// The injected fault armed ([`Op::Fault`]), until [`Op::Heal`] or a restart.
    pub(super) fault: Option<super::fault::Armed>,
    /// The mutation count at which the planned power cut comes ([`Op::PowerOff`]).
    pub(super) cut: Option<u64>,
    /// A fault poisoned the log instance: writes must be refused until the restart.
    pub(super) poisoned: bool,
    /// `durable_offset` of each topic when the poisoning was noticed.
    pub(super) durable_seen: Vec<Option<u64>>,
    /// The model's sequence number before the operation running (what it appends is
    /// above).
    pub(super) op_seq: u64,
    /// What the log instance reported to its `on_error` hook.
    pub(super) reports: super::fault::Reports,
    /// Named consumers whose `consumer()` call failed (an injected fault) after the log
    /// had queued their registration, with that call's sequence number: the log knows
    /// them, the model does not (until the next restart).
    pub(super) queued_registrations: std::collections::BTreeMap<(usize, Reader), u64>,
}

impl Harness {
    /// Opens a fresh log in `dir` on `inner` wrapped in a fault injector.
    pub fn new(
        inner: Arc<dyn StorageBackend>,
        setup: Setup,
        dir: PathBuf,
    ) -> Result<Self, Violation> {
        let backend = FaultyBackend::new(inner, FaultPlan::seeded(setup.fault_seed));
        let mut h = Self {
            dir,
            backend,
            setup,
            wal: None,
            model: Model::new(TOPICS),
            dead: false,
            stats: RunStats::default(),
            step: 0,
            op: "open".into(),
            crash_count: 0,
            first_segment: 1,
            notices: super::raft::Notices::default(),
            jitter: Jitter::dispatch(super::rng::mix(setup.fault_seed ^ 0x0717_7E55)),
            fault: None,
            cut: None,
            poisoned: false,
            durable_seen: Vec::new(),
            op_seq: 0,
            reports: super::fault::Reports::default(),
            queued_registrations: std::collections::BTreeMap::new(),
        };
        let wal = h
            .open()
            .map_err(|e| h.violation(ViolationKind::Unopenable, format!("first open: {e}")))?;
        h.wal = Some(wal);
        Ok(h)
    }

    pub(super) fn open(&self) -> wal::Result<Wal> {
        let s = &self.setup;
        let reports = self.reports.clone();
        let mut b = Wal::builder()
            .on_error(move |f| super::fault::report(&reports, f))
            .dir(&self.dir)
            .fsync(s.schedule)
            .consistency(s.consistency)
            .segment_size(s.segment_size)
            .precreate_segments(s.precreate)
            .write_buffer(s.write_buffer)
            .write_interval(s.write_interval)
            .max_open_segments(s.max_open_segments)
            .custom_backend(Arc::new(self.backend.clone()));
        b = match s.retention {
            Retention::None => b,
            Retention::Segments(n) => b.retain_bytes(u64::from(n) * s.segment_size),
            Retention::AgeForever => b.retain_age(std::time::Duration::from_secs(3600)),
            Retention::AgeMillis(ms) => b.retain_age(std::time::Duration::from_millis(ms.into())),
        };
        b.open()
    }

    pub(super) fn wal(&self) -> &Wal {
        self.wal.as_ref().expect("the log is open between steps")
    }

    pub(super) fn violation(&self, kind: ViolationKind, message: String) -> Violation {
        Violation {
            kind,
            step: self.step,
            op: self.op.clone(),
            message,
        }
    }

    /// An operation failed. With the power off that is expected: the log is dead until
    /// the next crash. With the power on it is a violation.
    /// With an injected fault that explains the error, it is expected too, and the model
    /// forgets what the operation never got into the log.
    pub(super) fn failed(&mut self, what: &str, e: &wal::Error) -> Result<(), Violation> {
        if power::is_off(&self.backend) {
            self.dead = true;
            Ok(())
        } else if self.fault_explains(e) {
            self.forget_refused()
        } else {
            let fault = self.fault_note();
            Err(self.violation(
                ViolationKind::Unexpected,
                format!("{what} failed: {e} ({:?}){fault}", e.io_kind()),
            ))
        }
    }

    fn sync_each(&self) -> bool {
        self.setup.schedule == FsyncSchedule::SyncEach
    }

    /// The largest entry and batch (encoded bytes) a segment holds.
    fn limits(&self) -> (usize, u64) {
        let room = self.setup.segment_size - (32 + 2 * record_size(255));
        (((room - 24) & !7) as usize, room)
    }

    /// The crash mode for a crash no operation chose (the power went off in a close or a
    /// recovery): the modes in turn.
    fn next_mode(&self) -> CrashMode {
        crate::faulty::ALL_CRASH_MODES
            [(self.crash_count as usize) % crate::faulty::ALL_CRASH_MODES.len()]
    }

    /// Runs one operation and checks its result.
    pub fn step(&mut self, op: &Op) -> Result<(), Violation> {
        self.op = format!("{op:?}");
        self.stats.ops += 1;
        let jitter = self.jitter.clone();
        let result = tracing::dispatcher::with_default(&jitter, || self.run_op(op));
        self.step += 1;
        result
    }

    fn run_op(&mut self, op: &Op) -> Result<(), Violation> {
        self.op_seq = self.model.seq();
        if !self.dead {
            self.observe_poison();
        }
        self.take_notices(false)?;
        if self.dead && !op.restarts() {
            return Ok(());
        }
        if let Some(refused) = self.refuse(op) {
            return refused;
        }
        let result = self.dispatch(op);
        if result.is_ok() && !self.dead && !op.restarts() {
            return self.check_durable_kept();
        }
        result
    }

    fn dispatch(&mut self, op: &Op) -> Result<(), Violation> {
        let topic = |t: u8| (t % TOPICS) as usize;
        match *op {
            Op::Append { topic: t, len } => self.append(topic(t), &[len]),
            Op::Batch { topic: t, n, len } => {
                let n = u16::from(n.max(1));
                let lens: Vec<u16> = (0..n).map(|i| (len + 37 * i) % 250).collect();
                self.append(topic(t), &lens)
            }
            Op::Read {
                topic: t,
                reader,
                checkpoint,
            } => self.read(topic(t), normal(reader), None, checkpoint),
            Op::BatchRead {
                topic: t,
                reader,
                max_bytes,
                checkpoint,
            } => self.read(topic(t), normal(reader), Some(max_bytes.into()), checkpoint),
            Op::ReadFrom {
                topic: t,
                at,
                max_bytes,
            } => self.read_from(topic(t), at, max_bytes.into()),
            Op::Sync => match self.wal().sync() {
                Ok(()) => {
                    self.model.durable_upto(self.model.seq());
                    self.check_durable_offsets()
                }
                Err(e) => self.failed("sync", &e),
            },
            Op::WaitDurable { topic: t } => self.wait_durable(topic(t)),
            Op::TruncateBefore { topic: t, at } => self.truncate(topic(t), at),
            Op::TruncateFrom { topic: t, at } => self.truncate_from(topic(t), at),
            Op::StartAt { topic: t, skip } => self.start_at(topic(t), skip),
            Op::SetMeta { topic: t, key, len } => self.set_meta(topic(t), key, len),
            Op::OnDurable => self.on_durable(),
            Op::Reclaim => self.reclaim(),
            Op::Concurrent {
                writers,
                appends,
                reader,
                churn,
            } => self.concurrent(writers, appends, reader.map(normal), churn),
            Op::PowerOff { after } => {
                self.cut = Some(self.backend.counts().mutations + u64::from(after));
                power::arm(&self.backend, self.plan(), after.into());
                Ok(())
            }
            Op::Fault { kind, after, calls } => {
                self.arm_fault(kind, after, calls);
                Ok(())
            }
            Op::Heal => self.heal(),
            Op::Reopen => self.restart(Restart::Clean, None),
            Op::Kill => self.restart(Restart::Kill, None),
            Op::Crash(mode) => self.restart(Restart::Power, Some(mode)),
        }
    }

    /// A single append (one length) or a batch.
    fn append(&mut self, t: usize, lens: &[u16]) -> Result<(), Violation> {
        let (max_entry, max_batch) = self.limits();
        let mut lens: Vec<usize> = lens
            .iter()
            .map(|&l| usize::from(l).min(max_entry))
            .collect();
        while lens.len() > 1 && lens.iter().map(|&l| record_size(l)).sum::<u64>() > max_batch {
            lens.pop();
        }
        let first = self.model.topics[t].count();
        let nonce = self.model.nonces(lens.len() as u64);
        let data: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, &len)| payload(first + i as u64, nonce + i as u64, len))
            .collect();
        let seq = self.model.next_seq();
        let name = self.model.topics[t].name.clone();
        let result = if data.len() == 1 {
            self.wal()
                .append_for_topic(&name, &data[0])
                .map(|o| o..o + 1)
        } else {
            let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            self.wal().batch_append_for_topic(&name, &refs)
        };
        let n = data.len() as u64;
        let tm = &mut self.model.topics[t];
        tm.created_at(seq);
        for d in data {
            tm.push(seq, d);
        }
        tm.boundary();
        match result {
            Ok(range) if range == (first..first + n) => {
                if self.sync_each() {
                    self.model.durable_upto(seq);
                }
                Ok(())
            }
            Ok(range) => Err(self.violation(
                ViolationKind::Unexpected,
                format!(
                    "{name}: appended at {range:?}, expected {first}..{}",
                    first + n
                ),
            )),
            Err(e) => self.failed("append", &e),
        }
    }

    /// Registers named consumer `reader` of topic `t` with the log if the model does not
    /// know it yet, and checks where it starts.
    pub(super) fn ensure_consumer(&mut self, t: usize, reader: Reader) -> Result<(), Violation> {
        let Some(cname) = reader.name() else {
            return Ok(());
        };
        if self.model.topics[t].cursors.contains_key(&reader) {
            return Ok(());
        }
        let seq = self.model.next_seq();
        let name = self.model.topics[t].name.clone();
        // The log may know the consumer already: registered by an earlier call that failed
        // after queueing its record, or recovered from that record after a restart. Then
        // `consumer()` only makes sure that record reached the OS (see its rustdoc), not
        // what was appended since.
        let known = self.knows_consumer(&name, &cname);
        let consumer = match self.wal().consumer(&name, &cname) {
            Ok(c) => c,
            Err(e) => {
                if !known && self.knows_consumer(&name, &cname) {
                    self.queued_registrations.insert((t, reader), seq);
                }
                return self.failed("consumer", &e);
            }
        };
        let at = consumer.position();
        let tm = &self.model.topics[t];
        let lowest = tm.floor.now;
        let highest = tm.min_cursor().min(tm.count());
        if at < lowest || at > highest {
            return Err(self.violation(
                ViolationKind::Cursor,
                format!(
                    "{name}/{cname}: a new consumer starts at {at}, expected {lowest}..={highest}"
                ),
            ));
        }
        let tm = &mut self.model.topics[t];
        tm.created_at(seq);
        tm.cursors.insert(
            reader,
            CursorModel {
                pos: Persisted::at(at),
                exists: Existence::Written(seq),
            },
        );
        // A new registration is written with everything queued before it; one the log
        // had already queued, with what came before the call that queued it (after a
        // restart that record was recovered: nothing more is known written).
        let queued = self.queued_registrations.remove(&(t, reader));
        match (known, queued) {
            (false, _) => self.model.written_upto(seq),
            (true, Some(first)) => self.model.written_upto(first),
            (true, None) => {}
        }
        Ok(())
    }

    /// `true` if the log lists `consumer` among the named consumers of `topic`.
    fn knows_consumer(&self, topic: &str, consumer: &str) -> bool {
        self.wal()
            .consumers(topic)
            .iter()
            .any(|(name, _)| name == consumer)
    }

    /// The entries a cursor read from `from` must return: one, or as many as fit in
    /// `budget` payload bytes (at least one).
    fn expected(&self, t: usize, from: u64, budget: Option<usize>) -> &[Vec<u8>] {
        let entries = &self.model.topics[t].entries;
        let rest = entries.get(from as usize..).unwrap_or(&[]);
        let n = match budget {
            None => rest.len().min(1),
            Some(max) => {
                let mut bytes = 0;
                rest.iter()
                    .take_while(|e| {
                        bytes += e.len();
                        bytes <= max
                    })
                    .count()
                    .max(rest.len().min(1))
            }
        };
        &rest[..n]
    }

    /// Compares entries read from offset `from` with the model.
    fn compare(
        &self,
        t: usize,
        from: u64,
        got: &[Entry],
        expected: &[Vec<u8>],
        what: &str,
    ) -> Result<(), Violation> {
        let name = &self.model.topics[t].name;
        for (i, e) in got.iter().enumerate() {
            let offset = from + i as u64;
            if e.offset != offset {
                let oldest = self.wal().oldest_offset(name).unwrap_or(0);
                let kind = if e.offset > offset && oldest > offset {
                    ViolationKind::Retention
                } else {
                    ViolationKind::Unexpected
                };
                return Err(self.violation(
                    kind,
                    format!("{name}: {what} gave offset {} where {offset} was due (oldest retained {oldest})", e.offset),
                ));
            }
            match expected.get(i) {
                Some(d) if *d == e.data => {}
                Some(_) => {
                    return Err(self.violation(
                        ViolationKind::Invented,
                        format!("{name}: {what}: entry {offset} holds other bytes than appended"),
                    ))
                }
                None => {
                    return Err(self.violation(
                        ViolationKind::Invented,
                        format!("{name}: {what}: entry {offset} was never appended"),
                    ))
                }
            }
        }
        if got.len() != expected.len() {
            let oldest = self.wal().oldest_offset(name).unwrap_or(0);
            let kind = if got.is_empty() && oldest > from {
                ViolationKind::Retention
            } else {
                ViolationKind::Unexpected
            };
            return Err(self.violation(
                kind,
                format!(
                    "{name}: {what} from {from} gave {} entries, expected {} (oldest retained {oldest})",
                    got.len(),
                    expected.len()
                ),
            ));
        }
        Ok(())
    }

    /// `read_next` / `batch_read_for_topic` through `reader`.
    fn read(
        &mut self,
        t: usize,
        reader: Reader,
        budget: Option<usize>,
        checkpoint: bool,
    ) -> Result<(), Violation> {
        self.ensure_consumer(t, reader)?;
        // (A consumer an injected fault kept from registering has no cursor to read.)
        if self.dead || !self.model.topics[t].cursors.contains_key(&reader) {
            return Ok(());
        }
        let name = self.model.topics[t].name.clone();
        let from = self.model.topics[t].cursors[&reader].pos.now;
        let result = match (reader.name(), budget) {
            (None, None) => self.wal().read_next(&name, checkpoint).map(Vec::from_iter),
            (None, Some(max)) => self.wal().batch_read_for_topic(&name, max, checkpoint),
            (Some(cname), budget) => {
                self.wal()
                    .consumer(&name, &cname)
                    .and_then(|c| match budget {
                        None => c.read_next(checkpoint).map(Vec::from_iter),
                        Some(max) => c.batch_read(max, checkpoint),
                    })
            }
        };
        let got = match result {
            Ok(got) => got,
            Err(e) => {
                if checkpoint {
                    let end = self.model.topics[t].count();
                    let c = self.model.topics[t]
                        .cursors
                        .get_mut(&reader)
                        .expect("known");
                    c.pos.upper = c.pos.upper.max(end);
                }
                return self.failed("read", &e);
            }
        };
        let expected = self.expected(t, from, budget).to_vec();
        self.compare(t, from, &got, &expected, "read")?;
        if let Some(last) = got.len().checked_sub(1) {
            self.entries_written(t, from + last as u64);
            if checkpoint {
                self.advance(t, reader, from + got.len() as u64);
            }
        }
        Ok(())
    }

    /// Reading entry `offset` of topic `t` wrote it (and all before it) to the OS.
    fn entries_written(&mut self, t: usize, offset: u64) {
        let seq = self.model.topics[t].seqs[offset as usize];
        if self.model.is_phase(seq) {
            self.model.written_upto(seq - 1);
            let tm = &mut self.model.topics[t];
            tm.written = tm.written.max(offset as usize + 1);
        } else {
            self.model.written_upto(seq);
        }
    }

    /// A checkpointed read moved cursor `reader` of topic `t` to `to`.
    fn advance(&mut self, t: usize, reader: Reader, to: u64) {
        let seq = self.model.next_seq();
        let (schedule, consistency) = (self.setup.schedule, self.setup.consistency);
        let c = self.model.topics[t]
            .cursors
            .get_mut(&reader)
            .expect("known");
        c.pos.set(to);
        match consistency {
            ReadConsistency::StrictlyAtOnce => {
                c.pos.wrote(seq, to);
                self.model.written_upto(seq);
                if schedule != FsyncSchedule::NoFsync {
                    self.model.durable_upto(seq);
                }
            }
            ReadConsistency::AtLeastOnce { persist_every } => {
                c.pos.wrote(seq, to.saturating_sub(persist_every.into()));
            }
        }
    }

    /// `read_from` somewhere in the retained range.
    fn read_from(&mut self, t: usize, at: u8, budget: usize) -> Result<(), Violation> {
        let name = self.model.topics[t].name.clone();
        let count = self.model.topics[t].count();
        let engine_count = self.wal().get_topic_entry_count(&name);
        if engine_count != count {
            return Err(self.violation(
                ViolationKind::Unexpected,
                format!("{name}: the log counts {engine_count} entries, {count} were appended"),
            ));
        }
        let Some(oldest) = self.wal().oldest_offset(&name) else {
            return match self.wal().read_from(&name, 0, budget) {
                Ok(got) if got.is_empty() && count == 0 => Ok(()),
                Ok(got) => Err(self.violation(
                    ViolationKind::Unexpected,
                    format!(
                        "{name}: unknown to the log ({} entries read), {count} appended",
                        got.len()
                    ),
                )),
                Err(e) => self.failed("read_from", &e),
            };
        };
        self.check_live_retention(t, oldest)?;
        let from = oldest + (count - oldest) * u64::from(at) / 255;
        match self.wal().read_from(&name, from, budget) {
            Ok(got) => {
                let expected = self.expected(t, from, Some(budget)).to_vec();
                self.compare(t, from, &got, &expected, "read_from")?;
                if let Some(last) = got.len().checked_sub(1) {
                    self.entries_written(t, from + last as u64);
                }
                Ok(())
            }
            // A background reclaim may have passed `from` meanwhile; only entries every
            // cursor has passed can go, which the next check confirms.
            Err(wal::Error::OffsetReclaimed { oldest: now, .. }) if now > from => {
                self.check_live_retention(t, now)
            }
            Err(e) => self.failed("read_from", &e),
        }
    }

    /// While the log runs, retention deletes only what every cursor has passed (or what
    /// was truncated), and the retention policy keeps what it promises.
    pub(super) fn check_live_retention(&self, t: usize, oldest: u64) -> Result<(), Violation> {
        let tm = &self.model.topics[t];
        let limit = tm.min_cursor().max(tm.floor.upper);
        if oldest > limit {
            return Err(self.violation(
                ViolationKind::Retention,
                format!(
                    "{}: entries from {limit} to {oldest} were reclaimed, a cursor was at {}",
                    tm.name,
                    tm.min_cursor()
                ),
            ));
        }
        if self.setup.retention == Retention::AgeForever && oldest > tm.floor.upper {
            return Err(self.violation(
                ViolationKind::Retention,
                format!(
                    "{}: entries below {oldest} were reclaimed under retain_age of an hour",
                    tm.name
                ),
            ));
        }
        Ok(())
    }

    /// After a sync, `durable_offset` of every topic is its last entry (if retained).
    fn check_durable_offsets(&self) -> Result<(), Violation> {
        for tm in &self.model.topics {
            let Some(last) = tm.count().checked_sub(1) else {
                continue;
            };
            if self.wal().oldest_offset(&tm.name).is_none_or(|o| o > last) {
                continue;
            }
            let durable = self.wal().durable_offset(&tm.name);
            // (Unless the background thread reclaimed the entry meanwhile.)
            let gone = || self.wal().oldest_offset(&tm.name).is_none_or(|o| o > last);
            if durable != Some(last) && !gone() {
                return Err(self.violation(
                    ViolationKind::Unexpected,
                    format!(
                        "{}: durable_offset is {durable:?} after a sync, the last entry is {last}",
                        tm.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn wait_durable(&mut self, t: usize) -> Result<(), Violation> {
        let name = self.model.topics[t].name.clone();
        let Some(last) = self.model.topics[t].count().checked_sub(1) else {
            return Ok(());
        };
        if self.wal().oldest_offset(&name).is_none_or(|o| o > last) {
            return Ok(());
        }
        match self.wal().wait_durable(&name, last) {
            Ok(()) => {
                let seq = self.model.topics[t].seqs[last as usize];
                if self.model.is_phase(seq) {
                    self.model.durable_upto(seq - 1);
                    let tm = &mut self.model.topics[t];
                    tm.durable = tm.entries.len();
                    tm.written = tm.entries.len();
                    tm.created = Some(Existence::Durable);
                } else {
                    self.model.durable_upto(seq);
                }
                Ok(())
            }
            // Reclaimed meanwhile by the background thread: nothing to wait for.
            Err(wal::Error::OffsetNotFound { .. })
                if self.wal().oldest_offset(&name).is_none_or(|o| o > last) =>
            {
                self.check_live_retention(t, self.wal().oldest_offset(&name).unwrap_or(0))
            }
            Err(e) => self.failed("wait_durable", &e),
        }
    }

    fn truncate(&mut self, t: usize, at: u8) -> Result<(), Violation> {
        let name = self.model.topics[t].name.clone();
        let Some(oldest) = self.wal().oldest_offset(&name) else {
            return Ok(());
        };
        let count = self.model.topics[t].count();
        let offset = oldest + (count.saturating_sub(oldest)) * u64::from(at) / 255;
        let seq = self.model.next_seq();
        let result = self.wal().truncate_before(&name, offset);
        self.truncated_before(t, offset, seq, result)
    }

    /// The model follows `truncate_before(offset)` at `seq`, which returned `result`: the
    /// floor and the cursors move up to `offset`.
    pub(super) fn truncated_before(
        &mut self,
        t: usize,
        offset: u64,
        seq: u64,
        result: wal::Result<()>,
    ) -> Result<(), Violation> {
        let tm = &mut self.model.topics[t];
        tm.floor.upper = tm.floor.upper.max(offset);
        for c in tm.cursors.values_mut() {
            c.pos.upper = c.pos.upper.max(offset);
        }
        match result {
            Ok(()) => {
                tm.floor.set(tm.floor.now.max(offset));
                tm.floor.wrote(seq, offset);
                for c in tm.cursors.values_mut() {
                    c.pos.set(c.pos.now.max(offset));
                    c.pos.wrote(seq, offset);
                }
                self.model.written_upto(seq);
                if self.setup.schedule == FsyncSchedule::SyncEach {
                    self.model.durable_upto(seq);
                }
                Ok(())
            }
            Err(e) => {
                // With the power on (an injected fault), the log may have moved the floor
                // and the cursors in memory before the failure: so does the model.
                let name = &self.model.topics[t].name;
                let moved = !power::is_off(&self.backend)
                    && self.wal().oldest_offset(name).is_some_and(|o| o >= offset);
                if moved {
                    let tm = &mut self.model.topics[t];
                    tm.floor.set(tm.floor.now.max(offset));
                    for c in tm.cursors.values_mut() {
                        c.pos.set(c.pos.now.max(offset));
                    }
                }
                self.failed("truncate_before", &e)
            }
        }
    }

    fn reclaim(&mut self) -> Result<(), Violation> {
        let dropped = match self.wal().reclaim() {
            Ok(n) => n,
            Err(e) => return self.failed("reclaim", &e),
        };
        self.stats.segments_reclaimed += dropped as u64;
        let segments = self.wal().segment_count() as u64;
        match self.setup.retention {
            Retention::Segments(n) if dropped > 0 && segments < u64::from(n) => {
                return Err(self.violation(
                    ViolationKind::Retention,
                    format!("reclaim left {segments} segments, retain_bytes asks for {n}"),
                ))
            }
            Retention::AgeForever if dropped > 0 => {
                return Err(self.violation(
                    ViolationKind::Retention,
                    format!("reclaim deleted {dropped} segments under retain_age of an hour"),
                ))
            }
            _ => {}
        }
        for t in 0..self.model.topics.len() {
            if let Some(oldest) = self.wal().oldest_offset(&self.model.topics[t].name) {
                self.check_live_retention(t, oldest)?;
            }
        }
        Ok(())
    }

    /// Ends the log instance as `how` says (a crash in `mode` for a power loss), opens it
    /// again and checks what survived.
    fn restart(&mut self, how: Restart, mode: Option<CrashMode>) -> Result<(), Violation> {
        let fired = self.end_fault_for_restart();
        let wal = self.wal.take().expect("the log is open between steps");
        let mut how = if self.dead || power::is_off(&self.backend) {
            Restart::Power
        } else {
            how
        };
        let closed = match how {
            Restart::Clean => wal.close(),
            Restart::Kill | Restart::Power => {
                wal.abandon();
                Ok(())
            }
        };
        self.note_poison_at_end(fired);
        // Every callback of the instance has been told by now: after a clean close that
        // all is durable, else closing told the rest that the log closed.
        self.take_notices(!(how == Restart::Clean && closed.is_ok()))?;
        self.check_all_told()?;
        match how {
            Restart::Clean => match closed {
                Ok(()) => self.model.all_durable(),
                Err(e) if power::is_off(&self.backend) => {
                    tracing::debug!(error = %e, "the power went off during close");
                    how = Restart::Power;
                }
                // A poisoned log cannot close cleanly: what reached the OS stays, as after
                // a process crash.
                Err(wal::Error::Poisoned { .. }) if self.poisoned => how = Restart::Kill,
                Err(e) => {
                    return Err(
                        self.violation(ViolationKind::Unexpected, format!("close failed: {e}"))
                    )
                }
            },
            Restart::Kill | Restart::Power => {}
        }
        if how == Restart::Power {
            self.power_loss(mode.unwrap_or_else(|| self.next_mode()))?;
        } else {
            self.stats.kills += u64::from(how == Restart::Kill);
            self.stats.clean_reopens += u64::from(how == Restart::Clean);
        }
        if let Some(&first) = wal_core::segment::list_segments(&self.dir)
            .ok()
            .and_then(|ids| ids.first().copied())
            .as_ref()
        {
            self.stats.segments_deleted += first.saturating_sub(self.first_segment);
            self.first_segment = first;
        }
        let mut on_disk = self.scan_cursors();
        loop {
            match self.open() {
                Ok(wal) => {
                    // Crash points inside recovery, not in the checks: once the log is
                    // open, no cut is planned any more. The background thread may have
                    // met the cut before that, though.
                    power::disarm(&self.backend, self.setup.fault_seed ^ self.crash_count);
                    self.cut = None;
                    if !power::is_off(&self.backend) {
                        self.wal = Some(wal);
                        break;
                    }
                    wal.abandon();
                    how = Restart::Power;
                    self.power_loss(self.next_mode())?;
                    on_disk = self.scan_cursors();
                }
                // The power went off inside recovery: that is one more power loss.
                Err(e) if power::is_off(&self.backend) => {
                    tracing::debug!(error = %e, "the power went off during recovery");
                    how = Restart::Power;
                    self.power_loss(self.next_mode())?;
                    on_disk = self.scan_cursors();
                }
                Err(e) => {
                    let last = last_segment(&self.dir).map_or(String::new(), |(name, header)| {
                        format!(" (the last segment is {name}, its header {header})")
                    });
                    return Err(self.violation(
                        ViolationKind::Unopenable,
                        format!("{how:?} restart: {e}{last}"),
                    ));
                }
            }
        }
        self.dead = false;
        self.poisoned = false;
        self.queued_registrations.clear();
        self.reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.check_after(how, on_disk)
    }

    /// Cuts the power for good and lets the disk lose what `mode` says.
    fn power_loss(&mut self, mode: CrashMode) -> Result<(), Violation> {
        self.stats.cut_mid_operation += u64::from(power::is_off(&self.backend));
        self.backend.crash(mode).map_err(|e| {
            self.violation(
                ViolationKind::Unexpected,
                format!("simulating the crash failed: {e}"),
            )
        })?;
        power::disarm(
            &self.backend,
            self.setup.fault_seed.wrapping_add(self.crash_count),
        );
        self.cut = None;
        self.crash_count += 1;
        self.stats.power_losses += 1;
        self.stats.count_mode(mode);
        Ok(())
    }
}

/// The file name of the highest-numbered segment in `dir`, and what its header holds
/// (`is zeros`, `is valid`, `is damaged`), for reports of logs that do not open.
fn last_segment(dir: &std::path::Path) -> Option<(String, &'static str)> {
    let name = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".wal"))
        .max()?;
    let bytes = std::fs::read(dir.join(&name)).ok()?;
    let header = bytes.get(..wal_core::format::SEGMENT_HEADER_LEN)?;
    let state = if header.iter().all(|&b| b == 0) {
        "is zeros"
    } else if wal_core::format::decode_segment_header(header).is_ok() {
        "is valid"
    } else {
        "is damaged"
    };
    Some((name, state))
}

/// Consumer numbers modulo [`CONSUMERS`], so that equal readers compare equal.
fn normal(reader: Reader) -> Reader {
    match reader {
        Reader::Shared => Reader::Shared,
        Reader::Named(n) => Reader::Named(n % CONSUMERS),
    }
}
