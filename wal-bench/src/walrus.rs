//! The workloads through walrus-rust 0.2, by its public API.
//!
//! walrus-rust 0.2.0 reads its data directory from `WALRUS_DATA_DIR` when an instance is
//! constructed, keeps its fsync schedule and backend process-wide (the first instance
//! decides) and prints to stdout unless `WALRUS_QUIET` is set. So every job runs in its
//! own worker process, whose environment the orchestrator sets; this module only checks
//! that it was.

use std::path::Path;
use std::time::Instant;

use walrus_rust::{ReadConsistency, Walrus};

use crate::drive::{drive, payload, XorShift};
use crate::error::{Context, Error, Result};
use crate::job::{
    Job, Measurement, Schedule, Workload, BATCH_ENTRY_SIZE, README_SIZES, README_THREADS,
    SMALL_SIZE,
};
use crate::ours::READ_PERSIST_EVERY;
use crate::worker::{finish, outcome_measurement};

/// The environment variable walrus-rust takes its data directory from.
pub const DATA_DIR_VAR: &str = "WALRUS_DATA_DIR";
/// The environment variable that silences walrus-rust's debug output on stdout.
pub const QUIET_VAR: &str = "WALRUS_QUIET";

fn open(job: &Job, consistency: ReadConsistency, schedule: Schedule) -> Result<Walrus> {
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
    Walrus::with_consistency_and_schedule(consistency, schedule.walrus()).ctx("open walrus-rust")
}

fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T> {
    r.ctx(format!("walrus-rust {what}"))
}

/// Runs `job` on walrus-rust.
pub(crate) fn run(job: &Job) -> Result<Vec<Measurement>> {
    let dur = job.duration();
    let strict = ReadConsistency::StrictlyAtOnce;
    let m = match job.workload {
        Workload::Durable {
            threads,
            shared_topic,
            size,
        } => {
            let wal = open(job, strict, Schedule::SyncEach)?;
            let out = drive(threads, dur, true, |t| {
                let topic = if shared_topic {
                    "t0".to_owned()
                } else {
                    format!("t{t}")
                };
                let data = payload(size, t as u64);
                let wal = &wal;
                Ok(move || {
                    io(wal.append_for_topic(&topic, &data), "append")?;
                    Ok((1, size as u64))
                })
            })?;
            drop(wal);
            finish(job, outcome_measurement(job, &out, true))?
        }
        Workload::Readme { schedule } => {
            let wal = open(job, strict, schedule)?;
            let out = drive(README_THREADS, dur, false, |t| {
                let topic = format!("t{t}");
                let data = payload(*README_SIZES.end(), t as u64);
                let mut rng = XorShift::new(t as u64);
                let wal = &wal;
                Ok(move || {
                    let n = rng.in_range(README_SIZES);
                    io(wal.append_for_topic(&topic, &data[..n]), "append")?;
                    Ok((1, n as u64))
                })
            })?;
            drop(wal);
            finish(job, outcome_measurement(job, &out, false))?
        }
        Workload::Small { threads } => {
            let wal = open(job, strict, Schedule::NoFsync)?;
            let out = drive(threads, dur, false, |t| {
                let topic = format!("t{t}");
                let data = payload(SMALL_SIZE, t as u64);
                let wal = &wal;
                Ok(move || {
                    io(wal.append_for_topic(&topic, &data), "append")?;
                    Ok((1, SMALL_SIZE as u64))
                })
            })?;
            drop(wal);
            finish(job, outcome_measurement(job, &out, false))?
        }
        Workload::Batch { entries } => {
            let wal = open(job, strict, Schedule::SyncEach)?;
            let out = drive(1, dur, true, |_| {
                let data: Vec<Vec<u8>> = (0..entries)
                    .map(|i| payload(BATCH_ENTRY_SIZE, i as u64))
                    .collect();
                let wal = &wal;
                Ok(move || {
                    let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                    io(wal.batch_append_for_topic("batch", &refs), "batch append")?;
                    Ok((entries as u64, (entries * BATCH_ENTRY_SIZE) as u64))
                })
            })?;
            drop(wal);
            finish(job, outcome_measurement(job, &out, true))?
        }
        Workload::Fill { entries, size } => {
            let wal = open(job, strict, Schedule::NoFsync)?;
            let data = payload(size, 1);
            let start = Instant::now();
            for _ in 0..entries {
                io(wal.append_for_topic("read", &data), "append")?;
            }
            let elapsed = start.elapsed();
            drop(wal);
            let m = Measurement {
                entries,
                payload_bytes: entries * size as u64,
                elapsed_s: elapsed.as_secs_f64(),
                ..Measurement::default()
            };
            finish(job, m)?
        }
        Workload::ReadBack { entries, size } => return read_back(job, entries, size),
        Workload::Pipelined { .. } => {
            return Err(Error::Settings(
                "walrus-rust cannot run the pipelined workload".into(),
            ))
        }
    };
    Ok(vec![m])
}

fn read_back(job: &Job, expected: u64, size: usize) -> Result<Vec<Measurement>> {
    let log_bytes = crate::disk::data_bytes(&job.dir).ctx("measure the log")?;
    let start = Instant::now();
    let wal = open(
        job,
        ReadConsistency::AtLeastOnce {
            persist_every: READ_PERSIST_EVERY,
        },
        Schedule::NoFsync,
    )?;
    let recovery = start.elapsed();
    let start = Instant::now();
    let (mut entries, mut bytes) = (0u64, 0u64);
    loop {
        let batch = io(wal.batch_read_for_topic("read", 4 << 20, true), "read")?;
        if batch.is_empty() {
            break;
        }
        entries += batch.len() as u64;
        bytes += batch.iter().map(|e| e.data.len() as u64).sum::<u64>();
    }
    let read = start.elapsed();
    if entries != expected || bytes != expected * size as u64 {
        return Err(Error::Check(format!(
            "walrus-rust read back {entries} entries ({bytes} bytes), expected {expected} of \
             {size} bytes"
        )));
    }
    Ok(vec![
        Measurement {
            row: "recovery".into(),
            entries,
            payload_bytes: bytes,
            elapsed_s: recovery.as_secs_f64(),
            log_bytes: Some(log_bytes),
            disk_bytes_per_entry: Some(log_bytes as f64 / entries.max(1) as f64),
            ..Measurement::default()
        },
        Measurement {
            entries,
            payload_bytes: bytes,
            elapsed_s: read.as_secs_f64(),
            ..Measurement::default()
        },
    ])
}
