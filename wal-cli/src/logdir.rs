//! A log directory as the commands see it: the read-only scan, the diagnosis of what it
//! found, the segment size in use, and a probe of the directory's lock.

use std::fs::{File, TryLockError};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use wal::inspect::{Finding, Inspection};

use crate::error::{describe, locked_message, CliError, CliResult, DAMAGED, OK, UNUSABLE};

/// The backend every read-only command reads through.
pub fn backend() -> wal::StdBackend {
    wal::StdBackend::default()
}

/// Fails unless `dir` is an existing directory.
pub fn check_dir(dir: &Path) -> CliResult<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(CliError::Unusable(format!(
            "{} is not a directory",
            dir.display()
        ))),
        Err(e) => Err(CliError::Unusable(format!("{}: {e}", dir.display()))),
    }
}

/// Fails unless `dir` holds a log: an existing directory with at least one segment file.
/// With `create_hint`, the message says that `--create` makes a new log (for `append`).
pub fn require_log(dir: &Path, create_hint: bool) -> CliResult<()> {
    let hint = if create_hint {
        "; refusing to create a new log there (is the path mistyped?). Pass --create to \
         create one"
    } else {
        ""
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::Unusable(format!(
            "{} does not exist{hint}",
            dir.display()
        ))),
        _ => {
            check_dir(dir)?;
            if segment_files(dir).is_empty() {
                return Err(CliError::Unusable(format!(
                    "{} holds no segment file (*.wal): it is not a wal log{hint}",
                    dir.display()
                )));
            }
            Ok(())
        }
    }
}

/// Opens the existing log in `dir` for a command that changes it: with its lock, the
/// std backend, every append synced, and the segment size its files already have.
pub fn open_log(dir: &Path) -> CliResult<wal::Wal> {
    require_log(dir, false)?;
    wal::Wal::builder()
        .dir(dir)
        .backend(wal::Backend::Std)
        .fsync(wal::FsyncSchedule::SyncEach)
        .segment_size(segment_size(dir, 64 << 20))
        .open()
        .map_err(|e| crate::error::wal_error(dir, &e))
}

/// Opens the log in `dir` ([`open_log`]), runs `change` on it, closes it, and prints the
/// message `change` returned once the close (the final sync) succeeded.
pub fn change_log(dir: &Path, change: impl FnOnce(&wal::Wal) -> CliResult<String>) -> CliResult {
    let wal = open_log(dir)?;
    let done = change(&wal);
    let closed = wal.close().map_err(|e| crate::error::wal_error(dir, &e));
    let message = done?;
    closed?;
    writeln!(std::io::stdout().lock(), "{message}")?;
    Ok(OK)
}

/// `true` when progress may be drawn: not turned off and standard error is a terminal.
pub fn progress_wanted(no_progress: bool) -> bool {
    !no_progress && std::io::stderr().is_terminal()
}

/// The segment files of `dir` by id, with their sizes (names that are not segments are
/// skipped, as the log does).
pub fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, u64)> = read
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let id = wal::segment::parse_segment_file_name(name.to_str()?)?;
            Some((id, e.metadata().ok()?.len()))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The segment size to open the log with: that of its largest segment file, so that new
/// segments match the old ones (a never-written trailing file may be shorter), or
/// `default` for a new log.
pub fn segment_size(dir: &Path, default: u64) -> u64 {
    segment_files(dir)
        .iter()
        .map(|&(_, len)| len)
        .max()
        .filter(|&len| len >= 4096)
        .unwrap_or(default)
}

/// Scans the log in `dir` read-only, without its lock, with a spinner on a terminal.
/// A directory without any segment file is not a log.
pub fn scan(dir: &Path, progress: bool) -> CliResult<Inspection> {
    check_dir(dir)?;
    let files = segment_files(dir);
    if files.is_empty() {
        return Err(CliError::Unusable(format!(
            "{} holds no segment file (*.wal): it is not a wal log",
            dir.display()
        )));
    }
    let spinner = if progress {
        let total: u64 = files.iter().map(|f| f.1).sum();
        let bar = ProgressBar::new_spinner().with_message(format!(
            "scanning {} segments ({})",
            files.len(),
            crate::output::human_bytes(total)
        ));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = wal::inspect::inspect(dir, &backend());
    spinner.finish_and_clear();
    result.map_err(|e| CliError::Unusable(format!("{}: {}", dir.display(), describe(&e))))
}

/// What a scan found, worst first, and the exit status it calls for.
#[derive(Debug, Default)]
pub struct Diagnosis {
    /// A reason the log cannot be opened or repaired (a foreign file, an unsupported
    /// version, a destroyed segment header).
    pub unusable: Option<String>,
    /// Damage that recovery refuses under `RecoveryMode::Strict`.
    pub damage: Option<String>,
    /// A torn tail: file, offset, bytes recovery would cut.
    pub torn: Option<(PathBuf, u64, u64)>,
    /// Trailing segments that were created but never written (recovery removes them).
    pub unwritten: Vec<PathBuf>,
}

impl Diagnosis {
    /// Reads the findings of a scan.
    pub fn of(ins: &Inspection) -> Self {
        let mut d = Self::default();
        if let Some(id) = ins.missing_segment {
            let after = ins.segments.iter().find(|s| s.id > id).map_or(0, |s| s.id);
            d.damage = Some(format!(
                "missing segment: {}, between segments {} and {after}",
                wal::segment::segment_file_name(id),
                id.saturating_sub(1)
            ));
        }
        for s in &ins.segments {
            match &s.finding {
                Finding::TornTail { offset, debris } => {
                    d.torn = Some((s.path.clone(), *offset, *debris));
                }
                Finding::Damaged(e) if is_unusable(e) => d.unusable = Some(describe(e)),
                Finding::Damaged(e) => d.damage = Some(describe_damage(e)),
                Finding::Unwritten => d.unwritten.push(s.path.clone()),
                _ => {}
            }
        }
        d
    }

    /// The exit status of `wal verify` for this diagnosis.
    pub fn exit_code(&self) -> u8 {
        if self.unusable.is_some() {
            UNUSABLE
        } else if self.damage.is_some() || self.torn.is_some() || !self.unwritten.is_empty() {
            DAMAGED
        } else {
            OK
        }
    }

    /// What to do about it, if anything.
    pub fn advice(&self) -> Option<&'static str> {
        if self.unusable.is_some() {
            Some(
                "`wal repair` cannot fix this (neither recovery mode gets past it): move the \
                 file out of the directory by hand, or use a build that reads its format version",
            )
        } else if self.damage.is_some() {
            Some("`wal repair --mode point-in-time` keeps the log up to the damage and sets the rest aside")
        } else if self.torn.is_some() || !self.unwritten.is_empty() {
            Some(
                "opening the log fixes this, losing nothing that was acknowledged as durable; \
                 `wal repair` does it and keeps a copy of what it cuts",
            )
        } else {
            None
        }
    }

    /// One line saying what is wrong, or "clean".
    pub fn summary(&self) -> String {
        if let Some(u) = &self.unusable {
            return format!("unusable: {u}");
        }
        let mut parts = Vec::new();
        if let Some(d) = &self.damage {
            parts.push(format!("damaged: {d}"));
        }
        if let Some((path, offset, debris)) = &self.torn {
            parts.push(format!(
                "torn tail (recovery will cut {debris} bytes at {}:{offset})",
                path.display()
            ));
        }
        if !self.unwritten.is_empty() {
            parts.push(format!(
                "{} trailing segment(s) never written (recovery will remove them)",
                self.unwritten.len()
            ));
        }
        if parts.is_empty() {
            "clean".into()
        } else {
            parts.join("; ")
        }
    }
}

/// Header-level findings that neither recovery mode gets past: the file is not a segment
/// this build can read.
fn is_unusable(e: &wal::Error) -> bool {
    matches!(
        e,
        wal::Error::ForeignFile { .. } | wal::Error::UnsupportedVersion { .. }
    ) || e.damage_location().is_some_and(|(_, offset)| offset == 0)
}

/// Damage with its kind, file and offset.
fn describe_damage(e: &wal::Error) -> String {
    match e {
        wal::Error::ChecksumMismatch {
            path,
            offset,
            expected,
            got,
        } => format!(
            "checksum mismatch at {}:{offset} (stored {expected:#010x}, computed {got:#010x})",
            path.display()
        ),
        wal::Error::Corrupt {
            path,
            offset,
            reason,
        } => format!("corrupt record at {}:{offset}: {reason}", path.display()),
        other => describe(other),
    }
}

/// Describes one segment's finding in a few words.
pub fn finding_text(finding: &Finding, data_end: u64) -> String {
    match finding {
        Finding::Clean => format!("clean, records end at {data_end}"),
        Finding::TornTail { offset, debris } => {
            format!("torn tail at {offset}: recovery will cut {debris} bytes")
        }
        Finding::Damaged(e) if is_unusable(e) => format!("unusable: {}", describe(e)),
        Finding::Damaged(e) => format!("damaged: {}", describe_damage(e)),
        Finding::Unwritten => "never written (all zeros): recovery will remove it".into(),
        Finding::NotChecked => "not checked: it follows damage".into(),
        other => format!("{other:?}"),
    }
}

/// Holds the log's lock for as long as it lives, if the log has a lock file.
#[derive(Debug)]
pub struct LockProbe {
    _file: Option<File>,
}

/// Takes the lock of the log in `dir` the way the log does, failing with the "locked"
/// message while another process holds it. Nothing is created: a log without a `LOCK`
/// file has never been opened, so no one holds it.
pub fn probe_lock(dir: &Path) -> CliResult<LockProbe> {
    let path = dir.join("LOCK");
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockProbe { _file: None }),
        Err(e) => return Err(CliError::Unusable(format!("{}: {e}", path.display()))),
    };
    match file.try_lock() {
        Ok(()) => Ok(LockProbe { _file: Some(file) }),
        Err(TryLockError::WouldBlock) => Err(CliError::Unusable(locked_message(dir))),
        Err(TryLockError::Error(e)) => Err(CliError::Unusable(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}
