//! Micro-benchmarks of the hot paths: record encoding and checksum, decoding, one append
//! into the log's buffer (and on to the page cache), one flush cycle.
//!
//! `cargo bench -p wal-bench` measures; `cargo test -p wal-bench --benches` (and so
//! `cargo test --workspace`, as CI runs it) runs every benchmark once, so they cannot rot.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wal::{Backend, FsyncSchedule, Wal};
use wal_core::format::{decode_record, encode_record, record_size, RecordFields, RecordKind};

const SIZES: [usize; 3] = [64, 256, 4096];

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251 + 1) as u8).collect()
}

fn format(c: &mut Criterion) {
    let mut g = c.benchmark_group("format");
    for size in SIZES {
        let data = payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("encode_record", size), &data, |b, data| {
            let mut out = Vec::with_capacity(record_size(size) * 2);
            b.iter(|| {
                out.clear();
                encode_record(
                    &mut out,
                    7,
                    RecordFields::new(RecordKind::Entry, 3, 42),
                    data,
                );
                std::hint::black_box(&out);
            });
        });
        let mut encoded = Vec::new();
        encode_record(
            &mut encoded,
            7,
            RecordFields::new(RecordKind::Entry, 3, 42),
            &data,
        );
        g.bench_with_input(
            BenchmarkId::new("decode_record", size),
            &encoded,
            |b, buf| {
                b.iter(|| {
                    let (header, body) = decode_record(buf, 7).expect("a valid record");
                    std::hint::black_box((header, body));
                });
            },
        );
    }
    g.finish();
}

fn open(dir: &std::path::Path, schedule: FsyncSchedule) -> Wal {
    Wal::builder()
        .dir(dir)
        .backend(Backend::Std)
        .fsync(schedule)
        .open()
        .expect("open a log")
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    for size in SIZES {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let wal = open(dir.path(), FsyncSchedule::NoFsync);
        let data = payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("no_fsync", size), &data, |b, data| {
            b.iter(|| wal.append_for_topic("bench", data).expect("append"));
        });
        wal.close().expect("close");
    }
    g.finish();
}

fn flush(c: &mut Criterion) {
    let mut g = c.benchmark_group("flush");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wal = open(dir.path(), FsyncSchedule::NoFsync);
    let data = payload(256);
    g.bench_function("append_256B_then_wait_durable", |b| {
        b.iter(|| {
            let offset = wal.append_for_topic("bench", &data).expect("append");
            wal.wait_durable("bench", offset).expect("wait_durable");
        });
    });
    g.finish();
    wal.close().expect("close");
}

criterion_group!(benches, format, append, flush);
criterion_main!(benches);
