//! `wal completions`: a shell completion script, generated from the command line itself.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{CliResult, OK};

/// Prints the completion script for the shell asked for.
pub fn run(args: &CompletionsArgs) -> CliResult {
    // Into a buffer first: writing to a closed pipe must end quietly, not panic.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "wal", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(OK)
}
