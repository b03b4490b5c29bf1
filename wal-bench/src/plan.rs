//! What a run measures: the settings of a profile (smoke, quick, full) and the list of
//! jobs they expand to, with the systems alternating inside every workload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::{Job, Schedule, System, Workload};

/// How long and how big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Every workload once for every system, tiny sizes: seconds (CI).
    Smoke,
    /// The default of `cargo xtask bench`: about three minutes on two cores.
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
}

impl Settings {
    /// The defaults of `profile`, with logs under `dir` and the report in `out`.
    pub fn new(profile: Profile, dir: &Path, out: &Path) -> Settings {
        let (duration, read_bytes, bandwidth_bytes, threads) = match profile {
            Profile::Smoke => (Duration::from_millis(25), 1 << 20, 4 << 20, vec![1, 4]),
            Profile::Quick => (
                Duration::from_millis(1500),
                256 << 20,
                256 << 20,
                vec![1, 4, 16],
            ),
            Profile::Full => (Duration::from_secs(5), 1 << 30, 1 << 30, vec![1, 4, 16]),
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
        let entries = (self.read_bytes / READ_ENTRY_SIZE as u64).max(1);
        w.push(Workload::Fill {
            entries,
            size: READ_ENTRY_SIZE,
        });
        w.push(Workload::ReadBack {
            entries,
            size: READ_ENTRY_SIZE,
        });
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

/// Expands the settings into steps. Within every workload the systems alternate, and
/// the starting system rotates from one workload to the next, so that drift of the
/// machine spreads over all of them.
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
            if let Some(reason) = w.unsupported(system) {
                skipped.push(Skipped {
                    row: w.id(),
                    system: system.name().to_owned(),
                    reason: reason.to_owned(),
                });
                continue;
            }
            let dir = settings.dir.join(format!(
                "{:03}-{}-{}",
                steps.len(),
                system.name().replace('/', "-"),
                w.id().replace('/', "-")
            ));
            let mut jobs = vec![Job::new(system, w, &dir, settings.duration)];
            if let Some(next) = chained {
                jobs.push(Job::new(system, next, &dir, settings.duration));
            }
            steps.push(Step { jobs, dir });
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
    fn systems_alternate_and_rotate() {
        let (steps, _) = plan(&smoke());
        let first: Vec<System> = steps[..5].iter().map(|s| s.jobs[0].system).collect();
        assert_eq!(first, System::ALTERNATING.to_vec());
        assert_eq!(steps[5].jobs[0].system, System::ALTERNATING[1]);
    }

    #[test]
    fn filters_select_workloads_and_keep_fill_with_read() {
        let mut s = smoke();
        s.filters = vec!["recovery".into()];
        let (steps, _) = plan(&s);
        assert_eq!(steps.len(), 5);
        assert!(steps.iter().all(|st| st.jobs.len() == 2));
        s.filters = vec!["pipelined".into(), "batch/100x".into()];
        let (steps, skipped) = plan(&s);
        assert_eq!(steps.len(), 2 * 4 + 5);
        assert_eq!(skipped.len(), 2);
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
