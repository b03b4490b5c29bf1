//! Many threads appending at once: every entry is read back exactly once, in each topic's
//! order, and each thread's entries keep their order.

use super::common;

use std::collections::HashMap;

use common::{builder_with_segments, consume_all, peek_all};
use wal::{FsyncSchedule, Wal};

const THREADS: u64 = 16;

/// Entry `seq` of thread `thread`: the two numbers, then filler that depends on them.
fn encode(thread: u64, seq: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(32);
    data.extend_from_slice(&thread.to_le_bytes());
    data.extend_from_slice(&seq.to_le_bytes());
    data.extend((0..(seq % 17)).map(|k| (k + thread * 7 + seq) as u8));
    data
}

fn decode(data: &[u8]) -> (u64, u64) {
    assert!(data.len() >= 16, "entry too short: {data:?}");
    let thread = u64::from_le_bytes(data[..8].try_into().unwrap());
    let seq = u64::from_le_bytes(data[8..16].try_into().unwrap());
    assert_eq!(
        data,
        encode(thread, seq),
        "entry of thread {thread} seq {seq}"
    );
    (thread, seq)
}

fn open(dir: &std::path::Path, schedule: FsyncSchedule) -> Wal {
    builder_with_segments(dir, 1 << 20)
        .fsync(schedule)
        .open()
        .unwrap()
}

/// Each of 16 threads appends `per_thread` entries to its own topic.
fn threads_on_own_topics(schedule: FsyncSchedule, per_thread: u64) {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), schedule);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let wal = &wal;
            s.spawn(move || {
                let topic = format!("topic-{t}");
                for seq in 0..per_thread {
                    // Every other append is a batch of two, to mix both paths.
                    if seq % 4 == 1 {
                        continue;
                    }
                    if seq % 4 == 0 && seq + 1 < per_thread {
                        let range = wal
                            .batch_append_for_topic(&topic, &[&encode(t, seq), &encode(t, seq + 1)])
                            .unwrap();
                        assert_eq!(range, seq..seq + 2);
                    } else {
                        assert_eq!(wal.append_for_topic(&topic, &encode(t, seq)).unwrap(), seq);
                    }
                }
            });
        }
    });
    let check = |wal: &Wal, consume: bool| {
        assert_eq!(wal.topics().len(), THREADS as usize);
        for t in 0..THREADS {
            let topic = format!("topic-{t}");
            assert_eq!(wal.get_topic_entry_count(&topic), per_thread);
            let entries = if consume {
                consume_all(wal, &topic)
            } else {
                peek_all(wal, &topic)
            };
            assert_eq!(entries.len() as u64, per_thread, "{topic}");
            for (i, e) in entries.iter().enumerate() {
                assert_eq!(e.offset, i as u64);
                assert_eq!(decode(&e.data), (t, i as u64), "{topic}");
            }
        }
    };
    check(&wal, false);
    drop(wal);
    let wal = open(dir.path(), schedule);
    check(&wal, true);
}

/// 16 threads append `per_thread` entries each to one topic.
fn threads_on_one_topic(schedule: FsyncSchedule, per_thread: u64) {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), schedule);
    let returned: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = &wal;
                s.spawn(move || {
                    (0..per_thread)
                        .map(|seq| wal.append_for_topic("shared", &encode(t, seq)).unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = THREADS * per_thread;
    assert_eq!(wal.get_topic_entry_count("shared"), total);

    // The offsets handed out are exactly 0..total, each thread's in increasing order.
    let mut owner: HashMap<u64, (u64, u64)> = HashMap::new();
    for (t, offsets) in returned.iter().enumerate() {
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "thread {t}");
        for (seq, &o) in offsets.iter().enumerate() {
            assert!(
                owner.insert(o, (t as u64, seq as u64)).is_none(),
                "offset {o} twice"
            );
        }
    }
    assert_eq!(owner.len() as u64, total);
    assert!(owner.keys().all(|&o| o < total));

    let check = |entries: Vec<wal::Entry>| {
        assert_eq!(entries.len() as u64, total);
        let mut next_seq = vec![0u64; THREADS as usize];
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.offset, i as u64);
            let (t, seq) = decode(&e.data);
            // Each entry sits at the offset its append returned.
            assert_eq!(owner[&e.offset], (t, seq));
            // Each thread's entries appear in the order it appended them, none missing.
            assert_eq!(seq, next_seq[t as usize], "thread {t} at offset {i}");
            next_seq[t as usize] += 1;
        }
        assert!(next_seq.iter().all(|&n| n == per_thread));
    };
    check(peek_all(&wal, "shared"));
    drop(wal);

    let wal = open(dir.path(), schedule);
    assert_eq!(wal.get_topic_entry_count("shared"), total);
    check(consume_all(&wal, "shared"));
    assert_eq!(wal.read_next("shared", true).unwrap(), None);
}

#[test]
fn sixteen_threads_own_topics_sync_each() {
    threads_on_own_topics(FsyncSchedule::SyncEach, 200);
}

#[test]
fn sixteen_threads_own_topics_milliseconds() {
    threads_on_own_topics(FsyncSchedule::Milliseconds(5), 2000);
}

#[test]
fn sixteen_threads_one_topic_sync_each() {
    threads_on_one_topic(FsyncSchedule::SyncEach, 200);
}

#[test]
fn sixteen_threads_one_topic_milliseconds() {
    threads_on_one_topic(FsyncSchedule::Milliseconds(5), 2000);
}

#[test]
fn concurrent_consumers_of_one_topic_each_get_distinct_entries() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), FsyncSchedule::Milliseconds(5));
    let total = 4000u64;
    for i in 0..total {
        wal.append_for_topic("q", &encode(0, i)).unwrap();
    }
    let got: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let wal = &wal;
                s.spawn(move || {
                    let mut seen = Vec::new();
                    loop {
                        let batch = if k % 2 == 0 {
                            wal.read_next("q", true).unwrap().into_iter().collect()
                        } else {
                            wal.batch_read_for_topic("q", 200, true).unwrap()
                        };
                        if batch.is_empty() {
                            return seen;
                        }
                        for e in batch {
                            assert_eq!(decode(&e.data), (0, e.offset));
                            seen.push(e.offset);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = got.iter().flatten().copied().collect();
    for seen in &got {
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }
    all.sort_unstable();
    assert_eq!(all, (0..total).collect::<Vec<_>>());
}
