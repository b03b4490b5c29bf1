//! The `wal` binary run for real against logs these tests make: help, stats, dump,
//! append, the lock, and directories that are not logs. `tail.rs` and `admin.rs` hold the
//! tests of `tail` and of the commands that administer a log.

mod common;

use std::process::Command;

use common::{builder, entries, payload, segment, snapshot, stdout_of, wal, write_entries};
use predicates::prelude::*;

#[test]
fn help_of_every_command_has_an_example() {
    for cmd in [
        "stats",
        "dump",
        "verify",
        "repair",
        "tail",
        "append",
        "consumers",
        "truncate",
        "reclaim",
        "completions",
    ] {
        wal()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"))
            .stdout(predicate::str::contains(format!("  wal {cmd} ")))
            .stdout(predicate::str::contains("Exit status"));
    }
    wal()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:").and(predicate::str::contains("Exit status")));
    wal()
        .args(["verify", "--help"])
        .assert()
        .stdout(predicate::str::contains("2  unusable"));
}

#[test]
fn stats_shows_topics_counts_cursors_and_consumer_lag() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = builder(dir.path()).open().unwrap();
        for i in 0..5 {
            wal.append_for_topic("orders", &payload(i)).unwrap();
        }
        wal.append_for_topic("audit", b"x").unwrap();
        let billing = wal.consumer("orders", "billing").unwrap();
        billing.read_next(true).unwrap().unwrap();
        billing.read_next(true).unwrap().unwrap();
        wal.read_next("orders", true).unwrap().unwrap();
        wal.set_meta("orders", "vote", b"term 3").unwrap();
        wal.close().unwrap();
    }
    let before = snapshot(dir.path());
    wal()
        .args(["stats", dir.path().to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("state:        clean"))
        .stdout(predicate::str::contains("entries:      6 in 2 topic(s)"))
        .stdout(predicate::str::contains(
            r#"topic "orders": 5 entries (offsets 0..5)"#,
        ))
        .stdout(predicate::str::contains(
            r#"topic "audit": 1 entry (offsets 0..1)"#,
        ))
        .stdout(predicate::str::is_match(r"shared cursor\s+at 1\s+lag 4").unwrap())
        .stdout(predicate::str::is_match(r#"consumer "billing"\s+at 2\s+lag 3"#).unwrap())
        .stdout(predicate::str::contains(r#"metadata "vote": 6 B"#))
        .stdout(predicate::str::contains("reclaimable:  nothing"));

    let out = wal()
        .args(["stats", "--json", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"], 6);
    assert_eq!(v["clean"], true);
    let orders = &v["topics"][0];
    assert_eq!(
        (orders["name"].as_str(), orders["entries"].as_u64()),
        (Some("orders"), Some(5))
    );
    let billing = orders["cursors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["consumer"] == "billing")
        .unwrap();
    assert_eq!(
        (billing["position"].as_u64(), billing["lag"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(orders["metadata"][0]["key"], "vote");
    assert_eq!(orders["metadata"][0]["bytes"], 6);
    assert_eq!(snapshot(dir.path()), before, "stats changed the log");
}

#[test]
fn stats_lists_the_segments_every_cursor_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A size policy keeps the segments on disk although every cursor passed them.
        let wal = builder(dir.path()).retain_bytes(1 << 30).open().unwrap();
        for _ in 0..15 {
            wal.append_for_topic("t", &[7u8; 10_000]).unwrap();
        }
        while wal.read_next("t", true).unwrap().is_some() {}
        wal.close().unwrap();
    }
    assert!(segment(dir.path(), 3).exists());
    wal()
        .args(["stats", dir.path().to_str().unwrap()])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"reclaimable:  \d+ segment\(s\) \(.*\): ids 1, 2").unwrap(),
        );
}

#[test]
fn dump_prints_text_hex_positions_and_json() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = builder(dir.path()).open().unwrap();
        wal.append_for_topic("t", b"hello \"world\"").unwrap();
        wal.append_for_topic("t", &[0, 1, 0xff]).unwrap();
        wal.append_for_topic("u", b"line\nbreak").unwrap();
        wal.close().unwrap();
    }
    let t = entries(dir.path(), "t");
    let u = entries(dir.path(), "u");
    let expected = format!(
        "t:0 size=13 segment=1 position={} \"hello \\\"world\\\"\"\n\
         t:1 size=3 segment=1 position={} hex 0001ff\n\
         u:0 size=10 segment=1 position={} \"line\\nbreak\"\n",
        t[0].position, t[1].position, u[0].position
    );
    wal()
        .args(["dump", dir.path().to_str().unwrap()])
        .assert()
        .success()
        .stdout(expected);

    let out = wal()
        .args([
            "dump",
            "--json",
            "--topic",
            "t",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["topic"], "t");
    assert_eq!(lines[0]["data"], "hello \"world\"");
    assert_eq!(lines[0]["position"], t[0].position);
    assert_eq!(lines[0]["segment"], 1);
    assert_eq!(lines[1]["hex"], "0001ff");
    assert_eq!(lines[1]["size"], 3);
    assert!(lines[1].get("data").is_none());
}

#[test]
fn dump_from_and_limit_select_entries() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), 10);
    let out = wal()
        .args([
            "dump",
            dir.path().to_str().unwrap(),
            "-t",
            "t",
            "--from",
            "3",
            "--limit",
            "2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<String> = stdout_of(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("t:3 ") && lines[0].ends_with("\"entry 3\""));
    assert!(lines[1].starts_with("t:4 ") && lines[1].ends_with("\"entry 4\""));
    wal()
        .args(["dump", dir.path().to_str().unwrap(), "--topic", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no topic \"nope\""));
}

#[test]
fn append_from_stdin_and_from_an_argument_then_dump() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let log = log.to_str().unwrap();
    wal()
        .args([
            "append",
            log,
            "greetings",
            "--create",
            "--segment-size",
            "64KiB",
        ])
        .write_stdin("hello\r\nworld\n\nlast line without newline")
        .assert()
        .success()
        .stdout("0\n1\n2\n3\n")
        .stderr(predicate::str::contains("appended 4 entries"));
    wal()
        .args(["append", log, "greetings", "one more"])
        .assert()
        .success()
        .stdout("4\n");
    let log = std::path::Path::new(log);
    let data: Vec<Vec<u8>> = entries(log, "greetings")
        .into_iter()
        .map(|e| e.data)
        .collect();
    let expected: [&[u8]; 5] = [
        b"hello",
        b"world",
        b"",
        b"last line without newline",
        b"one more",
    ];
    assert_eq!(data, expected);
    wal()
        .args(["dump", log.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("greetings:2 size=0 "))
        .stdout(predicate::str::contains(" \"last line without newline\"\n"));
    // The log kept the segment size it was created with.
    assert_eq!(std::fs::metadata(segment(log, 1)).unwrap().len(), 65536);
}

#[test]
fn repair_and_append_refuse_while_the_log_is_open_but_readers_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let open = builder(dir.path()).open().unwrap();
    open.append_for_topic("t", b"held").unwrap();
    open.sync().unwrap();
    for args in [
        vec!["repair", path],
        vec!["repair", path, "--mode", "point-in-time"],
        vec!["append", path, "t", "x"],
        vec!["truncate", path, "t", "--before", "1"],
        vec!["reclaim", path],
    ] {
        wal()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "is locked: another process has the log open",
            ));
    }
    // The read-only commands need no lock.
    wal().args(["verify", path]).assert().success();
    wal()
        .args(["stats", path])
        .assert()
        .success()
        .stdout(predicate::str::contains("topic \"t\": 1 entry"));
    wal()
        .args(["dump", path])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"held\""));
    open.close().unwrap();
    wal()
        .args(["append", path, "t", "x"])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn directories_that_are_not_logs_are_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory").unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for d in [&missing, &file, &empty] {
        for cmd in ["stats", "dump", "verify", "repair"] {
            wal()
                .args([cmd, d.to_str().unwrap()])
                .assert()
                .code(2)
                .stderr(predicate::str::starts_with("wal: "));
        }
    }
    wal()
        .args(["verify", empty.to_str().unwrap()])
        .assert()
        .stderr(predicate::str::contains("not a wal log"));
    assert!(
        !missing.exists(),
        "a read-only command created the directory"
    );
}

#[test]
fn names_no_topic_or_consumer_can_have_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), 1);
    let d = dir.path().to_str().unwrap();
    for args in [
        &["tail", d, "..", "--exit-at-end"][..],
        &["dump", d, "--topic", "a/b"],
        &["append", d, "", "x"],
        &["consumers", d, "--topic", "."],
        &["truncate", d, "bad\\name", "--before", "1"],
        &["consumers", "reset", d, "t", "..", "--to", "earliest"],
    ] {
        wal()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid topic name"));
    }
    // Nothing was written.
    assert_eq!(entries(dir.path(), "t").len(), 1);
}

/// Runs `wal verify DIR` with its address space limited to `limit_kib` KiB (`ulimit -v`);
/// returns its exit status.
fn verify_within(dir: &std::path::Path, limit_kib: u64) -> std::process::ExitStatus {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {limit_kib} && exec \"$0\" verify \"$1\" --no-progress >/dev/null"
        ))
        .arg(common::wal_path())
        .arg(dir)
        .status()
        .unwrap()
}

#[test]
fn verify_memory_does_not_grow_with_the_log() {
    // A log of 64 segments of 4 MiB (256 MiB), checked by a process that may map at most
    // 96 MiB: it only passes if verify holds one bounded window, not whole segments.
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path())
        .fsync(wal::FsyncSchedule::NoFsync)
        .segment_size(4 << 20)
        .max_entry_size(1 << 20)
        .open()
        .unwrap();
    let entry = vec![7u8; 1 << 20];
    while common::segment_files_count(dir.path()) < 64 {
        wal.append_for_topic("t", &entry).unwrap();
    }
    wal.close().unwrap();
    let small = tempfile::tempdir().unwrap();
    write_entries(small.path(), 3);
    let limit = 96 << 10;
    assert!(
        verify_within(small.path(), limit).success(),
        "the limit is too tight for any log"
    );
    assert!(
        verify_within(dir.path(), limit).success(),
        "verify of a 256 MiB log needed more than 96 MiB of address space"
    );
}
