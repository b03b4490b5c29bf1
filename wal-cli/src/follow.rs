//! Following one topic of a log another process is writing, by reading only the bytes
//! appended since the last look: the position is a segment and a byte offset in it.
//!
//! The follower reads segment files directly (read-only, no lock), decoding records with
//! the format of `wal_core::format`, and relies on two rules of the writer
//! (`docs/format.md`): records reach the file in append order, and a segment is complete
//! before any record is written to the next one. So when nothing valid follows the
//! position but the next segment holds a record, one more look at this segment is
//! definitive, and the follower moves on. A batch is delivered only once its last record
//! is there; until then the position stays at its first record.
//!
//! The segment being read may be deleted by retention meanwhile: the open handle still
//! reads it, and if the next segments are gone too the follower continues at the oldest
//! one left (the entries in between are reported as a gap). A file replaced under the
//! same name (recovery recreates an empty log's segment) is read again from its start.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use wal::inspect::EntryInfo;
use wal::segment::{list_segments, segment_file_name};
use wal_core::format::{
    decode_header, decode_record, RecordError, RecordHeader, RecordKind, FLAG_BATCH,
    FLAG_BATCH_END, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};

use crate::error::{CliError, CliResult};

/// What the follower found, in log order.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// An entry of the topic, at the next offset to show.
    Entry(EntryInfo),
    /// Entries `from..to` are gone (reclaimed or truncated) before they could be read.
    Gap {
        /// The first offset missed.
        from: u64,
        /// The offset read next.
        to: u64,
    },
    /// A segment that later ones prove complete holds bytes that are not a record: the
    /// rest of that segment is skipped.
    Damage(String),
    /// Entries `from..to`, some of them already shown, were removed by a suffix truncation
    /// (`Wal::truncate_from`): the entries that follow from `from` on replace them.
    Truncated {
        /// The first offset removed (the next one shown).
        from: u64,
        /// The offset the follower would have shown next.
        to: u64,
    },
}

/// Whether to go on after an entry was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop now (the caller has what it wanted).
    Stop,
}

/// What the follower read from the files, for `--debug-stats` and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes read from segment files.
    pub bytes: u64,
    /// Read calls.
    pub reads: u64,
    /// Calls of [`Follower::poll`].
    pub looks: u64,
}

/// A decoded record and where it was.
struct Record {
    pos: u64,
    header: RecordHeader,
    payload: Vec<u8>,
}

/// The next unit at the position: one record, or a whole batch.
enum Unit {
    Records(Vec<Record>, u64),
    /// Zeros, or the end of the file: nothing written yet.
    Nothing,
    /// Non-zero bytes that are not (yet) a valid record: one being written, a torn tail,
    /// or damage.
    Invalid(String),
}

/// The follower of one topic; see the module documentation.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    topic: String,
    /// Learned from the topic's definition (`TopicDef`) when it is read.
    topic_id: Option<u32>,
    /// The next offset to show.
    next: u64,
    seg: u64,
    pos: u64,
    current: Option<(File, Metadata)>,
    /// The next segment holds a record, so this one is complete.
    sealed: bool,
    stats: ReadStats,
}

impl Follower {
    /// A follower of `topic` in `dir` that starts reading segment `seg` at byte `pos` and
    /// shows entries from offset `next` on. `pos` must be a record boundary: the start of
    /// the records (32), or the end of the data found by a scan. The segment must hold the
    /// topic's definition before its first entry read, which holds for position 32 of any
    /// segment holding the topic's entries, and of the last segment if the topic exists.
    pub fn new(dir: &Path, topic: &str, seg: u64, pos: u64, next: u64) -> Self {
        Self {
            dir: dir.to_owned(),
            topic: topic.to_owned(),
            topic_id: None,
            next,
            seg,
            pos: pos.max(SEGMENT_HEADER_LEN as u64),
            current: None,
            sealed: false,
            stats: ReadStats::default(),
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Reads everything appended since the last call, handing `sink` what it finds, until
    /// nothing more is there or `sink` says stop.
    pub fn poll(&mut self, sink: &mut dyn FnMut(Seen) -> CliResult<Flow>) -> CliResult<Flow> {
        self.stats.looks += 1;
        loop {
            if self.current.is_none() && !self.open_current()? {
                return Ok(Flow::Continue);
            }
            match self.read_unit()? {
                Unit::Records(records, end) => {
                    self.pos = end;
                    for r in records {
                        if self.apply(r, sink)? == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                    }
                }
                Unit::Nothing | Unit::Invalid(_) if !self.sealed => {
                    if self.next_segment_started()? {
                        // Everything of this segment is in the file now: look once more.
                        self.sealed = true;
                        continue;
                    }
                    if self.current_replaced()? {
                        self.current = None;
                        self.pos = SEGMENT_HEADER_LEN as u64;
                        continue;
                    }
                    return Ok(Flow::Continue);
                }
                Unit::Nothing => self.enter(self.seg + 1),
                Unit::Invalid(reason) => {
                    let path = self.dir.join(segment_file_name(self.seg));
                    let what = format!(
                        "{}:{}: {reason}; the rest of that segment is skipped",
                        path.display(),
                        self.pos
                    );
                    if sink(Seen::Damage(what))? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                    self.enter(self.seg + 1);
                }
            }
        }
    }

    /// Moves to the start of segment `id` (opened when it is next read).
    fn enter(&mut self, id: u64) {
        self.seg = id;
        self.pos = SEGMENT_HEADER_LEN as u64;
        self.current = None;
        self.sealed = false;
    }

    /// Opens the current segment, or, if retention deleted it, the oldest later one.
    /// `false` when there is none yet.
    fn open_current(&mut self) -> CliResult<bool> {
        let path = self.dir.join(segment_file_name(self.seg));
        match open(&path) {
            Ok(opened) => {
                self.current = Some(opened);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.later_segment()? {
                Some(id) => {
                    self.enter(id);
                    self.open_current()
                }
                None => Ok(false),
            },
            Err(e) => Err(CliError::Unusable(format!("{}: {e}", path.display()))),
        }
    }

    /// The oldest segment after the current one, if any.
    fn later_segment(&self) -> CliResult<Option<u64>> {
        self.segment_after(self.seg)
    }

    /// The oldest segment after segment `id`, if any.
    fn segment_after(&self, id: u64) -> CliResult<Option<u64>> {
        let ids = list_segments(&self.dir)
            .map_err(|e| CliError::Unusable(format!("{}: {e}", self.dir.display())))?;
        Ok(ids.into_iter().find(|&later| later > id))
    }

    /// `true` once a later segment holds a record (or the next one is gone but a later
    /// one exists): then the writer has finished the current segment.
    fn next_segment_started(&mut self) -> CliResult<bool> {
        let next = self.seg + 1;
        let path = self.dir.join(segment_file_name(next));
        match open(&path) {
            Ok((file, _)) => {
                let mut header = [0u8; RECORD_HEADER_LEN];
                let at = SEGMENT_HEADER_LEN as u64;
                let n = read_counted(&mut self.stats, &file, &path, at, &mut header)?;
                Ok(n == header.len() && header.iter().any(|&b| b != 0))
            }
            // Deleted by retention, or not created yet. Only a segment after the next one
            // proves the writer moved on: the next one may have been created (pre-created,
            // still empty) between the open above and this listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Ok(self.segment_after(next)?.is_some())
            }
            Err(e) => Err(CliError::Unusable(format!("{}: {e}", path.display()))),
        }
    }

    /// `true` when the current segment's name now refers to another file (recovery removed
    /// a segment that never held a record and created it again).
    fn current_replaced(&self) -> CliResult<bool> {
        let Some((_, opened)) = &self.current else {
            return Ok(false);
        };
        let path = self.dir.join(segment_file_name(self.seg));
        match std::fs::metadata(&path) {
            Ok(now) => Ok(!same_file(opened, &now)),
            // Deleted by retention: the handle still reads it, and the next segment decides.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CliError::Unusable(format!("{}: {e}", path.display()))),
        }
    }

    /// Reads the record at the position, and the rest of its batch if it starts one.
    fn read_unit(&mut self) -> CliResult<Unit> {
        let mut records = Vec::new();
        let mut pos = self.pos;
        loop {
            let record = match self.read_record(pos)? {
                Ok(record) => record,
                // A batch without its last record is not there yet: nothing of it counts.
                Err(unit) => return Ok(unit),
            };
            pos += wal_core::format::record_size(record.payload.len()) as u64;
            let flags = record.header.flags;
            records.push(record);
            if flags & FLAG_BATCH == 0 || flags & FLAG_BATCH_END != 0 {
                return Ok(Unit::Records(records, pos));
            }
        }
    }

    /// The record at `pos` of the current segment, or what is there instead.
    fn read_record(&mut self, pos: u64) -> CliResult<Result<Record, Unit>> {
        let Some((file, _)) = &self.current else {
            return Ok(Err(Unit::Nothing));
        };
        let path = self.dir.join(segment_file_name(self.seg));
        let stats = &mut self.stats;
        let mut buf = vec![0u8; RECORD_HEADER_LEN];
        if read_counted(stats, file, &path, pos, &mut buf)? < RECORD_HEADER_LEN {
            return Ok(Err(Unit::Nothing)); // the end of the file
        }
        let header = match decode_header(&buf) {
            Ok(h) => h,
            Err(RecordError::Zero) => return Ok(Err(Unit::Nothing)),
            Err(e) => return Ok(Err(Unit::Invalid(describe(&e)))),
        };
        buf.resize(RECORD_HEADER_LEN + header.len as usize, 0);
        let rest = &mut buf[RECORD_HEADER_LEN..];
        let want = rest.len();
        if read_counted(stats, file, &path, pos + RECORD_HEADER_LEN as u64, rest)? < want {
            return Ok(Err(Unit::Invalid(
                "a record runs past the end of the file".into(),
            )));
        }
        match decode_record(&buf, self.seg) {
            Ok((header, payload)) => Ok(Ok(Record {
                pos,
                header,
                payload: payload.to_vec(),
            })),
            Err(e) => Ok(Err(Unit::Invalid(describe(&e)))),
        }
    }

    /// Learns the topic's id from its definition, and hands over its entries.
    fn apply(
        &mut self,
        r: Record,
        sink: &mut dyn FnMut(Seen) -> CliResult<Flow>,
    ) -> CliResult<Flow> {
        match r.header.kind {
            RecordKind::TopicDef if r.payload == self.topic.as_bytes() => {
                self.topic_id = Some(r.header.topic);
                // A definition states the topic's next offset when it was written: past
                // ours, the entries in between were in segments deleted before we got there.
                if r.header.offset > self.next {
                    let gap = Seen::Gap {
                        from: self.next,
                        to: r.header.offset,
                    };
                    self.next = r.header.offset;
                    return sink(gap);
                }
            }
            RecordKind::TruncateFrom
                if Some(r.header.topic) == self.topic_id && r.header.offset < self.next =>
            {
                let cut = Seen::Truncated {
                    from: r.header.offset,
                    to: self.next,
                };
                self.next = r.header.offset;
                return sink(cut);
            }
            RecordKind::Entry if Some(r.header.topic) == self.topic_id => {
                let offset = r.header.offset;
                if offset < self.next {
                    return Ok(Flow::Continue);
                }
                if offset > self.next {
                    let gap = Seen::Gap {
                        from: self.next,
                        to: offset,
                    };
                    self.next = offset;
                    if sink(gap)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                self.next = offset + 1;
                return sink(Seen::Entry(EntryInfo {
                    offset,
                    segment: self.seg,
                    position: r.pos,
                    data: r.payload,
                }));
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

/// Reads into `buf` at `offset` until it is full or the file ends, counting what was
/// read; returns the count.
fn read_counted(
    stats: &mut ReadStats,
    file: &File,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
) -> CliResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        stats.reads += 1;
        match read_at(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                stats.bytes += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CliError::Unusable(format!(
                    "reading {} at {}: {e}",
                    path.display(),
                    offset + done as u64
                )))
            }
        }
    }
    Ok(done)
}

fn describe(e: &RecordError) -> String {
    match e {
        RecordError::Checksum { expected, got } => {
            format!("checksum mismatch (stored {expected:#010x}, computed {got:#010x})")
        }
        RecordError::Malformed(why) | RecordError::Invalid(why) => why.clone(),
        other => format!("{other:?}"),
    }
}

/// Opens a segment read-only, with its metadata (to notice it being replaced).
fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

// The only platform-specific code of the follower: positional reads and file identity.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "positional reads are not implemented on this platform",
    ))
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    true // no cheap identity: a replaced segment is not noticed
}

#[cfg(test)]
mod tests;
