//! Runs the storage conformance suite of `wal-testkit` against [`wal_backend_mmap::MmapBackend`].

wal_testkit::storage_conformance_tests!(wal_backend_mmap::MmapBackend::default());
