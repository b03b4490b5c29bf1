//! Segment files: their names, and the listing of a log directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::Storage;

/// Suffix of segment file names: `00000000000000000001.wal`.
pub const SEGMENT_SUFFIX: &str = ".wal";
/// Name of the lock file in the log directory.
pub const LOCK_FILE: &str = "LOCK";
/// Suffix given to segments set aside by [`crate::RecoveryMode::PointInTime`].
pub const DAMAGED_SUFFIX: &str = ".damaged";

/// The largest segment id the log makes. Ids count up from 1 by one per segment, so no
/// real log comes near it (2^63 segments); a file named with a larger id is foreign, and
/// refusing it keeps the next id (`id + 1`) from overflowing.
pub const MAX_SEGMENT_ID: u64 = u64::MAX / 2;

/// The file name of segment `id`.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name back into its id.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment ids in `dir`, sorted. Files the log does not own are logged and left alone;
/// a directory or non-file under a segment's name is an error.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, None, e))?;
    let mut ids = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io("list directory", dir, None, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(file = ?entry.path(), "ignoring a file with a non-UTF-8 name in the log directory");
            continue;
        };
        if name == LOCK_FILE {
            continue;
        }
        match parse_segment_file_name(name) {
            Some(id) => {
                let kind = entry
                    .file_type()
                    .map_err(|e| Error::io("stat", entry.path(), None, e))?;
                if !kind.is_file() {
                    return Err(Error::ForeignFile {
                        path: entry.path(),
                        reason: "has a segment's name but is not a regular file".into(),
                    });
                }
                if id > MAX_SEGMENT_ID {
                    return Err(Error::ForeignFile {
                        path: entry.path(),
                        reason: format!(
                            "segment id {id} is beyond any the log makes ({MAX_SEGMENT_ID})"
                        ),
                    });
                }
                ids.push(id);
            }
            None => {
                tracing::warn!(file = %entry.path().display(), "ignoring a file the log does not own");
            }
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Writes segment `id`'s header into a new segment file and syncs it: every way a segment
/// file is made (ahead of time, at rollover, a new log's first) makes its header durable
/// before the segment takes a record, so a crash never leaves records without a header.
/// (Rollover calls [`write_header`] and syncs itself, because it treats a failed write on
/// a full disk and a failed sync differently.)
pub(crate) fn write_durable_header(storage: &dyn Storage, id: u64) -> std::io::Result<()> {
    write_header(storage, id)?;
    storage.sync()
}

/// Writes segment `id`'s header at the start of a new segment file, not synced.
pub(crate) fn write_header(storage: &dyn Storage, id: u64) -> std::io::Result<()> {
    storage.write_at(0, &crate::format::encode_segment_header(id))
}

/// A live segment as the engine tracks it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub path: PathBuf,
    /// LSN of the segment's byte 0.
    pub base_lsn: u64,
    /// The file's size.
    pub capacity: u64,
    /// End of the preamble: the segment before this one may be deleted only once the log
    /// is durable up to here, so that this segment describes every topic on its own.
    pub preamble_end: u64,
    /// When the segment stopped taking appends (for an age-based retention policy);
    /// recovered segments count from the open.
    pub sealed_at: Option<std::time::Instant>,
}

impl SegmentMeta {
    /// A segment found on disk: everything in it is durable (recovery synced it).
    pub fn recovered(path: PathBuf, base_lsn: u64, capacity: u64) -> Self {
        Self {
            path,
            base_lsn,
            capacity,
            preamble_end: 0,
            sealed_at: Some(std::time::Instant::now()),
        }
    }
}

/// The segment currently appended to.
#[derive(Debug, Clone)]
pub(crate) struct ActiveSegment {
    pub id: u64,
    pub storage: Arc<dyn Storage>,
    pub base_lsn: u64,
    pub capacity: u64,
    /// End of the bytes appended so far (written or still buffered).
    pub end: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_file_name(7), "00000000000000000007.wal");
        assert_eq!(parse_segment_file_name("00000000000000000007.wal"), Some(7));
        for bad in [
            "7.wal",
            "0000000000000000000a.wal",
            "00000000000000000007.log",
            "LOCK",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }
}
