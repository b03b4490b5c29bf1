//! The `serde` feature: `Stats`, `TopicStats` (with its consumers) and `RecoveryStats`
//! serialize with their field names and values.

use std::sync::Arc;

use wal_core::{FsyncSchedule, WalBuilder};

#[test]
fn stats_serialize_with_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        WalBuilder::new()
            .dir(dir.path())
            .backend(Arc::new(wal_backend_std::StdBackend::default()))
            .fsync(FsyncSchedule::SyncEach)
            .segment_size(64 << 10)
            .open()
            .unwrap()
    };
    open().append_for_topic("t", b"first").unwrap();
    let wal = open();
    wal.batch_append_for_topic("t", &["ab", "cde"]).unwrap();
    wal.consumer("t", "billing").unwrap().seek(1).unwrap();

    let stats = serde_json::to_value(wal.stats()).unwrap();
    assert_eq!(stats["appends"], 2);
    assert_eq!(stats["append_bytes"], 5);
    assert_eq!(stats["flushes"], wal.stats().flushes);
    assert_eq!(stats["durable_lag_bytes"], 0);

    let topic = serde_json::to_value(wal.topic_stats("t").unwrap()).unwrap();
    assert_eq!(topic["name"], "t");
    assert_eq!(topic["next_offset"], 3);
    assert_eq!(topic["durable_offset"], 2);
    assert_eq!(topic["appended"], 2);
    assert_eq!(topic["consumers"][0]["name"], "billing");
    assert_eq!(topic["consumers"][0]["position"], 1);
    assert_eq!(topic["consumers"][0]["lag"], 2);

    let recovery = serde_json::to_value(wal.recovery_stats()).unwrap();
    assert_eq!(recovery["segments_scanned"], 1);
    assert_eq!(recovery["torn_tail_bytes"], 0);
    assert!(recovery["bytes_read"].as_u64().unwrap() > 0);
    assert!(recovery["duration"]["secs"].is_u64());
    assert_eq!(recovery["files_set_aside"], serde_json::json!([]));
}
