//! `wal`: the command-line tool of the `wal` write-ahead log.
//!
//! It looks inside a log directory the way an operator needs at 3 a.m.:
//!
//! - `wal stats DIR`: topics, entries and bytes per topic, segments, cursors and named
//!   consumers with their lag, metadata keys, and what retention could reclaim;
//! - `wal dump DIR`: entries with offset, size, segment and position (text or JSON);
//! - `wal verify DIR`: every checksum and the structure, as recovery would check them;
//! - `wal repair DIR`: cuts a torn tail or sets damage aside, keeping a copy;
//! - `wal tail DIR TOPIC`: follows a topic as it is appended to, reading only new bytes;
//! - `wal append DIR TOPIC [DATA|-]`: appends lines, frames or raw input, for scripts;
//! - `wal consumers DIR`: named consumers with their lag; `reset` and `delete` one;
//! - `wal truncate DIR TOPIC --before N` and `wal reclaim DIR`: administration;
//! - `wal completions SHELL`: a shell completion script.
//!
//! `stats`, `dump`, `verify`, `tail` and the consumer listing read the log without
//! changing it and never take the log's lock. The other commands open the log with the
//! facade, which takes the lock. Exit status: 0 success (a clean log for `verify`), 1 a
//! damaged or torn log that `wal repair` can fix, 2 an unusable log or any other error.

mod cli;
mod cmd;
mod error;
mod follow;
mod logdir;
mod output;
mod size;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, OK, UNUSABLE};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = logdir::progress_wanted(cli.no_progress);
    let result = match cli.command {
        Command::Stats(args) => cmd::stats::run(&args, progress),
        Command::Dump(args) => cmd::dump::run(&args, progress),
        Command::Verify(args) => cmd::verify::run(&args, progress),
        Command::Repair(args) => cmd::repair::run(&args, progress),
        Command::Tail(args) => cmd::tail::run(&args, progress),
        Command::Append(args) => cmd::append::run(&args),
        Command::Consumers(args) => cmd::consumers::run(&args, progress),
        Command::Truncate(args) => cmd::truncate::run(&args),
        Command::Reclaim(args) => cmd::reclaim::run(&args),
        Command::Completions(args) => cmd::completions::run(&args),
    };
    ExitCode::from(match result {
        Ok(code) => code,
        Err(CliError::OutputClosed) => OK,
        Err(CliError::Unusable(message)) => {
            eprintln!("wal: {message}");
            UNUSABLE
        }
    })
}
