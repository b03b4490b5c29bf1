//! Findings of the fuzzer, each replayed as a fixed list of mutations of the source log.
//! Positions are derived from the source log's bytes (and the derivation is checked), so
//! the tests keep hitting their spot if the source log changes.

use std::sync::Arc;
use std::time::Duration;

use wal::RecoveryMode;
use wal_core::format::{
    decode_record, record_size, RecordKind, FLAG_BATCH, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use wal_testkit::mutate::{CountingBackend, Fill, HostileLen, Mutation, Seg};

use crate::oracle::{open_and_read, run_case, summary, Content, Expected, DEADLINE};
use crate::source::{scratch_root, source, CONSUMER, SEGMENT_SIZE};

/// The records of segment file `name` of the source log: (position, payload length).
fn records(name: &str) -> Vec<(usize, usize)> {
    let bytes = source().file(name);
    let id: u64 = name.trim_end_matches(".wal").parse().unwrap();
    let mut pos = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while let Ok((h, _)) = decode_record(&bytes[pos.min(bytes.len())..], id) {
        out.push((pos, h.len as usize));
        pos += record_size(h.len as usize);
    }
    out
}

/// Where the records of the source log's last segment end (after its sync mark).
fn data_end_of_last() -> u64 {
    let names = source().segment_names();
    let (pos, len) = *records(names[names.len() - 1]).last().unwrap();
    (pos + record_size(len)) as u64
}

/// The entries of the source log, nothing appended.
fn expected() -> Expected<'static> {
    Expected {
        src: source(),
        appended: &[],
    }
}

/// What the undamaged source log holds, read back through a Strict open.
fn undamaged_content() -> Content {
    let dir = tempfile::tempdir_in(scratch_root()).unwrap();
    source().materialize(dir.path());
    let backend = Arc::new(CountingBackend::new(Arc::new(wal::StdBackend::default())));
    open_and_read(dir.path(), backend, RecoveryMode::Strict, expected())
        .unwrap()
        .unwrap()
}

/// Opens a copy of the source log damaged by `mutations` in `mode`.
fn open_damaged(mutations: &[Mutation], mode: RecoveryMode) -> Result<Content, wal::Error> {
    let dir = tempfile::tempdir_in(scratch_root()).unwrap();
    source().materialize(dir.path());
    wal_testkit::mutate::apply_all(dir.path(), mutations).unwrap();
    let backend = Arc::new(CountingBackend::new(Arc::new(wal::StdBackend::default())));
    open_and_read(dir.path(), backend, mode, expected()).unwrap()
}

/// Defect 4: a segment cut inside the padding of a record (so its length is not a
/// multiple of 8) panicked recovery and `inspect` ("range start index 96 out of range for
/// slice of length 89"). Cut each way: the last segment (a torn tail) and the first.
#[test]
fn defect_4_segment_length_not_a_multiple_of_8() {
    let names = source().segment_names();
    for (seg, name) in [(Seg::Last, names[names.len() - 1]), (Seg::Nth(0), names[0])] {
        let (pos, len) = *records(name)
            .iter()
            .rev()
            .find(|(_, len)| !(RECORD_HEADER_LEN + len).is_multiple_of(8))
            .expect("a record with padding");
        let to = (pos + RECORD_HEADER_LEN + len) as u64;
        assert_ne!(to % 8, 0);
        run_case(source(), &[Mutation::Truncate { seg, to }], DEADLINE).unwrap();
    }
}

/// Defect 7: every 8-byte position of a region can look like a record header whose
/// length reaches far ahead; a scan that checksums each candidate is quadratic (hours for
/// the 4 MiB here). A linear scan takes well under a second, so the deadline only catches
/// the quadratic one.
#[test]
fn defect_7_hostile_headers_scan_in_linear_time() {
    let region = 4u64 << 20;
    for kind in [1, 3] {
        let mutations = [
            Mutation::Extend {
                seg: Seg::Last,
                by: region,
                fill: Fill::Zeros,
            },
            Mutation::HostileHeaders {
                seg: Seg::Last,
                at: SEGMENT_SIZE,
                count: (region / 8) as u32,
                stride: 1,
                kind,
                flags: 0,
                len: HostileLen::Fixed((region / 2) as u32),
            },
        ];
        run_case(source(), &mutations, DEADLINE).unwrap();
    }
}

/// Defect 8: recovery and `inspect` read a whole segment file at once, whatever its size:
/// a 2 GiB sparse file took 2 GiB of memory. Reads must stay within a constant. The sparse
/// extension is 256 MiB, sixteen times the bound: larger would only cost CI time, since
/// even a streaming recovery must scan the zeros (about 3 s per GiB per open in a debug
/// build).
#[test]
fn defect_8_memory_does_not_follow_file_size() {
    for seg in [Seg::Last, Seg::Nth(1)] {
        let mutations = [Mutation::Extend {
            seg,
            by: 256 << 20,
            fill: Fill::Zeros,
        }];
        run_case(source(), &mutations, Duration::from_secs(120)).unwrap();
    }
}

/// Defect 3: power loss after a rollover lost the new segment's header page while a later
/// page of it survived. Nothing in that segment was acknowledged (its sync would have
/// covered the header), so it is a torn tail: both modes open, with every entry of the
/// earlier segments. Here the new segment is a copy of the last one under the next id
/// (its records fail their checksums there, as never-synced debris would) with its first
/// page zeroed, and a second page holding debris and a valid record written before any
/// sync (`synced` 0).
#[test]
fn defect_3_lost_header_page_of_a_new_segment() {
    let mutations = [
        Mutation::DuplicateAsNext {
            seg: Seg::Last,
            fix_header: true,
        },
        Mutation::Garbage {
            seg: Seg::Last,
            at: 4096,
            len: 200,
            seed: 3,
        },
        Mutation::Forge {
            seg: Seg::Last,
            at: 4096 + 256,
            kind: RecordKind::SyncMark,
            flags: 0,
            topic: 0,
            offset: 0,
            synced: 0,
            payload: Vec::new(),
        },
        Mutation::Zero {
            seg: Seg::Last,
            at: 0,
            len: 4096,
        },
    ];
    let expected = undamaged_content();
    for mode in [RecoveryMode::Strict, RecoveryMode::PointInTime] {
        let got = open_damaged(&mutations, mode)
            .unwrap_or_else(|e| panic!("{mode:?} refuses a log with a torn new segment: {e}"));
        assert!(
            got == expected,
            "{mode:?} lost entries: {} instead of {}",
            summary(&got),
            summary(&expected)
        );
    }
    run_case(source(), &mutations, DEADLINE).unwrap();
}

/// Defect 10 (flags on records that are not entries), found by the fuzzer: a valid
/// Truncate record of topic id 0 carrying the batch flag, alone in the last segment. The
/// scan takes it for an unfinished batch and cuts it as a torn tail, but it was applied
/// already: the opened log hides entry 0 of that topic, and a reopen (the record is gone
/// from the disk) shows it again. (A Cursor with the flag is applied and cut the same way,
/// but the re-declaration of the cut preamble then persists its effect, so no reader sees
/// two different states.)
#[test]
fn defect_10_batch_flag_on_a_record_that_is_not_an_entry() {
    // The segment header, then the forged record alone.
    let to = (SEGMENT_HEADER_LEN + record_size(0)) as u64;
    let mutations = [
        Mutation::Forge {
            seg: Seg::Last,
            at: 0,
            kind: RecordKind::Truncate,
            flags: FLAG_BATCH,
            topic: 0,
            offset: 1,
            synced: 0,
            payload: Vec::new(),
        },
        Mutation::Truncate { seg: Seg::Last, to },
    ];
    run_case(source(), &mutations, DEADLINE).unwrap();
}

/// Found by the fuzzer (not in the list): a Cursor record past its topic's end is
/// accepted, and recovery clamps the cursor to the end only after the last segment, in
/// memory. Entries appended after the open then lie below the stale value on disk, so
/// after a reopen the consumer has skipped them: `reader` is at the end after recovery,
/// one entry is appended, and the reopened log has `reader` past it, though it was never
/// read. (A Truncate past the end is safe: replay clamps it where it stands.) The writer
/// never puts a cursor past the end, so replay could refuse it as damage, or clamp it where
/// it stands as it does a Truncate.
#[test]
fn finding_cursor_past_the_end_skips_entries_appended_after_recovery() {
    // A cursor of `reader` (topic id 0 is `beta`) far past the end, after the last
    // segment's sync mark, so that it is applied, not cut.
    let mutations = [Mutation::Forge {
        seg: Seg::Last,
        at: data_end_of_last(),
        kind: RecordKind::Cursor,
        flags: 0,
        topic: 0,
        offset: 1_000_000,
        synced: 0,
        payload: CONSUMER.as_bytes().to_vec(),
    }];
    run_case(source(), &mutations, DEADLINE).unwrap();
}

/// Found by CI's fuzz run (seed 1795991579394477617): a last segment one byte longer than
/// the scan's 1 MiB window, zeros but for hostile headers at its start, was read six times
/// over by a `PointInTime` open (6.5 MB for 1.1 MB of segments; the bound is 4×). The walk
/// read the header twice, checked "never written" from a window that missed the header's,
/// and recovery looked for the end of the damage again after the scan had found it. Each
/// byte of the last segment is now read a bounded number of times.
#[test]
fn finding_a_segment_just_over_the_read_window_is_read_a_bounded_number_of_times() {
    let mutations = [
        Mutation::Extend {
            seg: Seg::Last,
            by: (1 << 20) + 1 - SEGMENT_SIZE,
            fill: Fill::Zeros,
        },
        Mutation::HostileHeaders {
            seg: Seg::Last,
            at: 0,
            count: 1441,
            stride: 1,
            kind: 1,
            flags: 0,
            len: HostileLen::Fixed(2911),
        },
    ];
    run_case(source(), &mutations, DEADLINE).unwrap();
}
