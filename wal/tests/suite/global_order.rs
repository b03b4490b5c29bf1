//! One global order: what survives a crash is a prefix of the whole log, across topics,
//! not only of each topic. Raft relies on it: a vote (metadata of one topic) must never
//! survive while entries of another topic written before it are lost.

use super::common;

use std::path::Path;
use std::sync::Arc;

use wal::{FsyncSchedule, Wal};
use wal_testkit::faulty::{FaultPlan, FaultyBackend, ALL_CRASH_MODES};

fn open(dir: &Path, backend: &Arc<FaultyBackend>) -> Wal {
    common::builder_without_dir()
        .dir(dir)
        .fsync(FsyncSchedule::NoFsync)
        // Small buffers and segments: records reach the OS (unsynced) all the time and
        // the log rolls over, so each crash mode has pages to lose, reorder and tear.
        .write_buffer(512)
        .segment_size(8192)
        .max_entry_size(2048)
        .custom_backend(backend.clone())
        .open()
        .unwrap()
}

/// Appends to topic `a`, sets metadata on topic `b` recording how many entries of `a`
/// came before it, truncates `a`'s suffix now and then, and crashes without a sync, in
/// every crash mode with many seeds. After recovery: if a value of `b` survived, so did
/// every entry of `a` written before it (and every truncation before it).
#[test]
fn metadata_that_survives_a_crash_comes_with_everything_written_before_it() {
    let mut survived_values = 0;
    for seed in 0..6u64 {
        for (m, &mode) in ALL_CRASH_MODES.iter().enumerate() {
            let seed = seed * 100 + m as u64;
            let dir = tempfile::tempdir().unwrap();
            let backend = Arc::new(FaultyBackend::new(
                common::raw_backend(),
                FaultPlan::seeded(seed),
            ));
            let wal = open(dir.path(), &backend);
            // After step k, topic `a` holds `expected[k]` (entries by offset).
            let mut expected: Vec<Vec<Vec<u8>>> = Vec::new();
            let mut a: Vec<Vec<u8>> = Vec::new();
            for step in 0..60u64 {
                if step % 13 == 12 && a.len() > 3 {
                    let cut = a.len() as u64 - 2;
                    wal.truncate_from("a", cut).unwrap();
                    a.truncate(cut as usize);
                } else {
                    let len = 20 + (seed * 7 + step * 31) % 400;
                    let data = vec![(step % 251) as u8; len as usize];
                    assert_eq!(wal.append_for_topic("a", &data).unwrap(), a.len() as u64);
                    a.push(data);
                }
                expected.push(a.clone());
                wal.set_meta("b", "vote", &step.to_le_bytes()).unwrap();
            }
            // Everything written to the OS (none of it synced), then the power goes.
            wal.read_range("a", 0..u64::MAX, usize::MAX).unwrap();
            wal.abandon();
            backend.crash(mode).unwrap();
            backend.set_plan(FaultPlan::seeded(seed));
            let wal = open(dir.path(), &backend);
            let got: Vec<Vec<u8>> = wal
                .read_range("a", 0..u64::MAX, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|e| e.data)
                .collect();
            let what = format!("{mode:?}, seed {seed}");
            if let Some(v) = wal.meta("b", "vote") {
                survived_values += 1;
                let step = u64::from_le_bytes(v.try_into().unwrap()) as usize;
                // The prefix that survived ends with that value's record, or with the
                // next step's record (before the next value).
                assert!(
                    got == expected[step] || expected.get(step + 1) == Some(&got),
                    "{what}: vote {step} survived with {} entries of `a`; it came after {}",
                    got.len(),
                    expected[step].len()
                );
            }
            // Whatever survived is the state after some step (or before the first).
            assert!(
                got.is_empty() || expected.contains(&got),
                "{what}: {} entries that no prefix of the log holds",
                got.len()
            );
            wal.close().unwrap();
        }
    }
    // The check above is not vacuous: crashes kept some values.
    assert!(survived_values > 0, "no value ever survived");
}
