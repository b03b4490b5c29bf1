//! `wal stats`: what the log holds, per topic and per segment, read-only.

use std::io::Write;

use serde_json::json;
use wal::inspect::{Inspection, TopicReport};

use crate::cli::StatsArgs;
use crate::error::{CliResult, OK};
use crate::logdir::{self, Diagnosis};
use crate::output::{self, human_bytes};

/// Prints the statistics of the log in `args.dir`, as text or one JSON object.
pub fn run(args: &StatsArgs, progress: bool) -> CliResult {
    let ins = logdir::scan(&args.dir, progress)?;
    let diagnosis = Diagnosis::of(&ins);
    if diagnosis.exit_code() != OK {
        eprintln!(
            "wal: warning: the log is not clean: {}; these statistics cover what recovery \
             would keep (run `wal verify`)",
            diagnosis.summary()
        );
    }
    let text = if args.json {
        json_report(args, &ins, &diagnosis)
    } else {
        text_report(args, &ins, &diagnosis)
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(OK)
}

fn entries(t: &TopicReport) -> u64 {
    t.next_offset - t.first_offset
}

/// Bytes per entry, or 0 for none.
fn per_entry(bytes: u64, entries: u64) -> f64 {
    if entries == 0 {
        0.0
    } else {
        bytes as f64 / entries as f64
    }
}

fn cursor_name(name: &str) -> String {
    if name.is_empty() {
        "shared cursor".into()
    } else {
        format!("consumer {name:?}")
    }
}

/// Bytes held by the segments retention could delete.
fn reclaimable(ins: &Inspection) -> (Vec<u64>, u64) {
    let ids = ins.reclaimable_segments();
    let bytes = ins
        .segments
        .iter()
        .filter(|s| ids.contains(&s.id))
        .map(|s| s.len)
        .sum();
    (ids, bytes)
}

fn text_report(args: &StatsArgs, ins: &Inspection, diagnosis: &Diagnosis) -> String {
    let topics = ins.topics();
    let total: u64 = topics.iter().map(entries).sum();
    let payload: u64 = topics.iter().map(|t| t.payload_bytes).sum();
    let allocated: u64 = ins.segments.iter().map(|s| s.len).sum();
    let used: u64 = ins.segments.iter().map(|s| s.data_end).sum();
    let (first, last) = (
        ins.segments.first().map_or(0, |s| s.id),
        ins.segments.last().map_or(0, |s| s.id),
    );
    let (reclaim_ids, reclaim_bytes) = reclaimable(ins);
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    line(format!("log:          {}", args.dir.display()));
    line(format!("state:        {}", diagnosis.summary()));
    line(format!(
        "segments:     {} (ids {first}..={last}), {} allocated, {} used",
        ins.segments.len(),
        human_bytes(allocated),
        human_bytes(used)
    ));
    line(format!(
        "entries:      {total} in {} topic(s), {} of payload, {:.1} B used on disk per entry",
        topics.len(),
        human_bytes(payload),
        per_entry(used, total)
    ));
    line(if reclaim_ids.is_empty() {
        "reclaimable:  nothing".into()
    } else {
        format!(
            "reclaimable:  {} segment(s) ({}): ids {}",
            reclaim_ids.len(),
            human_bytes(reclaim_bytes),
            reclaim_ids
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    for t in &topics {
        line(String::new());
        line(format!(
            "topic {:?}: {} (offsets {}..{}), {} payload, {} in records, {:.1} B per entry",
            t.name,
            output::entries(entries(t)),
            t.first_offset,
            t.next_offset,
            human_bytes(t.payload_bytes),
            human_bytes(t.bytes),
            per_entry(t.bytes, entries(t))
        ));
        let width = t
            .cursors
            .iter()
            .map(|(n, _)| cursor_name(n).len())
            .max()
            .unwrap_or(0);
        for (name, pos) in &t.cursors {
            line(format!(
                "  {:<width$}  at {pos:<8} lag {}",
                cursor_name(name),
                t.next_offset.saturating_sub(*pos)
            ));
        }
        for (key, value) in &t.meta {
            line(format!(
                "  metadata {key:?}: {}",
                human_bytes(value.len() as u64)
            ));
        }
    }
    s
}

fn json_report(args: &StatsArgs, ins: &Inspection, diagnosis: &Diagnosis) -> String {
    let topics = ins.topics();
    let total: u64 = topics.iter().map(entries).sum();
    let used: u64 = ins.segments.iter().map(|s| s.data_end).sum();
    let (reclaim_ids, reclaim_bytes) = reclaimable(ins);
    let value = json!({
        "dir": args.dir.display().to_string(),
        "state": diagnosis.summary(),
        "clean": diagnosis.exit_code() == OK,
        "entries": total,
        "bytes_used": used,
        "bytes_allocated": ins.segments.iter().map(|s| s.len).sum::<u64>(),
        "bytes_used_per_entry": per_entry(used, total),
        "segments": ins.segments.iter().map(|s| json!({
            "id": s.id,
            "path": s.path.display().to_string(),
            "bytes": s.len,
            "used": s.data_end,
            "finding": logdir::finding_text(&s.finding, s.data_end),
        })).collect::<Vec<_>>(),
        "reclaimable": { "segments": reclaim_ids, "bytes": reclaim_bytes },
        "topics": topics.iter().map(|t| json!({
            "name": t.name,
            "first_offset": t.first_offset,
            "next_offset": t.next_offset,
            "entries": entries(t),
            "bytes": t.bytes,
            "payload_bytes": t.payload_bytes,
            "bytes_per_entry": per_entry(t.bytes, entries(t)),
            "cursors": t.cursors.iter().map(|(name, pos)| json!({
                "consumer": if name.is_empty() { None } else { Some(name) },
                "position": pos,
                "lag": t.next_offset.saturating_sub(*pos),
            })).collect::<Vec<_>>(),
            "metadata": t.meta.iter().map(|(key, value)| json!({
                "key": key,
                "bytes": value.len(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    format!("{value:#}\n")
}
