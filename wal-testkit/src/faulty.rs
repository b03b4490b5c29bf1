//! Fault injection: [`FaultyBackend`], a decorator over any backend with a seeded plan of
//! failures and a simulated power loss.
//!
//! Everything is per instance: two faulty backends in one process (tests run in parallel)
//! never affect each other, and nothing is read from the environment.
//!
//! ```
//! use std::{io, sync::Arc};
//! use wal_core::Backend;
//! use wal_testkit::faulty::{CrashMode, FaultPlan, FaultyBackend};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let backend = FaultyBackend::new(
//!     Arc::new(wal_backend_std::StdBackend::default()),
//!     FaultPlan::seeded(7).fail_sync(2, io::ErrorKind::Other),
//! );
//! let file = backend.create(&dir.path().join("a"), 4096).unwrap();
//! file.write_at(0, b"durable").unwrap();
//! file.sync().unwrap();                       // sync 1 succeeds
//! file.write_at(7, b" lost").unwrap();
//! assert!(file.sync().is_err());              // sync 2 fails as planned
//! backend.crash(CrashMode::DropUnsynced).unwrap(); // power loss
//! let file = backend.open(&dir.path().join("a")).unwrap();
//! let mut buf = [0u8; 12];
//! file.read_at(0, &mut buf).unwrap();
//! assert_eq!(&buf, b"durable\0\0\0\0\0");
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use wal_core::{Backend, Storage};

/// What to break, and when. Counts are 1-based and count calls across every file of the
/// backend: `fail_sync(3, ..)` fails the third sync the backend sees.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    seed: u64,
    fail_sync: Option<(u64, io::ErrorKind)>,
    fail_write: Option<(u64, io::ErrorKind)>,
    short_write: Option<u64>,
    fail_create: Option<(u64, io::ErrorKind)>,
    sync_delay: std::time::Duration,
}

impl FaultPlan {
    /// A plan with no faults whose random choices (crash prefixes, torn bytes) follow `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// The `nth` sync fails with `kind`; the data it covered stays unsynced.
    pub fn fail_sync(mut self, nth: u64, kind: io::ErrorKind) -> Self {
        self.fail_sync = Some((nth, kind));
        self
    }

    /// The `nth` write fails with `kind` and writes nothing.
    pub fn fail_write(mut self, nth: u64, kind: io::ErrorKind) -> Self {
        self.fail_write = Some((nth, kind));
        self
    }

    /// The `nth` write writes only a prefix of its buffer, then fails.
    pub fn short_write(mut self, nth: u64) -> Self {
        self.short_write = Some(nth);
        self
    }

    /// Every sync sleeps this long first: a slow disk, so that concurrent writers
    /// deterministically queue behind a flush in flight.
    pub fn sync_delay(mut self, delay: std::time::Duration) -> Self {
        self.sync_delay = delay;
        self
    }

    /// The `nth` file creation fails with `kind` (e.g. `StorageFull`).
    pub fn fail_create(mut self, nth: u64, kind: io::ErrorKind) -> Self {
        self.fail_create = Some((nth, kind));
        self
    }
}

/// How a simulated power loss treats each file's bytes written since its last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced byte is lost.
    DropUnsynced,
    /// A random prefix (in write order) of the unsynced bytes survives; the rest is lost.
    KeepRandomPrefix,
    /// Everything survives except the last 512-byte sector of the last write, which holds
    /// garbage.
    TearLastSector,
}

/// Calls seen and faults injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// `write_at` calls.
    pub writes: u64,
    /// `sync` and `sync_range` calls.
    pub syncs: u64,
    /// `create` calls.
    pub creates: u64,
    /// Faults injected (including disk-full refusals).
    pub injected: u64,
    /// Simulated power losses.
    pub crashes: u64,
}

/// One unsynced write: where, and the bytes it overwrote.
#[derive(Debug)]
struct Undo {
    offset: u64,
    old: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    plan: FaultPlan,
    rng: u64,
    counts: FaultCounts,
    disk_full: bool,
    /// Bumped by every crash: storages opened before it are dead.
    epoch: u64,
    unsynced: HashMap<PathBuf, Vec<Undo>>,
}

impl State {
    fn next_random(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn inject(&mut self, kind: io::ErrorKind, what: &str) -> io::Error {
        self.counts.injected += 1;
        io::Error::new(kind, format!("injected fault: {what}"))
    }
}

/// A backend whose files fail as a [`FaultPlan`] says and can lose unsynced data in a
/// simulated power loss ([`FaultyBackend::crash`]). Clones share the plan and the files.
#[derive(Debug, Clone)]
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultyBackend {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Backend>, plan: FaultPlan) -> Self {
        let state = State {
            rng: plan.seed,
            plan,
            ..State::default()
        };
        Self {
            inner,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Replaces the plan (counts keep running).
    pub fn set_plan(&self, plan: FaultPlan) {
        lock(&self.state).plan = plan;
    }

    /// While `full`, creations and writes fail with [`io::ErrorKind::StorageFull`] and
    /// change nothing.
    pub fn set_disk_full(&self, full: bool) {
        lock(&self.state).disk_full = full;
    }

    /// Calls seen and faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        lock(&self.state).counts
    }

    /// Simulates a power loss: every file loses unsynced bytes as `mode` says, and every
    /// storage opened before the crash fails from now on. Open the files again (a new log)
    /// to see what survived. Returns the number of unsynced bytes that were lost.
    pub fn crash(&self, mode: CrashMode) -> io::Result<u64> {
        let mut st = lock(&self.state);
        st.epoch += 1;
        st.counts.crashes += 1;
        let files: Vec<(PathBuf, Vec<Undo>)> = st.unsynced.drain().collect();
        let mut lost = 0;
        for (path, undos) in files {
            if undos.is_empty() || !path.exists() {
                continue;
            }
            let file = self.inner.open(&path)?;
            lost += crash_file(&mut st, &*file, &undos, mode)?;
            file.sync()?;
        }
        Ok(lost)
    }

    fn wrap(&self, path: &Path, storage: Arc<dyn Storage>) -> Arc<dyn Storage> {
        let epoch = lock(&self.state).epoch;
        Arc::new(FaultyStorage {
            inner: storage,
            path: path.to_owned(),
            state: self.state.clone(),
            epoch,
        })
    }
}

/// Reverts what a crash loses of one file's unsynced writes; returns the bytes lost.
fn crash_file(
    st: &mut State,
    file: &dyn Storage,
    undos: &[Undo],
    mode: CrashMode,
) -> io::Result<u64> {
    let total: u64 = undos.iter().map(|u| u.old.len() as u64).sum();
    let keep = match mode {
        CrashMode::DropUnsynced => 0,
        CrashMode::KeepRandomPrefix => st.next_random() % (total + 1),
        CrashMode::TearLastSector => total,
    };
    // Undo in reverse write order, so that overlapping writes restore the oldest bytes.
    let mut end = total;
    for u in undos.iter().rev() {
        let len = u.old.len() as u64;
        let start = end - len;
        if keep < end {
            let from = keep.saturating_sub(start) as usize;
            file.write_at(u.offset + from as u64, &u.old[from..])?;
        }
        end = start;
    }
    if mode == CrashMode::TearLastSector {
        if let Some(last) = undos.last() {
            let write_end = last.offset + last.old.len() as u64;
            let sector = (write_end - 1) & !511;
            let from = sector.max(last.offset);
            let garbage: Vec<u8> = (from..write_end).map(|_| st.next_random() as u8).collect();
            file.write_at(from, &garbage)?;
            return Ok(garbage.len() as u64);
        }
    }
    Ok(total - keep)
}

impl Backend for FaultyBackend {
    fn name(&self) -> &str {
        "faulty"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        {
            let mut st = lock(&self.state);
            st.counts.creates += 1;
            if st.disk_full {
                return Err(st.inject(io::ErrorKind::StorageFull, "disk full at create"));
            }
            if let Some((nth, kind)) = st.plan.fail_create {
                if st.counts.creates == nth {
                    return Err(st.inject(kind, "create"));
                }
            }
        }
        let storage = self.inner.create(path, len)?;
        Ok(self.wrap(path, storage))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        let storage = self.inner.open(path)?;
        Ok(self.wrap(path, storage))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)?;
        lock(&self.state).unsynced.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

/// A storage that records its unsynced writes and fails as the plan says.
#[derive(Debug)]
struct FaultyStorage {
    inner: Arc<dyn Storage>,
    path: PathBuf,
    state: Arc<Mutex<State>>,
    epoch: u64,
}

impl FaultyStorage {
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let st = lock(&self.state);
        if st.epoch != self.epoch {
            return Err(io::Error::other("the machine crashed: this handle is dead"));
        }
        Ok(st)
    }

    fn synced(&self, range: Option<Range<u64>>) {
        let mut st = lock(&self.state);
        if let Some(undos) = st.unsynced.get_mut(&self.path) {
            match range {
                None => undos.clear(),
                Some(r) => {
                    undos.retain(|u| u.offset < r.start || u.offset + u.old.len() as u64 > r.end)
                }
            }
        }
    }

    fn sync_with(&self, range: Option<Range<u64>>) -> io::Result<()> {
        let delay = {
            let mut st = self.live()?;
            st.counts.syncs += 1;
            if let Some((nth, kind)) = st.plan.fail_sync {
                if st.counts.syncs == nth {
                    return Err(st.inject(kind, "sync"));
                }
            }
            st.plan.sync_delay
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        match &range {
            None => self.inner.sync()?,
            Some(r) => self.inner.sync_range(r.clone())?,
        }
        self.synced(range);
        Ok(())
    }
}

impl Storage for FaultyStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut st = self.live()?;
        st.counts.writes += 1;
        let n = st.counts.writes;
        if st.disk_full {
            return Err(st.inject(io::ErrorKind::StorageFull, "disk full at write"));
        }
        if let Some((nth, kind)) = st.plan.fail_write {
            if n == nth {
                return Err(st.inject(kind, "write"));
            }
        }
        let short = st.plan.short_write == Some(n) && !buf.is_empty();
        let len = if short {
            (st.next_random() % buf.len() as u64) as usize
        } else {
            buf.len()
        };
        let mut old = vec![0u8; len];
        let got = self.inner.read_at(offset, &mut old)?;
        old.truncate(got);
        old.resize(len, 0);
        self.inner.write_at(offset, &buf[..len])?;
        st.unsynced
            .entry(self.path.clone())
            .or_default()
            .push(Undo { offset, old });
        if short {
            return Err(st.inject(io::ErrorKind::WriteZero, "short write"));
        }
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        drop(self.live()?);
        self.inner.read_at(offset, buf)
    }

    fn len(&self) -> io::Result<u64> {
        drop(self.live()?);
        self.inner.len()
    }

    fn sync(&self) -> io::Result<()> {
        self.sync_with(None)
    }

    fn sync_range(&self, range: Range<u64>) -> io::Result<()> {
        self.sync_with(Some(range))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern;

    fn setup(plan: FaultPlan) -> (tempfile::TempDir, FaultyBackend, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let backend = FaultyBackend::new(Arc::new(wal_backend_std::StdBackend::default()), plan);
        let path = dir.path().join("f");
        (dir, backend, path)
    }

    fn contents(backend: &FaultyBackend, path: &Path, len: usize) -> Vec<u8> {
        let f = backend.open(path).unwrap();
        let mut buf = vec![0u8; len];
        assert_eq!(f.read_at(0, &mut buf).unwrap(), len);
        buf
    }

    #[test]
    fn random_prefix_keeps_a_prefix_of_the_unsynced_writes() {
        for seed in 0..40 {
            let (_dir, backend, path) = setup(FaultPlan::seeded(seed));
            let f = backend.create(&path, 4096).unwrap();
            f.write_at(0, &pattern(1, 100)).unwrap();
            f.sync().unwrap();
            let data = pattern(2, 1000);
            for (i, piece) in data.chunks(100).enumerate() {
                f.write_at(100 + 100 * i as u64, piece).unwrap();
            }
            let lost = backend.crash(CrashMode::KeepRandomPrefix).unwrap();
            let after = contents(&backend, &path, 1100);
            assert_eq!(
                &after[..100],
                &pattern(1, 100)[..],
                "synced data survives (seed {seed})"
            );
            let kept = 1000 - lost as usize;
            assert_eq!(&after[100..100 + kept], &data[..kept], "seed {seed}");
            assert!(
                after[100 + kept..].iter().all(|&b| b == 0),
                "seed {seed}: nothing past the prefix"
            );
            assert!(
                f.write_at(0, b"x").is_err(),
                "handles from before the crash are dead"
            );
        }
    }

    #[test]
    fn torn_sector_garbles_only_the_end_of_the_last_write() {
        let (_dir, backend, path) = setup(FaultPlan::seeded(3));
        let f = backend.create(&path, 8192).unwrap();
        let data = pattern(5, 3000);
        f.write_at(0, &data).unwrap();
        backend.crash(CrashMode::TearLastSector).unwrap();
        let after = contents(&backend, &path, 3000);
        assert_eq!(&after[..2560], &data[..2560]);
        assert_ne!(&after[2560..], &data[2560..]);
    }

    #[test]
    fn planned_faults_fire_once_at_their_count() {
        let plan = FaultPlan::seeded(1)
            .fail_write(2, io::ErrorKind::Other)
            .short_write(4)
            .fail_create(2, io::ErrorKind::StorageFull);
        let (dir, backend, path) = setup(plan);
        let f = backend.create(&path, 4096).unwrap();
        let err = backend.create(&dir.path().join("g"), 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        f.write_at(0, b"one").unwrap();
        assert!(f.write_at(3, b"two").is_err());
        f.write_at(3, b"three").unwrap();
        assert_eq!(
            f.write_at(8, &[9; 100]).unwrap_err().kind(),
            io::ErrorKind::WriteZero
        );
        f.write_at(8, b"five").unwrap();
        assert_eq!(backend.counts().injected, 3);
    }

    #[test]
    fn disk_full_refuses_until_space_returns() {
        let (dir, backend, path) = setup(FaultPlan::seeded(0));
        let f = backend.create(&path, 4096).unwrap();
        backend.set_disk_full(true);
        assert_eq!(
            f.write_at(0, b"x").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        let err = backend.create(&dir.path().join("g"), 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        backend.set_disk_full(false);
        f.write_at(0, b"x").unwrap();
        backend.create(&dir.path().join("g"), 4096).unwrap();
    }
}
