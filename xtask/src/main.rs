//! Project chores, run as `cargo xtask <task>` (aliased in `.cargo/config.toml`);
//! `cargo xtask --help` lists them.
//!
//! - `bench [ARGS]`: builds `wal-bench` in release mode and runs it: every workload for our
//!   backends and the peers, against the disk's own limit (`--smoke` for a check of a few
//!   seconds, `--full` for longer runs, `--dir PATH` for where the logs go; `bench --help`
//!   lists the rest).
//! - `crash [--rounds N] [--seed S] [--dir PATH]`: the kill -9 crash loop; prints a
//!   summary and fails on any lost acknowledged entry.
//! - `torture --power-losses N --kill-rounds M [--seed S] [--dir PATH]`: the simulated
//!   power-loss campaign over the whole API (every crash mode, every backend), then the
//!   kill -9 loop, in release mode; prints a summary and fails on any violation.
//! - `ci`: the checks CI runs (`.ci/run` calls the same commands).

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

/// Project chores for the wal workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Runs the benchmarks in release mode (`cargo xtask bench --help` for wal-bench's own
    /// options: --smoke, --full, --dir, --filter, --backend, ...).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed to wal-bench as they are.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Kills a writing child with SIGKILL N times and checks every acknowledged entry.
    #[command(disable_help_flag = true)]
    Crash {
        /// Passed to `wal-crash loop` as they are: [--rounds N] [--seed S] [--dir PATH].
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Simulated power losses over the whole API (every crash mode, every backend), then
    /// real kill -9 rounds, in release mode. Fails on any violation.
    Torture {
        /// Simulated power losses.
        #[arg(long, default_value_t = 1000)]
        power_losses: u64,
        /// Rounds of the kill -9 loop.
        #[arg(long, default_value_t = 30)]
        kill_rounds: u32,
        /// The campaign's seed (decimal or 0x-hex); a fresh one is drawn if absent.
        #[arg(long)]
        seed: Option<String>,
        /// Where the logs go (logs of failed runs are kept there).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// More options of `wal-torture` (--backend, --losses-per-run,
        /// --waive-known-defects; `cargo xtask torture -- --help` lists them).
        #[arg(last = true)]
        more: Vec<String>,
    },
    /// fmt, clippy and tests, as CI runs them.
    Ci,
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench { args } => {
            // Build first with cargo's progress shown (a first release build takes
            // minutes), then run without cargo's chatter.
            let built = cargo(&["build", "--release", "-p", "wal-bench"]);
            if built != ExitCode::SUCCESS {
                return built;
            }
            cargo(
                &[
                    &["run", "--release", "--quiet", "-p", "wal-bench", "--"],
                    &strs(&args)[..],
                ]
                .concat(),
            )
        }
        Task::Crash { args } => cargo(
            &[
                &[
                    "run",
                    "--release",
                    "--quiet",
                    "-p",
                    "wal-testkit",
                    "--bin",
                    "wal-crash",
                    "--",
                    "loop",
                ],
                &strs(&args)[..],
            ]
            .concat(),
        ),
        Task::Torture {
            power_losses,
            kill_rounds,
            seed,
            dir,
            more,
        } => {
            let mut args = vec![
                "--power-losses".to_owned(),
                power_losses.to_string(),
                "--kill-rounds".to_owned(),
                kill_rounds.to_string(),
            ];
            if let Some(seed) = seed {
                args.extend(["--seed".to_owned(), seed]);
            }
            if let Some(dir) = dir {
                args.extend(["--dir".to_owned(), dir.display().to_string()]);
            }
            args.extend(more);
            // Every backend the platform has, so the campaign covers each.
            let features = if cfg!(target_os = "linux") {
                "torture,mmap,uring"
            } else {
                "torture,mmap"
            };
            cargo(
                &[
                    &[
                        "run",
                        "--release",
                        "--quiet",
                        "-p",
                        "wal-testkit",
                        "--features",
                        features,
                        "--bin",
                        "wal-torture",
                        "--",
                    ],
                    &strs(&args)[..],
                ]
                .concat(),
            )
        }
        Task::Ci => ci(),
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn ci() -> ExitCode {
    let steps: [&[&str]; 3] = [
        &["fmt", "--all", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &["test", "--workspace"],
    ];
    for step in steps {
        let code = cargo(step);
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    ExitCode::SUCCESS
}

fn cargo(args: &[&str]) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("$ cargo {}", args.join(" "));
    match Command::new(cargo).args(args).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(1, 255) as u8)),
        Err(e) => {
            eprintln!("xtask: could not run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}
