//! Measures what one `pwrite` per small record costs against copying records into a
//! buffer and writing it in 1 MiB blocks, with no sync, for `docs/measurements.md`.
//!
//! ```sh
//! cargo run --release -p wal-bench --example write_batching [DIR] [SECONDS_PER_CASE]
//! ```
//!
//! `DIR` (default `target/measure`) must be on the file system to measure; the default
//! `SECONDS_PER_CASE` is 0.3. One thread writes records of 64 B and 256 B into a 64 MiB
//! file whose blocks were written first (so every write lands in cached pages), wrapping
//! around inside it:
//!
//! - `pwrite per record`: one `pwrite` system call per record (the baseline of the ratios);
//! - `copy + 1 MiB pwrite`: each record copied into a 1 MiB buffer, one `pwrite` per full
//!   buffer;
//! - `copy only`: the copies alone, the buffer reused without writing it (the ceiling of an
//!   in-memory append path).
//!
//! Every run measures each case once, in a rotating order; rates are medians over the
//! runs, ratios the median of the per-run ratios.
#![allow(
    clippy::print_stdout,
    reason = "a measurement program reports its numbers on stdout"
)]

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const SPAN: u64 = 64 << 20;
const BLOCK: usize = 1 << 20;
const RUNS: usize = 5;

#[derive(Debug, Clone, Copy)]
enum Case {
    PwritePerRecord,
    Batched,
    CopyOnly,
}

const CASES: [Case; 3] = [Case::PwritePerRecord, Case::Batched, Case::CopyOnly];

fn main() -> io::Result<()> {
    let (dir, duration) = wal_bench::measurement_args(0.3)?;
    let path = dir.join("write-batching.dat");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let fill = vec![0x5Au8; BLOCK];
    for i in 0..SPAN / BLOCK as u64 {
        file.write_all_at(&fill, i * BLOCK as u64)?;
    }
    file.sync_all()?;

    println!(
        "write_batching in {}: {RUNS} runs, {} s per case, no sync",
        dir.display(),
        duration.as_secs_f64()
    );
    println!(
        "{:>6} {:<22} | {:>14} {:>10} | {:>10}",
        "size", "case", "records/s", "MB/s", "÷ pwrite"
    );
    for size in [64usize, 256] {
        let mut rates: Vec<Vec<f64>> = CASES.iter().map(|_| Vec::new()).collect();
        for run in 0..RUNS {
            for i in 0..CASES.len() {
                let c = (run + i) % CASES.len();
                rates[c].push(measure(&file, CASES[c], size, duration)?);
            }
        }
        for (case, r) in CASES.iter().zip(&rates) {
            let ratios = r.iter().zip(&rates[0]).map(|(x, base)| x / base).collect();
            let per_s = median(r.clone());
            let label = match case {
                Case::PwritePerRecord => "pwrite per record",
                Case::Batched => "copy + 1 MiB pwrite",
                Case::CopyOnly => "copy only",
            };
            println!(
                "{size:>6} {label:<22} | {per_s:>14.0} {:>10.0} | {:>9.1}x",
                per_s * size as f64 / 1e6,
                median(ratios),
            );
        }
    }
    drop(file);
    fs::remove_file(&path)?;
    Ok(())
}

/// Records per second of `case` with records of `size` bytes.
fn measure(file: &File, case: Case, size: usize, duration: Duration) -> io::Result<f64> {
    let record = vec![0xA5u8; size];
    let mut buf = Vec::with_capacity(BLOCK);
    let mut pos = 0u64;
    let mut n = 0u64;
    let start = Instant::now();
    // Check the clock every 1024 records: a clock read costs about as much as a copy.
    while start.elapsed() < duration {
        for _ in 0..1024 {
            match case {
                Case::PwritePerRecord => {
                    if pos + size as u64 > SPAN {
                        pos = 0;
                    }
                    file.write_all_at(&record, pos)?;
                    pos += size as u64;
                }
                Case::Batched | Case::CopyOnly => {
                    if buf.len() + size > BLOCK {
                        if let Case::Batched = case {
                            if pos + buf.len() as u64 > SPAN {
                                pos = 0;
                            }
                            file.write_all_at(&buf, pos)?;
                            pos += buf.len() as u64;
                        }
                        black_box(&buf);
                        buf.clear();
                    }
                    buf.extend_from_slice(black_box(&record));
                }
            }
        }
        n += 1024;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
