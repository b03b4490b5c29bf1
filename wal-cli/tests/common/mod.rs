//! Helpers shared by the tests of the `wal` binary: logs made with the library, damaged
//! on purpose, and the binary itself.

// Each test binary uses a different subset of these helpers (and of the re-exports).
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use wal_testkit::logdir::{
    copy_dir, damaged_files, flip, overwrite, segment_name, segment_path, snapshot,
};

use wal::inspect::EntryInfo;
use wal::{FsyncSchedule, Wal, WalBuilder};

/// Small segments, so that logs roll over and stay cheap to scan.
pub const SEGMENT: u64 = 64 << 10;

/// The `wal` binary built by cargo for these tests.
pub fn wal() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_wal"))
}

/// The path of the binary, for tests that spawn it themselves.
pub fn wal_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_wal"))
}

/// A builder for a log in `dir` with small segments and every append durable.
pub fn builder(dir: &Path) -> WalBuilder {
    Wal::builder()
        .dir(dir)
        .backend(wal::Backend::Std)
        .segment_size(SEGMENT)
        .fsync(FsyncSchedule::SyncEach)
}

/// The payload of entry `i`: printable text.
pub fn payload(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

/// Appends `n` entries to topic `t` durably and drops the log as a crash would (no clean
/// close), so that the last record in the file is the last entry.
pub fn write_entries(dir: &Path, n: u64) {
    let wal = builder(dir).open().unwrap();
    for i in 0..n {
        assert_eq!(wal.append_for_topic("t", &payload(i)).unwrap(), i);
    }
    wal.sync().unwrap();
    wal.abandon();
}

/// Fills three segments with 15 entries of 10,000 bytes over topics `a` and `b`, and
/// closes the log.
pub fn fill_three_segments(dir: &Path) {
    let wal = builder(dir).fsync(FsyncSchedule::NoFsync).open().unwrap();
    for i in 0..15u64 {
        let topic = if i % 2 == 0 { "a" } else { "b" };
        wal.append_for_topic(topic, &vec![b'a' + i as u8; 10_000])
            .unwrap();
    }
    wal.close().unwrap();
    assert!(dir.join(segment_name(3)).exists());
}

/// The path of segment `id` in `dir`.
pub fn segment(dir: &Path, id: u64) -> PathBuf {
    segment_path(dir, id)
}

/// Every entry of `topic` that recovery would keep, with where it lives (read-only).
pub fn entries(dir: &Path, topic: &str) -> Vec<EntryInfo> {
    let backend = wal::StdBackend::default();
    let ins = wal::inspect::inspect(dir, &backend).unwrap();
    ins.entries(&backend, topic, 0, usize::MAX).unwrap()
}

/// Every topic with its entries, as recovery would keep them.
pub fn all_entries(dir: &Path) -> BTreeMap<String, Vec<EntryInfo>> {
    let backend = wal::StdBackend::default();
    let ins = wal::inspect::inspect(dir, &backend).unwrap();
    ins.topics()
        .into_iter()
        .map(|t| {
            let e = ins.entries(&backend, &t.name, 0, usize::MAX).unwrap();
            (t.name, e)
        })
        .collect()
}

/// Standard output of a finished command, as text.
pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The number of segment files in `dir`.
pub fn segment_files_count(dir: &Path) -> usize {
    wal_testkit::logdir::segment_files(dir).len()
}

/// Reads lines of a child's output on a thread, so that a test can wait with a bound.
pub fn line_reader(
    stream: impl std::io::Read + Send + 'static,
) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The bound on every wait for a child in these tests: a failure, not a measurement.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits for `child` to exit on its own (killing it and failing after [`PATIENCE`]).
pub fn wait_for_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
