//! How commands fail, and the exit status each outcome gives.

use std::io;
use std::path::Path;

/// Exit status: success (for `verify`: the log is clean).
pub const OK: u8 = 0;
/// Exit status: the log is damaged or torn and `wal repair` can fix it (for `repair`: it
/// refused, because the damage needs `--mode point-in-time`).
pub const DAMAGED: u8 = 1;
/// Exit status: the log cannot be used, or any other error.
pub const UNUSABLE: u8 = 2;

/// Why a command stopped early.
#[derive(Debug)]
pub enum CliError {
    /// The log cannot be used, or an operation failed: the message is printed on standard
    /// error and the exit status is [`UNUSABLE`].
    Unusable(String),
    /// Standard output was closed (as when piped into `head`): stop quietly.
    OutputClosed,
}

/// The result of a command: its exit status, or why it stopped.
pub type CliResult<T = u8> = Result<T, CliError>;

impl From<io::Error> for CliError {
    /// Errors writing to standard output.
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self::OutputClosed
        } else {
            Self::Unusable(format!("cannot write the output: {e}"))
        }
    }
}

/// The message for an error of the log opened in `dir`, with advice where there is some.
pub fn wal_error(dir: &Path, e: &wal::Error) -> CliError {
    CliError::Unusable(match e {
        wal::Error::Locked { .. } => locked_message(dir),
        other => format!("{}: {}", dir.display(), describe(other)),
    })
}

/// An error's message followed by each of its causes (`source()`), as `anyhow` prints
/// them: the log's errors leave their cause (the operating system's error, the failure
/// that poisoned the log) out of their own message.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What to say when another process holds the log's lock.
pub fn locked_message(dir: &Path) -> String {
    format!(
        "{} is locked: another process has the log open (it holds {}). Stop it first; \
         `wal stats`, `wal dump`, `wal verify` and `wal tail` work without the lock.",
        dir.display(),
        dir.join("LOCK").display()
    )
}
