//! The crate's only unsafe code: copies into a shared file mapping, copies out of it, and
//! dropping its page-table entries.
//!
//! # Why this is free of data races, across backend instances too
//!
//! Rust's memory model defines a data race between two accesses *of the program* to
//! overlapping addresses. Two mappings of one file are two address ranges backed by the same
//! physical pages, and nothing in the model relates them: a store through one mapping
//! changes the bytes of the other without any access of the program to the other's
//! addresses. To code reading the other mapping this is memory modified by *another party*
//! (as memory shared with another process is), and a plain load, or a
//! `copy_nonoverlapping` out of it, that runs while the other party stores is, as far as
//! the language is concerned, a data race with a writer it cannot see: undefined behaviour,
//! which the compiler may exploit by assuming the bytes do not change under it. A lock per
//! backend cannot help, since a second backend takes another lock.
//!
//! A [`FileAccess`] is shared by every region one backend (and its clones) maps a file with,
//! and only by them: backend instances share nothing, by design. So its lock orders the
//! copies of one instance, never those of two. This module therefore keeps these rules:
//!
//! 1. **Stores.** A write copies into the mapping holding the file's lock exclusively. Two
//!    threads of one instance, even through the same region, never store to one address at
//!    once. The only things that *read* those stores from outside the instance are the
//!    kernel (`pread` by another instance, `msync`, writeback) and other processes, none of
//!    which is an access of this program; they see each byte either before or after a store.
//! 2. **Loads, in a backend that writes the file.** Once any region of this backend has
//!    written the file ([`FileAccess::written`], set under the exclusive lock before the
//!    first copy in, by any `write_at`, even of zero bytes, and never cleared), reads copy
//!    out of the mapping holding the lock shared.
//!    The only stores to those pages are then this instance's own copies, ordered by the
//!    lock, *provided nothing else writes the file while this backend maps it*: no other
//!    backend instance, no other process, no `pwrite`. That is the crate's contract, and the
//!    engine keeps it: a log holds its directory's lock, so no second log writes its
//!    segments, and `inspect` only reads.
//! 3. **Loads, in a backend that has not written the file** (a tool's backend given to
//!    `inspect`, a log's recovery before its first append): the bytes come from the kernel
//!    with a positional read (`pread`) on the storage's own descriptor, never from the
//!    mapping. The program makes no load from a mapping that anyone may be storing to: the
//!    kernel copies from the page cache into a buffer the program owns, during a system
//!    call. So such a reader is sound whatever writes the file meanwhile, a misbehaving
//!    second writer included. On Linux, macOS and FreeBSD the page cache is what
//!    `MAP_SHARED` maps (a unified buffer cache), so `pread` returns exactly what the other
//!    backend copied in, written back or not; where it is not unified (OpenBSD) a `pread`
//!    may return bytes older than a mapping holds: stale, never unsound.
//!
//! What a reader of rule 3 sees while a writer stores: each byte as it was before or after
//! the store, never a byte nobody wrote, but no atomicity beyond that; a record being
//! copied in may come out half old, half new. The engine's checksums are what tell a
//! complete record from a torn one (its `inspect` reports a record in flight as a torn tail).
//!
//! Eviction (Linux) drops page-table entries with `MADV_DONTNEED`, under the exclusive lock;
//! it changes no byte of the file.
#![allow(
    unsafe_code,
    reason = "copying into and out of a file mapping needs raw pointer copies, and dropping \
              its page-table entries an unchecked madvise; the three blocks below are the \
              only unsafe code of the crate"
)]

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use memmap2::MmapRaw;

/// What every region of one file made by one backend (and its clones) shares.
#[derive(Debug, Default)]
pub(crate) struct FileAccess {
    /// Taken exclusively by [`Region::write`] and [`Region::evict`], shared by reads out of
    /// the mapping.
    lock: RwLock<()>,
    /// Whether this backend has written the file through any of its regions. Set once,
    /// under the exclusive lock, before the first copy in; never cleared. Until it is set
    /// reads go through `pread` (rule 3 of the module docs), after it out of the mapping.
    written: AtomicBool,
    /// Reads copied out of the mapping, so that tests see which way reads really went.
    #[cfg(test)]
    mapped_reads: std::sync::atomic::AtomicU64,
}

/// One shared, writable mapping of a whole file.
#[derive(Debug)]
pub(crate) struct Region {
    raw: MmapRaw,
    /// Shared with every region the owning backend maps the same file with.
    access: Arc<FileAccess>,
}

impl Region {
    /// Wraps `raw`, a shared read-write mapping of a whole file, with `access`, what the
    /// owning backend's regions of that file share.
    pub(crate) fn new(raw: MmapRaw, access: Arc<FileAccess>) -> Self {
        Self { raw, access }
    }

    /// Whether reads copy out of the mapping (this backend has written the file) rather than
    /// going through `pread`.
    #[cfg(test)]
    pub(crate) fn reads_from_mapping(&self) -> bool {
        self.access.written.load(Ordering::Acquire)
    }

    /// How many reads this backend copied out of its mappings of the file.
    #[cfg(test)]
    pub(crate) fn mapped_reads(&self) -> u64 {
        self.access.mapped_reads.load(Ordering::Relaxed)
    }

    /// The mapping, for the safe operations on it (`msync`, `madvise`).
    pub(crate) fn raw(&self) -> &MmapRaw {
        &self.raw
    }

    /// Copies all of `src` into the mapping at `offset`.
    ///
    /// # Panics
    /// If `offset + src.len()` exceeds the mapping: callers check the range first and
    /// report an error; the check here only keeps a bug from becoming a wild write.
    pub(crate) fn write(&self, offset: usize, src: &[u8]) {
        let in_bounds = offset
            .checked_add(src.len())
            .is_some_and(|end| end <= self.raw.len());
        assert!(
            in_bounds,
            "write of {} bytes at {offset} outside a {}-byte mapping",
            src.len(),
            self.raw.len()
        );
        let _exclusive = self
            .access
            .lock
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Under the exclusive lock, so no read of this backend is copying out of any
        // mapping of the file while reads switch from `pread` to the mapping. Checked
        // first: the store would otherwise dirty a shared cache line on every write.
        if !self.access.written.load(Ordering::Relaxed) {
            self.access.written.store(true, Ordering::Release);
        }
        // SAFETY:
        // - Bounds: `offset..offset + src.len()` lies inside the mapping (checked above), so
        //   `as_mut_ptr().add(offset)` and the `src.len()` bytes after it stay inside one
        //   live mapping, which `self.raw` keeps mapped for as long as `self` exists.
        // - Writable and backed: `map_raw` made a shared read-write mapping of a file that
        //   has at least `raw.len()` bytes (the storage maps the file at its length and never
        //   shrinks it; the crate's contract forbids others to truncate it).
        // - No data race (rule 1 of the module docs): every store or load of this program to
        //   this backend's mappings of the file is a copy in this module made under the
        //   file's lock, and we hold it exclusively. Other instances never load from their
        //   mappings of a file they have not written (rule 3); the kernel and other
        //   processes reading the pages are not accesses of this program.
        // - No overlap, no aliasing: no reference into a mapping is ever created, so `src`
        //   (a Rust slice) cannot point into it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.raw.as_mut_ptr().add(offset),
                src.len(),
            );
        }
    }

    /// Fills `dst` from the file at `offset`: out of the mapping if this backend writes the
    /// file, with `pread` on `file` (the mapped file's own descriptor) if not. Returns the
    /// bytes read, fewer than `dst.len()` only if the file has become shorter than the
    /// mapping (which the crate's contract forbids).
    ///
    /// # Panics
    /// If `offset + dst.len()` exceeds the mapping (callers clamp reads first).
    pub(crate) fn read(&self, file: &File, offset: usize, dst: &mut [u8]) -> io::Result<usize> {
        let in_bounds = offset
            .checked_add(dst.len())
            .is_some_and(|end| end <= self.raw.len());
        assert!(
            in_bounds,
            "read of {} bytes at {offset} outside a {}-byte mapping",
            dst.len(),
            self.raw.len()
        );
        if !self.access.written.load(Ordering::Acquire) {
            // Rule 3: this backend does not write the file, so anything that stores to it
            // is outside this instance's lock; let the kernel copy.
            return crate::sys::read_file_at(file, offset as u64, dst);
        }
        let _shared = self
            .access
            .lock
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        #[cfg(test)]
        self.access.mapped_reads.fetch_add(1, Ordering::Relaxed);
        // SAFETY:
        // - Bounds and backing: as in `write`, `offset..offset + dst.len()` lies inside the
        //   live mapping of a file at least that long.
        // - No data race (rule 2 of the module docs): this backend writes the file
        //   (`written` is set, and never cleared), so by the crate's contract nothing outside
        //   it stores to the file's pages while it maps them; its own stores are copies under
        //   the file's lock, held exclusively, and we hold it shared.
        // - No overlap, no aliasing: `dst` is a Rust slice, and no reference into a mapping
        //   is ever created, so `dst` cannot point into it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.raw.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        Ok(dst.len())
    }

    /// Drops the pages from `offset` to the end of the mapping from this mapping and, where
    /// nothing else maps them, from the page cache, so that the next touch faults them in
    /// again as the fault path allocates them (single-page folios on Linux 6.18).
    ///
    /// Nothing observable changes: dirty pages stay in the page cache (their dirty state is
    /// carried over), clean ones are read back from the file.
    #[cfg(target_os = "linux")]
    pub(crate) fn evict(&self, file: &File, offset: usize) -> io::Result<()> {
        let len = self.raw.len().saturating_sub(offset);
        if len == 0 {
            return Ok(());
        }
        let _exclusive = self
            .access
            .lock
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // SAFETY: `MADV_DONTNEED` on a shared file mapping only removes page-table entries:
        // the file's data stays in the page cache (a dirty page's state moves to the cache)
        // or on disk, and the next access faults the same bytes back in. It would discard
        // data only for a private or anonymous mapping, and `map_raw` made a shared file
        // mapping. `offset..offset + len` is inside the mapping (`len` was computed from
        // it). No reference into the mapping exists, and the exclusive lock keeps our own
        // copies out while the entries go.
        unsafe {
            self.raw
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)?;
        }
        crate::sys::drop_page_cache(file, offset as u64, len as u64)
    }
}
