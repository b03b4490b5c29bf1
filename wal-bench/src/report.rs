//! The report of a run: what it measured, in JSON, Markdown and a terminal table.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hist::Percentiles;
use crate::job::{size_name, Measurement, System, Workload};
use crate::machine::Machine;
use crate::plan::{Settings, Skipped};
use crate::raw::Limits;
use crate::targets::{check_targets, TargetCheck};

/// A job that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The workload's id.
    pub row: String,
    /// The system's name.
    pub system: String,
    /// What went wrong.
    pub error: String,
}

/// The peers compared against, with the versions this build uses.
pub const PEERS: [(&str, &str); 4] = [
    ("walrus-rust", "0.2.0"),
    ("okaywal", "0.3.1"),
    ("raft-engine", "0.4.2"),
    ("raft-log", "0.4.6"),
];

/// Every run of one (system, row) pair, summed up: the median run, and the spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The row.
    pub row: String,
    /// The system's name.
    pub system: String,
    /// The headline value of each run, in run order ([`Report::value`]).
    pub values: Vec<f64>,
    /// The run whose headline value is the median (the lower middle one for an even
    /// count), with its latency percentiles replaced by the medians of every run's.
    pub median: Measurement,
    /// The smallest headline value.
    pub min: f64,
    /// The largest headline value.
    pub max: f64,
}

/// The median of `v` (the lower middle value for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// Sums up the runs of every (system, row) pair of `results`, in the order first seen.
pub fn summarize(settings: &Settings, results: &[Measurement]) -> Vec<Summary> {
    let kinds = rows(settings);
    let kind = |row: &str| {
        kinds
            .iter()
            .find(|r| r.id == row)
            .map_or(RowKind::Write, |r| r.kind)
    };
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for m in results {
        if !keys.contains(&(m.row.as_str(), m.system.as_str())) {
            keys.push((m.row.as_str(), m.system.as_str()));
        }
    }
    keys.into_iter()
        .map(|(row, system)| {
            let k = kind(row);
            let mut runs: Vec<&Measurement> = results
                .iter()
                .filter(|m| m.row == row && m.system == system)
                .collect();
            let values: Vec<f64> = runs.iter().map(|m| Report::value(k, m)).collect();
            runs.sort_by(|a, b| Report::value(k, a).total_cmp(&Report::value(k, b)));
            let mut mid = runs[(runs.len() - 1) / 2].clone();
            let lat: Vec<Percentiles> = runs.iter().filter_map(|m| m.latency).collect();
            if !lat.is_empty() {
                let of = |f: fn(&Percentiles) -> f64| {
                    median(&lat.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
                };
                mid.latency = Some(Percentiles {
                    p50_us: of(|p| p.p50_us),
                    p99_us: of(|p| p.p99_us),
                    p999_us: of(|p| p.p999_us),
                    samples: lat.iter().map(|p| p.samples).sum(),
                });
            }
            Summary {
                row: row.to_owned(),
                system: system.to_owned(),
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                values,
                median: mid,
            }
        })
        .collect()
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The command that produced it.
    pub command: String,
    /// When it finished (UTC).
    pub date: String,
    /// Total wall time of the run, in seconds.
    pub total_s: f64,
    /// The machine.
    pub machine: Machine,
    /// The exact settings.
    pub settings: Settings,
    /// Peer libraries and versions.
    pub peers: Vec<(String, String)>,
    /// The machine's own limits, measured in the same run.
    pub limits: Limits,
    /// Every measurement, of every run.
    pub results: Vec<Measurement>,
    /// Every (system, row) pair's runs, summed up: what tables and targets use.
    #[serde(default)]
    pub summary: Vec<Summary>,
    /// Pairs that were not run because the system cannot express the workload.
    pub skipped: Vec<Skipped>,
    /// Jobs that failed.
    pub failures: Vec<Failure>,
    /// The project's targets, checked against the results.
    pub targets: Vec<TargetCheck>,
}

/// A row of the summary table: a workload and how its results compare to the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's id (a workload id, or `recovery`).
    pub id: String,
    /// What the row measures, for people.
    pub title: String,
    /// A short label for charts (` · ` splits it over two lines).
    pub short: String,
    /// How results compare to the machine's limit.
    pub kind: RowKind,
}

/// How a row is compared with the machine's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// Durable entries of this size: entries/s over the raw sync rate.
    Durable(usize),
    /// Durable batches: batches/s over the raw sync rate.
    Batch,
    /// Appends that reach the page cache (or the device, pipelined): payload MB/s over
    /// the buffered write bandwidth.
    Write,
    /// Reads: payload MB/s over the buffered read bandwidth.
    Read,
    /// Recovery: log MB/s scanned over the buffered read bandwidth.
    Recovery,
    /// Index memory: anonymous memory gained per entry appended (lower is better).
    Memory,
}

impl RowKind {
    /// `true` when a larger headline value is better.
    pub fn higher_is_better(self) -> bool {
        self != RowKind::Memory
    }
}

/// The summary rows of a run, in plan order.
pub fn rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    for w in settings.workloads() {
        let (title, short, kind) = match w {
            Workload::Durable {
                threads,
                shared_topic,
                size,
            } => {
                let topics = match (threads, shared_topic) {
                    (1, _) => String::new(),
                    (_, true) => " · 1 topic".into(),
                    (n, false) => format!(" · {n} topics"),
                };
                let t = if threads == 1 { "thread" } else { "threads" };
                (
                    format!("1 durable {} · {threads} {t}{topics}", size_name(size)),
                    format!("{threads} thr{topics}"),
                    RowKind::Durable(size),
                )
            }
            Workload::Readme { schedule } => (
                format!("2 README 10 thr/10 topics · {}", schedule.name()),
                format!("README · {}", schedule.name()),
                RowKind::Write,
            ),
            Workload::Small { threads } => (
                format!("3 NoFsync 64 B · {threads} thr"),
                format!("NoFsync 64 B · {threads} thr"),
                RowKind::Write,
            ),
            Workload::Pipelined { threads, every } => (
                format!("3b pipelined 64 B · {threads} thr · wait/{every}"),
                format!("pipelined · {threads} thr"),
                RowKind::Write,
            ),
            Workload::Batch { entries } => (
                format!("4 batch {entries} × 256 B"),
                format!("batch {entries}"),
                RowKind::Batch,
            ),
            Workload::Fill { .. } => continue,
            Workload::Raft { entries, groups } => {
                let g = if groups == 1 { "group" } else { "groups" };
                (
                    format!("8 Raft log · {entries} × 256 B per durable write · {groups} {g}"),
                    format!("raft {entries}× · {groups} {g}"),
                    RowKind::Batch,
                )
            }
            Workload::Memory { entries, size } => (
                format!(
                    "7 index memory: {} entries of {size} B (peers ≤ {}), bytes/entry",
                    fmt_rate(entries as f64),
                    fmt_rate(entries.min(crate::plan::PEER_MEMORY_ENTRIES) as f64)
                ),
                "index memory".into(),
                RowKind::Memory,
            ),
            Workload::ReadBack { entries, size } => {
                let mib = (entries * size as u64) >> 20;
                rows.push(Row {
                    id: w.id(),
                    title: format!("5 read back {mib} MiB"),
                    short: "read back".into(),
                    kind: RowKind::Read,
                });
                (
                    format!("6 recovery: open {mib} MiB"),
                    "recovery".into(),
                    RowKind::Recovery,
                )
            }
        };
        let id = if matches!(w, Workload::ReadBack { .. }) {
            "recovery".to_owned()
        } else {
            w.id()
        };
        rows.push(Row {
            id,
            title,
            short,
            kind,
        });
    }
    rows
}

impl Report {
    /// Builds the report and checks the targets.
    #[allow(clippy::too_many_arguments, reason = "one flat record of a run")]
    pub fn new(
        command: &str,
        machine: Machine,
        settings: Settings,
        limits: Limits,
        results: Vec<Measurement>,
        skipped: Vec<Skipped>,
        failures: Vec<Failure>,
        total: Duration,
    ) -> Report {
        let mut r = Report {
            command: command.to_owned(),
            date: utc_now(),
            total_s: total.as_secs_f64(),
            machine,
            settings,
            peers: PEERS
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            limits,
            summary: Vec::new(),
            results,
            skipped,
            failures,
            targets: Vec::new(),
        };
        r.summary = summarize(&r.settings, &r.results);
        r.targets = check_targets(&r);
        r
    }

    /// The runs of `system` on row `row`, summed up.
    pub fn summary_of(&self, row: &str, system: System) -> Option<&Summary> {
        self.summary
            .iter()
            .find(|s| s.row == row && s.system == system.name())
    }

    /// The median measurement of `system` on row `row`.
    pub fn get(&self, row: &str, system: System) -> Option<&Measurement> {
        self.summary_of(row, system).map(|s| &s.median)
    }

    /// The headline value of a measurement on a row of `kind`: log MB/s for recovery,
    /// bytes per entry for index memory (lower is better), entries/s otherwise.
    pub fn value(kind: RowKind, m: &Measurement) -> f64 {
        match kind {
            RowKind::Recovery => m.log_mb_per_s().unwrap_or(0.0),
            RowKind::Memory => m.memory_bytes_per_entry.unwrap_or(f64::INFINITY),
            _ => m.rate(),
        }
    }

    /// How far `ours` leads `peer` on a row of `kind`: above 1 when ours is better
    /// (ours ÷ peer, or peer ÷ ours where lower is better).
    pub fn lead(kind: RowKind, ours: &Measurement, peer: &Measurement) -> Option<f64> {
        let (o, p) = (Self::value(kind, ours), Self::value(kind, peer));
        let x = if kind.higher_is_better() {
            o / p
        } else {
            p / o
        };
        (x.is_finite() && x > 0.0).then_some(x)
    }

    /// A measurement as a fraction of the machine's limit.
    pub fn vs_limit(&self, kind: RowKind, m: &Measurement) -> Option<f64> {
        let l = &self.limits;
        let (x, limit) = match kind {
            RowKind::Durable(size) => (m.rate(), l.sync_rate(size)),
            RowKind::Batch => (m.call_rate(), l.sync_256.per_s),
            RowKind::Write => (m.mb_per_s() * 1e6, l.write_bandwidth),
            RowKind::Read => (m.mb_per_s() * 1e6, l.read_bandwidth),
            RowKind::Recovery => (m.log_mb_per_s()? * 1e6, l.read_bandwidth),
            RowKind::Memory => return None,
        };
        (limit > 0.0).then(|| x / limit)
    }

    /// The machine's limit on a row in entries per second, for a chart's reference line:
    /// the raw `pwrite` + `fdatasync` rate of the entry size for durable rows, and the
    /// buffered write bandwidth divided by `m`'s mean payload for unsynced and pipelined
    /// rows. `None` where the limit is not in entries per second.
    pub fn limit_entries_per_s(&self, kind: RowKind, m: &Measurement) -> Option<f64> {
        let limit = match kind {
            RowKind::Durable(size) => self.limits.sync_rate(size),
            RowKind::Write if m.entries > 0 && m.payload_bytes > 0 => {
                self.limits.write_bandwidth / (m.payload_bytes as f64 / m.entries as f64)
            }
            _ => return None,
        };
        (limit.is_finite() && limit > 0.0).then_some(limit)
    }

    /// The best of our backends and the best peer on a row.
    pub fn best(&self, row: &Row) -> (Option<&Measurement>, Option<&Measurement>) {
        let best = |ours: bool| {
            System::TABLE
                .iter()
                .filter(|s| s.is_ours() == ours)
                .filter_map(|&s| self.get(&row.id, s))
                .max_by(|a, b| {
                    let o = Self::value(row.kind, a).total_cmp(&Self::value(row.kind, b));
                    if row.kind.higher_is_better() {
                        o
                    } else {
                        o.reverse()
                    }
                })
        };
        (best(true), best(false))
    }

    fn cell(&self, row: &Row, system: System) -> String {
        if let Some(sum) = self.summary_of(&row.id, system) {
            let m = &sum.median;
            let fmt = |x: f64| match row.kind {
                RowKind::Memory => format!("{x:.1}"),
                _ => fmt_rate(x),
            };
            let v = fmt(Self::value(row.kind, m));
            let spread = if sum.values.len() > 1 {
                format!(" ({}–{})", fmt(sum.min), fmt(sum.max))
            } else {
                String::new()
            };
            return match row.kind {
                RowKind::Recovery => {
                    format!("{} · {v} MB/s{spread}", fmt_secs(m.elapsed_s))
                }
                _ => format!("{v}{spread}"),
            };
        }
        self.missing(row, system).unwrap_or("-").into()
    }

    /// Why `system` has no result on `row`: `n/a` when it cannot express the workload
    /// (listed in [`Report::skipped`]), `FAILED` when its job failed; `None` otherwise
    /// (it has a result, or was not asked to run).
    pub fn missing(&self, row: &Row, system: System) -> Option<&'static str> {
        let skipped = self
            .skipped
            .iter()
            .any(|s| s.system == system.name() && s.row == row.id);
        let reading = matches!(row.kind, RowKind::Read | RowKind::Recovery);
        let failed = self.failures.iter().any(|f| {
            f.system == system.name()
                && (f.row == row.id || (reading && (f.row == "fill" || f.row == "readback")))
        });
        match (skipped, failed) {
            (true, _) => Some("n/a"),
            (_, true) => Some("FAILED"),
            _ => None,
        }
    }

    /// The summary table (Markdown, also printed in the terminal): every workload, our
    /// backends and the peers side by side (median of the runs, min–max in brackets),
    /// and our best over the best peer and over the machine's limit, of the medians.
    pub fn summary_table(&self) -> String {
        let mut s = String::from("| workload |");
        for sys in System::TABLE {
            write!(s, " {} |", sys.name()).ok();
        }
        s.push_str(" ours ÷ best peer | ours ÷ limit |\n|---|");
        s.push_str(&"---:|".repeat(System::TABLE.len() + 2));
        s.push('\n');
        for row in rows(&self.settings) {
            if System::TABLE.iter().all(|&sys| self.cell(&row, sys) == "-") {
                continue;
            }
            write!(s, "| {} |", row.title).ok();
            for sys in System::TABLE {
                write!(s, " {} |", self.cell(&row, sys)).ok();
            }
            let (ours, peer) = self.best(&row);
            let vs_peer = ours.zip(peer).map(|(o, p)| {
                Self::lead(row.kind, o, p).map_or("-".into(), |x| format!("{x:.2}×"))
            });
            let vs_limit = ours.and_then(|o| self.vs_limit(row.kind, o));
            writeln!(
                s,
                " {} | {} |",
                vs_peer.unwrap_or_else(|| "-".into()),
                vs_limit.map_or_else(|| "-".into(), |x| format!("{x:.2}"))
            )
            .ok();
        }
        s
    }

    /// What the limits were, as a short list.
    pub fn limits_text(&self) -> String {
        let l = &self.limits;
        let lat = |r: &crate::raw::RawRate| {
            r.latency.map_or_else(String::new, |p| {
                format!(" (p50 {}, p99 {})", fmt_us(p.p50_us), fmt_us(p.p99_us))
            })
        };
        let mut s = format!(
            "- pwrite 256 B + fdatasync, 1 thread: **{}/s**{}",
            fmt_rate(l.sync_256.per_s),
            lat(&l.sync_256)
        );
        if let Some(end) = &l.sync_256_end {
            write!(
                s,
                "; measured again at the end: {}/s (the better one is the limit)",
                fmt_rate(end.per_s)
            )
            .ok();
        }
        write!(
            s,
            "\n- pwrite 4 KiB + fdatasync, 1 thread: **{}/s**{}",
            fmt_rate(l.sync_4k.per_s),
            lat(&l.sync_4k)
        )
        .ok();
        if let Some(end) = &l.sync_4k_end {
            write!(
                s,
                "; measured again at the end: {}/s (the better one is the limit)",
                fmt_rate(end.per_s)
            )
            .ok();
        }
        write!(
            s,
            "\n\
             - buffered pwrite, 1 MiB blocks, new preallocated file: **{:.0} MB/s** (better \
             of two passes; the first, into memory touched for the first time: {:.0} MB/s)\n\
             - buffered pread of it, cached: **{:.0} MB/s**\n",
            l.write_bandwidth / 1e6,
            l.write_bandwidth_first / 1e6,
            l.read_bandwidth / 1e6
        )
        .ok();
        s
    }

    /// The targets, as a Markdown table.
    pub fn targets_table(&self) -> String {
        let mut s = String::from("| target | required | measured | met |\n|---|---|---|---|\n");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**NO**",
                None => "not measured",
            };
            writeln!(
                s,
                "| {} | {} | {} | {met} |",
                t.name, t.required, t.measured
            )
            .ok();
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// `1.23M`, `45.6k`, `789`.
pub fn fmt_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.2}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// `85 µs`, `1.2 ms`, `3.4 s`.
pub fn fmt_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.1} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// `0.123 s`, `12 ms`.
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.0} ms", s * 1e3)
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_rate(6612.0), "6.61k");
        assert_eq!(fmt_rate(25_400.0), "25.4k");
        assert_eq!(fmt_rate(1_234_567.0), "1.23M");
        assert_eq!(fmt_rate(512.0), "512");
        assert_eq!(fmt_us(85.0), "85 µs");
        assert_eq!(fmt_us(1500.0), "1.5 ms");
        assert_eq!(fmt_secs(0.1234), "123 ms");
        assert!(utc_now().ends_with("UTC") && utc_now().len() == 20);
    }

    fn run(system: &str, run: u32, entries: u64, p99_us: f64) -> Measurement {
        Measurement {
            row: "durable/256B/1t/1topic".into(),
            system: system.into(),
            run,
            entries,
            elapsed_s: 1.0,
            latency: Some(Percentiles {
                p50_us: p99_us / 10.0,
                p99_us,
                p999_us: p99_us * 2.0,
                samples: 10,
            }),
            ..Measurement::default()
        }
    }

    #[test]
    fn runs_sum_up_to_their_median_and_spread() {
        let settings = Settings::new(
            crate::plan::Profile::Smoke,
            std::path::Path::new("/d"),
            std::path::Path::new("/o"),
        );
        let results = vec![
            run("wal/std", 0, 300, 900.0),
            run("okaywal", 0, 100, 50.0),
            run("wal/std", 1, 100, 100.0),
            run("wal/std", 2, 200, 500.0),
        ];
        let sums = summarize(&settings, &results);
        assert_eq!(sums.len(), 2);
        let ours = &sums[0];
        assert_eq!((ours.system.as_str(), ours.values.len()), ("wal/std", 3));
        assert_eq!(ours.values, vec![300.0, 100.0, 200.0], "in run order");
        assert_eq!((ours.min, ours.max), (100.0, 300.0));
        assert_eq!((ours.median.entries, ours.median.run), (200, 2));
        let lat = ours.median.latency.unwrap();
        assert_eq!(
            (lat.p99_us, lat.samples),
            (500.0, 30),
            "median of each percentile"
        );
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0), "lower middle");
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn lower_is_better_where_memory_is_measured() {
        let m = |b: f64| Measurement {
            memory_bytes_per_entry: Some(b),
            ..Measurement::default()
        };
        assert_eq!(Report::lead(RowKind::Memory, &m(4.0), &m(8.0)), Some(2.0));
        let r = |n: u64| Measurement {
            entries: n,
            elapsed_s: 1.0,
            ..Measurement::default()
        };
        assert_eq!(Report::lead(RowKind::Write, &r(300), &r(100)), Some(3.0));
        assert_eq!(Report::lead(RowKind::Write, &r(300), &r(0)), None);
    }

    #[test]
    fn limits_in_entries_per_second() {
        let report = Report {
            limits: Limits {
                sync_256: crate::raw::RawRate {
                    per_s: 7140.0,
                    latency: None,
                },
                sync_4k: crate::raw::RawRate {
                    per_s: 8900.0,
                    latency: None,
                },
                write_bandwidth: 6.4e9,
                ..Limits::default()
            },
            ..Report::new(
                "test",
                Machine::default(),
                Settings::new(
                    crate::plan::Profile::Smoke,
                    std::path::Path::new("/d"),
                    std::path::Path::new("/o"),
                ),
                Limits::default(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Duration::ZERO,
            )
        };
        let m = Measurement {
            entries: 1000,
            payload_bytes: 64_000,
            elapsed_s: 1.0,
            ..Measurement::default()
        };
        let limit = |k| report.limit_entries_per_s(k, &m);
        assert_eq!(limit(RowKind::Durable(256)), Some(7140.0));
        assert_eq!(limit(RowKind::Durable(4096)), Some(8900.0));
        assert_eq!(limit(RowKind::Write), Some(1e8), "6.4 GB/s of 64 B entries");
        assert_eq!(limit(RowKind::Read), None);
        let none = Measurement::default();
        assert_eq!(report.limit_entries_per_s(RowKind::Write, &none), None);
    }
}
