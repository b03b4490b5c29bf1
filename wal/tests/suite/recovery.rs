//! Recovery: torn tails are cut at any byte, damage to durable data is reported with file
//! and offset (or tolerated under `RecoveryMode::PointInTime`), batches are all or nothing.

use super::common;
use wal_testkit::logdir::{copy_dir, damaged_files};

use std::fs;
use std::path::{Path, PathBuf};

use wal::{Error, FsyncSchedule, RecoveryMode, Wal, WalBuilder};
use wal_core::format::{decode_header, record_size, RecordKind, SEGMENT_HEADER_LEN};

const SEGMENT: u64 = 64 * 1024;

fn builder(dir: &Path) -> WalBuilder {
    common::builder_without_dir().dir(dir).segment_size(SEGMENT)
}

fn segment_path(dir: &Path) -> PathBuf {
    dir.join("00000000000000000001.wal")
}

/// (position, size, kind) of every record in a segment file.
fn records(path: &Path) -> Vec<(usize, usize, RecordKind)> {
    let buf = fs::read(path).unwrap();
    let mut pos = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while let Ok(h) = decode_header(&buf[pos..]) {
        let size = record_size(h.len as usize);
        out.push((pos, size, h.kind));
        pos += size;
    }
    out
}

fn entry_records(path: &Path) -> Vec<(usize, usize)> {
    records(path)
        .into_iter()
        .filter(|r| r.2 == RecordKind::Entry)
        .map(|(p, s, _)| (p, s))
        .collect()
}

fn payload(i: u64) -> Vec<u8> {
    (0..(i as usize * 7 + 5))
        .map(|j| (j as u64 * 31 + i) as u8)
        .collect()
}

/// Appends `n` entries durably (one sync each) and drops the log without a clean close,
/// so the last record in the file is the last entry.
fn write_entries(dir: &Path, schedule: FsyncSchedule, n: u64) {
    let wal = builder(dir).fsync(schedule).open().unwrap();
    for i in 0..n {
        assert_eq!(wal.append_for_topic("t", &payload(i)).unwrap(), i);
    }
    wal.sync().unwrap();
    wal.abandon();
}

fn read_all(wal: &Wal, topic: &str) -> Vec<wal::Entry> {
    wal.batch_read_for_topic(topic, usize::MAX, false).unwrap()
}

fn assert_entries(wal: &Wal, n: u64) {
    let got = read_all(wal, "t");
    assert_eq!(got.len() as u64, n);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.offset, i as u64);
        assert_eq!(e.data, payload(i as u64), "entry {i} damaged");
    }
}

#[test]
fn last_record_torn_at_every_byte_keeps_every_complete_record() {
    let src = tempfile::tempdir().unwrap();
    write_entries(src.path(), FsyncSchedule::SyncEach, 6);
    let entries = entry_records(&segment_path(src.path()));
    let (last_pos, last_size) = *entries.last().unwrap();
    let original = fs::read(segment_path(src.path())).unwrap();
    for cut in last_pos..last_pos + last_size {
        for garbage in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(src.path(), dir.path());
            let mut bytes = original.clone();
            for (k, b) in bytes[cut..last_pos + last_size + 64].iter_mut().enumerate() {
                *b = if garbage {
                    (k as u8).wrapping_mul(151).wrapping_add(7) | 1
                } else {
                    0
                };
            }
            fs::write(segment_path(dir.path()), &bytes).unwrap();
            let wal = builder(dir.path())
                .open()
                .unwrap_or_else(|e| panic!("cut at {cut} (garbage: {garbage}): {e}"));
            assert_entries(&wal, 5);
            // The log goes on from the cut: a new entry gets the next offset and survives.
            assert_eq!(wal.append_for_topic("t", &payload(5)).unwrap(), 5);
            wal.close().unwrap();
            let wal = builder(dir.path()).open().unwrap();
            assert_entries(&wal, 6);
        }
    }
}

#[test]
fn untouched_log_recovers_everything() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), FsyncSchedule::SyncEach, 6);
    let wal = builder(dir.path()).open().unwrap();
    assert_entries(&wal, 6);
}

fn flip_byte_in_entry(dir: &Path, index: usize, delta: usize) -> u64 {
    let path = segment_path(dir);
    let (pos, _) = entry_records(&path)[index];
    let mut bytes = fs::read(&path).unwrap();
    bytes[pos + delta] ^= 0x20;
    fs::write(&path, &bytes).unwrap();
    pos as u64
}

#[test]
fn flipped_byte_in_an_earlier_record_is_reported_with_file_and_offset() {
    for (schedule, clean_close) in [
        (FsyncSchedule::SyncEach, false),
        (FsyncSchedule::Milliseconds(60_000), true),
        (FsyncSchedule::NoFsync, true),
    ] {
        for delta in [0, 5, 9, 30] {
            let dir = tempfile::tempdir().unwrap();
            let wal = builder(dir.path()).fsync(schedule).open().unwrap();
            for i in 0..6 {
                wal.append_for_topic("t", &payload(i)).unwrap();
            }
            if clean_close {
                wal.close().unwrap();
            } else {
                wal.sync().unwrap();
                wal.abandon();
            }
            let pos = flip_byte_in_entry(dir.path(), 2, delta);
            let err = builder(dir.path()).open().unwrap_err();
            let (path, offset) = err.damage_location().unwrap_or_else(|| {
                panic!("{schedule:?} delta {delta}: expected damage, got {err}")
            });
            assert_eq!(path, segment_path(dir.path()), "{schedule:?}");
            assert_eq!(offset, pos, "{schedule:?} delta {delta}");
        }
    }
}

#[test]
fn point_in_time_mode_keeps_the_log_up_to_the_damage_and_saves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), FsyncSchedule::SyncEach, 6);
    flip_byte_in_entry(dir.path(), 3, 30);
    let wal = builder(dir.path())
        .recovery_mode(RecoveryMode::PointInTime)
        .open()
        .unwrap();
    assert_entries(&wal, 3);
    assert_eq!(wal.append_for_topic("t", &payload(3)).unwrap(), 3);
    wal.close().unwrap();
    let saved: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".damaged"))
        .collect();
    assert_eq!(
        saved.len(),
        1,
        "the damaged part is kept beside the log: {saved:?}"
    );
    // Strict mode now opens the repaired log cleanly.
    let wal = builder(dir.path()).open().unwrap();
    assert_entries(&wal, 4);
}

#[test]
fn torn_batch_is_all_or_nothing() {
    let src = tempfile::tempdir().unwrap();
    {
        let wal = builder(src.path())
            .fsync(FsyncSchedule::SyncEach)
            .open()
            .unwrap();
        wal.append_for_topic("t", &payload(0)).unwrap();
        let batch: Vec<Vec<u8>> = (1..6).map(payload).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        assert_eq!(wal.batch_append_for_topic("t", &refs).unwrap(), 1..6);
        wal.abandon();
    }
    let entries = entry_records(&segment_path(src.path()));
    let original = fs::read(segment_path(src.path())).unwrap();
    // Tear inside each record of the batch, and also drop just the last record whole.
    for (i, &(pos, size)) in entries.iter().enumerate().skip(1) {
        for cut in [pos, pos + size / 2, pos + size - 1] {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = original.clone();
            bytes[cut..].iter_mut().for_each(|b| *b = 0);
            fs::write(segment_path(dir.path()), &bytes).unwrap();
            let wal = builder(dir.path()).open().unwrap();
            assert_entries(&wal, 1);
            assert_eq!(
                wal.get_topic_entry_count("t"),
                1,
                "batch record {i} cut at {cut}"
            );
        }
    }
}

#[test]
fn damage_in_a_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = builder(dir.path())
            .fsync(FsyncSchedule::NoFsync)
            .open()
            .unwrap();
        let big = vec![7u8; 10_000];
        for _ in 0..20 {
            wal.append_for_topic("t", &big).unwrap();
        }
        wal.close().unwrap();
    }
    assert!(dir.path().join("00000000000000000002.wal").exists());
    // Tear the tail of the first (sealed) segment: that is damage, not a torn tail.
    let path = segment_path(dir.path());
    let (pos, _) = *entry_records(&path).last().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[pos + 40] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let err = builder(dir.path()).open().unwrap_err();
    assert_eq!(
        err.damage_location(),
        Some((path.as_path(), pos as u64)),
        "{err}"
    );
}

#[test]
fn segments_created_but_never_written_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), FsyncSchedule::SyncEach, 3);
    fs::write(dir.path().join("00000000000000000002.wal"), vec![0u8; 4096]).unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_entries(&wal, 3);
    assert!(!dir.path().join("00000000000000000002.wal").exists());
}

#[test]
fn reopen_many_times_across_segments_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = 0u64;
    for round in 0..5 {
        let wal = builder(dir.path())
            .fsync(FsyncSchedule::Milliseconds(1))
            .open()
            .unwrap();
        for i in 0..300 {
            let off = wal.append_for_topic("t", &payload(expected % 50)).unwrap();
            assert_eq!(off, expected, "round {round} entry {i}");
            expected += 1;
        }
        wal.close().unwrap();
    }
    let wal = builder(dir.path()).open().unwrap();
    let got = read_all(&wal, "t");
    assert_eq!(got.len() as u64, expected);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.data, payload(i as u64 % 50));
    }
}

#[test]
fn a_segment_filled_to_its_last_byte_recovers() {
    // 32-byte header + 32-byte topic definition + 2 entries of 24 + 4040 bytes = 8192.
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        common::builder_without_dir()
            .dir(dir.path())
            .segment_size(8192)
            .open()
            .unwrap()
    };
    let wal = open();
    for i in 0..5u8 {
        wal.append_for_topic("t", &[i; 4040]).unwrap();
    }
    wal.close().unwrap();
    let first = fs::read(segment_path(dir.path())).unwrap();
    assert_ne!(
        first[8192 - 1],
        0,
        "the first segment is full to its last byte"
    );
    let wal = open();
    let got = read_all(&wal, "t");
    assert_eq!(got.len(), 5);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.data, vec![i as u8; 4040]);
    }
}

#[test]
fn point_in_time_inside_a_batch_drops_the_whole_batch_and_reopens_strictly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = builder(dir.path())
            .fsync(FsyncSchedule::SyncEach)
            .open()
            .unwrap();
        wal.append_for_topic("t", &payload(0)).unwrap();
        let batch: Vec<Vec<u8>> = (1..5).map(payload).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        wal.batch_append_for_topic("t", &refs).unwrap();
        wal.append_for_topic("t", &payload(5)).unwrap();
        wal.close().unwrap();
    }
    flip_byte_in_entry(dir.path(), 3, 30); // the third record of the batch
    let wal = builder(dir.path())
        .recovery_mode(RecoveryMode::PointInTime)
        .open()
        .unwrap();
    assert_entries(&wal, 1);
    assert_eq!(wal.append_for_topic("t", &payload(1)).unwrap(), 1);
    wal.close().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_entries(&wal, 2);
}

#[test]
fn point_in_time_twice_never_overwrites_what_was_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let sub = tempfile::tempdir().unwrap();
        write_entries(sub.path(), FsyncSchedule::SyncEach, 6);
        fs::copy(segment_path(sub.path()), segment_path(dir.path())).unwrap();
        flip_byte_in_entry(dir.path(), 3, 30);
        let wal = builder(dir.path())
            .recovery_mode(RecoveryMode::PointInTime)
            .open()
            .unwrap();
        assert_entries(&wal, 3);
        wal.close().unwrap();
    }
    assert_eq!(
        damaged_files(dir.path()).len(),
        2,
        "{:?}",
        damaged_files(dir.path())
    );
}

fn fill_three_segments(dir: &Path) {
    let wal = builder(dir).fsync(FsyncSchedule::NoFsync).open().unwrap();
    for i in 0..15u64 {
        let topic = if i % 2 == 0 { "a" } else { "b" };
        wal.append_for_topic(topic, &vec![i as u8 + 1; 10_000])
            .unwrap();
    }
    wal.close().unwrap();
    assert!(dir.join("00000000000000000003.wal").exists());
}

#[test]
fn a_missing_segment_in_the_middle_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    fill_three_segments(dir.path());
    let missing = dir.path().join("00000000000000000002.wal");
    fs::remove_file(&missing).unwrap();
    let err = builder(dir.path()).open().unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { path, .. } if *path == missing),
        "{err}"
    );
}

#[test]
fn segments_deleted_from_the_front_leave_a_self_describing_log() {
    // What retention will do: the first segment goes; topics, offsets and cursors come
    // from the next segment's preamble.
    let dir = tempfile::tempdir().unwrap();
    fill_three_segments(dir.path());
    let before = {
        let wal = builder(dir.path()).open().unwrap();
        (
            wal.get_topic_entry_count("a"),
            wal.get_topic_entry_count("b"),
        )
    };
    fs::remove_file(segment_path(dir.path())).unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.topics(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(
        (
            wal.get_topic_entry_count("a"),
            wal.get_topic_entry_count("b")
        ),
        before
    );
    let first = wal.batch_read_for_topic("a", usize::MAX, false).unwrap();
    assert!(
        first[0].offset > 0,
        "the oldest entries went with the segment"
    );
    assert_eq!(wal.append_for_topic("a", b"next").unwrap(), before.0);
}

#[test]
fn a_torn_preamble_is_declared_again() {
    let dir = tempfile::tempdir().unwrap();
    fill_three_segments(dir.path());
    // Cut the last segment after its first preamble record (topic "a"'s definition and
    // shared cursor): the declaration of "b" is gone. (A segment cut right after its
    // header never took a record: recovery removes it, and the next rollover writes a
    // whole preamble.)
    let last = dir.path().join("00000000000000000003.wal");
    let mut bytes = fs::read(&last).unwrap();
    let cut = SEGMENT_HEADER_LEN + 32 + 24;
    bytes[cut..].iter_mut().for_each(|b| *b = 0);
    fs::write(&last, &bytes).unwrap();
    let counts = {
        let wal = builder(dir.path()).open().unwrap();
        let c = (
            wal.get_topic_entry_count("a"),
            wal.get_topic_entry_count("b"),
        );
        wal.close().unwrap();
        c
    };
    // Without the first two segments, the third must still name both topics.
    fs::remove_file(segment_path(dir.path())).unwrap();
    fs::remove_file(dir.path().join("00000000000000000002.wal")).unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.topics(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(
        (
            wal.get_topic_entry_count("a"),
            wal.get_topic_entry_count("b")
        ),
        counts
    );
}

#[test]
fn inspection_sees_what_recovery_would_and_changes_nothing() {
    let backend = common::raw_backend();
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), FsyncSchedule::SyncEach, 6);
    let report = wal::inspect::inspect(dir.path(), &*backend).unwrap();
    assert!(report.is_clean(), "{:?}", report.segments);
    let topics = report.topics();
    assert_eq!((topics[0].name.as_str(), topics[0].next_offset), ("t", 6));
    let entries = report.entries(&*backend, "t", 2, 2).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(entries[0].data, payload(2));
    assert_eq!(
        entries[0].position,
        entry_records(&segment_path(dir.path()))[2].0 as u64
    );

    // A torn tail: reported, not cut.
    let (pos, size) = *entry_records(&segment_path(dir.path())).last().unwrap();
    let mut bytes = fs::read(segment_path(dir.path())).unwrap();
    bytes[pos + size / 2..pos + size]
        .iter_mut()
        .for_each(|b| *b = 0x55);
    fs::write(segment_path(dir.path()), &bytes).unwrap();
    let report = wal::inspect::inspect(dir.path(), &*backend).unwrap();
    assert!(!report.is_clean() && !report.is_damaged());
    assert!(
        matches!(report.segments[0].finding, wal::inspect::Finding::TornTail { offset, .. } if offset == pos as u64)
    );
    assert_eq!(
        fs::read(segment_path(dir.path())).unwrap(),
        bytes,
        "inspection changed the file"
    );

    // Damage to durable data: the same error recovery gives.
    let flipped = flip_byte_in_entry(dir.path(), 1, 30);
    let report = wal::inspect::inspect(dir.path(), &*backend).unwrap();
    assert!(report.is_damaged());
    match &report.segments[0].finding {
        wal::inspect::Finding::Damaged(e) => {
            assert_eq!(e.damage_location().map(|l| l.1), Some(flipped))
        }
        other => panic!("{other:?}"),
    }
    let err = builder(dir.path()).open().unwrap_err();
    assert_eq!(err.damage_location().map(|l| l.1), Some(flipped));
}
