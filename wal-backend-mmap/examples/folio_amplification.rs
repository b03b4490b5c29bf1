//! Measures the mmap "folio" write amplification: how many bytes the device writes per
//! small durable append, for each way of preparing and advising the mapping, and for the
//! std backend (`pwrite` + `fdatasync`) for comparison.
//!
//! ```sh
//! cargo run --release -p topicwal-backend-mmap --example folio_amplification [DIR]
//! ```
//!
//! `DIR` (default `target/mmap-probe` under the current directory) must be on the file
//! system to measure. Each run creates a 64 MiB segment there and appends 500 records of
//! 256 bytes one after the other, each followed by `sync_range` of just that record, reading
//! the device's counters (fields 5 and 7, writes and sectors written, of
//! `/sys/dev/block/MAJ:MIN/stat` for the device holding `DIR`) before and after. Three
//! situations are measured:
//!
//! - `Fresh`: appends from the start of a just-created segment.
//! - `Reopened`: the first half written in 1 MiB chunks and synced, the file's page cache
//!   dropped (as after a reboot), the file reopened and read whole with one `read_at` (as the
//!   engine's recovery does), then appends from the middle.
//! - `Warm`: like `Reopened`, but a buffered read of the whole file (a backup tool, `cat`)
//!   fills the page cache before the backend opens the file.
//!
//! The device counters are system-wide, so other writers add noise: `sync(2)` runs before
//! each measurement, every strategy runs several times, interleaved, and the median is
//! printed.
#![allow(
    clippy::print_stdout,
    reason = "a measurement program reports its numbers on stdout"
)]

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("folio_amplification reads Linux block device statistics; it runs on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;
    use std::io;
    use std::os::unix::fs::{FileExt, MetadataExt};
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use wal_backend_mmap::{MmapBackend, MmapConfig, Prefill};
    use wal_backend_std::StdBackend;
    use wal_core::Backend;

    const SEGMENT: u64 = 64 << 20;
    const APPENDS: u64 = 500;
    const RECORD: u64 = 256;
    const RUNS: usize = 3;

    /// Where the appends go; see the program's docs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Phase {
        Fresh,
        Reopened,
        Warm,
    }

    /// One way of doing the appends: the std backend, or the mmap backend with a config.
    #[derive(Debug, Clone, Copy)]
    struct Strategy {
        name: &'static str,
        mmap: Option<MmapConfig>,
    }

    fn strategies() -> Vec<Strategy> {
        let mmap = |name, change: fn(&mut MmapConfig)| {
            // The baseline every other row changes one thing of: page faults bring the
            // pages in, no advice, no eviction.
            let mut config = MmapConfig::default();
            config.evict_tail = false;
            change(&mut config);
            Strategy {
                name,
                mmap: Some(config),
            }
        };
        vec![
            Strategy {
                name: "std: pwrite + fdatasync",
                mmap: None,
            },
            Strategy {
                name: "mmap: default (evict tail)",
                mmap: Some(MmapConfig::default()),
            },
            mmap("mmap: page faults only", |_| {}),
            mmap("mmap: evict tail + RANDOM", |c| {
                c.evict_tail = true;
                c.random_access = true;
            }),
            mmap("mmap: NOHUGEPAGE", |c| c.no_huge_pages = true),
            mmap("mmap: RANDOM", |c| c.random_access = true),
            mmap("mmap: RANDOM + NOHUGEPAGE", |c| {
                c.random_access = true;
                c.no_huge_pages = true;
            }),
            mmap("mmap: MAP_POPULATE", |c| c.populate = true),
            mmap("mmap: zero pages (4 KiB writes)", |c| {
                c.prefill = Prefill::ZeroPages;
            }),
            mmap("mmap: zero pages + RANDOM", |c| {
                c.prefill = Prefill::ZeroPages;
                c.random_access = true;
            }),
            mmap("mmap: zero chunks (1 MiB writes)", |c| {
                c.prefill = Prefill::ZeroChunks;
            }),
            mmap("mmap: zero chunks + RANDOM", |c| {
                c.prefill = Prefill::ZeroChunks;
                c.random_access = true;
            }),
            mmap("mmap: zero chunks + evict tail", |c| {
                c.prefill = Prefill::ZeroChunks;
                c.evict_tail = true;
            }),
        ]
    }

    /// The block device statistics file of the device holding `dir`. A partition has its
    /// own `stat` file, as a whole disk does.
    fn stat_file(dir: &Path) -> io::Result<PathBuf> {
        let dev = fs::metadata(dir)?.dev();
        let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
        let path = PathBuf::from(format!("/sys/dev/block/{major}:{minor}/stat"));
        if path.exists() {
            Ok(path)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is on device {major}:{minor}, which has no {} (not a block device: \
                     tmpfs, overlayfs or a btrfs subvolume?)",
                    dir.display(),
                    path.display()
                ),
            ))
        }
    }

    /// (writes completed, sectors written) of the device.
    fn device_writes(stat: &Path) -> io::Result<(u64, u64)> {
        let text = fs::read_to_string(stat)?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (field(4), field(6)) {
            (Some(ios), Some(sectors)) => Ok((ios, sectors)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: unexpected format {text:?}", stat.display()),
            )),
        }
    }

    /// What one run of one strategy measured.
    #[derive(Debug, Clone, Copy)]
    struct Sample {
        create_bytes: u64,
        bytes_per_append: f64,
        ios_per_append: f64,
        msync_per_append: Option<f64>,
        p50: Duration,
        recovery_read: Duration,
    }

    fn run(strategy: &Strategy, phase: Phase, dir: &Path, stat: &Path) -> io::Result<Sample> {
        let mmap = strategy.mmap.map(MmapBackend::with_config);
        let backend: &dyn Backend = match &mmap {
            Some(mmap) => mmap,
            None => &StdBackend::new(),
        };
        let msync_bytes = || mmap.as_ref().map(|b| b.stats().msync_bytes);
        let path = dir.join("probe.seg");
        if path.exists() {
            fs::remove_file(&path)?;
        }
        nix::unistd::sync();
        let (_, before_create) = device_writes(stat)?;
        let mut storage = backend.create(&path, SEGMENT)?;
        backend.sync_dir(dir)?;
        storage.sync()?;
        let (_, after_create) = device_writes(stat)?;

        let mut base = 0;
        let mut recovery_read = Duration::ZERO;
        if phase != Phase::Fresh {
            base = SEGMENT / 2;
            let chunk = vec![7u8; 1 << 20];
            for offset in (0..base).step_by(chunk.len()) {
                storage.write_at(offset, &chunk)?;
            }
            storage.sync()?;
            drop(storage);
            drop_page_cache(&path)?;
            let mut all = vec![0u8; SEGMENT as usize];
            if phase == Phase::Warm {
                fs::File::open(&path)?.read_exact_at(&mut all, 0)?;
            }
            let start = Instant::now();
            storage = backend.open(&path)?;
            wal_core::storage::read_exact_at(&*storage, 0, &mut all)?;
            recovery_read = start.elapsed();
        }

        nix::unistd::sync();
        let (ios0, sectors0) = device_writes(stat)?;
        let msync0 = msync_bytes();
        let mut latencies = Vec::with_capacity(APPENDS as usize);
        for i in 0..APPENDS {
            let offset = base + i * RECORD;
            let record = [(i % 251) as u8 + 1; RECORD as usize];
            let start = Instant::now();
            storage.write_at(offset, &record)?;
            storage.sync_range(offset..offset + RECORD)?;
            latencies.push(start.elapsed());
        }
        let (ios1, sectors1) = device_writes(stat)?;
        let msync1 = msync_bytes();

        drop(storage);
        backend.remove(&path)?;
        backend.sync_dir(dir)?;
        latencies.sort();
        Ok(Sample {
            create_bytes: (after_create - before_create) * 512,
            bytes_per_append: ((sectors1 - sectors0) * 512) as f64 / APPENDS as f64,
            ios_per_append: (ios1 - ios0) as f64 / APPENDS as f64,
            msync_per_append: msync0
                .zip(msync1)
                .map(|(a, b)| (b - a) as f64 / APPENDS as f64),
            p50: latencies[latencies.len() / 2],
            recovery_read,
        })
    }

    /// Writes the file back and drops its pages from the page cache, as after a reboot.
    fn drop_page_cache(path: &Path) -> io::Result<()> {
        use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
        use std::os::fd::AsRawFd;

        let file = fs::File::open(path)?;
        file.sync_all()?;
        posix_fadvise(
            file.as_raw_fd(),
            0,
            0,
            PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        )?;
        Ok(())
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    fn report(phase: Phase, dir: &Path, stat: &Path) -> io::Result<()> {
        let strategies = strategies();
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); strategies.len()];
        for _ in 0..RUNS {
            for (strategy, samples) in strategies.iter().zip(&mut samples) {
                samples.push(run(strategy, phase, dir, stat)?);
            }
        }
        println!("\n{phase:?}:");
        println!(
            "{:<34} {:>9} {:>7} {:>10} {:>7} {:>10} {:>8}",
            "strategy", "B/append", "IO/app", "msync B/ap", "p50 µs", "create KiB", "read ms"
        );
        for (strategy, samples) in strategies.iter().zip(&samples) {
            let get = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
            let msync = if strategy.mmap.is_some() {
                format!("{:.0}", get(|s| s.msync_per_append.unwrap_or(0.0)))
            } else {
                "-".to_owned()
            };
            println!(
                "{:<34} {:>9.0} {:>7.2} {:>10} {:>7.0} {:>10.0} {:>8.1}",
                strategy.name,
                get(|s| s.bytes_per_append),
                get(|s| s.ios_per_append),
                msync,
                get(|s| s.p50.as_secs_f64() * 1e6),
                get(|s| s.create_bytes as f64 / 1024.0),
                get(|s| s.recovery_read.as_secs_f64() * 1e3),
            );
        }
        Ok(())
    }

    pub(crate) fn main() -> io::Result<()> {
        let dir = std::env::args_os()
            .nth(1)
            .map_or_else(|| PathBuf::from("target/mmap-probe"), PathBuf::from);
        fs::create_dir_all(&dir)?;
        let stat = stat_file(&dir)?;
        println!(
            "device counters: {}; {APPENDS} appends of {RECORD} B into a {} MiB segment, each \
             followed by sync_range of just that record; median of {RUNS} runs",
            stat.display(),
            SEGMENT >> 20
        );
        for phase in [Phase::Fresh, Phase::Reopened, Phase::Warm] {
            report(phase, &dir, &stat)?;
        }
        Ok(())
    }
}
