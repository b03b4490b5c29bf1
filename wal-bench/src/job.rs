//! What one worker process runs ([`Job`]) and what it reports ([`Measurement`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hist::Percentiles;

/// A system under test: one of our backends or a peer library.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Our log on the std backend.
    Std,
    /// Our log on the mmap backend.
    Mmap,
    /// Our log on the io_uring backend.
    Uring,
    /// walrus-rust 0.2 (FD backend, its default).
    Walrus,
    /// okaywal 0.3.
    Okaywal,
    /// raft-engine 0.4 (TiKV's Raft log store), without its default features.
    RaftEngine,
    /// raft-log 0.4 (the log store of openraft's examples).
    RaftLog,
}

impl System {
    /// Every system, in the order runs alternate: ours and peers interleaved, so that
    /// drift of the machine hits all of them alike.
    pub const ALTERNATING: [System; 7] = [
        System::Walrus,
        System::Std,
        System::Okaywal,
        System::Mmap,
        System::RaftEngine,
        System::Uring,
        System::RaftLog,
    ];

    /// Every system in table order: ours first, then the peers.
    pub const TABLE: [System; 7] = [
        System::Std,
        System::Mmap,
        System::Uring,
        System::Walrus,
        System::Okaywal,
        System::RaftEngine,
        System::RaftLog,
    ];

    /// The name shown in tables.
    pub fn name(self) -> &'static str {
        match self {
            System::Std => "wal/std",
            System::Mmap => "wal/mmap",
            System::Uring => "wal/uring",
            System::Walrus => "walrus-rust",
            System::Okaywal => "okaywal",
            System::RaftEngine => "raft-engine",
            System::RaftLog => "raft-log",
        }
    }

    /// `true` for our own log.
    pub fn is_ours(self) -> bool {
        self.backend().is_some()
    }

    /// Our backend, for our own log.
    pub fn backend(self) -> Option<wal::Backend> {
        match self {
            System::Std => Some(wal::Backend::Std),
            System::Mmap => Some(wal::Backend::Mmap),
            System::Uring => Some(wal::Backend::Uring),
            _ => None,
        }
    }

    /// Whether the system can express `workload`; the reason when it cannot.
    pub fn cannot(self, workload: &Workload) -> Option<&'static str> {
        match self {
            System::Std => None,
            System::Mmap | System::Uring => crate::ours::cannot_other_backend(workload),
            System::Walrus => crate::walrus::cannot(workload),
            System::Okaywal => crate::okaywal::cannot(workload),
            System::RaftEngine => crate::raft_engine::cannot(workload),
            System::RaftLog => crate::raft_log::cannot(workload),
        }
    }

    /// How the system runs `workload` when that differs from the plain reading.
    pub fn adaptation(self, workload: &Workload) -> Option<&'static str> {
        match self {
            System::Std | System::Mmap | System::Uring => crate::ours::adaptation(workload),
            System::Walrus => None,
            System::Okaywal => crate::okaywal::adaptation(workload),
            System::RaftEngine => crate::raft_engine::adaptation(workload),
            System::RaftLog => crate::raft_log::adaptation(workload),
        }
    }
}

/// When data is synced, in the terms all three logs share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Every append returns once durable.
    SyncEach,
    /// A background sync every 200 ms.
    Millis200,
    /// No sync unless asked for.
    NoFsync,
}

impl Schedule {
    /// The name used in workload ids.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::SyncEach => "SyncEach",
            Schedule::Millis200 => "Milliseconds(200)",
            Schedule::NoFsync => "NoFsync",
        }
    }

    /// Our log's schedule.
    pub fn ours(self) -> wal::FsyncSchedule {
        match self {
            Schedule::SyncEach => wal::FsyncSchedule::SyncEach,
            Schedule::Millis200 => wal::FsyncSchedule::Milliseconds(200),
            Schedule::NoFsync => wal::FsyncSchedule::NoFsync,
        }
    }

    /// walrus-rust's schedule.
    pub fn walrus(self) -> walrus_rust::FsyncSchedule {
        match self {
            Schedule::SyncEach => walrus_rust::FsyncSchedule::SyncEach,
            Schedule::Millis200 => walrus_rust::FsyncSchedule::Milliseconds(200),
            Schedule::NoFsync => walrus_rust::FsyncSchedule::NoFsync,
        }
    }
}

/// One workload configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// 1. Durable appends (`SyncEach`) of `size`-byte entries from `threads` threads, on
    ///    one topic per thread or all on one topic.
    Durable {
        /// Writer threads.
        threads: usize,
        /// All threads append to one topic.
        shared_topic: bool,
        /// Payload bytes per entry.
        size: usize,
    },
    /// 2. The walrus README workload: 10 threads, 10 topics, random entries of
    ///    500–1024 bytes.
    Readme {
        /// The sync schedule.
        schedule: Schedule,
    },
    /// 3. 64-byte entries without fsync.
    Small {
        /// Writer threads (one topic each).
        threads: usize,
    },
    /// 3b. 64-byte entries appended without waiting, `wait_durable` every `every`
    ///     entries.
    Pipelined {
        /// Writer threads (one topic each).
        threads: usize,
        /// Entries between two waits for durability.
        every: u64,
    },
    /// 4. Durable atomic batches of `entries` entries of 256 bytes, one thread.
    Batch {
        /// Entries per batch.
        entries: usize,
    },
    /// 5a. Writes `entries` entries of `size` bytes to one topic for the read workload
    ///     (untimed set-up, reported for information).
    Fill {
        /// Entries to write.
        entries: u64,
        /// Payload bytes per entry.
        size: usize,
    },
    /// 5 and 6. Reopens what [`Workload::Fill`] wrote: the open is timed (recovery), then
    /// everything is read back.
    ReadBack {
        /// Entries expected.
        entries: u64,
        /// Payload bytes per entry.
        size: usize,
    },
    /// 8. A Raft log: `groups` Raft groups, each written by a thread of its own in calls
    ///    of `entries` entries of [`RAFT_ENTRY_SIZE`] bytes, each call durable before the
    ///    next (a node persisting what it received), and every [`RAFT_PURGE_EVERY`]
    ///    entries the group's log purged up to its last [`RAFT_KEEP`] entries.
    Raft {
        /// Entries per durable write.
        entries: usize,
        /// Raft groups (one writer thread each).
        groups: usize,
    },
    /// 7. Index memory: appends `entries` small entries to one topic, in calls of
    ///    [`MEMORY_BATCH`], and reports the anonymous memory the process gained per
    ///    entry.
    Memory {
        /// Entries to append.
        entries: u64,
        /// Payload bytes per entry.
        size: usize,
    },
}

/// Entries per append call of the index-memory workload.
pub const MEMORY_BATCH: usize = 1000;

/// Entry size of the small-entry workloads.
pub const SMALL_SIZE: usize = 64;
/// Entry size of the batch workload.
pub const BATCH_ENTRY_SIZE: usize = 256;
/// Entry size of the Raft-log workload.
pub const RAFT_ENTRY_SIZE: usize = 256;
/// Entries a Raft group appends between two purges of its log.
pub const RAFT_PURGE_EVERY: u64 = 4096;
/// Entries a purge keeps at the end of a group's log (what a snapshot does not cover yet).
pub const RAFT_KEEP: u64 = 1024;
/// Threads (and topics) of the walrus README workload.
pub const README_THREADS: usize = 10;
/// Entry sizes of the walrus README workload.
pub const README_SIZES: std::ops::RangeInclusive<usize> = 500..=1024;

impl Workload {
    /// A stable id, used as the row key in reports (`durable/256B/16t/16topics`, ...).
    pub fn id(&self) -> String {
        match *self {
            Workload::Durable {
                threads,
                shared_topic,
                size,
            } => {
                let topics = if shared_topic || threads == 1 {
                    "1topic".to_owned()
                } else {
                    format!("{threads}topics")
                };
                format!("durable/{}/{threads}t/{topics}", size_name(size))
            }
            Workload::Readme { schedule } => format!("readme/{}", schedule.name()),
            Workload::Small { threads } => format!("nofsync/64B/{threads}t"),
            Workload::Pipelined { threads, every } => {
                format!("pipelined/64B/{threads}t/every{every}")
            }
            Workload::Batch { entries } => format!("batch/{entries}x256B"),
            Workload::Fill { .. } => "fill".to_owned(),
            Workload::ReadBack { .. } => "readback".to_owned(),
            Workload::Memory { size, .. } => format!("memory/{}", size_name(size)),
            Workload::Raft { entries, groups } => format!(
                "raft/{entries}x{}/{groups}group{}",
                size_name(RAFT_ENTRY_SIZE),
                if groups == 1 { "" } else { "s" }
            ),
        }
    }

    /// The sync schedule the workload opens the log with.
    pub fn schedule(&self) -> Schedule {
        match *self {
            Workload::Durable { .. } | Workload::Batch { .. } | Workload::Raft { .. } => {
                Schedule::SyncEach
            }
            Workload::Readme { schedule } => schedule,
            Workload::Small { .. }
            | Workload::Pipelined { .. }
            | Workload::Fill { .. }
            | Workload::ReadBack { .. }
            | Workload::Memory { .. } => Schedule::NoFsync,
        }
    }
}

/// `256B`, `4KiB`, ...
pub fn size_name(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

/// What a worker process runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The system under test.
    pub system: System,
    /// The workload.
    pub workload: Workload,
    /// The directory of the log (created if missing; for walrus-rust it must also be the
    /// child's `WALRUS_DATA_DIR`).
    pub dir: PathBuf,
    /// How long the timed part runs, in milliseconds.
    pub duration_ms: u64,
    /// Which repetition of this (system, workload) pair it is, from 0.
    #[serde(default)]
    pub run: u32,
}

impl Job {
    /// A job for `system` running `workload` in `dir` for `duration`.
    pub fn new(
        system: System,
        workload: Workload,
        dir: impl Into<PathBuf>,
        duration: Duration,
    ) -> Self {
        Self {
            system,
            workload,
            dir: dir.into(),
            duration_ms: duration.as_millis().max(1) as u64,
            run: 0,
        }
    }

    /// The timed part's length.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }

    /// `system workload`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {} (run {})",
            self.system.name(),
            self.workload.id(),
            self.run + 1
        )
    }
}

/// One measured result of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The row it belongs to ([`Workload::id`], or `recovery`).
    pub row: String,
    /// The system's name ([`System::name`]).
    pub system: String,
    /// Which repetition of the (system, workload) pair it comes from, from 0.
    #[serde(default)]
    pub run: u32,
    /// Entries completed.
    pub entries: u64,
    /// Payload bytes of those entries.
    pub payload_bytes: u64,
    /// Calls completed, where one call carries several entries (batches).
    pub calls: Option<u64>,
    /// Wall time of the timed part, in seconds.
    pub elapsed_s: f64,
    /// Latency of each call (durable appends, batches), or from append to durable
    /// (pipelined), where latency is meaningful.
    pub latency: Option<Percentiles>,
    /// Flushes (sync cycles) the log reports having issued (our log only).
    pub flushes: Option<u64>,
    /// Median time of one of those flushes (write + sync), in microseconds, to within a
    /// factor of two, as the log reports it (our log only).
    pub flush_p50_us: Option<u64>,
    /// 99th percentile of the same.
    pub flush_p99_us: Option<u64>,
    /// Flush requests the block device completed during the timed part (device-wide:
    /// includes anything else running on the machine).
    pub device_flushes: Option<u64>,
    /// Bytes of log data per entry: 4 KiB pages holding non-zero data in the log's files,
    /// over the entries written (preallocated, never written space is not counted).
    pub disk_bytes_per_entry: Option<f64>,
    /// Bytes of log data the recovery scanned (recovery row only).
    pub log_bytes: Option<u64>,
    /// Peak resident memory of the worker process, in KiB (`VmHWM`).
    pub peak_rss_kib: Option<u64>,
    /// Anonymous memory (`RssAnon`: heap, not the page cache or mapped files) the process
    /// gained while appending, per entry (index-memory workload).
    #[serde(default)]
    pub memory_bytes_per_entry: Option<f64>,
    /// The backend actually in use, when it is not the one asked for.
    pub fallback: Option<String>,
    /// How this system ran the workload, when it differs from the plain reading.
    pub note: Option<String>,
}

impl Measurement {
    /// Entries per second.
    pub fn rate(&self) -> f64 {
        self.entries as f64 / self.elapsed_s.max(1e-9)
    }

    /// Calls per second (batches per second for the batch workload).
    pub fn call_rate(&self) -> f64 {
        self.calls.unwrap_or(self.entries) as f64 / self.elapsed_s.max(1e-9)
    }

    /// Payload megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.payload_bytes as f64 / 1e6 / self.elapsed_s.max(1e-9)
    }

    /// Log megabytes scanned per second (recovery), if known.
    pub fn log_mb_per_s(&self) -> Option<f64> {
        self.log_bytes
            .map(|b| b as f64 / 1e6 / self.elapsed_s.max(1e-9))
    }
}
