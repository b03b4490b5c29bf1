//! Measures how many 64-byte records per second can be made durable in one file, by
//! three ways of committing, for `docs/measurements.md`.
//!
//! ```sh
//! cargo run --release -p wal-bench --example commit_modes [DIR] [SECONDS_PER_CASE]
//! ```
//!
//! `DIR` (default `target/measure`) must be on the file system to measure; the default
//! `SECONDS_PER_CASE` is 0.3. The file is 64 MiB, written and synced before each case (no
//! allocation or extent conversion in the timed part); writes wrap around inside it.
//!
//! - `blocking, T threads`: blocking group commit. Each of T threads appends a record to a
//!   shared buffer and waits until it is durable. The first waiter with no flush running
//!   becomes the leader: it takes the whole buffer, `pwrite`s it and `fdatasync`s, then
//!   wakes everyone; those that arrived meanwhile are covered by the next flush. With one
//!   thread this is `pwrite` + `fdatasync` per record: the baseline of the ratios.
//! - `pipelined, C in flight`: one writer copies records into its own buffer and never
//!   waits for durability. Each time the buffer holds 64 KiB (C/2 if smaller) it hands it
//!   to the flusher's queue and takes an empty one; it waits only when that would put more
//!   than C bytes in flight (queued or being flushed). One flusher thread takes every
//!   queued buffer, `pwrite`s them and `fdatasync`s once, again and again, so a flush
//!   covers what was handed over during the previous one. The latency shown is, per flush,
//!   the wait of the oldest record it made durable (an upper bound for every record of
//!   that flush). `B/flush` is the median of the bytes written per sync.
//!
//! Every run measures each case once, in a rotating order; rates are medians over the
//! runs, ratios the median of the per-run ratios to `blocking, 1 thread`.
#![allow(
    clippy::print_stdout,
    reason = "a measurement program reports its numbers on stdout"
)]

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

const SPAN: u64 = 64 << 20;
const RECORD: usize = 64;
const RUNS: usize = 7;

#[derive(Debug, Clone, Copy)]
enum Case {
    Blocking { threads: usize },
    Pipelined { in_flight: usize },
}

const CASES: [Case; 7] = [
    Case::Blocking { threads: 1 },
    Case::Blocking { threads: 8 },
    Case::Blocking { threads: 16 },
    Case::Blocking { threads: 64 },
    Case::Pipelined {
        in_flight: 128 << 10,
    },
    Case::Pipelined { in_flight: 1 << 20 },
    Case::Pipelined { in_flight: 4 << 20 },
];

/// What one case measured.
struct Outcome {
    records_per_s: f64,
    /// Median latency: per append (blocking) or of a flush's oldest record (pipelined).
    p50: Duration,
    /// Median bytes written per flush.
    flush_bytes: u64,
}

fn main() -> io::Result<()> {
    let (dir, duration) = wal_bench::measurement_args(0.3)?;
    let path = dir.join("commit-modes.dat");

    let mut outcomes: Vec<Vec<Outcome>> = CASES.iter().map(|_| Vec::new()).collect();
    for run in 0..RUNS {
        for i in 0..CASES.len() {
            let c = (run + i) % CASES.len();
            let file = prepared_file(&path)?;
            let outcome = match CASES[c] {
                Case::Blocking { threads } => blocking(&file, threads, duration)?,
                Case::Pipelined { in_flight } => pipelined(&file, in_flight, duration)?,
            };
            outcomes[c].push(outcome);
        }
    }
    fs::remove_file(&path)?;

    println!(
        "commit_modes in {}: {RECORD}-byte records, {RUNS} runs, {} s per case",
        dir.display(),
        duration.as_secs_f64()
    );
    println!(
        "{:<28} | {:>12} {:>10} {:>11} | {:>10}",
        "case", "durable/s", "p50", "B/flush", "÷ 1 thread"
    );
    for (case, runs) in CASES.iter().zip(&outcomes) {
        let ratios = runs
            .iter()
            .zip(&outcomes[0])
            .map(|(x, base)| x.records_per_s / base.records_per_s)
            .collect();
        let label = match case {
            Case::Blocking { threads } => format!("blocking, {threads} threads"),
            Case::Pipelined { in_flight } => {
                format!("pipelined, {} KiB in flight", in_flight >> 10)
            }
        };
        println!(
            "{label:<28} | {:>12.0} {:>10} {:>11.0} | {:>9.1}x",
            median(runs.iter().map(|o| o.records_per_s).collect()),
            fmt(Duration::from_secs_f64(median(
                runs.iter().map(|o| o.p50.as_secs_f64()).collect()
            ))),
            median(runs.iter().map(|o| o.flush_bytes as f64).collect()),
            median(ratios),
        );
    }
    Ok(())
}

/// A 64 MiB file whose blocks are written and durable.
fn prepared_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    let fill = vec![0x5Au8; 1 << 20];
    for i in 0..SPAN / fill.len() as u64 {
        file.write_all_at(&fill, i * fill.len() as u64)?;
    }
    file.sync_all()?;
    Ok(file)
}

/// The blocking mode's shared buffer and how far it is durable.
#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// Records appended, ever.
    appended: u64,
    /// Records durable, ever.
    durable: u64,
    /// A leader is writing and syncing.
    flushing: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn new() -> Self {
        Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

/// Where the next flush goes: right after the last, or back at the start of the file.
fn next_offset(pos: &mut u64, len: usize) -> u64 {
    if *pos + len as u64 > SPAN {
        *pos = 0;
    }
    let at = *pos;
    *pos += len as u64;
    at
}

fn blocking(file: &File, threads: usize, duration: Duration) -> io::Result<Outcome> {
    let shared = Shared::new();
    let pos = Mutex::new(0u64);
    let flush_sizes = Mutex::new(Vec::new());
    let start = Instant::now();
    let deadline = start + duration;
    let per_thread: Vec<io::Result<Vec<Duration>>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> io::Result<Vec<Duration>> {
                    let record = [0xA5u8; RECORD];
                    let mut latencies = Vec::new();
                    let mut spare = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let mut st = shared.lock();
                        st.buf.extend_from_slice(&record);
                        st.appended += 1;
                        let mine = st.appended;
                        while st.durable < mine {
                            if st.flushing {
                                st = shared.wait(st);
                                continue;
                            }
                            // Leader: write and sync everything appended so far.
                            st.flushing = true;
                            std::mem::swap(&mut st.buf, &mut spare);
                            let upto = st.appended;
                            drop(st);
                            let at = next_offset(
                                &mut pos.lock().unwrap_or_else(|e| e.into_inner()),
                                spare.len(),
                            );
                            let result = file
                                .write_all_at(&spare, at)
                                .and_then(|()| file.sync_data());
                            flush_sizes
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(spare.len() as u64);
                            spare.clear();
                            st = shared.lock();
                            st.flushing = false;
                            st.durable = upto;
                            shared.changed.notify_all();
                            result?;
                        }
                        drop(st);
                        latencies.push(t.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut latencies = Vec::new();
    for l in per_thread {
        latencies.extend(l?);
    }
    latencies.sort_unstable();
    let durable = shared.lock().durable;
    let sizes = flush_sizes.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Outcome {
        records_per_s: durable as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        flush_bytes: median_u64(sizes),
    })
}

/// A full buffer handed from the writer to the flusher.
struct Sealed {
    bytes: Vec<u8>,
    records: u64,
    /// When its first record was appended.
    oldest: Instant,
}

/// The pipelined mode's hand-off between the writer and the flusher.
#[derive(Default)]
struct Pipe {
    /// Buffers waiting for the flusher, oldest first.
    queued: Vec<Sealed>,
    /// Bytes queued or being flushed: appended but not yet durable.
    unsynced: usize,
    /// Emptied buffers, for the writer to reuse.
    free: Vec<Vec<u8>>,
    /// Records durable, ever.
    durable: u64,
    /// The writer has stopped.
    done: bool,
    /// An I/O error of the flusher, which ends the case.
    failed: Option<io::ErrorKind>,
}

/// Per flush: bytes written, and how long its oldest record waited to be durable.
type Flushes = Vec<(u64, Duration)>;

fn pipelined(file: &File, in_flight: usize, duration: Duration) -> io::Result<Outcome> {
    // The writer hands a buffer over once it holds 64 KiB (less when the limit is small);
    // it waits only when handing over would put more than `in_flight` bytes in flight.
    let hand_over = (64 << 10).min(in_flight / 2);
    let pipe = Mutex::new(Pipe::default());
    let changed = Condvar::new();
    let lock = || pipe.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let (flushes, end) = thread::scope(|s| -> io::Result<(Flushes, Instant)> {
        let flusher = s.spawn(|| -> io::Result<(Flushes, Instant)> {
            let mut flushes = Vec::new();
            let mut pos = 0u64;
            loop {
                let mut p = lock();
                while p.queued.is_empty() && !p.done {
                    p = changed.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if p.queued.is_empty() {
                    return Ok((flushes, Instant::now()));
                }
                let batch = std::mem::take(&mut p.queued);
                drop(p);
                let bytes: usize = batch.iter().map(|b| b.bytes.len()).sum();
                let records: u64 = batch.iter().map(|b| b.records).sum();
                let mut at = next_offset(&mut pos, bytes);
                let mut result = Ok(());
                for sealed in &batch {
                    result = result.and_then(|()| file.write_all_at(&sealed.bytes, at));
                    at += sealed.bytes.len() as u64;
                }
                let result = result.and_then(|()| file.sync_data());
                let waited = batch[0].oldest.elapsed();
                let mut p = lock();
                if let Err(e) = &result {
                    p.failed = Some(e.kind());
                }
                p.durable += records;
                p.unsynced -= bytes;
                p.free.extend(batch.into_iter().map(|mut b| {
                    b.bytes.clear();
                    b.bytes
                }));
                changed.notify_all();
                drop(p);
                result?;
                flushes.push((bytes as u64, waited));
            }
        });
        let record = [0xA5u8; RECORD];
        let deadline = start + duration;
        let mut buf = Vec::with_capacity(hand_over);
        let mut records = 0u64;
        let mut oldest = start;
        let mut failed = None;
        let mut stop = false;
        while !stop {
            // Check the clock once per 1024 records: a clock read costs more than a copy.
            for _ in 0..1024 {
                if buf.is_empty() {
                    oldest = Instant::now();
                }
                buf.extend_from_slice(&record);
                records += 1;
                if buf.len() < hand_over {
                    continue;
                }
                let mut p = lock();
                while p.unsynced + buf.len() > in_flight && p.failed.is_none() {
                    p = changed.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if let Some(kind) = p.failed {
                    failed = Some(kind);
                    stop = true;
                    break;
                }
                p.unsynced += buf.len();
                let next = p
                    .free
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(hand_over));
                p.queued.push(Sealed {
                    bytes: std::mem::replace(&mut buf, next),
                    records,
                    oldest,
                });
                records = 0;
                changed.notify_all();
            }
            stop |= Instant::now() >= deadline;
        }
        let mut p = lock();
        if !buf.is_empty() && failed.is_none() {
            p.unsynced += buf.len();
            p.queued.push(Sealed {
                bytes: buf,
                records,
                oldest,
            });
        }
        p.done = true;
        changed.notify_all();
        drop(p);
        let flushed = flusher
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("flusher panicked")));
        match failed {
            Some(kind) => Err(io::Error::new(kind, "flush failed")),
            None => flushed,
        }
    })?;
    let durable = lock().durable;
    let mut waits: Vec<Duration> = flushes.iter().map(|&(_, w)| w).collect();
    waits.sort_unstable();
    Ok(Outcome {
        records_per_s: durable as f64 / (end - start).as_secs_f64(),
        p50: waits.get(waits.len() / 2).copied().unwrap_or_default(),
        flush_bytes: median_u64(flushes.iter().map(|&(b, _)| b).collect()),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_u64(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}
