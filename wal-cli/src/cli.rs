//! The command line: every command, its arguments, and the help text with examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Look inside a `wal` log directory and administer it: statistics, entries, checks,
/// repairs, consumers, truncation and reclaiming.
///
/// `stats`, `dump`, `verify`, `tail` and the listing of `consumers` never change the log
/// and never take its lock, so they work while another process has the log open.
/// `repair`, `append`, `consumers reset`, `consumers delete`, `truncate` and `reclaim`
/// open the log, which takes its lock: they refuse while another process holds it.
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
  wal consumers /var/lib/myapp/wal
  wal consumers reset /var/lib/myapp/wal orders billing --to earliest
  wal truncate /var/lib/myapp/wal orders --before 1000
  wal reclaim /var/lib/myapp/wal
  wal completions bash > /etc/bash_completion.d/wal

Exit status:
  0  success (for `verify`: the log is clean)
  1  the log is damaged or has a torn tail, and `wal repair` can fix it
  2  the log cannot be used, or another error (see `wal help verify`)";

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Topics, entries and bytes per topic, segments, cursors and consumers with their
    /// lag, metadata keys, and what retention could reclaim.
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
    /// Print entries of a topic as they are appended (reads the log read-only).
    #[command(after_help = TAIL_HELP)]
    Tail(TailArgs),
    /// Append lines, length-prefixed frames or all of standard input (or one argument) to a
    /// topic, durably.
    #[command(after_help = APPEND_HELP)]
    Append(AppendArgs),
    /// List the named consumers with their position and lag; move or delete one.
    #[command(after_help = CONSUMERS_HELP)]
    Consumers(ConsumersArgs),
    /// Forget the entries of a topic below an offset, and delete the segments that frees.
    #[command(after_help = TRUNCATE_HELP)]
    Truncate(TruncateArgs),
    /// Delete the old segments that every cursor has passed, and say which.
    #[command(after_help = RECLAIM_HELP)]
    Reclaim(ReclaimArgs),
    /// Print a shell completion script for `wal`.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
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
    #[arg(long, short, value_parser = name)]
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
`wal dump`, until interrupted, `--count` entries were printed, or, with `-e`, the end of
what the log holds is reached. It reads the log without taking its lock, so it follows a
log another process is writing.

After one scan of the log at the start, it remembers a position (a segment and a byte
offset) and reads only the bytes appended after it, moving to the next segment when the
writer does and past segments deleted meanwhile (saying which offsets it missed). It
wakes on file-system events (inotify on Linux) and also looks every `--interval`
milliseconds, because inotify reports no write made through a memory map (the mmap
backend). With `--no-watch`, or where the events cannot be watched (it then says so), it
only looks at that interval. A look that finds nothing new reads a few dozen bytes.

  --from N    start at offset N
  --from -N   start N entries before the end (the last N entries)

Examples:
  wal tail /var/lib/myapp/wal orders
  wal tail /var/lib/myapp/wal orders --from 0 --json
  wal tail /var/lib/myapp/wal orders --from -10 -e
  wal tail /var/lib/myapp/wal orders --count 1

Exit status: 0 when it stops by itself (`-e`, `--count`) or its output is closed; runs
until interrupted otherwise; 2 when the log cannot be read.";

/// Arguments of `wal tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The topic to follow (it may not exist yet).
    #[arg(value_parser = name)]
    pub topic: String,
    /// Start at this offset, or `-N`: N entries before the end (default: the topic's next
    /// offset, i.e. only new entries).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_start)]
    pub from: Option<StartAt>,
    /// Exit after printing this many entries.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Exit once everything the log holds now is printed, instead of waiting for more.
    #[arg(short = 'e', long)]
    pub exit_at_end: bool,
    /// The longest wait between two looks at the log when no file-system event comes, in
    /// milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Do not watch for file-system events: only look every `--interval` milliseconds (for
    /// file systems whose events miss writes, such as network file systems).
    #[arg(long)]
    pub no_watch: bool,
    /// One JSON object per line, as `wal dump --json`.
    #[arg(long)]
    pub json: bool,
    /// At exit, print on standard error what the follower read (bytes, reads, looks) and
    /// how it was woken.
    #[arg(long, hide = true)]
    pub debug_stats: bool,
}

/// Where `wal tail` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At this offset.
    Offset(u64),
    /// This many entries before the topic's end.
    Last(u64),
}

/// Parses `N` or `-N` for `--from`.
fn parse_start(text: &str) -> Result<StartAt, String> {
    let (last, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not an offset (N) or a count from the end (-N)"))?;
    Ok(if last {
        StartAt::Last(n)
    } else {
        StartAt::Offset(n)
    })
}

const APPEND_HELP: &str = "\
Opens the log with every append synced (`SyncEach`), appends DATA as one entry, or the
entries read from standard input when DATA is absent or `-`, prints the offset of each
entry once it is durable, and closes the log. Opening takes the log's lock: it refuses
while another process has the log open.

Standard input is read as `--format`:
  lines   (default) each line is one entry, without its `\\n` or `\\r\\n`
  raw     all of standard input is one entry (binary data as it is)
  len32   frames of a 4-byte little-endian length followed by that many bytes, each one
          entry; input that ends inside a frame is an error (the entries before it stay)

A directory that holds no log is refused unless `--create` is given, so that a mistyped
path does not become a new log. Sizes take a unit: 65536, 64KiB, 4k, 1MiB, 1GiB (powers
of 1024), or 10MB (powers of 1000).

Examples:
  wal append /var/lib/myapp/wal orders 'order 42'
  printf 'one\\ntwo\\n' | wal append /var/lib/myapp/wal orders
  wal append /var/lib/myapp/wal images --format raw < photo.jpg
  wal append /tmp/demo-log greetings hello --create --segment-size 1MiB

Exit status: 0, or 2 on any error (no log without `--create`, locked, invalid topic,
truncated frame, I/O).";

/// Arguments of `wal append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The topic (created on first use).
    #[arg(value_parser = name)]
    pub topic: String,
    /// The entry to append; absent or `-`: entries read from standard input.
    pub data: Option<String>,
    /// How standard input is split into entries [default: lines].
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Create a new log if the directory does not hold one (creating the directory too).
    #[arg(long)]
    pub create: bool,
    /// Segment size for a new log (an existing log keeps the size of its segments).
    #[arg(long, default_value = "64MiB", value_parser = crate::size::parse_size)]
    pub segment_size: u64,
    /// The largest entry accepted [default: 16MiB, or less if a segment is smaller].
    #[arg(long, value_parser = crate::size::parse_size)]
    pub max_entry_size: Option<u64>,
}

/// How `wal append` splits standard input into entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Each line is one entry.
    Lines,
    /// All of standard input is one entry.
    Raw,
    /// Frames of a u32 little-endian length and that many bytes.
    Len32,
}

const CONSUMERS_HELP: &str = "\
`wal consumers DIR` lists every named consumer (a cursor created with
`Wal::consumer(topic, name)`) with the offset it reads next and its lag (the topic's
next offset minus that position). It reads the log without its lock, so it shows the
positions persisted in the log: a process that has the log open under `AtLeastOnce` may
be up to `persist_every` entries further. The shared cursor of `read_next` is not a named
consumer: `wal stats` shows it.

`reset` and `delete` open the log (which takes its lock: they refuse while another
process has it open) and change the named consumer durably:
  reset --to earliest   back to the oldest retained entry (all of it is read again)
  reset --to latest     to the topic's end (everything so far is skipped)
  reset --to N          to offset N (between the oldest retained offset and the end)
  delete                forget the consumer: it no longer holds back retention

Examples:
  wal consumers /var/lib/myapp/wal
  wal consumers /var/lib/myapp/wal --topic orders --json
  wal consumers reset /var/lib/myapp/wal orders billing --to 1000
  wal consumers delete /var/lib/myapp/wal orders old-reporting

Exit status: 0, or 2 on any error (no such topic or consumer, an offset out of range,
locked, I/O).";

/// Arguments of `wal consumers`: a directory to list, or an action.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ConsumersArgs {
    /// Move or delete a consumer (without one: list the consumers of DIR).
    #[command(subcommand)]
    pub action: Option<ConsumersAction>,
    /// The log directory.
    #[arg(required = true)]
    pub dir: Option<PathBuf>,
    /// Only the consumers of this topic.
    #[arg(long, short, value_parser = name)]
    pub topic: Option<String>,
    /// Print a JSON array of objects with "topic", "consumer", "position" and "lag".
    #[arg(long)]
    pub json: bool,
}

/// What `wal consumers` does to one consumer.
#[derive(Debug, Subcommand)]
pub enum ConsumersAction {
    /// Move a named consumer to another offset, durably.
    #[command(after_help = CONSUMERS_HELP)]
    Reset(ResetArgs),
    /// Delete a named consumer, durably.
    #[command(after_help = CONSUMERS_HELP)]
    Delete(ConsumerArgs),
}

/// A named consumer of a log.
#[derive(Debug, Args)]
pub struct ConsumerArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The topic.
    #[arg(value_parser = name)]
    pub topic: String,
    /// The consumer's name.
    #[arg(value_parser = name)]
    pub name: String,
}

/// Arguments of `wal consumers reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The consumer.
    #[command(flatten)]
    pub consumer: ConsumerArgs,
    /// Where to: an offset, `earliest` (the oldest retained entry) or `latest` (the end).
    #[arg(long, value_parser = parse_reset_to)]
    pub to: ResetTo,
}

/// The target of `wal consumers reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The oldest retained entry.
    Earliest,
    /// The topic's next offset.
    Latest,
    /// This offset.
    Offset(u64),
}

fn parse_reset_to(text: &str) -> Result<ResetTo, String> {
    match text {
        "earliest" => Ok(ResetTo::Earliest),
        "latest" => Ok(ResetTo::Latest),
        _ => text
            .parse()
            .map(ResetTo::Offset)
            .map_err(|_| format!("{text:?} is not an offset, `earliest` or `latest`")),
    }
}

const TRUNCATE_HELP: &str = "\
Opens the log (which takes its lock: it refuses while another process has it open) and
forgets the entries of TOPIC below `--before` (`Wal::truncate_before`), as a program that
tracks its own positions does after a snapshot. Reads of those offsets fail from then on,
and cursors below the offset move up to it. Then it deletes the segments every cursor has
now passed, as `wal reclaim` does, and prints each one removed. The truncation is durable
when the command ends.

Examples:
  wal truncate /var/lib/myapp/wal raft-log --before 5000

Exit status: 0, or 2 on any error (no such topic, an offset past the end, locked, I/O).";

/// Arguments of `wal truncate`.
#[derive(Debug, Args)]
pub struct TruncateArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The topic.
    #[arg(value_parser = name)]
    pub topic: String,
    /// The first offset to keep.
    #[arg(long)]
    pub before: u64,
}

const RECLAIM_HELP: &str = "\
Opens the log (which takes its lock: it refuses while another process has it open),
deletes every old segment whose entries every cursor of their topic has passed
(`Wal::reclaim`), closes the log and prints each segment file removed. The size and age
policies (`retain_bytes`, `retain_age`) are settings of the program that opens the log,
not stored in it, so `wal reclaim` applies neither. `wal stats` shows beforehand what is
reclaimable.

Examples:
  wal reclaim /var/lib/myapp/wal

Exit status: 0, or 2 on any error (locked, I/O).";

/// Arguments of `wal reclaim`.
#[derive(Debug, Args)]
pub struct ReclaimArgs {
    /// The log directory.
    pub dir: PathBuf,
}

const COMPLETIONS_HELP: &str = "\
Prints a completion script for SHELL on standard output: source it, or put it where your
shell loads completions from.

Examples:
  wal completions bash > ~/.local/share/bash-completion/completions/wal
  wal completions zsh > \"${fpath[1]}/_wal\"
  wal completions fish > ~/.config/fish/completions/wal.fish

Exit status: 0.";

/// Arguments of `wal completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Parses a topic or consumer name with the log's own rules, so that a name no topic or
/// consumer can have is a usage error (exit status 2) rather than an empty result.
fn name(s: &str) -> Result<String, String> {
    wal::validate_topic_name(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}
