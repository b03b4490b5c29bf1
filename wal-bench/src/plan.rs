//! What a run measures: the settings of a profile (smoke, quick, full) and the list of
//! jobs they expand to, with the systems alternating inside every workload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::{Job, Schedule, System, Workload};

/// The most entries a peer appends in the index-memory workload: the memory per entry
/// of their indexes is linear in the count, and 50 M entries would take walrus-rust
/// minutes (the target is ours, measured at the full count).
pub const PEER_MEMORY_ENTRIES: u64 = 5_000_000;

/// Payload bytes of the index-memory workload's entries: small, so that 50 M of them
/// stay within a few GB of disk.
pub const MEMORY_ENTRY_SIZE: usize = 16;

/// How long and how big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Every workload once for every system, tiny sizes: seconds (CI).
    Smoke,
    /// The default of `cargo xtask bench`: about ten minutes on two cores.
    Quick,
    /// Longer timed runs and 1 GiB read back.
    Full,
}

/// Entries between two `wait_durable` calls in the pipelined workload.
pub const PIPELINE_EVERY: u64 = 10_000;
/// Entry size of the read and recovery workloads.
pub const READ_ENTRY_SIZE: usize = 1024;

/// The settings of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The profile the defaults came from.
    pub profile: Profile,
    /// Where the logs go (one fresh directory per job, removed after it).
    pub dir: PathBuf,
    /// Where the report files go.
    pub out: PathBuf,
    /// Length of each timed configuration.
    pub duration: Duration,
    /// Payload bytes written and then read back by the read workload.
    pub read_bytes: u64,
    /// Bytes of the raw buffered-bandwidth measurement.
    pub bandwidth_bytes: u64,
    /// Thread counts of the durable-append workload.
    pub threads: Vec<usize>,
    /// Entry sizes of the durable-append workload.
    pub durable_sizes: Vec<usize>,
    /// The systems to run, in the order they alternate.
    pub systems: Vec<System>,
    /// Only workloads whose id contains one of these (all when empty).
    pub filters: Vec<String>,
    /// Runs of every (system, workload) pair, interleaved across systems.
    #[serde(default = "default_repeats")]
    pub repeats: u32,
    /// Entries of the index-memory workload (run once per system: it measures memory,
    /// not time).
    #[serde(default)]
    pub memory_entries: u64,
}

fn default_repeats() -> u32 {
    1
}

impl Settings {
    /// The defaults of `profile`, with logs under `dir` and the report in `out`.
    pub fn new(profile: Profile, dir: &Path, out: &Path) -> Settings {
        let (duration, read_bytes, bandwidth_bytes, threads, memory_entries) = match profile {
            Profile::Smoke => (
                Duration::from_millis(25),
                1 << 20,
                4 << 20,
                vec![1, 4],
                100_000,
            ),
            Profile::Quick => (
                Duration::from_millis(1000),
                256 << 20,
                256 << 20,
                vec![1, 4, 16],
                50_000_000,
            ),
            Profile::Full => (
                Duration::from_secs(5),
                1 << 30,
                1 << 30,
                vec![1, 4, 16],
                50_000_000,
            ),
        };
        Settings {
            profile,
            dir: dir.to_owned(),
            out: out.to_owned(),
            duration,
            read_bytes,
            bandwidth_bytes,
            threads,
            durable_sizes: vec![256, 4096],
            systems: System::ALTERNATING.to_vec(),
            filters: Vec::new(),
            repeats: 3,
            memory_entries,
        }
    }

    /// The workloads of this run, in order, before filtering.
    pub fn workloads(&self) -> Vec<Workload> {
        let mut w = Vec::new();
        for &size in &self.durable_sizes {
            for &threads in &self.threads {
                w.push(Workload::Durable {
                    threads,
                    shared_topic: false,
                    size,
                });
                if threads > 1 {
                    w.push(Workload::Durable {
                        threads,
                        shared_topic: true,
                        size,
                    });
                }
            }
        }
        for schedule in [Schedule::Millis200, Schedule::NoFsync] {
            w.push(Workload::Readme { schedule });
        }
        for threads in [1, 2] {
            w.push(Workload::Small { threads });
        }
        for threads in [1, 2] {
            w.push(Workload::Pipelined {
                threads,
                every: PIPELINE_EVERY,
            });
        }
        for entries in [100, 1000] {
            w.push(Workload::Batch { entries });
        }
        for groups in [1, 16] {
            for entries in [1, 16, 64] {
                w.push(Workload::Raft { entries, groups });
            }
        }
        let entries = (self.read_bytes / READ_ENTRY_SIZE as u64).max(1);
        w.push(Workload::Fill {
            entries,
            size: READ_ENTRY_SIZE,
        });
        w.push(Workload::ReadBack {
            entries,
            size: READ_ENTRY_SIZE,
        });
        if self.memory_entries > 0 {
            w.push(Workload::Memory {
                entries: self.memory_entries,
                size: MEMORY_ENTRY_SIZE,
            });
        }
        w
    }

    fn selected(&self, w: &Workload) -> bool {
        let id = w.id();
        // The fill belongs to the read workload: it runs whenever reads or recovery do.
        let ids: &[&str] = match w {
            Workload::Fill { .. } | Workload::ReadBack { .. } => &["readback", "recovery"],
            _ => &[&id],
        };
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| ids.iter().any(|id| id.contains(f.as_str())))
    }
}

/// Jobs that run one after another in one directory, removed after the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The jobs (a fill and its read back share a directory; everything else is alone).
    pub jobs: Vec<Job>,
    /// The directory they use.
    pub dir: PathBuf,
}

/// A (system, workload) pair that is not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The workload's id.
    pub row: String,
    /// The system's name.
    pub system: String,
    /// Why it cannot run.
    pub reason: String,
}

/// Expands the settings into steps. Every (system, workload) pair runs
/// [`Settings::repeats`] times, interleaved: within a workload the systems alternate (A B
/// C A B C ...), and the starting system rotates from one workload to the next, so that
/// drift of the machine spreads over all of them. The index-memory workload runs once.
pub fn plan(settings: &Settings) -> (Vec<Step>, Vec<Skipped>) {
    let workloads: Vec<Workload> = settings
        .workloads()
        .into_iter()
        .filter(|w| settings.selected(w))
        .collect();
    let n = settings.systems.len().max(1);
    let mut steps = Vec::new();
    let mut skipped = Vec::new();
    let mut k = 0;
    let mut i = 0;
    while i < workloads.len() {
        let w = workloads[i];
        // A fill and the read back after it form one step.
        let chained = match (w, workloads.get(i + 1)) {
            (Workload::Fill { .. }, Some(next @ Workload::ReadBack { .. })) => Some(*next),
            _ => None,
        };
        for j in 0..n {
            let system = settings.systems[(j + k) % n];
            if let Some(reason) = system.cannot(&w) {
                skipped.push(Skipped {
                    row: w.id(),
                    system: system.name().to_owned(),
                    reason: reason.to_owned(),
                });
            }
        }
        let repeats = match w {
            Workload::Memory { .. } => 1,
            _ => settings.repeats.max(1),
        };
        for run in 0..repeats {
            for j in 0..n {
                let system = settings.systems[(j + k) % n];
                if system.cannot(&w).is_some() {
                    continue;
                }
                let dir = settings.dir.join(format!(
                    "{:03}-{}-{}",
                    steps.len(),
                    system.name().replace('/', "-"),
                    w.id().replace('/', "-")
                ));
                let job = |w| {
                    let w = match w {
                        Workload::Memory { entries, size } if !system.is_ours() => {
                            Workload::Memory {
                                entries: entries.min(PEER_MEMORY_ENTRIES),
                                size,
                            }
                        }
                        w => w,
                    };
                    Job {
                        run,
                        ..Job::new(system, w, &dir, settings.duration)
                    }
                };
                let mut jobs = vec![job(w)];
                if let Some(next) = chained {
                    jobs.push(job(next));
                }
                steps.push(Step { jobs, dir });
            }
        }
        k += 1;
        i += if chained.is_some() { 2 } else { 1 };
    }
    (steps, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn smoke() -> Settings {
        Settings::new(Profile::Smoke, Path::new("/tmp/x"), Path::new("/tmp/out"))
    }

    #[test]
    fn smoke_runs_every_workload_for_every_system_that_can() {
        let s = smoke();
        let (steps, skipped) = plan(&s);
        let ran: HashSet<(String, System)> = steps
            .iter()
            .flat_map(|st| st.jobs.iter().map(|j| (j.workload.id(), j.system)))
            .collect();
        for w in s.workloads() {
            for sys in System::ALTERNATING {
                let done = ran.contains(&(w.id(), sys));
                let skip = skipped
                    .iter()
                    .any(|k| k.row == w.id() && k.system == sys.name());
                assert!(
                    done != skip,
                    "{} {}: ran {done}, skipped {skip}",
                    w.id(),
                    sys.name()
                );
            }
        }
        let dirs: HashSet<_> = steps.iter().map(|s| &s.dir).collect();
        assert_eq!(dirs.len(), steps.len(), "every step has its own directory");
    }

    #[test]
    fn runs_interleave_systems_and_rotate() {
        let (steps, _) = plan(&smoke());
        let n = System::ALTERNATING.len();
        // The first workload (durable, 1 thread) runs on every system: A B C ... A B C ...
        for run in 0..3 {
            let round: Vec<(System, u32)> = steps[run * n..(run + 1) * n]
                .iter()
                .map(|s| (s.jobs[0].system, s.jobs[0].run))
                .collect();
            let want: Vec<(System, u32)> = System::ALTERNATING
                .iter()
                .map(|&s| (s, run as u32))
                .collect();
            assert_eq!(round, want);
        }
        // The next workload starts one system later.
        assert_eq!(steps[3 * n].jobs[0].system, System::ALTERNATING[1]);
    }

    #[test]
    fn filters_select_workloads_and_keep_fill_with_read() {
        let mut s = smoke();
        let n = System::ALTERNATING.len();
        s.filters = vec!["recovery".into()];
        let (steps, _) = plan(&s);
        assert_eq!(steps.len(), 3 * n);
        assert!(steps.iter().all(|st| st.jobs.len() == 2));
        assert!(steps
            .iter()
            .all(|st| st.jobs[0].run == st.jobs[1].run && st.jobs[0].system == st.jobs[1].system));
        s.filters = vec!["pipelined".into(), "batch/100x".into()];
        let (steps, skipped) = plan(&s);
        // walrus-rust cannot run either pipelined workload.
        assert_eq!(steps.len(), 3 * (2 * (n - 1) + n));
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn index_memory_runs_once_per_system_on_std_only_of_ours() {
        let mut s = smoke();
        s.filters = vec!["memory".into()];
        let (steps, skipped) = plan(&s);
        let systems: HashSet<System> = steps.iter().map(|st| st.jobs[0].system).collect();
        assert_eq!(steps.len(), systems.len(), "one run each");
        assert!(systems.contains(&System::Std) && systems.contains(&System::RaftEngine));
        assert!(!systems.contains(&System::Mmap));
        assert_eq!(skipped.len(), 2, "{skipped:?}");
    }

    #[test]
    fn quick_durable_workload_has_ten_configurations() {
        let s = Settings::new(Profile::Quick, Path::new("/d"), Path::new("/o"));
        let durable = s
            .workloads()
            .iter()
            .filter(|w| matches!(w, Workload::Durable { .. }))
            .count();
        assert_eq!(durable, 10);
    }
}
