//! The project's performance targets (issue 12), read from a report's medians (never
//! asserted by a timed test): each says what is required, what was measured and whether
//! it was met.

use serde::{Deserialize, Serialize};

use crate::job::{Measurement, System};
use crate::plan::PIPELINE_EVERY;
use crate::report::{fmt_rate, fmt_secs, fmt_us, rows, Report, Row, RowKind};

/// Ours over the best peer that every row where a peer runs must reach.
pub const LEAD: f64 = 1.1;

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

fn row(r: &Report, id: &str) -> Row {
    rows(&r.settings)
        .into_iter()
        .find(|x| x.id == id)
        .unwrap_or(Row {
            id: id.to_owned(),
            title: id.to_owned(),
            short: String::new(),
            kind: RowKind::Write,
        })
}

/// The best of our backends on a row (median of its runs).
fn best_ours<'a>(r: &'a Report, id: &str) -> Option<&'a Measurement> {
    r.best(&row(r, id)).0
}

fn unmeasured(name: &str, required: &str) -> TargetCheck {
    TargetCheck {
        name: name.to_owned(),
        required: required.to_owned(),
        measured: "not measured in this run".into(),
        met: None,
    }
}

/// `ours ≥ factor × peer` on a row.
fn vs(r: &Report, name: &str, id: &str, peer: System, factor: f64) -> TargetCheck {
    let required = format!("≥ {factor}× {}", peer.name());
    let kind = row(r, id).kind;
    match (best_ours(r, id), r.get(id, peer)) {
        (Some(o), Some(p)) => match Report::lead(kind, o, p) {
            Some(x) => TargetCheck {
                name: name.to_owned(),
                required,
                measured: format!(
                    "{x:.2}× ({} {}/s vs {}/s)",
                    o.system,
                    fmt_rate(Report::value(kind, o)),
                    fmt_rate(Report::value(kind, p))
                ),
                met: Some(x >= factor),
            },
            None => unmeasured(name, &required),
        },
        _ => unmeasured(name, &required),
    }
}

/// Checks every target of issue 12 against the medians of `r`.
pub fn check_targets(r: &Report) -> Vec<TargetCheck> {
    let mut out = Vec::new();

    // Every row where a peer runs: ours ÷ best peer.
    for row in rows(&r.settings) {
        if row.kind == RowKind::Memory {
            continue; // it has its own target, below
        }
        let (ours, peer) = r.best(&row);
        let (Some(o), Some(p)) = (ours, peer) else {
            continue;
        };
        let required = format!("ours ÷ best peer ≥ {LEAD}");
        out.push(match Report::lead(row.kind, o, p) {
            Some(x) => TargetCheck {
                name: row.title.clone(),
                required,
                measured: format!(
                    "{x:.2} ({} {} vs {} {})",
                    o.system,
                    fmt_rate(Report::value(row.kind, o)),
                    p.system,
                    fmt_rate(Report::value(row.kind, p))
                ),
                met: Some(x >= LEAD),
            },
            None => unmeasured(&row.title, &required),
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

    let name = "recovery: log scanned per second";
    out.push(match best_ours(r, "recovery") {
        Some(o) => {
            let gbs = o.log_mb_per_s().unwrap_or(0.0) / 1e3;
            TargetCheck {
                name: name.into(),
                required: "≥ 2 GB/s".into(),
                measured: format!(
                    "{gbs:.2} GB/s ({} opened {:.0} MB in {})",
                    o.system,
                    o.log_bytes.unwrap_or(0) as f64 / 1e6,
                    fmt_secs(o.elapsed_s)
                ),
                met: Some(gbs >= 2.0),
            }
        }
        None => unmeasured(name, "≥ 2 GB/s"),
    });

    out.push(vs(r, "read back", "readback", System::Okaywal, 1.5));
    out.push(vs(
        r,
        "README workload, NoFsync",
        "readme/NoFsync",
        System::Walrus,
        2.5,
    ));

    let name = "index memory (RssAnon gained per entry appended)";
    let memory = rows(&r.settings)
        .into_iter()
        .find(|x| x.kind == RowKind::Memory);
    out.push(
        match memory.as_ref().and_then(|m| r.get(&m.id, System::Std)) {
            Some(m) => {
                let b = m.memory_bytes_per_entry.unwrap_or(f64::INFINITY);
                TargetCheck {
                    name: name.into(),
                    required: "≤ 8 B/entry".into(),
                    measured: format!(
                        "{b:.1} B/entry after {} entries ({}; peak RSS {} MiB)",
                        fmt_rate(m.entries as f64),
                        m.system,
                        m.peak_rss_kib.map_or(0, |k| k / 1024)
                    ),
                    met: Some(b <= 8.0),
                }
            }
            None => unmeasured(name, "≤ 8 B/entry"),
        },
    );
    out
}
