//! [`UringStats`] and the atomics behind it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one [`crate::UringBackend`] (and its clones and flusher) since it was
/// probed.
///
/// A flush of k storages with descriptors, with k no larger than the ring, adds exactly 1
/// to `submissions` and k to `fsyncs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UringStats {
    /// `io_uring_enter` calls that carried fsyncs to the kernel (calls that only waited
    /// for completions are not counted).
    pub submissions: u64,
    /// `IORING_OP_FSYNC` operations the kernel accepted, successful or not.
    pub fsyncs: u64,
    /// Requests made durable with [`wal_core::Storage::sync_range`] because their storage
    /// has no file descriptor.
    pub fallback_syncs: u64,
}

/// The live counters, shared by a backend and its flusher.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub submissions: AtomicU64,
    pub fsyncs: AtomicU64,
    pub fallback_syncs: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> UringStats {
        UringStats {
            submissions: self.submissions.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            fallback_syncs: self.fallback_syncs.load(Ordering::Relaxed),
        }
    }

    /// Records one `io_uring_enter` call that submitted `sqes` operations.
    pub fn record_submission(&self, sqes: usize) {
        if sqes > 0 {
            self.submissions.fetch_add(1, Ordering::Relaxed);
            self.fsyncs.fetch_add(sqes as u64, Ordering::Relaxed);
        }
    }

    pub fn record_fallback(&self) {
        self.fallback_syncs.fetch_add(1, Ordering::Relaxed);
    }
}
