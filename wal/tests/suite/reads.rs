//! Blocking batch reads, reads that stop at the durable position
//! (`ReadVisibility::Durable`), and batches of owned data.

use std::time::Duration;

use wal::{Error, FsyncSchedule, ReadVisibility};

use super::common;

const LONG: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(20);

fn offsets(entries: &[wal::Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.offset).collect()
}

#[test]
fn a_blocking_batch_read_returns_what_is_there_waits_when_nothing_is_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path()).open().unwrap();
    common::append_n(&wal, "t", 5);
    let got = wal
        .batch_read_blocking("t", usize::MAX, true, LONG)
        .unwrap();
    assert_eq!(got, common::expected("t", 0..5));
    // The byte budget holds as in `batch_read_for_topic`: at least one entry.
    common::append_n(&wal, "t", 2);
    assert_eq!(
        offsets(&wal.batch_read_blocking("t", 1, false, LONG).unwrap()),
        vec![5]
    );
    assert_eq!(
        wal.batch_read_for_topic("t", usize::MAX, true)
            .unwrap()
            .len(),
        2
    );
    assert!(wal
        .batch_read_blocking("t", usize::MAX, true, SHORT)
        .unwrap()
        .is_empty());
    std::thread::scope(|s| {
        let reader = s.spawn(|| wal.batch_read_blocking("t", usize::MAX, true, LONG));
        std::thread::sleep(Duration::from_millis(20));
        wal.batch_append_for_topic("t", &[b"x", b"y", b"z"])
            .unwrap();
        // The batch becomes visible at once, all of it.
        assert_eq!(offsets(&reader.join().unwrap().unwrap()), vec![7, 8, 9]);
    });
    std::thread::scope(|s| {
        let reader = s.spawn(|| wal.batch_read_blocking("t", usize::MAX, true, LONG));
        std::thread::sleep(Duration::from_millis(20));
        wal.shutdown();
        assert!(matches!(reader.join().unwrap(), Err(Error::Closed)));
    });
}

#[test]
fn a_consumer_reads_blocking_batches_through_its_own_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path()).open().unwrap();
    let c = wal.consumer("t", "c").unwrap();
    common::append_n(&wal, "t", 4);
    assert_eq!(
        c.batch_read_blocking(usize::MAX, true, LONG).unwrap(),
        common::expected("t", 0..4)
    );
    assert_eq!(c.position(), 4);
    // The shared cursor did not move.
    assert_eq!(wal.read_next("t", false).unwrap().unwrap().offset, 0);
    assert!(c
        .batch_read_blocking(usize::MAX, true, SHORT)
        .unwrap()
        .is_empty());
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut got = Vec::new();
            while got.len() < 6 {
                got.extend(offsets(
                    &c.batch_read_blocking(usize::MAX, true, LONG).unwrap(),
                ));
            }
            got
        });
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(5));
            common::append_n(&wal, "t", 2);
        }
        assert_eq!(reader.join().unwrap(), (4..10).collect::<Vec<_>>());
    });
}

#[test]
fn durable_visibility_hides_an_entry_until_a_sync_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    // NoFsync: nothing syncs unless asked to.
    let wal = common::builder(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .read_visibility(ReadVisibility::Durable)
        .open()
        .unwrap();
    assert_eq!(wal.read_visibility(), ReadVisibility::Durable);
    let consumer = wal.consumer("t", "c").unwrap();
    wal.append_for_topic("t", b"first").unwrap();
    let invisible = |what: &str| {
        assert_eq!(wal.read_next("t", false).unwrap(), None, "{what}");
        assert!(
            wal.batch_read_for_topic("t", usize::MAX, false)
                .unwrap()
                .is_empty(),
            "{what}"
        );
        assert!(
            wal.read_from("t", 0, usize::MAX).unwrap().is_empty(),
            "{what}"
        );
        assert_eq!(consumer.read_next(false).unwrap(), None, "{what}");
        assert_eq!(
            wal.read_next_blocking("t", true, SHORT).unwrap(),
            None,
            "{what}"
        );
        assert!(consumer
            .batch_read_blocking(usize::MAX, true, SHORT)
            .unwrap()
            .is_empty());
    };
    invisible("appended, not synced");
    assert_eq!(wal.durable_offset("t"), None);
    assert_eq!(wal.get_topic_entry_count("t"), 1); // appended all the same
    wal.sync().unwrap();
    assert_eq!(wal.read_next("t", false).unwrap().unwrap().data, b"first");
    assert_eq!(wal.read_from("t", 0, usize::MAX).unwrap().len(), 1);
    assert_eq!(consumer.read_next(true).unwrap().unwrap().data, b"first");
    // The second entry stays invisible while the first one is visible.
    wal.append_for_topic("t", b"second").unwrap();
    assert_eq!(
        offsets(&wal.batch_read_for_topic("t", usize::MAX, false).unwrap()),
        vec![0]
    );
    assert_eq!(consumer.read_next(false).unwrap(), None);
    wal.wait_durable("t", 1).unwrap();
    assert_eq!(
        offsets(&wal.batch_read_for_topic("t", usize::MAX, false).unwrap()),
        vec![0, 1]
    );
    assert_eq!(consumer.read_next(true).unwrap().unwrap().data, b"second");
}

#[test]
fn appended_visibility_is_the_default_and_shows_what_is_not_durable() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .open()
        .unwrap();
    assert_eq!(wal.read_visibility(), ReadVisibility::Appended);
    wal.append_for_topic("t", b"unsynced").unwrap();
    assert_eq!(wal.durable_offset("t"), None);
    assert_eq!(
        wal.read_next("t", false).unwrap().unwrap().data,
        b"unsynced"
    );
}

#[test]
fn a_blocking_read_under_durable_visibility_wakes_when_a_sync_makes_the_entry_durable() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .read_visibility(ReadVisibility::Durable)
        .open()
        .unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let got = wal.read_next_blocking("t", true, LONG).unwrap();
            // Whenever it returns, what it returns is durable.
            (got, wal.durable_offset("t"))
        });
        wal.append_for_topic("t", b"a").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        wal.sync().unwrap();
        let (got, durable) = reader.join().unwrap();
        assert_eq!(got.unwrap().data, b"a");
        assert_eq!(durable, Some(0));
    });
    // Under a timer schedule, the timer's sync is what wakes the reader.
    drop(wal);
    let wal = common::builder(dir.path())
        .fsync(FsyncSchedule::Milliseconds(5))
        .read_visibility(ReadVisibility::Durable)
        .open()
        .unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let got = wal
                .batch_read_blocking("t", usize::MAX, true, LONG)
                .unwrap();
            (got, wal.durable_offset("t"))
        });
        std::thread::sleep(Duration::from_millis(20));
        wal.batch_append_for_topic("t", &[b"b", b"c"]).unwrap();
        let (got, durable) = reader.join().unwrap();
        assert_eq!(offsets(&got), vec![1, 2]);
        assert_eq!(durable, Some(2));
    });
}

#[test]
fn a_batch_can_be_owned_data_as_well_as_borrowed_slices() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path()).open().unwrap();
    let owned: Vec<Vec<u8>> = vec![b"a".to_vec(), b"bc".to_vec()];
    assert_eq!(wal.batch_append_for_topic("t", &owned).unwrap(), 0..2);
    let strings = [String::from("def"), String::from("g")];
    assert_eq!(wal.batch_append_for_topic("t", &strings).unwrap(), 2..4);
    assert_eq!(
        wal.batch_append_for_topic("t", &["hi", "jkl"]).unwrap(),
        4..6
    );
    let slices: &[&[u8]] = &[b"m", b"no"];
    assert_eq!(wal.batch_append_for_topic("t", slices).unwrap(), 6..8);
    let data: Vec<Vec<u8>> = common::peek_all(&wal, "t")
        .into_iter()
        .map(|e| e.data)
        .collect();
    let want: Vec<&[u8]> = vec![b"a", b"bc", b"def", b"g", b"hi", b"jkl", b"m", b"no"];
    assert_eq!(data, want);
}
