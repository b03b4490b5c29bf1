//! What a run does: its [`Setup`] (how the log is opened) and its [`Op`]s, and how the
//! campaign draws both from a seed.
//!
//! Operations name topics and positions abstractly (a topic index, a fraction of the
//! retained range), and the harness resolves them against the log as it is when the
//! operation runs. So any sequence is valid, which lets proptest shrink sequences freely.

use std::fmt;
use std::time::Duration;

use wal::{FsyncSchedule, ReadConsistency};

use super::rng::Rng;
use crate::faulty::CrashMode;

/// Topics the single-threaded operations use (`topic-0` .. `topic-2`).
pub const TOPICS: u8 = 3;
/// Named consumers per topic (`c0`, `c1`), beside the shared cursor.
pub const CONSUMERS: u8 = 2;

/// Which cursor of a topic a read goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reader {
    /// The topic's shared cursor (`Wal::read_next`, `Wal::batch_read_for_topic`).
    Shared,
    /// Named consumer `c{n}` (`Wal::consumer(topic, "c{n}")`), `n < CONSUMERS`.
    Named(u8),
}

impl Reader {
    /// The consumer's name (`None` for the shared cursor).
    pub fn name(self) -> Option<String> {
        match self {
            Self::Shared => None,
            Self::Named(n) => Some(format!("c{}", n % CONSUMERS)),
        }
    }

    fn random(rng: &mut Rng, mix: &Mix) -> Self {
        if !mix.consumers {
            return Self::Shared;
        }
        match rng.below(u64::from(CONSUMERS) + 1) {
            0 => Self::Shared,
            n => Self::Named(n as u8 - 1),
        }
    }
}

/// One step of a run. Topic numbers are taken modulo [`TOPICS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `append_for_topic` of `len` bytes (capped to what a segment holds).
    Append {
        /// Topic number.
        topic: u8,
        /// Payload length.
        len: u16,
    },
    /// `batch_append_for_topic` of `n` entries (at least 1) of about `len` bytes each.
    Batch {
        /// Topic number.
        topic: u8,
        /// Entries in the batch.
        n: u8,
        /// Length of the first entry; the others vary around it.
        len: u16,
    },
    /// `read_next` (or `Consumer::read_next`) through `reader`.
    Read {
        /// Topic number.
        topic: u8,
        /// Which cursor.
        reader: Reader,
        /// Consume (move the cursor) or peek.
        checkpoint: bool,
    },
    /// `batch_read_for_topic` (or `Consumer::batch_read`) of at most `max_bytes`.
    BatchRead {
        /// Topic number.
        topic: u8,
        /// Which cursor.
        reader: Reader,
        /// Payload budget.
        max_bytes: u16,
        /// Consume or peek.
        checkpoint: bool,
    },
    /// `read_from` at the point `at / 255` of the way from the oldest retained offset to
    /// the end (255: the end itself, which reads nothing).
    ReadFrom {
        /// Topic number.
        topic: u8,
        /// Where in the retained range.
        at: u8,
        /// Payload budget.
        max_bytes: u16,
    },
    /// `Wal::sync`.
    Sync,
    /// `wait_durable` on the topic's last entry.
    WaitDurable {
        /// Topic number.
        topic: u8,
    },
    /// `truncate_before` at the point `at / 255` of the retained range.
    TruncateBefore {
        /// Topic number.
        topic: u8,
        /// Where in the retained range.
        at: u8,
    },
    /// `truncate_from` at the point `at / 255` of the way from the oldest retained offset
    /// to the end (255: the end itself, which changes nothing).
    TruncateFrom {
        /// Topic number.
        topic: u8,
        /// Where in the retained range.
        at: u8,
    },
    /// `truncate_before` past the topic's end (its next offset + 1 + `skip`), so that the
    /// topic starts there; on a topic not created yet, a topic that starts there.
    StartAt {
        /// Topic number.
        topic: u8,
        /// Offsets skipped beyond the next one.
        skip: u8,
    },
    /// `set_meta` of key `k{key % 3}` to a fresh value of `len` bytes (at most 99).
    SetMeta {
        /// Topic number.
        topic: u8,
        /// Key number.
        key: u8,
        /// Value length.
        len: u16,
    },
    /// `on_durable`: a callback that tells the harness; when it says `Ok`, everything
    /// before it must survive any crash.
    OnDurable,
    /// `Wal::reclaim`.
    Reclaim,
    /// `writers` threads (1 to 3) append `appends` entries or batches each to topics
    /// `0..writers`, while, with `reader`, another thread consumes topic 0 through that
    /// cursor, and with `churn`, another reads every topic from its oldest entry
    /// (`read_from`) and calls `reclaim` in turn, so that reads hold segments while
    /// reclaim runs. All are joined before the next step.
    Concurrent {
        /// Appending threads.
        writers: u8,
        /// Appends per thread.
        appends: u8,
        /// The consuming thread's cursor, if there is one.
        reader: Option<Reader>,
        /// Whether a thread reads old entries and reclaims meanwhile.
        churn: bool,
    },
    /// A clean `close` (everything synced, cursors persisted), then open again.
    Reopen,
    /// A process crash (`Wal::abandon`) with no power loss: what reached the OS stays.
    Kill,
    /// Cuts the power after `after` more mutating backend calls (on any thread): every
    /// later call fails until the next crash. Crash points land inside whatever runs then.
    PowerOff {
        /// Mutating calls before the power goes off.
        after: u16,
    },
    /// A power loss: the process dies, then the disk loses what `mode` says.
    Crash(CrashMode),
    /// Arms one I/O failure: the `after + 1`th next call of its kind fails (for
    /// [`FaultKind::DiskFull`], the disk is full for `calls` mutating calls from the
    /// `after`th next one on). Until the next [`Op::Heal`] or restart, results are checked
    /// against what the failure may do: nothing, or poison the log, which must then refuse
    /// every write with `Error::Poisoned`.
    Fault {
        /// What fails.
        kind: FaultKind,
        /// Calls of that kind (mutating calls, for a full disk) that succeed first.
        after: u8,
        /// How many mutating calls a full disk lasts (other kinds ignore it).
        calls: u8,
    },
    /// Ends a fault armed by [`Op::Fault`]: what has not fired is disarmed, and the log is
    /// checked. A poisoned log must refuse `sync` with `Error::Poisoned` and still report
    /// what was durable before as durable; a log the fault left healthy must `sync`.
    Heal,
}

/// An I/O failure the campaign injects ([`Op::Fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A data sync (`sync`, `sync_range`) fails: the log is poisoned (fsyncgate), unless
    /// the sync was of a segment prepared ahead of time, which is dropped instead.
    Sync,
    /// A directory sync fails: the log is poisoned.
    DirSync,
    /// A write fails (an I/O error, not a full disk) and writes nothing: the log is
    /// poisoned, unless it was the header of a segment prepared ahead of time.
    Write,
    /// A write writes a prefix of its buffer, then fails: as [`FaultKind::Write`].
    ShortWrite,
    /// A removal of a file fails: a step failure, retried; the log stays healthy.
    Remove,
    /// The disk is full for a while: writes and creations fail with `StorageFull`,
    /// retried; the log stays healthy.
    DiskFull,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 6] = [
        Self::Sync,
        Self::DirSync,
        Self::Write,
        Self::ShortWrite,
        Self::Remove,
        Self::DiskFull,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::DirSync => "dir-sync",
            Self::Write => "write",
            Self::ShortWrite => "short-write",
            Self::Remove => "remove",
            Self::DiskFull => "disk-full",
        }
    }

    /// `true` if firing may poison the log; the others must leave it healthy.
    pub fn may_poison(self) -> bool {
        !matches!(self, Self::Remove | Self::DiskFull)
    }

    /// A random fault, firing soon (within the next few calls of its kind).
    pub(crate) fn random(rng: &mut Rng) -> Op {
        let kind = Self::ALL[rng.below(Self::ALL.len() as u64) as usize];
        // Directory syncs and removals are rare (one per segment): the next one or two.
        let after = match kind {
            Self::DirSync | Self::Remove => rng.below(2),
            _ => rng.below(12),
        } as u8;
        Op::Fault {
            kind,
            after,
            calls: rng.range(1, 40) as u8,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How much a retention policy keeps beyond what the cursors need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Nothing: segments go as soon as every cursor has passed them.
    None,
    /// `retain_bytes` of this many segments.
    Segments(u8),
    /// `retain_age` of an hour: in a run, nothing is ever reclaimed by age.
    AgeForever,
    /// `retain_age` of this many milliseconds.
    AgeMillis(u16),
}

/// How a run opens its log (every open of the run uses the same settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// Seed of the fault injector's random choices (torn bytes, kept prefixes, orders).
    pub fault_seed: u64,
    /// The fsync schedule.
    pub schedule: FsyncSchedule,
    /// The read consistency.
    pub consistency: ReadConsistency,
    /// Segment size: 4 to 16 KiB, so that rollovers and reclaims are constant.
    pub segment_size: u64,
    /// Retention policy.
    pub retention: Retention,
    /// Create the next segment ahead of time.
    pub precreate: bool,
    /// `write_buffer` in bytes.
    pub write_buffer: usize,
    /// `write_interval` (background writes under `SyncEach` and `NoFsync`).
    pub write_interval: Duration,
    /// `max_open_segments`.
    pub max_open_segments: usize,
}

impl Setup {
    /// The default settings for a seed: `SyncEach`, `StrictlyAtOnce`, 8 KiB segments.
    pub fn basic(fault_seed: u64) -> Self {
        Self {
            fault_seed,
            schedule: FsyncSchedule::SyncEach,
            consistency: ReadConsistency::StrictlyAtOnce,
            segment_size: 8 << 10,
            retention: Retention::None,
            precreate: true,
            write_buffer: 4 << 10,
            write_interval: Duration::from_secs(3600),
            max_open_segments: 64,
        }
    }

    pub(crate) fn random(rng: &mut Rng) -> Self {
        let schedule = match rng.below(4) {
            0 => FsyncSchedule::SyncEach,
            1 => FsyncSchedule::Milliseconds(3_600_000),
            2 => FsyncSchedule::Milliseconds(rng.range(2, 20)),
            _ => FsyncSchedule::NoFsync,
        };
        let consistency = if rng.chance(1, 2) {
            ReadConsistency::StrictlyAtOnce
        } else {
            ReadConsistency::AtLeastOnce {
                persist_every: rng.range(1, 5) as u32,
            }
        };
        let retention = match rng.below(6) {
            0 => Retention::Segments(rng.range(1, 4) as u8),
            1 => Retention::AgeForever,
            2 => Retention::AgeMillis(rng.range(1, 50) as u16),
            _ => Retention::None,
        };
        Self {
            fault_seed: rng.next_u64(),
            schedule,
            consistency,
            segment_size: [4 << 10, 8 << 10, 16 << 10][rng.below(3) as usize],
            retention,
            precreate: rng.chance(3, 4),
            write_buffer: [512, 4 << 10, 1 << 20][rng.below(3) as usize],
            write_interval: if rng.chance(1, 2) {
                Duration::from_millis(rng.range(1, 10))
            } else {
                Duration::from_secs(3600)
            },
            max_open_segments: [2, 3, 64][rng.below(3) as usize],
        }
    }
}

/// What a run's random operations favour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mix {
    /// Reads go through named consumers too (else only the shared cursor, so that
    /// retention is free to delete what the one reader of each topic has passed).
    pub consumers: bool,
    /// How many of the topics the single-threaded operations use (fewer topics, fewer
    /// cursors to pass before a segment can go).
    pub topics: u8,
    /// Reads are twice as likely as usual (readers keep up, so segments are reclaimed).
    pub drain: bool,
}

impl Mix {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        Self {
            consumers: rng.chance(1, 2),
            topics: rng.range(1, u64::from(TOPICS)) as u8,
            drain: rng.chance(1, 2),
        }
    }
}

impl Op {
    /// `true` for the operations that end the log instance (crash, kill, reopen).
    pub fn restarts(&self) -> bool {
        matches!(self, Self::Crash(_) | Self::Kill | Self::Reopen)
    }

    /// A random operation that is neither a crash nor a power cut.
    pub(crate) fn random(rng: &mut Rng, mix: &Mix) -> Self {
        let topic = rng.below(u64::from(mix.topics.clamp(1, TOPICS))) as u8;
        let reads = if mix.drain { 2 } else { 1 };
        let weights = [
            30,
            10,
            15 * reads,
            8 * reads,
            6,
            6,
            5,
            3,
            5,
            4,
            2,
            2,
            3,
            1,
            4,
            4,
        ];
        match rng.weighted(&weights) {
            0 => Self::Append {
                topic,
                len: if rng.chance(1, 10) {
                    rng.range(300, 2000) as u16
                } else {
                    rng.below(300) as u16
                },
            },
            1 => Self::Batch {
                topic,
                n: rng.range(2, 8) as u8,
                len: rng.below(200) as u16,
            },
            2 => Self::Read {
                topic,
                reader: Reader::random(rng, mix),
                checkpoint: rng.chance(4, 5),
            },
            3 => Self::BatchRead {
                topic,
                reader: Reader::random(rng, mix),
                // Now and then everything: so that cursors pass whole segments, and
                // retention deletes them.
                max_bytes: if rng.chance(1, 3) {
                    u16::MAX
                } else {
                    rng.below(1500) as u16
                },
                checkpoint: rng.chance(4, 5),
            },
            4 => Self::ReadFrom {
                topic,
                at: rng.below(256) as u8,
                max_bytes: rng.below(3000) as u16,
            },
            5 => Self::Sync,
            6 => Self::WaitDurable { topic },
            7 => Self::TruncateBefore {
                topic,
                at: rng.below(256) as u8,
            },
            8 => Self::Reclaim,
            9 => Self::Concurrent {
                writers: rng.range(1, u64::from(mix.topics.clamp(1, TOPICS))) as u8,
                appends: rng.range(3, 25) as u8,
                reader: rng.chance(2, 3).then(|| Reader::random(rng, mix)),
                churn: rng.chance(1, 2),
            },
            10 => Self::Reopen,
            11 => Self::Kill,
            12 => Self::TruncateFrom {
                topic,
                at: rng.below(256) as u8,
            },
            13 => Self::StartAt {
                topic,
                skip: rng.below(20) as u8,
            },
            14 => Self::SetMeta {
                topic,
                key: rng.below(3) as u8,
                // Short: three keys on three topics stay within the table every 4 KiB
                // segment repeats (half a segment).
                len: rng.below(100) as u16,
            },
            _ => Self::OnDurable,
        }
    }
}
