//! `wal append`: appends one argument, or entries read from standard input (lines, all of
//! it, or length-prefixed frames), durably.

use std::io::{BufRead, Read, Write};

use wal::{Backend, FsyncSchedule, Wal};

use crate::cli::{AppendArgs, InputFormat};
use crate::error::{wal_error, CliError, CliResult, OK};
use crate::logdir;

/// Opens the log with `SyncEach`, appends, prints each offset once durable, closes.
pub fn run(args: &AppendArgs) -> CliResult {
    let dir = &args.dir;
    let argument = args.data.as_deref().filter(|&d| d != "-");
    if let (Some(_), Some(format)) = (argument, args.format) {
        return Err(CliError::Unusable(format!(
            "--format {} describes standard input, but DATA was given as an argument \
             (it is appended as one entry); leave out DATA, or use `-`, to read standard \
             input",
            format_name(format)
        )));
    }
    if !args.create {
        logdir::require_log(dir, true)?;
    }
    let mut builder = Wal::builder()
        .dir(dir)
        .backend(Backend::Std)
        .fsync(FsyncSchedule::SyncEach)
        .segment_size(logdir::segment_size(dir, args.segment_size));
    if let Some(max) = args.max_entry_size {
        let max = usize::try_from(max)
            .map_err(|_| CliError::Unusable(format!("--max-entry-size {max} is too large")))?;
        builder = builder.max_entry_size(max);
    }
    let wal = builder.open().map_err(|e| wal_error(dir, &e))?;
    let mut printer = Printer { live: true };
    let appended = match argument {
        Some(data) => append(&wal, args, data.as_bytes(), &mut printer).map(|o| vec![o]),
        None => {
            let mut input = std::io::stdin().lock();
            let mut appender = Appender {
                wal: &wal,
                args,
                printer: &mut printer,
                offsets: Vec::new(),
            };
            let result = match args.format.unwrap_or(InputFormat::Lines) {
                InputFormat::Lines => appender.lines(&mut input),
                InputFormat::Raw => appender.raw(&mut input),
                InputFormat::Len32 => appender.len32(&mut input),
            };
            match result {
                Ok(()) => Ok(appender.offsets),
                Err(e) => {
                    report(args, &appender.offsets);
                    Err(e)
                }
            }
        }
    };
    let closed = wal.close().map_err(|e| wal_error(dir, &e));
    let offsets = appended?;
    closed?;
    report(args, &offsets);
    Ok(OK)
}

fn format_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Lines => "lines",
        InputFormat::Raw => "raw",
        InputFormat::Len32 => "len32",
    }
}

/// Says on standard error what was appended.
fn report(args: &AppendArgs, offsets: &[u64]) {
    match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => eprintln!(
            "wal: appended {} entr{} to {:?} (offsets {first}..={last}), durable",
            offsets.len(),
            if offsets.len() == 1 { "y" } else { "ies" },
            args.topic
        ),
        _ => eprintln!("wal: nothing was appended (standard input held no entry)"),
    }
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
        .map_err(|e| match e {
            wal::Error::EntryTooLarge { .. } => CliError::Unusable(format!(
                "{}: {e} (`--max-entry-size` raises the limit, up to what a segment holds)",
                args.dir.display()
            )),
            other => wal_error(&args.dir, &other),
        })?;
    printer.offset(offset)?;
    Ok(offset)
}

/// Appends entries read from standard input, one at a time as they arrive.
struct Appender<'a> {
    wal: &'a Wal,
    args: &'a AppendArgs,
    printer: &'a mut Printer,
    offsets: Vec<u64>,
}

fn read_error(e: std::io::Error) -> CliError {
    CliError::Unusable(format!("reading standard input: {e}"))
}

impl Appender<'_> {
    fn push(&mut self, data: &[u8]) -> CliResult<()> {
        let offset = append(self.wal, self.args, data, self.printer)?;
        self.offsets.push(offset);
        Ok(())
    }

    /// Each line (without `\n` or `\r\n`) is one entry.
    fn lines(&mut self, input: &mut impl BufRead) -> CliResult<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
                return Ok(());
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            self.push(&line)?;
        }
    }

    /// All of the input is one entry (an empty input too).
    fn raw(&mut self, input: &mut impl Read) -> CliResult<()> {
        let mut data = Vec::new();
        input.read_to_end(&mut data).map_err(read_error)?;
        self.push(&data)
    }

    /// Frames of a u32 little-endian length and that many bytes.
    fn len32(&mut self, mut input: impl Read) -> CliResult<()> {
        let mut frame = Vec::new();
        loop {
            let mut prefix = [0u8; 4];
            let got = read_full(&mut input, &mut prefix).map_err(read_error)?;
            match got {
                0 => return Ok(()),
                4 => {}
                n => {
                    return Err(CliError::Unusable(format!(
                        "standard input ended inside the length of frame {} ({n} of 4 bytes)",
                        self.offsets.len() + 1
                    )))
                }
            }
            let len = u32::from_le_bytes(prefix);
            frame.clear();
            // Grows as bytes arrive: a bogus length in a short input allocates nothing.
            let got = (&mut input)
                .take(u64::from(len))
                .read_to_end(&mut frame)
                .map_err(read_error)?;
            if got < len as usize {
                return Err(CliError::Unusable(format!(
                    "standard input ended inside frame {} ({got} of {len} bytes)",
                    self.offsets.len() + 1
                )));
            }
            self.push(&frame)?;
        }
    }
}

/// Reads until `buf` is full or the input ends; returns the count.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match input.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
