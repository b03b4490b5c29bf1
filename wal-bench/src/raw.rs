//! The machine's own limits, measured on the file system the logs use: what no log on
//! this disk can beat.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};
use crate::hist::{Histogram, Percentiles};

/// One raw measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RawRate {
    /// Operations (or bytes, for bandwidths) per second.
    pub per_s: f64,
    /// Latency of each operation, where measured.
    pub latency: Option<Percentiles>,
}

/// The limits every result is compared with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// One thread, `pwrite` of 256 bytes then `fdatasync`, on a preallocated,
    /// already-written file: syncs per second. The better of the measurements at the
    /// start and at the end of the run.
    pub sync_256: RawRate,
    /// The same with 4 KiB writes (also the better of the start and the end).
    pub sync_4k: RawRate,
    /// The 256-byte sync loop measured again at the end of the run (drift check).
    pub sync_256_end: Option<RawRate>,
    /// The 4 KiB sync loop measured again at the end of the run: one hiccup of a shared
    /// disk during the first measurement must not make every 4 KiB row look fast.
    #[serde(default)]
    pub sync_4k_end: Option<RawRate>,
    /// Buffered `pwrite` of 1 MiB blocks into a new, preallocated file (new page-cache
    /// pages), bytes per second.
    pub write_bandwidth: f64,
    /// The same, first pass only: memory the virtual machine touches for the first time
    /// can cost more than the copy, and the logs' pages are often such memory.
    pub write_bandwidth_first: f64,
    /// Buffered `pread` of 1 MiB blocks of that file while cached, bytes per second.
    pub read_bandwidth: f64,
}

/// Span of the preallocated file the sync loop cycles through.
const SYNC_SPAN: u64 = 64 << 20;

fn create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .ctx(format!("create {}", path.display()))
}

/// One thread writing `size` bytes with `pwrite` and `fdatasync` after each, for
/// `duration`, cycling through a 64 MiB file whose blocks were written and synced first
/// (the fast path: no allocation, no extent conversion, no size change per sync).
pub fn pwrite_fdatasync(dir: &Path, size: usize, duration: Duration) -> Result<RawRate> {
    let path = dir.join("raw-sync.dat");
    let file = create(&path)?;
    let zeros = vec![0u8; 1 << 20];
    for i in 0..SYNC_SPAN / zeros.len() as u64 {
        file.write_all_at(&zeros, i * zeros.len() as u64)
            .ctx("preallocate by writing")?;
    }
    file.sync_all().ctx("sync the preallocated file")?;
    let buf = vec![0xA5u8; size];
    let mut hist = Histogram::default();
    let slots = SYNC_SPAN / size as u64;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration || n == 0 {
        let t = Instant::now();
        file.write_all_at(&buf, (n % slots) * size as u64)
            .ctx("pwrite")?;
        file.sync_data().ctx("fdatasync")?;
        hist.record(t.elapsed());
        n += 1;
    }
    let elapsed = start.elapsed();
    drop(file);
    std::fs::remove_file(&path).ctx("remove the raw file")?;
    Ok(RawRate {
        per_s: n as f64 / elapsed.as_secs_f64(),
        latency: hist.percentiles(),
    })
}

/// Buffered `pwrite` bandwidth writing `bytes` in 1 MiB blocks into a new file
/// preallocated with `fallocate` (as log segments are), then `pread` bandwidth reading
/// it back while it is cached. Runs twice and keeps the better pass of each: the first
/// touch of memory in a virtual machine can cost more than the copy. Returns (write,
/// first write pass, read) in bytes per second.
pub fn buffered_bandwidth(dir: &Path, bytes: u64) -> Result<(f64, f64, f64)> {
    let path = dir.join("raw-bandwidth.dat");
    let block = 1u64 << 20;
    let blocks = (bytes / block).max(1);
    let buf = vec![0x5Au8; block as usize];
    let mut back = vec![0u8; block as usize];
    let (mut write, mut first, mut read) = (0f64, 0f64, 0f64);
    for pass in 0..2 {
        let file = create(&path)?;
        rustix::fs::fallocate(
            &file,
            rustix::fs::FallocateFlags::empty(),
            0,
            blocks * block,
        )
        .map_err(std::io::Error::from)
        .ctx("fallocate")?;
        let start = Instant::now();
        for i in 0..blocks {
            file.write_all_at(&buf, i * block).ctx("pwrite")?;
        }
        let rate = (blocks * block) as f64 / start.elapsed().as_secs_f64();
        if pass == 0 {
            first = rate;
        }
        write = write.max(rate);
        let start = Instant::now();
        for i in 0..blocks {
            file.read_exact_at(&mut back, i * block).ctx("pread")?;
        }
        read = read.max((blocks * block) as f64 / start.elapsed().as_secs_f64());
        drop(file);
        std::fs::remove_file(&path).ctx("remove the raw file")?;
    }
    Ok((write, first, read))
}

impl Limits {
    /// Measures every limit in `dir`: the sync loops for `duration` each, the
    /// bandwidths over `bytes`.
    pub fn measure(dir: &Path, duration: Duration, bytes: u64) -> Result<Limits> {
        std::fs::create_dir_all(dir).ctx(format!("create {}", dir.display()))?;
        let sync_256 = pwrite_fdatasync(dir, 256, duration)?;
        let sync_4k = pwrite_fdatasync(dir, 4096, duration)?;
        let (write_bandwidth, write_bandwidth_first, read_bandwidth) =
            buffered_bandwidth(dir, bytes)?;
        Ok(Limits {
            sync_256,
            sync_4k,
            sync_256_end: None,
            sync_4k_end: None,
            write_bandwidth,
            write_bandwidth_first,
            read_bandwidth,
        })
    }

    /// Measures both sync loops again (at the end of a run) and keeps the better of the
    /// two measurements of each as the limit.
    pub fn remeasure(&mut self, dir: &Path, duration: Duration) -> Result<()> {
        let end = pwrite_fdatasync(dir, 256, duration)?;
        if end.per_s > self.sync_256.per_s {
            self.sync_256 = end;
        }
        self.sync_256_end = Some(end);
        let end = pwrite_fdatasync(dir, 4096, duration)?;
        if end.per_s > self.sync_4k.per_s {
            self.sync_4k = end;
        }
        self.sync_4k_end = Some(end);
        Ok(())
    }

    /// The raw sync rate for entries of `size` bytes (4 KiB and up use the 4 KiB loop).
    pub fn sync_rate(&self, size: usize) -> f64 {
        if size >= 4096 {
            self.sync_4k.per_s
        } else {
            self.sync_256.per_s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_measured() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Limits::measure(dir.path(), Duration::from_millis(20), 4 << 20).unwrap();
        assert!(l.sync_256.per_s > 0.0 && l.sync_4k.per_s > 0.0);
        assert!(l.write_bandwidth > 0.0 && l.read_bandwidth > 0.0);
        l.remeasure(dir.path(), Duration::from_millis(10)).unwrap();
        assert!(l.sync_256_end.is_some() && l.sync_4k_end.is_some());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
