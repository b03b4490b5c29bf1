//! Every workload, written once for all systems through the [`Log`] trait: the same
//! threads, payloads, clock and histograms for ours and the peers.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::drive::{drive, drive_custom, Pool, ThreadOutcome, XorShift};
use crate::error::{Context, Error, Result};
use crate::job::{
    Job, Measurement, Schedule, Workload, BATCH_ENTRY_SIZE, MEMORY_BATCH, RAFT_ENTRY_SIZE,
    RAFT_KEEP, RAFT_PURGE_EVERY, README_SIZES, README_THREADS, SMALL_SIZE,
};
use crate::machine::rss_anon_kib;
use crate::system::{Log, Open, Purpose, ReadBack, Writer};
use crate::worker::{finish, outcome_measurement, SAMPLE_EVERY};

/// Entries per append call when filling the log for the read workload: every system
/// writes the same calls (okaywal commits, and so syncs, once per call).
pub const FILL_BATCH: usize = 100;

/// The period of the background sync the workload runs for systems without a timer of
/// their own under [`Schedule::Millis200`].
const TIMED_SYNC_EVERY: Duration = Duration::from_millis(200);

/// Runs `job` on the log `L`.
pub(crate) fn run<L: Log>(job: &Job) -> Result<Vec<Measurement>> {
    let m = match job.workload {
        Workload::Durable {
            threads,
            shared_topic,
            size,
        } => {
            let topic = move |t: usize| if shared_topic { 0 } else { t };
            timed::<L>(job, threads, topic, Sizes::Fixed(size), 1, true)?
        }
        Workload::Readme { .. } => {
            let sizes = Sizes::Random(*README_SIZES.start(), *README_SIZES.end());
            timed::<L>(job, README_THREADS, |t| t, sizes, 1, false)?
        }
        Workload::Small { threads } => {
            timed::<L>(job, threads, |t| t, Sizes::Fixed(SMALL_SIZE), 1, false)?
        }
        Workload::Batch { entries } => {
            timed::<L>(job, 1, |_| 0, Sizes::Fixed(BATCH_ENTRY_SIZE), entries, true)?
        }
        Workload::Pipelined { threads, every } => pipelined::<L>(job, threads, every)?,
        Workload::Fill { entries, size } => fill::<L>(job, entries, size)?,
        Workload::ReadBack { entries, size } => return read_back::<L>(job, entries, size),
        Workload::Memory { entries, size } => memory::<L>(job, entries, size)?,
        Workload::Raft { entries, groups } => raft::<L>(job, groups, entries)?,
    };
    Ok(vec![m])
}

/// Entry sizes of a workload.
#[derive(Debug, Clone, Copy)]
enum Sizes {
    /// Every entry this size.
    Fixed(usize),
    /// Uniformly random in `lo..=hi`, the same sequence for every system.
    Random(usize, usize),
}

impl Sizes {
    fn max(self) -> usize {
        match self {
            Sizes::Fixed(n) | Sizes::Random(_, n) => n,
        }
    }
}

fn open<L: Log>(job: &Job, purpose: Purpose) -> Result<L> {
    L::open(
        job,
        Open {
            schedule: job.workload.schedule(),
            purpose,
        },
    )
}

/// Closes the log, then measures its files (unless the system says they cannot be).
fn close<L: Log>(log: L, job: &Job, mut m: Measurement) -> Result<Measurement> {
    log.close(&mut m)?;
    match L::unmeasurable_files(job)? {
        Some(why) => {
            m.note = Some(why);
            Ok(m)
        }
        None => finish(job, m),
    }
}

/// Runs `body` while, if the schedule asks for a sync every 200 ms and the log has no
/// timer of its own, a thread syncs the log every 200 ms.
fn with_timed_sync<L: Log, T>(log: &L, job: &Job, body: impl FnOnce() -> Result<T>) -> Result<T> {
    if job.workload.schedule() != Schedule::Millis200 || L::TIMED_SYNC {
        return body();
    }
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let syncer = s.spawn(move || -> Result<()> {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TIMED_SYNC_EVERY)
            {
                log.sync()?;
            }
            Ok(())
        });
        let result = body();
        drop(stop);
        let synced = syncer
            .join()
            .unwrap_or_else(|_| Err(Error::Check("the timed-sync thread panicked".into())));
        let out = result?;
        synced?;
        Ok(out)
    })
}

/// `threads` threads, each on `topic(thread)`, append calls of `per_call` entries until
/// the job's time is up; with `latency`, every call is timed.
fn timed<L: Log>(
    job: &Job,
    threads: usize,
    topic: impl Fn(usize) -> usize + Sync,
    sizes: Sizes,
    per_call: usize,
    latency: bool,
) -> Result<Measurement> {
    let log = open::<L>(job, Purpose::Append)?;
    let pool = Pool::new(sizes.max(), job.run.into());
    let out = with_timed_sync(&log, job, || {
        drive(threads, job.duration(), latency, |t| {
            let mut writer = log.writer(topic(t))?;
            let mut cursor = pool.cursor(t);
            let mut rng = XorShift::new(t as u64);
            let mut call: Vec<&[u8]> = Vec::with_capacity(per_call);
            Ok(move || {
                call.clear();
                let mut bytes = 0;
                for _ in 0..per_call {
                    let n = match sizes {
                        Sizes::Fixed(n) => n,
                        Sizes::Random(lo, hi) => rng.in_range(lo..=hi),
                    };
                    call.push(cursor.next(n));
                    bytes += n as u64;
                }
                writer.append(&call)?;
                Ok((per_call as u64, bytes))
            })
        })
    })?;
    close(log, job, outcome_measurement(job, &out, latency))
}

/// The Raft-log workload: `groups` threads, one Raft group each, append calls of
/// `per_call` entries, each durable before the next; every [`RAFT_PURGE_EVERY`] entries the
/// group purges all but its last [`RAFT_KEEP`], inside the call that crossed the mark (so
/// the purge's cost shows in that call's latency).
fn raft<L: Log>(job: &Job, groups: usize, per_call: usize) -> Result<Measurement> {
    let log = open::<L>(job, Purpose::Raft)?;
    let pool = Pool::new(RAFT_ENTRY_SIZE, job.run.into());
    let out = drive(groups, job.duration(), true, |t| {
        let mut writer = log.writer(t)?;
        let mut cursor = pool.cursor(t);
        let mut call: Vec<&[u8]> = Vec::with_capacity(per_call);
        let mut since_purge = 0u64;
        Ok(move || {
            call.clear();
            for _ in 0..per_call {
                call.push(cursor.next(RAFT_ENTRY_SIZE));
            }
            writer.append(&call)?;
            since_purge += per_call as u64;
            if since_purge >= RAFT_PURGE_EVERY {
                writer.purge_all_but(RAFT_KEEP)?;
                since_purge = 0;
            }
            Ok((per_call as u64, (per_call * RAFT_ENTRY_SIZE) as u64))
        })
    })?;
    close(log, job, outcome_measurement(job, &out, true))
}

/// Appends without waiting, waits for durability every `every` entries, and records, for
/// every [`SAMPLE_EVERY`]th entry, the time from its append to the return of the wait
/// that covered it.
fn pipelined<L: Log>(job: &Job, threads: usize, every: u64) -> Result<Measurement> {
    let log = open::<L>(job, Purpose::Pipelined)?;
    let pool = Pool::new(SMALL_SIZE, job.run.into());
    let out = drive_custom(
        threads,
        |t| {
            // Warm-up, untimed: the topic's creation and a first sync.
            let mut writer = log.writer(t)?;
            let mut cursor = pool.cursor(t);
            writer.append(&[cursor.next(SMALL_SIZE)])?;
            writer.wait_durable()?;
            Ok((writer, cursor))
        },
        |_, (mut writer, mut cursor)| {
            let start = Instant::now();
            let deadline = start + job.duration();
            let mut t = ThreadOutcome::default();
            let mut stamps = Vec::with_capacity((every / SAMPLE_EVERY + 1) as usize);
            let mut n = 0u64;
            loop {
                if n.is_multiple_of(SAMPLE_EVERY) {
                    stamps.push(Instant::now());
                }
                writer.append(&[cursor.next(SMALL_SIZE)])?;
                n += 1;
                if n.is_multiple_of(every) {
                    writer.wait_durable()?;
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
            t.bytes = n * SMALL_SIZE as u64;
            t.span = Some((start, Instant::now()));
            Ok(t)
        },
    )?;
    close(log, job, outcome_measurement(job, &out, true))
}

/// Appends `entries` entries of `size` bytes from one writer to topic 0, in calls of up
/// to `per_call`, and syncs; returns the time it took.
fn append_all<L: Log>(
    log: &L,
    pool: &Pool,
    entries: u64,
    size: usize,
    per_call: usize,
) -> Result<Duration> {
    let mut cursor = pool.cursor(0);
    let mut writer = log.writer(0)?;
    let mut call: Vec<&[u8]> = Vec::with_capacity(per_call);
    let start = Instant::now();
    let mut left = entries;
    while left > 0 {
        let n = left.min(per_call as u64);
        call.clear();
        call.extend((0..n).map(|_| cursor.next(size)));
        writer.append(&call)?;
        left -= n;
    }
    writer.wait_durable()?;
    log.sync()?;
    Ok(start.elapsed())
}

/// Writes the data of the read workload (untimed set-up, reported for information).
fn fill<L: Log>(job: &Job, entries: u64, size: usize) -> Result<Measurement> {
    let log = open::<L>(job, Purpose::Fill)?;
    let pool = Pool::new(size, job.run.into());
    let elapsed = append_all(&log, &pool, entries, size, FILL_BATCH)?;
    let m = Measurement {
        entries,
        payload_bytes: entries * size as u64,
        elapsed_s: elapsed.as_secs_f64(),
        ..Measurement::default()
    };
    close(log, job, m)
}

/// Reopens what [`fill`] wrote: the open is timed (recovery), then everything is read.
fn read_back<L: Log>(job: &Job, expected: u64, size: usize) -> Result<Vec<Measurement>> {
    let log_bytes = crate::disk::data_bytes(&job.dir).ctx("measure the log")?;
    let start = Instant::now();
    let log = open::<L>(job, Purpose::Read)?;
    let recovery = start.elapsed();
    let start = Instant::now();
    let got: ReadBack = log.read_all(0)?;
    let read = if got.during_open {
        recovery
    } else {
        start.elapsed()
    };
    if got.entries != expected || got.bytes != expected * size as u64 {
        return Err(Error::Check(format!(
            "read back {} entries ({} bytes), expected {expected} of {size} bytes",
            got.entries, got.bytes
        )));
    }
    let recovered = Measurement {
        row: "recovery".into(),
        entries: got.entries,
        payload_bytes: got.bytes,
        elapsed_s: recovery.as_secs_f64(),
        log_bytes: Some(log_bytes),
        disk_bytes_per_entry: Some(log_bytes as f64 / got.entries.max(1) as f64),
        ..Measurement::default()
    };
    let mut read = Measurement {
        entries: got.entries,
        payload_bytes: got.bytes,
        elapsed_s: read.as_secs_f64(),
        ..Measurement::default()
    };
    log.close(&mut read)?;
    Ok(vec![recovered, read])
}

/// Appends `entries` small entries and reports the anonymous memory gained per entry.
fn memory<L: Log>(job: &Job, entries: u64, size: usize) -> Result<Measurement> {
    let log = open::<L>(job, Purpose::Fill)?;
    // The payload pool and a first writer exist before the baseline is taken.
    let pool = Pool::new(size, job.run.into());
    drop(log.writer(0)?);
    let before = rss_anon_kib().ok_or_else(|| Error::Check("no RssAnon in /proc".into()))?;
    let elapsed = append_all(&log, &pool, entries, size, MEMORY_BATCH)?;
    let after = rss_anon_kib().ok_or_else(|| Error::Check("no RssAnon in /proc".into()))?;
    let mut m = Measurement {
        entries,
        payload_bytes: entries * size as u64,
        elapsed_s: elapsed.as_secs_f64(),
        memory_bytes_per_entry: Some(after.saturating_sub(before) as f64 * 1024.0 / entries as f64),
        note: Some(format!("{entries} entries appended")),
        ..Measurement::default()
    };
    log.close(&mut m)?;
    Ok(m)
}
