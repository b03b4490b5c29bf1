//! Fsync schedules, read consistency, reopening after a clean drop and after a simulated
//! crash (`abandon`).

use super::common;

use common::{
    append_n, builder, builder_with_segments, consume_all, consume_n, expected, payload, peek_all,
    SCHEDULES, SMALL_SEGMENT,
};
use wal::{Error, FsyncSchedule, ReadConsistency};

const AT_LEAST_ONCE_5: ReadConsistency = ReadConsistency::AtLeastOnce { persist_every: 5 };

/// Appends to three topics, consumes a different number of entries from each, drops the
/// log cleanly and checks that every entry and every cursor is back after the reopen.
fn reopen_keeps_entries_and_cursors(consistency: ReadConsistency) {
    let dir = tempfile::tempdir().unwrap();
    let topics = [
        ("a", 30u64, 0u64),
        ("b", 30, 13),
        ("c", 30, 30),
        ("d", 7, 5),
    ];
    {
        let wal = builder_with_segments(dir.path(), SMALL_SEGMENT)
            .consistency(consistency)
            .open()
            .unwrap();
        assert_eq!(wal.read_consistency(), consistency);
        for (t, n, _) in topics {
            append_n(&wal, t, n);
        }
        for (t, _, consumed) in topics {
            assert_eq!(consume_n(&wal, t, consumed), expected(t, 0..consumed));
        }
        // A peek after the last consumption must not count as consumption.
        assert_eq!(
            wal.read_next("b", false).unwrap().map(|e| e.offset),
            Some(13)
        );
    }
    for round in 0..2 {
        let wal = builder_with_segments(dir.path(), SMALL_SEGMENT)
            .consistency(consistency)
            .open()
            .unwrap();
        let mut names = wal.topics();
        names.sort();
        assert_eq!(names, ["a", "b", "c", "d"]);
        for (t, n, consumed) in topics {
            assert_eq!(wal.get_topic_entry_count(t), n, "round {round}");
            assert_eq!(peek_all(&wal, t), expected(t, consumed..n), "round {round}");
        }
    }
}

#[test]
fn reopen_keeps_entries_and_cursors_strictly_at_once() {
    reopen_keeps_entries_and_cursors(ReadConsistency::StrictlyAtOnce);
}

#[test]
fn reopen_keeps_entries_and_cursors_at_least_once() {
    reopen_keeps_entries_and_cursors(AT_LEAST_ONCE_5);
    reopen_keeps_entries_and_cursors(ReadConsistency::AtLeastOnce { persist_every: 1 });
}

/// Appends and syncs 40 entries to several topics, consumes `k` of each (a different `k`
/// per topic), abandons the log and returns, per topic, `(k, entries delivered after the
/// reopen)`.
fn consume_then_crash(
    schedule: FsyncSchedule,
    consistency: ReadConsistency,
) -> Vec<(u64, Vec<wal::Entry>)> {
    const N: u64 = 40;
    let consumed = [0u64, 1, 3, 4, 5, 6, 9, 10, 11, 17, 39, 40];
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        builder(dir.path())
            .fsync(schedule)
            .consistency(consistency)
            .open()
            .unwrap()
    };
    let wal = open();
    for (i, _) in consumed.iter().enumerate() {
        append_n(&wal, &format!("t{i}"), N);
    }
    wal.sync().unwrap();
    for (i, &k) in consumed.iter().enumerate() {
        let t = format!("t{i}");
        assert_eq!(consume_n(&wal, &t, k), expected(&t, 0..k));
    }
    wal.abandon();

    let wal = open();
    consumed
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let t = format!("t{i}");
            assert_eq!(wal.get_topic_entry_count(&t), N, "{t}: synced entries lost");
            (k, consume_all(&wal, &t))
        })
        .collect()
}

#[test]
fn at_least_once_redelivers_at_most_persist_every_after_abandon() {
    let persist_every = 5u64;
    for schedule in SCHEDULES {
        for (i, (k, delivered)) in consume_then_crash(schedule, AT_LEAST_ONCE_5)
            .into_iter()
            .enumerate()
        {
            let t = format!("t{i}");
            let first = delivered.first().map_or(40, |e| e.offset);
            assert!(
                first <= k,
                "{schedule:?} {t}: consumed {k}, first delivered {first}: entries skipped"
            );
            assert!(
                k - first <= persist_every,
                "{schedule:?} {t}: consumed {k}, first delivered {first}: too many redelivered"
            );
            // Nothing skipped after the first one either.
            assert_eq!(delivered, expected(&t, first..40), "{schedule:?} {t}");
        }
    }
}

#[test]
fn strictly_at_once_redelivers_nothing_after_abandon() {
    for schedule in SCHEDULES {
        for (i, (k, delivered)) in consume_then_crash(schedule, ReadConsistency::StrictlyAtOnce)
            .into_iter()
            .enumerate()
        {
            let t = format!("t{i}");
            assert_eq!(delivered, expected(&t, k..40), "{schedule:?} {t}");
        }
    }
}

/// Writes, reads, reopens, and writes and reads again under `schedule`.
fn write_read_reopen_cycle(schedule: FsyncSchedule) {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        builder_with_segments(dir.path(), SMALL_SEGMENT)
            .fsync(schedule)
            .open()
            .unwrap()
    };
    let wal = open();
    assert_eq!(wal.fsync_schedule(), schedule);
    append_n(&wal, "x", 100);
    assert_eq!(
        wal.batch_append_for_topic("y", &[b"1", b"2", b"3"])
            .unwrap(),
        0..3
    );
    assert_eq!(consume_n(&wal, "x", 60), expected("x", 0..60));
    drop(wal);

    let wal = open();
    assert_eq!(wal.fsync_schedule(), schedule);
    assert_eq!(wal.get_topic_entry_count("x"), 100);
    // What recovery found is durable.
    assert_eq!(wal.durable_offset("x"), Some(99));
    assert_eq!(wal.durable_offset("y"), Some(2));
    assert_eq!(consume_all(&wal, "x"), expected("x", 60..100));
    append_n(&wal, "x", 50);
    assert_eq!(consume_all(&wal, "x"), expected("x", 100..150));
    let y: Vec<Vec<u8>> = consume_all(&wal, "y").into_iter().map(|e| e.data).collect();
    assert_eq!(y, [b"1", b"2", b"3"].map(|d| d.to_vec()));
    wal.close().unwrap();

    let wal = open();
    assert_eq!(wal.get_topic_entry_count("x"), 150);
    assert_eq!(wal.durable_offset("x"), Some(149));
    assert_eq!(wal.read_next("x", true).unwrap(), None);
    assert_eq!(wal.read_next("y", true).unwrap(), None);
}

#[test]
fn sync_each_write_read_reopen_cycle() {
    write_read_reopen_cycle(FsyncSchedule::SyncEach);
}

#[test]
fn milliseconds_write_read_reopen_cycle() {
    write_read_reopen_cycle(FsyncSchedule::Milliseconds(5));
}

#[test]
fn no_fsync_write_read_reopen_cycle() {
    write_read_reopen_cycle(FsyncSchedule::NoFsync);
}

#[test]
fn sync_each_append_is_durable_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap();
    assert_eq!(wal.durable_offset("t"), None);
    for i in 0..20 {
        let offset = wal.append_for_topic("t", &payload("t", i)).unwrap();
        assert_eq!(wal.durable_offset("t"), Some(offset));
    }
    let range = wal
        .batch_append_for_topic("t", &[b"a", b"b", b"c"])
        .unwrap();
    assert_eq!(range, 20..23);
    assert_eq!(wal.durable_offset("t"), Some(22));
    // An append to another topic is durable on return too.
    assert_eq!(wal.append_for_topic("u", b"x").unwrap(), 0);
    assert_eq!(wal.durable_offset("u"), Some(0));
}

#[test]
fn no_fsync_sync_makes_the_last_append_durable() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .open()
        .unwrap();
    for round in 0..3u64 {
        append_n(&wal, "t", 10);
        wal.batch_append_for_topic("u", &[b"a", b"b"]).unwrap();
        wal.sync().unwrap();
        assert_eq!(wal.durable_offset("t"), Some(round * 10 + 9));
        assert_eq!(wal.durable_offset("u"), Some(round * 2 + 1));
    }
}

#[test]
fn wait_durable_then_durable_offset_reaches_the_offset() {
    for schedule in SCHEDULES {
        let dir = tempfile::tempdir().unwrap();
        let wal = builder(dir.path()).fsync(schedule).open().unwrap();
        append_n(&wal, "t", 10);
        append_n(&wal, "u", 3);
        wal.wait_durable("t", 4).unwrap();
        assert!(
            wal.durable_offset("t").is_some_and(|d| d >= 4),
            "{schedule:?}: {:?}",
            wal.durable_offset("t")
        );
        wal.wait_durable("u", 2).unwrap();
        assert!(wal.durable_offset("u").is_some_and(|d| d >= 2));
        // Everything appended before `u`'s entry 2 is durable too.
        assert_eq!(wal.durable_offset("t"), Some(9), "{schedule:?}");
        // Waiting again on an entry already durable returns at once.
        wal.wait_durable("t", 0).unwrap();
    }
}

#[test]
fn wait_durable_on_an_offset_not_yet_appended_is_offset_not_found() {
    for schedule in SCHEDULES {
        let dir = tempfile::tempdir().unwrap();
        let wal = builder(dir.path()).fsync(schedule).open().unwrap();
        append_n(&wal, "t", 3);
        let err = wal.wait_durable("t", 3).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::OffsetNotFound { topic, offset: 3, next: 3 } if topic == "t"
            ),
            "{schedule:?}: {err:?}"
        );
        let err = wal.wait_durable("t", 1000).unwrap_err();
        assert!(
            matches!(err, Error::OffsetNotFound { offset: 1000, .. }),
            "{err:?}"
        );
        let err = wal.wait_durable("unknown", 0).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::OffsetNotFound { topic, offset: 0, next: 0 } if topic == "unknown"
            ),
            "{err:?}"
        );
        // The log works on after the refusals.
        wal.wait_durable("t", 2).unwrap();
    }
}

#[test]
fn sync_makes_data_survive_abandon() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        builder_with_segments(dir.path(), SMALL_SEGMENT)
            .fsync(FsyncSchedule::NoFsync)
            .open()
            .unwrap()
    };
    let wal = open();
    // Enough to cross segments.
    append_n(&wal, "a", 1500);
    append_n(&wal, "b", 700);
    wal.batch_append_for_topic("c", &[b"1", b"2"]).unwrap();
    wal.sync().unwrap();
    wal.abandon();

    let wal = open();
    assert_eq!(peek_all(&wal, "a"), expected("a", 0..1500));
    assert_eq!(peek_all(&wal, "b"), expected("b", 0..700));
    assert_eq!(wal.get_topic_entry_count("c"), 2);
    // The recovered log takes appends and survives another crash after a sync.
    append_n(&wal, "a", 10);
    wal.sync().unwrap();
    wal.abandon();
    let wal = open();
    assert_eq!(peek_all(&wal, "a"), expected("a", 0..1510));
}

#[test]
fn unsynced_appends_lost_on_abandon_leave_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        builder_with_segments(dir.path(), SMALL_SEGMENT)
            .fsync(FsyncSchedule::NoFsync)
            .open()
            .unwrap()
    };
    let wal = open();
    append_n(&wal, "synced", 50);
    wal.sync().unwrap();
    for i in 0..1200u64 {
        let t = ["p", "q", "r"][(i % 3) as usize];
        let offset = wal.get_topic_entry_count(t);
        wal.append_for_topic(t, &payload(t, offset)).unwrap();
    }
    append_n(&wal, "synced", 50);
    wal.abandon();

    let wal = open();
    for (t, appended) in [("p", 400), ("q", 400), ("r", 400), ("synced", 100)] {
        let survived = wal.get_topic_entry_count(t);
        assert!(survived <= appended, "{t}: {survived} > {appended}");
        assert_eq!(peek_all(&wal, t), expected(t, 0..survived), "{t}");
    }
    assert!(wal.get_topic_entry_count("synced") >= 50);
}

#[test]
fn reopen_after_segments_filled_to_their_last_bytes() {
    // A 4 KiB segment holds a 32-byte header, the 32-byte definition of topic "t" and then
    // 8-byte entries of 32 bytes each. A last entry of another size leaves 0, 8 or 16 bytes:
    // less than a record header, so the next append rolls over to a new segment.
    const SEGMENT: u64 = 4096;
    for (fill, last_len, left) in [(126, None, 0u64), (124, Some(32), 8), (124, Some(24), 16)] {
        for crash in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let open = || builder_with_segments(dir.path(), SEGMENT).open().unwrap();
            let wal = open();
            let mut want = Vec::new();
            let mut push = |data: Vec<u8>| {
                let offset = wal.append_for_topic("t", &data).unwrap();
                want.push(wal::Entry { offset, data });
            };
            for i in 0..fill {
                push(vec![i as u8 + 1; 8]);
            }
            if let Some(len) = last_len {
                push(vec![0xEE; len]);
            }
            push(b"next seg".to_vec());
            wal.sync().unwrap();
            // (A third file may exist: the next segment, made ahead of time.)
            let segments = common::segment_files(dir.path());
            assert_eq!(wal.segment_count(), 2, "{left} bytes left: no rollover");
            let end = common::used_bytes(&segments[0]).next_multiple_of(8);
            assert_eq!(SEGMENT - end, left, "the layout is not the one intended");
            if crash {
                wal.abandon();
            } else {
                wal.close().unwrap();
            }

            let wal = open();
            assert_eq!(
                peek_all(&wal, "t"),
                want,
                "{left} bytes left, crash {crash}"
            );
            let next = want.len() as u64;
            assert_eq!(wal.append_for_topic("t", b"after").unwrap(), next);
        }
    }
}
