//! Workloads for `cargo xtask bench`.
//!
//! This first version is a small, honest demo: it measures the machine's own limit
//! (a plain `pwrite` + `fdatasync` loop on a written, preallocated file) and then runs a
//! handful of workloads through the `wal` facade, reporting each as entries per second
//! and, where it applies, as a fraction of that limit. The full side-by-side benchmark
//! with peer libraries comes with the benchmarks issue.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let results = wal_bench::run(&wal_bench::Settings::smoke(dir.path())).unwrap();
//! assert!(results.iter().all(|r| r.entries > 0));
//! ```

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal::{FsyncSchedule, Wal};

/// How long and how big each workload runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where temporary logs are created (use the file system you want measured).
    pub dir: PathBuf,
    /// Time budget of each timed workload.
    pub duration: Duration,
    /// Entries appended by the throughput workloads.
    pub entries: u64,
    /// Threads of the group-commit workload.
    pub threads: usize,
}

impl Settings {
    /// The defaults of `cargo xtask bench`: about half a minute in all.
    pub fn quick(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            duration: Duration::from_secs(3),
            entries: 2_000_000,
            threads: 16,
        }
    }

    /// A run of a second or two that only checks every workload works (for CI).
    pub fn smoke(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            duration: Duration::from_millis(100),
            entries: 10_000,
            threads: 4,
        }
    }
}

/// One workload's result.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// What ran.
    pub name: String,
    /// Entries (or raw writes) completed.
    pub entries: u64,
    /// Payload bytes per entry.
    pub entry_size: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Flushes the log issued, where it applies.
    pub flushes: Option<u64>,
}

impl Measurement {
    /// Entries per second.
    pub fn rate(&self) -> f64 {
        self.entries as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload megabytes per second.
    pub fn mb_per_s(&self) -> f64 {
        self.rate() * self.entry_size as f64 / 1e6
    }
}

fn open(dir: &Path, schedule: FsyncSchedule) -> wal::Result<Wal> {
    Wal::builder().dir(dir).fsync(schedule).open()
}

/// The machine's limit: one thread, `pwrite` of `size` bytes then `fdatasync`, on a file
/// whose blocks were written beforehand (the fast path the log's segments aim for).
pub fn raw_pwrite_fdatasync(
    dir: &Path,
    size: usize,
    duration: Duration,
) -> io::Result<Measurement> {
    let path = dir.join("raw-limit.dat");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let span = 64u64 << 20;
    file.write_all_at(&vec![0u8; span as usize], 0)?;
    file.sync_all()?;
    let buf = vec![0xA5u8; size];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        file.write_all_at(&buf, (n * size as u64) % span)?;
        file.sync_data()?;
        n += 1;
    }
    let elapsed = start.elapsed();
    std::fs::remove_file(&path)?;
    Ok(Measurement {
        name: "raw pwrite+fdatasync, 1 thread".into(),
        entries: n,
        entry_size: size,
        elapsed,
        flushes: Some(n),
    })
}

/// Durable appends (`SyncEach`) from `threads` threads, one topic each, for `duration`.
pub fn durable_appends(
    dir: &Path,
    threads: usize,
    size: usize,
    duration: Duration,
) -> wal::Result<Measurement> {
    let wal = Arc::new(open(dir, FsyncSchedule::SyncEach)?);
    let start = Instant::now();
    let counts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let wal = &wal;
                s.spawn(move || -> wal::Result<u64> {
                    let topic = format!("t{t}");
                    let data = vec![t as u8; size];
                    let mut n = 0;
                    while start.elapsed() < duration {
                        wal.append_for_topic(&topic, &data)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect::<wal::Result<Vec<u64>>>()
    })?;
    let elapsed = start.elapsed();
    let flushes = wal.stats().flushes;
    Ok(Measurement {
        name: format!("durable appends (SyncEach), {threads} thread(s), {size} B"),
        entries: counts.iter().sum(),
        entry_size: size,
        elapsed,
        flushes: Some(flushes),
    })
}

/// Appends without waiting for durability, then one `wait_durable` at the end: the
/// pipelined group commit.
pub fn pipelined(dir: &Path, entries: u64, size: usize) -> wal::Result<Measurement> {
    let wal = open(dir, FsyncSchedule::NoFsync)?;
    let data = vec![7u8; size];
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..entries {
        last = wal.append_for_topic("pipe", &data)?;
    }
    wal.wait_durable("pipe", last)?;
    let elapsed = start.elapsed();
    Ok(Measurement {
        name: format!("pipelined: append {entries} x {size} B, wait_durable once"),
        entries,
        entry_size: size,
        elapsed,
        flushes: Some(wal.stats().flushes),
    })
}

/// Reads back everything the pipelined workload wrote, after a reopen (which also times
/// recovery).
pub fn reopen_and_read(dir: &Path, size: usize) -> wal::Result<(Measurement, Measurement)> {
    let start = Instant::now();
    let wal = open(dir, FsyncSchedule::NoFsync)?;
    let recovery = start.elapsed();
    let count = wal.get_topic_entry_count("pipe");
    let start = Instant::now();
    let mut n = 0;
    loop {
        let batch = wal.batch_read_for_topic("pipe", 4 << 20, true)?;
        if batch.is_empty() {
            break;
        }
        n += batch.len() as u64;
    }
    let read = start.elapsed();
    Ok((
        Measurement {
            name: format!("recovery: open a log of {count} entries"),
            entries: count,
            entry_size: size,
            elapsed: recovery,
            flushes: None,
        },
        Measurement {
            name: "read back after reopen (batch reads, 4 MiB)".into(),
            entries: n,
            entry_size: size,
            elapsed: read,
            flushes: None,
        },
    ))
}

/// Runs every workload in its own directory under `settings.dir`.
pub fn run(settings: &Settings) -> wal::Result<Vec<Measurement>> {
    let io_err = |e: io::Error| wal::Error::Config(format!("benchmark set-up failed: {e}"));
    std::fs::create_dir_all(&settings.dir).map_err(io_err)?;
    let fresh = || tempfile::tempdir_in(&settings.dir).map_err(io_err);
    let mut out = Vec::new();
    out.push(raw_pwrite_fdatasync(fresh()?.path(), 256, settings.duration).map_err(io_err)?);
    out.push(durable_appends(fresh()?.path(), 1, 256, settings.duration)?);
    out.push(durable_appends(
        fresh()?.path(),
        settings.threads,
        256,
        settings.duration,
    )?);
    let dir = fresh()?;
    out.push(pipelined(dir.path(), settings.entries, 64)?);
    let (recovery, read) = reopen_and_read(dir.path(), 64)?;
    out.push(read);
    out.push(recovery);
    Ok(out)
}

/// Formats results as a Markdown table, with rates relative to the first (the raw limit).
pub fn table(results: &[Measurement]) -> String {
    let limit = results.first().map(Measurement::rate).unwrap_or(1.0);
    let mut s = String::from("| workload | entries | entries/s | MB/s | flushes | vs raw fdatasync limit |\n|---|---:|---:|---:|---:|---:|\n");
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} | {} | {:.2}x |\n",
            r.name,
            r.entries,
            r.rate(),
            r.mb_per_s(),
            r.flushes.map_or("-".into(), |f| f.to_string()),
            r.rate() / limit
        ));
    }
    s
}
