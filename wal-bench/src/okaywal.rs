//! The workloads through okaywal 0.3, by its public API.
//!
//! okaywal has one log and no topics; an entry is made of chunks and every commit is
//! durable (it syncs, batching concurrent committers). Segment files are preallocated
//! like ours (64 MiB) and checkpointed, as okaywal intends, once 56 MiB are written,
//! except for the read workload, whose data must stay.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use okaywal::{Configuration, Entry, EntryId, LogManager, LogVoid, SegmentReader, WriteAheadLog};

use crate::drive::{drive, drive_custom, payload, ThreadOutcome};
use crate::error::{Context, Error, Result};
use crate::job::{Job, Measurement, Workload, BATCH_ENTRY_SIZE, SMALL_SIZE};
use crate::worker::{finish, outcome_measurement, SAMPLE_EVERY};

/// Bytes each segment file is preallocated with.
pub const PREALLOCATE: u32 = 64 << 20;
/// Bytes written to a segment before it is checkpointed.
pub const CHECKPOINT_AFTER: u64 = 56 << 20;
/// Chunks per committed entry when filling the log for the read workload.
const FILL_CHUNKS: u64 = 1000;

fn config(job: &Job, keep_everything: bool) -> Configuration {
    let checkpoint = if keep_everything {
        u64::MAX
    } else {
        CHECKPOINT_AFTER
    };
    Configuration::default_for(&job.dir)
        .preallocate_bytes(PREALLOCATE)
        .checkpoint_after_bytes(checkpoint)
}

fn io<T>(r: io::Result<T>, what: &str) -> Result<T> {
    r.ctx(format!("okaywal {what}"))
}

/// Writes one entry of `chunks` and commits it (durably).
fn commit(log: &WriteAheadLog, chunks: &[&[u8]]) -> Result<()> {
    let mut writer = io(log.begin_entry(), "begin entry")?;
    for c in chunks {
        io(writer.write_chunk(c), "write chunk")?;
    }
    io(writer.commit(), "commit")?;
    Ok(())
}

fn close(log: WriteAheadLog) -> Result<()> {
    io(log.shutdown(), "shutdown")
}

/// Bytes per entry are measurable only while okaywal has one segment file: once it
/// checkpoints, it recycles files and overwrites what they held.
fn finish_checked(job: &Job, mut m: Measurement) -> Result<Measurement> {
    let files = std::fs::read_dir(&job.dir)
        .ctx("list the log directory")?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("wal-"))
        .count();
    if files > 1 {
        m.note = Some(format!(
            "checkpointed: {files} segment files recycled, so bytes per entry are not measured"
        ));
        return Ok(m);
    }
    finish(job, m)
}

/// Runs `job` on okaywal.
pub(crate) fn run(job: &Job) -> Result<Vec<Measurement>> {
    let dur = job.duration();
    let m = match job.workload {
        Workload::Durable { threads, size, .. } => {
            let log = io(config(job, false).open(LogVoid), "open")?;
            let out = drive(threads, dur, true, |t| {
                let data = payload(size, t as u64);
                let log = &log;
                Ok(move || {
                    commit(log, &[&data])?;
                    Ok((1, size as u64))
                })
            })?;
            close(log)?;
            finish_checked(job, outcome_measurement(job, &out, true))?
        }
        Workload::Pipelined { threads, every } => {
            let log = io(config(job, false).open(LogVoid), "open")?;
            let out = drive_custom(
                threads,
                |t| {
                    // Warm-up, untimed: the first sync of the preallocated segment.
                    let data = payload(SMALL_SIZE, t as u64);
                    commit(&log, &[&data])?;
                    Ok(data)
                },
                |_, data| pipelined_thread(&log, job, &data, every),
            )?;
            close(log)?;
            finish_checked(job, outcome_measurement(job, &out, true))?
        }
        Workload::Batch { entries } => {
            let log = io(config(job, false).open(LogVoid), "open")?;
            let out = drive(1, dur, true, |_| {
                let data: Vec<Vec<u8>> = (0..entries)
                    .map(|i| payload(BATCH_ENTRY_SIZE, i as u64))
                    .collect();
                let log = &log;
                Ok(move || {
                    let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                    commit(log, &refs)?;
                    Ok((entries as u64, (entries * BATCH_ENTRY_SIZE) as u64))
                })
            })?;
            close(log)?;
            finish_checked(job, outcome_measurement(job, &out, true))?
        }
        Workload::Fill { entries, size } => {
            let log = io(config(job, true).open(LogVoid), "open")?;
            let data = payload(size, 1);
            let start = Instant::now();
            let mut left = entries;
            while left > 0 {
                let n = left.min(FILL_CHUNKS);
                let chunks = vec![data.as_slice(); n as usize];
                commit(&log, &chunks)?;
                left -= n;
            }
            let elapsed = start.elapsed();
            close(log)?;
            let m = Measurement {
                entries,
                payload_bytes: entries * size as u64,
                elapsed_s: elapsed.as_secs_f64(),
                ..Measurement::default()
            };
            finish(job, m)?
        }
        Workload::ReadBack { entries, size } => return read_back(job, entries, size),
        Workload::Readme { .. } | Workload::Small { .. } => {
            return Err(Error::Settings(
                "okaywal has no unsynced mode for this workload".into(),
            ))
        }
    };
    Ok(vec![m])
}

/// One entry of `every` chunks per commit; samples the time from each chunk's write to
/// the commit's return.
fn pipelined_thread(
    log: &WriteAheadLog,
    job: &Job,
    data: &[u8],
    every: u64,
) -> Result<ThreadOutcome> {
    let start = Instant::now();
    let deadline = start + job.duration();
    let mut t = ThreadOutcome::default();
    let mut stamps = Vec::with_capacity((every / SAMPLE_EVERY + 1) as usize);
    loop {
        let mut writer = io(log.begin_entry(), "begin entry")?;
        for i in 0..every {
            if i.is_multiple_of(SAMPLE_EVERY) {
                stamps.push(Instant::now());
            }
            io(writer.write_chunk(data), "write chunk")?;
        }
        io(writer.commit(), "commit")?;
        let done = Instant::now();
        for s in stamps.drain(..) {
            t.hist.record(done - s);
        }
        t.entries += every;
        if done >= deadline {
            break;
        }
    }
    t.calls = t.entries;
    t.bytes = t.entries * data.len() as u64;
    t.span = Some((start, Instant::now()));
    Ok(t)
}

/// Recovers every entry, reading and checking each chunk: okaywal hands the data of a
/// reopened log to its `LogManager` during recovery.
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

fn read_back(job: &Job, expected: u64, size: usize) -> Result<Vec<Measurement>> {
    let log_bytes = crate::disk::data_bytes(&job.dir).ctx("measure the log")?;
    let reader = Reader::default();
    let start = Instant::now();
    let log = io(config(job, true).open(reader.clone()), "open (recovery)")?;
    let elapsed = start.elapsed();
    close(log)?;
    let entries = reader.chunks.load(Ordering::Relaxed);
    let bytes = reader.bytes.load(Ordering::Relaxed);
    if entries != expected || bytes != expected * size as u64 {
        return Err(Error::Check(format!(
            "okaywal recovered {entries} chunks ({bytes} bytes), expected {expected} of \
             {size} bytes"
        )));
    }
    let recovered = Measurement {
        row: "recovery".into(),
        entries,
        payload_bytes: bytes,
        elapsed_s: elapsed.as_secs_f64(),
        log_bytes: Some(log_bytes),
        disk_bytes_per_entry: Some(log_bytes as f64 / entries.max(1) as f64),
        note: Some("recovery reads every chunk (okaywal hands all data to recover)".into()),
        ..Measurement::default()
    };
    let read = Measurement {
        entries,
        payload_bytes: bytes,
        elapsed_s: elapsed.as_secs_f64(),
        ..Measurement::default()
    };
    Ok(vec![recovered, read])
}
