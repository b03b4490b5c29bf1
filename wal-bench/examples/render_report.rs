//! Writes `report.md` and the SVG charts of a finished run again from its `report.json`,
//! without running anything: for looking at a change of the charts or of the report's
//! layout on real numbers.
//!
//! ```sh
//! cargo run -p wal-bench --example render_report -- target/bench/report.json OUT_DIR
//! ```
#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports the files it wrote on stdout"
)]

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(json), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: render_report REPORT_JSON OUT_DIR".into());
    };
    let text = std::fs::read_to_string(PathBuf::from(&json))
        .map_err(|e| format!("{}: {e}", json.to_string_lossy()))?;
    let report: wal_bench::Report =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.to_string_lossy()))?;
    for file in wal_bench::output::write_all(&report, &PathBuf::from(out))? {
        println!("{}", file.display());
    }
    Ok(())
}
