//! `wal verify`: every record's checksum and the log's structure, as recovery checks
//! them, without changing anything.

use std::io::Write;

use crate::cli::VerifyArgs;
use crate::error::CliResult;
use crate::logdir::{self, Diagnosis};
use crate::output::{self, human_bytes};

/// Scans the log, prints one line per segment and a verdict, and returns the verdict's
/// exit status (0 clean, 1 repairable, 2 unusable).
pub fn run(args: &VerifyArgs, progress: bool) -> CliResult {
    let ins = logdir::scan(&args.dir, progress)?;
    let topics = ins.topics();
    let entries: u64 = topics.iter().map(|t| t.next_offset - t.first_offset).sum();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} segment(s), {} topic(s), {} readable",
        args.dir.display(),
        ins.segments.len(),
        topics.len(),
        output::entries(entries)
    )?;
    let mut missing = ins.missing_segment;
    for s in &ins.segments {
        if let Some(id) = missing.filter(|&id| id < s.id) {
            let name = wal::segment::segment_file_name(id);
            writeln!(out, "  {name}  {:>9}  missing", "-")?;
            missing = None;
        }
        let name = s.path.file_name().map_or_else(
            || s.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        writeln!(
            out,
            "  {name}  {:>9}  {}",
            human_bytes(s.len),
            logdir::finding_text(&s.finding, s.data_end)
        )?;
    }
    let diagnosis = Diagnosis::of(&ins);
    writeln!(out, "result: {}", diagnosis.summary())?;
    if let Some(advice) = diagnosis.advice() {
        writeln!(out, "advice: {advice}")?;
    }
    Ok(diagnosis.exit_code())
}
