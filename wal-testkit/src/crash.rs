//! The kill -9 crash loop: a child process appends and reports every acknowledged entry;
//! the parent kills it with SIGKILL at a random moment, reopens the log and checks that
//! every acknowledged entry is there, intact.
//!
//! The child is the `wal-crash` binary of this crate (`wal-crash child DIR MODE`);
//! [`run_loop`] is the parent, used by this crate's tests and by `cargo xtask crash`.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal::{FsyncSchedule, ReadConsistency, Wal};

use crate::pattern;

/// How the child writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildMode {
    /// `SyncEach`: four threads append single entries; each return is an acknowledgement.
    SyncEach,
    /// `NoFsync`: two threads append without waiting and call `wait_durable` every 500
    /// entries; only entries covered by a returned `wait_durable` are acknowledged.
    Pipelined,
    /// `SyncEach` batch appends of 1 to 40 entries from two threads.
    Batches,
    /// One thread appends (`SyncEach`) to topic 3 while another consumes it with
    /// `read_next_blocking` under `StrictlyAtOnce`, printing `read 3 OFFSET` per entry.
    ConsumeStrict,
    /// The same under `AtLeastOnce { persist_every: CONSUME_PERSIST_EVERY }`.
    ConsumeAtLeastOnce,
}

/// `persist_every` of [`ChildMode::ConsumeAtLeastOnce`].
pub const CONSUME_PERSIST_EVERY: u32 = 5;
/// The topic the consuming modes write and read.
const CONSUMED_TOPIC: u64 = 3;

impl FromStr for ChildMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "each" => Ok(Self::SyncEach),
            "pipelined" => Ok(Self::Pipelined),
            "batches" => Ok(Self::Batches),
            "consume-strict" => Ok(Self::ConsumeStrict),
            "consume-at-least-once" => Ok(Self::ConsumeAtLeastOnce),
            other => Err(format!(
                "unknown mode {other:?} (each, pipelined, batches, consume-strict, consume-at-least-once)"
            )),
        }
    }
}

impl ChildMode {
    fn arg(self) -> &'static str {
        match self {
            Self::SyncEach => "each",
            Self::Pipelined => "pipelined",
            Self::Batches => "batches",
            Self::ConsumeStrict => "consume-strict",
            Self::ConsumeAtLeastOnce => "consume-at-least-once",
        }
    }
}

/// The payload of entry `offset` of topic number `topic`: a function of both alone, so a
/// checker knows what every entry must hold.
pub fn payload(topic: u64, offset: u64) -> Vec<u8> {
    let seed = topic.wrapping_mul(1_000_003).wrapping_add(offset);
    let len = 1 + (seed.wrapping_mul(2_654_435_761) % 300) as usize;
    pattern(seed, len)
}

fn topic_name(t: u64) -> String {
    format!("crash-{t}")
}

/// The child: opens the log in `dir`, appends until killed, prints `ack TOPIC OFFSET`
/// once the entry (and all before it in the topic) is acknowledged durable.
pub fn child(dir: &Path, mode: ChildMode) -> wal::Result<()> {
    let schedule = match mode {
        ChildMode::Pipelined => FsyncSchedule::NoFsync,
        _ => FsyncSchedule::SyncEach,
    };
    let consistency = match mode {
        ChildMode::ConsumeAtLeastOnce => ReadConsistency::AtLeastOnce {
            persist_every: CONSUME_PERSIST_EVERY,
        },
        _ => ReadConsistency::StrictlyAtOnce,
    };
    let wal = Arc::new(
        Wal::builder()
            .dir(dir)
            .fsync(schedule)
            .consistency(consistency)
            .segment_size(256 << 10)
            .open()?,
    );
    if matches!(
        mode,
        ChildMode::ConsumeStrict | ChildMode::ConsumeAtLeastOnce
    ) {
        let reader = {
            let wal = wal.clone();
            std::thread::spawn(move || consume(&wal))
        };
        child_thread(&wal, CONSUMED_TOPIC, ChildMode::SyncEach)?;
        return reader
            .join()
            .map_err(|_| wal::Error::Config("child thread panicked".into()))?;
    }
    let threads = if mode == ChildMode::SyncEach { 4 } else { 2 };
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || child_thread(&wal, t, mode))
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| wal::Error::Config("child thread panicked".into()))??;
    }
    Ok(())
}

fn ack(topic: u64, offset: u64) {
    report("ack", topic, offset);
}

fn report(what: &str, topic: u64, offset: u64) {
    let mut out = io::stdout().lock();
    // The parent treats a missing line as "not acknowledged", which is always safe.
    if writeln!(out, "{what} {topic} {offset}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(3);
    }
}

/// Consumes the consumed topic, reporting each delivered offset.
fn consume(wal: &Wal) -> wal::Result<()> {
    let name = topic_name(CONSUMED_TOPIC);
    loop {
        if let Some(e) = wal.read_next_blocking(&name, true, std::time::Duration::from_secs(5))? {
            report("read", CONSUMED_TOPIC, e.offset);
        }
    }
}

fn child_thread(wal: &Wal, topic: u64, mode: ChildMode) -> wal::Result<()> {
    let name = topic_name(topic);
    let mut next = wal.get_topic_entry_count(&name);
    loop {
        match mode {
            ChildMode::SyncEach => {
                let off = wal.append_for_topic(&name, &payload(topic, next))?;
                ack(topic, off);
                next = off + 1;
            }
            ChildMode::Pipelined => {
                let mut last = next;
                for _ in 0..500 {
                    last = wal.append_for_topic(&name, &payload(topic, next))?;
                    next = last + 1;
                }
                wal.wait_durable(&name, last)?;
                ack(topic, last);
            }
            ChildMode::Batches | ChildMode::ConsumeStrict | ChildMode::ConsumeAtLeastOnce => {
                let n = 1 + (next * 7 % 40);
                let data: Vec<Vec<u8>> = (next..next + n).map(|o| payload(topic, o)).collect();
                let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                let range = wal.batch_append_for_topic(&name, &refs)?;
                ack(topic, range.end - 1);
                next = range.end;
            }
        }
    }
}

/// Settings of a crash loop.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// The `wal-crash` binary.
    pub child_exe: PathBuf,
    /// The log directory (kept across rounds: each round recovers the previous one's log).
    pub dir: PathBuf,
    /// How many kills.
    pub rounds: u32,
    /// Seed of the kill delays; modes rotate through each, pipelined and batches.
    pub seed: u64,
    /// Longest wait before the kill.
    pub max_delay: Duration,
}

/// What a crash loop saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopSummary {
    /// Rounds run.
    pub rounds: u32,
    /// Acknowledgements received, all rounds.
    pub acks: u64,
    /// Deliveries the consuming children reported, all rounds.
    pub reads: u64,
    /// Entries in the log at the end.
    pub entries: u64,
    /// Entries present that were never acknowledged (appended, not yet confirmed when
    /// the child died): allowed.
    pub unacknowledged_survivors: u64,
    /// Problems found: acknowledged entries missing or damaged. Must stay empty.
    pub violations: Vec<String>,
}

/// Runs the crash loop.
pub fn run_loop(opts: &LoopOptions) -> io::Result<LoopSummary> {
    run_loop_with_progress(opts, &mut |_| {})
}

/// Runs the crash loop, calling `progress` with the summary so far after every round
/// (a round takes up to [`LoopOptions::max_delay`] plus a reopen, so a command line can
/// show that the loop is alive).
pub fn run_loop_with_progress(
    opts: &LoopOptions,
    progress: &mut dyn FnMut(&LoopSummary),
) -> io::Result<LoopSummary> {
    let mut summary = LoopSummary::default();
    let mut rng = opts.seed | 1;
    let modes = [
        ChildMode::SyncEach,
        ChildMode::Pipelined,
        ChildMode::Batches,
        ChildMode::ConsumeStrict,
        ChildMode::ConsumeAtLeastOnce,
    ];
    // The consumed topic's cursor as the last check found it.
    let mut cursor = 0;
    for round in 0..opts.rounds {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mode = modes[round as usize % modes.len()];
        let delay = Duration::from_micros(2_000 + rng % opts.max_delay.as_micros().max(1) as u64);
        let report = run_round(opts, mode, delay)?;
        summary.acks += report.acks;
        summary.reads += report.reads;
        let found = check(&opts.dir, &report.acked, round, &mut summary)?;
        check_cursor(mode, cursor, report.last_read, found, round, &mut summary);
        cursor = found;
        summary.rounds += 1;
        progress(&summary);
    }
    Ok(summary)
}

/// What the child reported in one round.
#[derive(Debug, Default)]
struct RoundReport {
    /// The highest acknowledged offset per topic.
    acked: Vec<Option<u64>>,
    /// The highest offset the consumer reported delivered.
    last_read: Option<u64>,
    acks: u64,
    reads: u64,
}

/// Checks the consumed topic's cursor after a kill: no entry delivered twice under
/// `StrictlyAtOnce`, at most `persist_every` again under `AtLeastOnce`, none skipped.
/// `before` is the cursor at the round's start, `found` after the kill. The child may have
/// been killed between a delivery and its report, so one unreported delivery is allowed.
fn check_cursor(
    mode: ChildMode,
    before: u64,
    last_read: Option<u64>,
    found: u64,
    round: u32,
    summary: &mut LoopSummary,
) {
    let redelivery = match mode {
        ChildMode::ConsumeStrict => 0,
        ChildMode::ConsumeAtLeastOnce => u64::from(CONSUME_PERSIST_EVERY),
        _ => {
            if found != before {
                summary.violations.push(format!(
                    "round {round}: the cursor moved from {before} to {found} with no consumer"
                ));
            }
            return;
        }
    };
    let delivered = last_read.map_or(before, |r| r + 1);
    let lowest = delivered.saturating_sub(redelivery).max(before);
    if found < lowest || found > delivered + 1 {
        summary.violations.push(format!(
            "round {round} ({mode:?}): cursor at {found} after the kill; delivered up to {delivered}, allowed {lowest}..={}",
            delivered + 1
        ));
    }
}

/// One round: start the child, kill it after `delay`, collect what it reported.
fn run_round(opts: &LoopOptions, mode: ChildMode, delay: Duration) -> io::Result<RoundReport> {
    let mut child = Command::new(&opts.child_exe)
        .args(["child".as_ref(), opts.dir.as_os_str(), mode.arg().as_ref()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut report = RoundReport {
            acked: vec![None; 4],
            ..RoundReport::default()
        };
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut parts = line.split(' ');
            let what = parts.next();
            let mut numbers = parts.map(|p| p.parse::<u64>());
            let (Some(Ok(t)), Some(Ok(o))) = (numbers.next(), numbers.next()) else {
                continue;
            };
            let slot = match what {
                Some("ack") => {
                    report.acks += 1;
                    &mut report.acked[t as usize]
                }
                Some("read") => {
                    report.reads += 1;
                    &mut report.last_read
                }
                _ => continue,
            };
            *slot = Some(slot.map_or(o, |prev| prev.max(o)));
        }
        report
    });
    let started = Instant::now();
    while started.elapsed() < delay {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "the child exited on its own: {status}"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill()?; // SIGKILL on unix
    child.wait()?;
    reader
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))
}

/// Reopens the log and checks every acknowledged entry; returns the consumed topic's
/// cursor.
fn check(
    dir: &Path,
    acked: &[Option<u64>],
    round: u32,
    summary: &mut LoopSummary,
) -> io::Result<u64> {
    let wal = Wal::builder()
        .dir(dir)
        .segment_size(256 << 10)
        .open()
        .map_err(|e| io::Error::other(format!("round {round}: reopening failed: {e}")))?;
    summary.entries = 0;
    summary.unacknowledged_survivors = 0;
    for (t, &acked) in acked.iter().enumerate() {
        let name = topic_name(t as u64);
        let count = wal.get_topic_entry_count(&name);
        summary.entries += count;
        if let Some(a) = acked {
            if count <= a {
                summary.violations.push(format!(
                    "round {round}: {name} has {count} entries, offset {a} was acknowledged"
                ));
            }
            summary.unacknowledged_survivors += count.saturating_sub(a + 1);
        }
        // Consumed segments may have been reclaimed: read from the oldest retained entry.
        let oldest = wal.oldest_offset(&name).unwrap_or(0);
        let entries = wal
            .read_from(&name, oldest, usize::MAX)
            .map_err(|e| io::Error::other(format!("round {round}: reading {name}: {e}")))?;
        for (i, e) in entries.iter().enumerate() {
            if e.offset != oldest + i as u64 || e.data != payload(t as u64, e.offset) {
                summary.violations.push(format!(
                    "round {round}: {name} entry {i} is damaged or out of place"
                ));
                break;
            }
        }
    }
    let consumed = topic_name(CONSUMED_TOPIC);
    let cursor = wal
        .read_next(&consumed, false)
        .map_err(|e| io::Error::other(format!("round {round}: peeking {consumed}: {e}")))?
        .map_or(wal.get_topic_entry_count(&consumed), |e| e.offset);
    wal.close().map_err(|e| io::Error::other(e.to_string()))?;
    Ok(cursor)
}
