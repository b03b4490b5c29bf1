//! raft-log 0.4 (the log store of openraft's examples) behind the [`Log`] trait, through
//! its API: `RaftLogWriter::append` of `(log id, payload)` pairs, then `flush(sync,
//! callback)`, whose callback fires on its flush thread once the data is written (and
//! synced); `RaftLog::read` to read back; recovery is `RaftLog::open`. Defaults
//! otherwise (64 MiB read buffer, 1 GiB chunks, a 100k-entry payload cache).
//!
//! A `RaftLog` is one Raft group's log and takes `&mut self` to write, so each topic is a
//! log of its own (in its own directory) behind a mutex; threads sharing a topic share
//! it, holding the lock only to append and queue the flush, and wait for the callback
//! outside it, so their flushes can share a sync.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};

use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::{Config, RaftLog, Types};

use crate::error::{Context, Error, Result};
use crate::job::{Job, Measurement, Schedule, Workload};
use crate::system::{Log, Open, Purpose, ReadBack, Writer};

/// The term of every entry (one leader, one term).
const TERM: u64 = 1;

/// What raft-log cannot run: it runs everything.
pub(crate) fn cannot(_w: &Workload) -> Option<&'static str> {
    None
}

/// How raft-log runs a workload, where that differs from the plain reading.
pub(crate) fn adaptation(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Durable {
            threads,
            shared_topic,
            ..
        } if *threads > 1 => Some(if *shared_topic {
            "one log behind a mutex: append and queue the flush under it, wait outside"
        } else {
            "one log (its own directory and flush thread) per thread"
        }),
        Workload::Readme { schedule } if *schedule == Schedule::Millis200 => Some(
            "one log per thread; each append is followed by flush(sync = false); no timer \
             of its own: the bench flushes with sync every 200 ms",
        ),
        Workload::Readme { .. } | Workload::Small { .. } => {
            Some("one log per thread; each append is followed by flush(sync = false)")
        }
        Workload::Batch { .. } => {
            Some("N appends, one synced flush: not atomic (a crash may keep a prefix)")
        }
        Workload::Pipelined { .. } => {
            Some("appends buffer in the log; the wait is a synced flush and its callback")
        }
        Workload::Raft { .. } => Some(
            "one log (its own directory and flush thread) per group; each call is an \
             append, then a synced flush and its callback; a purge is RaftLogWriter::purge, \
             made durable by the next call's flush",
        ),
        Workload::ReadBack { .. } => Some(
            "its open replays every record into its payload cache (up to 100k entries or 1 \
             GiB by default), from which RaftLog::read then serves them",
        ),
        _ => None,
    }
}

/// The type parameters of the bench's raft-log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BenchTypes;

impl Types for BenchTypes {
    type LogId = (u64, u64);
    type LogPayload = Vec<u8>;
    type Vote = (u64, u64);
    type UserData = String;
    type Callback = SyncSender<io::Result<()>>;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.1
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        payload.len() as u64
    }
}

/// One topic's log and the index of its next entry.
struct Topic {
    log: RaftLog<BenchTypes>,
    next: u64,
}

type Shared = Arc<Mutex<Topic>>;

fn io_err(what: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::Io {
        what: format!("raft-log {what}"),
        source: e,
    }
}

fn lock(t: &Shared) -> Result<MutexGuard<'_, Topic>> {
    t.lock()
        .map_err(|_| Error::Check("a raft-log writer panicked".into()))
}

/// Queues a synced flush of everything appended to `t`; the receiver gets its result.
fn flush_synced(t: &mut Topic) -> Result<Receiver<io::Result<()>>> {
    let (tx, rx) = sync_channel(1);
    t.log.flush(true, Some(tx)).map_err(io_err("flush"))?;
    Ok(rx)
}

fn wait(rx: Receiver<io::Result<()>>) -> Result<()> {
    rx.recv()
        .map_err(|_| Error::Check("raft-log dropped a flush callback".into()))?
        .map_err(io_err("synced flush"))
}

/// raft-log: one log per topic, under the job's directory.
pub(crate) struct RaftLogs {
    dir: PathBuf,
    topics: Mutex<HashMap<usize, Shared>>,
    sync: bool,
    pipelined: bool,
}

impl RaftLogs {
    fn topic(&self, n: usize) -> Result<Shared> {
        let mut topics = self
            .topics
            .lock()
            .map_err(|_| Error::Check("a raft-log writer panicked".into()))?;
        if let Some(t) = topics.get(&n) {
            return Ok(Arc::clone(t));
        }
        let dir = self.dir.join(format!("topic-{n}"));
        std::fs::create_dir_all(&dir).ctx(format!("create {}", dir.display()))?;
        let config = Arc::new(Config::new(dir.to_string_lossy()));
        let log = RaftLog::<BenchTypes>::open(config).map_err(io_err("open"))?;
        let next = log.log_state().last().map_or(0, |id| id.1 + 1);
        let t = Arc::new(Mutex::new(Topic { log, next }));
        topics.insert(n, Arc::clone(&t));
        Ok(t)
    }
}

/// One thread's appender on one topic's log.
pub(crate) struct RaftLogWriterOf {
    topic: Shared,
    sync: bool,
    pipelined: bool,
}

impl Log for RaftLogs {
    type Writer<'a> = RaftLogWriterOf;
    const TIMED_SYNC: bool = false;

    fn open(job: &Job, how: Open) -> Result<Self> {
        let logs = Self {
            dir: job.dir.clone(),
            topics: Mutex::new(HashMap::new()),
            sync: how.schedule == Schedule::SyncEach,
            pipelined: how.purpose == Purpose::Pipelined,
        };
        if how.purpose == Purpose::Read {
            // The read workload's data is in topic 0: opening it is the recovery.
            logs.topic(0)?;
        }
        Ok(logs)
    }

    fn writer(&self, topic: usize) -> Result<RaftLogWriterOf> {
        Ok(RaftLogWriterOf {
            topic: self.topic(topic)?,
            sync: self.sync,
            pipelined: self.pipelined,
        })
    }

    fn sync(&self) -> Result<()> {
        let topics: Vec<Shared> = self
            .topics
            .lock()
            .map_err(|_| Error::Check("a raft-log writer panicked".into()))?
            .values()
            .cloned()
            .collect();
        let mut waits = Vec::with_capacity(topics.len());
        for t in &topics {
            waits.push(flush_synced(&mut *lock(t)?)?);
        }
        waits.into_iter().try_for_each(wait)
    }

    fn read_all(&self, topic: usize) -> Result<ReadBack> {
        let shared = self.topic(topic)?;
        let t = lock(&shared)?;
        let state = t.log.log_state();
        let from = state.purged().map_or(0, |id| id.1 + 1);
        let to = state.last().map_or(0, |id| id.1 + 1);
        let mut got = ReadBack::default();
        for entry in t.log.read(from, to) {
            let (_, payload) = entry.map_err(io_err("read"))?;
            got.entries += 1;
            got.bytes += payload.len() as u64;
        }
        Ok(got)
    }

    fn close(self, _m: &mut Measurement) -> Result<()> {
        // Dropping a RaftLog stops its flush thread once the queued flushes are done.
        drop(self.topics);
        Ok(())
    }
}

impl Writer for RaftLogWriterOf {
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
        let mut t = lock(&self.topic)?;
        let first = t.next;
        t.log
            .append(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, d)| ((TERM, first + i as u64), d.to_vec())),
            )
            .map_err(io_err("append"))?;
        t.next += entries.len() as u64;
        if self.pipelined {
            return Ok(());
        }
        if !self.sync {
            return t.log.flush(false, None).map_err(io_err("flush"));
        }
        let rx = flush_synced(&mut t)?;
        drop(t);
        wait(rx)
    }

    fn wait_durable(&mut self) -> Result<()> {
        let rx = flush_synced(&mut *lock(&self.topic)?)?;
        wait(rx)
    }

    fn purge_all_but(&mut self, keep: u64) -> Result<()> {
        let mut t = lock(&self.topic)?;
        let Some(upto) = t.next.checked_sub(keep + 1) else {
            return Ok(());
        };
        t.log.purge((TERM, upto)).map_err(io_err("purge"))?;
        Ok(())
    }
}
