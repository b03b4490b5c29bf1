//! A few dozen real kill -9 rounds: every acknowledged entry survives, intact.

use std::time::Duration;

use wal_testkit::crash::{run_loop, LoopOptions};

#[test]
fn acknowledged_entries_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LoopOptions {
        child_exe: env!("CARGO_BIN_EXE_wal-crash").into(),
        dir: dir.path().join("log"),
        rounds: 24,
        seed: 42,
        max_delay: Duration::from_millis(120),
    };
    let summary = run_loop(&opts).unwrap();
    assert_eq!(summary.violations, Vec::<String>::new());
    assert_eq!(summary.rounds, 24);
    assert!(
        summary.acks > 0,
        "the children acknowledged nothing: {summary:?}"
    );
    assert!(summary.entries > 0);
}
