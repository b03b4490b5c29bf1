//! Runs the storage conformance suite of `wal-testkit` against
//! [`wal_backend_uring::UringBackend`]. Where io_uring is unavailable, each test says so on
//! stderr and passes without checking anything.

mod common;

use common::probe_or_skip;

wal_testkit::storage_conformance_tests!(match probe_or_skip() {
    Some(backend) => backend,
    // `return` leaves the generated test function: the test is skipped.
    None => return,
});
