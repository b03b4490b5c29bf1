//! Our own log (`wal`) behind the [`Log`] trait, on the backend the job names.

use wal::{ReadConsistency, Wal};

use crate::error::{Error, Result};
use crate::job::{Job, Measurement, Workload};
use crate::system::{Log, Open, Purpose, ReadBack, Writer};

/// How reads after a reopen persist their cursor: rarely, as a bulk reader would.
pub(crate) const READ_PERSIST_EVERY: u32 = 100_000;

/// Bytes asked for per batch read.
const READ_BATCH_BYTES: usize = 4 << 20;

/// What our mmap and io_uring backends do not run (the std backend runs everything).
pub(crate) fn cannot_other_backend(w: &Workload) -> Option<&'static str> {
    matches!(w, Workload::Memory { .. })
        .then_some("the index lives in the engine, whatever the backend: measured on wal/std only")
}

/// Our topic names: `t0`, `t1`, ...
fn topic(n: usize) -> String {
    format!("t{n}")
}

/// Our log, on the backend of the job's system.
pub(crate) struct Ours {
    wal: Wal,
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
        let wal = Wal::builder()
            .dir(&job.dir)
            .backend(backend)
            .fsync(how.schedule.ours())
            .consistency(consistency)
            .open()?;
        Ok(Self { wal })
    }

    fn writer(&self, topic_no: usize) -> Result<OursWriter<'_>> {
        Ok(OursWriter {
            wal: &self.wal,
            topic: topic(topic_no),
            last: None,
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
        Ok(self.wal.close()?)
    }
}

impl Writer for OursWriter<'_> {
    fn append(&mut self, entries: &[&[u8]]) -> Result<()> {
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
}
