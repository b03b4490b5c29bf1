//! What the fuzzer draws: mutations biased towards the places where a log's format is
//! fragile (segment headers, preambles, record boundaries, the last segment).

use proptest::prelude::*;
use wal_core::format::RecordKind;
use wal_testkit::mutate::{Fill, HostileLen, Mutation, Seg};

use crate::source::{CONSUMER, SEGMENT_SIZE};
use crate::OpenDefects;

/// A segment: often the last one (where a torn tail may be), else any.
fn seg() -> impl Strategy<Value = Seg> {
    prop_oneof![2 => Just(Seg::Last), 3 => (0usize..16).prop_map(Seg::Nth)]
}

/// A byte position (taken modulo the file's length when applied).
fn at() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => 0u64..32,                       // the segment header
        2 => 32u64..1024,                    // the preamble and the first records
        2 => (0u64..SEGMENT_SIZE / 8).prop_map(|w| w * 8), // a record boundary, maybe
        1 => (0u64..4).prop_map(|p| p * 4096), // a page
        2 => any::<u64>(),
    ]
}

/// Changes inside a file that keep its length.
pub fn in_place(open: OpenDefects) -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => (seg(), at(), any::<u8>()).prop_map(|(seg, at, mask)| Mutation::FlipBits { seg, at, mask }),
        1 => (seg(), at(), 1u64..600, any::<u64>())
            .prop_map(|(seg, at, len, seed)| Mutation::Garbage { seg, at, len, seed }),
        2 => (seg(), at(), prop_oneof![1u64..64, Just(4096u64), 1u64..SEGMENT_SIZE])
            .prop_map(|(seg, at, len)| Mutation::Zero { seg, at, len }),
        2 => hostile(open),
        2 => forge(open),
    ]
    .boxed()
}

/// Record headers that decode, claiming long payloads. While defect 7 is open (a scan
/// checksums every candidate: quadratic), they stay within a segment's size.
fn hostile(open: OpenDefects) -> impl Strategy<Value = Mutation> {
    let max_count = if open.quadratic_scan { 1024u32 } else { 8192 };
    (
        seg(),
        at(),
        1u32..max_count,
        prop_oneof![2 => Just(1u8), 1 => 1u8..6],
        prop_oneof![4 => 1u8..=5, 1 => any::<u8>()],
        prop_oneof![4 => 0u8..=3, 1 => any::<u8>()],
        prop_oneof![
            2 => Just(HostileLen::ToEnd),
            1 => (0u32..3 * SEGMENT_SIZE as u32).prop_map(HostileLen::Fixed),
            1 => any::<u32>().prop_map(HostileLen::Fixed),
        ],
    )
        .prop_map(
            |(seg, at, count, stride, kind, flags, len)| Mutation::HostileHeaders {
                seg,
                at,
                count,
                stride,
                kind,
                flags,
                len,
            },
        )
}

/// Records with a valid checksum that cannot invent content: cursors of the known
/// consumers, sync marks, truncations from either end, metadata (which no check reads),
/// and entries of topics that do not exist. While
/// defect 10 (flags on records that are not entries) is open, their flags are 0; while a
/// cursor past the end is clamped in memory only, forged cursors are at offset 0.
fn forge(open: OpenDefects) -> impl Strategy<Value = Mutation> {
    let kind = prop_oneof![
        Just(RecordKind::Cursor),
        Just(RecordKind::SyncMark),
        Just(RecordKind::Truncate),
        Just(RecordKind::TruncateFrom),
        Just(RecordKind::Meta),
        Just(RecordKind::Entry),
    ];
    let flags = if open.flags_on_non_entries {
        Just(0u8).boxed()
    } else {
        (0u8..=3).boxed()
    };
    // The shared cursor, the known consumer, or names recovery must refuse.
    let payload = prop_oneof![
        Just(Vec::new()),
        Just(CONSUMER.as_bytes().to_vec()),
        Just(b"a/b".to_vec()),
        Just(b"..".to_vec()),
        Just(b"nul\0".to_vec()),
        Just(vec![0xff, 0xfe]),
        Just(vec![b'x'; 256]),
    ];
    (
        seg(),
        at(),
        kind,
        flags,
        0u32..3,
        prop_oneof![0u64..300, any::<u64>()],
        prop_oneof![Just(0u32), 0u32..SEGMENT_SIZE as u32, any::<u32>()],
        payload,
    )
        .prop_map(
            move |(seg, at, kind, flags, topic, offset, synced, payload)| {
                // An entry only for a topic id that was never defined, so it cannot be accepted.
                let (topic, flags, payload, offset) = match kind {
                    RecordKind::Entry => (topic + 3, 0, payload, offset),
                    RecordKind::Cursor if open.cursor_past_the_end => (topic, flags, payload, 0),
                    RecordKind::Cursor => (topic, flags, payload, offset),
                    // A name is a payload of one of three kinds: a key length past its end,
                    // a key and a value, or not UTF-8.
                    RecordKind::Meta => (topic, flags, payload, 0),
                    _ => (topic, flags, Vec::new(), offset),
                };
                Mutation::Forge {
                    seg,
                    at,
                    kind,
                    flags,
                    topic,
                    offset,
                    synced,
                    payload,
                }
            },
        )
}

/// Changes of a file's length. While defect 4 is open (a panic on a length that is not a
/// multiple of 8), cuts keep lengths multiples of 8; while defect 8 is open (recovery reads
/// a whole file at once), extensions stay small.
pub fn lengths(open: OpenDefects) -> BoxedStrategy<Mutation> {
    let to = if open.unaligned_panic {
        (0u64..=2 * SEGMENT_SIZE / 8).prop_map(|w| w * 8).boxed()
    } else {
        prop_oneof![0u64..=2 * SEGMENT_SIZE, 0u64..64].boxed()
    };
    // Large sparse files are rare: even read in bounded chunks, 40 MiB of zeros take a
    // while to scan in a debug build.
    let sparse = if open.whole_file_reads {
        (1u64..(1 << 20)).boxed()
    } else {
        prop_oneof![40 => 1u64..(1 << 20), 1 => (16u64 << 20)..(40 << 20)].boxed()
    };
    prop_oneof![
        3 => (seg(), to).prop_map(|(seg, to)| Mutation::Truncate { seg, to }),
        2 => (seg(), prop_oneof![1u64..64, 1u64..2 * SEGMENT_SIZE], fill())
            .prop_map(|(seg, by, fill)| Mutation::Extend { seg, by, fill }),
        1 => (seg(), sparse).prop_map(|(seg, by)| Mutation::Extend { seg, by, fill: Fill::Zeros }),
    ]
    .boxed()
}

fn fill() -> impl Strategy<Value = Fill> {
    prop_oneof![Just(Fill::Zeros), any::<u64>().prop_map(Fill::Garbage)]
}

/// Changes to whole segment files.
pub fn whole_files() -> BoxedStrategy<Mutation> {
    prop_oneof![
        1 => (seg(), any::<bool>())
            .prop_map(|(seg, fix_header)| Mutation::DuplicateAsNext { seg, fix_header }),
        1 => (seg(), seg(), any::<bool>())
            .prop_map(|(a, b, fix_headers)| Mutation::Swap { a, b, fix_headers }),
        1 => seg().prop_map(|seg| Mutation::Delete { seg }),
    ]
    .boxed()
}

/// Any mutation.
pub fn any_mutation(open: OpenDefects) -> BoxedStrategy<Mutation> {
    prop_oneof![4 => in_place(open), 3 => lengths(open), 1 => whole_files()].boxed()
}

/// One to three mutations of `kind`, or of `kind` and any other.
pub fn cases(kind: BoxedStrategy<Mutation>, open: OpenDefects) -> BoxedStrategy<Vec<Mutation>> {
    prop_oneof![
        3 => proptest::collection::vec(kind.clone(), 1..=3),
        1 => (kind, any_mutation(open)).prop_map(|(a, b)| vec![a, b]),
    ]
    .boxed()
}
