//! The side of the crate for targets without io_uring: probing always fails with
//! [`io::ErrorKind::Unsupported`], so no ring, and no flusher, can exist.

use std::convert::Infallible;
use std::io;

use wal_core::Storage;

use crate::error::Unavailable;
use crate::stats::Counters;

/// No descriptor can be fsynced through a ring here.
pub(crate) type Fd = Infallible;

/// There is never a descriptor to hand to a ring on this target.
pub(crate) fn fd_of(_storage: &dyn Storage) -> Option<Fd> {
    None
}

/// A ring cannot be created on this target, so this type has no values.
#[derive(Debug)]
pub(crate) enum Ring {}

impl Ring {
    /// Always fails: io_uring exists only on Linux.
    pub(crate) fn new(_entries: u32) -> Result<Self, Unavailable> {
        Err(Unavailable::new(
            format!(
                "io_uring exists only on Linux, not on {}",
                std::env::consts::OS
            ),
            Some(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring is Linux-only",
            )),
        ))
    }

    /// Unreachable: there is no ring.
    pub(crate) fn capacity(&self) -> usize {
        match *self {}
    }

    /// Unreachable: there is no ring.
    pub(crate) fn fsync_batch(
        &mut self,
        _batch: &[(usize, Fd)],
        _results: &mut [Option<io::Result<()>>],
        _counters: &Counters,
    ) -> io::Result<()> {
        match *self {}
    }
}
