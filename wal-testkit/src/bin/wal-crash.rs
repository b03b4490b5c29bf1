//! `wal-crash`: the kill -9 crash loop (`loop`) and its child process (`child`).
//!
//! `cargo xtask crash --rounds N` builds it in release mode and runs `wal-crash loop
//! --rounds N`; `wal-crash loop --help` lists the options. The loop shows a progress bar
//! on a terminal, and otherwise a line on stderr every tenth of the rounds.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program reports on stdout and shows progress on stderr"
)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use wal_testkit::crash::{child, run_loop_with_progress, ChildMode, LoopOptions, LoopSummary};

/// Kills a child process that writes to a log with SIGKILL, again and again, and checks
/// after every kill that each entry the child saw acknowledged as durable is in the log,
/// intact, and that consumer cursors kept their contract.
#[derive(Debug, Parser)]
#[command(name = "wal-crash")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the crash loop and prints a summary; exits 1 on any violation.
    Loop(LoopArgs),
    /// The loop's child: appends to the log in DIR until killed.
    #[command(hide = true)]
    Child {
        /// The log directory.
        dir: PathBuf,
        /// How to write (each, pipelined, batches, consume-strict, consume-at-least-once).
        mode: String,
    },
}

#[derive(Debug, Args)]
struct LoopArgs {
    /// Kills (rounds); the child's way of writing rotates through five modes, one per
    /// round.
    #[arg(long, default_value_t = 30)]
    rounds: u32,
    /// Seed of the delays before each kill (decimal or 0x-hex).
    #[arg(long, default_value = "0x5EED", value_parser = parse_seed)]
    seed: u64,
    /// The log directory, kept across rounds (a temporary directory if absent). The log
    /// only grows, and every round checks all of it: use a fresh one for long runs.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Longest wait before a kill, in milliseconds (each round waits 2 ms plus a random
    /// part of this).
    #[arg(long, default_value_t = 150)]
    max_delay_ms: u64,
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("{s:?} is not a seed: {e}"))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Child { dir, mode } => {
            let mode = match mode.parse::<ChildMode>() {
                Ok(m) => m,
                Err(e) => return fail(&e),
            };
            match child(&dir, mode) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::Loop(args) => run(&args),
    }
}

fn run(args: &LoopArgs) -> ExitCode {
    let temp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => return fail(&format!("temporary directory: {e}")),
    };
    let opts = LoopOptions {
        child_exe: match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return fail(&e.to_string()),
        },
        dir: args.dir.clone().unwrap_or_else(|| temp.path().join("log")),
        rounds: args.rounds,
        seed: args.seed,
        max_delay: Duration::from_millis(args.max_delay_ms),
    };
    let mut progress = Progress::new(args.rounds);
    let result = run_loop_with_progress(&opts, &mut |s| progress.round(s));
    progress.finish();
    match result {
        Ok(s) => {
            println!(
                "crash loop: {} rounds, {} acknowledgements, {} deliveries, {} entries in the log, {} unacknowledged survivors, {} violations",
                s.rounds, s.acks, s.reads, s.entries, s.unacknowledged_survivors, s.violations.len()
            );
            for v in &s.violations {
                println!("VIOLATION: {v}");
            }
            if s.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Shows that the loop is alive: a bar on a terminal, else a line on stderr every
/// [`line_every`] rounds (CI logs keep every line of a bar's redraws, or none of them).
struct Progress {
    bar: Option<ProgressBar>,
    every: u32,
    total: u32,
}

impl Progress {
    fn new(total: u32) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(u64::from(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {pos}/{len} rounds, {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            every: line_every(total),
            total,
        }
    }

    fn round(&mut self, s: &LoopSummary) {
        let msg = format!(
            "{} acknowledgements, {} violations",
            s.acks,
            s.violations.len()
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(u64::from(s.rounds));
                bar.set_message(msg);
            }
            None if s.rounds.is_multiple_of(self.every) || s.rounds == self.total => {
                eprintln!("wal-crash: {}/{} rounds, {msg}", s.rounds, self.total);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Rounds between two progress lines without a terminal: about ten lines in all.
fn line_every(total: u32) -> u32 {
    total.div_ceil(10).max(1)
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("wal-crash: {msg}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    #[test]
    fn loop_options_parse() {
        let cli = Cli::try_parse_from([
            "wal-crash",
            "loop",
            "--rounds",
            "7",
            "--seed",
            "0x10",
            "--dir",
            "/tmp/x",
        ])
        .unwrap();
        let Command::Loop(args) = cli.command else {
            panic!("not the loop: {cli:?}");
        };
        assert_eq!((args.rounds, args.seed, args.max_delay_ms), (7, 16, 150));
        assert_eq!(args.dir, Some(PathBuf::from("/tmp/x")));
        let defaults = Cli::try_parse_from(["wal-crash", "loop"]).unwrap();
        let Command::Loop(d) = defaults.command else {
            panic!("not the loop");
        };
        assert_eq!((d.rounds, d.seed, d.dir), (30, 0x5EED, None));
    }

    #[test]
    fn help_is_help_and_bad_arguments_are_errors() {
        for args in [
            &["wal-crash", "--help"][..],
            &["wal-crash", "loop", "--help"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{args:?}");
        }
        let e = Cli::try_parse_from(["wal-crash", "loop", "--rounds", "many"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        let e = Cli::try_parse_from(["wal-crash", "loop", "--seed", "0xZZ"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        let e = Cli::try_parse_from(["wal-crash", "loop", "--bogus"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    }

    #[test]
    fn about_ten_progress_lines() {
        assert_eq!(line_every(0), 1);
        assert_eq!(line_every(5), 1);
        assert_eq!(line_every(30), 3);
        assert_eq!(line_every(1001), 101);
    }
}
