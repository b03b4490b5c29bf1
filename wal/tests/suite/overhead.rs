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
fn used_after(dir: &Path, n: u64, len: usize, segment_size: u64) -> u64 {
    let wal = builder(dir).segment_size(segment_size).open().unwrap();
    for i in 0..n {
        assert_eq!(wal.append_for_topic("t", &entry(i, len)).unwrap(), i);
    }
    wal.close().unwrap();
    total_used_bytes(dir)
}

/// Returns the measured bytes per entry, and checks the entries are all there.
fn bytes_per_entry(len: usize) -> f64 {
    bytes_per_entry_of(N, len, 64 << 20)
}

/// [`bytes_per_entry`] over `n` entries, in segments of `segment_size` bytes.
fn bytes_per_entry_of(n: u64, len: usize, segment_size: u64) -> f64 {
    let empty = tempfile::tempdir().unwrap();
    let full = tempfile::tempdir().unwrap();
    let baseline = used_after(empty.path(), 0, len, segment_size);
    let used = used_after(full.path(), n, len, segment_size);
    assert!(baseline > 0 && used > baseline, "{baseline} {used}");

    let wal = builder(full.path())
        .segment_size(segment_size)
        .open()
        .unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), n);
    let first = wal.read_next("t", false).unwrap().unwrap();
    assert_eq!((first.offset, first.data), (0, entry(0, len)));
    (used - baseline) as f64 / n as f64
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
    // The README: "a 256-byte entry takes 280 bytes" (a 24-byte header, no padding). The
    // baseline has no topic, so the topic's declaration adds a few bytes over all N.
    assert!((per_entry - 280.0).abs() < 0.01, "{per_entry}");
}

/// The README: "Per-entry overhead is at most 31 bytes": a 24-byte header and at most 7
/// bytes of padding to the next multiple of 8, which a 1-byte entry needs.
#[test]
fn overhead_of_1_byte_entries_is_31_bytes() {
    // 1,000 entries in one small segment: the topic's declaration adds a few hundredths
    // per entry.
    let per_entry = bytes_per_entry_of(1000, 1, 1 << 20);
    assert!((per_entry - 32.0).abs() < 0.1, "{per_entry}");
}
