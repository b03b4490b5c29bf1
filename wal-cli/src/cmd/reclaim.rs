//! `wal reclaim`: deletes the segments every cursor has passed, and lists them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::cli::ReclaimArgs;
use crate::error::{wal_error, CliResult, OK};
use crate::logdir;
use crate::output::human_bytes;

/// Opens the log, reclaims, closes it, and prints each segment file that went.
pub fn run(args: &ReclaimArgs) -> CliResult {
    let dir = &args.dir;
    logdir::require_log(dir, false)?;
    let before = Segments::of(dir);
    let wal = logdir::open_log(dir)?;
    let reclaimed = wal.reclaim().map_err(|e| wal_error(dir, &e));
    let closed = wal.close().map_err(|e| wal_error(dir, &e));
    reclaimed?;
    closed?;
    before.report_removed(dir, &mut std::io::stdout().lock())?;
    Ok(OK)
}

/// The segment files of a log directory, by id, with their sizes.
pub struct Segments(BTreeMap<u64, u64>);

impl Segments {
    /// The segment files in `dir` now.
    pub fn of(dir: &Path) -> Self {
        Self(logdir::segment_files(dir).into_iter().collect())
    }

    /// Prints each of these segment files that is gone from `dir` now, and a total.
    pub fn report_removed(&self, dir: &Path, out: &mut impl Write) -> CliResult<()> {
        let after = Self::of(dir).0;
        let first_left = after.keys().next().copied().unwrap_or(u64::MAX);
        let (mut count, mut bytes) = (0, 0);
        for (&id, &len) in self.0.iter().filter(|(id, _)| !after.contains_key(id)) {
            let name = wal::segment::segment_file_name(id);
            // Opening and closing the log also removes segments that never held a record
            // (made ahead of time): they come after the ones that stay, and held no data.
            if id < first_left {
                writeln!(out, "removed {name} ({})", human_bytes(len))?;
                count += 1;
                bytes += len;
            } else {
                writeln!(
                    out,
                    "removed {name} ({}): it held no entry; opening or closing the log \
                     removed it",
                    human_bytes(len)
                )?;
            }
        }
        if count == 0 {
            writeln!(
                out,
                "nothing to reclaim: the oldest segment holds entries a cursor has not \
                 passed, or is the one being written"
            )?;
        } else {
            writeln!(
                out,
                "reclaimed {count} segment(s), {}; {} left",
                human_bytes(bytes),
                after.len()
            )?;
        }
        Ok(())
    }
}
