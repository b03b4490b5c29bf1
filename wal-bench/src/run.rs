//! The orchestrator: measures the machine's limits, then runs every job of the plan in
//! its own worker process and gathers the results into a [`Report`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use crate::job::{Job, Measurement, System};
use crate::machine::Machine;
use crate::plan::{plan, Settings};
use crate::raw::Limits;
use crate::report::{Failure, Report};
use crate::walrus::{DATA_DIR_VAR, QUIET_VAR};
use crate::worker::parse_result;

/// What the orchestrator tells its caller as it goes (for a progress bar).
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The plan is ready: this many jobs will run.
    Planned {
        /// Jobs to run (the limit measurements count as one).
        jobs: usize,
    },
    /// A job (or the limit measurement) starts.
    Started {
        /// What runs.
        label: &'a str,
    },
    /// It finished; `error` says why if it failed.
    Finished {
        /// What ran.
        label: &'a str,
        /// Why it failed, if it did.
        error: Option<&'a str>,
    },
}

/// Runs `settings` with `worker_exe` as the worker binary (normally the running
/// `wal-bench` itself) and returns the report. A failing job is recorded in the report's
/// failures; only failures of the orchestrator itself are errors.
pub fn run(
    settings: &Settings,
    worker_exe: &Path,
    command: &str,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.dir).ctx(format!("create {}", settings.dir.display()))?;
    let base = std::fs::canonicalize(&settings.dir).ctx("resolve the log directory")?;
    let root = base.join(format!("run-{}", std::process::id()));
    let mut run_settings = settings.clone();
    run_settings.dir = root.clone();
    let (steps, skipped) = plan(&run_settings);
    let jobs: usize = steps.iter().map(|s| s.jobs.len()).sum();
    progress(Progress::Planned { jobs: jobs + 2 });

    let machine = Machine::describe(&base);
    let raw_dir = root.join("raw");
    let label = "machine limits: pwrite+fdatasync, buffered pwrite/pread";
    progress(Progress::Started { label });
    let mut limits = Limits::measure(&raw_dir, settings.duration, settings.bandwidth_bytes)?;
    progress(Progress::Finished { label, error: None });

    let mut results = Vec::new();
    let mut failures = Vec::new();
    for step in &steps {
        for job in &step.jobs {
            let label = job.label();
            progress(Progress::Started { label: &label });
            match run_worker(worker_exe, job) {
                Ok(mut r) => {
                    results.append(&mut r);
                    progress(Progress::Finished {
                        label: &label,
                        error: None,
                    });
                }
                Err(e) => {
                    let message = e.to_string();
                    tracing::warn!(job = %label, error = %message, "job failed");
                    progress(Progress::Finished {
                        label: &label,
                        error: Some(&message),
                    });
                    failures.push(Failure {
                        row: job.workload.id(),
                        system: job.system.name().to_owned(),
                        error: message,
                    });
                    break; // a read back after a failed fill has nothing to read
                }
            }
        }
        remove_dir(&step.dir)?;
    }

    let label = "machine limits again: both sync loops (drift)";
    progress(Progress::Started { label });
    limits.remeasure(&raw_dir, settings.duration)?;
    progress(Progress::Finished { label, error: None });
    remove_dir(&root)?;

    Ok(Report::new(
        command,
        machine,
        settings.clone(),
        limits,
        results,
        skipped,
        failures,
        started.elapsed(),
    ))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx(format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// How long a worker may take before it is killed.
fn time_limit(job: &Job) -> Duration {
    Duration::from_secs(600) + 20 * job.duration()
}

/// Runs one job in a child process and decodes its result.
pub fn run_worker(exe: &Path, job: &Job) -> Result<Vec<Measurement>> {
    let json =
        serde_json::to_string(job).map_err(|e| Error::Check(format!("cannot encode job: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .arg("--job")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove(DATA_DIR_VAR)
        .env_remove(QUIET_VAR);
    if job.system == System::Walrus {
        // walrus-rust reads both at construction; set them for this child only.
        cmd.env(DATA_DIR_VAR, &job.dir).env(QUIET_VAR, "1");
    }
    let child = cmd
        .spawn()
        .ctx(format!("start the worker {}", exe.display()))?;
    let (ok, stdout, stderr) = wait(child, time_limit(job), &job.label())?;
    let worker_error = |message: String| Error::Worker {
        job: job.label(),
        message,
    };
    if !ok {
        return Err(worker_error(tail(&stderr)));
    }
    parse_result(&stdout)
        .ok_or_else(|| worker_error(format!("no result line; stderr: {}", tail(&stderr))))
}

/// The last lines of a worker's stderr, for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let from = lines.len().saturating_sub(8);
    let s = lines[from..].join(" | ");
    if s.is_empty() {
        "(no output)".into()
    } else {
        s
    }
}

/// Waits for `child`, reading its output, and kills it (by its own handle) after
/// `limit`. Returns whether it succeeded, its stdout and its stderr.
fn wait(mut child: Child, limit: Duration, label: &str) -> Result<(bool, String, String)> {
    fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                if let Err(e) = p.read_to_string(&mut s) {
                    s.push_str(&format!("\n(reading the worker's output failed: {e})"));
                }
            }
            s
        })
    }
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().ctx("wait for the worker")? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().ctx("kill the worker")?;
            child.wait().ctx("reap the worker")?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let mut stderr = err.join().unwrap_or_default();
    let ok = match status {
        Some(s) if s.success() => true,
        Some(s) => {
            stderr.push_str(&format!("\nworker exited with {s}"));
            false
        }
        None => {
            stderr.push_str(&format!(
                "\nworker for {label} killed after {} s",
                limit.as_secs()
            ));
            false
        }
    };
    Ok((ok, stdout, stderr))
}

/// The default worker binary: this very program.
pub fn current_exe() -> Result<PathBuf> {
    std::env::current_exe().ctx("find the wal-bench binary")
}
