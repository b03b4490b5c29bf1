//! raft-engine 0.4 (TiKV's Raft log store) behind the [`Log`] trait, used the way TiKV
//! uses it: each topic is a region, whose raft entries (contiguous indexes from 1) go into
//! a `LogBatch` with `add_entries` and then to `Engine::write(batch, sync)`; reads are
//! `fetch_entries_to`; recovery is reopening the engine. The engine's configuration is
//! its default (the one TiKV starts from: 128 MiB files, log recycling, LZ4 over 8 KiB
//! batches, 4 recovery threads).
//!
//! A raft entry is a protobuf 2 message. TiKV's is `eraftpb::Entry` (term, index, data,
//! ...), which comes with the `raft-proto` crate and its protobuf code generation at
//! build time. protobuf 2's own generated `UninterpretedOption` has the same wire layout
//! for what a normal entry carries (a u64, an i64 and a bytes field, each one tag byte),
//! so it stands in for it: index in `positive_int_value`, term in `negative_int_value`,
//! payload in `string_value`. Encoded sizes and the encode/decode work are those of an
//! `eraftpb::Entry` of the same term, index and data.

use protobuf::descriptor::UninterpretedOption as RaftEntry;
use raft_engine::{Config, Engine, LogBatch, MessageExt};

use crate::error::{Error, Result};
use crate::job::{Job, Measurement, Workload};
use crate::system::{Log, Open, Purpose, ReadBack, Writer};

/// Bytes of entries fetched per `fetch_entries_to` call when reading back.
const READ_BATCH_BYTES: usize = 4 << 20;
/// The term of every entry (one leader, one term).
const TERM: i64 = 1;
/// The region whose tiny synced write makes everything before it durable:
/// `Engine::sync` writes an empty batch, which raft-engine 0.4 skips without syncing.
const SYNC_REGION: u64 = u64::MAX;

/// What raft-engine cannot run.
pub(crate) fn cannot(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Durable {
            threads,
            shared_topic: true,
            ..
        } if *threads > 1 => Some(
            "a region's entries take contiguous indexes and must be written in order: \
             threads sharing one region would serialise whole writes (TiKV writes a \
             region from one thread)",
        ),
        _ => None,
    }
}

/// How raft-engine runs a workload, where that differs from the plain reading.
pub(crate) fn adaptation(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Durable { threads, .. } if *threads > 1 => Some("one region per thread"),
        Workload::Readme { schedule } if *schedule == crate::job::Schedule::Millis200 => {
            Some("no timer of its own: the bench makes a synced write every 200 ms")
        }
        Workload::Pipelined { .. } => Some(
            "entries gather in the writer's LogBatch; the wait writes it with sync, as \
             TiKV's write loop does",
        ),
        Workload::Batch { .. } => Some("one LogBatch of N entries, written with sync"),
        Workload::Raft { .. } => Some(
            "one region per group; each call is one LogBatch written with sync; a purge is \
             compact_to (an unsynced Compact command), and purge_expired_files (which TiKV \
             runs every 10 s) does not run in the timed part",
        ),
        Workload::ReadBack { .. } => Some(
            "its open reads each LogBatch's header and index only, not the entries (their \
             checksums are checked when fetched); reads are fetch_entries_to, 4 MiB at a time",
        ),
        _ => None,
    }
}

/// The raft entries of the bench, for raft-engine's generic calls.
#[derive(Debug, Clone, Copy)]
struct Entries;

impl MessageExt for Entries {
    type Entry = RaftEntry;

    fn index(e: &RaftEntry) -> u64 {
        e.get_positive_int_value()
    }
}

fn engine_err(what: &str) -> impl FnOnce(raft_engine::Error) -> Error + '_ {
    move |e| Error::Check(format!("raft-engine {what}: {e}"))
}

/// raft-engine, opened in the job's directory.
pub(crate) struct RaftEngine {
    engine: Engine,
    schedule_sync: bool,
    pipelined: bool,
}

/// One thread's region.
pub(crate) struct RaftEngineWriter<'a> {
    engine: &'a Engine,
    region: u64,
    next_index: u64,
    sync: bool,
    pipelined: bool,
    batch: LogBatch,
    entries: Vec<RaftEntry>,
}

impl Log for RaftEngine {
    type Writer<'a> = RaftEngineWriter<'a>;
    const TIMED_SYNC: bool = false;

    fn open(job: &Job, how: Open) -> Result<Self> {
        let cfg = Config {
            dir: job.dir.to_string_lossy().into_owned(),
            ..Config::default()
        };
        let engine = Engine::open(cfg).map_err(engine_err("open"))?;
        Ok(Self {
            engine,
            schedule_sync: how.schedule == crate::job::Schedule::SyncEach,
            pipelined: how.purpose == Purpose::Pipelined,
        })
    }

    fn writer(&self, topic: usize) -> Result<RaftEngineWriter<'_>> {
        let region = topic as u64 + 1;
        Ok(RaftEngineWriter {
            engine: &self.engine,
            region,
            next_index: self.engine.last_index(region).map_or(1, |i| i + 1),
            sync: self.schedule_sync,
            pipelined: self.pipelined,
            batch: LogBatch::default(),
            entries: Vec::new(),
        })
    }

    fn sync(&self) -> Result<()> {
        let mut batch = LogBatch::default();
        batch
            .put(SYNC_REGION, b"sync".to_vec(), Vec::new())
            .map_err(engine_err("put"))?;
        self.engine
            .write(&mut batch, true)
            .map_err(engine_err("synced write"))?;
        Ok(())
    }

    fn read_all(&self, topic: usize) -> Result<ReadBack> {
        let region = topic as u64 + 1;
        let mut got = ReadBack::default();
        let (Some(first), Some(last)) = (
            self.engine.first_index(region),
            self.engine.last_index(region),
        ) else {
            return Ok(got);
        };
        let mut next = first;
        let mut buf = Vec::new();
        while next <= last {
            buf.clear();
            let n = self
                .engine
                .fetch_entries_to::<Entries>(
                    region,
                    next,
                    last + 1,
                    Some(READ_BATCH_BYTES),
                    &mut buf,
                )
                .map_err(engine_err("fetch entries"))?;
            if n == 0 {
                return Err(Error::Check(format!(
                    "raft-engine fetched nothing at index {next} of {first}..={last}"
                )));
            }
            got.entries += n as u64;
            got.bytes += buf
                .iter()
                .map(|e| e.get_string_value().len() as u64)
                .sum::<u64>();
            next += n as u64;
        }
        Ok(got)
    }

    fn close(self, _m: &mut Measurement) -> Result<()> {
        drop(self.engine);
        Ok(())
    }
}

impl RaftEngineWriter<'_> {
    fn write(&mut self, sync: bool) -> Result<()> {
        self.engine
            .write(&mut self.batch, sync)
            .map_err(engine_err("write"))?;
        Ok(())
    }
}

impl Writer for RaftEngineWriter<'_> {
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
        self.entries.clear();
        for data in entries {
            let mut e = RaftEntry::new();
            e.set_positive_int_value(self.next_index);
            e.set_negative_int_value(TERM);
            e.set_string_value(data.to_vec());
            self.entries.push(e);
            self.next_index += 1;
        }
        match self
            .batch
            .add_entries::<Entries>(self.region, &self.entries)
        {
            Err(raft_engine::Error::Full) if !self.batch.is_empty() => {
                // The gathered batch is as large as raft-engine takes: write it out.
                self.write(false)?;
                self.batch
                    .add_entries::<Entries>(self.region, &self.entries)
                    .map_err(engine_err("add entries"))?;
            }
            r => r.map_err(engine_err("add entries"))?,
        }
        if self.pipelined {
            return Ok(());
        }
        self.write(self.sync)
    }

    fn wait_durable(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.write(true)
    }

    fn purge_all_but(&mut self, keep: u64) -> Result<()> {
        // Entries below `index` go; indexes start at 1.
        let index = self.next_index.saturating_sub(keep).max(1);
        self.engine.compact_to(self.region, index);
        Ok(())
    }
}
