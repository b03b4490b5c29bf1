//! okaywal 0.3 behind the [`Log`] trait, by its public API.
//!
//! okaywal has one log and no topics; an entry is made of chunks and every commit is
//! durable (it syncs, batching concurrent committers). Segment files are preallocated
//! like ours (64 MiB) and checkpointed, as okaywal intends, once 56 MiB are written,
//! except when the data must stay (fill, read, memory).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use okaywal::{
    Configuration, Entry, EntryId, EntryWriter, LogManager, SegmentReader, WriteAheadLog,
};

use crate::error::{Context, Result};
use crate::job::{Job, Measurement, Workload};
use crate::system::{Log, Open, Purpose, ReadBack, Writer};

/// Bytes each segment file is preallocated with.
pub const PREALLOCATE: u32 = 64 << 20;
/// Bytes written to a segment before it is checkpointed.
pub const CHECKPOINT_AFTER: u64 = 56 << 20;

/// What okaywal cannot run.
pub(crate) fn cannot(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Readme { .. } | Workload::Small { .. } => {
            Some("okaywal always syncs on commit: it has no unsynced mode")
        }
        Workload::Raft { .. } => Some("not a Raft log store: no indexes to purge up to"),
        _ => None,
    }
}

/// How okaywal runs a workload, where that differs from the plain reading.
pub(crate) fn adaptation(w: &Workload) -> Option<&'static str> {
    match w {
        Workload::Durable { threads, .. } if *threads > 1 => Some("one log: okaywal has no topics"),
        Workload::Pipelined { .. } => {
            Some("one entry of `every` chunks per commit; one writer holds the log at a time")
        }
        Workload::Batch { .. } => Some("one entry of N chunks, committed"),
        Workload::Fill { .. } | Workload::Memory { .. } => {
            Some("one entry of the call's chunks per commit (a sync each)")
        }
        Workload::ReadBack { .. } => {
            Some("read through recovery (LogManager::recover), its only sequential read")
        }
        _ => None,
    }
}

fn io<T>(r: io::Result<T>, what: &str) -> Result<T> {
    r.ctx(format!("okaywal {what}"))
}

/// Counts every entry okaywal hands over on recovery, reading each chunk: okaywal
/// gives the data of a reopened log to its `LogManager` during recovery, and only then.
#[derive(Debug, Default, Clone)]
struct Reader {
    chunks: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl LogManager for Reader {
    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        let chunks = entry
            .read_all_chunks()?
            .ok_or_else(|| io::Error::other("an aborted entry in a cleanly written log"))?;
        self.chunks
            .fetch_add(chunks.len() as u64, Ordering::Relaxed);
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        Ok(())
    }
}

/// okaywal, opened in the job's directory.
pub(crate) struct Okaywal {
    log: WriteAheadLog,
    reader: Reader,
    pipelined: bool,
}

/// A writer; under [`Purpose::Pipelined`] it keeps its entry open between appends and
/// commits it when asked to wait.
pub(crate) struct OkaywalWriter<'a> {
    log: &'a WriteAheadLog,
    pipelined: bool,
    open: Option<EntryWriter<'a>>,
}

impl Log for Okaywal {
    type Writer<'a> = OkaywalWriter<'a>;
    const TIMED_SYNC: bool = true;

    fn open(job: &Job, how: Open) -> Result<Self> {
        let checkpoint = match how.purpose {
            Purpose::Append | Purpose::Pipelined | Purpose::Raft => CHECKPOINT_AFTER,
            Purpose::Fill | Purpose::Read => u64::MAX,
        };
        let reader = Reader::default();
        let log = io(
            Configuration::default_for(&job.dir)
                .preallocate_bytes(PREALLOCATE)
                .checkpoint_after_bytes(checkpoint)
                .open(reader.clone()),
            "open",
        )?;
        Ok(Self {
            log,
            reader,
            pipelined: how.purpose == Purpose::Pipelined,
        })
    }

    fn writer(&self, _topic: usize) -> Result<OkaywalWriter<'_>> {
        Ok(OkaywalWriter {
            log: &self.log,
            pipelined: self.pipelined,
            open: None,
        })
    }

    fn sync(&self) -> Result<()> {
        // Every commit is durable when it returns.
        Ok(())
    }

    fn read_all(&self, _topic: usize) -> Result<ReadBack> {
        Ok(ReadBack {
            entries: self.reader.chunks.load(Ordering::Relaxed),
            bytes: self.reader.bytes.load(Ordering::Relaxed),
            during_open: true,
        })
    }

    fn close(self, _m: &mut Measurement) -> Result<()> {
        io(self.log.shutdown(), "shutdown")
    }

    /// Bytes per entry are measurable only while okaywal has one segment file: once it
    /// checkpoints, it recycles files and overwrites what they held.
    fn unmeasurable_files(job: &Job) -> Result<Option<String>> {
        let files = std::fs::read_dir(&job.dir)
            .ctx("list the log directory")?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("wal-"))
            .count();
        Ok((files > 1).then(|| {
            format!(
                "checkpointed: {files} segment files recycled, so bytes per entry are not \
                 measured"
            )
        }))
    }
}

impl OkaywalWriter<'_> {
    fn write(&mut self, entries: &[&[u8]]) -> Result<()> {
        let writer = match &mut self.open {
            Some(w) => w,
            None => self.open.insert(io(self.log.begin_entry(), "begin entry")?),
        };
        for e in entries {
            io(writer.write_chunk(e), "write chunk")?;
        }
        Ok(())
    }
}

impl Writer for OkaywalWriter<'_> {
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
        self.write(entries)?;
        if self.pipelined {
            Ok(())
        } else {
            self.wait_durable()
        }
    }

    fn wait_durable(&mut self) -> Result<()> {
        match self.open.take() {
            Some(w) => io(w.commit(), "commit").map(drop),
            None => Ok(()),
        }
    }
}
