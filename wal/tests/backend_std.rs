//! The engine's integration suite on the std backend.

use std::sync::Arc;

fn configure(builder: wal::WalBuilder) -> wal::WalBuilder {
    builder.backend(wal::Backend::Std)
}

fn raw_backend() -> Arc<dyn wal::StorageBackend> {
    Arc::new(wal::StdBackend::default())
}

mod suite;

#[test]
fn the_std_backend_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let wal = suite::common::builder(dir.path()).open().unwrap();
    assert_eq!(wal.backend_info().active, "std");
    assert_eq!(wal.backend_info().fallback_reason, None);
}
