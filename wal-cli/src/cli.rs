//! The command line: every command, its arguments, and the help text with examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Look inside a `wal` log directory: statistics, entries, checks and repairs.
///
/// `stats`, `dump`, `verify` and `tail` never change the log and never take its lock, so
/// they work while another process has the log open. `repair` and `append` open the log,
/// which takes its lock: they refuse while another process holds it.
#[derive(Debug, Parser)]
#[command(name = "wal", version, after_help = EXAMPLES_MAIN)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// Never draw progress bars (they are drawn on standard error, only when it is a
    /// terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

const EXAMPLES_MAIN: &str = "\
Examples:
  wal stats /var/lib/myapp/wal
  wal dump /var/lib/myapp/wal --topic orders --from 100 --limit 10
  wal verify /var/lib/myapp/wal && echo clean
  wal repair /var/lib/myapp/wal --mode point-in-time
  wal tail /var/lib/myapp/wal orders
  printf 'one\\ntwo\\n' | wal append /var/lib/myapp/wal orders

Exit status:
  0  success (for `verify`: the log is clean)
  1  the log is damaged or has a torn tail, and `wal repair` can fix it
  2  the log cannot be used, or another error (see `wal help verify`)";

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Topics, entries and bytes per topic, segments, cursors and consumers with their
    /// lag, and what retention could reclaim.
    #[command(after_help = STATS_HELP)]
    Stats(StatsArgs),
    /// Print entries with their offset, size, segment and position.
    #[command(after_help = DUMP_HELP)]
    Dump(DumpArgs),
    /// Check every record's checksum and the log's structure, changing nothing.
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Cut a torn tail, or set damaged data aside, keeping a copy of what is removed.
    #[command(after_help = REPAIR_HELP)]
    Repair(RepairArgs),
    /// Print entries of a topic as they are appended (polls the log read-only).
    #[command(after_help = TAIL_HELP)]
    Tail(TailArgs),
    /// Append each line of standard input (or one argument) to a topic, durably.
    #[command(after_help = APPEND_HELP)]
    Append(AppendArgs),
}

const STATS_HELP: &str = "\
Reads the log without changing it and without taking its lock. `lag` is how many
entries a cursor has not read yet; \"reclaimable\" lists the segments every cursor has
passed (what retention would delete, size and age policies aside).

Examples:
  wal stats /var/lib/myapp/wal
  wal stats /var/lib/myapp/wal --json | jq '.topics[].entries'

Exit status: 0, or 2 when the log cannot be read. A damaged log is described up to the
damage, with a warning; run `wal verify` for the details.";

/// Arguments of `wal stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

const DUMP_HELP: &str = "\
Prints one line per entry: `topic:offset size=N segment=ID position=P` and the payload,
as a quoted, escaped string when it is printable UTF-8, else as `hex` digits. With
`--json`, one JSON object per line: {\"topic\", \"offset\", \"size\", \"segment\",
\"position\", and \"data\" (text) or \"hex\"}. Without `--topic`, every topic is dumped
in turn, and `--from` and `--limit` apply to each. Reads the log without changing it and
without taking its lock; entries are shown as recovery would keep them.

Examples:
  wal dump /var/lib/myapp/wal
  wal dump /var/lib/myapp/wal --topic orders --from 1000 --limit 20
  wal dump /var/lib/myapp/wal --topic orders --json | jq -r .data

Exit status: 0, or 2 when the log cannot be read.";

/// Arguments of `wal dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// Only this topic (default: every topic, in creation order).
    #[arg(long, short)]
    pub topic: Option<String>,
    /// The first offset to print (default: the oldest retained).
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Print at most this many entries (per topic).
    #[arg(long)]
    pub limit: Option<u64>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

const VERIFY_HELP: &str = "\
Scans every segment exactly as recovery would when the log is opened, checking every
record's checksum, the segment headers, batches, offsets and topic definitions, and
reports what it finds with the file and byte offset. It changes nothing and does not
take the log's lock; on a log another process is writing, the record being written at
that instant can show as a torn tail.

A torn tail is a write that was cut short by a crash: recovery cuts it when the log is
next opened (it was never acknowledged as durable), so it is reported as exit status 1
with the bytes recovery would cut. Damage is a bad record where the log was known to be
durable: opening the log refuses it until `wal repair --mode point-in-time` sets it
aside.

Examples:
  wal verify /var/lib/myapp/wal
  wal verify /var/lib/myapp/wal || wal repair /var/lib/myapp/wal

Exit status:
  0  clean: recovery would open the log without cutting or refusing anything
  1  a torn tail (\"recovery will cut N bytes at FILE:OFFSET\"), never-written segments
     recovery would remove, or damage (its kind, file and offset); `wal repair` fixes it
  2  unusable: the directory is missing, unreadable or holds no segment, or a segment
     is a foreign file, has an unsupported format version or a destroyed header
     (`wal repair` cannot fix those: move the file away by hand)";

/// Arguments of `wal verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log directory.
    pub dir: PathBuf,
}

const REPAIR_HELP: &str = "\
Opens the log (which takes its lock: it refuses while another process has the log open)
and lets recovery fix it, keeping a copy of everything it removes beside the log in a
`*.damaged` file. Then prints the entries per topic before and after, and the files set
aside.

  --mode cut-tail        (default) cut a torn tail, saving the cut bytes in
                         `<segment>.from-<offset>.damaged`. Refuses (exit 1) if the log
                         has damage beyond a torn tail.
  --mode point-in-time   keep the log up to the first damage; the damaged bytes go to
                         `<segment>.from-<offset>.damaged` and every later segment is
                         renamed to `<segment>.damaged`.

Examples:
  wal repair /var/lib/myapp/wal
  wal repair /var/lib/myapp/wal --mode point-in-time
  wal repair /var/lib/myapp/wal --mode point-in-time --dry-run

Exit status:
  0  the log is clean (repaired, or nothing to do)
  1  refused: the damage needs `--mode point-in-time`
  2  the log is locked by another process, cannot be used, or repair failed";

/// Arguments of `wal repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// What to do with damage.
    #[arg(long, value_enum, default_value_t = RepairMode::CutTail)]
    pub mode: RepairMode,
    /// Say what would be done, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How `wal repair` treats damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepairMode {
    /// Cut a torn tail only; refuse any other damage.
    CutTail,
    /// Keep the log up to the first damage; set the rest aside.
    PointInTime,
}

const TAIL_HELP: &str = "\
Prints the entries of TOPIC appended from now on (or from `--from`), in the format of
`wal dump`, until interrupted. It reads the log without taking its lock, so it follows a
log another process is writing: it re-reads the log every `--interval` milliseconds
(the library's blocking `read_next_blocking` only wakes readers inside the writing
process). Each poll reads every segment: on a large log, choose a longer interval.

Examples:
  wal tail /var/lib/myapp/wal orders
  wal tail /var/lib/myapp/wal orders --from 0 --json

Exit status: runs until interrupted; 2 when the log cannot be read at the start.";

/// Arguments of `wal tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The topic to follow (it may not exist yet).
    pub topic: String,
    /// Start at this offset (default: the topic's next offset, i.e. only new entries).
    #[arg(long)]
    pub from: Option<u64>,
    /// How often to look for new entries, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// One JSON object per line, as `wal dump --json`.
    #[arg(long)]
    pub json: bool,
}

const APPEND_HELP: &str = "\
Opens the log (creating it if the directory holds none) with every append synced
(`SyncEach`), appends DATA as one entry, or each line of standard input as one entry
(without its line ending) when DATA is absent or `-`, prints the offset of each entry
once it is durable, and closes the log. Opening takes the log's lock: it refuses while
another process has the log open.

Examples:
  wal append /var/lib/myapp/wal orders 'order 42'
  printf 'one\\ntwo\\n' | wal append /var/lib/myapp/wal orders
  wal append /tmp/demo-log greetings hello --segment-size 1048576

Exit status: 0, or 2 on any error (locked, invalid topic, I/O).";

/// Arguments of `wal append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The topic (created on first use).
    pub topic: String,
    /// The entry to append; absent or `-`: each line of standard input.
    pub data: Option<String>,
    /// Segment size for a new log (an existing log keeps the size of its segments).
    #[arg(long, default_value_t = 64 << 20)]
    pub segment_size: u64,
}
