//! `wal repair`: lets recovery cut a torn tail or set damage aside, keeping a copy of
//! everything removed, and reports what was kept.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use wal::inspect::Inspection;
use wal::{Backend, RecoveryMode, Wal};

use crate::cli::{RepairArgs, RepairMode};
use crate::error::{wal_error, CliError, CliResult, DAMAGED, OK};
use crate::logdir::{self, Diagnosis};
use crate::output::human_bytes;

/// Repairs the log in `args.dir` as `args.mode` allows; see `wal repair --help`.
pub fn run(args: &RepairArgs, progress: bool) -> CliResult {
    let dir = &args.dir;
    logdir::check_dir(dir)?;
    // Held while deciding, so that what is scanned is not being written meanwhile; the
    // log takes the lock itself when it is opened below.
    let probe = logdir::probe_lock(dir)?;
    let before = logdir::scan(dir, progress)?;
    let diagnosis = Diagnosis::of(&before);
    let mut out = std::io::stdout().lock();
    if let Some(problem) = &diagnosis.unusable {
        return Err(CliError::Unusable(format!(
            "cannot repair {}: {problem}. Neither recovery mode gets past a segment that is \
             foreign, of another format version or without its header: move that file out \
             of the directory by hand (the log then ends before it).",
            dir.display()
        )));
    }
    if diagnosis.exit_code() == OK {
        writeln!(out, "{}: clean, nothing to repair", dir.display())?;
        return Ok(OK);
    }
    if let (Some(damage), RepairMode::CutTail) = (&diagnosis.damage, args.mode) {
        eprintln!(
            "wal: refusing to repair {}: {damage}. `--mode cut-tail` only cuts a torn tail. \
             Use `wal repair --mode point-in-time` to keep the log up to the damage and set \
             the damaged data and every later segment aside as *.damaged files.",
            dir.display()
        );
        return Ok(DAMAGED);
    }
    writeln!(out, "{}: {}", dir.display(), diagnosis.summary())?;
    for step in plan(&diagnosis) {
        writeln!(out, "  {step}")?;
    }
    if args.dry_run {
        writeln!(out, "dry run: nothing was changed")?;
        return Ok(OK);
    }
    let files_before = directory_files(dir);
    drop(probe);
    let mode = match args.mode {
        RepairMode::CutTail => RecoveryMode::Strict,
        RepairMode::PointInTime => RecoveryMode::PointInTime,
    };
    let wal = Wal::builder()
        .dir(dir)
        .backend(Backend::Std)
        .recovery_mode(mode)
        .keep_cut_data(true)
        .segment_size(logdir::segment_size(dir, 64 << 20))
        .open()
        .map_err(|e| wal_error(dir, &e))?;
    wal.close().map_err(|e| wal_error(dir, &e))?;
    let after = logdir::scan(dir, progress)?;
    report(&mut out, dir, &files_before, &before, &after)?;
    let verdict = Diagnosis::of(&after);
    if verdict.exit_code() != OK {
        return Err(CliError::Unusable(format!(
            "after the repair the log is still not clean: {}",
            verdict.summary()
        )));
    }
    writeln!(out, "the log is now clean")?;
    Ok(OK)
}

/// What the repair will do, one line per step.
fn plan(d: &Diagnosis) -> Vec<String> {
    let mut steps = Vec::new();
    if d.damage.is_some() {
        steps.push(
            "keep the log up to the damage: copy the damaged bytes to \
             <segment>.from-<offset>.damaged and rename every later segment to <segment>.damaged"
                .into(),
        );
    }
    if let Some((path, offset, debris)) = &d.torn {
        steps.push(format!(
            "cut the torn tail: {debris} bytes at {}:{offset}, copied to {}.from-{offset}.damaged",
            path.display(),
            path.display()
        ));
    }
    if !d.unwritten.is_empty() {
        steps.push(format!(
            "remove {} segment(s) that were created but never written (all zeros: nothing to keep)",
            d.unwritten.len()
        ));
    }
    steps
}

/// The names of the files in `dir`.
fn directory_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|read| {
            read.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Prints the files set aside or removed, and the entries of each topic before and after.
fn report(
    out: &mut impl Write,
    dir: &Path,
    files_before: &BTreeSet<String>,
    before: &Inspection,
    after: &Inspection,
) -> CliResult<()> {
    let files_after = directory_files(dir);
    for name in files_after.difference(files_before) {
        if name.ends_with(".damaged") {
            let len = std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
            writeln!(out, "set aside: {name} ({})", human_bytes(len))?;
        }
    }
    for name in files_before.difference(&files_after) {
        writeln!(out, "removed:   {name}")?;
    }
    let (topics_before, topics_after) = (before.topics(), after.topics());
    let width = topics_before
        .iter()
        .chain(&topics_after)
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    writeln!(
        out,
        "{:<width$}  {:>16}  {:>16}",
        "topic", "readable before", "after"
    )?;
    let mut names: Vec<&str> = topics_before.iter().map(|t| t.name.as_str()).collect();
    for t in &topics_after {
        if !names.contains(&t.name.as_str()) {
            names.push(&t.name);
        }
    }
    for name in names {
        let count = |ts: &[wal::inspect::TopicReport]| {
            ts.iter().find(|t| t.name == name).map_or_else(
                || "-".to_string(),
                |t| {
                    format!(
                        "{} ({}..{})",
                        t.next_offset - t.first_offset,
                        t.first_offset,
                        t.next_offset
                    )
                },
            )
        };
        writeln!(
            out,
            "{name:<width$}  {:>16}  {:>16}",
            count(&topics_before),
            count(&topics_after)
        )?;
    }
    if before.is_damaged() {
        writeln!(
            out,
            "(entries past the damage are not counted: they are in the files set aside)"
        )?;
    }
    Ok(())
}
