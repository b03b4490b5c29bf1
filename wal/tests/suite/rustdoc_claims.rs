//! Claims of the rustdoc of the public API that no other test tried: builder settings and
//! what `open` refuses, edge cases of `Wal` and `Consumer` methods (unknown topics, the
//! end of a topic, `max_bytes` 0, after `shutdown`, close or poisoning), metadata limits
//! and the `inspect` API. Each test names the item whose documentation it checks.

use super::common;

use std::io;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{builder, builder_with_segments, segment_files};
use wal::{Error, FsyncSchedule, ReadConsistency, TopicNameProblem, MAX_META_VALUE};
use wal_testkit::faulty::{FaultPlan, FaultyBackend};

fn is_config(r: wal::Result<wal::Wal>) -> bool {
    matches!(r, Err(Error::Config(_)))
}

/// `WalBuilder::segment_size` ("4 KiB to 4 GiB − 4 KiB"), and the settings `open` refuses
/// with `Error::Config` as their setters say.
#[test]
fn open_refuses_settings_out_of_their_documented_range() {
    let dir = tempfile::tempdir().unwrap();
    let b = || builder(dir.path());
    assert!(is_config(b().segment_size(4095).open()));
    assert!(is_config(b().segment_size(1 << 32).open()));
    assert!(is_config(b().segment_size((1 << 32) - 4095).open()));
    assert!(is_config(b().max_batch_entries(0).open()));
    assert!(is_config(b().write_buffer(0).open()));
    assert!(is_config(
        b().write_buffer(2 << 20).max_pending(1 << 20).open()
    ));
    assert!(is_config(b().write_interval(Duration::ZERO).open()));
    assert!(is_config(b().fsync(FsyncSchedule::Milliseconds(0)).open()));
    assert!(is_config(
        b().consistency(ReadConsistency::AtLeastOnce { persist_every: 0 })
            .open()
    ));
    // Nothing refused left a segment behind.
    assert!(segment_files(dir.path()).is_empty());
    // The bounds themselves are accepted (the largest is a sparse preallocation on most
    // filesystems, so only the smallest is opened here).
    let wal = b().segment_size(4096).open().unwrap();
    assert_eq!(wal.append_for_topic("t", b"x").unwrap(), 0);
}

/// `WalBuilder::max_entry_size`: "larger appends fail with `Error::EntryTooLarge`", also at
/// 0 (only empty entries fit).
#[test]
fn max_entry_size_zero_accepts_only_empty_entries() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).max_entry_size(0).open().unwrap();
    assert_eq!(wal.append_for_topic("t", b"").unwrap(), 0);
    assert!(matches!(
        wal.append_for_topic("t", b"x"),
        Err(Error::EntryTooLarge { size: 1, max: 0 })
    ));
    assert_eq!(wal.read_next("t", true).unwrap().unwrap().data, b"");
}

/// `WalBuilder::max_open_segments`: 0 counts as 1, and handles in use (the active
/// segment's) are never closed: with 0, reads of old segments still work, and once they
/// are done the log holds the active segment's handle and at most the last one read.
#[test]
fn max_open_segments_zero_still_reads_every_segment() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder_with_segments(dir.path(), 16 << 10)
        .max_open_segments(0)
        .precreate_segments(false)
        .open()
        .unwrap();
    for i in 0..40u32 {
        wal.append_for_topic("t", &[i as u8; 1000]).unwrap();
    }
    assert!(wal.segment_count() >= 3, "{}", wal.segment_count());
    // Unsynced segments are in use (their writes wait for a sync): sync to make them idle.
    wal.sync().unwrap();
    for i in 0..40 {
        let e = wal.read_from("t", i, 0).unwrap();
        assert_eq!(e[0].data, [i as u8; 1000]);
    }
    assert!(wal.stats().open_segment_handles <= 2, "{:?}", wal.stats());
}

/// `Wal::read_next`: `Ok(None)` for a topic that does not exist, with or without
/// `checkpoint`, and that read creates nothing. `get_topic_entry_count`, `durable_offset`,
/// `oldest_offset`, `consumers`, `topic_stats`, `meta`, `read_from` and `read_range` of an
/// unknown topic: 0, `None` or empty, as each says.
#[test]
fn every_query_of_an_unknown_topic_is_empty_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.read_next("nope", false).unwrap(), None);
    assert_eq!(wal.read_next("nope", true).unwrap(), None);
    assert!(wal
        .batch_read_for_topic("nope", 0, true)
        .unwrap()
        .is_empty());
    assert_eq!(wal.get_topic_entry_count("nope"), 0);
    assert_eq!(wal.durable_offset("nope"), None);
    assert_eq!(wal.oldest_offset("nope"), None);
    assert!(wal.consumers("nope").is_empty());
    assert!(wal.topic_stats("nope").is_none());
    assert_eq!(wal.meta("nope", "k"), None);
    assert!(wal.read_from("nope", 0, usize::MAX).unwrap().is_empty());
    assert!(wal
        .read_range("nope", 0..10, usize::MAX)
        .unwrap()
        .is_empty());
    assert!(!wal.delete_consumer("nope", "c").unwrap());
    wal.truncate_from("nope", 0).unwrap(); // "an unknown topic does nothing"
    assert!(wal.topics().is_empty(), "{:?}", wal.topics());
}

/// `Wal::batch_read_for_topic`, `Consumer::batch_read`, `Wal::read_from` and
/// `Wal::read_range` with `max_bytes` 0: "at least one entry" if any is available.
#[test]
fn max_bytes_zero_still_returns_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"ab", b"cd", b"ef"])
        .unwrap();
    let c = wal.consumer("t", "c").unwrap();
    assert_eq!(wal.batch_read_for_topic("t", 0, true).unwrap().len(), 1);
    assert_eq!(c.batch_read(0, true).unwrap().len(), 1);
    assert_eq!(wal.read_from("t", 1, 0).unwrap().len(), 1);
    assert_eq!(wal.read_range("t", 2..3, 0).unwrap()[0].data, b"ef");
    let got = c
        .batch_read_blocking(0, true, Duration::from_secs(10))
        .unwrap();
    assert_eq!((got.len(), got[0].offset), (1, 1));
}

/// `Wal::read_from`: "an offset at or past the end gives an empty result"; `Wal::read_range`:
/// an empty or inverted range, or one past the end, gives an empty result.
#[test]
fn reads_at_or_past_the_end_and_empty_ranges_are_empty() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"a", b"b"]).unwrap();
    assert!(wal.read_from("t", 2, usize::MAX).unwrap().is_empty());
    assert!(wal.read_from("t", u64::MAX, usize::MAX).unwrap().is_empty());
    assert!(wal.read_range("t", 1..1, usize::MAX).unwrap().is_empty());
    #[allow(clippy::reversed_empty_ranges)]
    let inverted = 2..0;
    assert!(wal
        .read_range("t", inverted, usize::MAX)
        .unwrap()
        .is_empty());
    assert!(wal.read_range("t", 2..100, usize::MAX).unwrap().is_empty());
}

/// `Wal::wait_durable` of an offset the topic does not hold (not appended yet, or an
/// unknown topic) is `Error::OffsetNotFound`, naming the next offset; of one that
/// `truncate_before` dropped, `Error::OffsetReclaimed`, as `read_from` says.
#[test]
fn wait_durable_of_an_offset_not_held_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"a", b"b", b"c"])
        .unwrap();
    assert!(matches!(
        wal.wait_durable("t", 3),
        Err(Error::OffsetNotFound {
            offset: 3,
            next: 3,
            ..
        })
    ));
    assert!(matches!(
        wal.wait_durable("nope", 0),
        Err(Error::OffsetNotFound { next: 0, .. })
    ));
    wal.truncate_before("t", 2).unwrap();
    let err = wal.wait_durable("t", 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OffsetReclaimed {
                offset: 0,
                oldest: 2,
                ..
            }
        ),
        "{err:?}"
    );
    wal.wait_durable("t", 2).unwrap();
}

/// `Consumer::seek`: "its topic's next offset skips everything", "below the oldest retained
/// one is `Error::OffsetReclaimed`; past the topic's next offset, `Error::OffsetNotFound`".
#[test]
fn seek_accepts_the_next_offset_and_refuses_outside_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"a", b"b", b"c", b"d"])
        .unwrap();
    let c = wal.consumer("t", "c").unwrap();
    c.seek(4).unwrap();
    assert_eq!(c.read_next(true).unwrap(), None);
    assert!(matches!(
        c.seek(5),
        Err(Error::OffsetNotFound {
            offset: 5,
            next: 4,
            ..
        })
    ));
    wal.truncate_before("t", 2).unwrap();
    assert!(matches!(
        c.seek(1),
        Err(Error::OffsetReclaimed {
            offset: 1,
            oldest: 2,
            ..
        })
    ));
    assert_eq!(c.position(), 4, "a refused seek moves nothing");
}

/// `Wal::delete_consumer`: "an empty name is refused as an invalid name"; `false` for a
/// consumer that does not exist.
#[test]
fn delete_consumer_refuses_the_shared_cursor_and_says_false_for_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.append_for_topic("t", b"a").unwrap();
    wal.read_next("t", true).unwrap();
    assert!(matches!(
        wal.delete_consumer("t", ""),
        Err(Error::InvalidTopic {
            problem: TopicNameProblem::Empty,
            ..
        })
    ));
    assert!(!wal.delete_consumer("t", "never").unwrap());
    assert_eq!(
        wal.read_next("t", false).unwrap(),
        None,
        "the shared cursor stays"
    );
}

/// `Wal::set_meta`: keys follow the rules of topic names; a value of `MAX_META_VALUE`
/// bytes is accepted and one more is `Error::MetaTooLarge`; a value that would make the
/// table each segment re-declares exceed half a segment is `Error::TopicTableFull`.
#[test]
fn set_meta_limits_are_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let big = vec![7u8; MAX_META_VALUE];
    wal.set_meta("t", "k", &big).unwrap();
    assert_eq!(wal.meta("t", "k").unwrap(), big);
    let err = wal
        .set_meta("t", "k", &vec![0u8; MAX_META_VALUE + 1])
        .unwrap_err();
    assert!(
        matches!(err, Error::MetaTooLarge { size, max, .. } if size == MAX_META_VALUE + 1 && max == MAX_META_VALUE),
        "{err:?}"
    );
    assert_eq!(
        wal.meta("t", "k").unwrap(),
        big,
        "a refused value changes nothing"
    );
    let key_problem = |key: &str| match wal.set_meta("t", key, b"v") {
        Err(Error::InvalidTopic { problem, .. }) => Some(problem),
        _ => None,
    };
    assert_eq!(key_problem(""), Some(TopicNameProblem::Empty));
    assert_eq!(
        key_problem(&"k".repeat(256)),
        Some(TopicNameProblem::TooLong)
    );
    assert_eq!(key_problem("a\0b"), Some(TopicNameProblem::Nul));
    assert_eq!(key_problem("a/b"), Some(TopicNameProblem::PathSeparator));
    assert_eq!(key_problem("a\\b"), Some(TopicNameProblem::PathSeparator));
    assert_eq!(key_problem(".."), Some(TopicNameProblem::DotName));
    wal.set_meta("t", &"k".repeat(255), b"v").unwrap();
    drop(wal);

    let small = tempfile::tempdir().unwrap();
    let wal = builder_with_segments(small.path(), 16 << 10)
        .open()
        .unwrap();
    let err = wal.set_meta("t", "k", &[1u8; 9 << 10]).unwrap_err();
    assert!(
        matches!(err, Error::TopicTableFull { limit: 8192, .. }),
        "{err:?}"
    );
    assert_eq!(wal.meta("t", "k"), None);
}

/// `Wal::shutdown`: "appends are refused with [`Error::Closed`]", and with them every call
/// that writes (`Error::Closed`: "after `shutdown` or close"). Reads that write nothing
/// still work.
#[test]
fn after_shutdown_every_write_is_closed_and_peeks_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"a", b"b"]).unwrap();
    let c = wal.consumer("t", "c").unwrap();
    wal.shutdown();
    let closed = |r: wal::Result<()>| matches!(r, Err(Error::Closed));
    assert!(closed(wal.append_for_topic("t", b"x").map(drop)));
    assert!(closed(wal.batch_append_for_topic("t", &[b"x"]).map(drop)));
    assert!(closed(wal.read_next("t", true).map(drop)));
    assert!(closed(c.read_next(true).map(drop)));
    assert!(closed(c.seek(1)));
    assert!(closed(wal.consumer("t", "d").map(drop)));
    assert!(closed(wal.delete_consumer("t", "c").map(drop)));
    assert!(closed(wal.set_meta("t", "k", b"v")));
    assert!(closed(wal.truncate_before("t", 1)));
    assert!(closed(wal.truncate_from("t", 1)));
    assert!(closed(
        wal.read_next_blocking("t", false, Duration::ZERO).map(drop)
    ));
    assert_eq!(wal.read_next("t", false).unwrap().unwrap().offset, 0);
    assert_eq!(c.read_next(false).unwrap().unwrap().offset, 0);
    assert_eq!(wal.read_from("t", 1, usize::MAX).unwrap()[0].data, b"b");
    assert_eq!(wal.get_topic_entry_count("t"), 2);
    wal.close().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(
        wal.get_topic_entry_count("t"),
        2,
        "appended data was still flushed"
    );
}

/// `Consumer` after its log was closed (ARCHITECTURE.md: "after close, drop or abandon,
/// nothing that outlives the log (a `Consumer`, ...) can touch the directory"): its calls
/// fail with `Error::Closed` and change no file.
#[test]
fn a_consumer_that_outlives_its_log_is_closed_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"a", b"b"]).unwrap();
    let c = wal.consumer("t", "c").unwrap();
    wal.close().unwrap();
    let before: Vec<Vec<u8>> = segment_files(dir.path())
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(matches!(c.read_next(true), Err(Error::Closed)));
    assert!(matches!(c.read_next(false), Err(Error::Closed)));
    assert!(matches!(c.batch_read(0, true), Err(Error::Closed)));
    assert!(matches!(c.seek(1), Err(Error::Closed)));
    assert!(matches!(
        c.batch_read_blocking(0, true, Duration::from_secs(10)),
        Err(Error::Closed)
    ));
    assert_eq!(c.position(), 0);
    let after: Vec<Vec<u8>> = segment_files(dir.path())
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "a closed log's files changed");
}

/// After a failed sync (the README's error section: "every later append, sync or
/// checkpointed read fails with `Error::Poisoned`"; ARCHITECTURE.md: "every append,
/// cursor write, ... fails with `Error::Poisoned` ... Data that was already durable stays
/// readable"): every call that writes is refused with the poison, peeks of durable data
/// work, `on_durable` is told at once, and `health` reports it.
#[test]
fn a_poisoned_log_refuses_every_write_and_still_serves_durable_data() {
    let dir = tempfile::tempdir().unwrap();
    // Sync 1: the first segment's header; 2: recovery's; 3: the first append; 4 fails.
    let backend = Arc::new(FaultyBackend::new(
        common::raw_backend(),
        FaultPlan::seeded(1).fail_sync(4, io::ErrorKind::Other),
    ));
    let wal = common::builder_without_dir()
        .dir(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .custom_backend(backend.clone())
        .open()
        .unwrap();
    wal.append_for_topic("t", b"durable").unwrap();
    let c = wal.consumer("t", "c").unwrap();
    assert!(wal.append_for_topic("t", b"lost").is_err());
    assert!(wal.is_poisoned());
    assert!(matches!(wal.health(), wal::Health::Poisoned { .. }));
    let poisoned = |r: wal::Result<()>| matches!(r, Err(Error::Poisoned { .. }));
    assert!(poisoned(wal.read_next("t", true).map(drop)));
    assert!(poisoned(c.read_next(true).map(drop)));
    assert!(poisoned(c.seek(0)));
    assert!(poisoned(wal.consumer("t", "d").map(drop)));
    assert!(poisoned(wal.delete_consumer("t", "c").map(drop)));
    assert!(poisoned(wal.set_meta("t", "k", b"v")));
    assert!(poisoned(wal.truncate_before("t", 1)));
    assert!(poisoned(wal.truncate_from("t", 0)));
    assert!(poisoned(wal.sync()));
    assert_eq!(wal.read_next("t", false).unwrap().unwrap().data, b"durable");
    assert_eq!(c.read_next(false).unwrap().unwrap().data, b"durable");
    assert_eq!(wal.read_from("t", 0, 0).unwrap()[0].data, b"durable");
    wal.wait_durable("t", 0).unwrap();
    let (tx, rx) = mpsc::channel();
    wal.on_durable(move |r| tx.send(matches!(r, Err(Error::Poisoned { .. }))).unwrap());
    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
    assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
}

/// `Wal::truncate_before`: "`offset` beyond the 48-bit offset range is
/// `Error::OffsetsExhausted`"; the last offset of the range is accepted as a start, and
/// then the topic has no offset left to append at.
#[test]
fn truncate_before_accepts_the_last_offset_and_refuses_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let last = (1u64 << 48) - 1;
    assert!(matches!(
        wal.truncate_before("t", last + 1),
        Err(Error::OffsetsExhausted { .. })
    ));
    assert!(wal.topics().is_empty());
    wal.truncate_before("t", last).unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), last);
    assert_eq!(wal.oldest_offset("t"), Some(last));
    assert!(matches!(
        wal.append_for_topic("t", b"x"),
        Err(Error::OffsetsExhausted { .. })
    ));
}

/// `Wal::truncate_from`: "An `offset` below the oldest retained entry is
/// `Error::OffsetReclaimed` (nothing is changed)"; at or past the end "does nothing".
#[test]
fn truncate_from_below_the_start_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[b"a", b"b", b"c", b"d"])
        .unwrap();
    wal.truncate_before("t", 2).unwrap();
    assert!(matches!(
        wal.truncate_from("t", 1),
        Err(Error::OffsetReclaimed {
            offset: 1,
            oldest: 2,
            ..
        })
    ));
    wal.truncate_from("t", 4).unwrap();
    wal.truncate_from("t", u64::MAX).unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 4);
    let data: Vec<Vec<u8>> = wal
        .read_range("t", 0..10, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(data, [b"c".to_vec(), b"d".to_vec()]);
}

/// `inspect::Inspection`: a cleanly closed log `is_clean`, is not `is_damaged`, and
/// `topics` lists each topic's cursors, the shared one (`""`) included, and its metadata;
/// `reclaimable_segments` lists the segments every cursor has passed; `entries` returns
/// at most `limit` entries from `from` on.
#[test]
fn inspect_reports_a_closed_log_as_its_docs_say() {
    let dir = tempfile::tempdir().unwrap();
    // Retention keeps every segment while the log runs, so that the background thread
    // reclaims nothing before inspect looks (the reopen below has no such setting).
    let wal = builder_with_segments(dir.path(), 16 << 10)
        .retain_age(std::time::Duration::from_secs(3600))
        .open()
        .unwrap();
    for i in 0..40u32 {
        wal.append_for_topic("t", &[i as u8; 1000]).unwrap();
    }
    for _ in 0..30 {
        wal.read_next("t", true).unwrap().unwrap();
    }
    wal.consumer("t", "c").unwrap().seek(30).unwrap();
    wal.set_meta("t", "k", b"v").unwrap();
    wal.close().unwrap();

    let backend = common::raw_backend();
    let report = wal::inspect::inspect(dir.path(), &*backend).unwrap();
    assert!(report.is_clean() && !report.is_damaged());
    let topics = report.topics();
    assert_eq!(topics.len(), 1);
    let t = &topics[0];
    assert_eq!(
        (t.name.as_str(), t.first_offset, t.next_offset),
        ("t", 0, 40)
    );
    assert_eq!(t.payload_bytes, 40_000);
    assert_eq!(t.cursors, vec![(String::new(), 30), ("c".to_string(), 30)]);
    assert_eq!(t.meta, vec![("k".to_string(), b"v".to_vec())]);
    let reclaimable = report.reclaimable_segments();
    assert!(!reclaimable.is_empty());
    let entries = report.entries(&*backend, "t", 5, 3).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
        [5, 6, 7]
    );
    assert!(entries.iter().all(|e| e.data == [e.offset as u8; 1000]));
    // Every segment it calls reclaimable holds only entries below every cursor (30).
    let holding: Vec<u64> = report
        .entries(&*backend, "t", 0, 40)
        .unwrap()
        .iter()
        .filter(|e| e.offset >= 30)
        .map(|e| e.segment)
        .collect();
    assert!(reclaimable.iter().all(|s| !holding.contains(s)));
    // What the log deletes when it opens again and reclaims is what inspect predicted.
    let wal = builder_with_segments(dir.path(), 16 << 10).open().unwrap();
    assert_eq!(wal.reclaim().unwrap(), reclaimable.len());
}
