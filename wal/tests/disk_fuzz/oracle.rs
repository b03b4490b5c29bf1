//! One case: damage two copies of the source log the same way, then run `wal::inspect`,
//! a `Strict` open and a `PointInTime` open (and a `Strict` reopen after it), checking
//! every property the harness promises. A case runs on a worker thread with a deadline,
//! so that a panic or a hang is a failure that names the mutations.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use wal::{Entry, Error, RecoveryMode, Wal};
use wal_testkit::mutate::{apply_all, segment_files, CountingBackend, Mutation};

use crate::source::{scratch_root, Source, CONSUMER, TOPICS};

/// The largest single read recovery, `inspect` and reads may make: a constant, whatever
/// the size of a file. Recovery is meant to stream in chunks of a few MiB.
pub const MAX_SINGLE_READ: u64 = 16 << 20;
/// Reading may take at most this many times the bytes of the segment files (plus
/// [`READ_SLACK`]) per open, or per `inspect`, with everything read back: linear, with room
/// for a scan, a zero check and the reads of the entries.
pub const READ_FACTOR: u64 = 4;
/// Constant allowance on top of [`READ_FACTOR`].
pub const READ_SLACK: u64 = 1 << 20;
/// How long one case may take in a debug build before it counts as a hang.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// What happened in a case that passed, for the run's tally.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Cases in which `Strict` opened the log.
    pub strict_opened: u64,
    /// Cases in which `Strict` opened it with fewer entries than the undamaged log: damage
    /// it could not tell from a torn tail or from a log that ends earlier (a deleted last
    /// segment, a cut file). Counted, not judged.
    pub strict_lost_entries: u64,
    /// Cases in which `Strict` refused it.
    pub strict_refused: u64,
    /// Cases in which `PointInTime` opened it.
    pub pit_opened: u64,
    /// Cases in which `PointInTime` opened it with fewer entries than the undamaged log.
    pub pit_lost_entries: u64,
    /// Entries read back and checked.
    pub entries_checked: u64,
}

impl Tally {
    /// Adds another tally to this one.
    pub fn add(&mut self, o: &Tally) {
        self.strict_opened += o.strict_opened;
        self.strict_lost_entries += o.strict_lost_entries;
        self.strict_refused += o.strict_refused;
        self.pit_opened += o.pit_opened;
        self.pit_lost_entries += o.pit_lost_entries;
        self.entries_checked += o.entries_checked;
    }
}

enum Msg {
    Applied(Vec<String>),
    Done(Result<Tally, String>),
}

/// Runs one case, `mutations` of `src`, on a worker thread. `Err` describes the failure
/// (a broken property, a panic or a hang) with the mutations, as drawn and as applied.
pub fn run_case(
    src: &'static Source,
    mutations: &[Mutation],
    deadline: Duration,
) -> Result<Tally, String> {
    let (tx, rx) = mpsc::channel();
    let muts = mutations.to_vec();
    let worker = std::thread::Builder::new()
        .name("disk-fuzz-case".into())
        .spawn(move || {
            let result = check(src, &muts, &|applied| {
                tx.send(Msg::Applied(applied)).ok();
            });
            tx.send(Msg::Done(result)).ok();
        })
        .expect("spawn a case thread");
    let mut applied = Vec::new();
    let fail = |applied: &[String], what: String| {
        let mut s = format!(
            "{what}\n  source log: {}\n  mutations: {mutations:?}\n  applied:",
            src.name
        );
        for a in applied {
            s.push_str(&format!("\n    - {a}"));
        }
        Err(s)
    };
    let started = std::time::Instant::now();
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(Msg::Applied(a)) => applied = a,
            Ok(Msg::Done(Ok(tally))) => {
                worker.join().expect("the case thread ended");
                return Ok(tally);
            }
            Ok(Msg::Done(Err(problem))) => {
                worker.join().expect("the case thread ended");
                return fail(&applied, problem);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The thread is left running: there is no way to stop it, and the test fails.
                return fail(
                    &applied,
                    format!("HANG: the case did not finish in {deadline:?}"),
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let payload = worker.join().expect_err("the case thread panicked");
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(not a string)".into());
                return fail(&applied, format!("PANIC: {msg}"));
            }
        }
    }
}

/// What a log returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Every topic's entries.
    pub topics: BTreeMap<String, Vec<Entry>>,
    /// The position of the named consumer (created at the first offset if recovery lost
    /// it).
    pub reader: u64,
}

/// What a log may return: the source's entries, and entries appended since it was copied.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The source log.
    pub src: &'a Source,
    /// Entries appended to the damaged copy: (topic, offset, data).
    pub appended: &'a [(String, u64, Vec<u8>)],
}

impl Expected<'_> {
    fn knows_topic(&self, topic: &str) -> bool {
        self.src.written.contains_key(topic) || self.appended.iter().any(|(t, ..)| t == topic)
    }

    /// `Ok` if `data` is exactly entry `offset` of `topic` as written.
    fn check_entry(&self, topic: &str, offset: u64, data: &[u8]) -> Result<(), String> {
        let appended = self
            .appended
            .iter()
            .find(|(t, o, _)| t == topic && *o == offset)
            .map(|(.., d)| d.as_slice());
        match appended.or_else(|| self.src.entry(topic, offset)) {
            Some(w) if w == data => Ok(()),
            Some(w) => Err(format!(
                "entry {offset} of {topic:?} reads back as {} bytes that differ from the {} \
                 bytes written",
                data.len(),
                w.len()
            )),
            None => Err(format!(
                "entry {offset} of {topic:?} ({} bytes) was never written",
                data.len()
            )),
        }
    }
}

fn check(
    src: &'static Source,
    mutations: &[Mutation],
    report_applied: &dyn Fn(Vec<String>),
) -> Result<Tally, String> {
    let make = || -> Result<(tempfile::TempDir, Vec<String>), String> {
        let dir = tempfile::tempdir_in(scratch_root()).map_err(|e| e.to_string())?;
        src.materialize(dir.path());
        let applied = apply_all(dir.path(), mutations).map_err(|e| format!("mutate: {e}"))?;
        Ok((dir, applied))
    };
    // Two copies damaged alike: `Strict` recovery may repair a torn tail in place, and
    // `PointInTime` must see the damage as the mutations left it.
    let (strict_dir, applied) = make()?;
    report_applied(applied);
    let (pit_dir, _) = make()?;
    let expected = Expected { src, appended: &[] };
    let mut tally = Tally::default();

    let inspected = measured(
        "inspect",
        strict_dir.path(),
        |backend| match wal::inspect::inspect(strict_dir.path(), &*backend) {
            Ok(ins) => {
                check_inspection(&ins, &backend, expected)?;
                Ok(Ok(ins.is_damaged()))
            }
            Err(e) => Ok(Err(e)),
        },
    )?;

    let strict = measured("Strict open", strict_dir.path(), |backend| {
        open_and_read(strict_dir.path(), backend, RecoveryMode::Strict, expected)
    })?;
    match &strict {
        Ok(content) => {
            tally.strict_opened += 1;
            tally.entries_checked += count(content);
            if count(content) < src.retained {
                tally.strict_lost_entries += 1;
            }
        }
        Err(_) => tally.strict_refused += 1,
    }
    if let Ok(damaged) = inspected {
        if damaged == strict.is_ok() {
            return Err(format!(
                "inspect and Strict recovery disagree: inspect says damaged = {damaged}, \
                 Strict open gave {:?}",
                strict.as_ref().map(|_| "Ok")
            ));
        }
    }

    let pit = measured("PointInTime open", pit_dir.path(), |backend| {
        open_read_append(pit_dir.path(), backend, expected)
    })?;
    let Ok((mut content, appended)) = pit else {
        return Ok(tally);
    };
    tally.pit_opened += 1;
    tally.entries_checked += count(&content);
    if count(&content) < src.retained {
        tally.pit_lost_entries += 1;
    }
    // What PointInTime kept, with one entry appended to each topic, is a sound log: a
    // Strict reopen finds exactly that, and the consumer where it was.
    let after = Expected {
        src,
        appended: &appended,
    };
    let again = measured(
        "Strict reopen after PointInTime",
        pit_dir.path(),
        |backend| open_and_read(pit_dir.path(), backend, RecoveryMode::Strict, after),
    )?
    .map_err(|e| format!("PointInTime opened the log, but a Strict reopen fails: {e}"))?;
    for (topic, offset, data) in appended {
        content
            .topics
            .entry(topic)
            .or_default()
            .push(Entry { offset, data });
    }
    if again != content {
        return Err(format!(
            "a Strict reopen after PointInTime (and an append to each topic) reads other \
             content:\n  expected: {}\n  reopen:   {}",
            summary(&content),
            summary(&again)
        ));
    }
    // After a clean close, `wal verify` has nothing to report.
    let ins = wal::inspect::inspect(pit_dir.path(), &wal::StdBackend::default())
        .map_err(|e| format!("inspect fails on the recovered, closed log: {e}"))?;
    if !ins.is_clean() {
        let findings: Vec<_> = ins.segments.iter().map(|s| (s.id, &s.finding)).collect();
        return Err(format!(
            "inspect finds the recovered, closed log unclean: {findings:?}, missing segment \
             {:?}",
            ins.missing_segment
        ));
    }
    Ok(tally)
}

/// Runs `f` with a fresh counting backend over the std backend, then checks what it read
/// against the bounds. `f`'s own `Err` is a broken property.
fn measured<T>(
    what: &str,
    dir: &Path,
    f: impl FnOnce(Arc<CountingBackend>) -> Result<T, String>,
) -> Result<T, String> {
    let file_bytes: u64 = segment_files(dir)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let backend = Arc::new(CountingBackend::new(Arc::new(wal::StdBackend::default())));
    let out = f(backend.clone()).map_err(|e| format!("{what}: {e}"))?;
    let reads = backend.counts();
    if reads.largest > MAX_SINGLE_READ {
        return Err(format!(
            "{what}: one read of {} bytes (bound {MAX_SINGLE_READ}): memory follows file size",
            reads.largest
        ));
    }
    let bound = READ_FACTOR * file_bytes + READ_SLACK;
    if reads.total > bound {
        return Err(format!(
            "{what}: read {} bytes in {} calls for {file_bytes} bytes of segments (bound \
             {bound}): reading is not linear",
            reads.total, reads.calls
        ));
    }
    Ok(out)
}

/// Checks what `inspect` found: known topic and consumer names, and entries that are
/// exactly what was written.
fn check_inspection(
    ins: &wal::inspect::Inspection,
    backend: &CountingBackend,
    expected: Expected<'_>,
) -> Result<(), String> {
    for t in ins.topics() {
        if !expected.knows_topic(&t.name) {
            return Err(format!("inspect invents topic {:?}", t.name));
        }
        if let Some((c, _)) = t
            .cursors
            .iter()
            .find(|(c, _)| !c.is_empty() && c != CONSUMER)
        {
            return Err(format!(
                "inspect invents consumer {c:?} of topic {:?}",
                t.name
            ));
        }
        let entries = ins
            .entries(backend, &t.name, 0, usize::MAX)
            .map_err(|e| format!("inspect found topic {:?} but cannot read it: {e}", t.name))?;
        let mut next = None;
        for e in &entries {
            if next.is_some_and(|n| n != e.offset) {
                return Err(format!(
                    "inspect: entries of {:?} skip to {}",
                    t.name, e.offset
                ));
            }
            expected
                .check_entry(&t.name, e.offset, &e.data)
                .map_err(|m| format!("inspect: {m}"))?;
            next = Some(e.offset + 1);
        }
    }
    Ok(())
}

fn open(dir: &Path, backend: Arc<CountingBackend>, mode: RecoveryMode) -> Result<Wal, Error> {
    Wal::builder()
        .dir(dir)
        .custom_backend(backend)
        .recovery_mode(mode)
        .fsync(wal::FsyncSchedule::SyncEach)
        .segment_size(crate::source::SEGMENT_SIZE)
        .precreate_segments(false)
        .open()
}

/// Opens the log in `dir` in `mode` through `backend` and reads every topic back in full.
/// A refused open is `Ok(Err(_))`; content other than `expected` is `Err`.
pub fn open_and_read(
    dir: &Path,
    backend: Arc<CountingBackend>,
    mode: RecoveryMode,
    expected: Expected<'_>,
) -> Result<Result<Content, Error>, String> {
    let wal = match open(dir, backend, mode) {
        Ok(wal) => wal,
        Err(e) => return Ok(Err(e)),
    };
    let content = read_everything(&wal, expected)?;
    wal.close()
        .map_err(|e| format!("the log opened and read back, but close fails: {e}"))?;
    Ok(Ok(content))
}

/// Entries appended to a recovered log: (topic, offset, data).
type Appended = Vec<(String, u64, Vec<u8>)>;

/// Like [`open_and_read`] in `PointInTime` mode, then appends one entry to each topic of
/// the source (recreating a topic that recovery dropped): a recovered log takes appends,
/// right after the entries it kept.
fn open_read_append(
    dir: &Path,
    backend: Arc<CountingBackend>,
    expected: Expected<'_>,
) -> Result<Result<(Content, Appended), Error>, String> {
    let wal = match open(dir, backend, RecoveryMode::PointInTime) {
        Ok(wal) => wal,
        Err(e) => return Ok(Err(e)),
    };
    let content = read_everything(&wal, expected)?;
    let mut appended = Vec::new();
    for topic in TOPICS {
        let data = format!("appended to {topic} after recovery").into_bytes();
        let offset = wal
            .append_for_topic(topic, &data)
            .map_err(|e| format!("the recovered log refuses an append to {topic:?}: {e}"))?;
        if let Some(last) = content.topics.get(topic).and_then(|v| v.last()) {
            if offset != last.offset + 1 {
                return Err(format!(
                    "an append to {topic:?} after recovery gets offset {offset}, but the \
                     entries kept end at {}",
                    last.offset
                ));
            }
        }
        appended.push((topic.to_owned(), offset, data));
    }
    wal.close()
        .map_err(|e| format!("the log opened, read back and appended, but close fails: {e}"))?;
    Ok(Ok((content, appended)))
}

/// Every entry of every topic, through `read_from`, each checked against what was written.
/// Recovery checked every record it indexed and nothing changes the files meanwhile, so a
/// read that fails after a successful open is a failure too.
fn read_everything(wal: &Wal, expected: Expected<'_>) -> Result<Content, String> {
    let mut content = Content::default();
    for topic in wal.topics() {
        if !expected.knows_topic(&topic) {
            return Err(format!("the log invents topic {topic:?}"));
        }
        let mut entries = Vec::new();
        let mut offset = 0;
        loop {
            match wal.read_from(&topic, offset, usize::MAX) {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => {
                    for e in batch {
                        if e.offset != offset {
                            return Err(format!(
                                "read_from({topic:?}, ..) returns offset {} where {offset} was next",
                                e.offset
                            ));
                        }
                        expected.check_entry(&topic, e.offset, &e.data)?;
                        offset += 1;
                        entries.push(e);
                    }
                }
                Err(Error::OffsetReclaimed { oldest, .. }) if oldest > offset => offset = oldest,
                Err(e) => {
                    return Err(format!(
                        "the log opened, but read_from({topic:?}, {offset}, ..) fails: {e}"
                    ))
                }
            }
        }
        content.topics.insert(topic, entries);
    }
    content.reader = wal
        .consumer(TOPICS[1], CONSUMER)
        .map_err(|e| format!("the log opened, but its consumer cannot be had: {e}"))?
        .position();
    Ok(content)
}

fn count(content: &Content) -> u64 {
    content.topics.values().map(|v| v.len() as u64).sum()
}

/// Each topic's offset range, for a message.
pub fn summary(content: &Content) -> String {
    let topics: Vec<String> = content
        .topics
        .iter()
        .map(|(t, v)| match (v.first(), v.last()) {
            (Some(a), Some(b)) => format!("{t}: {}..={}", a.offset, b.offset),
            _ => format!("{t}: empty"),
        })
        .collect();
    format!("{}; {CONSUMER:?} at {}", topics.join(", "), content.reader)
}
