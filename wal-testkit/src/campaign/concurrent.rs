//! The concurrent phase: threads appending to distinct topics while another consumes one
//! of them, joined before anything is checked. Every acknowledged result is recorded and
//! merged into the model afterwards.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wal::{Entry, FsyncSchedule, ReadConsistency};

use super::harness::Harness;
use super::model::{payload, Existence};
use super::op::{Reader, TOPICS};
use super::report::{Violation, ViolationKind};

/// What one appending thread got back: one result per append or batch, in order, up to
/// and including the first failure.
type Acks = Vec<wal::Result<Range<u64>>>;

impl Harness {
    /// `writers` threads append `appends` times each to topics `0..writers`; with
    /// `reader`, a thread consumes topic 0 through that cursor meanwhile; with `churn`,
    /// a thread reads every topic from its oldest entry and reclaims, in turn.
    pub(super) fn concurrent(
        &mut self,
        writers: u8,
        appends: u8,
        reader: Option<Reader>,
        churn: bool,
    ) -> Result<(), Violation> {
        let writers = usize::from(writers.clamp(1, TOPICS));
        let appends = u64::from(appends.clamp(1, 40));
        if let Some(r) = reader {
            self.ensure_consumer(0, r)?;
            if self.dead || !self.model.topics[0].cursors.contains_key(&r) {
                return Ok(());
            }
        }
        // Every thread's payloads are fixed up front: single entries, and a batch of two
        // or three every third append.
        let plans: Vec<Vec<Vec<Vec<u8>>>> = (0..writers)
            .map(|w| {
                let mut next = self.model.topics[w].count();
                (0..appends)
                    .map(|k| {
                        let n = if k % 3 == 2 { 2 + k % 2 } else { 1 };
                        let nonce = self.model.nonces(n);
                        let batch = (0..n)
                            .map(|i| {
                                let len = ((nonce + i) * 7919 % 400) as usize;
                                payload(next + i, nonce + i, len)
                            })
                            .collect();
                        next += n;
                        batch
                    })
                    .collect()
            })
            .collect();
        let names: Vec<String> = (0..writers)
            .map(|w| self.model.topics[w].name.clone())
            .collect();
        let all_topics: Vec<String> = self.model.topics.iter().map(|t| t.name.clone()).collect();
        let phase = self.model.phase_seq();
        let wal = self.wal();
        let jitter = &self.jitter;
        let finished = AtomicUsize::new(0);
        let (acks, read, churned) = std::thread::scope(|s| {
            let handles: Vec<_> = plans
                .iter()
                .zip(&names)
                .map(|(plan, name)| {
                    let finished = &finished;
                    s.spawn(move || {
                        let _jitter = tracing::dispatcher::set_default(jitter);
                        let mut acks: Acks = Vec::new();
                        for batch in plan {
                            let r = if batch.len() == 1 {
                                wal.append_for_topic(name, &batch[0]).map(|o| o..o + 1)
                            } else {
                                let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                                wal.batch_append_for_topic(name, &refs)
                            };
                            let failed = r.is_err();
                            acks.push(r);
                            if failed {
                                break;
                            }
                        }
                        finished.fetch_add(1, Ordering::SeqCst);
                        acks
                    })
                })
                .collect();
            let consumer = reader.map(|r| {
                let finished = &finished;
                let topic = &names[0];
                s.spawn(move || {
                    let _jitter = tracing::dispatcher::set_default(jitter);
                    consume(wal, topic, r, || finished.load(Ordering::SeqCst) == writers)
                })
            });
            let old_reader = churn.then(|| {
                let finished = &finished;
                let topics = &all_topics;
                s.spawn(move || {
                    let _jitter = tracing::dispatcher::set_default(jitter);
                    read_old(wal, topics, || finished.load(Ordering::SeqCst) == writers)
                })
            });
            let reclaimer = churn.then(|| {
                let finished = &finished;
                s.spawn(move || {
                    let _jitter = tracing::dispatcher::set_default(jitter);
                    reclaim(wal, || finished.load(Ordering::SeqCst) == writers)
                })
            });
            let acks: Vec<Acks> = handles
                .into_iter()
                .map(|h| h.join().expect("appending thread panicked"))
                .collect();
            let read = consumer.map(|h| h.join().expect("consuming thread panicked"));
            let churned = old_reader.map(|h| {
                let (reads, read_error) = h.join().expect("reading thread panicked");
                let (dropped, reclaim_error) = reclaimer
                    .map(|h| h.join().expect("reclaiming thread panicked"))
                    .unwrap_or_default();
                (reads, dropped, read_error.or(reclaim_error))
            });
            (acks, read, churned)
        });
        self.stats.ops += acks.iter().map(|a| a.len() as u64).sum::<u64>();
        let mut failure = None;
        for (w, (plan, acks)) in plans.into_iter().zip(acks).enumerate() {
            for (batch, ack) in plan.into_iter().zip(acks) {
                let tm = &mut self.model.topics[w];
                let first = tm.count();
                let n = batch.len() as u64;
                tm.created_at(phase);
                for d in batch {
                    tm.push(phase, d);
                }
                tm.boundary();
                match ack {
                    Ok(range) if range == (first..first + n) => {
                        if self.setup.schedule == FsyncSchedule::SyncEach {
                            tm.durable = tm.entries.len();
                            tm.written = tm.entries.len();
                            tm.created = Some(Existence::Durable);
                        }
                    }
                    Ok(range) => {
                        return Err(self.violation(
                            ViolationKind::Unexpected,
                            format!(
                                "{}: a concurrent append got {range:?}, expected {first}..{}",
                                names[w],
                                first + n
                            ),
                        ))
                    }
                    Err(e) => failure = Some(e),
                }
            }
        }
        if let (Some(r), Some((delivered, error))) = (reader, read) {
            self.consumed(r, &delivered)?;
            if let Some(e) = error {
                let c = self.model.topics[0]
                    .cursors
                    .get_mut(&r)
                    .expect("registered");
                c.pos.upper = c.pos.upper.max(c.pos.now + 1);
                failure.get_or_insert(e);
            }
        }
        if let Some((reads, dropped, error)) = churned {
            self.stats.segments_reclaimed += dropped;
            for (t, got) in reads {
                let tm = &self.model.topics[t];
                let first = got.first().map_or(0, |e| e.offset);
                for (i, e) in got.iter().enumerate() {
                    if e.offset != first + i as u64
                        || tm.entries.get(e.offset as usize) != Some(&e.data)
                    {
                        return Err(self.violation(
                            ViolationKind::Invented,
                            format!("{}: read_from during the concurrent phase gave offset {} (the {i}th from {first}), not the entry appended there", tm.name, e.offset),
                        ));
                    }
                }
            }
            if let Some(e) = error {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => self.failed("a concurrent append, read or reclaim", &e),
            None => {
                for t in 0..self.model.topics.len() {
                    if let Some(oldest) = self.wal().oldest_offset(&self.model.topics[t].name) {
                        self.check_live_retention(t, oldest)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Checks what the consuming thread got and moves its cursor in the model.
    fn consumed(&mut self, reader: Reader, delivered: &[Entry]) -> Result<(), Violation> {
        let tm = &self.model.topics[0];
        let from = tm.cursors[&reader].pos.now;
        for (i, e) in delivered.iter().enumerate() {
            let offset = from + i as u64;
            if e.offset != offset || tm.entries.get(offset as usize) != Some(&e.data) {
                return Err(self.violation(
                    ViolationKind::Invented,
                    format!(
                        "{}: the consuming thread got offset {} as its {i}th entry from {from}, not the entry appended at {offset}",
                        tm.name, e.offset
                    ),
                ));
            }
        }
        if delivered.is_empty() {
            // Nothing read, nothing written: the cursor stays where it was (perhaps at a
            // topic start past the end that a fault kept from the OS), and proves nothing.
            return Ok(());
        }
        let to = from + delivered.len() as u64;
        let seq = self.model.next_seq();
        let (schedule, consistency) = (self.setup.schedule, self.setup.consistency);
        let tm = &mut self.model.topics[0];
        tm.written = tm.written.max(to as usize);
        let c = tm.cursors.get_mut(&reader).expect("registered");
        c.pos.set(to);
        match consistency {
            ReadConsistency::StrictlyAtOnce => {
                c.pos.wrote(seq, to);
                if schedule != FsyncSchedule::NoFsync {
                    // Each checkpoint was synced, with the entries before it in the topic.
                    c.pos.durable_upto(seq);
                    c.exists = Existence::Durable;
                    tm.durable = tm.durable.max(to as usize);
                    tm.created = Some(Existence::Durable);
                }
            }
            ReadConsistency::AtLeastOnce { persist_every } => {
                c.pos.wrote(seq, to.saturating_sub(persist_every.into()));
            }
        }
        Ok(())
    }
}

/// Consumes `topic` through `reader` until the appenders are done and nothing is left, or
/// a read fails.
fn consume(
    wal: &wal::Wal,
    topic: &str,
    reader: Reader,
    done: impl Fn() -> bool,
) -> (Vec<Entry>, Option<wal::Error>) {
    let consumer = match reader.name() {
        None => None,
        Some(name) => match wal.consumer(topic, &name) {
            Ok(c) => Some(c),
            Err(e) => return (Vec::new(), Some(e)),
        },
    };
    let wait = Duration::from_millis(1);
    let mut got = Vec::new();
    loop {
        let last_look = done();
        let r = match &consumer {
            None => wal.read_next_blocking(topic, true, wait),
            Some(c) => c.read_next_blocking(true, wait),
        };
        match r {
            Ok(Some(e)) => got.push(e),
            Ok(None) if last_look => return (got, None),
            Ok(None) => {}
            Err(e) => return (got, Some(e)),
        }
    }
}

/// What the reclaiming thread read: per read, the topic's number and the entries.
type OldReads = Vec<(usize, Vec<Entry>)>;

/// Reads every topic from its oldest retained entry, over and over until the appenders
/// are done, so that reads hold old segments while reclaim runs. Stops at the first error
/// other than a read that reclaim overtook.
fn read_old(
    wal: &wal::Wal,
    topics: &[String],
    done: impl Fn() -> bool,
) -> (OldReads, Option<wal::Error>) {
    let mut got = Vec::new();
    loop {
        let last_round = done();
        for (t, name) in topics.iter().enumerate() {
            let Some(oldest) = wal.oldest_offset(name) else {
                continue;
            };
            match wal.read_from(name, oldest, 16 << 10) {
                Ok(entries) => got.push((t, entries)),
                Err(wal::Error::OffsetReclaimed { .. }) => {}
                Err(e) => return (got, Some(e)),
            }
        }
        if last_round {
            return (got, None);
        }
    }
}

/// Reclaims over and over until the appenders are done.
/// Returns how many segments it deleted, and the error that stopped it.
fn reclaim(wal: &wal::Wal, done: impl Fn() -> bool) -> (u64, Option<wal::Error>) {
    let mut dropped = 0;
    loop {
        let last_round = done();
        match wal.reclaim() {
            Ok(n) => dropped += n as u64,
            Err(e) => return (dropped, Some(e)),
        }
        if last_round {
            return (dropped, None);
        }
        std::thread::yield_now();
    }
}
