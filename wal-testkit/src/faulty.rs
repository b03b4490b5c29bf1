//! Fault injection: [`FaultyBackend`], a decorator over any backend with a seeded plan of
//! failures, a power switch, and simulated power losses that lose what real disks and
//! kernels lose.
//!
//! Everything is per instance: two faulty backends in one process (tests run in parallel)
//! never affect each other, and nothing is read from the environment. Every random choice
//! follows the plan's seed, so a run that makes the same calls in the same order crashes
//! the same way.
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
//! backend.sync_dir(dir.path()).unwrap();     // the file's name is durable
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
//!
//! # Crash modes
//! [`FaultyBackend::crash`] simulates a power loss; [`CrashMode`] says what it loses.
//! [`ALL_CRASH_MODES`] lists them all, for campaigns that should try each.
//!
//! | mode | unsynced file data | unsynced directory operations |
//! |------|--------------------|-------------------------------|
//! | [`DropUnsynced`](CrashMode::DropUnsynced) | all lost | all kept |
//! | [`KeepRandomPrefix`](CrashMode::KeepRandomPrefix) | a prefix in write order kept | all kept |
//! | [`TearLastSector`](CrashMode::TearLastSector) | kept, last sector of the last write garbage | all kept |
//! | [`ReorderPages`](CrashMode::ReorderPages) | each 4 KiB page kept or lost | all kept |
//! | [`TornSectors`](CrashMode::TornSectors) | each 512-byte sector kept or lost | all kept |
//! | [`LoseDirOps`](CrashMode::LoseDirOps) | each page kept or lost | each undone or kept |
//! | [`Chaos`](CrashMode::Chaos) | each page kept, lost or torn into sectors | each undone or kept |
//!
//! The random modes draw the odds once per crash (a page survives with probability 1/4,
//! 1/2 or 3/4, say), so a campaign sees crashes that keep almost everything as well as
//! crashes that keep almost nothing.
//!
//! # What is durable
//! In every mode:
//! - A successful `sync()` of a file makes every earlier write to it durable, and a
//!   successful `sync_range(r)` the bytes of earlier writes that fall inside `r` (exactly
//!   `r`, not the whole pages around it: the model never keeps more than was asked).
//!   Durable data never reverts.
//! - A successful `sync_dir(dir)` makes every earlier `create`, `remove` and `rename` in
//!   `dir` durable: none of them is ever undone. A rename between two directories is
//!   durable once both are synced. Syncing a file does not make its name durable.
//! - A durable operation on a name makes every earlier operation on the same name durable
//!   too (a later state of a name cannot reach the disk without the earlier ones).
//! - Storages opened before the crash fail from then on; open the files again to see what
//!   survived.
//!
//! # Lost directory operations
//! With [`LoseDirOps`](CrashMode::LoseDirOps) and [`Chaos`](CrashMode::Chaos), each
//! directory operation that no later `sync_dir` covered is undone at random, independently
//! of the others, with one constraint: the operations on one name (one path) reach the
//! disk in order, so undoing one undoes every later operation on the same name. A rename
//! touches two names and is undone as a whole. The result is always a state that a
//! sequence of the same operations could have produced, minus some of them:
//! - An undone `create` leaves no file, and the file's data is gone with it.
//! - An undone `remove` brings the file back under its name, holding what the file held
//!   at the crash (a hard link kept since the removal, see below), with its unsynced
//!   writes subject to the page rules like any other file's.
//! - An undone `rename` puts the file back under its old name, and brings back a file the
//!   rename had replaced.
//! - A path removed and then created again comes back as one of: the old file (the
//!   removal was undone, and so the creation too), the new file (both kept), or nothing
//!   (the removal kept, the creation undone).
//!
//! Unsynced data follows the file, not its name: writes made before a rename are subject
//! to the page rules under whichever name the file ends up with, and syncing the file
//! under its new name makes them durable.
//!
//! To bring removed files back, `remove` and a `rename` over an existing file first hard
//! link the file into a temporary directory beside the directory that holds it (never in
//! it, so a log never sees a stray file). The link is deleted once the removal is durable
//! or the machine crashed, and the directory when the backend is dropped.
//!
//! # Not modelled
//! - File sizes: a file keeps the length it has at the crash (files are created at full
//!   size and writes never extend them).
//! - Disks that lie about flushes, bit rot, misdirected writes, and garbage anywhere but
//!   in [`TearLastSector`](CrashMode::TearLastSector)'s last sector: pages and sectors
//!   hold either their old or their new bytes.
//! - The ordering journaling filesystems give (ext4 commits directory operations in
//!   order): the model allows any per-name ordered subset, a superset of what they do.
//! - Operations in flight when [`FaultyBackend::crash`] is called: it waits for the
//!   bookkeeping lock, so each write and directory operation is either wholly before the
//!   crash or after it.
//! - Changes made to the directory behind the backend's back (with `std::fs`).
//! - Where hard links are impossible, removed files are stashed by copy; writes through a
//!   handle still open on the removed file then miss the stash.
//!
//! # Power off
//! [`FaultPlan::power_off_after`] cuts the power after a given number of mutating calls:
//! every later call fails and changes nothing until [`FaultyBackend::crash`]. Counting the
//! calls of a workload first ([`FaultCounts::mutations`]) and replaying it with a random
//! cut-off crashes it at an arbitrary point, inside whatever the engine was doing.

use std::any::Any;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use wal_core::{Backend, Storage};

mod data;
mod dirs;
#[cfg(test)]
mod tests;

use data::{Loss, PageOdds, Unsynced};
use dirs::Namespace;

/// What to break, and when. Counts are 1-based and count calls across every file of the
/// backend: `fail_sync(3, ..)` fails the third sync the backend sees.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    seed: u64,
    fail_sync: Option<(u64, io::ErrorKind)>,
    fail_write: Option<(u64, io::ErrorKind)>,
    short_write: Option<u64>,
    fail_create: Option<(u64, io::ErrorKind)>,
    fail_remove: Option<(u64, io::ErrorKind)>,
    fail_sync_dir: Option<(u64, io::ErrorKind)>,
    sync_delay: std::time::Duration,
    power_off_after: Option<u64>,
    disk_full_during: Option<Range<u64>>,
}

impl FaultPlan {
    /// A plan with no faults whose random choices (what a crash keeps, torn bytes) follow
    /// `seed`.
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

    /// The `nth` file removal fails with `kind` and removes nothing.
    pub fn fail_remove(mut self, nth: u64, kind: io::ErrorKind) -> Self {
        self.fail_remove = Some((nth, kind));
        self
    }

    /// The `nth` directory sync fails with `kind`: the directory operations it would have
    /// covered stay unsynced (a crash in [`CrashMode::LoseDirOps`] may undo them).
    pub fn fail_sync_dir(mut self, nth: u64, kind: io::ErrorKind) -> Self {
        self.fail_sync_dir = Some((nth, kind));
        self
    }

    /// The disk is full for the mutating calls numbered `calls` (counted as
    /// [`FaultCounts::mutations`] counts them): creations and writes among them fail with
    /// [`io::ErrorKind::StorageFull`] and change nothing, as under
    /// [`FaultyBackend::set_disk_full`]. Space comes back by itself after the last one.
    pub fn disk_full_during(mut self, calls: Range<u64>) -> Self {
        self.disk_full_during = Some(calls);
        self
    }

    /// The power goes off once `n` mutating calls have been made in total: `write_at`,
    /// `sync`, `sync_range`, `create`, `remove`, `rename` and `sync_dir` each count one
    /// (see [`FaultCounts::mutations`]). The `n`th call itself completes normally; every
    /// later call of any kind, on the backend or its storages, fails with
    /// [`io::ErrorKind::Other`] and changes nothing, until [`FaultyBackend::crash`] turns
    /// the power back on. If the count has already reached `n` when the plan is installed,
    /// the power goes off at once.
    pub fn power_off_after(mut self, n: u64) -> Self {
        self.power_off_after = Some(n);
        self
    }
}

/// What a simulated power loss ([`FaultyBackend::crash`]) loses. The module documentation
/// says what each mode models, and what none of them does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashMode {
    /// Every unsynced byte is lost; directory operations are kept.
    DropUnsynced,
    /// A random prefix (in write order) of each file's unsynced bytes survives; the rest
    /// is lost. Directory operations are kept.
    KeepRandomPrefix,
    /// Everything survives except the last 512-byte sector of each file's last unsynced
    /// write, which holds garbage. Directory operations are kept.
    TearLastSector,
    /// Unsynced data is split at 4096-byte page boundaries (aligned in the file), and each
    /// dirty page independently survives whole or is lost whole, so a later page may
    /// survive while an earlier one is lost. Directory operations are kept.
    ReorderPages,
    /// Like [`CrashMode::ReorderPages`] at the granularity of 512-byte sectors: each
    /// dirty sector independently keeps its old or its new bytes. Sectors are atomic,
    /// pages are not.
    TornSectors,
    /// File data as in [`CrashMode::ReorderPages`], and each directory operation that no
    /// later `sync_dir` covered is undone at random: a created file goes missing, a
    /// removed file comes back, a rename is undone.
    LoseDirOps,
    /// Everything at once: each dirty page survives, is lost or is torn into sectors, and
    /// directory operations are lost as in [`CrashMode::LoseDirOps`], with odds drawn
    /// afresh for every crash.
    Chaos,
}

/// Every [`CrashMode`], for campaigns that try each.
pub const ALL_CRASH_MODES: &[CrashMode] = &[
    CrashMode::DropUnsynced,
    CrashMode::KeepRandomPrefix,
    CrashMode::TearLastSector,
    CrashMode::ReorderPages,
    CrashMode::TornSectors,
    CrashMode::LoseDirOps,
    CrashMode::Chaos,
];

/// Calls seen and faults injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// `write_at` calls.
    pub writes: u64,
    /// `sync` and `sync_range` calls.
    pub syncs: u64,
    /// `create` calls.
    pub creates: u64,
    /// `remove` calls.
    pub removes: u64,
    /// `sync_dir` calls.
    pub dir_syncs: u64,
    /// Faults injected (including disk-full refusals).
    pub injected: u64,
    /// Simulated power losses.
    pub crashes: u64,
    /// Mutating calls made while the power was on: `write_at`, `sync`, `sync_range`,
    /// `create`, `remove`, `rename` and `sync_dir`, whether they succeeded or failed.
    /// Calls refused because the power is off or the handle is dead are not counted.
    pub mutations: u64,
}

/// Identifies a file (an inode) independently of its name, so that unsynced writes follow
/// a file through renames. Never reused within one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct FileId(u64);

/// splitmix64: small, seedable, and good enough to pick pages.
#[derive(Debug, Default)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.fraction() < p
    }

    /// One of 1/4, 1/2 and 3/4: the odds of one crash.
    fn odds(&mut self) -> f64 {
        [0.25, 0.5, 0.75][(self.next() % 3) as usize]
    }
}

/// Everything a [`FaultyBackend`] and its storages share, behind one lock.
#[derive(Debug, Default)]
struct State {
    plan: FaultPlan,
    rng: Rng,
    counts: FaultCounts,
    disk_full: bool,
    powered_off: bool,
    /// Bumped by every crash: storages opened before it are dead.
    epoch: u64,
    unsynced: Unsynced,
    dirs: Namespace,
}

impl State {
    fn inject(&mut self, kind: io::ErrorKind, what: &str) -> io::Error {
        self.counts.injected += 1;
        io::Error::new(kind, format!("injected fault: {what}"))
    }

    /// Lets a call through if the power is on, counting it if it mutates, and cutting the
    /// power after it if the plan says so.
    fn admit(&mut self, mutating: bool) -> io::Result<()> {
        if self.powered_off {
            return Err(io::Error::other(
                "power off: the simulated machine lost power (FaultPlan::power_off_after); \
                 nothing reaches the disk until FaultyBackend::crash",
            ));
        }
        if mutating {
            self.counts.mutations += 1;
            if self.plan.power_off_after == Some(self.counts.mutations) {
                self.powered_off = true;
            }
        }
        Ok(())
    }

    /// `true` while creations and writes fail for want of space: set by
    /// [`FaultyBackend::set_disk_full`], or inside the plan's window.
    fn is_full(&self) -> bool {
        self.disk_full
            || self
                .plan
                .disk_full_during
                .as_ref()
                .is_some_and(|w| w.contains(&self.counts.mutations))
    }

    /// Installs `plan`; cuts the power at once if its cut-off has already been reached.
    fn install(&mut self, plan: FaultPlan) {
        if plan
            .power_off_after
            .is_some_and(|n| n <= self.counts.mutations)
        {
            self.powered_off = true;
        }
        self.plan = plan;
    }
}

fn crashed_meanwhile() -> io::Error {
    io::Error::other("the machine crashed during this call: it may not have happened")
}

/// A backend whose files fail as a [`FaultPlan`] says and lose what a real disk loses in a
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
        let mut state = State {
            rng: Rng(plan.seed),
            ..State::default()
        };
        state.install(plan);
        Self {
            inner,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Replaces the plan (counts keep running).
    pub fn set_plan(&self, plan: FaultPlan) {
        lock(&self.state).install(plan);
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

    /// `true` from the moment [`FaultPlan::power_off_after`] cut the power until the next
    /// [`FaultyBackend::crash`].
    pub fn is_powered_off(&self) -> bool {
        lock(&self.state).powered_off
    }

    /// Simulates a power loss: unsynced file data and directory operations are lost as
    /// `mode` says (see the module documentation), every storage opened before the crash
    /// fails from now on, and the power is back on. Open the files again (a new log) to
    /// see what survived.
    ///
    /// Returns the number of bytes of unsynced file data the crash reverted in files that
    /// still exist afterwards (for [`CrashMode::TearLastSector`], the bytes garbled).
    pub fn crash(&self, mode: CrashMode) -> io::Result<u64> {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        st.epoch += 1;
        st.counts.crashes += 1;
        st.powered_off = false;
        let (loss, undo_dir_ops) = crash_odds(mode, &mut st.rng);
        let located = st.dirs.crash(&*self.inner, &mut st.rng, undo_dir_ops)?;
        let mut lost = 0;
        for (id, undos) in st.unsynced.take() {
            // A file whose name is gone (removal kept, creation undone) took its data
            // with it.
            let Some(path) = located.get(&id) else {
                continue;
            };
            if undos.is_empty() || !path.exists() {
                continue;
            }
            let file = self.inner.open(path)?;
            lost += data::crash_file(&mut st.rng, &*file, &undos, loss)?;
            file.sync()?;
        }
        Ok(lost)
    }

    fn wrap(&self, file: FileId, storage: Arc<dyn Storage>, epoch: u64) -> Arc<dyn Storage> {
        Arc::new(FaultyStorage {
            inner: storage,
            file,
            state: self.state.clone(),
            epoch,
        })
    }
}

/// What one crash in `mode` does to file data, and the chance that it undoes each
/// unsynced directory operation (`None`: it undoes none).
fn crash_odds(mode: CrashMode, rng: &mut Rng) -> (Loss, Option<f64>) {
    let pages = |keep| {
        Loss::Pages(PageOdds {
            keep,
            torn: 0.0,
            sector_keep: 0.0,
        })
    };
    match mode {
        CrashMode::DropUnsynced => (Loss::Drop, None),
        CrashMode::KeepRandomPrefix => (Loss::Prefix, None),
        CrashMode::TearLastSector => (Loss::TearLast, None),
        CrashMode::ReorderPages => (pages(rng.odds()), None),
        CrashMode::TornSectors => {
            let sector_keep = rng.odds();
            let odds = PageOdds {
                keep: 0.0,
                torn: 1.0,
                sector_keep,
            };
            (Loss::Pages(odds), None)
        }
        CrashMode::LoseDirOps => {
            let keep = rng.odds();
            (pages(keep), Some(rng.odds()))
        }
        CrashMode::Chaos => {
            let keep = rng.fraction();
            let torn = rng.fraction() * (1.0 - keep);
            let sector_keep = rng.odds();
            let odds = PageOdds {
                keep,
                torn,
                sector_keep,
            };
            (Loss::Pages(odds), Some(rng.odds()))
        }
    }
}

impl Backend for FaultyBackend {
    fn name(&self) -> &str {
        "faulty"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        let mut st = lock(&self.state);
        st.admit(true)?;
        st.counts.creates += 1;
        if st.is_full() {
            return Err(st.inject(io::ErrorKind::StorageFull, "disk full at create"));
        }
        if let Some((nth, kind)) = st.plan.fail_create {
            if st.counts.creates == nth {
                return Err(st.inject(kind, "create"));
            }
        }
        // The lock is held across the call so that the log of directory operations is in
        // the order the filesystem saw them.
        let storage = self.inner.create(path, len)?;
        let file = st.dirs.created(path);
        Ok(self.wrap(file, storage, st.epoch))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        let mut st = lock(&self.state);
        st.admit(false)?;
        let storage = self.inner.open(path)?;
        let file = st.dirs.id_of(path);
        Ok(self.wrap(file, storage, st.epoch))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.admit(true)?;
        st.counts.removes += 1;
        if let Some((nth, kind)) = st.plan.fail_remove {
            if st.counts.removes == nth {
                return Err(st.inject(kind, "remove"));
            }
        }
        st.dirs.remove(&*self.inner, path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.admit(true)?;
        st.dirs.rename(&*self.inner, from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let (epoch, upto) = {
            let mut st = lock(&self.state);
            st.admit(true)?;
            st.counts.dir_syncs += 1;
            if let Some((nth, kind)) = st.plan.fail_sync_dir {
                if st.counts.dir_syncs == nth {
                    return Err(st.inject(kind, "directory sync"));
                }
            }
            (st.epoch, st.dirs.next_seq())
        };
        // Not under the lock: a directory sync can be slow, and covers only what was done
        // before it started.
        self.inner.sync_dir(dir)?;
        let mut st = lock(&self.state);
        if st.epoch != epoch {
            return Err(crashed_meanwhile());
        }
        st.dirs.synced_dir(dir, upto);
        Ok(())
    }
}

/// A storage that records its unsynced writes and fails as the plan says.
#[derive(Debug)]
struct FaultyStorage {
    inner: Arc<dyn Storage>,
    file: FileId,
    state: Arc<Mutex<State>>,
    epoch: u64,
}

impl FaultyStorage {
    fn live(&self, mutating: bool) -> io::Result<MutexGuard<'_, State>> {
        let mut st = lock(&self.state);
        if st.epoch != self.epoch {
            return Err(io::Error::other("the machine crashed: this handle is dead"));
        }
        st.admit(mutating)?;
        Ok(st)
    }

    fn sync_with(&self, range: Option<Range<u64>>) -> io::Result<()> {
        let delay = {
            let mut st = self.live(true)?;
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
        let mut st = lock(&self.state);
        if st.epoch != self.epoch {
            // The crash came first and already decided what this file lost.
            return Err(crashed_meanwhile());
        }
        st.unsynced.synced(self.file, range);
        Ok(())
    }
}

impl Storage for FaultyStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut st = self.live(true)?;
        st.counts.writes += 1;
        let n = st.counts.writes;
        if st.is_full() {
            return Err(st.inject(io::ErrorKind::StorageFull, "disk full at write"));
        }
        if let Some((nth, kind)) = st.plan.fail_write {
            if n == nth {
                return Err(st.inject(kind, "write"));
            }
        }
        let short = st.plan.short_write == Some(n) && !buf.is_empty();
        let len = if short {
            (st.rng.next() % buf.len() as u64) as usize
        } else {
            buf.len()
        };
        let mut old = vec![0u8; len];
        let got = self.inner.read_at(offset, &mut old)?;
        old.truncate(got);
        old.resize(len, 0);
        self.inner.write_at(offset, &buf[..len])?;
        st.unsynced.record(self.file, offset, old);
        if short {
            return Err(st.inject(io::ErrorKind::WriteZero, "short write"));
        }
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        drop(self.live(false)?);
        self.inner.read_at(offset, buf)
    }

    fn len(&self) -> io::Result<u64> {
        drop(self.live(false)?);
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
