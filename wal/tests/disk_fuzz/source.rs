//! The log every case starts from: built once per test process through the public API,
//! then kept in memory (its files' bytes) with every entry it was given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wal::{FsyncSchedule, Wal};

/// Segment size of the source log: small, so that it has several segments and a case
/// copies and scans little.
pub const SEGMENT_SIZE: u64 = 8 << 10;
/// The topics written, in creation order.
pub const TOPICS: [&str; 3] = ["alpha", "beta", "gamma"];
/// The named consumer (of `beta`).
pub const CONSUMER: &str = "reader";

/// A written log: its files, and what was appended.
#[derive(Debug)]
pub struct Source {
    /// How it was written, for messages.
    pub name: &'static str,
    /// Every file of the directory, by name (segments, and the lock file).
    pub files: Vec<(String, Vec<u8>)>,
    /// Every entry appended, by topic, at its offset.
    pub written: BTreeMap<String, Vec<Vec<u8>>>,
    /// Entries the undamaged log holds (what was written, less what `truncate_before`
    /// dropped).
    pub retained: u64,
}

/// The source logs, built on first use: one closed cleanly (its last segment ends with a
/// sync mark, so damage before it is provably not a torn tail), one left as a crash
/// leaves it (no sync mark, and `synced` fields that lag behind, so more of the last
/// segment may be cut as a torn tail).
pub fn sources() -> &'static [Source; 2] {
    static SOURCES: OnceLock<[Source; 2]> = OnceLock::new();
    SOURCES.get_or_init(|| [build(Ending::Closed), build(Ending::Crashed)])
}

/// The source log closed cleanly, which the regression tests damage.
pub fn source() -> &'static Source {
    &sources()[0]
}

/// How a source log was written and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// `SyncEach`, then `close`.
    Closed,
    /// `NoFsync` with a `sync` every few appends and at the end, then `abandon`.
    Crashed,
}

impl Source {
    /// Writes the source log's files into `dir` (which exists and is empty).
    pub fn materialize(&self, dir: &Path) {
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes).expect("write a copy of the source log");
        }
    }

    /// The bytes of the source log's file `name`.
    pub fn file(&self, name: &str) -> &[u8] {
        let (_, bytes) = self
            .files
            .iter()
            .find(|(n, _)| n == name)
            .expect("a file of the source log");
        bytes
    }

    /// The names of the source log's segment files, in id order.
    pub fn segment_names(&self) -> Vec<&str> {
        self.files
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.ends_with(".wal"))
            .collect()
    }

    /// The entry `offset` of `topic`, if one was ever appended there.
    pub fn entry(&self, topic: &str, offset: u64) -> Option<&[u8]> {
        let entries = self.written.get(topic)?;
        entries
            .get(usize::try_from(offset).ok()?)
            .map(Vec::as_slice)
    }
}

/// Where cases make their directories: memory when the platform offers it (a case opens
/// the log three times, and each open syncs), else the temporary directory.
pub fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// A payload unique to (topic, offset), of a length that varies from 0 to 299 bytes.
fn payload(topic: usize, offset: u64) -> Vec<u8> {
    let len = ((offset * 37 + topic as u64 * 101) % 300) as usize;
    let mut d = wal_testkit::pattern(topic as u64 * 1_000_003 + offset, len);
    let tag = format!("{}#{offset}", TOPICS[topic]);
    let n = tag.len().min(len);
    d[..n].copy_from_slice(&tag.as_bytes()[..n]);
    d
}

/// Writes a source log: three topics, single appends and batches, a named consumer and
/// the shared cursor moved by checkpointed reads, a `truncate_before`, ended as `ending`
/// says. Every sync happens at a fixed point and no segment is made ahead of time, so the
/// files are the same on every run.
fn build(ending: Ending) -> Source {
    let dir = tempfile::tempdir_in(scratch_root()).expect("temp dir");
    let mut written: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let wal = Wal::builder()
        .dir(dir.path())
        .backend(wal::Backend::Std)
        .fsync(match ending {
            Ending::Closed => FsyncSchedule::SyncEach,
            Ending::Crashed => FsyncSchedule::NoFsync,
        })
        .segment_size(SEGMENT_SIZE)
        .precreate_segments(false)
        .open()
        .expect("open the source log");
    let consumer = wal.consumer(TOPICS[1], CONSUMER).expect("consumer");
    let mut append = |topic: usize, n: usize| {
        let name = TOPICS[topic];
        let list = written.entry(name.to_owned()).or_default();
        let next = list.len() as u64;
        let batch: Vec<Vec<u8>> = (0..n as u64).map(|i| payload(topic, next + i)).collect();
        if n == 1 {
            assert_eq!(wal.append_for_topic(name, &batch[0]).unwrap(), next);
        } else {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let got = wal.batch_append_for_topic(name, &refs).unwrap();
            assert_eq!(got, next..next + n as u64);
        }
        list.extend(batch);
    };
    for i in 0..240usize {
        let topic = (i * 7 + i / 5) % 3;
        append(topic, if i % 9 == 4 { 2 + i % 4 } else { 1 });
        if i % 17 == 3 {
            wal.read_next(TOPICS[0], true).unwrap().expect("an entry");
        }
        if i % 23 == 5 {
            consumer.read_next(true).unwrap().expect("an entry");
        }
        if i == 150 {
            wal.truncate_before(TOPICS[2], 12).unwrap();
        }
        if ending == Ending::Crashed && i % 10 == 9 {
            wal.sync().unwrap();
        }
    }
    drop(consumer);
    let retained = written
        .iter()
        .map(|(t, v)| v.len() as u64 - wal.oldest_offset(t).expect("a known topic"))
        .sum();
    match ending {
        Ending::Closed => wal.close().expect("close the source log"),
        Ending::Crashed => {
            wal.sync().expect("sync the source log");
            wal.abandon();
        }
    }

    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().expect("UTF-8 file name");
        files.push((name, std::fs::read(entry.path()).unwrap()));
    }
    files.sort();
    let segments = files.iter().filter(|(n, _)| n.ends_with(".wal")).count();
    assert!(
        segments >= 5,
        "the source log should span several segments, has {segments}"
    );
    Source {
        name: match ending {
            Ending::Closed => "closed",
            Ending::Crashed => "crashed",
        },
        files,
        written,
        retained,
    }
}
