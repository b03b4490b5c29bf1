//! The follower against logs written by the library in this process: what it reads (to the
//! byte), segments that roll over or are deleted under it, batches, replaced files.

use std::path::Path;

use wal::{FsyncSchedule, Wal};
use wal_core::format::{
    encode_record, RecordFields, RecordKind, FLAG_BATCH, FLAG_BATCH_END, RECORD_HEADER_LEN,
};

use super::{Flow, Follower, ReadStats, Seen};
use crate::error::CliResult;

fn open(dir: &Path, segment: u64) -> Wal {
    Wal::builder()
        .dir(dir)
        .backend(wal::Backend::Std)
        .segment_size(segment)
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap()
}

/// One look: everything the follower hands over.
fn look(f: &mut Follower) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut sink = |s: Seen| -> CliResult<Flow> {
        seen.push(s);
        Ok(Flow::Continue)
    };
    assert_eq!(f.poll(&mut sink).unwrap(), Flow::Continue);
    seen
}

/// The offsets and payloads of the entries among `seen`.
fn entries(seen: &[Seen]) -> Vec<(u64, Vec<u8>)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Entry(e) => Some((e.offset, e.data.clone())),
            _ => None,
        })
        .collect()
}

fn delta(before: ReadStats, after: ReadStats) -> (u64, u64) {
    (after.bytes - before.bytes, after.reads - before.reads)
}

#[test]
fn a_look_reads_only_the_bytes_appended_since_the_last_one() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 64 << 10);
    for i in 0..5u8 {
        wal.append_for_topic("t", &[b'a' + i; 40]).unwrap();
        wal.append_for_topic("u", &[i; 100]).unwrap();
    }
    let mut f = Follower::new(dir.path(), "t", 1, 0, 0);
    let first = look(&mut f);
    assert_eq!(
        entries(&first),
        (0..5u8)
            .map(|i| (u64::from(i), vec![b'a' + i; 40]))
            .collect::<Vec<_>>()
    );

    // Nothing new: one header's worth of zeros at the position, nothing else.
    let before = f.stats();
    assert!(look(&mut f).is_empty());
    assert_eq!(delta(before, f.stats()), (RECORD_HEADER_LEN as u64, 1));

    // One entry of another topic and one of ours: exactly their records, then the zeros.
    wal.append_for_topic("u", &[9; 100]).unwrap();
    wal.append_for_topic("t", b"0123456789").unwrap();
    let before = f.stats();
    assert_eq!(entries(&look(&mut f)), vec![(5, b"0123456789".to_vec())]);
    let records = (RECORD_HEADER_LEN + 100) + (RECORD_HEADER_LEN + 10);
    assert_eq!(
        delta(before, f.stats()),
        ((records + RECORD_HEADER_LEN) as u64, 5),
        "header and payload of each record, then one header of zeros"
    );
    assert_eq!(f.stats().looks, 3);
    wal.close().unwrap();
}

#[test]
fn the_follower_moves_to_new_segments_and_past_deleted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 16 << 10);
    let entry = |i: u64| format!("{i:>999}").into_bytes();
    for i in 0..3 {
        wal.append_for_topic("t", &entry(i)).unwrap();
    }
    let mut f = Follower::new(dir.path(), "t", 1, 0, 0);
    assert_eq!(entries(&look(&mut f)).len(), 3);

    // Followed as it rolls over: every entry, in order, across several segments.
    for i in 3..40 {
        wal.append_for_topic("t", &entry(i)).unwrap();
        if i % 7 == 0 {
            let got = entries(&look(&mut f));
            assert_eq!(got.last().map(|e| e.0), Some(i));
        }
    }
    let got = entries(&look(&mut f));
    assert_eq!(got.last().unwrap(), &(39, entry(39)));
    let segment_now = f.seg;
    assert!(segment_now >= 3, "on segment {segment_now}");

    // Many segments written, consumed and deleted before the next look: the follower
    // reads what its open segment still holds, then goes on at the oldest one left, and
    // says which offsets it missed.
    for i in 40..120 {
        wal.append_for_topic("t", &entry(i)).unwrap();
    }
    while wal.read_next("t", true).unwrap().is_some() {}
    wal.reclaim().unwrap();
    assert!(!dir
        .path()
        .join(wal::segment::segment_file_name(segment_now + 1))
        .exists());
    let seen = look(&mut f);
    let gaps: Vec<(u64, u64)> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Gap { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let (from, to) = gaps[0];
    assert!(from > 40 && to > from && to <= 120, "{from}..{to}");
    wal.append_for_topic("t", &entry(120)).unwrap();
    let got: Vec<(u64, Vec<u8>)> = entries(&seen)
        .into_iter()
        .chain(entries(&look(&mut f)))
        .collect();
    let offsets: Vec<u64> = got.iter().map(|e| e.0).collect();
    let expected: Vec<u64> = (40..from).chain(to..121).collect();
    assert_eq!(offsets, expected);
    for (offset, data) in got {
        assert_eq!(data, entry(offset));
    }
    wal.close().unwrap();
}

#[test]
fn a_batch_is_shown_only_once_its_last_record_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 64 << 10);
    wal.append_for_topic("t", b"single").unwrap();
    wal.abandon(); // no sync mark: the next record goes right after the entry
    let backend = wal::StdBackend::default();
    let end = wal::inspect::inspect(dir.path(), &backend)
        .unwrap()
        .segments[0]
        .data_end;
    let segment = dir.path().join(wal::segment::segment_file_name(1));
    let write = |at: u64, flags: u8, offset: u64, data: &[u8]| {
        let mut record = Vec::new();
        encode_record(
            &mut record,
            1,
            RecordFields::new(RecordKind::Entry, 0, offset).with_flags(flags),
            data,
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &record, at).unwrap();
        record.len() as u64
    };

    let mut f = Follower::new(dir.path(), "t", 1, 0, 0);
    let first_len = write(end, FLAG_BATCH, 1, b"batch 1");
    assert_eq!(entries(&look(&mut f)), vec![(0, b"single".to_vec())]);
    assert!(look(&mut f).is_empty(), "half a batch is not shown");
    write(end + first_len, FLAG_BATCH | FLAG_BATCH_END, 2, b"batch 2");
    assert_eq!(
        entries(&look(&mut f)),
        vec![(1, b"batch 1".to_vec()), (2, b"batch 2".to_vec())]
    );
}

#[test]
fn a_segment_recreated_under_its_name_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    // An empty log left by a crash: its only segment holds a header and nothing else.
    open(dir.path(), 64 << 10).abandon();
    let mut f = Follower::new(dir.path(), "t", 1, 0, 0);
    assert!(look(&mut f).is_empty());
    // The next open removes that segment and makes a new one under the same name.
    let wal = open(dir.path(), 64 << 10);
    wal.append_for_topic("t", b"after recovery").unwrap();
    assert_eq!(
        entries(&look(&mut f)),
        vec![(0, b"after recovery".to_vec())]
    );
    wal.close().unwrap();
}

#[test]
fn a_topic_created_after_the_start_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 64 << 10);
    wal.append_for_topic("other", b"x").unwrap();
    let backend = wal::StdBackend::default();
    let end = wal::inspect::inspect(dir.path(), &backend)
        .unwrap()
        .segments[0]
        .data_end;
    // From the end of the data: the topic's definition comes later.
    let mut f = Follower::new(dir.path(), "later", 1, end, 0);
    assert!(look(&mut f).is_empty());
    wal.append_for_topic("later", b"hello").unwrap();
    assert_eq!(entries(&look(&mut f)), vec![(0, b"hello".to_vec())]);
    wal.close().unwrap();
}

#[test]
fn bytes_that_are_not_a_record_in_a_finished_segment_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 16 << 10);
    let entry = |i: u64| format!("{i:>999}").into_bytes();
    let mut i = 0;
    while !dir.path().join(wal::segment::segment_file_name(2)).exists() {
        wal.append_for_topic("t", &entry(i)).unwrap();
        i += 1;
    }
    // Written after segment 2 exists, so in it (or in a later one).
    for k in i..i + 20 {
        wal.append_for_topic("t", &entry(k)).unwrap();
    }
    wal.close().unwrap();
    let backend = wal::StdBackend::default();
    let ins = wal::inspect::inspect(dir.path(), &backend).unwrap();
    let end = ins.segments[0].data_end;
    let in_first = ins.entries(&backend, "t", 0, usize::MAX).unwrap();
    let in_first = in_first.iter().filter(|e| e.segment == 1).count() as u64;
    // Garbage after the last record of segment 1, which later segments prove finished.
    let segment = dir.path().join(wal::segment::segment_file_name(1));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[0xA5; 40], end).unwrap();

    let mut f = Follower::new(dir.path(), "t", 1, 0, 0);
    let seen = look(&mut f);
    let damage: Vec<&String> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Damage(what) => Some(what),
            _ => None,
        })
        .collect();
    assert_eq!(damage.len(), 1, "{seen:?}");
    assert!(
        damage[0].contains(&format!("{}:{end}: ", segment.display())),
        "{}",
        damage[0]
    );
    let offsets: Vec<u64> = entries(&seen).iter().map(|e| e.0).collect();
    assert_eq!(
        offsets,
        (0..i + 20).collect::<Vec<_>>(),
        "nothing lost: {in_first} in segment 1"
    );
}

#[test]
fn a_suffix_truncation_is_reported_and_the_replacing_entries_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), 64 << 10);
    wal.batch_append_for_topic("t", &[&b"0"[..], b"1", b"2-old", b"3-old"])
        .unwrap();
    let mut f = Follower::new(dir.path(), "t", 1, 0, 0);
    assert_eq!(entries(&look(&mut f)).len(), 4);
    wal.truncate_from("t", 2).unwrap();
    wal.append_for_topic("t", b"2-new").unwrap();
    let seen = look(&mut f);
    assert!(
        matches!(seen.first(), Some(Seen::Truncated { from: 2, to: 4 })),
        "{seen:?}"
    );
    assert_eq!(entries(&seen), vec![(2, b"2-new".to_vec())]);
    wal.close().unwrap();
}
