//! `wal verify` and `wal repair` on every kind of damage recovery detects: verify reports
//! what opening the log would report (file and offset) and changes nothing; repair leaves
//! a log that verifies clean with every undamaged entry kept, and a copy of what it cut.

mod common;

use std::fs;
use std::path::Path;

use common::{
    all_entries, builder, copy_dir, damaged_files, entries, fill_three_segments, flip, overwrite,
    payload, segment, snapshot, stdout_of, wal, write_entries,
};
use predicates::prelude::*;
use wal_core::format::{encode_record, record_size, RecordFields, RecordKind};

/// One way to damage a log: builds it in a directory, damages it, and says what `wal
/// verify` must print (with its exit status).
struct Case {
    name: &'static str,
    exit: i32,
    /// Builds and damages the log; returns a fragment the report must contain.
    make: fn(&Path) -> String,
}

/// The last entry record of `topic` in segment `id`.
fn last_entry_in(dir: &Path, topic: &str, id: u64) -> u64 {
    entries(dir, topic)
        .iter()
        .filter(|e| e.segment == id)
        .map(|e| e.position)
        .max()
        .unwrap()
}

fn checksum(dir: &Path) -> String {
    write_entries(dir, 6);
    let pos = entries(dir, "t")[2].position;
    flip(&segment(dir, 1), pos + 30); // in the payload
    format!("checksum mismatch at {}:{pos}", segment(dir, 1).display())
}

fn malformed_header(dir: &Path) -> String {
    write_entries(dir, 6);
    let pos = entries(dir, "t")[2].position;
    flip(&segment(dir, 1), pos + 9); // the flags byte: an unknown flag
    format!("corrupt record at {}:{pos}", segment(dir, 1).display())
}

fn wrong_offset_with_a_valid_checksum(dir: &Path) -> String {
    write_entries(dir, 6);
    let pos = entries(dir, "t")[2].position;
    let path = segment(dir, 1);
    let original = fs::read(&path).unwrap();
    let synced = u32::from_le_bytes(original[pos as usize + 20..][..4].try_into().unwrap());
    let mut record = Vec::new();
    encode_record(
        &mut record,
        1,
        RecordFields::new(RecordKind::Entry, 0, 7).with_synced(synced),
        &payload(2),
    );
    overwrite(&path, pos, &record);
    format!(
        "corrupt record at {}:{pos}: entry offset 7 where 2 was expected",
        path.display()
    )
}

fn damage_in_a_sealed_segment(dir: &Path) -> String {
    fill_three_segments(dir);
    let pos = last_entry_in(dir, "a", 1).max(last_entry_in(dir, "b", 1));
    flip(&segment(dir, 1), pos + 40);
    format!("at {}:{pos}", segment(dir, 1).display())
}

fn missing_segment(dir: &Path) -> String {
    fill_three_segments(dir);
    fs::remove_file(segment(dir, 2)).unwrap();
    "missing segment: 00000000000000000002.wal".into()
}

fn torn_tail(dir: &Path) -> String {
    write_entries(dir, 6);
    let pos = entries(dir, "t")[5].position;
    overwrite(&segment(dir, 1), pos + 12, &[0x55; 20]);
    format!("at {}:{pos})", segment(dir, 1).display())
}

fn torn_batch(dir: &Path) -> String {
    let wal = builder(dir).open().unwrap();
    wal.append_for_topic("t", &payload(0)).unwrap();
    let batch: Vec<Vec<u8>> = (1..6).map(payload).collect();
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    assert_eq!(wal.batch_append_for_topic("t", &refs).unwrap(), 1..6);
    wal.abandon();
    let all = entries(dir, "t");
    // The batch's last record never reached the disk: the whole batch is torn.
    let last = &all[5];
    overwrite(
        &segment(dir, 1),
        last.position,
        &vec![0; record_size(last.data.len())],
    );
    format!("at {}:{})", segment(dir, 1).display(), all[1].position)
}

fn never_written_segment(dir: &Path) -> String {
    write_entries(dir, 3);
    fs::write(segment(dir, 2), vec![0u8; 4096]).unwrap();
    "1 trailing segment(s) never written (recovery will remove them)".into()
}

fn zeroed_segment_header(dir: &Path) -> String {
    fill_three_segments(dir);
    overwrite(&segment(dir, 2), 0, &[0; 32]);
    "segment header is missing".into()
}

fn lost_header_of_an_unsynced_last_segment(dir: &Path) -> String {
    // Segment 2 takes records that are written but never synced, then its header is lost
    // (as a power loss could lose a page): nothing in it was acknowledged, a torn tail.
    let wal = builder(dir)
        .fsync(wal::FsyncSchedule::NoFsync)
        .segment_size(16 << 10)
        .precreate_segments(false)
        .open()
        .unwrap();
    let mut i = 0;
    while !segment(dir, 2).exists() || entries(dir, "t").iter().all(|e| e.segment != 2) {
        wal.append_for_topic("t", &payload(i)).unwrap();
        i += 1;
        if i % 8 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    wal.abandon();
    overwrite(&segment(dir, 2), 0, &[0; 32]);
    format!("at {}:0)", segment(dir, 2).display())
}

fn foreign_file(dir: &Path) -> String {
    fill_three_segments(dir);
    overwrite(&segment(dir, 2), 0, b"NOTASEG!");
    "not a wal segment (bad magic)".into()
}

fn unsupported_version(dir: &Path) -> String {
    fill_three_segments(dir);
    let path = segment(dir, 2);
    let mut header = fs::read(&path).unwrap()[..32].to_vec();
    header[8..12].copy_from_slice(&3u32.to_le_bytes());
    let crc = crc32c::crc32c(&header[..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    overwrite(&path, 0, &header);
    "has format version 3".into()
}

fn directory_named_as_a_segment(dir: &Path) -> String {
    write_entries(dir, 3);
    fs::create_dir(segment(dir, 2)).unwrap();
    "has a segment's name but is not a regular file".into()
}

const fn case(name: &'static str, exit: i32, make: fn(&Path) -> String) -> Case {
    Case { name, exit, make }
}

const CASES: &[Case] = &[
    case("checksum", 1, checksum),
    case("malformed header", 1, malformed_header),
    case("wrong offset", 1, wrong_offset_with_a_valid_checksum),
    case("sealed segment", 1, damage_in_a_sealed_segment),
    case("missing segment", 1, missing_segment),
    case("torn tail", 1, torn_tail),
    case("torn batch", 1, torn_batch),
    case("never written", 1, never_written_segment),
    case("zeroed header", 2, zeroed_segment_header),
    case(
        "lost last header",
        1,
        lost_header_of_an_unsynced_last_segment,
    ),
    case("foreign file", 2, foreign_file),
    case("unsupported version", 2, unsupported_version),
    case("directory", 2, directory_named_as_a_segment),
];

/// `true` for the cases opening the log fixes by itself (nothing acknowledged is lost).
fn cut_on_open(name: &str) -> bool {
    matches!(
        name,
        "torn tail" | "torn batch" | "never written" | "lost last header"
    )
}

#[test]
fn a_clean_log_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), 6);
    wal()
        .args(["verify", dir.path().to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("6 entries readable"))
        .stdout(predicate::str::ends_with("result: clean\n"));
}

#[test]
fn verify_finds_every_kind_of_damage_recovery_detects() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let expected = (case.make)(dir.path());
        let before = snapshot(dir.path());
        let out = wal()
            .args(["verify", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        let report = format!(
            "{}{}",
            stdout_of(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(case.exit),
            "{}: {report}",
            case.name
        );
        assert!(
            report.contains(&expected),
            "{}: {expected:?} not in {report}",
            case.name
        );
        assert_eq!(
            snapshot(dir.path()),
            before,
            "{}: verify changed the log",
            case.name
        );

        // What opening the log says agrees with the report, to the file and offset.
        match builder(dir.path()).open() {
            Ok(log) => {
                assert!(
                    cut_on_open(case.name),
                    "{}: opened, but verify said {report}",
                    case.name
                );
                log.close().unwrap();
                wal()
                    .args(["verify", dir.path().to_str().unwrap()])
                    .assert()
                    .code(0);
            }
            Err(e) => {
                assert!(!cut_on_open(case.name), "{}: {e}", case.name);
                if let Some((path, offset)) = e.damage_location() {
                    let at = format!("{}:{offset}", path.display());
                    let missing = path.file_name().unwrap().to_string_lossy().into_owned();
                    assert!(
                        report.contains(&at) || (offset == 0 && report.contains(&missing)),
                        "{}: open says {e}, verify says {report}",
                        case.name
                    );
                }
            }
        }
    }
}

#[test]
fn repair_then_verify_is_clean_with_every_undamaged_entry_kept() {
    for case in CASES.iter().filter(|c| c.exit == 1) {
        let dir = tempfile::tempdir().unwrap();
        (case.make)(dir.path());
        let path = dir.path().to_str().unwrap();
        let kept = all_entries(dir.path());
        let mode = if cut_on_open(case.name) {
            "cut-tail"
        } else {
            // The default mode refuses damage and changes nothing.
            let before = snapshot(dir.path());
            wal()
                .args(["repair", path])
                .assert()
                .code(1)
                .stderr(predicate::str::contains("--mode point-in-time"));
            assert_eq!(snapshot(dir.path()), before, "{}", case.name);
            "point-in-time"
        };
        let out = wal()
            .args(["repair", path, "--mode", mode])
            .output()
            .unwrap();
        let report = stdout_of(&out);
        assert!(
            out.status.success(),
            "{}: {report} {:?}",
            case.name,
            out.stderr
        );
        assert!(
            report.ends_with("the log is now clean\n"),
            "{}: {report}",
            case.name
        );
        wal().args(["verify", path]).assert().code(0);
        assert_eq!(all_entries(dir.path()), kept, "{}: entries lost", case.name);
        if case.name != "never written" {
            assert!(
                !damaged_files(dir.path()).is_empty(),
                "{}: no copy kept",
                case.name
            );
            assert!(report.contains("set aside: "), "{}: {report}", case.name);
        }
        // The log opens strictly and holds the same entries.
        let wal = builder(dir.path()).open().unwrap();
        for (topic, entries) in &kept {
            assert_eq!(
                wal.get_topic_entry_count(topic),
                entries.last().map_or(0, |e| e.offset + 1)
            );
        }
    }
}

#[test]
fn repair_refuses_what_it_cannot_fix_and_changes_nothing() {
    for case in CASES.iter().filter(|c| c.exit == 2) {
        let dir = tempfile::tempdir().unwrap();
        (case.make)(dir.path());
        let before = snapshot(dir.path());
        for mode in ["cut-tail", "point-in-time"] {
            wal()
                .args(["repair", dir.path().to_str().unwrap(), "--mode", mode])
                .assert()
                .code(2)
                .stderr(
                    predicate::str::contains("cannot repair")
                        .or(predicate::str::contains("not a regular file")),
                );
        }
        assert_eq!(snapshot(dir.path()), before, "{}", case.name);
    }
}

#[test]
fn repair_cut_tail_keeps_every_complete_entry_and_a_copy_of_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    torn_tail(dir.path());
    let original = fs::read(segment(dir.path(), 1)).unwrap();
    let cut = entries(dir.path(), "t").len();
    assert_eq!(cut, 5, "the torn entry is not readable");
    wal()
        .args(["verify", dir.path().to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "result: torn tail (recovery will cut ",
        ));
    wal()
        .args(["repair", dir.path().to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"t\s+5 \(0\.\.5\)\s+5 \(0\.\.5\)").unwrap());
    let got = entries(dir.path(), "t");
    assert_eq!(
        got.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        (0..5).map(payload).collect::<Vec<_>>()
    );
    let saved = damaged_files(dir.path());
    assert_eq!(saved.len(), 1, "{saved:?}");
    let pos = saved[0]
        .split(".from-")
        .nth(1)
        .unwrap()
        .trim_end_matches(".damaged");
    let pos: usize = pos.parse().unwrap();
    let copy = fs::read(dir.path().join(&saved[0])).unwrap();
    assert_eq!(
        copy,
        original[pos..pos + copy.len()],
        "the copy holds the cut bytes"
    );
    assert!(original[pos + copy.len()..].iter().all(|&b| b == 0));
}

#[test]
fn repair_point_in_time_sets_later_segments_aside() {
    let dir = tempfile::tempdir().unwrap();
    damage_in_a_sealed_segment(dir.path());
    let path = dir.path().to_str().unwrap();
    wal()
        .args(["repair", path, "--mode", "point-in-time", "--dry-run"])
        .assert()
        .success();
    assert_eq!(
        damaged_files(dir.path()),
        Vec::<String>::new(),
        "a dry run changed nothing"
    );
    wal()
        .args(["repair", path, "--mode", "point-in-time"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "set aside: 00000000000000000002.wal.damaged",
        ))
        .stdout(predicate::str::contains(
            "set aside: 00000000000000000003.wal.damaged",
        ));
    assert!(!segment(dir.path(), 2).exists());
    wal().args(["verify", path]).assert().code(0);
    // The repaired log takes appends again, from where it was cut.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let before = entries(copy.path(), "a").len() as u64;
    wal()
        .args(["append", copy.path().to_str().unwrap(), "a", "next"])
        .assert()
        .success()
        .stdout(format!("{before}\n"));
}
