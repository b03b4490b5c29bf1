//! The one interface every system under test implements, ours and the peers alike, so
//! that the workload loops ([`crate::workload`]) are written once and the comparison is
//! fair by construction: each system only says how to open itself, append, wait for
//! durability, read back and close.

use crate::error::Result;
use crate::job::{Job, Measurement, Schedule};

/// Why a log is opened: systems that keep or read data differently for one purpose (for
/// example okaywal's checkpointing, our read consistency) tell them apart here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A timed append workload: entries go as the schedule says.
    Append,
    /// The pipelined workload: appends need not reach the log before the writer's next
    /// [`Writer::wait_durable`], which makes them all durable.
    Pipelined,
    /// Writing data that will be read back (or measured): keep all of it.
    Fill,
    /// Reopening a filled log to read everything back.
    Read,
    /// A Raft log ([`crate::job::Workload::Raft`]): each append call is durable before it
    /// returns, entries carry Raft indexes, and [`Writer::purge_all_but`] purges.
    Raft,
}

/// How the workload opens the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open {
    /// When data is synced.
    pub schedule: Schedule,
    /// What the log is opened for.
    pub purpose: Purpose,
}

/// What reading a topic back returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReadBack {
    /// Entries read.
    pub entries: u64,
    /// Payload bytes of those entries.
    pub bytes: u64,
    /// The log handed its data over while it opened (okaywal reads only through
    /// recovery), so the read took as long as the open.
    pub during_open: bool,
}

/// A log under test, open in one job's directory.
///
/// One value is shared by every writer thread of a workload (`Sync`); each thread gets
/// its own [`Writer`] for its topic. Topics are numbered from 0; a system without topics
/// maps them all onto its one log.
pub(crate) trait Log: Sized + Sync {
    /// One thread's writer, on one topic.
    type Writer<'a>: Writer
    where
        Self: 'a;

    /// `true` when the log syncs on a timer by itself under
    /// [`Schedule::Millis200`]; otherwise the workload calls [`Log::sync`] every 200 ms.
    const TIMED_SYNC: bool;

    /// Opens (or creates) the log in `job.dir`. Reopening a filled log is the recovery.
    fn open(job: &Job, how: Open) -> Result<Self>;

    /// A writer for `topic`; several threads may ask for the same topic.
    fn writer(&self, topic: usize) -> Result<Self::Writer<'_>>;

    /// Returns once everything appended so far, by any writer, is durable.
    fn sync(&self) -> Result<()>;

    /// Reads every entry of `topic`, in order, from its start.
    fn read_all(&self, topic: usize) -> Result<ReadBack>;

    /// Closes the log, first adding to `m` what only the log can tell (its flushes, the
    /// backend it fell back to).
    fn close(self, m: &mut Measurement) -> Result<()>;

    /// Why bytes per entry cannot be read from the closed log's files in `job.dir`, if
    /// they cannot (okaywal recycles its files once it checkpoints).
    fn unmeasurable_files(_job: &Job) -> Result<Option<String>> {
        Ok(None)
    }
}

/// One thread's appender.
pub(crate) trait Writer {
    /// Appends `entries` to the writer's topic as one call (an atomic batch where the
    /// system has them) and returns once they are as durable as the schedule says:
    /// durable under [`Schedule::SyncEach`], at least in the log otherwise (or, for
    /// [`Purpose::Pipelined`], possibly only in the writer until it waits).
    fn append(&mut self, entries: &[&[u8]]) -> Result<()>;

    /// Returns once every entry this writer appended is durable.
    fn wait_durable(&mut self) -> Result<()>;

    /// Forgets the writer's entries but the last `keep` (a Raft log purged after a
    /// snapshot), as the system does it; durable with the system's next sync. Only the
    /// systems that run [`crate::job::Workload::Raft`] implement it.
    fn purge_all_but(&mut self, _keep: u64) -> Result<()> {
        Err(crate::error::Error::Settings(
            "this system does not purge a Raft log".into(),
        ))
    }
}
