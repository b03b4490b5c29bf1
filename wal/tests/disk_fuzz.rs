//! Fuzzing the bytes on disk (issue 10): a mutation fuzzer over the segment files of a
//! real log, run against `wal::inspect` (what `wal verify` uses), `Strict` recovery and
//! `PointInTime` recovery.
//!
//! Two small logs are written once through the public API (several 8 KiB segments, three
//! topics, batches, a named consumer, a `truncate_before`; one under `SyncEach` and
//! closed, one under `NoFsync` with explicit syncs and abandoned as a crash would leave
//! it); every case copies one, applies one to three seeded mutations from `wal_testkit::mutate`
//! (flipped bits, garbage, zeroed ranges, cuts and extensions, duplicated, swapped or
//! deleted segments, hostile record headers, forged records), and checks:
//! - no panic and no hang: each case runs on a worker thread with a deadline;
//! - nothing invented: every topic, consumer and entry that `inspect` or a successful open
//!   returns was written, byte for byte, at that offset;
//! - `inspect` agrees with `Strict` recovery on whether the log is damaged;
//! - what `PointInTime` keeps is a sound log: it takes an append to each topic right after
//!   the entries it kept, a `Strict` reopen then reads exactly that (the named consumer
//!   where it was), and `inspect` finds the closed log clean;
//! - memory bounded and reading linear, counted by a decorator backend rather than timed:
//!   no single read larger than a constant, and at most a few times the files' bytes read.
//!
//! cargo-fuzz is not used: it needs a nightly toolchain, and CI machines have only the
//! stable one (no other can be fetched), so the mutations are drawn by proptest (the issue
//! allows either). Cases: `WAL_FUZZ_CASES` (default 3000, shared by the four fuzz tests
//! below); `WAL_FUZZ_SEED`, with the same `WAL_FUZZ_CASES`, replays a run.
//! A failure prints the mutations as drawn and as applied, the run's seed, and proptest
//! keeps the failing case in `disk_fuzz.proptest-regressions` beside this file. Each
//! finding is kept below as a named regression test (`regressions.rs`).

// The crate root sits in `tests/`, so its modules are named by path.
#[path = "disk_fuzz/oracle.rs"]
mod oracle;
#[path = "disk_fuzz/regressions.rs"]
mod regressions;
#[path = "disk_fuzz/source.rs"]
mod source;
#[path = "disk_fuzz/strategy.rs"]
mod strategy;

use std::cell::RefCell;

use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use wal_testkit::mutate::Mutation;

use oracle::{run_case, Tally, DEADLINE};

/// Defects of issue 10 that are open on this branch (the lead is fixing them in
/// wal-core). While one is open, the random fuzz leaves out the mutations that reach it;
/// each has a named regression test in `regressions.rs`, ignored while open. Once a fix is
/// merged, set its flag to `false` and un-ignore its test.
#[derive(Debug, Clone, Copy)]
pub struct OpenDefects {
    /// Defect 4: a segment whose length is not a multiple of 8 panics recovery.
    pub unaligned_panic: bool,
    /// Defect 7: a scan checksums every candidate header: quadratic on hostile headers.
    pub quadratic_scan: bool,
    /// Defect 8: recovery and `inspect` read a whole segment file at once.
    pub whole_file_reads: bool,
    /// Defect 10: flags are accepted on records that are not entries.
    pub flags_on_non_entries: bool,
    /// Found by this fuzzer: a cursor record past its topic's end is clamped in memory
    /// only, so the consumer skips entries appended after recovery once the log reopens.
    pub cursor_past_the_end: bool,
}

/// The defects still open (all fixed: every gate is off, so the fuzz reaches them).
pub const OPEN: OpenDefects = OpenDefects {
    unaligned_panic: false,
    quadratic_scan: false,
    whole_file_reads: false,
    flags_on_non_entries: false,
    cursor_past_the_end: false,
};

/// Cases per run, over the four fuzz tests, when `WAL_FUZZ_CASES` is not set: sized for
/// CI (about 20 s in a debug build on two cores).
const DEFAULT_CASES: u32 = 3000;

fn total_cases() -> u32 {
    std::env::var("WAL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn run_seed() -> u64 {
    if let Some(seed) = std::env::var("WAL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return seed;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now ^ u64::from(std::process::id()).rotate_left(32)
}

/// Runs `percent` of the run's cases drawn from `cases`, and checks the run did real work:
/// some logs opened, some were refused, entries were read back.
fn fuzz(name: &str, percent: u32, cases: BoxedStrategy<Vec<Mutation>>) {
    let total = total_cases();
    let n = (total * percent / 100).max(1);
    let seed = run_seed();
    let mut seed_bytes = [0u8; 32];
    for chunk in seed_bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
    let config = Config {
        cases: n,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        // A hang costs a deadline per shrinking step: stop shrinking after a while.
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let tally = RefCell::new(Tally::default());
    let sources = source::sources();
    let result = runner.run(&(0..sources.len(), cases), |(src, muts)| {
        let t = run_case(&sources[src], &muts, DEADLINE).map_err(TestCaseError::fail)?;
        tally.borrow_mut().add(&t);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}\n(replay this run with WAL_FUZZ_SEED={seed} WAL_FUZZ_CASES={total})");
    }
    let t = tally.into_inner();
    eprintln!("{name}: {n} cases (seed {seed}): {t:?}");
    assert!(
        t.entries_checked > 0,
        "{name}: no entry was read back: {t:?}"
    );
    if n >= 100 {
        assert!(
            t.strict_opened > 0 && t.strict_refused > 0 && t.pit_opened > 0,
            "{name}: the cases do not reach both outcomes: {t:?}"
        );
    }
}

#[test]
fn fuzz_bytes_in_place() {
    fuzz(
        "bytes in place",
        35,
        strategy::cases(strategy::in_place(OPEN), OPEN),
    );
}

#[test]
fn fuzz_file_lengths() {
    fuzz(
        "file lengths",
        25,
        strategy::cases(strategy::lengths(OPEN), OPEN),
    );
}

#[test]
fn fuzz_whole_segments() {
    fuzz(
        "whole segments",
        15,
        strategy::cases(strategy::whole_files(), OPEN),
    );
}

#[test]
fn fuzz_any() {
    let any = strategy::any_mutation(OPEN);
    fuzz("any", 25, proptest::collection::vec(any, 1..=3).boxed());
}

/// The oracle itself: an undamaged log opens in every mode with everything written (less
/// what `truncate_before` dropped), so the fuzz cannot pass by refusing everything.
#[test]
fn undamaged_logs_pass_every_check() {
    for src in source::sources() {
        let t = run_case(src, &[], DEADLINE).unwrap();
        assert_eq!((t.strict_opened, t.strict_refused, t.pit_opened), (1, 0, 1));
        assert_eq!(t.pit_lost_entries, 0, "{}", src.name);
        assert_eq!(t.entries_checked, 2 * src.retained, "{}: {t:?}", src.name);
        assert!(src.retained > 200, "{}: {}", src.name, src.retained);
    }
}
