//! What recovery did when the log was opened ([`crate::Wal::recovery_stats`]).

use std::path::PathBuf;
use std::time::Duration;

/// What recovery read, and what it cut or set aside, when the log was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Segments whose records were scanned (every segment up to the last one holding
    /// data; trailing segments that never held a record are not counted).
    pub segments_scanned: u64,
    /// Bytes read from segment files, including the checks of trailing segments.
    pub bytes_read: u64,
    /// Bytes run through a record checksum.
    pub bytes_checksummed: u64,
    /// Wall-clock time of recovery, from listing the directory to the final sync.
    pub duration: Duration,
    /// Bytes of a torn tail: from the end of the last complete record to the last
    /// non-zero byte after it. They were never acknowledged; recovery erased them, or set
    /// them aside first under `keep_cut_data`.
    pub torn_tail_bytes: u64,
    /// Bytes from damage to the end of the data in the damaged segment, set aside and
    /// erased under `RecoveryMode::PointInTime` (`Strict` refuses to open instead).
    pub damaged_bytes_set_aside: u64,
    /// Whole segment files renamed to `*.damaged`: those after damage or a gap
    /// (`RecoveryMode::PointInTime`), and a last segment whose header never became durable.
    pub segments_set_aside: u64,
    /// Trailing segment files that never held a record (made ahead of time), removed.
    pub unwritten_segments_removed: u64,
    /// Every `*.damaged` file this recovery wrote or renamed, in the order it did.
    pub files_set_aside: Vec<PathBuf>,
}

impl RecoveryStats {
    /// `true` when recovery changed nothing on disk but an unwritten trailing segment:
    /// nothing was cut or set aside.
    pub fn is_clean(&self) -> bool {
        self.torn_tail_bytes == 0
            && self.damaged_bytes_set_aside == 0
            && self.segments_set_aside == 0
            && self.files_set_aside.is_empty()
    }
}
