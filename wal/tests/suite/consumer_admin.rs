//! Administration of named consumers: listing, `Consumer::seek` and `Wal::delete_consumer`,
//! each checked across a reopen (and a crash), and against retention.

use std::path::Path;

use wal::{Error, FsyncSchedule, Wal};

use super::common;

const SEGMENT: u64 = 16 << 10;

fn open(dir: &Path) -> Wal {
    common::builder(dir)
        .segment_size(SEGMENT)
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    let mut d = vec![(i % 251) as u8; 1000];
    d[..8].copy_from_slice(&i.to_le_bytes());
    d
}

/// 300 entries of 1000 bytes (about 20 segments), all consumed by the shared cursor.
fn fill_and_consume(wal: &Wal) {
    for i in 0..300u64 {
        wal.append_for_topic("q", &entry(i)).unwrap();
    }
    while wal.read_next("q", true).unwrap().is_some() {}
}

/// The named consumers of `q` as a read-only scan of `dir` finds them (what `wal` sees).
fn consumers_on_disk(dir: &Path) -> Vec<(String, u64)> {
    let backend = common::raw_backend();
    let ins = wal::inspect::inspect(dir, &*backend).unwrap();
    let topics = ins.topics();
    let q = topics.iter().find(|t| t.name == "q").unwrap();
    q.cursors
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .cloned()
        .collect()
}

#[test]
fn a_deleted_consumer_is_gone_after_reopen_and_no_longer_holds_retention() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    let idle = wal.consumer("q", "idle").unwrap();
    wal.consumer("q", "busy").unwrap().seek(0).unwrap();
    fill_and_consume(&wal);
    let busy = wal.consumer("q", "busy").unwrap();
    while !busy.batch_read(1 << 20, true).unwrap().is_empty() {}
    wal.reclaim().unwrap();
    assert_eq!(
        wal.oldest_offset("q"),
        Some(0),
        "the idle consumer holds it"
    );
    assert_eq!(
        wal.consumers("q"),
        vec![("busy".to_string(), 300), ("idle".to_string(), 0)]
    );

    assert!(wal.delete_consumer("q", "idle").unwrap());
    assert!(!wal.delete_consumer("q", "idle").unwrap(), "deleted twice");
    assert!(!wal.delete_consumer("nope", "idle").unwrap());
    assert!(matches!(
        wal.delete_consumer("q", ""),
        Err(Error::InvalidTopic { .. })
    ));
    assert_eq!(wal.consumers("q"), vec![("busy".to_string(), 300)]);
    wal.reclaim().unwrap();
    let oldest = wal.oldest_offset("q").unwrap();
    assert!(oldest > 250, "retention still held at {oldest}");
    drop(idle);
    // The tombstone was durable when delete_consumer returned: a crash keeps it.
    wal.abandon();

    let wal = open(dir.path());
    assert_eq!(wal.consumers("q"), vec![("busy".to_string(), 300)]);
    assert!(wal.oldest_offset("q").unwrap() > 250);
    // More segments: their preambles no longer declare it, and the one holding the
    // tombstone can go as well.
    fill_and_consume(&wal);
    while !busy_of(&wal).batch_read(1 << 20, true).unwrap().is_empty() {}
    wal.reclaim().unwrap();
    wal.close().unwrap();
    assert_eq!(
        consumers_on_disk(dir.path()),
        vec![("busy".to_string(), 600)]
    );
    let wal = open(dir.path());
    assert_eq!(wal.consumers("q"), vec![("busy".to_string(), 600)]);
    // The name can be used again: a new consumer starts at the oldest retained entry.
    let again = wal.consumer("q", "idle").unwrap();
    assert_eq!(again.position(), wal.oldest_offset("q").unwrap());
}

fn busy_of(wal: &Wal) -> wal::Consumer {
    wal.consumer("q", "busy").unwrap()
}

#[test]
fn seek_moves_a_consumer_back_and_ahead_durably() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    for i in 0..20u64 {
        wal.append_for_topic("t", &entry(i)).unwrap();
    }
    let c = wal.consumer("t", "c").unwrap();
    assert_eq!(c.batch_read(usize::MAX, true).unwrap().len(), 20);
    c.seek(3).unwrap();
    assert_eq!(c.position(), 3);
    assert_eq!(c.read_next(true).unwrap().unwrap().data, entry(3));
    c.seek(15).unwrap();
    assert!(matches!(
        c.seek(21),
        Err(Error::OffsetNotFound {
            offset: 21,
            next: 20,
            ..
        })
    ));
    assert_eq!(c.position(), 15, "a refused seek moves nothing");
    c.seek(20).unwrap();
    assert_eq!(c.read_next(true).unwrap(), None);
    c.seek(7).unwrap();
    drop(c);
    // Durable when seek returned: a crash (no close, no cursor persisted) keeps it.
    wal.abandon();
    let wal = open(dir.path());
    assert_eq!(wal.consumers("t"), vec![("c".to_string(), 7)]);
    assert_eq!(
        wal.consumer("t", "c")
            .unwrap()
            .read_next(true)
            .unwrap()
            .unwrap()
            .offset,
        7
    );
}

#[test]
fn seeking_back_keeps_what_the_consumer_goes_back_to_and_reclaimed_offsets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    let c = wal.consumer("q", "c").unwrap();
    fill_and_consume(&wal);
    c.seek(300).unwrap();
    wal.reclaim().unwrap();
    let oldest = wal.oldest_offset("q").unwrap();
    assert!(oldest > 250, "{oldest}");
    assert!(matches!(
        c.seek(oldest - 1),
        Err(Error::OffsetReclaimed { oldest: o, .. }) if o == oldest
    ));
    c.seek(oldest).unwrap();
    // More appends and consumption by the shared cursor: the consumer now holds them.
    for i in 300..600u64 {
        wal.append_for_topic("q", &entry(i)).unwrap();
    }
    while wal.read_next("q", true).unwrap().is_some() {}
    wal.reclaim().unwrap();
    assert_eq!(wal.oldest_offset("q"), Some(oldest));
    assert_eq!(c.read_next(true).unwrap().unwrap().data, entry(oldest));
    wal.close().unwrap();
}
