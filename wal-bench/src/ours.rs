//! Our own log (`wal`) behind the [`Log`] trait, on the backend the job names; for the
//! Raft-log workload, our openraft store (`wal_raft::WalLogStore`), one per group, all
//! in one log.

use std::io::Cursor; // named by `declare_raft_types!`
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use openraft::{CommittedLeaderId, EntryPayload, LogId};
use wal::{FsyncSchedule, ReadConsistency, Wal};
use wal_raft::WalLogStore;

use crate::error::{Error, Result};
use crate::job::{Job, Measurement, Workload};
use crate::system::{Log, Open, Purpose, ReadBack, Writer};

openraft::declare_raft_types!(
    /// The Raft-log workload's entries: byte payloads, no responses.
    pub(crate) RaftTypes: D = Vec<u8>, R = ()
);

/// How reads after a reopen persist their cursor: rarely, as a bulk reader would.
pub(crate) const READ_PERSIST_EVERY: u32 = 100_000;

/// Bytes asked for per batch read.
const READ_BATCH_BYTES: usize = 4 << 20;

/// What our mmap and io_uring backends do not run (the std backend runs everything).
pub(crate) fn cannot_other_backend(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Memory { .. } => {
            Some("the index lives in the engine, whatever the backend: measured on wal/std only")
        }
        Workload::Raft { .. } => Some(
            "the Raft store is the same on every backend: measured on wal/std (the durable \
             rows compare the backends)",
        ),
        _ => None,
    }
}

/// How our log runs a workload, where that differs from the plain reading.
pub(crate) fn adaptation(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Raft { .. } => Some(
            "wal-raft's WalLogStore, one per group, every group a topic of one log (NoFsync: \
             the store asks for each sync); each call is append_with_callback, then a wait \
             for its callback; a purge is WalLogStore::purge",
        ),
        _ => None,
    }
}

/// Our topic names: `t0`, `t1`, ...
fn topic(n: usize) -> String {
    format!("t{n}")
}

/// Our log, on the backend of the job's system.
pub(crate) struct Ours {
    wal: Arc<Wal>,
    raft: bool,
}

impl Ours {
    /// The backend in use when it is not the one asked for, with the reason.
    fn fallback(&self) -> Option<String> {
        let info = self.wal.backend_info();
        (info.active != info.requested || info.fallback_reason.is_some()).then(|| {
            format!(
                "asked for {}, ran on {}{}",
                info.requested,
                info.active,
                info.fallback_reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )
        })
    }
}

/// One thread's topic.
pub(crate) struct OursWriter<'a> {
    wal: &'a Wal,
    topic: String,
    last: Option<u64>,
    raft: Option<RaftGroup>,
}

/// One Raft group's store, and the runtime its async `purge` runs on.
struct RaftGroup {
    store: WalLogStore<RaftTypes>,
    next: u64,
    runtime: tokio::runtime::Runtime,
}

fn raft_err(e: impl std::fmt::Display) -> Error {
    Error::Check(format!("wal-raft: {e}"))
}

fn log_id(index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(1, 0), index)
}

impl Log for Ours {
    type Writer<'a> = OursWriter<'a>;
    const TIMED_SYNC: bool = true;

    fn open(job: &Job, how: Open) -> Result<Self> {
        let consistency = if how.purpose == Purpose::Read {
            ReadConsistency::AtLeastOnce {
                persist_every: READ_PERSIST_EVERY,
            }
        } else {
            ReadConsistency::default()
        };
        let backend = job.system.backend().ok_or_else(|| {
            Error::Settings(format!("{} is not one of our backends", job.system.name()))
        })?;
        let raft = how.purpose == Purpose::Raft;
        // The Raft store makes each append durable itself, through the log's flusher.
        let fsync = if raft {
            FsyncSchedule::NoFsync
        } else {
            how.schedule.ours()
        };
        let wal = Wal::builder()
            .dir(&job.dir)
            .backend(backend)
            .fsync(fsync)
            .consistency(consistency)
            .open()?;
        Ok(Self {
            wal: Arc::new(wal),
            raft,
        })
    }

    fn writer(&self, topic_no: usize) -> Result<OursWriter<'_>> {
        let raft = if self.raft {
            let store =
                WalLogStore::with_wal(self.wal.clone(), &topic(topic_no)).map_err(raft_err)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(raft_err)?;
            Some(RaftGroup {
                next: self.wal.get_topic_entry_count(&topic(topic_no)),
                store,
                runtime,
            })
        } else {
            None
        };
        Ok(OursWriter {
            wal: &self.wal,
            topic: topic(topic_no),
            last: None,
            raft,
        })
    }

    fn sync(&self) -> Result<()> {
        Ok(self.wal.sync()?)
    }

    fn read_all(&self, topic_no: usize) -> Result<ReadBack> {
        let topic = topic(topic_no);
        let mut got = ReadBack::default();
        loop {
            let batch = self
                .wal
                .batch_read_for_topic(&topic, READ_BATCH_BYTES, true)?;
            if batch.is_empty() {
                return Ok(got);
            }
            got.entries += batch.len() as u64;
            got.bytes += batch.iter().map(|e| e.data.len() as u64).sum::<u64>();
        }
    }

    fn close(self, m: &mut Measurement) -> Result<()> {
        let stats = self.wal.stats();
        m.flushes = Some(stats.flushes);
        if stats.flushes > 0 {
            m.flush_p50_us = Some(stats.flush_p50_us);
            m.flush_p99_us = Some(stats.flush_p99_us);
        }
        m.fallback = self.fallback();
        let wal = Arc::try_unwrap(self.wal)
            .map_err(|_| Error::Check("a writer still holds the log at close".into()))?;
        Ok(wal.close()?)
    }
}

impl RaftGroup {
    /// Appends `entries` as the next Raft entries and waits for the store's callback.
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
        let first = self.next;
        let batch = entries.iter().enumerate().map(|(i, d)| openraft::Entry {
            log_id: log_id(first + i as u64),
            payload: EntryPayload::Normal(d.to_vec()),
        });
        let (tx, rx) = sync_channel(1);
        self.store
            .append_with_callback(batch, move |r| {
                // The receiver waits below; it is gone only if this thread is.
                tx.send(r).ok();
            })
            .map_err(raft_err)?;
        self.next += entries.len() as u64;
        rx.recv()
            .map_err(|_| Error::Check("wal-raft dropped an append callback".into()))?
            .map_err(raft_err)
    }

    fn purge_all_but(&mut self, keep: u64) -> Result<()> {
        let Some(upto) = self.next.checked_sub(keep + 1) else {
            return Ok(());
        };
        use openraft::storage::RaftLogStorage;
        self.runtime
            .block_on(self.store.purge(log_id(upto)))
            .map_err(raft_err)
    }
}

impl Writer for OursWriter<'_> {
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
        if let Some(raft) = &mut self.raft {
            return raft.append(entries);
        }
        let last = match entries {
            [one] => self.wal.append_for_topic(&self.topic, one)?,
            _ => {
                let range = self.wal.batch_append_for_topic(&self.topic, entries)?;
                range
                    .end
                    .checked_sub(1)
                    .ok_or_else(|| Error::Check("an empty batch was appended".into()))?
            }
        };
        self.last = Some(last);
        Ok(())
    }

    fn wait_durable(&mut self) -> Result<()> {
        if let Some(last) = self.last {
            self.wal.wait_durable(&self.topic, last)?;
        }
        Ok(())
    }

    fn purge_all_but(&mut self, keep: u64) -> Result<()> {
        match &mut self.raft {
            Some(raft) => raft.purge_all_but(keep),
            None => Err(Error::Settings(
                "our log purges a Raft log through wal-raft only".into(),
            )),
        }
    }
}
