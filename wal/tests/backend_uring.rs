//! The engine's integration suite on the io_uring backend (feature `uring`).
#![cfg(feature = "uring")]

use std::sync::Arc;

fn configure(builder: wal::WalBuilder) -> wal::WalBuilder {
    builder.backend(wal::Backend::Uring)
}

fn raw_backend() -> Arc<dyn wal::StorageBackend> {
    match wal_backend_uring::UringBackend::probe() {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("io_uring is unavailable on this machine: {e}"),
    }
}

mod suite;

#[test]
fn the_uring_backend_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let wal = suite::common::builder(dir.path()).open().unwrap();
    let info = wal.backend_info();
    assert_eq!(
        (info.requested.as_str(), info.active.as_str()),
        ("uring", "uring"),
        "{info:?}"
    );
    assert_eq!(info.fallback_reason, None);
}
