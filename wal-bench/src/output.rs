//! Writing a report to disk: `report.md`, `report.json` and the SVG charts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::charts::charts;
use crate::error::{Context, Result};
use crate::job::System;
use crate::report::{fmt_rate, fmt_us, rows, Report, RowKind};

/// The full Markdown report: header (machine, settings), limits, summary, targets, and
/// every measurement in detail.
pub fn markdown(r: &Report) -> String {
    let m = &r.machine;
    let st = &r.settings;
    let mut s = String::from("# wal-bench report\n\n");
    writeln!(
        s,
        "`{}` — {} ({:.0} s in all)\n",
        r.command, r.date, r.total_s
    )
    .ok();
    writeln!(s, "## Machine and settings\n").ok();
    writeln!(
        s,
        "- machine: {} cores ({}), {:.1} GiB memory, Linux {}",
        m.cores,
        m.cpu,
        m.memory_bytes as f64 / (1u64 << 30) as f64,
        m.kernel
    )
    .ok();
    writeln!(s, "- file system: {}", m.filesystem).ok();
    writeln!(s, "- device: {}", m.device).ok();
    let peers: Vec<String> = r.peers.iter().map(|(n, v)| format!("{n} {v}")).collect();
    writeln!(
        s,
        "- profile `{:?}`: {} runs of {} s per timed configuration, interleaved across \
         systems (A B C A B C ...), read workload {} MiB of 1 KiB entries, durable threads \
         {:?}, systems {}; peers: {}",
        st.profile,
        st.repeats,
        st.duration.as_secs_f64(),
        st.read_bytes >> 20,
        st.threads,
        st.systems
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        peers.join(", ")
    )
    .ok();
    if !st.filters.is_empty() {
        writeln!(s, "- filter: {}", st.filters.join(", ")).ok();
    }
    s.push_str(
        "- every run of a (system, workload) pair is its own process, in its own fresh \
         directory; every system goes through the same workload loops (one trait, \
         `wal_bench::workload`), with the same payloads (cut from a random pool, so that \
         no two neighbours are equal and nothing compresses); our log uses its defaults \
         (64 MiB segments) with the backend named; walrus-rust its FD backend; okaywal 64 \
         MiB preallocated segments, checkpointed after 56 MiB; raft-engine its defaults \
         (TiKV's), a region per topic, entries through `LogBatch::add_entries` and \
         `Engine::write`; raft-log its defaults, a log per topic, `append` then \
         `flush(sync, callback)`\n",
    );
    writeln!(
        s,
        "\n## The machine's own limits (same file system, same run)\n"
    )
    .ok();
    s.push_str(&r.limits_text());
    writeln!(
        s,
        "\n## Summary\n\nMedian of the runs, min–max in brackets. Entries per second \
         (recovery: time to open, and log MB scanned per second; index memory: bytes of \
         anonymous memory gained per entry, lower is better). \"ours ÷ best peer\": our \
         best median over the best peer's (index memory: the peer's over ours, so above 1 \
         is a lead everywhere). \"ours ÷ limit\": durable rows over the raw \
         pwrite+fdatasync rate of the same size (batches: batches/s over it); unsynced and \
         pipelined rows as payload MB/s over buffered pwrite bandwidth; reads and recovery \
         over buffered pread bandwidth. n/a: the system cannot express the workload \
         (below).\n"
    )
    .ok();
    s.push_str(&r.summary_table());
    writeln!(s, "\n## Targets\n").ok();
    s.push_str(&r.targets_table());
    writeln!(s, "\n## Every measurement (median run)\n").ok();
    s.push_str(
        "The median run of each pair, with its latency percentiles the medians of every \
         run's. Latency: per call for durable appends and batches; from append to the return of \
         the `wait_durable` (okaywal: commit) that covered it for pipelined, sampled every \
         16th entry. flushes: syncs the log reports (ours); flush p50/p99: time of one \
         such flush (write + sync) as the log reports it, to within a factor of two; dev \
         flushes: flush requests the device completed during the job (device-wide). B/entry: 4 KiB pages of the \
         log's files holding data, per entry. Peak: the worker's VmHWM. Runs: the headline \
         value of every run, in the order they ran.\n\n",
    );
    s.push_str(
        "| workload | system | entries/s | MB/s | × limit | p50 | p99 | p99.9 | flushes | \
         flush p50/p99 | dev flushes | B/entry | peak MiB | runs | note |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    let mut all_rows = rows(st);
    all_rows.insert(
        all_rows.len().saturating_sub(2),
        crate::report::Row {
            id: "fill".into(),
            title: "5a fill for the read workload".into(),
            short: "fill".into(),
            kind: RowKind::Write,
        },
    );
    for row in &all_rows {
        for sys in System::TABLE {
            let Some(sum) = r.summary_of(&row.id, sys) else {
                continue;
            };
            let x = &sum.median;
            let runs = sum
                .values
                .iter()
                .map(|&v| match row.kind {
                    RowKind::Memory => format!("{v:.1}"),
                    _ => fmt_rate(v),
                })
                .collect::<Vec<_>>()
                .join(" · ");
            let lat = |f: fn(&crate::hist::Percentiles) -> f64| {
                x.latency
                    .as_ref()
                    .map_or_else(|| "-".into(), |p| fmt_us(f(p)))
            };
            let opt = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
            let mut note = x.note.clone().unwrap_or_default();
            if let Some(f) = &x.fallback {
                note = format!("{note} {f}").trim().to_owned();
            }
            let mbs = match row.kind {
                RowKind::Recovery => x.log_mb_per_s().unwrap_or(0.0),
                _ => x.mb_per_s(),
            };
            writeln!(
                s,
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.title,
                x.system,
                fmt_rate(x.rate()),
                mbs,
                r.vs_limit(row.kind, x)
                    .map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                lat(|p| p.p50_us),
                lat(|p| p.p99_us),
                lat(|p| p.p999_us),
                opt(x.flushes),
                x.flush_p50_us.zip(x.flush_p99_us).map_or_else(
                    || "-".into(),
                    |(a, b)| format!("{} / {}", fmt_us(a as f64), fmt_us(b as f64))
                ),
                opt(x.device_flushes),
                x.disk_bytes_per_entry
                    .map_or_else(|| "-".into(), |b| format!("{b:.0}")),
                x.peak_rss_kib
                    .map_or_else(|| "-".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
                runs,
                note
            )
            .ok();
        }
    }
    if !r.skipped.is_empty() {
        writeln!(s, "\n## Not run (the system cannot express the workload)\n").ok();
        for k in &r.skipped {
            writeln!(s, "- {} on `{}`: {}", k.system, k.row, k.reason).ok();
        }
    }
    if !r.failures.is_empty() {
        writeln!(s, "\n## Failures\n").ok();
        for f in &r.failures {
            writeln!(s, "- {} on `{}`: {}", f.system, f.row, f.error).ok();
        }
    }
    writeln!(s, "\n## Charts\n").ok();
    for (file, chart) in charts(r) {
        writeln!(s, "![{}]({file})", chart.title).ok();
    }
    s
}

/// Writes `report.md`, `report.json` and the charts into `dir`; returns the files.
pub fn write_all(r: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).ctx(format!("create {}", dir.display()))?;
    let mut files = vec![
        (dir.join("report.md"), markdown(r)),
        (dir.join("report.json"), r.to_json()),
    ];
    for (name, chart) in charts(r) {
        files.push((dir.join(name), chart.render()));
    }
    for (path, text) in &files {
        std::fs::write(path, text).ctx(format!("write {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}
