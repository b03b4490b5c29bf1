//! Measures what one io_uring submission of k fsyncs saves over k sequential `fdatasync`s.
//!
//! For k = 1, 8 and 64 files (each preallocated by writing 1 MiB and syncing it), every
//! round dirties each file with a 4 KiB write and then makes all k durable, either
//! (a) one after another with `sync_data` ([`wal_core::Storage::sync`] of a std storage),
//! or (b) through [`wal_backend_uring::UringFlusher`] in one submission. Only the syncs are
//! timed. The two methods alternate which goes first, round by round, so that noise of the
//! host hits both. Prints the median and 90th percentile of one round, and the ratio of the
//! medians.
//!
//! Run it in release mode: `cargo run --release -p topicwal-backend-uring --example fsync_batch`.
//! Pass a number to scale the rounds (`... --example fsync_batch -- 0.1` for a smoke run).

#![allow(
    clippy::print_stdout,
    reason = "an example reports its measurements on stdout"
)]

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_backend_uring::UringBackend;
use wal_core::{Backend, FlushRequest, Flusher, Storage};

const FILE_LEN: u64 = 1 << 20;
const WRITE_LEN: usize = 4096;
const WARMUP_ROUNDS: usize = 5;

fn main() -> io::Result<()> {
    let scale: f64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("scale {arg:?}: {e}"))
        })?,
        None => 1.0,
    };
    let backend = match UringBackend::probe() {
        Ok(backend) => backend,
        Err(unavailable) => {
            eprintln!("{unavailable}; nothing to measure");
            return Ok(());
        }
    };
    let flusher = backend.flusher();
    println!("k fsyncs of k dirty files: sequential sync_data vs one io_uring submission");
    println!(
        "{:>4} {:>7} | {:>12} {:>12} | {:>12} {:>12} | {:>8}",
        "k", "rounds", "seq p50", "seq p90", "uring p50", "uring p90", "seq/uring"
    );
    for (k, rounds) in [(1usize, 400usize), (8, 150), (64, 40)] {
        let rounds = ((rounds as f64 * scale).ceil() as usize).max(1);
        let result = measure(&backend, &*flusher, k, rounds)?;
        println!(
            "{k:>4} {rounds:>7} | {:>12} {:>12} | {:>12} {:>12} | {:>7.2}x",
            fmt(result.seq.p50),
            fmt(result.seq.p90),
            fmt(result.uring.p50),
            fmt(result.uring.p90),
            result.seq.p50.as_secs_f64() / result.uring.p50.as_secs_f64(),
        );
    }
    let stats = backend.stats();
    println!(
        "io_uring: {} submissions, {} fsyncs, {} fallback syncs",
        stats.submissions, stats.fsyncs, stats.fallback_syncs
    );
    Ok(())
}

struct Percentiles {
    p50: Duration,
    p90: Duration,
}

struct Measurement {
    seq: Percentiles,
    uring: Percentiles,
}

fn measure(
    backend: &UringBackend,
    flusher: &dyn Flusher,
    k: usize,
    rounds: usize,
) -> io::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let fill = vec![0xA5u8; FILE_LEN as usize];
    let mut storages: Vec<Arc<dyn Storage>> = Vec::with_capacity(k);
    for i in 0..k {
        let storage = backend.create(&dir.path().join(format!("{i:03}.seg")), FILE_LEN)?;
        // Preallocate by writing, so that the timed syncs do not convert extents.
        storage.write_at(0, &fill)?;
        storage.sync()?;
        storages.push(storage);
    }
    backend.sync_dir(dir.path())?;

    let slots = FILE_LEN / WRITE_LEN as u64;
    let mut seq = Vec::with_capacity(rounds);
    let mut uring = Vec::with_capacity(rounds);
    for round in 0..WARMUP_ROUNDS + rounds {
        let mut times = [Duration::ZERO; 2];
        // Even rounds: sequential first; odd rounds: io_uring first.
        for step in 0..2 {
            let method = (round + step) % 2;
            let offset = ((round * 2 + step) as u64 % slots) * WRITE_LEN as u64;
            let data = vec![(round + step) as u8 | 1; WRITE_LEN];
            for storage in &storages {
                storage.write_at(offset, &data)?;
            }
            times[method] = if method == 0 {
                sync_sequentially(&storages)?
            } else {
                let dirty = offset..offset + WRITE_LEN as u64;
                sync_through_ring(flusher, &storages, dirty)?
            };
        }
        if round >= WARMUP_ROUNDS {
            seq.push(times[0]);
            uring.push(times[1]);
        }
    }
    Ok(Measurement {
        seq: percentiles(seq),
        uring: percentiles(uring),
    })
}

fn sync_sequentially(storages: &[Arc<dyn Storage>]) -> io::Result<Duration> {
    let start = Instant::now();
    for storage in storages {
        storage.sync()?;
    }
    Ok(start.elapsed())
}

fn sync_through_ring(
    flusher: &dyn Flusher,
    storages: &[Arc<dyn Storage>],
    dirty: std::ops::Range<u64>,
) -> io::Result<Duration> {
    let requests: Vec<FlushRequest> = storages
        .iter()
        .map(|storage| FlushRequest {
            storage: Arc::clone(storage),
            dirty: dirty.clone(),
        })
        .collect();
    let start = Instant::now();
    let results = flusher.flush(&requests);
    let elapsed = start.elapsed();
    results.into_iter().collect::<io::Result<Vec<()>>>()?;
    Ok(elapsed)
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Percentiles {
        p50: at(0.5),
        p90: at(0.9),
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}
