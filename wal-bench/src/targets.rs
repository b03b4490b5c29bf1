//! The project's performance targets, read from a report (never asserted by a timed
//! test): each says what is required, what was measured and whether it was met.

use serde::{Deserialize, Serialize};

use crate::job::{Measurement, System};
use crate::plan::PIPELINE_EVERY;
use crate::report::{fmt_rate, fmt_us, rows, Report, Row, RowKind};

/// One target, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// What the target is about.
    pub name: String,
    /// What is required.
    pub required: String,
    /// What was measured (with the backend that did best).
    pub measured: String,
    /// Whether it was met; `None` when the run did not measure it.
    pub met: Option<bool>,
}

/// The best of our backends on `row`: (backend name, measurement).
fn best_ours<'a>(r: &'a Report, row: &str) -> Option<&'a Measurement> {
    let kind = rows(&r.settings)
        .into_iter()
        .find(|x| x.id == row)
        .map_or(RowKind::Write, |x| x.kind);
    let row = Row {
        id: row.to_owned(),
        title: String::new(),
        short: String::new(),
        kind,
    };
    r.best(&row).0
}

fn unmeasured(name: &str, required: &str) -> TargetCheck {
    TargetCheck {
        name: name.to_owned(),
        required: required.to_owned(),
        measured: "not measured in this run".into(),
        met: None,
    }
}

/// `ours ≥ factor × walrus` on a row.
fn vs_walrus(r: &Report, name: &str, row: &str, factor: f64) -> TargetCheck {
    let required = format!("≥ {factor}× walrus-rust");
    match (best_ours(r, row), r.get(row, System::Walrus)) {
        (Some(o), Some(w)) if w.rate() > 0.0 => {
            let x = o.rate() / w.rate();
            TargetCheck {
                name: name.to_owned(),
                required,
                measured: format!(
                    "{:.2}× ({} {}/s vs {}/s)",
                    x,
                    o.system,
                    fmt_rate(o.rate()),
                    fmt_rate(w.rate())
                ),
                met: Some(x >= factor),
            }
        }
        _ => unmeasured(name, &required),
    }
}

/// Checks every target of the benchmarks issue against `r`.
pub fn check_targets(r: &Report) -> Vec<TargetCheck> {
    let one = "durable/256B/1t/1topic";
    let many = "durable/256B/16t/16topics";
    let shared = "durable/256B/16t/1topic";
    let mut out = Vec::new();

    let name = "durable appends, 1 thread, 256 B, vs raw pwrite+fdatasync";
    let limit = r.limits.sync_256.per_s;
    out.push(match best_ours(r, one) {
        Some(o) if limit > 0.0 => {
            let x = o.rate() / limit;
            TargetCheck {
                name: name.into(),
                required: "≥ 0.8 of the raw rate".into(),
                measured: format!(
                    "{x:.2} ({} {}/s vs raw {}/s)",
                    o.system,
                    fmt_rate(o.rate()),
                    fmt_rate(limit)
                ),
                met: Some(x >= 0.8),
            }
        }
        _ => unmeasured(name, "≥ 0.8 of the raw rate"),
    });
    out.push(vs_walrus(
        r,
        "durable, 16 threads on 16 topics, 256 B",
        many,
        1.6,
    ));
    out.push(vs_walrus(
        r,
        "durable, 16 threads on 1 topic, 256 B",
        shared,
        6.0,
    ));
    for (name, row) in [
        (
            "group commit: 16 threads on 16 topics vs our 1 thread",
            many,
        ),
        (
            "group commit: 16 threads on 1 topic vs our 1 thread",
            shared,
        ),
    ] {
        out.push(match (best_ours(r, row), best_ours(r, one)) {
            (Some(m), Some(o)) if o.rate() > 0.0 => {
                let x = m.rate() / o.rate();
                TargetCheck {
                    name: name.into(),
                    required: "≥ 5×".into(),
                    measured: format!(
                        "{x:.2}× ({} {}/s vs {} {}/s)",
                        m.system,
                        fmt_rate(m.rate()),
                        o.system,
                        fmt_rate(o.rate())
                    ),
                    met: Some(x >= 5.0),
                }
            }
            _ => unmeasured(name, "≥ 5×"),
        });
    }

    let pipe = format!("pipelined/64B/2t/every{PIPELINE_EVERY}");
    let name = "pipelined durability, 2 threads, 64 B";
    let required = "≥ 1M durable entries/s and p99 append→durable ≤ 5 ms";
    out.push(match best_ours(r, &pipe) {
        Some(o) => {
            let p99 = o.latency.map_or(f64::INFINITY, |l| l.p99_us);
            TargetCheck {
                name: name.into(),
                required: required.into(),
                measured: format!(
                    "{} {}/s, p50 {}, p99 {}",
                    o.system,
                    fmt_rate(o.rate()),
                    o.latency.map_or_else(|| "-".into(), |l| fmt_us(l.p50_us)),
                    fmt_us(p99)
                ),
                met: Some(o.rate() >= 1e6 && p99 <= 5000.0),
            }
        }
        None => unmeasured(name, required),
    });

    out.push(vs_walrus(
        r,
        "README workload, NoFsync",
        "readme/NoFsync",
        2.0,
    ));
    out.push(vs_walrus(
        r,
        "64 B NoFsync, 1 thread",
        "nofsync/64B/1t",
        5.0,
    ));
    out.push(vs_walrus(
        r,
        "64 B NoFsync, 2 threads",
        "nofsync/64B/2t",
        5.0,
    ));

    let name = "bytes on disk per 256-byte entry (worst of our 256 B runs)";
    let worst = r
        .results
        .iter()
        .filter(|m| {
            System::TABLE
                .iter()
                .any(|s| s.is_ours() && s.name() == m.system)
                && (m.row.starts_with("durable/256B/") || m.row.starts_with("batch/"))
        })
        .filter_map(|m| m.disk_bytes_per_entry.map(|b| (b, m)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    out.push(match worst {
        Some((b, m)) => TargetCheck {
            name: name.into(),
            required: "≤ 288".into(),
            measured: format!("{b:.1} ({} {})", m.system, m.row),
            met: Some(b <= 288.0),
        },
        None => unmeasured(name, "≤ 288"),
    });

    let name = "recovery: log scanned per second";
    out.push(match best_ours(r, "recovery") {
        Some(o) => {
            let gbs = o.log_mb_per_s().unwrap_or(0.0) / 1e3;
            TargetCheck {
                name: name.into(),
                required: "≥ 1 GB/s".into(),
                measured: format!(
                    "{gbs:.2} GB/s ({} opened {:.0} MB in {})",
                    o.system,
                    o.log_bytes.unwrap_or(0) as f64 / 1e6,
                    crate::report::fmt_secs(o.elapsed_s)
                ),
                met: Some(gbs >= 1.0),
            }
        }
        None => unmeasured(name, "≥ 1 GB/s"),
    });
    out
}
