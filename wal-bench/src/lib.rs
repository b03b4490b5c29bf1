//! Benchmarks of the `wal` write-ahead log, side by side with walrus-rust, okaywal,
//! raft-engine and raft-log, against the raw limits of the machine's own disk.
//! `cargo xtask bench` runs them.
//!
//! The `wal-bench` binary is an orchestrator ([`run::run`]): it measures the machine's
//! limits ([`raw::Limits`]: a `pwrite` + `fdatasync` loop on a preallocated file, buffered
//! `pwrite`/`pread` bandwidth), expands the settings into jobs ([`plan::plan`]: every
//! workload for each of our backends and each peer, several runs of each, systems
//! interleaved), and runs every job in its own worker process (the hidden `worker`
//! subcommand, [`worker::run_job`]), so that process-wide state of a peer never leaks
//! between runs and peak memory is per run. Every system sits behind one small trait
//! (`system::Log`: open, a writer per topic, append, wait for durability, sync, read
//! back, close), so that the workload loops ([`workload`]) are written once for all of
//! them. The results become a [`report::Report`], whose tables and targets use the
//! median run of every pair, with min–max: a terminal table, `target/bench/report.md`,
//! `report.json` and SVG charts ([`output::write_all`]).
//!
//! One job can also run in-process, for any system but walrus-rust (which takes its
//! directory from the environment):
//!
//! ```
//! use std::time::Duration;
//! use wal_bench::{Job, System, Workload};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let job = Job::new(
//!     System::Std,
//!     Workload::Durable { threads: 2, shared_topic: false, size: 256 },
//!     dir.path().join("log"),
//!     Duration::from_millis(20),
//! );
//! let results = wal_bench::worker::run_job(&job).unwrap();
//! assert!(results[0].entries > 0);
//! assert!(results[0].latency.is_some());
//! ```

pub mod charts;
pub mod disk;
pub mod drive;
pub mod error;
pub mod hist;
pub mod job;
pub mod machine;
mod okaywal;
mod ours;
pub mod output;
pub mod plan;
mod raft_engine;
mod raft_log;
pub mod raw;
pub mod report;
pub mod run;
pub mod svg;
mod system;
pub mod targets;
mod walrus;
pub mod worker;
pub mod workload;

pub use error::{Error, Result};
pub use job::{Job, Measurement, Schedule, System, Workload};
pub use plan::{Profile, Settings};
pub use report::Report;
pub use walrus::{DATA_DIR_VAR as WALRUS_DATA_DIR_VAR, QUIET_VAR as WALRUS_QUIET_VAR};

/// The command line of the measurement examples (`examples/disk_sync.rs` and friends):
/// `[DIR] [SECONDS]`, where DIR (default `target/measure`, created if missing) holds the
/// scratch files and SECONDS (default `default_seconds`) is the time per measured case.
pub fn measurement_args(
    default_seconds: f64,
) -> std::io::Result<(std::path::PathBuf, std::time::Duration)> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map_or_else(|| std::path::PathBuf::from("target/measure"), Into::into);
    let seconds: f64 = match args.next() {
        Some(s) => s.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("seconds {s:?}: {e}"),
            )
        })?,
        None => default_seconds,
    };
    std::fs::create_dir_all(&dir)?;
    Ok((dir, std::time::Duration::from_secs_f64(seconds)))
}
