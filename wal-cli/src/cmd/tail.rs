//! `wal tail`: follows a topic by re-reading the log read-only at an interval.
//!
//! The library's `read_next_blocking` wakes readers inside the process that appends; a
//! separate process cannot open the log while the writer holds its lock. So `tail` polls
//! [`wal::inspect`], which needs no lock, and prints the entries past the last one shown.

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use wal::inspect::Inspection;

use crate::cli::TailArgs;
use crate::error::CliResult;
use crate::logdir::{self, Diagnosis};
use crate::output;

/// Entries read per call.
const CHUNK: usize = 1024;

/// Prints the topic's entries from `--from` (default: its end) on, until interrupted or
/// until standard output is closed.
pub fn run(args: &TailArgs, progress: bool) -> CliResult {
    let first = logdir::scan(&args.dir, progress)?;
    let mut next = args.from.unwrap_or_else(|| {
        first
            .topics()
            .iter()
            .find(|t| t.name == args.topic)
            .map_or(0, |t| t.next_offset)
    });
    eprintln!(
        "wal: following topic {:?} of {} from offset {next} (every {} ms; Ctrl-C to stop)",
        args.topic,
        args.dir.display(),
        args.interval
    );
    let interval = Duration::from_millis(args.interval);
    let mut follower = Follower::default();
    let mut ins = Some(first);
    loop {
        if let Some(ins) = ins.take() {
            follower.print_new(args, &ins, &mut next)?;
        }
        sleep(interval);
        match wal::inspect::inspect(&args.dir, &logdir::backend()) {
            Ok(fresh) => {
                follower.last_error = None;
                ins = Some(fresh);
            }
            // A segment deleted by retention mid-scan, a directory being replaced: say so
            // once, and try again at the next tick.
            Err(e) => follower.warn_error(e.to_string()),
        }
    }
}

/// What the follower already told the user, so that each warning is printed once.
#[derive(Debug, Default)]
struct Follower {
    last_error: Option<String>,
    warned_damage: Option<String>,
}

impl Follower {
    fn warn_error(&mut self, message: String) {
        if self.last_error.as_ref() != Some(&message) {
            eprintln!("wal: cannot read the log (retrying): {message}");
            self.last_error = Some(message);
        }
    }

    /// Prints every entry of the topic from `next` on in this scan, moving `next`.
    fn print_new(&mut self, args: &TailArgs, ins: &Inspection, next: &mut u64) -> CliResult<()> {
        let diagnosis = Diagnosis::of(ins);
        if diagnosis.damage.is_some() || diagnosis.unusable.is_some() {
            let summary = diagnosis.summary();
            if self.warned_damage.as_ref() != Some(&summary) {
                eprintln!("wal: warning: {summary}; entries after it are not shown");
                self.warned_damage = Some(summary);
            }
        }
        let Some(topic) = ins.topics().into_iter().find(|t| t.name == args.topic) else {
            return Ok(());
        };
        if topic.first_offset > *next {
            eprintln!(
                "wal: warning: offsets {}..{} were reclaimed before they could be shown",
                *next, topic.first_offset
            );
            *next = topic.first_offset;
        }
        let backend = logdir::backend();
        let mut out = std::io::stdout().lock();
        while *next < topic.next_offset {
            let chunk = match ins.entries(&backend, &args.topic, *next, CHUNK) {
                Ok(chunk) => chunk,
                Err(e) => {
                    self.warn_error(e.to_string());
                    return Ok(());
                }
            };
            let Some(last) = chunk.last() else { break };
            *next = last.offset + 1;
            for e in &chunk {
                writeln!(out, "{}", output::entry(&args.topic, e, args.json))?;
            }
            out.flush()?;
        }
        Ok(())
    }
}
