//! walrus-rust 0.2 behind the [`Log`] trait, by its public API.
//!
//! walrus-rust 0.2.0 reads its data directory from `WALRUS_DATA_DIR` when an instance is
//! constructed, keeps its fsync schedule and backend process-wide (the first instance
//! decides) and prints to stdout unless `WALRUS_QUIET` is set. So every job runs in its
//! own worker process, whose environment the orchestrator sets; this module only checks
//! that it was.

use std::path::Path;

use walrus_rust::{ReadConsistency, Walrus};

use crate::error::{Context, Error, Result};
use crate::job::{Job, Measurement, Workload};
use crate::ours::READ_PERSIST_EVERY;
use crate::system::{Log, Open, Purpose, ReadBack, Writer};

/// The environment variable walrus-rust takes its data directory from.
pub const DATA_DIR_VAR: &str = "WALRUS_DATA_DIR";
/// The environment variable that silences walrus-rust's debug output on stdout.
pub const QUIET_VAR: &str = "WALRUS_QUIET";

/// Bytes asked for per batch read.
const READ_BATCH_BYTES: usize = 4 << 20;

/// What walrus-rust cannot run.
pub(crate) fn cannot(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Pipelined { .. } => {
            Some("walrus-rust cannot wait for the durability of entries appended without a sync")
        }
        Workload::Raft { .. } => Some("not a Raft log store: no indexes to purge up to"),
        _ => None,
    }
}

fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T> {
    r.ctx(format!("walrus-rust {what}"))
}

/// walrus-rust, opened in the job's directory.
pub(crate) struct WalrusLog(Walrus);

/// One thread's topic.
pub(crate) struct WalrusWriter<'a> {
    wal: &'a Walrus,
    topic: String,
}

impl Log for WalrusLog {
    type Writer<'a> = WalrusWriter<'a>;
    const TIMED_SYNC: bool = true;

    fn open(job: &Job, how: Open) -> Result<Self> {
        let dir = std::env::var_os(DATA_DIR_VAR).ok_or_else(|| {
            Error::Settings(format!(
                "{DATA_DIR_VAR} is not set: walrus-rust jobs run in a worker process whose \
                 environment names the job's directory"
            ))
        })?;
        if Path::new(&dir) != job.dir {
            return Err(Error::Settings(format!(
                "{DATA_DIR_VAR}={} but the job's directory is {}",
                Path::new(&dir).display(),
                job.dir.display()
            )));
        }
        if std::env::var_os(QUIET_VAR).is_none() {
            return Err(Error::Settings(format!(
                "{QUIET_VAR} is not set: walrus-rust would print on the worker's stdout"
            )));
        }
        let consistency = if how.purpose == Purpose::Read {
            ReadConsistency::AtLeastOnce {
                persist_every: READ_PERSIST_EVERY,
            }
        } else {
            ReadConsistency::StrictlyAtOnce
        };
        let wal = Walrus::with_consistency_and_schedule(consistency, how.schedule.walrus())
            .ctx("open walrus-rust")?;
        Ok(Self(wal))
    }

    fn writer(&self, topic: usize) -> Result<WalrusWriter<'_>> {
        Ok(WalrusWriter {
            wal: &self.0,
            topic: format!("t{topic}"),
        })
    }

    fn sync(&self) -> Result<()> {
        // walrus-rust has no sync call: under `NoFsync` nothing is synced, which the
        // workloads that call this (fill, memory) do not need for their measure.
        Ok(())
    }

    fn read_all(&self, topic: usize) -> Result<ReadBack> {
        let topic = format!("t{topic}");
        let mut got = ReadBack::default();
        loop {
            let batch = io(
                self.0.batch_read_for_topic(&topic, READ_BATCH_BYTES, true),
                "read",
            )?;
            if batch.is_empty() {
                return Ok(got);
            }
            got.entries += batch.len() as u64;
            got.bytes += batch.iter().map(|e| e.data.len() as u64).sum::<u64>();
        }
    }

    fn close(self, _m: &mut Measurement) -> Result<()> {
        drop(self.0);
        Ok(())
    }
}

impl Writer for WalrusWriter<'_> {
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
        match entries {
            [one] => io(self.wal.append_for_topic(&self.topic, one), "append"),
            _ => io(
                self.wal.batch_append_for_topic(&self.topic, entries),
                "batch append",
            ),
        }
    }

    fn wait_durable(&mut self) -> Result<()> {
        // Only the fill and memory workloads call this on walrus-rust (it cannot run the
        // pipelined one): they need no durability.
        Ok(())
    }
}
