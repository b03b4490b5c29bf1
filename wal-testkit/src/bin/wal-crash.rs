//! `wal-crash`: the kill -9 crash loop (`loop`) and its child process (`child`).
//!
//! `cargo xtask crash --rounds N` runs `wal-crash loop --rounds N`.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use wal_testkit::crash::{child, run_loop, ChildMode, LoopOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child") if args.len() == 3 => {
            let mode = match args[2].parse::<ChildMode>() {
                Ok(m) => m,
                Err(e) => return fail(&e),
            };
            match child(&PathBuf::from(&args[1]), mode) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
        Some("loop") => run(&args[1..]),
        _ => {
            eprintln!("usage: wal-crash loop [--rounds N] [--dir PATH] [--seed S]\n       wal-crash child DIR MODE");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> ExitCode {
    let mut rounds = 30;
    let mut seed = 0x5EED;
    let mut dir = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        let ok = match (flag.as_str(), value) {
            ("--rounds", Some(v)) => v.parse().map(|v| rounds = v).is_ok(),
            ("--seed", Some(v)) => v.parse().map(|v| seed = v).is_ok(),
            ("--dir", Some(v)) => {
                dir = Some(PathBuf::from(v));
                true
            }
            _ => false,
        };
        if !ok {
            return fail(&format!("bad argument {flag:?}"));
        }
    }
    let temp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => return fail(&e.to_string()),
    };
    let opts = LoopOptions {
        child_exe: match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return fail(&e.to_string()),
        },
        dir: dir.unwrap_or_else(|| temp.path().join("log")),
        rounds,
        seed,
        max_delay: Duration::from_millis(150),
    };
    match run_loop(&opts) {
        Ok(s) => {
            println!(
                "crash loop: {} rounds, {} acknowledgements, {} deliveries, {} entries in the log, {} unacknowledged survivors, {} violations",
                s.rounds, s.acks, s.reads, s.entries, s.unacknowledged_survivors, s.violations.len()
            );
            for v in &s.violations {
                println!("VIOLATION: {v}");
            }
            if s.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("wal-crash: {msg}");
    ExitCode::FAILURE
}
