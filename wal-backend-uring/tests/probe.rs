//! Probing: a forced failure reports its reason, per call.

use std::io;

use wal_backend_uring::{ProbeOptions, UringBackend};

#[test]
fn forced_unavailable_probe_reports_the_reason() {
    let err = UringBackend::probe_with(ProbeOptions {
        force_unavailable: Some("forced by test".into()),
        ..Default::default()
    })
    .expect_err("a forced probe failure must fail");
    assert_eq!(err.reason, "forced by test");
    assert!(err.source.is_none());
    assert_eq!(err.to_string(), "io_uring is unavailable: forced by test");
    let io_err = io::Error::from(err);
    assert_eq!(io_err.kind(), io::ErrorKind::Unsupported);
    assert!(io_err.to_string().contains("forced by test"));

    // The failure was for that call only: an ordinary probe is unaffected.
    if let Err(err) = UringBackend::probe() {
        eprintln!("io_uring unavailable: {}; skipping the rest", err.reason);
    }
}
