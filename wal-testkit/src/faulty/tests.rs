use std::path::PathBuf;

use super::*;
use crate::pattern;

const PAGE: usize = 4096;
const SECTOR: usize = 512;

/// A backend over the std backend, and a log directory inside a temporary directory (so
/// that the stash directory beside it goes with the temporary directory too).
fn setup(plan: FaultPlan) -> (tempfile::TempDir, FaultyBackend, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    std::fs::create_dir(&dir).unwrap();
    let backend = FaultyBackend::new(Arc::new(wal_backend_std::StdBackend::default()), plan);
    (tmp, backend, dir)
}

fn contents(backend: &FaultyBackend, path: &Path, len: usize) -> Vec<u8> {
    let f = backend.open(path).unwrap();
    let mut buf = vec![0u8; len];
    assert_eq!(f.read_at(0, &mut buf).unwrap(), len);
    buf
}

/// `Some(contents)` if the file exists.
fn read_if_exists(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(data) => Some(data),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// A durable file of `len` bytes at `path` holding `data` (synced, name synced).
fn durable_file(backend: &FaultyBackend, path: &Path, data: &[u8]) -> Arc<dyn Storage> {
    let f = backend.create(path, data.len() as u64).unwrap();
    backend.sync_dir(path.parent().unwrap()).unwrap();
    f.write_at(0, data).unwrap();
    f.sync().unwrap();
    f
}

/// For each `unit`-sized piece of `after`: `true` if it holds `new`, `false` if `old`;
/// panics if it holds anything else.
fn survivors(after: &[u8], old: &[u8], new: &[u8], unit: usize, what: &str) -> Vec<bool> {
    (0..after.len())
        .step_by(unit)
        .map(|s| {
            let r = s..(s + unit).min(after.len());
            if after[r.clone()] == new[r.clone()] {
                true
            } else {
                assert_eq!(
                    after[r.clone()],
                    old[r.clone()],
                    "{what}: unit at {s} mixed"
                );
                false
            }
        })
        .collect()
}

/// Writes `new` over a durable file holding `old`, in pieces that straddle pages and
/// sectors, without syncing, and crashes.
fn crash_overwrite(seed: u64, mode: CrashMode, pages: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
    let path = dir.join("f");
    let len = pages * PAGE;
    let old = pattern(1, len);
    let new = pattern(2, len);
    let f = durable_file(&backend, &path, &old);
    for (i, piece) in new.chunks(1000).enumerate() {
        f.write_at(1000 * i as u64, piece).unwrap();
    }
    backend.crash(mode).unwrap();
    let after = contents(&backend, &path, len);
    assert!(
        f.write_at(0, b"x").is_err(),
        "handles from before the crash are dead"
    );
    (old, new, after)
}

#[test]
fn all_crash_modes_lists_every_mode() {
    // Adding a mode fails to compile here until it is counted (and listed).
    let count = |m: CrashMode| match m {
        CrashMode::DropUnsynced
        | CrashMode::KeepRandomPrefix
        | CrashMode::TearLastSector
        | CrashMode::ReorderPages
        | CrashMode::TornSectors
        | CrashMode::LoseDirOps
        | CrashMode::Chaos => 1,
    };
    assert_eq!(ALL_CRASH_MODES.iter().map(|&m| count(m)).sum::<usize>(), 7);
    let distinct: std::collections::HashSet<_> = ALL_CRASH_MODES.iter().collect();
    assert_eq!(distinct.len(), 7);
}

#[test]
fn random_prefix_keeps_a_prefix_of_the_unsynced_writes() {
    for seed in 0..40 {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let path = dir.join("f");
        let f = backend.create(&path, 4096).unwrap();
        backend.sync_dir(&dir).unwrap();
        f.write_at(0, &pattern(1, 100)).unwrap();
        f.sync().unwrap();
        let data = pattern(2, 1000);
        for (i, piece) in data.chunks(100).enumerate() {
            f.write_at(100 + 100 * i as u64, piece).unwrap();
        }
        let lost = backend.crash(CrashMode::KeepRandomPrefix).unwrap();
        let after = contents(&backend, &path, 1100);
        assert_eq!(
            &after[..100],
            &pattern(1, 100)[..],
            "synced data survives (seed {seed})"
        );
        let kept = 1000 - lost as usize;
        assert_eq!(&after[100..100 + kept], &data[..kept], "seed {seed}");
        assert!(
            after[100 + kept..].iter().all(|&b| b == 0),
            "seed {seed}: nothing past the prefix"
        );
        assert!(
            f.write_at(0, b"x").is_err(),
            "handles from before the crash are dead"
        );
    }
}

#[test]
fn torn_sector_garbles_only_the_end_of_the_last_write() {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(3));
    let path = dir.join("f");
    let f = backend.create(&path, 8192).unwrap();
    let data = pattern(5, 3000);
    f.write_at(0, &data).unwrap();
    backend.crash(CrashMode::TearLastSector).unwrap();
    let after = contents(&backend, &path, 3000);
    assert_eq!(&after[..2560], &data[..2560]);
    assert_ne!(&after[2560..], &data[2560..]);
}

#[test]
fn reorder_pages_keeps_whole_pages_in_any_order() {
    let mut later_kept_earlier_lost = 0;
    let mut outcomes = std::collections::HashSet::new();
    for seed in 0..30 {
        let (old, new, after) = crash_overwrite(seed, CrashMode::ReorderPages, 4);
        let kept = survivors(&after, &old, &new, PAGE, &format!("seed {seed}"));
        if (0..kept.len()).any(|i| !kept[i] && kept[i + 1..].contains(&true)) {
            later_kept_earlier_lost += 1;
        }
        outcomes.insert(kept);
    }
    assert!(
        later_kept_earlier_lost > 0,
        "no crash kept a later page while losing an earlier one"
    );
    assert!(outcomes.len() >= 6, "only {} page patterns", outcomes.len());
}

#[test]
fn torn_sectors_mix_old_and_new_sectors_in_a_page() {
    let mut mixed_pages = 0;
    for seed in 0..10 {
        let (old, new, after) = crash_overwrite(seed, CrashMode::TornSectors, 2);
        let kept = survivors(&after, &old, &new, SECTOR, &format!("seed {seed}"));
        mixed_pages += kept
            .chunks(PAGE / SECTOR)
            .filter(|page| page.contains(&true) && page.contains(&false))
            .count();
    }
    assert!(mixed_pages > 0, "no page was torn between sectors");
}

#[test]
fn sync_range_keeps_its_range_and_not_more() {
    for seed in 0..20 {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let path = dir.join("f");
        let old = vec![0u8; 3 * PAGE];
        let f = durable_file(&backend, &path, &old);
        let new = pattern(3, 3 * PAGE);
        f.write_at(0, &new).unwrap();
        f.sync_range(100..5000).unwrap();
        backend.crash(CrashMode::DropUnsynced).unwrap();
        let after = contents(&backend, &path, 3 * PAGE);
        assert_eq!(
            &after[100..5000],
            &new[100..5000],
            "seed {seed}: synced range"
        );
        assert!(after[..100].iter().all(|&b| b == 0), "seed {seed}");
        assert!(after[5000..].iter().all(|&b| b == 0), "seed {seed}");
    }
}

#[test]
fn synced_data_never_reverts_in_any_mode() {
    for &mode in ALL_CRASH_MODES {
        for seed in 0..8 {
            let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
            let path = dir.join("f");
            let f = backend.create(&path, 4 * PAGE as u64).unwrap();
            backend.sync_dir(&dir).unwrap();
            let synced = pattern(4, 6000);
            f.write_at(0, &synced[..3000]).unwrap();
            f.write_at(3000, &synced[3000..]).unwrap();
            f.sync().unwrap();
            let ranged = pattern(5, 3000);
            f.write_at(6000, &ranged).unwrap();
            f.write_at(9000, &pattern(6, 5000)).unwrap();
            f.sync_range(6000..9000).unwrap();
            f.write_at(14000, &pattern(7, 2000)).unwrap();
            backend.crash(mode).unwrap();
            let after = contents(&backend, &path, 9000);
            let what = format!("{mode:?}, seed {seed}");
            crate::assert_bytes_eq(&after[..6000], &synced, &what);
            crate::assert_bytes_eq(&after[6000..], &ranged, &what);
        }
    }
}

/// What became of the three pending directory operations of `dir_ops_then_crash`.
#[derive(Debug, Default)]
struct DirOutcomes {
    created_missing: bool,
    created_present: bool,
    removed_back: bool,
    removed_gone: bool,
    rename_undone: bool,
    rename_kept: bool,
}

/// A create, a remove and a rename, none covered by a directory sync (`sync_after`:
/// followed by one), then a crash in `mode`; records what each became.
fn dir_ops_then_crash(seed: u64, mode: CrashMode, sync_after: bool, seen: &mut DirOutcomes) {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
    let what = format!("{mode:?}, seed {seed}");
    let kept = pattern(10, 100);
    let old = pattern(11, 100);
    let moved = pattern(12, 100);
    let fresh = pattern(13, 100);
    durable_file(&backend, &dir.join("kept"), &kept);
    durable_file(&backend, &dir.join("old"), &old);
    durable_file(&backend, &dir.join("a"), &moved);
    let f = backend.create(&dir.join("new"), 100).unwrap();
    f.write_at(0, &fresh).unwrap();
    f.sync().unwrap();
    backend.remove(&dir.join("old")).unwrap();
    backend.rename(&dir.join("a"), &dir.join("b")).unwrap();
    if sync_after {
        backend.sync_dir(&dir).unwrap();
    }
    backend.crash(mode).unwrap();

    assert_eq!(read_if_exists(&dir.join("kept")), Some(kept), "{what}");
    match read_if_exists(&dir.join("new")) {
        None => seen.created_missing = true,
        Some(data) => {
            assert_eq!(data, fresh, "{what}: a synced file keeps its data");
            seen.created_present = true;
        }
    }
    match read_if_exists(&dir.join("old")) {
        None => seen.removed_gone = true,
        Some(data) => {
            assert_eq!(data, old, "{what}: a removed file comes back whole");
            seen.removed_back = true;
        }
    }
    match (
        read_if_exists(&dir.join("a")),
        read_if_exists(&dir.join("b")),
    ) {
        (Some(data), None) => {
            assert_eq!(data, moved, "{what}");
            seen.rename_undone = true;
        }
        (None, Some(data)) => {
            assert_eq!(data, moved, "{what}");
            seen.rename_kept = true;
        }
        other => panic!("{what}: a renamed file is under one name, got {other:?}"),
    }
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.retain(|n| !["kept", "new", "old", "a", "b"].contains(&n.as_str()));
    assert!(names.is_empty(), "{what}: stray files {names:?}");
}

#[test]
fn lose_dir_ops_undoes_creates_removes_and_renames() {
    for mode in [CrashMode::LoseDirOps, CrashMode::Chaos] {
        let mut seen = DirOutcomes::default();
        for seed in 0..24 {
            dir_ops_then_crash(seed, mode, false, &mut seen);
        }
        assert!(
            seen.created_missing
                && seen.created_present
                && seen.removed_back
                && seen.removed_gone
                && seen.rename_undone
                && seen.rename_kept,
            "{mode:?}: not every outcome happened: {seen:?}"
        );
    }
}

#[test]
fn dir_ops_covered_by_sync_dir_are_never_undone() {
    for &mode in ALL_CRASH_MODES {
        let mut seen = DirOutcomes::default();
        for seed in 0..6 {
            dir_ops_then_crash(seed, mode, true, &mut seen);
        }
        assert!(
            !seen.created_missing && !seen.removed_back && !seen.rename_undone,
            "{mode:?}: {seen:?}"
        );
    }
}

#[test]
fn other_modes_keep_every_dir_op() {
    for mode in [
        CrashMode::DropUnsynced,
        CrashMode::KeepRandomPrefix,
        CrashMode::TearLastSector,
        CrashMode::ReorderPages,
        CrashMode::TornSectors,
    ] {
        let mut seen = DirOutcomes::default();
        for seed in 0..4 {
            dir_ops_then_crash(seed, mode, false, &mut seen);
        }
        assert!(
            !seen.created_missing && !seen.removed_back && !seen.rename_undone,
            "{mode:?}: {seen:?}"
        );
    }
}

#[test]
fn a_removed_then_recreated_path_is_old_new_or_absent() {
    let (mut old_back, mut new_kept, mut absent) = (false, false, false);
    for seed in 0..30 {
        let (tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let path = dir.join("p");
        let old = pattern(20, 5000);
        let new = pattern(21, 5000);
        durable_file(&backend, &path, &old);
        backend.remove(&path).unwrap();
        let f = backend.create(&path, 5000).unwrap();
        f.write_at(0, &new).unwrap();
        f.sync().unwrap();
        backend.crash(CrashMode::LoseDirOps).unwrap();
        match read_if_exists(&path) {
            Some(data) if data == old => old_back = true,
            Some(data) if data == new => new_kept = true,
            Some(_) => panic!("seed {seed}: neither the old nor the new file"),
            None => absent = true,
        }
        // The stash directory beside the log is gone after the crash.
        let entries = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(entries, 1, "seed {seed}: only the log directory is left");
    }
    assert!(
        old_back && new_kept && absent,
        "{old_back} {new_kept} {absent}"
    );
}

#[test]
fn unsynced_writes_follow_a_renamed_file() {
    // Kept rename: the data is lost under the new name, and syncing under it keeps it.
    for seed in 0..6 {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let (a, b) = (dir.join("a"), dir.join("b"));
        let f = durable_file(&backend, &a, &[0; 2 * PAGE]);
        f.write_at(0, &pattern(30, 2 * PAGE)).unwrap();
        backend.rename(&a, &b).unwrap();
        backend.sync_dir(&dir).unwrap();
        let lost = backend.crash(CrashMode::DropUnsynced).unwrap();
        assert_eq!(lost, 2 * PAGE as u64, "seed {seed}");
        assert_eq!(read_if_exists(&a), None);
        assert_eq!(read_if_exists(&b), Some(vec![0; 2 * PAGE]));

        let g = backend.open(&b).unwrap();
        g.write_at(0, &pattern(31, 100)).unwrap();
        backend.rename(&b, &a).unwrap();
        g.sync().unwrap();
        backend.crash(CrashMode::LoseDirOps).unwrap();
        let at_a = read_if_exists(&a);
        let data = at_a.or_else(|| read_if_exists(&b)).expect("under one name");
        assert_eq!(&data[..100], &pattern(31, 100)[..], "seed {seed}: synced");
    }
    // Undone rename: the file is back under its old name, its unsynced pages decided
    // page by page.
    let mut undone_with_data = false;
    for seed in 0..30 {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let (a, b) = (dir.join("a"), dir.join("b"));
        let old = vec![0; 2 * PAGE];
        let new = pattern(32, 2 * PAGE);
        let f = durable_file(&backend, &a, &old);
        f.write_at(0, &new).unwrap();
        backend.rename(&a, &b).unwrap();
        backend.crash(CrashMode::LoseDirOps).unwrap();
        let (data, undone) = match (read_if_exists(&a), read_if_exists(&b)) {
            (Some(d), None) => (d, true),
            (None, Some(d)) => (d, false),
            other => panic!("seed {seed}: {other:?}"),
        };
        let kept = survivors(&data, &old, &new, PAGE, &format!("seed {seed}"));
        undone_with_data |= undone && kept.contains(&true);
    }
    assert!(undone_with_data, "no undone rename kept a page of its data");
}

#[test]
fn a_rename_over_a_file_brings_the_replaced_file_back_when_undone() {
    let mut replaced_back = false;
    for seed in 0..20 {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let (a, b) = (dir.join("a"), dir.join("b"));
        durable_file(&backend, &a, &pattern(40, 64));
        durable_file(&backend, &b, &pattern(41, 64));
        backend.rename(&a, &b).unwrap();
        backend.crash(CrashMode::LoseDirOps).unwrap();
        match (read_if_exists(&a), read_if_exists(&b)) {
            (Some(x), Some(y)) => {
                assert_eq!((x, y), (pattern(40, 64), pattern(41, 64)), "seed {seed}");
                replaced_back = true;
            }
            (None, Some(y)) => assert_eq!(y, pattern(40, 64), "seed {seed}"),
            other => panic!("seed {seed}: {other:?}"),
        }
    }
    assert!(replaced_back);
}

#[test]
fn operations_on_one_name_are_undone_in_order() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..40 {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let what = format!("seed {seed}");
        let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| dir.join(n));
        durable_file(&backend, &a, &pattern(50, 64));
        backend.rename(&a, &b).unwrap();
        backend.rename(&b, &c).unwrap();
        let f = backend.create(&d, 64).unwrap();
        f.write_at(0, &pattern(51, 64)).unwrap();
        f.sync().unwrap();
        backend.rename(&d, &e).unwrap();
        backend.crash(CrashMode::LoseDirOps).unwrap();
        let abc = [&a, &b, &c].map(|p| read_if_exists(p));
        let at: Vec<usize> = (0..3).filter(|&i| abc[i].is_some()).collect();
        assert_eq!(at.len(), 1, "{what}: the file is under exactly one name");
        assert_eq!(abc[at[0]], Some(pattern(50, 64)), "{what}");
        let de = [&d, &e].map(|p| read_if_exists(p));
        assert!(de.iter().flatten().count() <= 1, "{what}: one name at most");
        for data in de.iter().flatten() {
            assert_eq!(data, &pattern(51, 64), "{what}");
        }
        seen.insert((at[0], de.iter().position(Option::is_some)));
    }
    // Every name of each chain happens: a, b or c; and d missing, at d, or at e.
    for i in 0..3 {
        assert!(seen.iter().any(|s| s.0 == i), "{i}: {seen:?}");
    }
    for de in [None, Some(0), Some(1)] {
        assert!(seen.iter().any(|s| s.1 == de), "{de:?}: {seen:?}");
    }
}

#[test]
fn chaos_keeps_loses_and_tears_pages() {
    let (mut torn, mut whole_lost, mut whole_kept) = (false, false, false);
    for seed in 0..30 {
        let (old, new, after) = crash_overwrite(seed, CrashMode::Chaos, 4);
        let kept = survivors(&after, &old, &new, SECTOR, &format!("seed {seed}"));
        for page in kept.chunks(PAGE / SECTOR) {
            match (page.contains(&true), page.contains(&false)) {
                (true, true) => torn = true,
                (true, false) => whole_kept = true,
                (false, _) => whole_lost = true,
            }
        }
    }
    assert!(
        torn && whole_lost && whole_kept,
        "{torn} {whole_lost} {whole_kept}"
    );
}

#[test]
fn power_off_refuses_everything_until_the_crash() {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(0).power_off_after(4));
    let path = dir.join("f");
    let f = backend.create(&path, 4096).unwrap(); // 1
    backend.sync_dir(&dir).unwrap(); // 2
    f.write_at(0, b"durable").unwrap(); // 3
    assert!(!backend.is_powered_off());
    f.sync().unwrap(); // 4: completes, then the power is off
    assert!(backend.is_powered_off());
    assert_eq!(backend.counts().mutations, 4);

    let err = f.write_at(0, b"lost").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert!(err.to_string().contains("power off"), "{err}");
    assert!(f.read_at(0, &mut [0; 4]).is_err());
    assert!(f.len().is_err());
    assert!(f.sync().is_err());
    assert!(backend.open(&path).is_err());
    assert!(backend.create(&dir.join("g"), 4096).is_err());
    assert!(backend.remove(&path).is_err());
    assert!(backend.rename(&path, &dir.join("h")).is_err());
    assert!(backend.sync_dir(&dir).is_err());
    assert_eq!(
        backend.counts().mutations,
        4,
        "refused calls are not counted"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing changed"
    );

    backend.crash(CrashMode::Chaos).unwrap();
    assert!(!backend.is_powered_off());
    assert_eq!(&contents(&backend, &path, 7), b"durable");
    assert!(f.read_at(0, &mut [0; 4]).is_err(), "old handles stay dead");
    backend.open(&path).unwrap().write_at(0, b"x").unwrap();
    assert_eq!(backend.counts().mutations, 5);
}

/// A small workload that stops at its first error; returns how far it got.
fn workload(backend: &FaultyBackend, dir: &Path) -> io::Result<()> {
    for i in 0..3u64 {
        let path = dir.join(format!("seg-{i}"));
        let f = backend.create(&path, 8192)?;
        backend.sync_dir(dir)?;
        f.write_at(0, &pattern(i, 5000))?;
        f.sync_range(0..5000)?;
        if i > 0 {
            backend.rename(
                &dir.join(format!("seg-{}", i - 1)),
                &dir.join(format!("old-{i}")),
            )?;
            backend.remove(&dir.join(format!("old-{i}")))?;
            backend.sync_dir(dir)?;
        }
    }
    Ok(())
}

#[test]
fn power_off_after_n_stops_a_replayed_workload_at_call_n() {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(1));
    workload(&backend, &dir).unwrap();
    let total = backend.counts().mutations;
    assert_eq!(total, 3 * 4 + 2 * 3);
    for n in 1..=total {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(n).power_off_after(n));
        let result = workload(&backend, &dir);
        assert_eq!(result.is_err(), n < total, "n = {n}");
        assert!(backend.is_powered_off(), "n = {n}");
        assert_eq!(backend.counts().mutations, n);
        backend
            .crash(ALL_CRASH_MODES[n as usize % ALL_CRASH_MODES.len()])
            .unwrap();
        // Every file left is one the workload made: nothing stray, no stash.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name.starts_with("seg-") || name.starts_with("old-"),
                "{name}"
            );
        }
    }
}

#[test]
fn set_plan_can_cut_the_power_later_in_a_run() {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(2));
    let f = durable_file(&backend, &dir.join("f"), b"abc");
    let done = backend.counts().mutations;
    backend.set_plan(FaultPlan::seeded(2).power_off_after(done + 1));
    f.write_at(0, b"x").unwrap();
    assert!(f.write_at(1, b"y").is_err());
    backend.crash(CrashMode::DropUnsynced).unwrap();
    assert_eq!(&contents(&backend, &dir.join("f"), 3), b"abc");
}

#[test]
fn planned_faults_fire_once_at_their_count() {
    let plan = FaultPlan::seeded(1)
        .fail_write(2, io::ErrorKind::Other)
        .short_write(4)
        .fail_create(2, io::ErrorKind::StorageFull);
    let (_tmp, backend, dir) = setup(plan);
    let f = backend.create(&dir.join("f"), 4096).unwrap();
    let err = backend.create(&dir.join("g"), 4096).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    f.write_at(0, b"one").unwrap();
    assert!(f.write_at(3, b"two").is_err());
    f.write_at(3, b"three").unwrap();
    assert_eq!(
        f.write_at(8, &[9; 100]).unwrap_err().kind(),
        io::ErrorKind::WriteZero
    );
    f.write_at(8, b"five").unwrap();
    assert_eq!(backend.counts().injected, 3);
}

#[test]
fn disk_full_refuses_until_space_returns() {
    let (_tmp, backend, dir) = setup(FaultPlan::seeded(0));
    let f = backend.create(&dir.join("f"), 4096).unwrap();
    backend.set_disk_full(true);
    assert_eq!(
        f.write_at(0, b"x").unwrap_err().kind(),
        io::ErrorKind::StorageFull
    );
    let err = backend.create(&dir.join("g"), 4096).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    backend.set_disk_full(false);
    f.write_at(0, b"x").unwrap();
    backend.create(&dir.join("g"), 4096).unwrap();
}

#[test]
fn crashes_are_deterministic_from_the_seed() {
    let run = |seed| {
        let (_tmp, backend, dir) = setup(FaultPlan::seeded(seed));
        let mut out = Vec::new();
        for i in 0..4u64 {
            let f = backend
                .create(&dir.join(format!("f{i}")), 3 * PAGE as u64)
                .unwrap();
            f.write_at(0, &pattern(i, 3 * PAGE)).unwrap();
        }
        backend.crash(CrashMode::Chaos).unwrap();
        for i in 0..4u64 {
            out.push(read_if_exists(&dir.join(format!("f{i}"))));
        }
        out
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}
