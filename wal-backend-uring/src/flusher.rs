//! [`UringFlusher`]: one io_uring submission of fsyncs per flush cycle.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use wal_core::{FlushRequest, Flusher};

use crate::stats::Counters;
use crate::sys;

/// The [`Flusher`] of [`crate::UringBackend`]: the fsyncs of all requests of a flush in one
/// io_uring submission.
///
/// For each request whose storage has a file descriptor it queues one `IORING_OP_FSYNC`
/// with `IORING_FSYNC_DATASYNC` (the whole file, like `fdatasync`; the dirty range is not
/// passed to the kernel), submits them all with one `io_uring_enter` that waits for every
/// completion, and matches completions to requests by their `user_data`. A failed fsync is
/// an error for its own request only: `io::Error::from_raw_os_error(-res)`, so
/// [`io::Error::raw_os_error`] gives the kernel's errno. Requests without a descriptor are
/// synced with [`wal_core::Storage::sync_range`] afterwards. See the crate documentation
/// for the ring size and batching.
///
/// If the ring itself fails (an `io_uring_enter` error other than `EINTR`), every request
/// of the flush whose completion was not reaped gets an error: its fsync may still run,
/// and a second `fdatasync` could report success after the first consumed a write-back
/// error, so re-syncing would not be safe. The ring is then discarded and a new one is
/// set up at the next flush (if that fails, those flushes fail with the reason).
///
/// Flushes are serialized by a mutex around the ring; the engine runs one flush at a time
/// anyway.
pub struct UringFlusher {
    ring: Mutex<Option<sys::Ring>>,
    entries: u32,
    counters: Arc<Counters>,
}

impl fmt::Debug for UringFlusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringFlusher")
            .field("entries", &self.entries)
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl UringFlusher {
    pub(crate) fn new(ring: sys::Ring, entries: u32, counters: Arc<Counters>) -> Self {
        Self {
            ring: Mutex::new(Some(ring)),
            entries,
            counters,
        }
    }

    /// Fsyncs `jobs` (request index, descriptor) through the ring, filling `results`.
    ///
    /// The ring is taken out of the mutex for the flush and put back only if it did not
    /// fail. A panic in between drops it, so no later flush can see operations or
    /// completions an interrupted flush left behind; the next flush sets up a new ring.
    fn fsync_through_ring(
        &self,
        jobs: &[(usize, sys::Fd)],
        results: &mut [Option<io::Result<()>>],
    ) {
        let mut slot = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ring = match slot.take() {
            Some(ring) => ring,
            None => match sys::Ring::new(self.entries) {
                Ok(ring) => ring,
                Err(unavailable) => {
                    tracing::error!(error = %unavailable, "cannot set up a new io_uring");
                    let message = format!("no io_uring to fsync with: {unavailable}");
                    fail_unreaped(jobs, results, unavailable.kind(), &message);
                    return;
                }
            },
        };
        for batch in jobs.chunks(ring.capacity()) {
            if let Err(err) = ring.fsync_batch(batch, results, &self.counters) {
                tracing::error!(error = %err, "io_uring submission failed; discarding the ring");
                let message = format!("io_uring submission failed, fsync outcome unknown: {err}");
                fail_unreaped(jobs, results, err.kind(), &message);
                return;
            }
        }
        *slot = Some(ring);
    }
}

/// Gives every job without a result an error of `kind` saying `message`.
fn fail_unreaped(
    jobs: &[(usize, sys::Fd)],
    results: &mut [Option<io::Result<()>>],
    kind: io::ErrorKind,
    message: &str,
) {
    for &(index, _) in jobs {
        if results[index].is_none() {
            results[index] = Some(Err(io::Error::new(kind, message.to_owned())));
        }
    }
}

impl Flusher for UringFlusher {
    fn flush(&self, requests: &[FlushRequest]) -> Vec<io::Result<()>> {
        let mut results: Vec<Option<io::Result<()>>> = requests.iter().map(|_| None).collect();
        let mut jobs = Vec::with_capacity(requests.len());
        let mut fallback = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            // The descriptor stays open for the whole call: `requests` holds an
            // `Arc<dyn Storage>` that owns it until we return.
            match sys::fd_of(&*request.storage) {
                Some(fd) => jobs.push((index, fd)),
                None => fallback.push(index),
            }
        }
        if !jobs.is_empty() {
            self.fsync_through_ring(&jobs, &mut results);
        }
        for index in fallback {
            let request = &requests[index];
            tracing::debug!(
                storage = ?request.storage,
                "storage has no file descriptor; syncing it directly"
            );
            self.counters.record_fallback();
            results[index] = Some(request.storage.sync_range(request.dirty.clone()));
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(io::Error::other(
                        "io_uring reported no completion for this request",
                    ))
                })
            })
            .collect()
    }
}
