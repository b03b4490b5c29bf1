//! The Linux side of the crate: the io_uring ring, its probe and the fsync batches.
//!
//! This is the only module that talks to the kernel, and the only one with `unsafe`
//! (pushing submission queue entries, see the `SAFETY` comments).

#![allow(
    unsafe_code,
    reason = "io_uring::SubmissionQueue::push is unsafe: the kernel reads the entry's \
              pointers later; each use carries a SAFETY comment"
)]

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use io_uring::{cqueue, opcode, types, IoUring, Probe};
use nix::libc;
use wal_core::Storage;

use crate::error::Unavailable;
use crate::stats::Counters;

/// What the flusher needs from a storage to fsync it through the ring.
pub(crate) type Fd = RawFd;

/// The storage's descriptor, if it has one.
pub(crate) fn fd_of(storage: &dyn Storage) -> Option<Fd> {
    storage.raw_fd()
}

/// Where the kernel says whether io_uring is disabled (Linux 6.6 and later).
const DISABLED_SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";

/// `user_data` of the probe's NOP; fsync batches use generations from 1 on.
const NOP_USER_DATA: u64 = 0;

/// One io_uring instance, probed for the operations the flusher uses.
pub(crate) struct Ring {
    ring: IoUring,
    /// Tags the `user_data` of each batch (high 32 bits), so that a completion can never
    /// be matched to a request of another batch.
    generation: u32,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("entries", &self.capacity())
            .field("generation", &self.generation)
            .finish()
    }
}

impl Ring {
    /// Sets up a ring of `entries` submission entries and checks that it can run fsyncs.
    pub(crate) fn new(entries: u32) -> Result<Self, Unavailable> {
        let ring = IoUring::new(entries).map_err(|err| {
            let sysctl = std::fs::read_to_string(DISABLED_SYSCTL).ok();
            let reason = describe_setup_error(&err, entries, sysctl.as_deref());
            Unavailable::new(reason, Some(err))
        })?;

        let mut probe = Probe::new();
        if let Err(err) = ring.submitter().register_probe(&mut probe) {
            let reason = if err.raw_os_error() == Some(libc::EINVAL) {
                "the kernel cannot report its io_uring operations \
                 (IORING_REGISTER_PROBE needs Linux 5.6 or later)"
                    .to_owned()
            } else {
                "IORING_REGISTER_PROBE failed".to_owned()
            };
            return Err(Unavailable::new(reason, Some(err)));
        }
        for (code, name) in [
            (opcode::Fsync::CODE, "IORING_OP_FSYNC"),
            (opcode::Nop::CODE, "IORING_OP_NOP"),
        ] {
            if !probe.is_supported(code) {
                return Err(Unavailable::new(
                    format!("the kernel's io_uring does not support {name}"),
                    None,
                ));
            }
        }

        let mut ring = Self {
            ring,
            generation: 0,
        };
        ring.nop_round_trip().map_err(|err| {
            Unavailable::new(
                "a NOP through the new ring failed (io_uring_enter refused?)",
                Some(err),
            )
        })?;
        Ok(ring)
    }

    /// The most operations one submission can carry.
    pub(crate) fn capacity(&self) -> usize {
        self.ring.params().sq_entries() as usize
    }

    /// Submits one NOP and reaps it: proves that `io_uring_enter` works, not just setup.
    fn nop_round_trip(&mut self) -> io::Result<()> {
        let nop = opcode::Nop::new().build().user_data(NOP_USER_DATA);
        // SAFETY: a NOP carries no buffer and no descriptor (its fd is -1), so there is
        // nothing the kernel could read after this call returns.
        unsafe { self.ring.submission().push(&nop) }
            .map_err(|_| io::Error::other("the new ring's submission queue is full"))?;
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            if let Some(cqe) = self.ring.completion().next() {
                return completion_result(&cqe);
            }
        }
    }

    /// Fsyncs every `(request index, descriptor)` of `batch` with one submission and
    /// writes each outcome to `results[request index]`.
    ///
    /// `batch` holds at most [`Ring::capacity`] jobs. An `Err` means the ring failed: the
    /// jobs whose `results` entry is still `None` have an unknown outcome.
    pub(crate) fn fsync_batch(
        &mut self,
        batch: &[(usize, Fd)],
        results: &mut [Option<io::Result<()>>],
        counters: &Counters,
    ) -> io::Result<()> {
        self.generation = self.generation.wrapping_add(1).max(1);
        let tag = u64::from(self.generation) << 32;
        {
            let mut sq = self.ring.submission();
            for (slot, &(_, fd)) in batch.iter().enumerate() {
                let fsync = opcode::Fsync::new(types::Fd(fd))
                    .flags(types::FsyncFlags::DATASYNC)
                    .build()
                    .user_data(tag | slot as u64);
                // SAFETY: the kernel reads no memory through an fsync entry (no buffer,
                // no iovec, no pointer), only the descriptor `fd`. That descriptor stays
                // open until the entry completes: it belongs to a storage that the caller's
                // `&[FlushRequest]` keeps alive (each holds an Arc<dyn Storage>) for the
                // whole `Flusher::flush` call, and that call returns only after every
                // completion of this batch is reaped or after the ring is dropped, which
                // discards entries not yet submitted. (Once submitted, the kernel also holds
                // its own reference to the file until the fsync ends.)
                unsafe { sq.push(&fsync) }.map_err(|_| {
                    io::Error::other(format!(
                        "{} fsyncs do not fit in the submission queue ({} entries)",
                        batch.len(),
                        sq.capacity()
                    ))
                })?;
            }
            // Dropping `sq` publishes the new tail to the kernel.
        }

        let mut pending = batch.len();
        while pending > 0 {
            match self.ring.submit_and_wait(pending) {
                Ok(submitted) => counters.record_submission(submitted),
                // The kernel reports EINTR only when this call submitted nothing.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
            for cqe in self.ring.completion() {
                let user_data = cqe.user_data();
                let slot = usize::try_from(user_data & u64::from(u32::MAX)).ok();
                let job = slot.and_then(|slot| batch.get(slot));
                match job {
                    Some(&(index, _))
                        if user_data & !u64::from(u32::MAX) == tag && results[index].is_none() =>
                    {
                        results[index] = Some(completion_result(&cqe));
                        pending -= 1;
                    }
                    _ => tracing::warn!(
                        user_data,
                        "ignoring an io_uring completion of no request of this flush"
                    ),
                }
            }
        }
        Ok(())
    }
}

/// A completion's result: a negative value is the errno of the failed operation.
fn completion_result(cqe: &cqueue::Entry) -> io::Result<()> {
    match cqe.result() {
        res if res < 0 => Err(io::Error::from_raw_os_error(-res)),
        _ => Ok(()),
    }
}

/// Explains why `io_uring_setup` failed with `err`. `sysctl` is the content of
/// [`DISABLED_SYSCTL`], if it could be read.
fn describe_setup_error(err: &io::Error, entries: u32, sysctl: Option<&str>) -> String {
    match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (io_uring_setup returned ENOSYS: \
             Linux older than 5.1, a kernel built without CONFIG_IO_URING, or a sandbox \
             that hides the system call)"
            .to_owned(),
        Some(libc::EPERM) => match sysctl.map(str::trim) {
            Some("2") => "io_uring is disabled for every process by the sysctl \
                 kernel.io_uring_disabled=2 (io_uring_setup returned EPERM)"
                .to_owned(),
            Some("1") => "io_uring is restricted to the group kernel.io_uring_group by the \
                 sysctl kernel.io_uring_disabled=1, and this process is not in it \
                 (io_uring_setup returned EPERM)"
                .to_owned(),
            _ => "io_uring_setup was refused with EPERM, most likely by a seccomp filter \
                 (container runtimes block io_uring by default)"
                .to_owned(),
        },
        Some(libc::ENOMEM) => format!(
            "not enough lockable memory for a ring of {entries} entries (ENOMEM: raise \
             RLIMIT_MEMLOCK or use smaller ProbeOptions::ring_entries)"
        ),
        Some(libc::EINVAL) => {
            format!("io_uring_setup rejected a ring of {entries} entries (EINVAL)")
        }
        // The OS error itself is the `source` of `Unavailable`, not repeated here.
        _ => "io_uring_setup failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(errno: i32, sysctl: Option<&str>) -> String {
        describe_setup_error(&io::Error::from_raw_os_error(errno), 64, sysctl)
    }

    #[test]
    fn setup_errors_name_their_cause() {
        assert!(describe(libc::ENOSYS, None).contains("no io_uring"));
        assert!(describe(libc::EPERM, Some("2\n")).contains("kernel.io_uring_disabled=2"));
        assert!(describe(libc::EPERM, Some("1\n")).contains("kernel.io_uring_group"));
        assert!(describe(libc::EPERM, Some("0\n")).contains("seccomp"));
        assert!(describe(libc::EPERM, None).contains("seccomp"));
        assert!(describe(libc::ENOMEM, None).contains("RLIMIT_MEMLOCK"));
        assert!(describe(libc::EIO, None).starts_with("io_uring_setup failed"));
    }
}
