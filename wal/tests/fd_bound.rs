//! Open file descriptors stay bounded while a log of 500 small segments is opened and
//! read from end to end. (Its own test binary: descriptors are counted process-wide.)
#![cfg(target_os = "linux")]

use wal::{FsyncSchedule, Wal};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn walking_500_segments_keeps_descriptors_bounded() {
    const MAX_OPEN: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Wal::builder()
            .dir(dir.path())
            .segment_size(4096)
            .max_open_segments(MAX_OPEN)
            .fsync(FsyncSchedule::NoFsync)
            .open()
            .unwrap()
    };
    let before = open_fds();
    let wal = open();
    let entry = vec![7u8; 1500];
    let mut n = 0u64;
    while wal.segment_count() < 500 {
        wal.append_for_topic("t", &entry).unwrap();
        n += 1;
    }
    wal.close().unwrap();
    assert_eq!(open_fds(), before, "closing the log closes everything");

    let wal = open(); // recovery opens one segment at a time
    let mut peak = open_fds();
    for offset in 0..n {
        let got = wal.read_from("t", offset, 1).unwrap();
        assert_eq!(got[0].data, entry);
        peak = peak.max(open_fds());
    }
    assert_eq!(wal.stats().segments, 500);
    // The pool's bound, the active segment, the lock file and the directory handle that
    // syncs may open: the rest of 500 segments stays closed.
    assert!(
        peak <= before + MAX_OPEN + 4,
        "{peak} descriptors open, {before} before"
    );
    assert!(wal.stats().open_segment_handles as usize <= MAX_OPEN);
}
