//! `wal append`: appends one argument, or each line of standard input, durably.

use std::io::{BufRead, Write};

use wal::{Backend, FsyncSchedule, Wal};

use crate::cli::AppendArgs;
use crate::error::{wal_error, CliError, CliResult, OK};
use crate::logdir;

/// Opens the log with `SyncEach`, appends, prints each offset once durable, closes.
pub fn run(args: &AppendArgs) -> CliResult {
    let dir = &args.dir;
    let wal = Wal::builder()
        .dir(dir)
        .backend(Backend::Std)
        .fsync(FsyncSchedule::SyncEach)
        .segment_size(logdir::segment_size(dir, args.segment_size))
        .open()
        .map_err(|e| wal_error(dir, &e))?;
    let mut printer = Printer { live: true };
    let appended = match args.data.as_deref() {
        Some(data) if data != "-" => {
            append(&wal, args, data.as_bytes(), &mut printer).map(|o| vec![o])
        }
        _ => append_lines(&wal, args, &mut printer),
    };
    let closed = wal.close().map_err(|e| wal_error(dir, &e));
    let offsets = appended?;
    closed?;
    match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => eprintln!(
            "wal: appended {} entr{} to {:?} (offsets {first}..={last}), durable",
            offsets.len(),
            if offsets.len() == 1 { "y" } else { "ies" },
            args.topic
        ),
        _ => eprintln!("wal: nothing to append (standard input was empty)"),
    }
    Ok(OK)
}

/// Prints offsets until standard output is closed; appending goes on regardless.
struct Printer {
    live: bool,
}

impl Printer {
    fn offset(&mut self, offset: u64) -> CliResult<()> {
        if !self.live {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{offset}").and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) => match CliError::from(e) {
                CliError::OutputClosed => {
                    self.live = false;
                    Ok(())
                }
                other => Err(other),
            },
        }
    }
}

fn append(wal: &Wal, args: &AppendArgs, data: &[u8], printer: &mut Printer) -> CliResult<u64> {
    let offset = wal
        .append_for_topic(&args.topic, data)
        .map_err(|e| wal_error(&args.dir, &e))?;
    printer.offset(offset)?;
    Ok(offset)
}

/// Appends each line of standard input (without `\n` or `\r\n`) as it arrives.
fn append_lines(wal: &Wal, args: &AppendArgs, printer: &mut Printer) -> CliResult<Vec<u64>> {
    let mut input = std::io::stdin().lock();
    let mut offsets = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::Unusable(format!("reading standard input: {e}")))?;
        if n == 0 {
            return Ok(offsets);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        offsets.push(append(wal, args, &line, printer)?);
    }
}
