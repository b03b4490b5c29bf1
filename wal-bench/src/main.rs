//! `wal-bench`: runs the benchmark workloads for our backends and the peers, prints the
//! table and writes the report. Usually started by `cargo xtask bench`.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use wal_bench::run::Progress;
use wal_bench::{Profile, Settings, System};

/// Benchmarks of the wal write-ahead log, side by side with walrus-rust, okaywal,
/// raft-engine and raft-log, against the raw limits of this machine's disk.
#[derive(Debug, Parser)]
#[command(name = "wal-bench", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs one job and prints its result (started by the orchestrator).
    #[command(hide = true)]
    Worker {
        /// The job, as JSON.
        #[arg(long)]
        job: String,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Every workload for every system, tiny sizes: well under a minute (CI).
    #[arg(long, conflicts_with = "full")]
    smoke: bool,
    /// Longer runs: 5 s per run, 1 GiB read back.
    #[arg(long)]
    full: bool,
    /// Where the temporary logs go (use the file system you care about).
    #[arg(long, default_value = "target/bench/tmp")]
    dir: PathBuf,
    /// Where the report goes [default: target/bench, or target/bench/smoke with --smoke].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only workloads whose id contains one of these (durable, readme, nofsync,
    /// pipelined, batch, raft, readback, recovery, memory, 16t, 4KiB, ...); comma-separated.
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Systems to run: std, mmap, uring (our backends), walrus, okaywal, raft-engine,
    /// raft-log (the peers); comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_enum)]
    backend: Vec<System>,
    /// Thread counts of the durable-append workload, comma-separated [default: 1,4,16].
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Seconds per timed run [default: 1; 5 with --full].
    #[arg(long)]
    duration: Option<f64>,
    /// Runs of every (system, workload) pair, interleaved across systems; tables show
    /// the median and the min–max [default: 3].
    #[arg(long)]
    repeats: Option<u32>,
    /// Entries of the index-memory workload [default: 50M; 100k with --smoke; 0 skips it].
    #[arg(long)]
    memory_entries: Option<u64>,
    /// Print only the JSON report on stdout (no progress bar, no table); the report
    /// files are written all the same.
    #[arg(long)]
    json_only: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Worker { job }) = cli.command {
        return match wal_bench::worker::worker_main(&job) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wal-bench worker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match orchestrate(&cli.run) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wal-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn settings(a: &RunArgs) -> wal_bench::Result<Settings> {
    let profile = match (a.smoke, a.full) {
        (true, _) => Profile::Smoke,
        (_, true) => Profile::Full,
        _ => Profile::Quick,
    };
    let out = a.out.clone().unwrap_or_else(|| match profile {
        Profile::Smoke => "target/bench/smoke".into(),
        _ => "target/bench".into(),
    });
    let mut s = Settings::new(profile, &a.dir, &out);
    if let Some(d) = a.duration {
        if !(d > 0.0 && d < 3600.0) {
            return Err(wal_bench::Error::Settings(format!(
                "--duration {d}: give seconds between 0 and 3600"
            )));
        }
        s.duration = Duration::from_secs_f64(d);
    }
    if !a.backend.is_empty() {
        s.systems = System::ALTERNATING
            .into_iter()
            .filter(|x| a.backend.contains(x))
            .collect();
    }
    if !a.threads.is_empty() {
        if a.threads.contains(&0) {
            return Err(wal_bench::Error::Settings("--threads: 0 threads".into()));
        }
        s.threads = a.threads.clone();
    }
    if let Some(r) = a.repeats {
        if r == 0 {
            return Err(wal_bench::Error::Settings("--repeats: 0 runs".into()));
        }
        s.repeats = r;
    }
    if let Some(n) = a.memory_entries {
        s.memory_entries = n;
    }
    s.filters = a.filter.clone();
    Ok(s)
}

fn orchestrate(a: &RunArgs) -> wal_bench::Result<ExitCode> {
    let s = settings(a)?;
    let command = std::iter::once("cargo xtask bench".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let exe = wal_bench::run::current_exe()?;
    let bar = if a.json_only {
        ProgressBar::hidden()
    } else {
        println!(
            "wal-bench: {:?} profile, {} runs of {} s per configuration, interleaved; logs \
             under {}",
            s.profile,
            s.repeats,
            s.duration.as_secs_f64(),
            s.dir.display()
        );
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = wal_bench::run::run(&s, &exe, &command, |p| match p {
        Progress::Planned { jobs } => bar.set_length(jobs as u64),
        Progress::Started { label } => bar.set_message(label.to_owned()),
        Progress::Finished { label, error } => {
            bar.inc(1);
            if let Some(e) = error {
                bar.println(format!("FAILED {label}: {e}"));
            }
        }
    })?;
    bar.finish_and_clear();
    let files = wal_bench::output::write_all(&report, &s.out)?;
    if a.json_only {
        println!("{}", report.to_json());
    } else {
        println!("\nLimits of this machine (same file system, same run):");
        println!("{}", report.limits_text());
        println!("{}", report.summary_table());
        println!("Targets:\n\n{}", report.targets_table());
        for f in &report.failures {
            println!("FAILED: {} on {}: {}", f.system, f.row, f.error);
        }
        println!(
            "Report: {} (in {:.0} s)",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            report.total_s
        );
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
