//! The storage conformance properties, one function each.
//!
//! Every function takes the backend under test, works in its own temporary directory and
//! panics with a message that starts with the property's name when the backend breaks it.
//! [`crate::storage_conformance_tests!`] wraps each in a `#[test]`; call them directly to
//! run a property elsewhere.

use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use tempfile::TempDir;
use wal_core::{Backend, FlushRequest, Storage};

use crate::{assert_bytes_eq, pattern, read_exact_at};

const MIB: u64 = 1 << 20;

/// Unwraps `result`, panicking with the property, the step and the error.
#[track_caller]
fn ok<T>(result: io::Result<T>, property: &str, step: impl Display) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{property}: {step} failed: {err} (kind {:?})", err.kind()),
    }
}

fn temp_dir(property: &str) -> TempDir {
    ok(
        tempfile::tempdir(),
        property,
        "creating a temporary directory",
    )
}

fn seg(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn create(backend: &dyn Backend, path: &Path, len: u64, property: &str) -> Arc<dyn Storage> {
    let step = format!("create({}, {len})", path.display());
    ok(backend.create(path, len), property, step)
}

fn read_all(storage: &dyn Storage, len: u64, property: &str) -> Vec<u8> {
    let len = usize::try_from(len).expect("test files fit in memory");
    ok(
        read_exact_at(storage, 0, len),
        property,
        "reading the whole file",
    )
}

/// `create` gives a file of exactly the requested length, and reading space that was never
/// written returns zeros.
pub fn create_has_len_and_reads_zeroes(backend: &dyn Backend) {
    const P: &str = "create_has_len_and_reads_zeroes";
    let dir = temp_dir(P);
    for (i, len) in [1, 4096, 4097, MIB + 3].into_iter().enumerate() {
        let storage = create(backend, &seg(&dir, &format!("seg{i}")), len, P);
        assert_eq!(
            ok(storage.len(), P, "len"),
            len,
            "{P}: a created file must have the requested length"
        );
        let bytes = read_all(&*storage, len, P);
        assert_bytes_eq(
            &bytes,
            &vec![0; bytes.len()],
            &format!("{P}: unwritten space of a {len}-byte file must read as zeros"),
        );
    }
}

/// `zeros_from`, when a backend knows it, is never below a written byte, and everything
/// from it to the end reads as zeros: before any write, after writes near the start, in
/// the middle and at the very end, synced or not.
pub fn zeros_from_is_never_below_data(backend: &dyn Backend) {
    const P: &str = "zeros_from_is_never_below_data";
    let dir = temp_dir(P);
    let len = 4 * MIB;
    let storage = create(backend, &seg(&dir, "seg"), len, P);
    let check = |written_end: u64, when: &str| {
        let Some(z) = ok(storage.zeros_from(), P, "zeros_from") else {
            return;
        };
        assert!(
            z >= written_end,
            "{P}: zeros_from {z} is below data written up to {written_end} ({when})"
        );
        let z = z.min(len);
        let mut tail = vec![0xAA; (len - z) as usize];
        let n = ok(storage.read_at(z, &mut tail), P, "read the tail");
        assert!(
            tail[..n].iter().all(|&b| b == 0),
            "{P}: bytes from zeros_from {z} on must be zeros ({when})"
        );
    };
    check(0, "nothing written");
    ok(storage.write_at(100, &[7; 300]), P, "write near the start");
    check(400, "written near the start, not synced");
    ok(
        storage.write_at(MIB + 5, &[8; 5000]),
        P,
        "write in the middle",
    );
    ok(storage.sync(), P, "sync");
    check(MIB + 5005, "written in the middle, synced");
    ok(storage.write_at(len - 1, &[9]), P, "write the last byte");
    check(len, "last byte written");
}

/// Writes of odd sizes (1 byte, 4095, 4097, 1 MiB + 3, ...) at odd and adjacent offsets,
/// and an overwrite inside an earlier write, read back exactly, and leave every other byte
/// untouched.
pub fn round_trip_odd_offsets(backend: &dyn Backend) {
    const P: &str = "round_trip_odd_offsets";
    let len = 4 * MIB;
    let dir = temp_dir(P);
    let storage = create(backend, &seg(&dir, "seg"), len, P);
    let writes: [(u64, usize); 9] = [
        (0, 1),
        (1, 2),
        (7, 4095),
        (4113, 4097),
        (65_537, (MIB + 3) as usize),
        (2 * MIB + 1, 3),
        (len - 4097, 4096),
        (len - 1, 1),
        // Overwrites the middle of the (7, 4095) write.
        (100, 333),
    ];
    let mut image = vec![0u8; len as usize];
    for (seed, &(offset, size)) in writes.iter().enumerate() {
        let data = pattern(seed as u64, size);
        ok(
            storage.write_at(offset, &data),
            P,
            format_args!("write_at({offset}, {size} bytes)"),
        );
        image[offset as usize..offset as usize + size].copy_from_slice(&data);
    }
    for &(offset, size) in &writes {
        let got = ok(
            read_exact_at(&*storage, offset, size),
            P,
            format_args!("read_at({offset}, {size} bytes)"),
        );
        let want = &image[offset as usize..offset as usize + size];
        assert_bytes_eq(
            &got,
            want,
            &format!("{P}: {size} bytes read back at offset {offset}"),
        );
    }
    assert_bytes_eq(
        &read_all(&*storage, len, P),
        &image,
        &format!("{P}: the whole file after all writes (neighbours must be untouched)"),
    );
}

/// A read that runs past the end of the file returns only the bytes before the end, and a
/// read at or beyond the end returns 0.
pub fn read_past_end_is_short(backend: &dyn Backend) {
    const P: &str = "read_past_end_is_short";
    let dir = temp_dir(P);
    let storage = create(backend, &seg(&dir, "seg"), 1000, P);
    let data = pattern(7, 1000);
    ok(storage.write_at(0, &data), P, "writing the whole file");

    let mut buf = vec![0u8; 100];
    let n = ok(storage.read_at(950, &mut buf), P, "read_at(950, 100 bytes)");
    assert_eq!(
        n, 50,
        "{P}: a read crossing the end must return the bytes before it"
    );
    assert_bytes_eq(
        &buf[..n],
        &data[950..],
        &format!("{P}: the short read's bytes"),
    );
    for offset in [1000, 1001, 5000] {
        let n = ok(
            storage.read_at(offset, &mut buf),
            P,
            format_args!("read_at({offset})"),
        );
        assert_eq!(
            n, 0,
            "{P}: a read at offset {offset} of a 1000-byte file must return 0"
        );
    }
    let n = ok(
        storage.read_at(10, &mut []),
        P,
        "read_at with an empty buffer",
    );
    assert_eq!(n, 0, "{P}: a read into an empty buffer must return 0");
}

/// Data written and synced (with `sync` or `sync_range`) is there, at the same length,
/// after the storage is dropped and the file reopened with `Backend::open`; the reopened
/// storage can be written again.
pub fn sync_then_reopen_keeps_data(backend: &dyn Backend) {
    const P: &str = "sync_then_reopen_keeps_data";
    let dir = temp_dir(P);
    let path = seg(&dir, "seg");
    let len = 64 * 1024 + 5;
    let first = pattern(1, 10_001);
    let second = pattern(2, 777);
    {
        let storage = create(backend, &path, len, P);
        ok(backend.sync_dir(dir.path()), P, "sync_dir after create");
        ok(storage.write_at(3, &first), P, "first write");
        ok(storage.sync(), P, "sync");
        ok(storage.write_at(20_000, &second), P, "second write");
        ok(storage.sync_range(20_000..20_777), P, "sync_range");
    }
    let storage = ok(backend.open(&path), P, "open after drop");
    assert_eq!(
        ok(storage.len(), P, "len after reopen"),
        len,
        "{P}: length after reopen"
    );
    let mut image = vec![0u8; len as usize];
    image[3..3 + first.len()].copy_from_slice(&first);
    image[20_000..20_777].copy_from_slice(&second);
    assert_bytes_eq(
        &read_all(&*storage, len, P),
        &image,
        &format!("{P}: the file after reopen"),
    );

    let third = pattern(3, 99);
    ok(storage.write_at(len - 99, &third), P, "write after reopen");
    ok(storage.sync(), P, "sync after reopen");
    let got = ok(
        read_exact_at(&*storage, len - 99, 99),
        P,
        "read after reopen",
    );
    assert_bytes_eq(
        &got,
        &third,
        &format!("{P}: a write through the reopened storage"),
    );
}

/// `len` reports the created length after create, after writes inside the file, after sync
/// and after reopen; `is_empty` is false.
pub fn len_is_correct(backend: &dyn Backend) {
    const P: &str = "len_is_correct";
    let dir = temp_dir(P);
    let path = seg(&dir, "seg");
    let len = 3 * 4096 + 1;
    let storage = create(backend, &path, len, P);
    assert_eq!(ok(storage.len(), P, "len"), len, "{P}: len after create");
    assert!(
        !ok(storage.is_empty(), P, "is_empty"),
        "{P}: is_empty of a {len}-byte file"
    );
    ok(
        storage.write_at(len - 10, &pattern(5, 10)),
        P,
        "write at the end",
    );
    assert_eq!(
        ok(storage.len(), P, "len"),
        len,
        "{P}: len after a write at the end"
    );
    ok(storage.sync(), P, "sync");
    assert_eq!(ok(storage.len(), P, "len"), len, "{P}: len after sync");
    drop(storage);
    let storage = ok(backend.open(&path), P, "open");
    assert_eq!(ok(storage.len(), P, "len"), len, "{P}: len after reopen");
}

/// `create` on a path that exists fails and leaves the existing file's length and data
/// intact.
pub fn create_existing_fails_and_keeps_data(backend: &dyn Backend) {
    const P: &str = "create_existing_fails_and_keeps_data";
    let dir = temp_dir(P);
    let path = seg(&dir, "seg");
    let data = pattern(11, 4096);
    {
        let storage = create(backend, &path, 4096, P);
        ok(storage.write_at(0, &data), P, "write");
        ok(storage.sync(), P, "sync");
    }
    for len in [4096, 100, 8192] {
        let result = backend.create(&path, len);
        assert!(
            result.is_err(),
            "{P}: create({len}) of an existing file must fail"
        );
    }
    let storage = ok(backend.open(&path), P, "open the existing file");
    assert_eq!(
        ok(storage.len(), P, "len"),
        4096,
        "{P}: a failed create must not resize the existing file"
    );
    assert_bytes_eq(
        &read_all(&*storage, 4096, P),
        &data,
        &format!("{P}: a failed create must not touch the existing data"),
    );
}

/// Eight threads writing interleaved, distinct ranges of one shared storage concurrently
/// all land where they were aimed.
pub fn concurrent_writers_distinct_ranges(backend: &dyn Backend) {
    const P: &str = "concurrent_writers_distinct_ranges";
    const THREADS: u64 = 8;
    const CHUNKS: u64 = 16;
    const CHUNK: u64 = 4097;
    // Thread t owns chunks t, t + 8, t + 16, ...: the ranges interleave, so a shared file
    // cursor or a lost write shows up as misplaced bytes.
    fn offset(thread: u64, chunk: u64) -> u64 {
        3 + (chunk * THREADS + thread) * CHUNK
    }
    fn seed(thread: u64, chunk: u64) -> u64 {
        1000 + thread * CHUNKS + chunk
    }

    let dir = temp_dir(P);
    let len = offset(THREADS, CHUNKS) + 5;
    let storage = create(backend, &seg(&dir, "seg"), len, P);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let storage = Arc::clone(&storage);
            thread::spawn(move || {
                for c in 0..CHUNKS {
                    let data = pattern(seed(t, c), CHUNK as usize);
                    ok(
                        storage.write_at(offset(t, c), &data),
                        P,
                        format_args!("thread {t} writing chunk {c}"),
                    );
                }
            })
        })
        .collect();
    for (t, handle) in handles.into_iter().enumerate() {
        if let Err(panic) = handle.join() {
            panic!("{P}: writer thread {t} panicked: {panic:?}");
        }
    }
    let mut image = vec![0u8; len as usize];
    for t in 0..THREADS {
        for c in 0..CHUNKS {
            let at = offset(t, c) as usize;
            image[at..at + CHUNK as usize].copy_from_slice(&pattern(seed(t, c), CHUNK as usize));
        }
    }
    assert_bytes_eq(
        &read_all(&*storage, len, P),
        &image,
        &format!("{P}: the file after {THREADS} concurrent writers"),
    );
}

/// `flusher().flush` returns exactly one result per request, in request order, each `Ok`
/// for healthy storages (including a storage listed twice), and an empty batch gives an
/// empty result. The flushed data is readable after reopen.
pub fn flusher_reports_each_request_in_order(backend: &dyn Backend) {
    const P: &str = "flusher_reports_each_request_in_order";
    let dir = temp_dir(P);
    let flusher = backend.flusher();
    assert!(
        flusher.flush(&[]).is_empty(),
        "{P}: flushing no requests must return no results"
    );

    let len = 8192;
    let mut files = Vec::new();
    let mut requests = Vec::new();
    for i in 0..4u64 {
        let path = seg(&dir, &format!("seg{i}"));
        let storage = create(backend, &path, len, P);
        let (offset, data) = (i * 1001 + 1, pattern(100 + i, 1000 + i as usize));
        ok(
            storage.write_at(offset, &data),
            P,
            format_args!("write to seg{i}"),
        );
        let dirty = offset..offset + data.len() as u64;
        requests.push(FlushRequest { storage, dirty });
        files.push((path, offset, data));
    }
    requests.push(requests[0].clone());

    let results = flusher.flush(&requests);
    assert_eq!(
        results.len(),
        requests.len(),
        "{P}: flush must return one result per request"
    );
    for (i, result) in results.into_iter().enumerate() {
        if let Err(err) = result {
            panic!("{P}: result {i} of a flush of healthy storages failed: {err}");
        }
    }
    drop(requests);
    for (path, offset, data) in files {
        let storage = ok(backend.open(&path), P, "open after flush");
        let got = ok(
            read_exact_at(&*storage, offset, data.len()),
            P,
            "read after flush",
        );
        assert_bytes_eq(
            &got,
            &data,
            &format!("{P}: flushed data of {}", path.display()),
        );
    }
}

/// After `remove` and `sync_dir` the file is gone: it no longer exists, `open` fails, and
/// a new file can be created at the same path.
pub fn remove_then_sync_dir_deletes_file(backend: &dyn Backend) {
    const P: &str = "remove_then_sync_dir_deletes_file";
    let dir = temp_dir(P);
    let path = seg(&dir, "seg");
    drop(create(backend, &path, 4096, P));
    ok(backend.sync_dir(dir.path()), P, "sync_dir after create");
    ok(backend.remove(&path), P, "remove");
    ok(backend.sync_dir(dir.path()), P, "sync_dir after remove");
    assert!(!path.exists(), "{P}: the file must not exist after remove");
    assert!(
        backend.open(&path).is_err(),
        "{P}: open of a removed file must fail"
    );
    let storage = create(backend, &path, 10, P);
    assert_eq!(
        ok(storage.len(), P, "len"),
        10,
        "{P}: a file created again at a removed path has the new length"
    );
}

/// `sync_dir` right after `create` succeeds and the new file is there.
pub fn sync_dir_after_create(backend: &dyn Backend) {
    const P: &str = "sync_dir_after_create";
    let dir = temp_dir(P);
    let path = seg(&dir, "seg");
    let _storage = create(backend, &path, 4096, P);
    ok(backend.sync_dir(dir.path()), P, "sync_dir after create");
    assert!(
        path.exists(),
        "{P}: the created file must exist after sync_dir"
    );
}

/// A storage whose syncs fail, wrapping a healthy one: the failing member of a flush.
/// It has no raw descriptor, so a flusher that syncs descriptors itself must fall back to
/// its `sync_range` and see the failure.
#[derive(Debug)]
struct FailingSync(Arc<dyn Storage>);

impl Storage for FailingSync {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.0.write_at(offset, buf)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_at(offset, buf)
    }
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn sync(&self) -> io::Result<()> {
        Err(io::Error::other("injected sync failure"))
    }
    fn sync_range(&self, _range: std::ops::Range<u64>) -> io::Result<()> {
        self.sync()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A flush of several storages where one fails reports the failure for that request
/// alone, and success for the others, in order.
pub fn flusher_reports_a_failing_member_alone(backend: &dyn Backend) {
    const P: &str = "flusher_reports_a_failing_member_alone";
    let dir = temp_dir(P);
    let mut requests = Vec::new();
    for i in 0..3u64 {
        let storage = create(backend, &seg(&dir, &format!("seg{i}")), 8192, P);
        ok(storage.write_at(0, &pattern(i, 100)), P, "write");
        let storage: Arc<dyn Storage> = if i == 1 {
            Arc::new(FailingSync(storage))
        } else {
            storage
        };
        requests.push(FlushRequest {
            storage,
            dirty: 0..100,
        });
    }
    let results = backend.flusher().flush(&requests);
    assert_eq!(results.len(), 3, "{P}: one result per request");
    assert!(
        results[0].is_ok(),
        "{P}: healthy member 0 failed: {:?}",
        results[0]
    );
    assert!(
        results[1].is_err(),
        "{P}: the failing member was reported as synced"
    );
    assert!(
        results[2].is_ok(),
        "{P}: healthy member 2 failed: {:?}",
        results[2]
    );
}
