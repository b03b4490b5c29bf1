//! A producer and a consumer on two threads: the consumer reads every entry the producer
//! appends, in order, and the example measures what each way of consuming costs.
//!
//! ```text
//! cargo run --release -p topicwal --example producer_consumer -- [ENTRIES]
//! ```
//!
//! It runs four consumers in turn, each on a fresh log in a temporary directory, with
//! ENTRIES (default 20,000) entries of 100 bytes appended one at a time under the default
//! `FsyncSchedule::Milliseconds(200)`, and prints entries consumed per second and the
//! syncs the log made.
//!
//! Why they differ: under the default `ReadConsistency::StrictlyAtOnce`, a checkpointed
//! read makes the consumer's new position durable before it returns, so that no entry is
//! ever delivered twice: one sync per call. Reading one entry per call therefore costs a
//! sync per entry, and the consumer falls far behind a producer that does not sync per
//! entry. The fast path:
//!
//! - `batch_read_blocking` returns everything available (up to a byte budget) in one call,
//!   so `StrictlyAtOnce` costs one sync per batch, and a consumer that falls behind catches
//!   up in larger batches;
//! - `ReadConsistency::AtLeastOnce { persist_every }` writes the position every
//!   `persist_every` entries and never syncs on the read path; after a crash at most
//!   `persist_every` entries are delivered again.
//!
//! `wal/tests/producer_consumer.rs` runs [`run`] in every mode with a few hundred entries
//! and checks that each consumes everything produced.

#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

use std::path::Path;
use std::time::{Duration, Instant};

use wal::{Consumer, ReadConsistency, Wal};

/// How the consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// `Consumer::read_next_blocking`: one entry per call.
    OneAtATime,
    /// `Consumer::batch_read_blocking`: everything available, up to 1 MiB, per call.
    Batches,
}

/// One way of consuming: how the consumer reads, and the log's read consistency.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// One entry per call, or batches.
    pub reads: Reads,
    /// How checkpointed reads persist the consumer's position.
    pub consistency: ReadConsistency,
}

/// The four modes the example compares, slowest first.
pub const MODES: [Mode; 4] = [
    Mode {
        reads: Reads::OneAtATime,
        consistency: ReadConsistency::StrictlyAtOnce,
    },
    Mode {
        reads: Reads::Batches,
        consistency: ReadConsistency::StrictlyAtOnce,
    },
    Mode {
        reads: Reads::OneAtATime,
        consistency: ReadConsistency::AtLeastOnce {
            persist_every: 1000,
        },
    },
    Mode {
        reads: Reads::Batches,
        consistency: ReadConsistency::AtLeastOnce {
            persist_every: 1000,
        },
    },
];

/// What one run did.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Entries the producer appended.
    pub produced: u64,
    /// Entries the consumer got, each checked to be the next one in order.
    pub consumed: u64,
    /// From the start of both threads until the consumer had everything.
    pub elapsed: Duration,
    /// Syncs (flush cycles) the log made meanwhile.
    pub syncs: u64,
}

const TOPIC: &str = "orders";
const ENTRY_BYTES: usize = 100;
/// The consumer gives up after this long without a new entry (the producer failed).
const PATIENCE: Duration = Duration::from_secs(10);

/// Opens a log in `dir` with `mode`'s consistency, appends `entries` entries from one
/// thread while a named consumer reads them on another, and reports what happened.
pub fn run(dir: &Path, mode: Mode, entries: u64) -> wal::Result<Run> {
    let wal = Wal::builder()
        .dir(dir)
        .consistency(mode.consistency)
        .open()?;
    let consumer = wal.consumer(TOPIC, "worker")?;
    let started = Instant::now();
    let consumed = std::thread::scope(|s| {
        let producer = s.spawn(|| produce(&wal, entries));
        let consumed = consume(&consumer, mode.reads, entries);
        let produced = producer.join().expect("the producer panicked");
        produced.and(consumed)
    })?;
    let elapsed = started.elapsed();
    let syncs = wal.stats().flushes;
    wal.close()?;
    Ok(Run {
        produced: entries,
        consumed,
        elapsed,
        syncs,
    })
}

/// Appends `entries` entries, one call each; entry `i` starts with `i`.
fn produce(wal: &Wal, entries: u64) -> wal::Result<()> {
    for i in 0..entries {
        let mut data = [0u8; ENTRY_BYTES];
        data[..8].copy_from_slice(&i.to_le_bytes());
        wal.append_for_topic(TOPIC, &data)?;
    }
    Ok(())
}

/// Consumes until `entries` entries arrived (or none came for [`PATIENCE`]), checking that
/// each is the next one: nothing lost, nothing twice. Returns how many arrived.
fn consume(consumer: &Consumer, reads: Reads, entries: u64) -> wal::Result<u64> {
    let mut next = 0;
    while next < entries {
        let got = match reads {
            Reads::OneAtATime => consumer
                .read_next_blocking(true, PATIENCE)?
                .into_iter()
                .collect(),
            Reads::Batches => consumer.batch_read_blocking(1 << 20, true, PATIENCE)?,
        };
        if got.is_empty() {
            break;
        }
        for entry in got {
            assert_eq!(entry.offset, next, "entries arrive in order, once each");
            assert_eq!(entry.data[..8], next.to_le_bytes());
            next += 1;
        }
    }
    Ok(next)
}

#[allow(dead_code, reason = "the test target includes this file as a module")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let entries = match std::env::args().nth(1) {
        Some(n) => n.replace('_', "").parse()?,
        None => 20_000,
    };
    println!("{entries} entries of {ENTRY_BYTES} B, FsyncSchedule::Milliseconds(200)");
    let mut all_consumed = true;
    for mode in MODES {
        let dir = tempfile::tempdir()?;
        let run = run(dir.path(), mode, entries)?;
        let rate = run.consumed as f64 / run.elapsed.as_secs_f64();
        println!(
            "{:<12} {:<40} consumed {:>7} of {:>7} in {:>8.3} s: {:>10.0} entries/s, {:>6} syncs",
            format!("{:?}", mode.reads),
            format!("{:?}", mode.consistency),
            run.consumed,
            run.produced,
            run.elapsed.as_secs_f64(),
            rate,
            run.syncs,
        );
        all_consumed &= run.consumed == run.produced;
    }
    if !all_consumed {
        return Err("a consumer did not get every entry".into());
    }
    Ok(())
}
