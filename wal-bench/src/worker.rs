//! One job, in one process: the `worker` side of the orchestrator.
//!
//! The orchestrator starts `wal-bench worker --job JSON` once per (system, workload)
//! configuration, so that process-wide state (walrus-rust's fsync schedule and backend,
//! allocator caches, peak memory) never leaks from one run into the next. The worker
//! prints one line, [`RESULT_PREFIX`] followed by the JSON of its measurements.

use crate::disk;
use crate::drive::Outcome;
use crate::error::{Context, Error, Result};
use crate::job::{Job, Measurement, System};
use crate::machine::{peak_rss_kib, Device};
use crate::workload::run;

/// Marks the worker's result line on its stdout.
pub const RESULT_PREFIX: &str = "WAL-BENCH-RESULT ";

/// Pipelined workloads time every this many entries, from append to durable.
pub const SAMPLE_EVERY: u64 = 16;

/// A measurement of a timed run, with latencies if `latency`.
pub(crate) fn outcome_measurement(job: &Job, out: &Outcome, latency: bool) -> Measurement {
    Measurement {
        row: job.workload.id(),
        entries: out.entries,
        payload_bytes: out.bytes,
        calls: (out.calls != out.entries).then_some(out.calls),
        elapsed_s: out.elapsed.as_secs_f64(),
        latency: if latency {
            out.hist.percentiles()
        } else {
            None
        },
        ..Measurement::default()
    }
}

/// Adds what the log's files tell once it is closed: bytes of log data per entry.
pub(crate) fn finish(job: &Job, mut m: Measurement) -> Result<Measurement> {
    if m.entries > 0 && m.disk_bytes_per_entry.is_none() {
        let bytes = disk::data_bytes(&job.dir).ctx("measure the log")?;
        m.disk_bytes_per_entry = Some(bytes as f64 / m.entries as f64);
    }
    Ok(m)
}

/// Runs `job` in this process and returns its measurements.
///
/// walrus-rust jobs need `WALRUS_DATA_DIR` set to `job.dir` and `WALRUS_QUIET` set in
/// this process's environment (the orchestrator sets both for the worker it starts),
/// and must be the only walrus-rust job of the process.
pub fn run_job(job: &Job) -> Result<Vec<Measurement>> {
    if let Some(reason) = job.system.cannot(&job.workload) {
        return Err(Error::Settings(format!("{}: {reason}", job.label())));
    }
    std::fs::create_dir_all(&job.dir).ctx(format!("create {}", job.dir.display()))?;
    let device = Device::of(&job.dir);
    let flushes_before = device.as_ref().and_then(Device::flushes);
    tracing::debug!(job = %job.label(), "running");
    let mut results = match job.system {
        System::Std | System::Mmap | System::Uring => run::<crate::ours::Ours>(job)?,
        System::Walrus => run::<crate::walrus::WalrusLog>(job)?,
        System::Okaywal => run::<crate::okaywal::Okaywal>(job)?,
        System::RaftEngine => run::<crate::raft_engine::RaftEngine>(job)?,
        System::RaftLog => run::<crate::raft_log::RaftLogs>(job)?,
    };
    let flushes_after = device.as_ref().and_then(Device::flushes);
    let device_flushes = flushes_before
        .zip(flushes_after)
        .map(|(a, b)| b.saturating_sub(a));
    let peak = peak_rss_kib();
    for m in &mut results {
        if m.row.is_empty() {
            m.row = job.workload.id();
        }
        m.system = job.system.name().to_owned();
        m.run = job.run;
        m.device_flushes = device_flushes;
        m.peak_rss_kib = peak;
        if let Some(how) = job.system.adaptation(&job.workload) {
            m.note = Some(match m.note.take() {
                Some(note) => format!("{how}; {note}"),
                None => how.to_owned(),
            });
        }
    }
    Ok(results)
}

/// The worker's whole job: parse `job_json`, run it, and return the result line to print.
pub fn worker_main(job_json: &str) -> Result<String> {
    let job: Job = serde_json::from_str(job_json)
        .map_err(|e| Error::Settings(format!("bad job description: {e}")))?;
    let results = run_job(&job)?;
    let json = serde_json::to_string(&results)
        .map_err(|e| Error::Check(format!("cannot encode results: {e}")))?;
    Ok(format!("{RESULT_PREFIX}{json}"))
}

/// Finds the result line in a worker's stdout and decodes it.
pub fn parse_result(stdout: &str) -> Option<Vec<Measurement>> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Workload;
    use std::time::Duration;

    #[test]
    fn a_job_runs_in_process_and_its_line_parses() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job::new(
            System::Std,
            Workload::Durable {
                threads: 2,
                shared_topic: true,
                size: 256,
            },
            dir.path().join("log"),
            Duration::from_millis(30),
        );
        let line = worker_main(&serde_json::to_string(&job).unwrap()).unwrap();
        let results = parse_result(&format!("noise\n{line}\n")).unwrap();
        assert_eq!(results.len(), 1);
        let m = &results[0];
        assert_eq!(
            (m.row.as_str(), m.system.as_str()),
            ("durable/256B/2t/1topic", "wal/std")
        );
        assert!(m.entries > 0 && m.flushes.is_some_and(|f| f > 0));
        assert!(m.latency.is_some());
        let per_entry = m.disk_bytes_per_entry.unwrap();
        assert!(per_entry >= 280.0, "{per_entry}");
    }

    #[test]
    fn unsupported_pairs_are_refused() {
        let job = Job::new(
            System::Okaywal,
            Workload::Small { threads: 1 },
            "/nonexistent",
            Duration::from_millis(1),
        );
        assert!(matches!(run_job(&job), Err(Error::Settings(_))));
    }
}
