//! The kill -9 crash loop: a child process appends and reports every acknowledged entry;
//! the parent kills it with SIGKILL at a random moment, reopens the log and checks that
//! every acknowledged entry is there, intact.
//!
//! The child is the `wal-crash` binary of this crate (`wal-crash child DIR MODE SEED`);
//! [`run_loop`] is the parent, used by this crate's tests and by `cargo xtask crash`.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal::{FsyncSchedule, Wal};

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
}

impl FromStr for ChildMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "each" => Ok(Self::SyncEach),
            "pipelined" => Ok(Self::Pipelined),
            "batches" => Ok(Self::Batches),
            other => Err(format!("unknown mode {other:?} (each, pipelined, batches)")),
        }
    }
}

impl ChildMode {
    fn arg(self) -> &'static str {
        match self {
            Self::SyncEach => "each",
            Self::Pipelined => "pipelined",
            Self::Batches => "batches",
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
        ChildMode::SyncEach | ChildMode::Batches => FsyncSchedule::SyncEach,
    };
    let wal = Arc::new(
        Wal::builder()
            .dir(dir)
            .fsync(schedule)
            .segment_size(256 << 10)
            .open()?,
    );
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
    let mut out = io::stdout().lock();
    // The parent treats a missing line as "not acknowledged", which is always safe.
    if writeln!(out, "ack {topic} {offset}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(3);
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
            ChildMode::Batches => {
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
    let mut summary = LoopSummary::default();
    let mut rng = opts.seed | 1;
    let modes = [
        ChildMode::SyncEach,
        ChildMode::Pipelined,
        ChildMode::Batches,
    ];
    for round in 0..opts.rounds {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mode = modes[round as usize % modes.len()];
        let delay = Duration::from_micros(2_000 + rng % opts.max_delay.as_micros().max(1) as u64);
        let (acked, lines) = run_round(opts, mode, delay)?;
        summary.acks += lines;
        check(&opts.dir, &acked, round, &mut summary)?;
        summary.rounds += 1;
    }
    Ok(summary)
}

/// One round: start the child, kill it after `delay`, return the highest acknowledged
/// offset per topic and the number of acknowledgements.
fn run_round(
    opts: &LoopOptions,
    mode: ChildMode,
    delay: Duration,
) -> io::Result<(Vec<Option<u64>>, u64)> {
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
        let mut acked: Vec<Option<u64>> = vec![None; 4];
        let mut lines = 0;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            lines += 1;
            let mut parts = line.split(' ').skip(1).map(|p| p.parse::<u64>());
            if let (Some(Ok(t)), Some(Ok(o))) = (parts.next(), parts.next()) {
                let slot = &mut acked[t as usize];
                *slot = Some(slot.map_or(o, |prev| prev.max(o)));
            }
        }
        (acked, lines)
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

/// Reopens the log and checks every acknowledged entry.
fn check(
    dir: &Path,
    acked: &[Option<u64>],
    round: u32,
    summary: &mut LoopSummary,
) -> io::Result<()> {
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
        let entries = wal
            .batch_read_for_topic(&name, usize::MAX, false)
            .map_err(|e| io::Error::other(format!("round {round}: reading {name}: {e}")))?;
        for (i, e) in entries.iter().enumerate() {
            if e.offset != i as u64 || e.data != payload(t as u64, e.offset) {
                summary.violations.push(format!(
                    "round {round}: {name} entry {i} is damaged or out of place"
                ));
                break;
            }
        }
    }
    wal.close().map_err(|e| io::Error::other(e.to_string()))
}
