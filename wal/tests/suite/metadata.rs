//! Topic metadata (`set_meta` / `meta`): durable, per topic, bounded, and declared again in
//! every segment's preamble, so that it never keeps an old segment alive.

use super::common;

use wal::{Error, FsyncSchedule};

#[test]
fn values_are_per_topic_overwritten_and_survive_reopens_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        common::builder(dir.path())
            .fsync(FsyncSchedule::SyncEach)
            .open()
            .unwrap()
    };
    let wal = open();
    assert_eq!(wal.meta("raft", "vote"), None);
    wal.set_meta("raft", "vote", b"term 1").unwrap();
    assert_eq!(wal.topics(), ["raft"], "the topic is created");
    wal.set_meta("raft", "vote", b"term 2").unwrap();
    wal.set_meta("raft", "committed", b"").unwrap();
    wal.set_meta("other", "vote", b"elsewhere").unwrap();
    wal.append_for_topic("raft", b"entry").unwrap();
    let check = |wal: &wal::Wal, what: &str| {
        assert_eq!(
            wal.meta("raft", "vote").as_deref(),
            Some(&b"term 2"[..]),
            "{what}"
        );
        assert_eq!(
            wal.meta("raft", "committed").as_deref(),
            Some(&b""[..]),
            "{what}"
        );
        assert_eq!(
            wal.meta("other", "vote").as_deref(),
            Some(&b"elsewhere"[..])
        );
        assert_eq!(wal.meta("other", "committed"), None, "{what}");
        assert_eq!(wal.meta("nope", "vote"), None, "{what}");
        assert_eq!(
            wal.read_next("raft", false).unwrap().unwrap().data,
            b"entry"
        );
    };
    check(&wal, "live");
    wal.close().unwrap();
    let wal = open();
    check(&wal, "after a reopen");
    wal.abandon();
    let wal = open();
    check(&wal, "after a kill");
    let largest = vec![7u8; wal::MAX_META_VALUE];
    wal.set_meta("raft", "snapshot", &largest).unwrap();
    wal.close().unwrap();
    assert_eq!(open().meta("raft", "snapshot"), Some(largest));
}

#[test]
fn bad_keys_and_oversized_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::builder(dir.path()).open().unwrap();
    for key in ["", "a/b", "..", "nul\0"] {
        let err = wal.set_meta("t", key, b"v").unwrap_err();
        assert!(matches!(err, Error::InvalidTopic { .. }), "{key:?}: {err}");
    }
    let err = wal.set_meta("t", &"k".repeat(256), b"v").unwrap_err();
    assert!(matches!(err, Error::InvalidTopic { .. }), "{err}");
    let err = wal.set_meta("a/b", "k", b"v").unwrap_err();
    assert!(matches!(err, Error::InvalidTopic { .. }), "{err}");
    let too_big = vec![0u8; wal::MAX_META_VALUE + 1];
    let err = wal.set_meta("t", "k", &too_big).unwrap_err();
    assert!(
        matches!(err, Error::MetaTooLarge { size, .. } if size == too_big.len()),
        "{err}"
    );
    assert!(wal.topics().is_empty(), "nothing was created");
    // In small segments the table every segment repeats is bounded to half a segment.
    let small = tempfile::tempdir().unwrap();
    let wal = common::builder_with_segments(small.path(), 4096)
        .open()
        .unwrap();
    let err = wal.set_meta("t", "k", &[1; 3000]).unwrap_err();
    assert!(matches!(err, Error::TopicTableFull { .. }), "{err}");
    wal.set_meta("t", "k", &[1; 1000]).unwrap();
    // Replacing a value by one of the same size needs no more room.
    wal.set_meta("t", "k", &[2; 1000]).unwrap();
    assert_eq!(wal.meta("t", "k"), Some(vec![2; 1000]));
}

/// How many segment files a log keeps when a Raft-like writer appends entries, purges
/// all but the newest ones and updates its vote and committed index as it goes: with the
/// values kept as metadata, or as entries of a topic of their own (which nothing ever
/// purges: the latest value must stay readable).
fn segments_kept(metadata_as_entries: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let wal = common::tiny_sync_each(dir.path())
        .precreate_segments(false)
        .open()
        .unwrap();
    for i in 0..400u64 {
        wal.append_for_topic("log", &[i as u8; 200]).unwrap();
        if i % 10 == 0 {
            let value = i.to_le_bytes();
            if metadata_as_entries {
                wal.append_for_topic("meta", &value).unwrap();
            } else {
                wal.set_meta("log", "committed", &value).unwrap();
            }
        }
        if i % 20 == 19 {
            wal.truncate_before("log", i - 2).unwrap();
            wal.sync().unwrap();
            wal.reclaim().unwrap();
        }
    }
    if !metadata_as_entries {
        assert_eq!(
            wal.meta("log", "committed"),
            Some(390u64.to_le_bytes().to_vec())
        );
    }
    let kept = wal.segment_count();
    wal.close().unwrap();
    kept
}

/// Metadata updates never pin old segments: the log keeps only the segments its entries
/// need, as many as without metadata at all; values kept as entries of a topic of their
/// own pin every segment since the first.
#[test]
fn metadata_never_keeps_a_segment_alive() {
    let with_meta = segments_kept(false);
    let as_entries = segments_kept(true);
    // The last 3 entries of 200 bytes fit in one segment of 4 KiB; the active one may be
    // the next.
    assert!(with_meta <= 2, "{with_meta} segments kept with metadata");
    assert!(
        as_entries > 10,
        "{as_entries} segments kept with metadata as entries"
    );
}

/// The segment holding a metadata record can be deleted: the value lives on in the
/// preambles of the later segments.
#[test]
fn a_value_outlives_the_segment_it_was_written_in() {
    let dir = tempfile::tempdir().unwrap();
    let open = || common::tiny_sync_each(dir.path()).open().unwrap();
    let wal = open();
    wal.set_meta("log", "vote", b"term 9").unwrap();
    for i in 0..60u64 {
        wal.append_for_topic("log", &[i as u8; 200]).unwrap();
    }
    wal.truncate_before("log", 60).unwrap();
    wal.sync().unwrap();
    wal.reclaim().unwrap();
    common::wait_until_gone(&dir.path().join(common::segment_name(1)));
    wal.close().unwrap();
    let wal = open();
    assert_eq!(wal.meta("log", "vote").as_deref(), Some(&b"term 9"[..]));
    assert_eq!(wal.oldest_offset("log"), Some(60));
}

/// Found by the campaign (seed 0x1414, run 23 on io_uring, a power loss in
/// `LoseDirOps`): a torn tail cut the newest segment's preamble after a topic's
/// definition and before its cursors and metadata. Recovery counted the topic as
/// declared, so the segment never stated them again; once the segments before it were
/// deleted, the next restart lost the value (and a named consumer). Recovery now declares
/// again every topic whose cursors or metadata the last segment does not state, and no
/// earlier segment goes before those records are durable.
#[test]
fn a_preamble_cut_after_a_definition_loses_no_metadata_or_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        common::tiny_sync_each(dir.path())
            .precreate_segments(false)
            .open()
            .unwrap()
    };
    let wal = open();
    wal.set_meta("t", "vote", b"term 5").unwrap();
    wal.consumer("t", "c").unwrap();
    while wal.segment_count() < 2 {
        wal.append_for_topic("t", &[7; 300]).unwrap();
    }
    wal.close().unwrap();
    // Segment 2's preamble: TopicDef "t", its cursors, its metadata. Keep the definition,
    // zero everything after it, as a torn tail would have left it.
    let second = dir.path().join(common::segment_name(2));
    let bytes = std::fs::read(&second).unwrap();
    let def = wal_core::format::decode_header(&bytes[32..]).unwrap();
    assert_eq!(def.kind, wal_core::format::RecordKind::TopicDef);
    let cut = 32 + wal_core::format::record_size(def.len as usize) as u64;
    let end = common::used_bytes(&second);
    wal_testkit::logdir::zero_range(&second, cut..end);

    let wal = open();
    assert_eq!(wal.meta("t", "vote").as_deref(), Some(&b"term 5"[..]));
    // Everything becomes reclaimable: segment 1 goes.
    let end = wal.get_topic_entry_count("t");
    wal.truncate_before("t", end).unwrap();
    wal.sync().unwrap();
    wal.reclaim().unwrap();
    common::wait_until_gone(&dir.path().join(common::segment_name(1)));
    wal.close().unwrap();
    let wal = open();
    assert_eq!(wal.meta("t", "vote").as_deref(), Some(&b"term 5"[..]));
    assert_eq!(wal.consumers("t"), vec![("c".to_string(), end)]);
}
