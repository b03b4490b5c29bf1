//! The engine over the io_uring backend: concurrent durable appends to several topics go
//! through the io_uring flusher, and survive a reopen.

mod common;

use std::sync::Arc;
use std::thread;

use common::probe_or_skip;
use wal_core::{FsyncSchedule, Wal};

const TOPICS: usize = 4;
const PER_TOPIC: u64 = 200;

fn payload(topic: usize, i: u64) -> Vec<u8> {
    let mut data = format!("topic{topic}#{i}:").into_bytes();
    data.extend(std::iter::repeat_n(
        b'a' + (i % 26) as u8,
        (i % 97) as usize,
    ));
    data
}

fn open(dir: &std::path::Path, backend: Arc<wal_backend_uring::UringBackend>) -> Wal {
    wal_core::WalBuilder::new()
        .dir(dir)
        .custom_backend(backend)
        .segment_size(1 << 20)
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .expect("open the log")
}

#[test]
fn concurrent_sync_each_appends_go_through_io_uring_and_survive_reopen() {
    let Some(backend) = probe_or_skip() else {
        return;
    };
    let backend = Arc::new(backend);
    let dir = tempfile::tempdir().expect("temporary directory");

    let wal = Arc::new(open(dir.path(), Arc::clone(&backend)));
    assert_eq!(wal.backend_name(), "uring");
    let writers: Vec<_> = (0..TOPICS)
        .map(|t| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                for i in 0..PER_TOPIC {
                    let offset = wal
                        .append_for_topic(&format!("topic{t}"), &payload(t, i))
                        .expect("append");
                    assert_eq!(offset, i, "offsets of topic{t} are dense");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread panicked");
    }

    let engine = wal.stats();
    let uring = backend.stats();
    assert!(
        engine.flushes > 0,
        "SyncEach appends must flush: {engine:?}"
    );
    assert!(
        uring.submissions > 0 && uring.fsyncs >= engine.flushes,
        "every engine flush must fsync through io_uring: engine {engine:?}, uring {uring:?}"
    );
    assert_eq!(
        uring.fallback_syncs, 0,
        "std storages always have a descriptor"
    );
    Arc::into_inner(wal)
        .expect("the writers are gone")
        .close()
        .expect("close");

    let wal = open(dir.path(), backend);
    for t in 0..TOPICS {
        let topic = format!("topic{t}");
        assert_eq!(wal.get_topic_entry_count(&topic), PER_TOPIC);
        let entries = wal
            .batch_read_for_topic(&topic, usize::MAX, false)
            .expect("read back");
        assert_eq!(entries.len() as u64, PER_TOPIC, "entries of {topic}");
        for (i, entry) in (0..).zip(entries) {
            assert_eq!(entry.offset, i);
            assert_eq!(entry.data, payload(t, i), "entry {i} of {topic}");
        }
    }
}
