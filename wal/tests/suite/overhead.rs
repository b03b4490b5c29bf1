//! On-disk overhead per entry: at most 32 bytes beyond the payload.
//!
//! Segment files are preallocated at full size and zero beyond their data, so the bytes a
//! log uses are, per segment, the position just after its last non-zero byte. The fixed
//! cost (segment header, topic definition, close mark) is measured on a log with no
//! entries and subtracted.

use super::common;

use std::path::Path;

use common::{builder, total_used_bytes};

const N: u64 = 10_000;

/// Entry `i` of `len` bytes, with no zero byte (so that the last byte of the data is never
/// mistaken for free space).
fn entry(i: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| 1 + ((i as usize + k) % 255) as u8)
        .collect()
}

/// Writes `n` entries of `len` bytes to one topic, closes the log and returns the bytes
/// its segments use.
fn used_after(dir: &Path, n: u64, len: usize) -> u64 {
    let wal = builder(dir).open().unwrap();
    for i in 0..n {
        assert_eq!(wal.append_for_topic("t", &entry(i, len)).unwrap(), i);
    }
    wal.close().unwrap();
    total_used_bytes(dir)
}

/// Returns the measured bytes per entry, and checks the entries are all there.
fn bytes_per_entry(len: usize) -> f64 {
    let empty = tempfile::tempdir().unwrap();
    let full = tempfile::tempdir().unwrap();
    let baseline = used_after(empty.path(), 0, len);
    let used = used_after(full.path(), N, len);
    assert!(baseline > 0 && used > baseline, "{baseline} {used}");

    let wal = builder(full.path()).open().unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), N);
    let first = wal.read_next("t", false).unwrap().unwrap();
    assert_eq!((first.offset, first.data), (0, entry(0, len)));
    (used - baseline) as f64 / N as f64
}

#[test]
fn overhead_of_100_byte_entries_is_at_most_32_bytes() {
    let per_entry = bytes_per_entry(100);
    let overhead = per_entry - 100.0;
    assert!(
        overhead <= 32.0,
        "{per_entry} bytes per 100-byte entry: {overhead} bytes of overhead"
    );
    // Not less than the payload either: the measurement would be wrong.
    assert!(overhead >= 0.0, "{per_entry}");
}

#[test]
fn overhead_of_256_byte_entries_is_at_most_32_bytes() {
    let per_entry = bytes_per_entry(256);
    assert!(
        per_entry <= 288.0,
        "{per_entry} bytes per 256-byte entry (budget 288)"
    );
    assert!(per_entry >= 256.0, "{per_entry}");
}
