//! Helpers for tests that look at or damage a log directory's files directly: segment
//! paths, the used part of a segment, byte edits, copies and snapshots.
//!
//! They panic on I/O errors (they are for tests). Segment names come from the engine
//! (`wal_core::segment`), so tests and the log never disagree about them.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use wal_core::segment::{parse_segment_file_name, segment_file_name};

/// The file name of segment `id` (`{id:020}.wal`).
pub fn segment_name(id: u64) -> String {
    segment_file_name(id)
}

/// The path of segment `id` in `dir`.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_file_name(id))
}

/// The segment files in `dir` (names the log would take as segments), in id order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .expect("list the log directory")
        .map(|e| e.expect("directory entry").path())
        .filter_map(|p| {
            let id = parse_segment_file_name(p.file_name()?.to_str()?)?;
            Some((id, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// The used part of a segment file: the position just after its last non-zero byte.
pub fn used_bytes(path: &Path) -> u64 {
    let bytes = fs::read(path).expect("read segment file");
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// XORs the byte at `pos` of `path` with 0x20.
pub fn flip(path: &Path, pos: u64) {
    let mut bytes = fs::read(path).expect("read file");
    bytes[pos as usize] ^= 0x20;
    fs::write(path, &bytes).expect("write file");
}

/// Overwrites `path` from `pos` on with `data`.
pub fn overwrite(path: &Path, pos: u64, data: &[u8]) {
    let mut bytes = fs::read(path).expect("read file");
    bytes[pos as usize..pos as usize + data.len()].copy_from_slice(data);
    fs::write(path, &bytes).expect("write file");
}

/// Zeroes `range` of `path`, as a lost page would leave it.
pub fn zero_range(path: &Path, range: Range<u64>) {
    overwrite(
        path,
        range.start,
        &vec![0u8; (range.end - range.start) as usize],
    );
}

/// Copies every regular file of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).expect("list directory") {
        let e = e.expect("directory entry");
        if e.file_type().expect("file type").is_file() {
            fs::copy(e.path(), to.join(e.file_name())).expect("copy file");
        }
    }
}

/// Every file in `dir` with its contents (the `LOCK` file aside), to prove that something
/// changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .expect("list directory")
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.file_type().expect("file type").is_file() && e.file_name() != "LOCK")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).expect("read file"))
        })
        .collect()
}

/// The names of the `*.damaged` files in `dir` (what recovery set aside), sorted.
pub fn damaged_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list directory")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".damaged"))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(segment_path(dir.path(), 2), [1, 2, 3, 0, 0]).unwrap();
        fs::write(segment_path(dir.path(), 1), [0u8; 4]).unwrap();
        fs::write(dir.path().join("x.wal.damaged"), b"d").unwrap();
        fs::write(dir.path().join("7.wal"), b"not a segment").unwrap();
        let files = segment_files(dir.path());
        assert_eq!(
            files,
            vec![segment_path(dir.path(), 1), segment_path(dir.path(), 2)]
        );
        assert_eq!(used_bytes(&files[1]), 3);
        flip(&files[1], 0);
        overwrite(&files[1], 3, &[9]);
        zero_range(&files[1], 1..2);
        assert_eq!(fs::read(&files[1]).unwrap(), [0x21, 0, 3, 9, 0]);
        assert_eq!(damaged_files(dir.path()), vec!["x.wal.damaged".to_string()]);
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        assert_eq!(snapshot(dir.path()), snapshot(copy.path()));
    }
}
