//! The charts of a report: what each shows, drawn by [`crate::svg`].
//!
//! Throughput charts carry the machine's own limit as a dashed line (the raw
//! `pwrite` + `fdatasync` rate for durable appends, the buffered write bandwidth in
//! entries per second for unsynced ones); latency charts are in milliseconds on a log
//! axis, with the raw sync's median where the entry size matches. A system that cannot
//! run a workload gets "n/a" where its bar would be, one whose job failed "failed".

use crate::job::System;
use crate::report::{fmt_rate, rows, Report, Row};
use crate::svg::{Bar, BarChart, Better, Reference, Unit};

/// The charts of a report that have something to show: (file name, chart).
pub fn charts(r: &Report) -> Vec<(String, BarChart)> {
    let systems: Vec<System> = System::TABLE
        .into_iter()
        .filter(|s| r.settings.systems.contains(s))
        .collect();
    let all = rows(&r.settings);
    let mut out = Vec::new();
    for size in ["256B", "4KiB"] {
        let mut chart = throughput(r, &systems, &all, &[&format!("durable/{size}/")]);
        chart.title = format!("Durable appends (SyncEach), {size}: entries/s by threads");
        let limit = chart
            .reference
            .as_ref()
            .and_then(|l| l.values.iter().flatten().next().copied());
        if let (Some(reference), Some(limit)) = (chart.reference.as_mut(), limit) {
            reference.label = format!(
                "disk limit: pwrite {size} + fdatasync, 1 thread ({}/s)",
                fmt_rate(limit)
            );
        }
        out.push((format!("throughput-durable-{size}.svg"), chart));
    }
    let mut unsynced = throughput(r, &systems, &all, &["readme/", "nofsync/", "pipelined/"]);
    unsynced.title = "Unsynced and pipelined appends: entries/s".into();
    unsynced.log = true;
    if let Some(reference) = unsynced.reference.as_mut() {
        reference.label = format!(
            "limit: buffered pwrite at {:.1} GB/s, in entries of the workload's size",
            r.limits.write_bandwidth / 1e9
        );
    }
    out.push(("throughput-unsynced.svg".to_owned(), unsynced));
    for (id, name) in [
        ("durable/256B/1t/1topic", "durable 256 B, 1 thread"),
        (
            "durable/256B/16t/16topics",
            "durable 256 B, 16 threads, 16 topics",
        ),
        (
            "durable/256B/16t/1topic",
            "durable 256 B, 16 threads, 1 topic",
        ),
        (
            "pipelined/64B/2t/every10000",
            "pipelined 64 B, 2 threads (append to durable)",
        ),
    ] {
        if let Some(row) = all.iter().find(|row| row.id == id) {
            out.push((
                format!("latency-{}.svg", id.replace('/', "-")),
                latency(r, &systems, row, name),
            ));
        }
    }
    out.retain(|(_, c)| {
        c.values
            .iter()
            .flatten()
            .any(|b| matches!(b, Bar::Value(_)))
    });
    out
}

/// The bar of `system` on `row`: its median, or why it has none.
fn bar(r: &Report, row: &Row, system: System) -> Bar {
    match r.get(&row.id, system) {
        Some(m) => Bar::Value(Report::value(row.kind, m)),
        None => r
            .missing(row, system)
            .map_or(Bar::Empty, |why| Bar::Label(why.to_lowercase())),
    }
}

/// Entries per second of every system on the rows whose id starts with one of
/// `prefixes`, one group per row that has a result, and the limit of each row.
fn throughput(r: &Report, systems: &[System], all: &[Row], prefixes: &[&str]) -> BarChart {
    let picked: Vec<&Row> = all
        .iter()
        .filter(|row| prefixes.iter().any(|p| row.id.starts_with(p)))
        .filter(|row| systems.iter().any(|&s| r.get(&row.id, s).is_some()))
        .collect();
    let limits: Vec<Option<f64>> = picked
        .iter()
        .map(|row| {
            // Any measurement of the row gives the entry size; ours come first.
            systems
                .iter()
                .filter_map(|&s| r.get(&row.id, s))
                .find_map(|m| r.limit_entries_per_s(row.kind, m))
        })
        .collect();
    BarChart {
        y_label: "entries/s".into(),
        unit: Unit::Count,
        better: Better::Higher,
        groups: picked.iter().map(|row| row.short.clone()).collect(),
        series: systems.iter().map(|s| s.name().to_owned()).collect(),
        values: picked
            .iter()
            .map(|row| systems.iter().map(|&s| bar(r, row, s)).collect())
            .collect(),
        reference: limits.iter().any(Option::is_some).then(|| Reference {
            label: "limit".into(),
            values: limits,
        }),
        ..BarChart::default()
    }
}

/// Latency percentiles of every system on `row`, in milliseconds; systems that cannot
/// run it are shown as "n/a".
fn latency(r: &Report, systems: &[System], row: &Row, name: &str) -> BarChart {
    let shown: Vec<(System, Vec<Bar>)> = systems
        .iter()
        .filter_map(|&s| {
            if let Some(p) = r.get(&row.id, s).and_then(|m| m.latency) {
                let ms = |us: f64| Bar::Value(us / 1e3);
                return Some((s, vec![ms(p.p50_us), ms(p.p99_us), ms(p.p999_us)]));
            }
            r.missing(row, s).map(|why| {
                let label = Bar::Label(why.to_lowercase());
                (s, vec![Bar::Empty, label, Bar::Empty])
            })
        })
        .collect();
    // The disk's own sync latency, where the chart's entries are the size it was measured
    // with (the 256 B loop).
    let disk = row
        .id
        .starts_with("durable/256B/")
        .then_some(r.limits.sync_256.latency)
        .flatten()
        .map(|p| p.p50_us / 1e3);
    BarChart {
        title: format!("Latency percentiles: {name}"),
        y_label: "latency, ms".into(),
        log: true,
        unit: Unit::Millis,
        better: Better::Lower,
        groups: shown.iter().map(|(s, _)| s.name().to_owned()).collect(),
        series: vec!["p50".into(), "p99".into(), "p99.9".into()],
        reference: disk.map(|d| Reference {
            label: format!(
                "disk: pwrite 256 B + fdatasync, p50 {} ms",
                crate::svg::label(d, Unit::Millis)
            ),
            values: vec![Some(d); shown.len()],
        }),
        values: shown.into_iter().map(|(_, bars)| bars).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small report: durable 256 B results on 1 and 16 threads, one unsynced row, and
    /// raft-engine unable to run 16 threads on one topic.
    fn report() -> Report {
        let mut settings = crate::Settings::new(
            crate::Profile::Smoke,
            std::path::Path::new("/d"),
            std::path::Path::new("/o"),
        );
        settings.threads = vec![1, 16];
        let m = |row: &str, system: System, entries: u64, p50: f64| crate::Measurement {
            row: row.into(),
            system: system.name().into(),
            entries,
            payload_bytes: entries * 64,
            elapsed_s: 1.0,
            latency: Some(crate::hist::Percentiles {
                p50_us: p50,
                p99_us: p50 * 4.0,
                p999_us: p50 * 10.0,
                samples: 100,
            }),
            ..crate::Measurement::default()
        };
        let results = vec![
            m("durable/256B/1t/1topic", System::Std, 7000, 130.0),
            m("durable/256B/1t/1topic", System::Okaywal, 8000, 120.0),
            m("durable/256B/16t/1topic", System::Std, 40_000, 400.0),
            m("nofsync/64B/1t", System::Std, 7_000_000, 0.1),
        ];
        let skipped = vec![crate::plan::Skipped {
            row: "durable/256B/16t/1topic".into(),
            system: System::RaftEngine.name().into(),
            reason: "one writer per region".into(),
        }];
        let limits = crate::raw::Limits {
            sync_256: crate::raw::RawRate {
                per_s: 7140.0,
                latency: Some(crate::hist::Percentiles {
                    p50_us: 118.0,
                    p99_us: 214.0,
                    p999_us: 300.0,
                    samples: 10,
                }),
            },
            write_bandwidth: 6.4e9,
            ..crate::raw::Limits::default()
        };
        Report::new(
            "test",
            crate::machine::Machine::default(),
            settings,
            limits,
            results,
            skipped,
            Vec::new(),
            std::time::Duration::ZERO,
        )
    }

    fn chart<'a>(charts: &'a [(String, BarChart)], file: &str) -> &'a BarChart {
        &charts
            .iter()
            .find(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("no {file}"))
            .1
    }

    #[test]
    fn durable_throughput_has_the_disk_limit_and_says_n_a() {
        let charts = charts(&report());
        let c = chart(&charts, "throughput-durable-256B.svg");
        assert_eq!(c.groups, ["1 thr", "16 thr · 1 topic"]);
        assert_eq!(c.better, Better::Higher);
        let reference = c.reference.as_ref().unwrap();
        assert_eq!(reference.values, [Some(7140.0), Some(7140.0)]);
        assert!(reference.label.contains("7.14k/s"), "{}", reference.label);
        let raft_engine = c.series.iter().position(|s| s == "raft-engine").unwrap();
        assert_eq!(c.values[1][raft_engine], Bar::Label("n/a".into()));
        assert_eq!(c.values[0][raft_engine], Bar::Empty, "not run, not n/a");
        // No 4 KiB results: no chart.
        assert!(charts
            .iter()
            .all(|(f, _)| f != "throughput-durable-4KiB.svg"));
    }

    #[test]
    fn unsynced_throughput_is_log_with_the_bandwidth_in_entries() {
        let charts = charts(&report());
        let c = chart(&charts, "throughput-unsynced.svg");
        assert!(c.log);
        assert_eq!(c.reference.as_ref().unwrap().values, [Some(1e8)]);
        assert!(c.render().contains("(log scale)"));
    }

    #[test]
    fn latency_is_in_milliseconds_against_the_disk_sync() {
        let charts = charts(&report());
        let c = chart(&charts, "latency-durable-256B-1t-1topic.svg");
        assert_eq!(
            (c.unit, c.better, c.log),
            (Unit::Millis, Better::Lower, true)
        );
        assert_eq!(c.groups, ["wal/std", "okaywal"]);
        assert_eq!(
            c.values[0],
            [Bar::Value(0.13), Bar::Value(0.52), Bar::Value(1.3)]
        );
        assert_eq!(
            c.reference.as_ref().unwrap().values,
            [Some(0.118), Some(0.118)]
        );
        let c = chart(&charts, "latency-durable-256B-16t-1topic.svg");
        assert_eq!(c.groups, ["wal/std", "raft-engine"]);
        assert_eq!(c.values[1][1], Bar::Label("n/a".into()));
        // Nothing measured on these rows: no chart.
        assert!(charts
            .iter()
            .all(|(f, _)| f != "latency-pipelined-64B-2t-every10000.svg"));
    }
}
