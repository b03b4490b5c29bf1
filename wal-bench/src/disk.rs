//! How much of a log's files holds data: the same measure for every system, whatever it
//! preallocates.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Page size the measure counts in.
pub const PAGE: u64 = 4096;

/// Bytes of every regular file under `dir` (recursively) that lie in 4 KiB pages holding
/// at least one non-zero byte. Holes and never-written preallocated space are skipped
/// with `SEEK_DATA`/`SEEK_HOLE` where the file system supports them; zero-filled
/// preallocation is read and not counted.
pub fn data_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += data_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += file_data_bytes(&entry.path())?;
        }
    }
    Ok(total)
}

fn file_data_bytes(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    let mut pages = 0u64;
    while pos < len {
        let (start, end) = match data_region(&file, pos) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err(e),
            None => break,
        };
        let start = start - start % PAGE;
        let end = end.min(len);
        file.seek(SeekFrom::Start(start))?;
        let mut at = start;
        while at < end {
            let want = ((end - at) as usize).min(buf.len());
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            pages += buf[..n]
                .chunks(PAGE as usize)
                .filter(|p| p.iter().any(|&b| b != 0))
                .count() as u64;
            at += n as u64;
        }
        pos = end.max(start + PAGE);
    }
    Ok(pages * PAGE)
}

/// The next region holding data at or after `pos`: `None` at the end, the whole rest
/// of the file where `SEEK_DATA` is not supported. Regions are page-aligned on Linux
/// file systems, so the page count stays exact.
fn data_region(file: &File, pos: u64) -> Option<io::Result<(u64, u64)>> {
    use rustix::fs::{seek, SeekFrom as S};
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return Some(Err(e)),
    };
    match seek(file, S::Data(pos)) {
        Ok(start) => {
            let end = seek(file, S::Hole(start)).unwrap_or(len);
            Some(Ok((start, end)))
        }
        Err(rustix::io::Errno::NXIO) => None,
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOTSUP) => Some(Ok((pos, len))),
        Err(e) => Some(Err(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn counts_pages_with_data_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::create(dir.path().join("a")).unwrap();
        f.set_len(64 << 20).unwrap(); // a sparse 64 MiB file
        f.write_all_at(&[1u8; 10], 0).unwrap(); // page 0
        f.write_all_at(&[1u8; 5000], 3 * PAGE).unwrap(); // pages 3 and 4
        f.write_all_at(&vec![0u8; 3 * PAGE as usize], 8 * PAGE)
            .unwrap(); // zeros: none
        f.write_all_at(&[7u8], (32 << 20) + 1).unwrap(); // one page far away
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [9u8; 100]).unwrap();
        assert_eq!(data_bytes(dir.path()).unwrap(), 5 * PAGE);
    }
}
