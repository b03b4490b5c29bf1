//! The orchestrator and its worker processes, end to end, on tiny sizes: every system,
//! ours and the four peers, runs in its own process (walrus-rust with its environment set
//! for that child only), runs repeat and sum up to medians, and a run produces every
//! report file.

use std::path::Path;
use std::time::Duration;

use wal_bench::run::{run, run_worker};
use wal_bench::{Job, Profile, Report, Settings, System, Workload};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_wal-bench"))
}

#[test]
fn every_system_runs_in_a_worker_process() {
    let dir = tempfile::tempdir().unwrap();
    for system in System::ALTERNATING {
        let job = Job::new(
            system,
            Workload::Durable {
                threads: 2,
                shared_topic: false,
                size: 256,
            },
            dir.path().join(system.name().replace('/', "-")),
            Duration::from_millis(30),
        );
        let results = run_worker(exe(), &job).unwrap_or_else(|e| panic!("{system:?}: {e}"));
        assert_eq!(results.len(), 1, "{system:?}");
        let m = &results[0];
        assert_eq!(m.system, system.name());
        assert!(m.entries > 0, "{system:?} appended nothing");
        assert!(m.latency.is_some() && m.peak_rss_kib.is_some(), "{m:?}");
        assert_eq!(m.flushes.is_some(), system.is_ours(), "{m:?}");
    }
    // walrus-rust wrote where it was told to, not into ./wal_files.
    assert!(dir.path().join("walrus-rust").exists());
    assert!(!Path::new("wal_files").exists());
}

#[test]
fn a_worker_that_cannot_run_its_job_is_reported() {
    let job = Job::new(
        System::Okaywal,
        Workload::Small { threads: 1 },
        "/nonexistent/never-created",
        Duration::from_millis(1),
    );
    let err = run_worker(exe(), &job).unwrap_err().to_string();
    assert!(err.contains("no unsynced mode"), "{err}");
}

#[test]
fn a_filtered_smoke_run_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut s = Settings::new(Profile::Smoke, &dir.path().join("logs"), &out);
    s.filters = vec!["batch/100x".into(), "recovery".into()];
    s.repeats = 2;
    let mut events = 0;
    let report = run(&s, exe(), "test", |_| events += 1).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(events > 10);
    for sys in System::ALTERNATING {
        let batch = report.summary_of("batch/100x256B", sys).unwrap();
        assert_eq!(batch.values.len(), 2, "{sys:?} ran twice");
        assert!(
            batch.min <= batch.max && batch.median.entries > 0,
            "{batch:?}"
        );
        let rec = report.get("recovery", sys).unwrap();
        assert!(rec.log_bytes.unwrap() >= 1 << 20, "{rec:?}");
        assert_eq!(report.get("readback", sys).unwrap().entries, 1024);
    }
    let table = report.summary_table();
    assert!(table.contains("| 4 batch 100 × 256 B |"), "{table}");
    assert!(
        table.contains("raft-engine") && table.contains("raft-log"),
        "{table}"
    );
    assert!(
        !table.contains("durable"),
        "filtered rows are left out:\n{table}"
    );

    let files = wal_bench::output::write_all(&report, &out).unwrap();
    assert!(files.iter().any(|f| f.ends_with("report.md")));
    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.results.len(), report.results.len());
    // Every job's directory is gone, and so is the run's.
    assert_eq!(
        std::fs::read_dir(dir.path().join("logs")).unwrap().count(),
        0
    );
}
