//! Measures what reads cost through each of the backend's read paths: copies out of the
//! mapping (a storage whose backend has written the file) and `pread` (a storage whose
//! backend has not, such as the one a tool gives to `inspect`), and what that means for the
//! engine reading a log it did not write (after a reopen).
//!
//! ```sh
//! cargo run --release -p topicwal-backend-mmap --example read_paths [DIR]
//! ```
//!
//! `DIR` defaults to `target/mmap-read-paths` under the current directory. Everything is read
//! from a warm page cache: this measures the copy and call overhead, not the device.
//!
//! - `storage`: a 64 MiB file written whole through one backend, then read whole,
//!   sequentially, with `read_at` calls of 256 B, 4 KiB, 64 KiB and 1 MiB, through a storage
//!   of the *writing* backend and through a storage of *another* backend (first pass over a
//!   fresh storage, as a tool makes it, and steady state).
//! - `engine`: 200,000 entries of 256 B appended and closed, the log reopened with a fresh
//!   backend; the time to open (recovery) and to read every entry back one per
//!   `read_from` call and in 1 MiB batches.
//!
//! Each figure is the median of 5 runs.
#![allow(
    clippy::print_stdout,
    reason = "a measurement program reports its numbers on stdout"
)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_backend_mmap::MmapBackend;
use wal_core::{Backend, FsyncSchedule, Storage};

const FILE: u64 = 64 << 20;
const SIZES: [usize; 4] = [256, 4096, 64 << 10, 1 << 20];
const RUNS: usize = 5;
const ENTRIES: u64 = 200_000;
const ENTRY: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/mmap-read-paths"), PathBuf::from);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    storage_reads(&dir)?;
    engine_reads(&dir.join("log"))?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Reads the whole of `storage` with calls of `size` bytes; returns the time taken.
fn read_whole(storage: &dyn Storage, size: usize) -> io::Result<Duration> {
    let mut buf = vec![0u8; size];
    let mut sum = 0u64;
    let start = Instant::now();
    let mut offset = 0;
    while offset < FILE {
        let n = storage.read_at(offset, &mut buf)?;
        sum = sum.wrapping_add(u64::from(buf[n - 1]));
        offset += n as u64;
    }
    let took = start.elapsed();
    std::hint::black_box(sum);
    Ok(took)
}

fn report(what: &str, size: usize, took: Duration) {
    let calls = FILE / size as u64;
    let gib_s = FILE as f64 / took.as_secs_f64() / f64::from(1 << 30);
    let ns_per_call = took.as_nanos() as f64 / calls as f64;
    println!("{what:<34} {size:>8} B  {gib_s:>6.2} GiB/s  {ns_per_call:>9.0} ns/call");
}

fn storage_reads(dir: &Path) -> io::Result<()> {
    let path = dir.join("file");
    let writer = MmapBackend::new();
    let written = writer.create(&path, FILE)?;
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    for offset in (0..FILE).step_by(chunk.len()) {
        written.write_at(offset, &chunk)?;
    }
    println!("storage: a {} MiB file, warm page cache", FILE >> 20);
    for size in SIZES {
        let own = (0..RUNS)
            .map(|_| read_whole(&*written, size))
            .collect::<io::Result<Vec<_>>>()?;
        report("writing backend", size, median(own));
        let mut first = Vec::new();
        let mut steady = Vec::new();
        for _ in 0..RUNS {
            let other = MmapBackend::new().open(&path)?;
            first.push(read_whole(&*other, size)?);
            steady.push(read_whole(&*other, size)?);
        }
        report("other backend, fresh storage", size, median(first));
        report("other backend, steady state", size, median(steady));
    }
    Ok(())
}

fn engine_reads(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let open = |backend: MmapBackend| {
        wal_core::WalBuilder::new()
            .dir(dir)
            .backend(Arc::new(backend))
            .fsync(FsyncSchedule::NoFsync)
            .open()
    };
    let wal = open(MmapBackend::new())?;
    let entry = vec![7u8; ENTRY];
    for _ in 0..ENTRIES {
        wal.append_for_topic("t", &entry)?;
    }
    wal.close()?;
    println!("engine: {ENTRIES} entries of {ENTRY} B, reopened with a fresh backend");
    let (mut opens, mut singles, mut batches) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        let wal = open(MmapBackend::new())?;
        opens.push(start.elapsed());
        let start = Instant::now();
        for offset in 0..ENTRIES {
            let got = wal.read_from("t", offset, 1)?;
            assert_eq!(got.len(), 1);
        }
        singles.push(start.elapsed());
        let start = Instant::now();
        let mut offset = 0;
        while offset < ENTRIES {
            offset += wal.read_from("t", offset, 1 << 20)?.len() as u64;
        }
        batches.push(start.elapsed());
        wal.close()?;
    }
    let per_entry = |d: Duration| d.as_nanos() as f64 / ENTRIES as f64;
    println!(
        "open (recovery)                    {:>9.1} ms",
        median(opens).as_secs_f64() * 1e3
    );
    println!(
        "read_from, one entry per call      {:>9.0} ns/entry",
        per_entry(median(singles))
    );
    println!(
        "read_from, 1 MiB batches           {:>9.0} ns/entry",
        per_entry(median(batches))
    );
    Ok(())
}
