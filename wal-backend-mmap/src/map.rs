//! The crate's only unsafe code: copies into and out of a shared file mapping.
//!
//! A [`Region`] owns one [`MmapRaw`] and never hands out a reference into it: its bytes are
//! reached only by the two raw copies below, each under a reader-writer lock that every
//! region of the same file made by the same backend shares. So no Rust reference ever
//! aliases the mapping, and no two copies that could touch the same byte run at once, even
//! if a caller breaks the `Storage` contract and overlaps a read with a write. The third
//! block (Linux only) drops page-table entries for [`Region::evict`], under the same lock.
#![allow(
    unsafe_code,
    reason = "copying into and out of a file mapping needs raw pointer copies, and dropping \
              its page-table entries an unchecked madvise; the three blocks below are the \
              only unsafe code of the crate"
)]

use std::sync::{Arc, PoisonError, RwLock};
#[cfg(target_os = "linux")]
use std::{fs::File, io};

use memmap2::MmapRaw;

/// One shared, writable mapping of a whole file.
#[derive(Debug)]
pub(crate) struct Region {
    raw: MmapRaw,
    /// Taken exclusively by [`Region::write`] and shared by [`Region::read`]; one lock per
    /// file, shared by every region the owning backend maps that file with.
    access: Arc<RwLock<()>>,
}

impl Region {
    /// Wraps `raw`, a shared read-write mapping of a whole file, with `access`, the lock of
    /// that file.
    pub(crate) fn new(raw: MmapRaw, access: Arc<RwLock<()>>) -> Self {
        Self { raw, access }
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
        let _exclusive = self.access.write().unwrap_or_else(PoisonError::into_inner);
        // SAFETY:
        // - Bounds: `offset..offset + src.len()` lies inside the mapping (checked above), so
        //   `as_mut_ptr().add(offset)` and the `src.len()` bytes after it stay inside one
        //   live mapping, which `self.raw` keeps mapped for as long as `self` exists.
        // - Writable and backed: `map_raw` made a shared read-write mapping of a file that
        //   has at least `raw.len()` bytes (the storage maps the file at its length and never
        //   shrinks it; the crate's contract forbids others to truncate it).
        // - No data race: every access to this file's mapped bytes through this backend is
        //   one of the two copies in this module, and we hold the file's lock exclusively.
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

    /// Fills all of `dst` from the mapping at `offset`.
    ///
    /// # Panics
    /// If `offset + dst.len()` exceeds the mapping (callers clamp reads first).
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) {
        let in_bounds = offset
            .checked_add(dst.len())
            .is_some_and(|end| end <= self.raw.len());
        assert!(
            in_bounds,
            "read of {} bytes at {offset} outside a {}-byte mapping",
            dst.len(),
            self.raw.len()
        );
        let _shared = self.access.read().unwrap_or_else(PoisonError::into_inner);
        // SAFETY:
        // - Bounds and backing: as in `write`, `offset..offset + dst.len()` lies inside the
        //   live mapping of a file at least that long.
        // - No data race: writers to this file's mapped bytes through this backend hold the
        //   lock exclusively, and we hold it shared; concurrent readers only read.
        // - No overlap, no aliasing: `dst` is a Rust slice, and no reference into a mapping
        //   is ever created, so `dst` cannot point into it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.raw.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
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
        let _exclusive = self.access.write().unwrap_or_else(PoisonError::into_inner);
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
