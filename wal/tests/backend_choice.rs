//! Choosing a backend: what `Auto` picks, and asking for one that is not compiled in.

use wal::{Backend, Error, Wal};

#[test]
fn asking_for_a_backend_that_is_not_compiled_in_is_an_error() {
    for backend in [Backend::Mmap, Backend::Uring] {
        let dir = tempfile::tempdir().unwrap();
        let result = Wal::builder().dir(dir.path()).backend(backend).open();
        if backend.is_compiled_in() {
            assert!(result.is_ok(), "{backend}: {:?}", result.err());
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::Config(m) if m.contains("feature")),
                "{backend}: {err}"
            );
        }
    }
}

#[test]
fn auto_picks_uring_when_compiled_in_else_std() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::builder().dir(dir.path()).open().unwrap();
    let info = wal.backend_info();
    assert_eq!(info.requested, "auto");
    if Backend::Uring.is_compiled_in() {
        assert_eq!(info.active, "uring", "{info:?}");
    } else {
        assert_eq!(info.active, "std");
        assert!(info.fallback_reason.is_some());
    }
}
