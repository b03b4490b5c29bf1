//! Error messages: each says what failed and leaves its cause to `source()`, so a chain
//! printed by `anyhow` (or any reporter that walks `source()`) names each cause once; a
//! regular file given as the log directory is "not a directory".

use std::error::Error as _;
use std::io;
use std::sync::Arc;

use wal::{Error, FsyncSchedule};
use wal_testkit::faulty::{FaultPlan, FaultyBackend};

use super::common;

/// The messages of `err` and of every error in its `source()` chain, outermost first.
fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// Asserts that no message in `err`'s chain contains the message of its source.
fn assert_no_repeats(err: &Error) -> Vec<String> {
    let messages = chain(err);
    for pair in messages.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "{:?} repeats its source {:?} (whole chain: {messages:?})",
            pair[0],
            pair[1]
        );
    }
    messages
}

#[test]
fn a_regular_file_as_the_log_directory_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"precious").unwrap();
    let err = common::builder(&file).open().unwrap_err();
    match &err {
        Error::NotADirectory { path } => assert_eq!(path, &file),
        other => panic!("expected NotADirectory, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("{} is not a directory", file.display())
    );
    assert_eq!(err.io_kind(), Some(io::ErrorKind::NotADirectory));
    assert!(err.source().is_none());
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
}

#[test]
fn an_io_error_says_what_failed_and_leaves_the_os_error_to_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let under = file.join("log");
    let err = common::builder(&under).open().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io {
                op: "create directory",
                ..
            }
        ),
        "{err:?}"
    );
    let messages = assert_no_repeats(&err);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0],
        format!("create directory failed on {}", under.display())
    );
    assert_eq!(err.io_kind(), Some(io::ErrorKind::NotADirectory));
}

#[test]
fn a_poisoned_log_names_its_cause_once_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    // Sync 1 makes the first segment's header durable, 2 is recovery's on open, 3 the first
    // flush; the 4th fails.
    let backend = Arc::new(FaultyBackend::new(
        common::raw_backend(),
        FaultPlan::seeded(1).fail_sync(4, io::ErrorKind::Other),
    ));
    let wal = common::builder(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .custom_backend(backend)
        .open()
        .unwrap();
    wal.append_for_topic("t", b"durable").unwrap();
    let failed = wal.append_for_topic("t", b"lost").unwrap_err();
    let later = wal.sync().unwrap_err();
    for err in [&failed, &later] {
        let Error::Poisoned { cause } = err else {
            panic!("expected Poisoned, got {err:?}");
        };
        assert!(matches!(**cause, Error::Io { op: "sync", .. }), "{cause:?}");
        let messages = assert_no_repeats(err);
        // Poisoned, then the failed sync, then the OS error: each once.
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(
            messages[0],
            "the log is poisoned by an earlier failure and must be reopened"
        );
        assert_eq!(messages[1], cause.to_string());
        assert!(messages[1].starts_with("sync failed on "), "{messages:?}");
        assert_eq!(err.io_kind(), Some(io::ErrorKind::Other));
    }
}
