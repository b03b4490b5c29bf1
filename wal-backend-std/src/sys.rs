//! Every platform difference of this crate, in one place.
//!
//! - Positional I/O: `FileExt::read_at` / `write_at` on unix, `seek_read` / `seek_write` on
//!   windows, [`io::ErrorKind::Unsupported`] elsewhere. The loops that turn single calls into
//!   "fill the buffer" and "write it all" are shared.
//! - Preallocation: `posix_fallocate` on Linux, `set_len` (no blocks reserved) elsewhere.
//! - Directory sync: `fsync` of the directory on unix, a no-op elsewhere.

use std::fs::File;
use std::io;
use std::path::Path;

/// Fills `buf` from `offset`, stopping early only at the end of the file.
pub(crate) fn read_at(file: &File, mut offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_once(file, &mut buf[filled..], offset) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                offset = advance(offset, n)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes all of `buf` at `offset`; a write that makes no progress is [`io::ErrorKind::WriteZero`].
pub(crate) fn write_all_at(file: &File, mut offset: u64, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match write_once(file, buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("write at offset {offset} wrote no bytes"),
                ))
            }
            Ok(n) => {
                buf = &buf[n..];
                offset = advance(offset, n)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn advance(offset: u64, n: usize) -> io::Result<u64> {
    u64::try_from(n)
        .ok()
        .and_then(|n| offset.checked_add(n))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file offset overflows u64"))
}

#[cfg(unix)]
fn read_once(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(unix)]
fn write_once(file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(file, buf, offset)
}

#[cfg(windows)]
fn read_once(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(windows)]
fn write_once(file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn read_once(_file: &File, _buf: &mut [u8], _offset: u64) -> io::Result<usize> {
    Err(unsupported())
}

#[cfg(not(any(unix, windows)))]
fn write_once(_file: &File, _buf: &[u8], _offset: u64) -> io::Result<usize> {
    Err(unsupported())
}

#[cfg(not(any(unix, windows)))]
fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "wal-backend-std has no positional file I/O on this platform",
    )
}

/// Gives the empty, freshly created `file` a length of `len` bytes with blocks reserved on
/// disk, so that a full disk fails here with [`io::ErrorKind::StorageFull`].
#[cfg(target_os = "linux")]
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use nix::errno::Errno;
    use std::os::fd::AsRawFd;

    if len == 0 {
        // posix_fallocate rejects a zero length with EINVAL; there is nothing to reserve.
        return Ok(());
    }
    let off_len = nix::libc::off_t::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file length {len} does not fit in off_t"),
        )
    })?;
    match nix::fcntl::posix_fallocate(file.as_raw_fd(), 0, off_len) {
        Ok(()) => Ok(()),
        // A C library without glibc's emulation (musl) passes EOPNOTSUPP through on file
        // systems without fallocate. Writing zeros reserves the blocks just the same.
        Err(Errno::EOPNOTSUPP) => {
            tracing::debug!(
                len,
                "posix_fallocate is not supported here; reserving blocks by writing zeros"
            );
            write_zeros(file, len)
        }
        // ENOSPC becomes io::ErrorKind::StorageFull through from_raw_os_error.
        Err(errno) => Err(io::Error::from(errno)),
    }
}

#[cfg(target_os = "linux")]
fn write_zeros(file: &File, len: u64) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < len {
        let n = usize::try_from(len - offset).map_or(CHUNK, |rest| rest.min(CHUNK));
        write_all_at(file, offset, &zeros[..n])?;
        offset = advance(offset, n)?;
    }
    Ok(())
}

/// Gives the freshly created `file` a length of `len` bytes. Only the length is set: the
/// file system may not reserve blocks, so a full disk can surface on a later write.
#[cfg(not(target_os = "linux"))]
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)
}

/// Makes the entries of `dir` durable by syncing the directory itself.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directory entries cannot be synced through std on this platform; the file system
/// (NTFS journals its metadata) is trusted to make creations and removals durable.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Where the file's last data region ends, from `SEEK_DATA`/`SEEK_HOLE`: never-written
/// (`fallocate`d) extents are holes there, while written or cached pages are data, so
/// everything from the result on reads as zeros. `None` where the file system does not
/// support the two whences.
#[cfg(target_os = "linux")]
pub(crate) fn zeros_from(file: &File) -> io::Result<Option<u64>> {
    use nix::errno::Errno;
    use nix::unistd::{lseek, Whence};
    use std::os::fd::AsRawFd;

    let fd = file.as_raw_fd();
    let mut end = 0;
    loop {
        // lseek moves the descriptor's offset, which positional I/O never uses.
        let data = match lseek(fd, end, Whence::SeekData) {
            Ok(at) => at,
            Err(Errno::ENXIO) => return Ok(u64::try_from(end).ok()),
            Err(Errno::EINVAL | Errno::EOPNOTSUPP) => return Ok(None),
            Err(errno) => return Err(io::Error::from(errno)),
        };
        end = lseek(fd, data, Whence::SeekHole).map_err(io::Error::from)?;
    }
}

/// Not known on this system: recovery reads the whole tail.
#[cfg(not(target_os = "linux"))]
pub(crate) fn zeros_from(_file: &File) -> io::Result<Option<u64>> {
    Ok(None)
}
