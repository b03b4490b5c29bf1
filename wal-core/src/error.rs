//! The one error type of the engine.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// A specialised `Result` for the log.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a topic name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicNameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`crate::MAX_TOPIC_NAME_LEN`] bytes.
    TooLong,
    /// The name contains a NUL byte.
    Nul,
    /// The name contains `/` or `\`.
    PathSeparator,
    /// The name is `.` or `..`.
    DotName,
}

impl std::fmt::Display for TopicNameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is longer than 255 bytes",
            Self::Nul => "it contains a NUL byte",
            Self::PathSeparator => "it contains a path separator",
            Self::DotName => "it is `.` or `..`",
        })
    }
}

/// Everything that can go wrong in the log.
///
/// The `Display` of a variant says what failed; the error that caused it, if any, is its
/// [`source`](std::error::Error::source), never repeated in the message, so that a
/// reporter that prints the chain (`anyhow`, `eyre`, or the loop below) prints each cause
/// once:
///
/// ```
/// fn report(err: &dyn std::error::Error) -> String {
///     let mut text = err.to_string();
///     let mut cause = err.source();
///     while let Some(c) = cause {
///         text += &format!(": {c}");
///         cause = c.source();
///     }
///     text
/// }
///
/// let file = tempfile::NamedTempFile::new().unwrap();
/// let err = wal_core::WalBuilder::new()
///     .dir(file.path().join("log")) // a path under a regular file
///     .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
///     .open()
///     .unwrap_err();
/// assert!(matches!(err, wal_core::Error::Io { op: "create directory", .. }));
/// assert_eq!(report(&err).matches("os error").count(), 1, "{}", report(&err));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed. The operating system's error is the
    /// [`source`](std::error::Error::source); [`Error::io_kind`] gives its kind.
    #[error("{op} failed on {}{}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Io {
        /// What the engine was doing ("write", "sync", "create segment", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The byte offset in the file, where one applies.
        offset: Option<u64>,
        /// The error the operating system reported.
        #[source]
        source: io::Error,
    },

    /// A record or segment header failed its checks outside the tolerated torn tail.
    #[error("corrupt log: {} at offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged record or header in that file.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A checksum did not match.
    #[error("checksum mismatch in {} at offset {offset}: stored {expected:#010x}, computed {got:#010x}", path.display())]
    ChecksumMismatch {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the record in that file.
        offset: u64,
        /// The checksum stored in the record.
        expected: u32,
        /// The checksum of the bytes read.
        got: u32,
    },

    /// A file in the directory that the log did not write, or cannot read.
    #[error("foreign or damaged file in the log directory: {}: {reason}", path.display())]
    ForeignFile {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },

    /// The segment was written by a newer (or unknown) version of the format.
    #[error("{} has format version {found}, this build reads version {supported}", path.display())]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// The version found in its header.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// An entry is larger than the configured maximum.
    #[error("entry of {size} bytes is larger than the maximum of {max} bytes")]
    EntryTooLarge {
        /// The entry's size.
        size: usize,
        /// The configured maximum ([`crate::WalBuilder::max_entry_size`]).
        max: usize,
    },

    /// A batch has too many entries or bytes.
    #[error("batch of {entries} entries and {bytes} bytes exceeds the limit of {max_entries} entries and {max_bytes} bytes")]
    BatchTooLarge {
        /// Entries in the batch.
        entries: usize,
        /// Encoded bytes of the batch.
        bytes: u64,
        /// The most entries one batch may hold.
        max_entries: usize,
        /// The most encoded bytes one batch may take (it must fit in one segment).
        max_bytes: u64,
    },

    /// A topic name was refused.
    #[error("invalid topic name {name:?}: {problem}")]
    InvalidTopic {
        /// The name as given (lossily converted, truncated to 64 characters).
        name: String,
        /// What is wrong with it.
        problem: TopicNameProblem,
    },

    /// The topic holds no entry at that offset (not appended yet, or unknown topic).
    #[error("topic {topic:?} has no entry at offset {offset} (next offset is {next})")]
    OffsetNotFound {
        /// The topic.
        topic: String,
        /// The offset asked for.
        offset: u64,
        /// The offset the next append will get.
        next: u64,
    },

    /// The entry was reclaimed by retention or [`crate::Wal::truncate_before`].
    #[error("offset {offset} of topic {topic:?} was reclaimed; the oldest retained is {oldest}")]
    OffsetReclaimed {
        /// The topic.
        topic: String,
        /// The offset asked for.
        offset: u64,
        /// The oldest offset still retained.
        oldest: u64,
    },

    /// The log is shutting down ([`crate::Wal::shutdown`]) or closed.
    #[error("the log is closed")]
    Closed,

    /// The path given as the log directory exists and is not a directory (a regular file,
    /// for example).
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path given to [`crate::WalBuilder::dir`].
        path: PathBuf,
    },

    /// The directory is already open, in this process or another.
    #[error("the log directory {} is locked by another instance", path.display())]
    Locked {
        /// The directory.
        path: PathBuf,
    },

    /// A call into the storage backend panicked. The log is poisoned by it: the backend's
    /// state (and what reached the disk) is unknown.
    #[error("the storage backend panicked during {op}: {message}")]
    BackendPanicked {
        /// What the engine was doing ("flush", "write", "create segment", ...).
        op: &'static str,
        /// The panic's message, when it was a string.
        message: String,
    },

    /// A topic or consumer was refused because the table that every segment re-declares
    /// at its start would take too much of a segment. Existing topics keep working.
    #[error("cannot add {what}: the topic table would take {table_bytes} bytes of every segment, more than the limit of {limit} (half of segment_size)")]
    TopicTableFull {
        /// "topic \"name\"" or "consumer \"name\" of topic \"name\"".
        what: String,
        /// Bytes the table would take with it.
        table_bytes: u64,
        /// The most it may take.
        limit: u64,
    },

    /// Records that do not fit in one segment after the topic table every segment starts
    /// with (an entry or batch near the segment size, with many topics).
    #[error("{bytes} bytes of records do not fit in a segment after its topic table ({room} bytes of room)")]
    TooLargeForSegment {
        /// Encoded bytes asked for.
        bytes: u64,
        /// Room a new segment has after its header and topic table.
        room: u64,
    },

    /// A topic has used every offset its 48-bit field can hold.
    #[error("topic {topic:?} has used up its offsets")]
    OffsetsExhausted {
        /// The topic.
        topic: String,
    },

    /// The builder's settings contradict each other.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An earlier flush failed; the log refuses writes until it is reopened, because the
    /// page cache can no longer be trusted to hold what was written. The failure is
    /// `cause`, which is also the [`source`](std::error::Error::source).
    #[error("the log is poisoned by an earlier failure and must be reopened")]
    Poisoned {
        /// The failure that poisoned the log.
        #[source]
        cause: Arc<Error>,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        source: io::Error,
    ) -> Self {
        Self::Io {
            op,
            path: path.into(),
            offset,
            source,
        }
    }

    /// The file and byte offset of damage ([`Error::Corrupt`], [`Error::ChecksumMismatch`]).
    pub fn damage_location(&self) -> Option<(&std::path::Path, u64)> {
        match self {
            Self::Corrupt { path, offset, .. } | Self::ChecksumMismatch { path, offset, .. } => {
                Some((path, *offset))
            }
            _ => None,
        }
    }

    /// The [`io::ErrorKind`] behind this error, if it came from an I/O call.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::Io { source, .. } => Some(source.kind()),
            Self::Poisoned { cause } => cause.io_kind(),
            Self::NotADirectory { .. } => Some(io::ErrorKind::NotADirectory),
            _ => None,
        }
    }
}
