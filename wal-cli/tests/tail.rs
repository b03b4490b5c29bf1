//! `wal tail` run for real: following a writer in another process (woken by file-system
//! events), reading only new bytes, and the ways it stops by itself (`-e`, `--count`),
//! with `--from N` and `--from -N`.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

use common::{builder, line_reader, stdout_of, wal, wal_path, write_entries, PATIENCE, SEGMENT};

/// Starts `wal tail` with `args`, its standard output and error read line by line.
fn spawn_tail(args: &[&str]) -> (Child, Receiver<String>, Receiver<String>) {
    let mut child = Command::new(wal_path())
        .arg("tail")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = line_reader(child.stdout.take().unwrap());
    let err = line_reader(child.stderr.take().unwrap());
    (child, out, err)
}

/// The next line, failing after [`PATIENCE`] (killing the child).
fn next_line(lines: &Receiver<String>, child: &mut Child) -> String {
    match lines.recv_timeout(PATIENCE) {
        Ok(line) => line,
        Err(e) => {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("no line from wal tail within {PATIENCE:?}: {e}");
        }
    }
}

/// The numbers of the `--debug-stats` line: bytes, reads, looks, event wake-ups, timeouts.
fn debug_stats(stderr: &Receiver<String>) -> (u64, u64, u64, u64, u64, String) {
    let line = stderr
        .iter()
        .find(|l| l.starts_with("wal: debug: "))
        .expect("a --debug-stats line");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 5, "{line}");
    (
        numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], line,
    )
}

#[test]
fn tail_follows_writers_in_other_processes_woken_by_file_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    {
        let wal = builder(dir.path()).open().unwrap();
        wal.append_for_topic("t", b"before").unwrap();
        wal.close().unwrap();
    }
    // An interval of 10 minutes: within the test's patience, only an event can wake it.
    let (mut child, out, err) = spawn_tail(&[
        path,
        "t",
        "--from",
        "0",
        "--count",
        "3",
        "--interval",
        "600000",
        "--debug-stats",
    ]);
    let first = next_line(&out, &mut child);
    assert!(
        first.starts_with("t:0 ") && first.ends_with(" \"before\""),
        "{first}"
    );
    // The first line proves tail is running; only now is the next entry appended, by
    // another `wal` process...
    wal()
        .args(["append", path, "t", "after 1"])
        .assert()
        .success();
    let second = next_line(&out, &mut child);
    assert!(
        second.starts_with("t:1 ") && second.ends_with(" \"after 1\""),
        "{second}"
    );
    // ...and by the library in this one.
    let appended = builder(dir.path()).open().and_then(|wal| {
        wal.append_for_topic("t", b"after 2")?;
        wal.close()
    });
    let third = next_line(&out, &mut child);
    appended.unwrap();
    assert!(
        third.starts_with("t:2 ") && third.ends_with(" \"after 2\""),
        "{third}"
    );
    assert!(
        common::wait_for_exit(&mut child).success(),
        "--count 3 ends it"
    );
    let (_, _, _, events, timeouts, line) = debug_stats(&err);
    assert!(line.ends_with("watching: yes"), "{line}");
    assert_eq!(timeouts, 0, "{line}");
    assert!(events >= 1, "{line}");
}

#[test]
fn tail_reads_only_the_bytes_appended_not_the_whole_log_at_each_look() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    wal.append_for_topic("t", b"old").unwrap();
    while common::segment_files_count(dir.path()) < 5 {
        wal.append_for_topic("bulk", &[7u8; 10_000]).unwrap();
    }
    let log_bytes = 5 * SEGMENT;
    // From the end: only what is appended from now on.
    let (mut child, out, err) = spawn_tail(&[
        path,
        "t",
        "--count",
        "20",
        "--interval",
        "600000",
        "--debug-stats",
    ]);
    // Entries appended before tail has found the end would count as old: wait for it.
    let started = next_line(&err, &mut child);
    assert_eq!(
        started,
        format!("wal: following topic \"t\" of {path} from offset 1 (Ctrl-C to stop)")
    );
    for i in 0..20 {
        let data = format!("new {i}");
        wal.append_for_topic("t", data.as_bytes()).unwrap();
        // Each entry is seen before the next is appended, so the follower reads the log
        // many times (one look can still find the next entry if it comes while it reads).
        let line = next_line(&out, &mut child);
        assert!(
            line.starts_with(&format!("t:{} ", i + 1)) && line.ends_with(&format!("\"{data}\"")),
            "{line}"
        );
    }
    assert!(common::wait_for_exit(&mut child).success());
    wal.close().unwrap();
    let (bytes, _, looks, _, _, line) = debug_stats(&err);
    assert!(looks >= 2, "{line}");
    // At the start, at most the last segment (from its start, to learn the topic's id);
    // then each new record (24 + 6 bytes here) and, per look, the header of zeros after
    // the last record and that of the next segment.
    let bound = SEGMENT + 20 * 32 + looks * 2 * 24;
    assert!(
        bytes <= bound,
        "{line}: more than {bound}; a rescan per look would read {} bytes",
        looks * log_bytes
    );
    assert!(bytes * 4 < log_bytes, "{line}");
}

#[test]
fn tail_stops_at_the_end_or_after_a_count_and_starts_n_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    write_entries(dir.path(), 10);
    let offsets = |args: &[&str]| -> Vec<u64> {
        let out = wal()
            .arg("tail")
            .arg(path)
            .arg("t")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        stdout_of(&out)
            .lines()
            .map(|l| {
                let (offset, rest) = l.strip_prefix("t:").unwrap().split_once(' ').unwrap();
                let offset: u64 = offset.parse().unwrap();
                assert!(rest.ends_with(&format!("\"entry {offset}\"")), "{l}");
                offset
            })
            .collect()
    };
    assert_eq!(offsets(&["--from", "0", "-e"]), (0..10).collect::<Vec<_>>());
    assert_eq!(offsets(&["--from", "-3", "-e"]), vec![7, 8, 9]);
    assert_eq!(offsets(&["--from=-3", "--exit-at-end"]), vec![7, 8, 9]);
    assert_eq!(
        offsets(&["--from", "-20", "-e"]),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(offsets(&["--from", "-0", "-e"]), Vec::<u64>::new());
    assert_eq!(offsets(&["-e"]), Vec::<u64>::new(), "from the end");
    assert_eq!(offsets(&["--from", "2", "--count", "4"]), vec![2, 3, 4, 5]);
    assert_eq!(offsets(&["--from", "-5", "--count", "2", "-e"]), vec![5, 6]);
    assert_eq!(offsets(&["--from", "8", "--count", "5", "-e"]), vec![8, 9]);

    let out = wal()
        .args(["tail", path, "t", "--from", "-2", "-e", "--json"])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["offset"].as_u64(), lines[0]["data"].as_str()),
        (Some(8), Some("entry 8"))
    );
    wal()
        .args(["tail", path, "nope", "--from", "0", "-e"])
        .assert()
        .success()
        .stdout("");
    wal()
        .args(["tail", path, "t", "--from", "-x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "not an offset (N) or a count from the end (-N)",
        ));
}

#[test]
fn tail_follows_an_mmap_writer_and_without_events_by_looking_at_the_interval() {
    // Writes through a memory map raise no inotify event: the interval look finds them.
    // With --no-watch, that look is the only wake-up.
    for (backend, no_watch) in [(wal::Backend::Mmap, false), (wal::Backend::Std, true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let wal = builder(dir.path()).backend(backend).open().unwrap();
        wal.append_for_topic("t", b"first").unwrap();
        let mut args = vec![path, "t", "--from", "0", "--count", "2", "--interval", "20"];
        args.extend(["--debug-stats"]);
        if no_watch {
            args.push("--no-watch");
        }
        let (mut child, out, err) = spawn_tail(&args);
        let first = next_line(&out, &mut child);
        assert!(first.ends_with(" \"first\""), "{first}");
        wal.append_for_topic("t", b"second").unwrap();
        let second = next_line(&out, &mut child);
        assert!(
            second.starts_with("t:1 ") && second.ends_with(" \"second\""),
            "{second}"
        );
        assert!(common::wait_for_exit(&mut child).success());
        let (_, _, _, events, _, line) = debug_stats(&err);
        if no_watch {
            assert!(line.ends_with("watching: no") && events == 0, "{line}");
        }
        wal.close().unwrap();
    }
}
