//! The commands that administer a log, run for real: `consumers` (list, reset, delete),
//! `truncate`, `reclaim`, `completions`, and `append`'s input formats, `--create` and
//! sizes.

mod common;

use std::path::Path;

use common::{builder, entries, snapshot, stdout_of, wal, SEGMENT};
use predicates::prelude::*;
use wal::{Error, FsyncSchedule};

/// `orders`: 5 entries, consumers `billing` (read 2) and `audit-x` (read none);
/// `audit`: 1 entry, consumer `x` (read it).
fn log_with_consumers(dir: &Path) {
    let wal = builder(dir).open().unwrap();
    for i in 0..5 {
        wal.append_for_topic("orders", &common::payload(i)).unwrap();
    }
    wal.append_for_topic("audit", b"a").unwrap();
    let billing = wal.consumer("orders", "billing").unwrap();
    billing.read_next(true).unwrap().unwrap();
    billing.read_next(true).unwrap().unwrap();
    wal.consumer("orders", "audit-x").unwrap();
    wal.consumer("audit", "x")
        .unwrap()
        .read_next(true)
        .unwrap()
        .unwrap();
    wal.close().unwrap();
}

/// The named consumers of `topic` as the library sees them after a reopen.
fn consumers(dir: &Path, topic: &str) -> Vec<(String, u64)> {
    let wal = builder(dir).open().unwrap();
    let list = wal.consumers(topic);
    wal.close().unwrap();
    list
}

#[test]
fn consumers_lists_positions_and_lag_read_only_even_while_the_log_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    log_with_consumers(dir.path());
    let before = snapshot(dir.path());
    let out = wal().args(["consumers", path]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout_of(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["TOPIC", "CONSUMER", "POSITION", "LAG"],
            vec!["orders", "audit-x", "0", "5"],
            vec!["orders", "billing", "2", "3"],
            vec!["audit", "x", "1", "0"],
        ]
    );
    let out = wal()
        .args(["consumers", path, "--topic", "orders", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"topic": "orders", "consumer": "audit-x", "position": 0, "lag": 5},
            {"topic": "orders", "consumer": "billing", "position": 2, "lag": 3},
        ])
    );
    wal()
        .args(["consumers", path, "--topic", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no topic \"nope\" (its topics: orders, audit)",
        ));
    assert!(snapshot(dir.path()) == before, "listing changed the log");
    // It needs no lock: it works while another process has the log open.
    let held = builder(dir.path()).open().unwrap();
    wal()
        .args(["consumers", path])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"orders\s+billing\s+2\s+3").unwrap());
    held.close().unwrap();
}

#[test]
fn consumers_reset_and_delete_change_the_log_durably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    log_with_consumers(dir.path());
    let reset = |to: &str| {
        wal()
            .args(["consumers", "reset", path, "orders", "billing", "--to", to])
            .assert()
    };
    reset("earliest").success().stdout(predicate::str::contains(
        "consumer \"billing\" of topic \"orders\": moved from 2 to 0 (lag 5), durable",
    ));
    assert_eq!(
        consumers(dir.path(), "orders")[1],
        ("billing".to_string(), 0)
    );
    reset("latest")
        .success()
        .stdout(predicate::str::contains("moved from 0 to 5"));
    reset("3").success();
    assert_eq!(
        consumers(dir.path(), "orders")[1],
        ("billing".to_string(), 3)
    );
    reset("99").code(2).stderr(predicate::str::contains(
        "no entry at offset 99 (next offset is 5)",
    ));
    reset("soon").code(2).stderr(predicate::str::contains(
        "not an offset, `earliest` or `latest`",
    ));
    wal()
        .args(["consumers", "reset", path, "orders", "nobody", "--to", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "has no consumer \"nobody\" (its consumers: audit-x, billing)",
        ));
    assert_eq!(
        consumers(dir.path(), "orders").len(),
        2,
        "nobody was not created"
    );

    wal()
        .args(["consumers", "delete", path, "orders", "audit-x"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "consumer \"audit-x\" of topic \"orders\" (at 0) deleted",
        ));
    assert_eq!(
        consumers(dir.path(), "orders"),
        vec![("billing".to_string(), 3)]
    );
    wal()
        .args(["consumers", "delete", path, "orders", "audit-x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no consumer \"audit-x\""));

    // Both open the log, so they refuse while another process holds it.
    let held = builder(dir.path()).open().unwrap();
    for args in [
        vec!["consumers", "reset", path, "orders", "billing", "--to", "0"],
        vec!["consumers", "delete", path, "orders", "billing"],
    ] {
        wal()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is locked"));
    }
    held.close().unwrap();
    let missing = dir.path().join("missing");
    wal()
        .args([
            "consumers",
            "delete",
            missing.to_str().unwrap(),
            "orders",
            "billing",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
    assert!(!missing.exists());
}

/// Appends 10,000-byte entries to `topic` until the log has `segments` segment files.
fn fill(dir: &Path, topic: &str, segments: usize) -> u64 {
    let wal = builder(dir).fsync(FsyncSchedule::NoFsync).open().unwrap();
    let mut n = 0;
    while common::segment_files_count(dir) < segments {
        wal.append_for_topic(topic, &[n as u8; 10_000]).unwrap();
        n += 1;
    }
    wal.close().unwrap();
    n
}

#[test]
fn truncate_then_reclaim_deletes_the_segments_it_freed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let n = fill(dir.path(), "raft", 5);
    let seg1 = common::segment(dir.path(), 1);
    wal()
        .args(["reclaim", path])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to reclaim"));
    assert!(seg1.exists(), "the shared cursor at 0 holds every segment");

    // About 6 entries of 10,000 bytes per segment: the first two segments hold 0..12.
    assert!(n >= 18, "{n} entries");
    let out = wal()
        .args(["truncate", path, "raft", "--before", "12"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout_of(&out);
    assert!(
        text.starts_with(&format!(
            "topic \"raft\": offsets 0..12 truncated; it now holds 12..{n} (durable)\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("removed {} (64.0 KiB)\n", common::segment_name(1))),
        "{text}"
    );
    assert!(text.contains("reclaimed "), "{text}");
    assert!(!seg1.exists());
    wal()
        .args(["reclaim", path])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to reclaim"));
    {
        let wal = builder(dir.path()).open().unwrap();
        assert_eq!(wal.oldest_offset("raft"), Some(12));
        assert_eq!(
            wal.read_from("raft", 12, 1).unwrap()[0].data,
            vec![12u8; 10_000]
        );
        assert!(matches!(
            wal.read_from("raft", 11, 1),
            Err(Error::OffsetReclaimed { oldest: 12, .. })
        ));
        wal.close().unwrap();
    }
    wal()
        .args(["truncate", path, "raft", "--before", "999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("next offset is {n}")));
    wal()
        .args(["truncate", path, "nope", "--before", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no topic \"nope\""));
}

#[test]
fn deleting_a_consumer_lets_reclaim_delete_what_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    {
        let wal = builder(dir.path())
            .fsync(FsyncSchedule::NoFsync)
            .open()
            .unwrap();
        wal.consumer("q", "idle").unwrap();
        while common::segment_files_count(dir.path()) < 4 {
            wal.append_for_topic("q", &[1u8; 10_000]).unwrap();
        }
        while wal.read_next("q", true).unwrap().is_some() {}
        wal.close().unwrap();
    }
    wal()
        .args(["reclaim", path])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to reclaim"));
    wal()
        .args(["consumers", "delete", path, "q", "idle"])
        .assert()
        .success();
    wal()
        .args(["reclaim", path])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "removed {}",
            common::segment_name(1)
        )));
    assert!(!common::segment(dir.path(), 1).exists());
}

#[test]
fn completions_for_every_shell_know_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = wal().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let script = stdout_of(&out);
        for word in [
            "consumers",
            "truncate",
            "reclaim",
            "completions",
            "exit-at-end",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let zsh = stdout_of(&wal().args(["completions", "zsh"]).output().unwrap());
    assert!(zsh.starts_with("#compdef wal"));
    let fish = stdout_of(&wal().args(["completions", "fish"]).output().unwrap());
    assert!(fish.contains("complete -c wal"));
    // Bash loads the script and registers it for `wal`.
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg("source <(\"$0\" completions bash) && complete -p wal")
        .arg(common::wal_path())
        .output()
        .unwrap();
    assert!(bash.status.success(), "{bash:?}");
    assert!(stdout_of(&bash).contains("wal"), "{bash:?}");
    wal().args(["completions", "tcsh-ish"]).assert().code(2);
}

#[test]
fn append_refuses_to_create_a_log_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mistyped");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    wal()
        .args(["append", missing.to_str().unwrap(), "t", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{} does not exist; refusing to create a new log there",
            missing.display()
        )))
        .stderr(predicate::str::contains("--create"));
    assert!(!missing.exists());
    wal()
        .args(["append", empty.to_str().unwrap(), "t", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{} holds no segment file (*.wal)",
            empty.display()
        )));
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    wal()
        .args([
            "append",
            missing.to_str().unwrap(),
            "t",
            "x",
            "--create",
            "--segment-size",
            "1MiB",
        ])
        .assert()
        .success()
        .stdout("0\n");
    assert_eq!(
        std::fs::metadata(common::segment(&missing, 1))
            .unwrap()
            .len(),
        1 << 20
    );
    // Once it exists, no --create is needed.
    wal()
        .args(["append", missing.to_str().unwrap(), "t", "y"])
        .assert()
        .success()
        .stdout("1\n");
    wal()
        .args([
            "append",
            empty.to_str().unwrap(),
            "t",
            "x",
            "--create",
            "--segment-size",
            "4x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown unit \"x\""));
}

#[test]
fn append_reads_raw_and_length_prefixed_input() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let path = log.to_str().unwrap();
    let create = ["--create", "--segment-size", "64KiB"];
    let binary: Vec<u8> = (0..=255u8).chain(b"\n\r\n\0end".iter().copied()).collect();
    wal()
        .args(["append", path, "blobs", "--format", "raw"])
        .args(create)
        .write_stdin(binary.clone())
        .assert()
        .success()
        .stdout("0\n");
    let mut frames = Vec::new();
    for data in [&b"first"[..], b"", &[0, 10, 13, 255]] {
        frames.extend_from_slice(&(data.len() as u32).to_le_bytes());
        frames.extend_from_slice(data);
    }
    wal()
        .args(["append", path, "frames", "--format", "len32"])
        .write_stdin(frames)
        .assert()
        .success()
        .stdout("0\n1\n2\n")
        .stderr(predicate::str::contains("appended 3 entries"));
    // A frame cut short: the entries before it stay, and the command fails.
    let mut cut = 3u32.to_le_bytes().to_vec();
    cut.extend_from_slice(b"abc");
    cut.extend_from_slice(&10u32.to_le_bytes());
    cut.extend_from_slice(b"xyz");
    wal()
        .args(["append", path, "frames", "--format", "len32"])
        .write_stdin(cut)
        .assert()
        .code(2)
        .stdout("3\n")
        .stderr(predicate::str::contains(
            "standard input ended inside frame 2 (3 of 10 bytes)",
        ));
    let data = |topic: &str| -> Vec<Vec<u8>> {
        entries(&log, topic).into_iter().map(|e| e.data).collect()
    };
    assert_eq!(data("blobs"), vec![binary]);
    let expected: [&[u8]; 4] = [b"first", b"", &[0, 10, 13, 255], b"abc"];
    assert_eq!(data("frames"), expected);

    wal()
        .args([
            "append",
            path,
            "blobs",
            "--format",
            "raw",
            "--max-entry-size",
            "1k",
        ])
        .write_stdin(vec![1u8; 2000])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`--max-entry-size` raises the limit",
        ));
    wal()
        .args(["append", path, "blobs", "inline", "--format", "raw"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--format raw describes standard input",
        ));
    assert_eq!(data("blobs").len(), 1);
    assert_eq!(SEGMENT, 64 << 10);
}
