//! Helpers shared by the tests of the `wal` binary: logs made with the library, damaged
//! on purpose, and the binary itself.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

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

/// The file name of segment `id`.
pub fn segment_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// The path of segment `id` in `dir`.
pub fn segment(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_name(id))
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

/// XORs the byte at `pos` of `path` with 0x20.
pub fn flip(path: &Path, pos: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[pos as usize] ^= 0x20;
    fs::write(path, &bytes).unwrap();
}

/// Overwrites `path` from `pos` on with `data`.
pub fn overwrite(path: &Path, pos: u64, data: &[u8]) {
    let mut bytes = fs::read(path).unwrap();
    bytes[pos as usize..pos as usize + data.len()].copy_from_slice(data);
    fs::write(path, &bytes).unwrap();
}

/// Every file in `dir` with its contents (the `LOCK` file aside), to prove a command
/// changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name() != "LOCK")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The names of the `*.damaged` files in `dir`, sorted.
pub fn damaged_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".damaged"))
        .collect();
    names.sort();
    names
}

/// Copies every regular file of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Standard output of a finished command, as text.
pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}
