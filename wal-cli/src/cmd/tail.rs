//! `wal tail`: follows a topic of a log another process may be writing.
//!
//! The library's `read_next_blocking` wakes readers inside the process that appends, and a
//! separate process cannot open the log while the writer holds its lock. So `tail` scans
//! the log once with [`wal::inspect`] to find where to start, then reads only what is
//! appended after its position ([`Follower`]), waking on file-system events.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use wal::inspect::{Finding, Inspection};

use crate::cli::{StartAt, TailArgs};
use crate::error::{CliError, CliResult, OK};
use crate::follow::{Flow, Follower, Seen};
use crate::logdir::{self, Diagnosis};
use crate::output;

/// Prints the topic's entries from the start asked for on, until interrupted, until
/// `--count` entries were printed, or (with `-e`) once it has caught up.
pub fn run(args: &TailArgs, progress: bool) -> CliResult {
    let ins = logdir::scan(&args.dir, progress)?;
    let diagnosis = Diagnosis::of(&ins);
    if diagnosis.damage.is_some() || diagnosis.unusable.is_some() {
        eprintln!(
            "wal: warning: {}; entries after it may not be shown",
            diagnosis.summary()
        );
    }
    let (seg, pos, next) = start_point(args, &ins)?;
    let mut follower = Follower::new(&args.dir, &args.topic, seg, pos, next);
    if !args.exit_at_end {
        eprintln!(
            "wal: following topic {:?} of {} from offset {next} (Ctrl-C to stop)",
            args.topic,
            args.dir.display(),
        );
    }
    let interval = Duration::from_millis(args.interval);
    let mut waker = Waker::new(&args.dir, interval, !args.exit_at_end && !args.no_watch);
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    let mut sink = |seen: Seen| -> CliResult<Flow> {
        match seen {
            Seen::Entry(e) => {
                writeln!(out, "{}", output::entry(&args.topic, &e, args.json))?;
                out.flush()?;
                printed += 1;
                if args.count.is_some_and(|n| printed >= n) {
                    return Ok(Flow::Stop);
                }
            }
            Seen::Gap { from, to } => eprintln!(
                "wal: warning: offsets {from}..{to} were reclaimed or truncated before they \
                 could be shown"
            ),
            Seen::Damage(what) => eprintln!("wal: warning: damage at {what}"),
            Seen::Truncated { from, to } => eprintln!(
                "wal: warning: offsets {from}..{to} were removed by a suffix truncation; the \
                 entries that follow replace them"
            ),
        }
        Ok(Flow::Continue)
    };
    loop {
        if follower.poll(&mut sink)? == Flow::Stop || args.exit_at_end {
            break;
        }
        waker.wait();
    }
    if args.debug_stats {
        let s = follower.stats();
        eprintln!(
            "wal: debug: read {} bytes in {} reads over {} looks; woken by {} file-system \
             events and {} timeouts; watching: {}",
            s.bytes,
            s.reads,
            s.looks,
            waker.by_event,
            waker.by_timeout,
            if waker.watching { "yes" } else { "no" }
        );
    }
    Ok(OK)
}

/// Where to start: a segment, a byte position in it, and the first offset to show.
fn start_point(args: &TailArgs, ins: &Inspection) -> CliResult<(u64, u64, u64)> {
    let topic = ins.topics().into_iter().find(|t| t.name == args.topic);
    let next = match (args.from, &topic) {
        (Some(StartAt::Offset(n)), _) => n,
        (Some(StartAt::Last(n)), Some(t)) => t.next_offset.saturating_sub(n).max(t.first_offset),
        (None, Some(t)) => t.next_offset,
        (_, None) => 0,
    };
    // The last segment holding data, and where its records end; a log with none (every
    // segment only made ahead of time) starts at its first segment.
    let last = ins
        .segments
        .iter()
        .rev()
        .find(|s| !matches!(s.finding, Finding::Unwritten | Finding::NotChecked) && s.data_end > 0)
        .or(ins.segments.first())
        .map_or((1, 0), |s| (s.id, s.data_end));
    Ok(match topic {
        // From the start of the segment holding the first entry to show: its definition
        // comes before it there, so the follower learns the topic's id on the way.
        Some(t) if next < t.next_offset => {
            let at = next.max(t.first_offset);
            let backend = logdir::backend();
            let first = ins
                .entries(&backend, &t.name, at, 1)
                .map_err(|e| CliError::Unusable(format!("reading topic {:?}: {e}", t.name)))?;
            let seg = first.first().map_or(last.0, |e| e.segment);
            (seg, 0, next)
        }
        // The last segment declares every topic that exists (its preamble, or the topic
        // was created in it): read it from its start.
        Some(_) => (last.0, 0, next),
        // A topic that does not exist yet is defined after the current end.
        None => (last.0, last.1, next),
    })
}

/// Waits for something to change in the log directory: a file-system event, or the
/// interval. Inotify reports no write made through a memory map (the mmap backend), so
/// the interval is kept even while events are watched.
struct Waker {
    rx: Receiver<()>,
    /// Dropping it stops the events.
    _watcher: Option<notify::RecommendedWatcher>,
    watching: bool,
    interval: Duration,
    by_event: u64,
    by_timeout: u64,
}

impl Waker {
    fn new(dir: &Path, interval: Duration, wanted: bool) -> Self {
        // One pending wake-up is enough: the follower reads everything new when it looks.
        let (tx, rx) = sync_channel(1);
        let mut watcher = None;
        if wanted {
            let handler = move |event: notify::Result<notify::Event>| {
                // Opening and reading files (the follower's own reads included) is not a
                // change; every other event, and an error, is a reason to look.
                if let Ok(e) = &event {
                    if matches!(e.kind, EventKind::Access(_)) {
                        return;
                    }
                }
                match tx.try_send(()) {
                    // Full: a wake-up is already pending. Disconnected: tail is ending.
                    Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
                }
            };
            match notify::recommended_watcher(handler)
                .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w))
            {
                Ok(w) => watcher = Some(w),
                Err(e) => eprintln!(
                    "wal: cannot watch {} for changes ({e}); looking every {} ms instead",
                    dir.display(),
                    interval.as_millis()
                ),
            }
        }
        Self {
            rx,
            watching: watcher.is_some(),
            _watcher: watcher,
            interval,
            by_event: 0,
            by_timeout: 0,
        }
    }

    /// Returns after an event or the interval, with pending events consumed.
    fn wait(&mut self) {
        match self.rx.recv_timeout(self.interval) {
            Ok(()) => self.by_event += 1,
            Err(RecvTimeoutError::Timeout) => self.by_timeout += 1,
            // No watcher: the interval is the only wake-up.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(self.interval);
                self.by_timeout += 1;
            }
        }
        while self.rx.try_recv().is_ok() {}
    }
}
