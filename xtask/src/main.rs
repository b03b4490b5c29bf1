//! Project chores, run as `cargo xtask <task>` (aliased in `.cargo/config.toml`).
//!
//! - `bench [ARGS]`: builds `wal-bench` in release mode and runs it: every workload for our
//!   backends and the peers, against the disk's own limit (`--smoke` for a check of a few
//!   seconds, `--full` for longer runs, `--dir PATH` for where the logs go; `bench --help`
//!   lists the rest).
//! - `crash [--rounds N] [--seed S] [--dir PATH]`: the kill -9 crash loop; prints a
//!   summary and fails on any lost acknowledged entry.
//! - `ci`: the checks CI runs (`.ci/run` calls the same commands).

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    match task.as_deref() {
        Some("bench") => {
            // Build first with cargo's progress shown (a first release build takes
            // minutes), then run without cargo's chatter.
            let built = cargo(&["build", "--release", "-p", "wal-bench"]);
            if built != ExitCode::SUCCESS {
                return built;
            }
            cargo(
                &[
                    &["run", "--release", "--quiet", "-p", "wal-bench", "--"],
                    &strs(&rest)[..],
                ]
                .concat(),
            )
        }
        Some("crash") => cargo(
            &[
                &[
                    "run",
                    "--release",
                    "--quiet",
                    "-p",
                    "wal-testkit",
                    "--bin",
                    "wal-crash",
                    "--",
                    "loop",
                ],
                &strs(&rest)[..],
            ]
            .concat(),
        ),
        Some("ci") => ci(),
        _ => {
            println!("usage: cargo xtask <task>\n\ntasks:\n  bench [--smoke|--full] [...]   run the benchmarks (bench --help)\n  crash [--rounds N] [--seed S]  kill -9 a writing child N times, check every acknowledged entry\n  ci                             fmt, clippy and tests, as CI runs them");
            ExitCode::from(2)
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn ci() -> ExitCode {
    let steps: [&[&str]; 3] = [
        &["fmt", "--all", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &["test", "--workspace"],
    ];
    for step in steps {
        let code = cargo(step);
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    ExitCode::SUCCESS
}

fn cargo(args: &[&str]) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("$ cargo {}", args.join(" "));
    match Command::new(cargo).args(args).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(1, 255) as u8)),
        Err(e) => {
            eprintln!("xtask: could not run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}
