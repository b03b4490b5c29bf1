//! The engine's integration suite on the mmap backend (feature `mmap`).
#![cfg(feature = "mmap")]

use std::sync::Arc;

fn configure(builder: wal::WalBuilder) -> wal::WalBuilder {
    builder.backend(wal::Backend::Mmap)
}

fn raw_backend() -> Arc<dyn wal::StorageBackend> {
    Arc::new(wal_backend_mmap::MmapBackend::default())
}

mod suite;

#[test]
fn the_mmap_backend_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let wal = suite::common::builder(dir.path()).open().unwrap();
    assert_eq!(wal.backend_info().active, "mmap");
}
