//! Every workload through our own log (`wal`), on the backend the job names.

use std::time::Instant;

use wal::{ReadConsistency, Wal};

use crate::drive::{drive, drive_custom, payload, ThreadOutcome, XorShift};
use crate::error::{Context, Error, Result};
use crate::job::{
    Job, Measurement, Schedule, Workload, BATCH_ENTRY_SIZE, README_SIZES, README_THREADS,
    SMALL_SIZE,
};
use crate::worker::{finish, outcome_measurement, SAMPLE_EVERY};

/// How reads after a reopen persist their cursor: rarely, as a bulk reader would.
pub(crate) const READ_PERSIST_EVERY: u32 = 100_000;

fn open(job: &Job, backend: wal::Backend, schedule: Schedule) -> Result<Wal> {
    open_with(job, backend, schedule, ReadConsistency::default())
}

fn open_with(
    job: &Job,
    backend: wal::Backend,
    schedule: Schedule,
    consistency: ReadConsistency,
) -> Result<Wal> {
    Ok(Wal::builder()
        .dir(&job.dir)
        .backend(backend)
        .fsync(schedule.ours())
        .consistency(consistency)
        .open()?)
}

/// The backend in use when it is not the one asked for, with the reason.
fn fallback(wal: &Wal) -> Option<String> {
    let info = wal.backend_info();
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

/// Closes the log and fills in what only the log (and its files) can tell.
fn close(wal: Wal, job: &Job, mut m: Measurement) -> Result<Measurement> {
    let stats = wal.stats();
    m.flushes = Some(stats.flushes);
    if stats.flushes > 0 {
        m.flush_p50_us = Some(stats.flush_p50_us);
        m.flush_p99_us = Some(stats.flush_p99_us);
    }
    m.fallback = fallback(&wal);
    wal.close()?;
    finish(job, m)
}

/// Runs `job` on our log with `backend`.
pub(crate) fn run(job: &Job, backend: wal::Backend) -> Result<Vec<Measurement>> {
    let dur = job.duration();
    let m = match job.workload {
        Workload::Durable {
            threads,
            shared_topic,
            size,
        } => {
            let wal = open(job, backend, Schedule::SyncEach)?;
            let out = drive(threads, dur, true, |t| {
                let topic = topic(t, shared_topic);
                let data = payload(size, t as u64);
                let wal = &wal;
                Ok(move || {
                    wal.append_for_topic(&topic, &data)?;
                    Ok((1, size as u64))
                })
            })?;
            close(wal, job, outcome_measurement(job, &out, true))?
        }
        Workload::Readme { schedule } => {
            let wal = open(job, backend, schedule)?;
            let out = drive(README_THREADS, dur, false, |t| {
                let topic = topic(t, false);
                let data = payload(*README_SIZES.end(), t as u64);
                let mut rng = XorShift::new(t as u64);
                let wal = &wal;
                Ok(move || {
                    let n = rng.in_range(README_SIZES);
                    wal.append_for_topic(&topic, &data[..n])?;
                    Ok((1, n as u64))
                })
            })?;
            close(wal, job, outcome_measurement(job, &out, false))?
        }
        Workload::Small { threads } => {
            let wal = open(job, backend, Schedule::NoFsync)?;
            let out = drive(threads, dur, false, |t| {
                let topic = topic(t, false);
                let data = payload(SMALL_SIZE, t as u64);
                let wal = &wal;
                Ok(move || {
                    wal.append_for_topic(&topic, &data)?;
                    Ok((1, SMALL_SIZE as u64))
                })
            })?;
            close(wal, job, outcome_measurement(job, &out, false))?
        }
        Workload::Pipelined { threads, every } => {
            let wal = open(job, backend, Schedule::NoFsync)?;
            let out = drive_custom(
                threads,
                |t| {
                    // Warm-up, untimed: the topic's creation and a first flush.
                    let (topic, data) = (topic(t, false), payload(SMALL_SIZE, t as u64));
                    let offset = wal.append_for_topic(&topic, &data)?;
                    wal.wait_durable(&topic, offset)?;
                    Ok((topic, data))
                },
                |_, (topic, data)| pipelined_thread(&wal, job, &topic, &data, every),
            )?;
            close(wal, job, outcome_measurement(job, &out, true))?
        }
        Workload::Batch { entries } => {
            let wal = open(job, backend, Schedule::SyncEach)?;
            let out = drive(1, dur, true, |_| {
                let data: Vec<Vec<u8>> = (0..entries)
                    .map(|i| payload(BATCH_ENTRY_SIZE, i as u64))
                    .collect();
                let wal = &wal;
                Ok(move || {
                    let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                    wal.batch_append_for_topic("batch", &refs)?;
                    Ok((entries as u64, (entries * BATCH_ENTRY_SIZE) as u64))
                })
            })?;
            close(wal, job, outcome_measurement(job, &out, true))?
        }
        Workload::Fill { entries, size } => {
            let wal = open(job, backend, Schedule::NoFsync)?;
            let data = payload(size, 1);
            let start = Instant::now();
            for _ in 0..entries {
                wal.append_for_topic("read", &data)?;
            }
            wal.sync()?;
            let m = Measurement {
                entries,
                payload_bytes: entries * size as u64,
                elapsed_s: start.elapsed().as_secs_f64(),
                ..Measurement::default()
            };
            close(wal, job, m)?
        }
        Workload::ReadBack { entries, size } => return read_back(job, backend, entries, size),
    };
    Ok(vec![m])
}

/// One topic per thread, or everybody on `t0`.
fn topic(t: usize, shared: bool) -> String {
    if shared {
        "t0".to_owned()
    } else {
        format!("t{t}")
    }
}

/// Appends without waiting, `wait_durable` every `every` entries; records, for every
/// [`SAMPLE_EVERY`]th entry, the time from its append to the return of the wait that
/// covered it.
fn pipelined_thread(
    wal: &Wal,
    job: &Job,
    topic: &str,
    data: &[u8],
    every: u64,
) -> Result<ThreadOutcome> {
    let start = Instant::now();
    let deadline = start + job.duration();
    let mut t = ThreadOutcome::default();
    let mut stamps = Vec::with_capacity((every / SAMPLE_EVERY + 1) as usize);
    let mut n = 0u64;
    loop {
        if n.is_multiple_of(SAMPLE_EVERY) {
            stamps.push(Instant::now());
        }
        let offset = wal.append_for_topic(topic, data)?;
        n += 1;
        if n.is_multiple_of(every) {
            wal.wait_durable(topic, offset)?;
            let done = Instant::now();
            for s in stamps.drain(..) {
                t.hist.record(done - s);
            }
            if done >= deadline {
                break;
            }
        }
    }
    t.entries = n;
    t.calls = n;
    t.bytes = n * data.len() as u64;
    t.span = Some((start, Instant::now()));
    Ok(t)
}

/// Reopens a filled log: the open is the recovery, then every entry is read back.
fn read_back(
    job: &Job,
    backend: wal::Backend,
    expected: u64,
    size: usize,
) -> Result<Vec<Measurement>> {
    let log_bytes = crate::disk::data_bytes(&job.dir).ctx("measure the log")?;
    let start = Instant::now();
    let wal = open_with(
        job,
        backend,
        Schedule::NoFsync,
        ReadConsistency::AtLeastOnce {
            persist_every: READ_PERSIST_EVERY,
        },
    )?;
    let recovery = start.elapsed();
    let start = Instant::now();
    let (mut entries, mut bytes) = (0u64, 0u64);
    loop {
        let batch = wal.batch_read_for_topic("read", 4 << 20, true)?;
        if batch.is_empty() {
            break;
        }
        entries += batch.len() as u64;
        bytes += batch.iter().map(|e| e.data.len() as u64).sum::<u64>();
    }
    let read = start.elapsed();
    if entries != expected || bytes != expected * size as u64 {
        return Err(Error::Check(format!(
            "read back {entries} entries ({bytes} bytes), expected {expected} of {size} bytes"
        )));
    }
    let recovered = Measurement {
        row: "recovery".into(),
        entries,
        payload_bytes: bytes,
        elapsed_s: recovery.as_secs_f64(),
        log_bytes: Some(log_bytes),
        disk_bytes_per_entry: Some(log_bytes as f64 / entries.max(1) as f64),
        ..Measurement::default()
    };
    let read = Measurement {
        entries,
        payload_bytes: bytes,
        elapsed_s: read.as_secs_f64(),
        fallback: fallback(&wal),
        ..Measurement::default()
    };
    wal.close()?;
    Ok(vec![recovered, read])
}
