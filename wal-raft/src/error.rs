//! The crate's error type, and how it reaches openraft.

use openraft::{AnyError, ErrorSubject, ErrorVerb, NodeId, StorageError, StorageIOError};

/// Everything that can go wrong in a [`WalLogStore`](crate::WalLogStore).
///
/// openraft sees these as the source of a [`StorageError`]; [`Error::into_storage`] says
/// which subject (logs, vote) and verb (read, write) it names.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log failed (I/O, damage, poisoned by an earlier failed sync, closed).
    #[error(transparent)]
    Wal(#[from] wal::Error),

    /// An entry, a vote or a log id could not be encoded or decoded.
    #[error("{what} of Raft group {group:?}: {source}")]
    Codec {
        /// What was being encoded or decoded ("entry 7", "vote", ...).
        what: String,
        /// The group (topic).
        group: String,
        /// What postcard reported.
        #[source]
        source: postcard::Error,
    },

    /// An append would leave a hole in the log, or overwrite entries without a
    /// `truncate` first: Raft never asks for either, so the caller is broken.
    #[error("Raft group {group:?}: entry {got} appended where entry {expected} comes next")]
    NotContiguous {
        /// The group (topic).
        group: String,
        /// The index the log expects next.
        expected: u64,
        /// The index the append carried.
        got: u64,
    },

    /// `truncate` below the first retained entry: Raft never truncates what it purged.
    #[error("Raft group {group:?}: truncating at {index}, below the first retained entry {first}")]
    TruncatePurged {
        /// The group (topic).
        group: String,
        /// The index asked for.
        index: u64,
        /// The first index the log still holds.
        first: u64,
    },

    /// The store was given a log whose schedule is [`wal::FsyncSchedule::SyncEach`]: every
    /// append would then wait for its sync inside the async runtime. Use
    /// `NoFsync` (the store asks for every sync Raft needs) or `Milliseconds(n)`.
    #[error("a Raft log store needs a log that does not sync on every append (SyncEach would block the async runtime); open it with FsyncSchedule::NoFsync")]
    SyncEach,

    /// The log's durability notification never came (the log was dropped first).
    #[error("the log closed before reporting durability")]
    NotNotified,

    /// A blocking task of the store panicked or was cancelled.
    #[error("a storage task did not finish: {0}")]
    Task(String),
}

/// The crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// This error as openraft's [`StorageError`], naming `subject` and `verb`.
    pub fn into_storage<NID: NodeId>(
        self,
        subject: ErrorSubject<NID>,
        verb: ErrorVerb,
    ) -> StorageError<NID> {
        StorageIOError::new(subject, verb, AnyError::new(&self)).into()
    }
}

/// Shorthands for the subjects openraft distinguishes.
pub(crate) fn write_logs<NID: NodeId>(e: impl Into<Error>) -> StorageError<NID> {
    e.into().into_storage(ErrorSubject::Logs, ErrorVerb::Write)
}

pub(crate) fn read_logs<NID: NodeId>(e: impl Into<Error>) -> StorageError<NID> {
    e.into().into_storage(ErrorSubject::Logs, ErrorVerb::Read)
}

pub(crate) fn write_vote<NID: NodeId>(e: impl Into<Error>) -> StorageError<NID> {
    e.into().into_storage(ErrorSubject::Vote, ErrorVerb::Write)
}

/// openraft's `LogFlushed` callback takes an `io::Error`: keep the kind when the log had
/// one, and the whole message.
pub(crate) fn to_io(e: wal::Error) -> std::io::Error {
    let kind = e.io_kind().unwrap_or(std::io::ErrorKind::Other);
    std::io::Error::new(kind, e)
}
