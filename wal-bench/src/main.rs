//! `wal-bench`: runs the workloads and prints a table. Usually started by
//! `cargo xtask bench`.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut smoke = false;
    let mut dir = PathBuf::from("target/bench/tmp");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--dir" => match args.next() {
                Some(d) => dir = d.into(),
                None => return usage("--dir needs a path"),
            },
            "-h" | "--help" => {
                println!("usage: wal-bench [--smoke] [--dir PATH]\n\n  --smoke     run every workload for a moment (CI)\n  --dir PATH  where temporary logs go (default target/bench/tmp)");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let settings = if smoke {
        wal_bench::Settings::smoke(&dir)
    } else {
        wal_bench::Settings::quick(&dir)
    };
    println!(
        "wal-bench: logs under {}, {} s per timed workload",
        dir.display(),
        settings.duration.as_secs_f64()
    );
    match wal_bench::run(&settings) {
        Ok(results) => {
            println!("\n{}", wal_bench::table(&results));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wal-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("wal-bench: {msg} (see --help)");
    ExitCode::from(2)
}
