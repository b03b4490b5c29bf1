//! What machine, file system and device a run measured, read from `/proc` and `/sys`,
//! and the per-process facts a worker reports (peak memory, device flushes).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The machine a report was measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model, as `/proc/cpuinfo` names it.
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// Total memory, in bytes.
    pub memory_bytes: u64,
    /// Kernel release.
    pub kernel: String,
    /// File system of the log directory: type, source and mount options.
    pub filesystem: String,
    /// Block device under it: name, size, kind and write cache.
    pub device: String,
}

/// The block device a path lives on, as far as `/sys` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Whole-disk name under `/sys/block` (`vda`, `nvme0n1`, ...).
    pub name: String,
}

impl Device {
    /// The device holding `path` (its whole disk if `path` is on a partition), or `None`
    /// when the file system has no block device (tmpfs, overlay, ...).
    pub fn of(path: &Path) -> Option<Device> {
        let dev = fs::metadata(path).ok()?.dev();
        let sys = PathBuf::from(format!("/sys/dev/block/{}:{}", major(dev), minor(dev)));
        let real = fs::canonicalize(&sys).ok()?;
        let disk = if sys.join("partition").exists() {
            real.parent()?.to_owned()
        } else {
            real
        };
        let name = disk.file_name()?.to_str()?.to_owned();
        Path::new("/sys/block")
            .join(&name)
            .exists()
            .then_some(Device { name })
    }

    fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(Path::new("/sys/block").join(&self.name).join(rel))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Flush requests the device has completed since boot (field 16 of its `stat`), on
    /// kernels that count them.
    pub fn flushes(&self) -> Option<u64> {
        self.read("stat")?
            .split_whitespace()
            .nth(15)
            .and_then(|v| v.parse().ok())
    }

    /// A one-line description: name, size, kind, write cache.
    pub fn describe(&self) -> String {
        let size = self
            .read("size")
            .and_then(|s| s.parse::<u64>().ok())
            .map(|sectors| format!("{:.0} GiB", sectors as f64 * 512.0 / (1u64 << 30) as f64))
            .unwrap_or_else(|| "size unknown".into());
        let kind = match self.read("queue/rotational").as_deref() {
            Some("1") => "rotational (as reported)",
            Some("0") => "non-rotational",
            _ => "kind unknown",
        };
        let model = self
            .read("device/model")
            .filter(|m| !m.is_empty())
            .or_else(|| {
                self.read("device/modalias")
                    .filter(|m| m.starts_with("virtio"))
                    .map(|_| "virtio-blk".to_owned())
            })
            .unwrap_or_else(|| "model unknown".into());
        let cache = self
            .read("queue/write_cache")
            .map(|c| format!("write cache: {c}"))
            .unwrap_or_default();
        format!("{} ({model}, {size}, {kind}, {cache})", self.name)
    }
}

/// glibc's `major()` of a `dev_t`.
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// glibc's `minor()` of a `dev_t`.
fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// The mount holding `path`: `type source (options)`.
fn filesystem_of(path: &Path) -> Option<String> {
    let path = fs::canonicalize(path).ok()?;
    let dev = fs::metadata(&path).ok()?.dev();
    let want = format!("{}:{}", major(dev), minor(dev));
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if f.len() < 6 || r.len() < 2 || f[2] != want || !path.starts_with(f[4]) {
            continue;
        }
        let mut desc = format!("{} on {} mounted at {} ({}", r[0], r[1], f[4], f[5]);
        if let Some(sup) = r.get(2) {
            desc.push_str(&format!("; {sup}"));
        }
        desc.push(')');
        if r[0] == "ext4" {
            // jbd2 lists a journal as `<device>-<inode>`; none means no journal.
            let dev = r[1].trim_start_matches("/dev/");
            let journal = fs::read_dir("/proc/fs/jbd2").ok().is_some_and(|d| {
                d.filter_map(|e| e.ok()).any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{dev}-"))
                })
            });
            desc.push_str(if journal {
                ", with a journal"
            } else {
                ", no journal"
            });
        }
        if best.as_ref().is_none_or(|(len, _)| f[4].len() > *len) {
            best = Some((f[4].len(), desc));
        }
    }
    best.map(|(_, d)| d)
}

impl Machine {
    /// Describes this machine, with the file system and device of `dir`.
    pub fn describe(dir: &Path) -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_bytes = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kib| kib * 1024);
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
            filesystem: filesystem_of(dir).unwrap_or_else(|| "unknown".into()),
            device: Device::of(dir).map_or_else(|| "unknown".into(), |d| d.describe()),
        }
    }
}

/// Peak resident memory of this process, in KiB (`VmHWM` of `/proc/self/status`).
pub fn peak_rss_kib() -> Option<u64> {
    fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Anonymous resident memory of this process (heap and stacks, not the page cache or
/// mapped files), in KiB (`RssAnon` of `/proc/self/status`).
pub fn rss_anon_kib() -> Option<u64> {
    fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_this_machine() {
        let m = Machine::describe(Path::new("."));
        assert!(m.cores >= 1);
        assert!(m.memory_bytes > 0);
        assert!(!m.kernel.is_empty());
        assert!(peak_rss_kib().is_some_and(|k| k > 0));
        assert!(rss_anon_kib().is_some_and(|k| k > 0));
    }

    #[test]
    fn dev_t_splits_like_glibc() {
        // makedev(254, 0) and makedev(259, 65536)
        assert_eq!((major(0xfe00), minor(0xfe00)), (254, 0));
        let dev = (259u64 << 8) | ((65536u64 & !0xff) << 12);
        assert_eq!((major(dev), minor(dev)), (259, 65536));
    }
}
