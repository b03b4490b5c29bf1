//! The engine's integration suite with io_uring asked for but refused (a forced probe
//! failure, as a kernel with `io_uring_disabled` or a seccomp filter gives): the log falls
//! back to std, says why, and every engine test still passes.
#![cfg(feature = "uring")]

use std::sync::Arc;
use wal::SimulateUringRefusal;

fn configure(builder: wal::WalBuilder) -> wal::WalBuilder {
    builder
        .backend(wal::Backend::Uring)
        .simulate_uring_unavailable("forced by test")
}

fn raw_backend() -> Arc<dyn wal::StorageBackend> {
    Arc::new(wal::StdBackend::default())
}

mod suite;

#[test]
fn refused_io_uring_falls_back_to_std_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let wal = suite::common::builder(dir.path()).open().unwrap();
    let info = wal.backend_info();
    assert_eq!(info.requested, "uring");
    assert_eq!(info.active, "std");
    let reason = info.fallback_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("forced by test"), "{reason:?}");
    assert_eq!(wal.backend_name(), "std");
}

#[test]
fn auto_falls_back_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal::Wal::builder()
        .dir(dir.path())
        .simulate_uring_unavailable("forced by test")
        .open()
        .unwrap();
    assert_eq!(wal.backend_info().requested, "auto");
    assert_eq!(wal.backend_info().active, "std");
}
