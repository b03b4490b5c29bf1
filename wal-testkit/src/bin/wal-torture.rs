//! `wal-torture`: the simulated power-loss campaign (`wal_testkit::campaign`), then the
//! real kill -9 loop (`wal_testkit::crash`), with a summary; exits non-zero on any
//! violation. `cargo xtask torture` builds it in release mode and runs it.
//!
//! - `wal-torture [--power-losses N] [--kill-rounds M] [--seed S] [--dir PATH] [--backend B]`
//! - `wal-torture replay --run-seed X [--backend B]`: one run of a campaign again, printing
//!   its setup and every operation (the seed is in every violation's report).
//! - `wal-torture child DIR MODE`: the kill loop's child process (as `wal-crash child`).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program reports on stdout"
)]

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use wal_testkit::campaign::{self, CampaignConfig, InnerBackend, Report, RunSpec};
use wal_testkit::crash::{self, ChildMode, LoopOptions, LoopSummary};

/// Simulated power losses over the whole API of the log, then real kill -9 rounds.
#[derive(Debug, Parser)]
#[command(name = "wal-torture", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    torture: TortureArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one run of a campaign again, printing its setup and every operation.
    Replay(ReplayArgs),
    /// The kill loop's child: appends to the log in DIR until killed.
    #[command(hide = true)]
    Child {
        /// The log directory.
        dir: PathBuf,
        /// How to write (each, pipelined, batches, consume-strict, consume-at-least-once).
        mode: String,
    },
}

#[derive(Debug, Args)]
struct TortureArgs {
    /// Simulated power losses (every crash mode in turn).
    #[arg(long, default_value_t = 1000)]
    power_losses: u64,
    /// Rounds of the real kill -9 loop (0 to skip it).
    #[arg(long, default_value_t = 30)]
    kill_rounds: u32,
    /// The campaign's seed (decimal or 0x-hex); a fresh one is drawn and printed if absent.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Where the logs go (a temporary directory if absent). Logs of failed runs are kept.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Inner backend under the fault injector: std, mmap, uring, or all compiled in.
    #[arg(long, default_value = "all")]
    backend: String,
    /// Power losses per run before a fresh log starts.
    #[arg(long, default_value_t = 25)]
    losses_per_run: u64,
    /// Stop the campaign after this many violations (each run stops at its first).
    #[arg(long, default_value_t = 100)]
    max_failures: usize,
    /// Give up if no power loss completes for this many seconds (a hang), naming the run.
    #[arg(long, default_value_t = 300)]
    hang_after: u64,
    /// Count violations that match a known, open defect apart (listed, not failures).
    /// For CI while the defect is being fixed; a full run never uses it.
    #[arg(long)]
    waive_known_defects: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The run's seed, as the violation's report names it.
    #[arg(long, value_parser = parse_seed)]
    run_seed: u64,
    /// Inner backend.
    #[arg(long, default_value = "std")]
    backend: String,
    /// Power losses of the run (the campaign's `--losses-per-run`).
    #[arg(long, default_value_t = 25)]
    power_losses: u64,
    /// Index of the run in its campaign (it sets which crash mode comes first).
    #[arg(long, default_value_t = 0)]
    run: u64,
    /// Where the log goes (kept); a temporary directory if absent.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run it up to this many times, until the violation shows again: the operations
    /// are the same every time, their interleaving with the log's background thread is
    /// not.
    #[arg(long, default_value_t = 1)]
    attempts: u32,
    /// Leave out the injected I/O failures (to replay a run found before the campaign
    /// injected them).
    #[arg(long)]
    no_faults: bool,
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("{s:?} is not a seed: {e}"))
}

fn backends(arg: &str) -> Result<Vec<InnerBackend>, String> {
    if arg == "all" {
        return Ok(InnerBackend::ALL
            .into_iter()
            .filter(|b| b.is_compiled_in())
            .collect());
    }
    arg.split(',').map(str::parse).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Child { dir, mode }) => match mode.parse::<ChildMode>() {
            Ok(mode) => crash::child(&dir, mode).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Some(Command::Replay(args)) => replay(&args),
        None => torture(&cli.torture),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wal-torture: {e}");
            ExitCode::FAILURE
        }
    }
}

fn torture(args: &TortureArgs) -> Result<(), String> {
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let temp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let root = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    let mut cfg = CampaignConfig::new(seed, args.power_losses, InnerBackend::Std);
    cfg.backends = backends(&args.backend)?;
    cfg.losses_per_run = args.losses_per_run.max(1);
    cfg.dir = Some(root.join("campaign"));
    cfg.waive_known_defects = args.waive_known_defects;
    cfg.max_failures = args.max_failures;
    println!(
        "wal-torture: seed {seed:#x}, {} simulated power losses on {}, then {} kill -9 rounds",
        args.power_losses,
        cfg.backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", "),
        args.kill_rounds
    );
    let report = campaign_with_bar(&cfg, Duration::from_secs(args.hang_after.max(1)));
    print_campaign(&report);
    let kills = if args.kill_rounds > 0 {
        Some(kill_loop(&root.join("kill-loop"), args.kill_rounds, seed)?)
    } else {
        None
    };
    let kill_violations = kills.as_ref().map_or(0, |k| k.violations.len());
    println!(
        "wal-torture: seed {seed:#x}: {} power losses, {} kill -9 rounds, {} violations, {:.1?}",
        report.stats.power_losses,
        kills.as_ref().map_or(0, |k| k.rounds),
        report.violations() + kill_violations as u64,
        started.elapsed()
    );
    if report.is_clean() && kill_violations == 0 && report.stats.power_losses >= args.power_losses {
        Ok(())
    } else if report.is_clean() && kill_violations == 0 {
        Err(format!(
            "only {} of {} power losses ran",
            report.stats.power_losses, args.power_losses
        ))
    } else {
        Err("violations found (above)".into())
    }
}

fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs().wrapping_mul(1_000_003)
        ^ u64::from(now.subsec_nanos())
        ^ u64::from(std::process::id())
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn campaign_with_bar(cfg: &CampaignConfig, hang_after: Duration) -> Report {
    let bar = bar(
        cfg.power_losses,
        "{elapsed_precise} [{wide_bar}] {pos}/{len} power losses, {msg}",
    );
    let quiet = bar.is_hidden();
    let mut last_tenth = 0;
    // A hung log never returns to the campaign: a watchdog names the run and gives up.
    let (watch, alive) = std::sync::mpsc::channel::<u64>();
    let seed = cfg.seed;
    std::thread::spawn(move || {
        let mut run = 0;
        loop {
            match alive.recv_timeout(hang_after) {
                Ok(r) => run = r,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    println!(
                        "VIOLATION: seed {seed} run {run}: no power loss completed for {hang_after:?}: the log hangs [replay: wal-torture replay --run-seed {:#x} --run {run}]",
                        campaign::run_seed(seed, run)
                    );
                    std::process::exit(2);
                }
            }
        }
    });
    let report = campaign::run(cfg, &mut |p| {
        if watch.send(p.runs.saturating_sub(1)).is_err() {
            eprintln!("wal-torture: the watchdog is gone");
        }
        bar.set_position(p.power_losses);
        bar.set_message(format!(
            "{} entries checked, {} violations",
            p.entries_checked, p.violations
        ));
        // Without a terminal, a line every tenth of the way.
        let tenth = p.power_losses * 10 / p.power_losses_total.max(1);
        if quiet && tenth > last_tenth {
            last_tenth = tenth;
            println!(
                "  {}/{} power losses, {} entries checked, {} violations",
                p.power_losses, p.power_losses_total, p.entries_checked, p.violations
            );
        }
    });
    drop(watch);
    bar.finish_and_clear();
    report
}

fn print_campaign(r: &Report) {
    let s = &r.stats;
    let modes: Vec<String> = s
        .by_mode
        .iter()
        .map(|(m, n)| format!("{m:?} {n}"))
        .collect();
    println!(
        "campaign: {} runs, {} operations, {} power losses ({}), {} with the power cut inside an operation, {} process kills, {} clean reopens, {} segments deleted ({} by reclaim()), {} entries checked, {:.1?}",
        r.runs,
        s.ops,
        s.power_losses,
        modes.join(", "),
        s.cut_mid_operation,
        s.kills,
        s.clean_reopens,
        s.segments_deleted,
        s.segments_reclaimed,
        s.entries_checked,
        r.duration
    );
    println!(
        "campaign: {} suffix truncations undone by a crash, {} metadata values checked, {} on_durable callbacks told Ok",
        s.truncations_undone, s.meta_checked, s.durable_notices
    );
    let faults: Vec<String> = s
        .faults
        .iter()
        .map(|(k, f)| {
            format!(
                "{} {} ({} fired, {} poisoned, {} healthy)",
                k.name(),
                f.armed,
                f.fired,
                f.poisoned,
                f.healthy
            )
        })
        .collect();
    let total = s.faults_total();
    println!(
        "campaign: {} injected I/O faults armed, {} fired ({}), {} writes refused on a poisoned log",
        total.armed,
        total.fired,
        faults.join(", "),
        s.refused_writes
    );
    println!(
        "campaign: {} lost durable, {} invented, {} torn batches, {} cursors out of contract, {} retention out of contract, {} unopenable, {} unexpected",
        r.lost_durable, r.invented, r.torn_batches, r.cursor, r.retention, r.unopenable, r.unexpected
    );
    for skipped in &r.skipped_backends {
        println!("campaign: skipped {skipped}");
    }
    for (f, defect) in &r.waived {
        println!("KNOWN DEFECT (waived, {defect}): {f}");
    }
    for f in &r.failures {
        println!("VIOLATION: {f}");
    }
}

/// Kill -9 rounds per log: the loop checks every entry of its log after each kill, and
/// the log only grows, so one log for a thousand rounds would make the loop quadratic.
const ROUNDS_PER_LOG: u32 = 100;

fn kill_loop(dir: &Path, rounds: u32, seed: u64) -> Result<LoopSummary, String> {
    let spinner = bar(0, "{elapsed_precise} {spinner} kill -9 loop: {msg}");
    spinner.enable_steady_tick(Duration::from_millis(200));
    let child_exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut total = LoopSummary::default();
    let mut part = 0u64;
    while total.rounds < rounds {
        spinner.set_message(format!("{} of {rounds} rounds", total.rounds));
        let opts = LoopOptions {
            child_exe: child_exe.clone(),
            dir: dir.join(format!("log-{part}")),
            rounds: ROUNDS_PER_LOG.min(rounds - total.rounds),
            seed: seed.wrapping_add(part),
            max_delay: Duration::from_millis(150),
        };
        let done = total.rounds;
        let s = crash::run_loop_with_progress(&opts, &mut |p| {
            spinner.set_message(format!("{} of {rounds} rounds", done + p.rounds));
        })
        .map_err(|e| format!("kill -9 loop: {e}"))?;
        total.rounds += s.rounds;
        total.acks += s.acks;
        total.reads += s.reads;
        total.entries += s.entries;
        total.unacknowledged_survivors += s.unacknowledged_survivors;
        total
            .violations
            .extend(s.violations.into_iter().map(|v| format!("log {part}: {v}")));
        if total.violations.is_empty() {
            if let Err(e) = std::fs::remove_dir_all(&opts.dir) {
                eprintln!("wal-torture: could not remove {}: {e}", opts.dir.display());
            }
        }
        part += 1;
    }
    spinner.finish_and_clear();
    println!(
        "kill -9 loop: {} rounds over {part} logs, {} acknowledgements, {} deliveries, {} entries in the logs at the end, {} unacknowledged survivors, {} violations",
        total.rounds,
        total.acks,
        total.reads,
        total.entries,
        total.unacknowledged_survivors,
        total.violations.len()
    );
    for v in &total.violations {
        println!("VIOLATION: kill -9 loop: {v}");
    }
    Ok(total)
}

fn replay(args: &ReplayArgs) -> Result<(), String> {
    let backend: InnerBackend = args.backend.parse()?;
    let inner = backend.make()?;
    let temp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let root = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    for attempt in 1..=args.attempts.max(1) {
        let spec = RunSpec {
            run_seed: args.run_seed,
            power_losses: args.power_losses,
            modes: campaign::ALL_CRASH_MODES.to_vec(),
            first_mode: (args.run * args.power_losses) as usize,
            dir: root.join(format!("attempt-{attempt}")),
            inject_faults: !args.no_faults,
        };
        let outcome = campaign::run_one(&spec, inner.clone(), &mut |_| {});
        if attempt == 1 {
            println!("setup: {:?}", outcome.setup);
            for (i, op) in outcome.ops.iter().enumerate() {
                println!("{i:5} {op:?}");
            }
        }
        println!("attempt {attempt}: {:?}", outcome.stats);
        if let Some(v) = outcome.violation {
            println!("log kept in {}", spec.dir.display());
            std::mem::forget(temp);
            return Err(format!("VIOLATION: {v}"));
        }
        if let Err(e) = std::fs::remove_dir_all(&spec.dir) {
            eprintln!("wal-torture: could not remove {}: {e}", spec.dir.display());
        }
    }
    println!("no violation");
    Ok(())
}
