//! Measures what a durable append and a new segment cost on this disk, for
//! `docs/measurements.md`.
//!
//! ```sh
//! cargo run --release -p wal-bench --example disk_sync [DIR] [SECONDS_PER_CASE]
//! ```
//!
//! `DIR` (default `target/measure`) must be on the file system to measure; the default
//! `SECONDS_PER_CASE` is 0.5. Two parts:
//!
//! 1. One thread, `pwrite` of 256 B or 4 KiB then `fdatasync`, into three files in turn
//!    (one record and sync into each, then the next record), at the same offsets:
//!    - `written`: a 64 MiB file whose blocks were all written and synced first (what a
//!      zero-filled or recycled segment gives);
//!    - `fallocated`: a 64 MiB file reserved with `fallocate` and never written (every sync
//!      also converts the extents it touched from unwritten to written);
//!    - `growing`: an empty file, each record appended at its end (every sync also writes
//!      the new size).
//!
//!    Taking turns one sync at a time means a slow period of the host hits the three
//!    alike. Each run uses fresh files for 3 × `SECONDS_PER_CASE`; `syncs/s` is one over
//!    the mean latency, and the ratios to `written` are computed per run (of the p50
//!    latencies, and of the means) and their median printed.
//! 2. Creating a segment file, each one timed whole and removed afterwards (not timed):
//!    `create+fsync+dir fsync` of an empty file; the same with `fallocate` of 64 MiB
//!    first; and the same with the 64 MiB then zero-filled in 1 MiB writes before the
//!    `fdatasync` (what `wal-core/src/precreate.rs` does off the append path).
#![allow(
    clippy::print_stdout,
    reason = "a measurement program reports its numbers on stdout"
)]

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const SPAN: u64 = 64 << 20;
const RUNS: usize = 5;
const CREATE_REPS: usize = 20;
const ZERO_FILL_REPS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Written,
    Fallocated,
    Growing,
}

const TARGETS: [Target; 3] = [Target::Written, Target::Fallocated, Target::Growing];

/// What one run measured for one target.
struct Loop {
    /// Syncs per second while this target was being written: 1 / mean latency.
    per_s: f64,
    p50: Duration,
    p99: Duration,
}

fn main() -> io::Result<()> {
    let (dir, duration) = wal_bench::measurement_args(0.5)?;
    println!(
        "disk_sync in {}: {RUNS} runs, {} s per case",
        dir.display(),
        duration.as_secs_f64()
    );
    sync_rates(&dir, duration)?;
    segment_creation(&dir)?;
    Ok(())
}

fn sync_rates(dir: &Path, duration: Duration) -> io::Result<()> {
    println!("\n1. one thread, pwrite + fdatasync per record (median of {RUNS} runs)");
    println!(
        "{:>6} {:<11} | {:>9} {:>8} {:>8} | {:>15} {:>16}",
        "size", "file", "syncs/s", "p50 µs", "p99 µs", "÷ written (p50)", "÷ written (mean)"
    );
    for size in [256usize, 4096] {
        // [target][run]
        let mut runs: Vec<Vec<Loop>> = TARGETS.iter().map(|_| Vec::new()).collect();
        for _ in 0..RUNS {
            for (t, result) in sync_loop(dir, size, duration)?.into_iter().enumerate() {
                runs[t].push(result);
            }
        }
        for (t, target) in TARGETS.iter().enumerate() {
            let by_p50 = runs[t].iter().zip(&runs[0]);
            let by_p50 = by_p50
                .map(|(x, w)| w.p50.as_secs_f64() / x.p50.as_secs_f64())
                .collect();
            let by_mean = runs[t].iter().zip(&runs[0]);
            let by_mean = by_mean.map(|(x, w)| x.per_s / w.per_s).collect();
            println!(
                "{:>6} {:<11} | {:>9.0} {:>8.0} {:>8.0} | {:>14.2}x {:>15.2}x",
                size,
                format!("{target:?}").to_lowercase(),
                median(runs[t].iter().map(|l| l.per_s).collect()),
                median(runs[t].iter().map(|l| micros(l.p50)).collect()),
                median(runs[t].iter().map(|l| micros(l.p99)).collect()),
                median(by_p50),
                median(by_mean),
            );
        }
    }
    Ok(())
}

/// One run: the three files prepared, then one record written and synced into each in
/// turn, so that a slow period of the host (every flush taking milliseconds for a while
/// happens here) hits the three alike. Results in the order of [`TARGETS`].
fn sync_loop(dir: &Path, size: usize, duration: Duration) -> io::Result<Vec<Loop>> {
    let mut files = Vec::new();
    for target in TARGETS {
        let path = dir.join(format!("disk-sync-{target:?}.dat"));
        let file = create(&path)?;
        match target {
            Target::Written => {
                let fill = vec![0x5Au8; 1 << 20];
                for i in 0..SPAN / fill.len() as u64 {
                    file.write_all_at(&fill, i * fill.len() as u64)?;
                }
            }
            Target::Fallocated => fallocate(&file, SPAN)?,
            Target::Growing => {}
        }
        file.sync_all()?;
        files.push((path, file));
    }
    sync_file(dir)?;

    let record = vec![0xA5u8; size];
    // A fallocated file is never written twice at the same place: stop at its end.
    let slots = SPAN / size as u64;
    let mut latencies: Vec<Vec<Duration>> = TARGETS.iter().map(|_| Vec::new()).collect();
    let start = Instant::now();
    let mut n = 0u64;
    while (start.elapsed() < duration * TARGETS.len() as u32 || n == 0) && n < slots {
        for ((_, file), latencies) in files.iter().zip(&mut latencies) {
            let t = Instant::now();
            file.write_all_at(&record, n * size as u64)?;
            file.sync_data()?;
            latencies.push(t.elapsed());
        }
        n += 1;
    }
    for (path, file) in files {
        drop(file);
        fs::remove_file(&path)?;
    }
    Ok(latencies
        .into_iter()
        .map(|mut l| {
            l.sort_unstable();
            let total: Duration = l.iter().sum();
            Loop {
                per_s: l.len() as f64 / total.as_secs_f64(),
                p50: quantile(&l, 0.5),
                p99: quantile(&l, 0.99),
            }
        })
        .collect())
}

#[derive(Debug, Clone, Copy)]
enum Creation {
    Empty,
    Fallocated,
    ZeroFilled,
}

fn segment_creation(dir: &Path) -> io::Result<()> {
    let kinds = [Creation::Empty, Creation::Fallocated, Creation::ZeroFilled];
    let mut samples = vec![Vec::new(); kinds.len()];
    // The kinds alternate one file at a time, so that a slow period of the host hits all.
    for _ in 0..RUNS {
        for rep in 0..CREATE_REPS {
            for (kind, samples) in kinds.iter().zip(&mut samples) {
                if matches!(kind, Creation::ZeroFilled) && rep >= ZERO_FILL_REPS {
                    continue;
                }
                samples.push(create_segment(dir, *kind)?);
            }
        }
    }
    println!("\n2. creating a segment file (median of all samples, {RUNS} runs)");
    println!(
        "{:<62} | {:>7} {:>10} {:>10} | {:>8}",
        "what", "samples", "p50", "max", "÷ empty"
    );
    let empty = quantile_sorted(&mut samples[0].clone(), 0.5);
    for (kind, samples) in kinds.iter().zip(&mut samples) {
        let p50 = quantile_sorted(samples, 0.5);
        let label = match kind {
            Creation::Empty => "create + fsync + dir fsync (empty file)",
            Creation::Fallocated => "create + fallocate 64 MiB + fsync + dir fsync",
            Creation::ZeroFilled => "create + fallocate + zero-fill 64 MiB + fdatasync + dir fsync",
        };
        println!(
            "{label:<62} | {:>7} {:>10} {:>10} | {:>7.1}x",
            samples.len(),
            fmt(p50),
            fmt(samples[samples.len() - 1]),
            p50.as_secs_f64() / empty.as_secs_f64(),
        );
    }
    Ok(())
}

fn create_segment(dir: &Path, kind: Creation) -> io::Result<Duration> {
    let path = dir.join("disk-sync-segment.dat");
    let zeros = vec![0u8; 1 << 20];
    let start = Instant::now();
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)?;
    match kind {
        Creation::Empty => file.sync_all()?,
        Creation::Fallocated => {
            fallocate(&file, SPAN)?;
            file.sync_all()?;
        }
        Creation::ZeroFilled => {
            fallocate(&file, SPAN)?;
            for i in 0..SPAN / zeros.len() as u64 {
                file.write_all_at(&zeros, i * zeros.len() as u64)?;
            }
            file.sync_data()?;
        }
    }
    sync_file(dir)?;
    let elapsed = start.elapsed();
    drop(file);
    fs::remove_file(&path)?;
    sync_file(dir)?;
    Ok(elapsed)
}

fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
}

fn fallocate(file: &File, len: u64) -> io::Result<()> {
    rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len)?;
    Ok(())
}

/// `fsync` of a directory (or any file), as a segment's directory entry needs.
fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn quantile_sorted(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    quantile(samples, q)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn fmt(d: Duration) -> String {
    let us = micros(d);
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}
