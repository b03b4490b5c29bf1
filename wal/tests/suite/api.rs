//! Round trips through the public API: append, read, peek, batches and counts.

use super::common;

use common::{
    builder, builder_with_segments, consume_all, expected, payload, peek_all, SMALL_SEGMENT,
};
use wal::Entry;

#[test]
fn fifty_topics_interleaved_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the appends roll over several times, so reads cross segments.
    let wal = builder_with_segments(dir.path(), SMALL_SEGMENT)
        .open()
        .unwrap();
    let names: Vec<String> = (0..50).map(|t| format!("topic-{t:02}")).collect();
    let per_topic = 40u64;
    for i in 0..per_topic {
        for t in 0..names.len() {
            // A stride coprime to 50: every topic once per round, in a shuffled order that
            // changes from round to round.
            let name = &names[(t * 7 + i as usize * 3) % names.len()];
            let offset = wal.get_topic_entry_count(name);
            assert_eq!(
                wal.append_for_topic(name, &payload(name, offset)).unwrap(),
                offset
            );
        }
    }
    let mut sorted = wal.topics();
    sorted.sort();
    assert_eq!(sorted, names);
    assert!(
        common::segment_files(dir.path()).len() > 1,
        "the test should cross segments"
    );
    // Consume a different number of entries of each topic, then reopen and read the rest.
    for (t, name) in names.iter().enumerate() {
        assert_eq!(wal.get_topic_entry_count(name), per_topic);
        let k = t as u64 % (per_topic + 1);
        assert_eq!(common::consume_n(&wal, name, k), expected(name, 0..k));
    }
    drop(wal);
    let wal = builder_with_segments(dir.path(), SMALL_SEGMENT)
        .open()
        .unwrap();
    assert_eq!(wal.topics().len(), names.len());
    for (t, name) in names.iter().enumerate() {
        let k = t as u64 % (per_topic + 1);
        assert_eq!(wal.get_topic_entry_count(name), per_topic);
        assert_eq!(consume_all(&wal, name), expected(name, k..per_topic));
        assert_eq!(wal.read_next(name, true).unwrap(), None);
    }
}

#[test]
fn empty_and_one_byte_entries() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.append_for_topic("t", b"").unwrap(), 0);
    assert_eq!(wal.append_for_topic("t", b"x").unwrap(), 1);
    assert_eq!(wal.append_for_topic("t", b"").unwrap(), 2);
    assert_eq!(wal.append_for_topic("t", &[0]).unwrap(), 3);
    let want = vec![
        Entry {
            offset: 0,
            data: vec![],
        },
        Entry {
            offset: 1,
            data: b"x".to_vec(),
        },
        Entry {
            offset: 2,
            data: vec![],
        },
        Entry {
            offset: 3,
            data: vec![0],
        },
    ];
    assert_eq!(consume_all(&wal, "t"), want);
    drop(wal);

    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 4);
    assert_eq!(wal.read_next("t", true).unwrap(), None);
}

#[test]
fn multi_mib_entries_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let big = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed) ^ (i >> 13) as u8)
            .collect()
    };
    let three = big(3 << 20, 1);
    let eight = big(8 << 20, 2);
    assert_eq!(wal.append_for_topic("big", &three).unwrap(), 0);
    assert_eq!(wal.append_for_topic("big", b"between").unwrap(), 1);
    assert_eq!(wal.append_for_topic("big", &eight).unwrap(), 2);

    let first = wal.read_next("big", true).unwrap().unwrap();
    assert_eq!(first.offset, 0);
    assert!(first.data == three, "3 MiB entry differs");
    let rest = wal.batch_read_for_topic("big", 16 << 20, false).unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(
        (rest[0].offset, rest[0].data.as_slice()),
        (1, &b"between"[..])
    );
    assert_eq!(rest[1].offset, 2);
    assert!(rest[1].data == eight, "8 MiB entry differs");
    drop(wal);

    let wal = builder(dir.path()).open().unwrap();
    let rest = consume_all(&wal, "big");
    assert_eq!(rest.iter().map(|e| e.offset).collect::<Vec<_>>(), [1, 2]);
    assert!(rest[1].data == eight, "8 MiB entry differs after reopen");
}

#[test]
fn binary_data_with_every_byte_value() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let ascending: Vec<u8> = (0..=255u8).collect();
    let descending: Vec<u8> = (0..=255u8).rev().collect();
    // Zeros at the end must not be mistaken for padding or unwritten space.
    let mut zero_tail = ascending.clone();
    zero_tail.extend([0u8; 13]);
    let all = [ascending, descending, zero_tail, vec![0u8; 9]];
    for (i, data) in all.iter().enumerate() {
        assert_eq!(wal.append_for_topic("bin", data).unwrap(), i as u64);
    }
    let want: Vec<Entry> = all
        .iter()
        .enumerate()
        .map(|(i, d)| Entry {
            offset: i as u64,
            data: d.clone(),
        })
        .collect();
    assert_eq!(peek_all(&wal, "bin"), want);
    drop(wal);

    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(consume_all(&wal, "bin"), want);
}

#[test]
fn peek_returns_the_same_entry_and_consume_advances() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    for i in 0..3 {
        wal.append_for_topic("t", &payload("t", i)).unwrap();
    }
    let first = Entry {
        offset: 0,
        data: payload("t", 0),
    };
    for _ in 0..3 {
        assert_eq!(wal.read_next("t", false).unwrap(), Some(first.clone()));
    }
    assert_eq!(wal.read_next("t", true).unwrap(), Some(first));
    let second = Entry {
        offset: 1,
        data: payload("t", 1),
    };
    assert_eq!(wal.read_next("t", false).unwrap(), Some(second.clone()));
    assert_eq!(wal.read_next("t", false).unwrap(), Some(second.clone()));
    assert_eq!(wal.read_next("t", true).unwrap(), Some(second));
    assert_eq!(wal.read_next("t", true).unwrap().map(|e| e.offset), Some(2));
}

#[test]
fn reading_past_the_end_returns_none() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.append_for_topic("t", b"only").unwrap();
    assert_eq!(wal.read_next("t", true).unwrap().map(|e| e.offset), Some(0));
    assert_eq!(wal.read_next("t", true).unwrap(), None);
    assert_eq!(wal.read_next("t", false).unwrap(), None);
    assert_eq!(wal.batch_read_for_topic("t", 1024, true).unwrap(), vec![]);
    // A later append is delivered: the end was not a permanent state.
    assert_eq!(wal.append_for_topic("t", b"later").unwrap(), 1);
    assert_eq!(
        wal.read_next("t", true).unwrap(),
        Some(Entry {
            offset: 1,
            data: b"later".to_vec()
        })
    );
    assert_eq!(wal.read_next("t", true).unwrap(), None);
}

#[test]
fn unknown_topic_reads_none() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.append_for_topic("known", b"x").unwrap();
    assert_eq!(wal.read_next("unknown", false).unwrap(), None);
    assert_eq!(wal.read_next("unknown", true).unwrap(), None);
    assert_eq!(
        wal.batch_read_for_topic("unknown", 1 << 20, true).unwrap(),
        vec![]
    );
    assert_eq!(wal.topics(), vec!["known".to_string()]);
}

#[test]
fn batch_append_returns_the_offset_range() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.append_for_topic("t", b"a").unwrap(), 0);
    assert_eq!(
        wal.batch_append_for_topic("t", &[b"b", b"c", b"d"])
            .unwrap(),
        1..4
    );
    assert_eq!(wal.batch_append_for_topic("t", &[b"e"]).unwrap(), 4..5);
    assert_eq!(wal.append_for_topic("t", b"f").unwrap(), 5);
    assert_eq!(
        wal.batch_append_for_topic("u", &[b"x", b"y"]).unwrap(),
        0..2
    );
    let data: Vec<Vec<u8>> = consume_all(&wal, "t").into_iter().map(|e| e.data).collect();
    assert_eq!(
        data,
        [b"a", b"b", b"c", b"d", b"e", b"f"].map(|d| d.to_vec())
    );
    assert_eq!(wal.get_topic_entry_count("u"), 2);
}

#[test]
fn empty_batch_append_returns_an_empty_range() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let none: &[&[u8]] = &[];
    assert_eq!(wal.batch_append_for_topic("t", none).unwrap(), 0..0);
    wal.batch_append_for_topic("t", &[b"a", b"b"]).unwrap();
    assert_eq!(wal.batch_append_for_topic("t", none).unwrap(), 2..2);
    assert_eq!(wal.get_topic_entry_count("t"), 2);
    assert_eq!(wal.append_for_topic("t", b"c").unwrap(), 2);
}

#[test]
fn batch_read_budget_smaller_than_first_entry_returns_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.batch_append_for_topic("t", &[&[7u8; 100][..], &[8u8; 10]])
        .unwrap();
    let got = wal.batch_read_for_topic("t", 1, true).unwrap();
    assert_eq!(
        got,
        vec![Entry {
            offset: 0,
            data: vec![7; 100]
        }]
    );
    let got = wal.batch_read_for_topic("t", 1, true).unwrap();
    assert_eq!(
        got,
        vec![Entry {
            offset: 1,
            data: vec![8; 10]
        }]
    );
    assert_eq!(wal.batch_read_for_topic("t", 1, true).unwrap(), vec![]);
}

#[test]
fn batch_read_budget_fitting_exactly_k_entries_returns_k() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let entries: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 10]).collect();
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    assert_eq!(wal.batch_append_for_topic("t", &refs).unwrap(), 0..10);

    // 30 bytes hold exactly three 10-byte entries; 39 still three; 40 four.
    for (budget, k) in [(30, 3), (39, 3), (40, 4), (10, 1), (100, 10), (1000, 10)] {
        let got = wal.batch_read_for_topic("t", budget, false).unwrap();
        let offsets: Vec<u64> = got.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, (0..k).collect::<Vec<u64>>(), "budget {budget}");
        for e in &got {
            assert_eq!(e.data, entries[e.offset as usize]);
        }
    }
    // Consuming with a budget moves the cursor by exactly what was returned.
    let got = wal.batch_read_for_topic("t", 30, true).unwrap();
    assert_eq!(got.iter().map(|e| e.offset).collect::<Vec<_>>(), [0, 1, 2]);
    let got = wal.batch_read_for_topic("t", 50, true).unwrap();
    assert_eq!(
        got.iter().map(|e| e.offset).collect::<Vec<_>>(),
        [3, 4, 5, 6, 7]
    );
    let got = wal.batch_read_for_topic("t", 50, true).unwrap();
    assert_eq!(got.iter().map(|e| e.offset).collect::<Vec<_>>(), [8, 9]);
}

#[test]
fn batch_read_budget_of_zero_returns_every_empty_entry_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    let empty: &[u8] = b"";
    wal.batch_append_for_topic("t", &[empty, empty, empty, b"abc"])
        .unwrap();
    // A budget of 1 byte returns the three empty entries (0 payload bytes), as documented:
    // reading stops only when the next entry would take the payload past the budget.
    let one = wal.batch_read_for_topic("t", 1, false).unwrap();
    assert_eq!(one.iter().map(|e| e.offset).collect::<Vec<_>>(), [0, 1, 2]);
    // A budget of 0 bytes fits exactly the same three entries.
    let zero = wal.batch_read_for_topic("t", 0, false).unwrap();
    assert_eq!(zero.iter().map(|e| e.offset).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn batch_read_without_checkpoint_does_not_move_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    for i in 0..5 {
        wal.append_for_topic("t", &payload("t", i)).unwrap();
    }
    let all = expected("t", 0..5);
    assert_eq!(wal.batch_read_for_topic("t", 1 << 20, false).unwrap(), all);
    assert_eq!(wal.batch_read_for_topic("t", 1 << 20, false).unwrap(), all);
    assert_eq!(wal.read_next("t", false).unwrap(), Some(all[0].clone()));
    assert_eq!(wal.read_next("t", true).unwrap(), Some(all[0].clone()));
    assert_eq!(
        wal.batch_read_for_topic("t", 1 << 20, false).unwrap(),
        all[1..]
    );
    drop(wal);

    // The peeks were not persisted as consumption either.
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(peek_all(&wal, "t"), all[1..]);
}

#[test]
fn topic_entry_count() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 0);
    assert_eq!(wal.get_topic_entry_count("never"), 0);
    wal.append_for_topic("t", b"a").unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 1);
    wal.batch_append_for_topic("t", &[b"b", b"c"]).unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 3);
    // Consuming does not change the count: it is the number of entries ever appended.
    wal.read_next("t", true).unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 3);
    assert_eq!(wal.get_topic_entry_count("never"), 0);
    drop(wal);

    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(wal.get_topic_entry_count("t"), 3);
    assert_eq!(wal.get_topic_entry_count("never"), 0);
}
