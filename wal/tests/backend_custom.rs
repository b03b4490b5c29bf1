//! The example custom backend (`wal/examples/custom_backend.rs`), proven like the built-in
//! ones: the storage conformance suite and the engine's integration suite.

use std::sync::Arc;

#[path = "../examples/custom_backend.rs"]
mod example;

use example::CountingBackend;

fn configure(builder: wal::WalBuilder) -> wal::WalBuilder {
    builder.custom_backend(raw_backend())
}

fn raw_backend() -> Arc<dyn wal::StorageBackend> {
    Arc::new(CountingBackend::default())
}

mod suite;

wal_testkit::storage_conformance_tests!(CountingBackend::default());

#[test]
fn the_custom_backend_is_in_use_and_sees_the_io() {
    let dir = tempfile::tempdir().unwrap();
    let backend = CountingBackend::default();
    let wal = wal::Wal::builder()
        .dir(dir.path())
        .custom_backend(Arc::new(backend.clone()))
        .open()
        .unwrap();
    assert_eq!(wal.backend_info().requested, "custom");
    assert_eq!(wal.backend_info().active, "counting");
    wal.append_for_topic("t", b"x").unwrap();
    wal.sync().unwrap();
    let counts = backend.counts();
    assert!(counts.writes.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(counts.syncs.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}
