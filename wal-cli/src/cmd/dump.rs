//! `wal dump`: entries with their offset, size, segment and position, read-only.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use wal::inspect::{Inspection, TopicReport};

use crate::cli::DumpArgs;
use crate::error::{describe, CliError, CliResult, OK};
use crate::logdir::{self, Diagnosis};
use crate::output;

/// Entries read per call, so that memory stays bounded on large topics.
const CHUNK: u64 = 1024;

/// Prints the selected entries, one per line.
pub fn run(args: &DumpArgs, progress: bool) -> CliResult {
    let ins = logdir::scan(&args.dir, progress)?;
    let diagnosis = Diagnosis::of(&ins);
    if diagnosis.exit_code() != OK {
        eprintln!(
            "wal: warning: the log is not clean: {}; entries are shown as recovery would \
             keep them (run `wal verify`)",
            diagnosis.summary()
        );
    }
    let topics = ins.topics();
    let selected: Vec<&TopicReport> = match &args.topic {
        None => topics.iter().collect(),
        Some(name) => match topics.iter().find(|t| &t.name == name) {
            Some(t) => vec![t],
            None => {
                let known: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
                return Err(CliError::Unusable(format!(
                    "the log has no topic {name:?} (its topics: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        },
    };
    let ranges: Vec<(&TopicReport, u64, u64)> = selected
        .into_iter()
        .map(|t| {
            let start = args.from.max(t.first_offset);
            let end = match args.limit {
                Some(l) => start.saturating_add(l).min(t.next_offset),
                None => t.next_offset,
            };
            (t, start, end.max(start))
        })
        .collect();
    let total: u64 = ranges.iter().map(|(_, s, e)| e - s).sum();
    // A bar on standard error only when standard output goes elsewhere than the terminal.
    let bar = if progress && !std::io::stdout().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} entries {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = dump(args, &ins, &ranges, &bar);
    bar.finish_and_clear();
    result.map(|()| OK)
}

fn dump(
    args: &DumpArgs,
    ins: &Inspection,
    ranges: &[(&TopicReport, u64, u64)],
    bar: &ProgressBar,
) -> CliResult<()> {
    let backend = logdir::backend();
    let mut out = std::io::stdout().lock();
    for &(t, start, end) in ranges {
        let mut next = start;
        while next < end {
            let want = (end - next).min(CHUNK) as usize;
            let chunk = ins.entries(&backend, &t.name, next, want).map_err(|e| {
                CliError::Unusable(format!("reading topic {:?}: {}", t.name, describe(&e)))
            })?;
            let Some(last) = chunk.last() else { break };
            next = last.offset + 1;
            for e in &chunk {
                writeln!(out, "{}", output::entry(&t.name, e, args.json))?;
            }
            bar.inc(chunk.len() as u64);
        }
    }
    out.flush()?;
    Ok(())
}
