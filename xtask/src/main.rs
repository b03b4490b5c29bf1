//! Project chores, run as `cargo xtask <task>` (aliased in `.cargo/config.toml`);
//! `cargo xtask --help` lists them.
//!
//! - `bench [ARGS]`: builds `wal-bench` in release mode and runs it: every workload for our
//!   backends and the peers, against the disk's own limit (`--smoke` for a check of a few
//!   seconds, `--full` for longer runs, `--dir PATH` for where the logs go; `bench --help`
//!   lists the rest).
//! - `crash [--rounds N] [--seed S] [--dir PATH]`: the kill -9 crash loop (`wal-crash` of
//!   wal-testkit, in release mode), with a progress bar; prints a summary and fails on any
//!   lost acknowledged entry (`crash --help` lists its options).
//! - `torture --power-losses N --kill-rounds M [--seed S] [--dir PATH]`: the simulated
//!   power-loss campaign over the whole API (every crash mode, every backend), then the
//!   kill -9 loop, in release mode; prints a summary and fails on any violation.
//! - `package [CRATE...] [--no-verify]`: `cargo package` for the named crates (default:
//!   every publishable crate) together with the workspace crates they depend on, each
//!   built from its `.crate`.
//! - `ci`: the checks CI runs (`.ci/run` calls the same commands).

#![allow(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

/// Project chores for the wal workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Runs the benchmarks in release mode (`cargo xtask bench --help` for wal-bench's own
    /// options: --smoke, --full, --dir, --filter, --backend, ...).
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed to wal-bench as they are.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Kills a writing child with SIGKILL N times and checks every acknowledged entry.
    #[command(disable_help_flag = true)]
    Crash {
        /// Passed to `wal-crash loop` as they are: [--rounds N] [--seed S] [--dir PATH]
        /// [--max-delay-ms MS] (`cargo xtask crash --help` describes them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Simulated power losses over the whole API (every crash mode, every backend), then
    /// real kill -9 rounds, in release mode. Fails on any violation.
    Torture {
        /// Simulated power losses.
        #[arg(long, default_value_t = 1000)]
        power_losses: u64,
        /// Rounds of the kill -9 loop.
        #[arg(long, default_value_t = 30)]
        kill_rounds: u32,
        /// The campaign's seed (decimal or 0x-hex); a fresh one is drawn if absent.
        #[arg(long)]
        seed: Option<String>,
        /// Where the logs go (logs of failed runs are kept there).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// More options of `wal-torture` (--backend, --losses-per-run,
        /// --waive-known-defects; `cargo xtask torture -- --help` lists them).
        #[arg(last = true)]
        more: Vec<String>,
    },
    /// Packages crates as `cargo publish` would, and builds each from its `.crate`.
    ///
    /// A crate's workspace dependencies are packaged with it, in one `cargo package` call,
    /// so that the set a release publishes is checked together.
    Package {
        /// Packages to package (default: every publishable one).
        crates: Vec<String>,
        /// Skip building each package from its `.crate`.
        #[arg(long)]
        no_verify: bool,
    },
    /// fmt, clippy and tests, as CI runs them.
    Ci,
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench { args } => run_all(&bench(&args)),
        Task::Crash { args } => run_all(&crash(&args)),
        Task::Torture {
            power_losses,
            kill_rounds,
            seed,
            dir,
            more,
        } => {
            let mut args = vec![
                "--power-losses".to_owned(),
                power_losses.to_string(),
                "--kill-rounds".to_owned(),
                kill_rounds.to_string(),
            ];
            if let Some(seed) = seed {
                args.extend(["--seed".to_owned(), seed]);
            }
            if let Some(dir) = dir {
                args.extend(["--dir".to_owned(), dir.display().to_string()]);
            }
            args.extend(more);
            run_all(&torture(&args))
        }
        Task::Package { crates, no_verify } => {
            match workspace_graph().and_then(|graph| package_args(&graph, &crates, no_verify)) {
                Ok(args) => run_all(&[args]),
                Err(e) => {
                    eprintln!("xtask package: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Task::Ci => ci(),
    }
}

/// The workspace's packages as `cargo metadata` sees them: (name, publishable, the
/// workspace packages it depends on outside dev-dependencies).
type Graph = Vec<(String, bool, Vec<String>)>;

fn workspace_graph() -> Result<Graph, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed something else than JSON: {e}"))?;
    graph_of(&meta)
}

/// The [`Graph`] of `cargo metadata --no-deps` output.
fn graph_of(meta: &serde_json::Value) -> Result<Graph, String> {
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata lists no packages")?;
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    Ok(packages
        .iter()
        .map(|p| {
            // `publish = false` is an empty list of registries.
            let publishable = p["publish"].as_array().is_none_or(|r| !r.is_empty());
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .filter(|n| names.contains(n))
                .map(str::to_owned)
                .collect();
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            (name, publishable, deps)
        })
        .collect())
}

/// `cargo package` with `crates` (default: every publishable package) and the workspace
/// packages they need.
fn package_args(graph: &Graph, crates: &[String], no_verify: bool) -> Result<Vec<String>, String> {
    let mut todo: Vec<String> = if crates.is_empty() {
        graph
            .iter()
            .filter(|(_, publishable, _)| *publishable)
            .map(|(n, _, _)| n.clone())
            .collect()
    } else {
        crates.to_vec()
    };
    let mut chosen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        let Some((_, publishable, deps)) = graph.iter().find(|(n, _, _)| *n == name) else {
            return Err(format!("no package {name:?} in the workspace"));
        };
        if !publishable {
            return Err(format!("{name} is not published (`publish = false`)"));
        }
        if chosen.insert(name) {
            todo.extend(deps.iter().cloned());
        }
    }
    let mut args = vec!["package".to_owned()];
    for name in chosen {
        args.extend(["-p".to_owned(), name]);
    }
    if no_verify {
        args.push("--no-verify".to_owned());
    }
    Ok(args)
}

/// The release binary `bin` of `package`, with `features`: built first with cargo's
/// progress shown (a first release build takes minutes, and a silent one looks hung),
/// then run with `args` without cargo's chatter.
fn build_then_run(
    package: &str,
    bin: &str,
    features: Option<&str>,
    args: &[String],
) -> [Vec<String>; 2] {
    let mut target = vec!["-p".to_owned(), package.to_owned()];
    if let Some(f) = features {
        target.extend(["--features".to_owned(), f.to_owned()]);
    }
    target.extend(["--bin".to_owned(), bin.to_owned()]);
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let build = [owned(&["build", "--release"]), target.clone()].concat();
    let run = [
        owned(&["run", "--release", "--quiet"]),
        target,
        owned(&["--"]),
        args.to_vec(),
    ]
    .concat();
    [build, run]
}

/// `cargo xtask bench ARGS`.
fn bench(args: &[String]) -> [Vec<String>; 2] {
    build_then_run("wal-bench", "wal-bench", None, args)
}

/// `cargo xtask crash ARGS`: `wal-crash loop ARGS`.
fn crash(args: &[String]) -> [Vec<String>; 2] {
    let args = [&["loop".to_owned()][..], args].concat();
    build_then_run(TESTKIT, "wal-crash", Some("torture"), &args)
}

/// `cargo xtask torture ...`: `wal-torture ARGS`, with every backend the platform has,
/// so that the campaign covers each.
fn torture(args: &[String]) -> [Vec<String>; 2] {
    let features = if cfg!(target_os = "linux") {
        "torture,mmap,uring"
    } else {
        "torture,mmap"
    };
    build_then_run(TESTKIT, "wal-torture", Some(features), args)
}

/// The package of `wal-testkit/` (published as `topicwal-testkit`).
const TESTKIT: &str = "topicwal-testkit";

/// Runs each cargo command in turn, stopping at the first failure.
fn run_all(steps: &[Vec<String>]) -> ExitCode {
    for step in steps {
        let code = cargo(&strs(step));
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    ExitCode::SUCCESS
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Task, clap::Error> {
        Cli::try_parse_from([&["cargo xtask"][..], args].concat()).map(|c| c.task)
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn package_takes_workspace_dependencies_but_not_dev_ones_nor_unpublished_crates() {
        let meta = serde_json::json!({"packages": [
            {"name": "core", "publish": null, "dependencies": [
                {"name": "std-backend", "kind": "dev"}, {"name": "thiserror", "kind": null}]},
            {"name": "std-backend", "publish": null, "dependencies": [
                {"name": "core", "kind": null}]},
            {"name": "facade", "publish": null, "dependencies": [
                {"name": "std-backend", "kind": null}, {"name": "testkit", "kind": "dev"}]},
            {"name": "bench", "publish": [], "dependencies": [{"name": "facade", "kind": null}]},
        ]});
        let graph = graph_of(&meta).unwrap();
        assert_eq!(
            graph[2],
            ("facade".to_owned(), true, vec!["std-backend".to_owned()])
        );
        assert_eq!(
            graph[0].2,
            Vec::<String>::new(),
            "dev and foreign deps left out"
        );
        assert!(!graph[3].1, "publish = false");
        let args = |crates: &[&str]| package_args(&graph, &owned(crates), false);
        assert_eq!(
            args(&["facade"]).unwrap(),
            owned(&["package", "-p", "core", "-p", "facade", "-p", "std-backend"])
        );
        assert_eq!(args(&[]).unwrap(), args(&["facade"]).unwrap());
        assert_eq!(args(&["core"]).unwrap(), owned(&["package", "-p", "core"]));
        assert!(args(&["bench"]).unwrap_err().contains("not published"));
        assert!(args(&["nope"]).unwrap_err().contains("no package"));
    }

    #[test]
    fn help_is_help() {
        for args in [&["--help"][..], &["-h"], &["help"], &["help", "crash"]] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(e.exit_code(), 0, "{args:?}");
        }
        let e = parse(&["torture", "--help"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisplayHelp);
    }

    #[test]
    fn crash_and_bench_pass_their_arguments_on_help_included() {
        let Task::Crash { args } = parse(&["crash", "--help"]).unwrap() else {
            panic!("not crash");
        };
        assert_eq!(args, owned(&["--help"]));
        let Task::Crash { args } = parse(&["crash", "--rounds", "5", "--seed", "7"]).unwrap()
        else {
            panic!("not crash");
        };
        assert_eq!(args, owned(&["--rounds", "5", "--seed", "7"]));
        let Task::Bench { args } = parse(&["bench", "--smoke", "--dir", "d"]).unwrap() else {
            panic!("not bench");
        };
        assert_eq!(args, owned(&["--smoke", "--dir", "d"]));
    }

    #[test]
    fn builds_show_progress_and_runs_use_the_same_target() {
        let [build, run] = crash(&owned(&["--help"]));
        assert_eq!(
            build,
            owned(&[
                "build",
                "--release",
                "-p",
                "topicwal-testkit",
                "--features",
                "torture",
                "--bin",
                "wal-crash"
            ])
        );
        assert_eq!(
            run,
            owned(&[
                "run",
                "--release",
                "--quiet",
                "-p",
                "topicwal-testkit",
                "--features",
                "torture",
                "--bin",
                "wal-crash",
                "--",
                "loop",
                "--help"
            ])
        );
        for [build, run] in [
            bench(&owned(&["--smoke"])),
            torture(&owned(&["--kill-rounds", "1"])),
        ] {
            assert!(!build.contains(&"--quiet".to_owned()), "{build:?}");
            let dashes = run.iter().position(|a| a == "--").unwrap();
            assert_eq!(build[2..], run[3..dashes], "{build:?} / {run:?}");
        }
    }
}
