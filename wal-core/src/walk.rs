//! The segment walker: the one pass over a log directory that recovery and [`crate::inspect`]
//! share.
//!
//! It lists the segments, finds the last one holding data (trailing all-zero files were
//! created ahead of time and never written), checks ids for gaps and every header, and
//! scans each segment's records into a [`Replayer`]. Recovery acts on what it reports (cut,
//! zero, set aside); `inspect` only reports it.
//!
//! Everything is read through a [`Reader`]: a window of at most [`WINDOW`] bytes plus a
//! scratch buffer of the same size, whatever the size of the file or of a record's claimed
//! length. Work is linear in the bytes scanned: every record's checksum is computed once,
//! and the search for proof that damage is not a torn tail ([`durable_record_after`]) has a
//! checksum budget proportional to the file's size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::builder::{MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
use crate::error::{Error, Result};
use crate::format::{
    self, crc_append, decode_header, header_crc, record_size, HeaderError, RecordError,
    RecordHeader, RecordKind, FLAG_BATCH, FLAG_BATCH_END, RECORD_ALIGN, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use crate::replay::Replayer;
use crate::segment::{list_segments, segment_file_name};
use crate::storage::{read_exact_at, Backend, Storage};

/// The most bytes a [`Reader`] holds in one buffer.
pub(crate) const WINDOW: usize = 1 << 20;

/// What a scan read and checked: the evidence that recovery's work is linear in the bytes
/// scanned and its memory bounded (a fuzz test asserts both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanStats {
    /// Bytes read from segment files.
    pub bytes_read: u64,
    /// Bytes run through a record checksum.
    pub bytes_checksummed: u64,
    /// The largest single read, in bytes: bounded by the reader's window (1 MiB).
    pub largest_read: u64,
}

impl ScanStats {
    fn add(&mut self, other: &ScanStats) {
        self.bytes_read += other.bytes_read;
        self.bytes_checksummed += other.bytes_checksummed;
        self.largest_read = self.largest_read.max(other.largest_read);
    }
}

/// Reads one segment file through a bounded window.
pub(crate) struct Reader<'a> {
    storage: &'a dyn Storage,
    path: &'a Path,
    len: u64,
    /// `buf[..filled]` holds the file's bytes from `start`.
    buf: Vec<u8>,
    start: u64,
    filled: usize,
    /// For reads that must not move the window (checksums past it, backward scans).
    scratch: Vec<u8>,
    /// The end of the non-zero bytes from some position on, once computed.
    dirty_end: Option<(u64, Option<u64>)>,
    pub stats: ScanStats,
}

impl<'a> Reader<'a> {
    /// A reader of `storage`. A file larger than any segment is refused: positions in a
    /// segment are 32-bit.
    pub fn new(storage: &'a dyn Storage, path: &'a Path) -> Result<Self> {
        let len = storage
            .len()
            .map_err(|e| Error::io("stat", path, None, e))?;
        if len > MAX_SEGMENT_SIZE {
            return Err(Error::ForeignFile {
                path: path.to_owned(),
                reason: format!("{len} bytes, larger than any segment ({MAX_SEGMENT_SIZE})"),
            });
        }
        Ok(Self {
            storage,
            path,
            len,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            scratch: Vec::new(),
            dirty_end: None,
            stats: ScanStats::default(),
        })
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    fn read(
        storage: &dyn Storage,
        path: &Path,
        stats: &mut ScanStats,
        pos: u64,
        out: &mut [u8],
    ) -> Result<()> {
        stats.bytes_read += out.len() as u64;
        stats.largest_read = stats.largest_read.max(out.len() as u64);
        read_exact_at(storage, pos, out).map_err(|e| Error::io("read", path, Some(pos), e))
    }

    /// Reads `pos..pos + n` (`n` at most [`WINDOW`]) into the scratch buffer, which holds
    /// reads that must not move the window.
    fn read_scratch(&mut self, pos: u64, n: usize) -> Result<&[u8]> {
        if self.scratch.len() < n {
            self.scratch.resize(n, 0);
        }
        Self::read(
            self.storage,
            self.path,
            &mut self.stats,
            pos,
            &mut self.scratch[..n],
        )?;
        Ok(&self.scratch[..n])
    }

    /// The bytes at `pos..pos + n` (`n` at most [`WINDOW`]), fewer where the file ends.
    pub fn bytes(&mut self, pos: u64, n: usize) -> Result<&[u8]> {
        debug_assert!(n <= WINDOW);
        if pos >= self.len {
            return Ok(&[]);
        }
        let end = (pos + n as u64).min(self.len);
        let cached = pos >= self.start && end <= self.start + self.filled as u64;
        if !cached {
            let want = (self.len - pos).min(WINDOW as u64) as usize;
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            Self::read(
                self.storage,
                self.path,
                &mut self.stats,
                pos,
                &mut self.buf[..want],
            )?;
            self.start = pos;
            self.filled = want;
        }
        let from = (pos - self.start) as usize;
        Ok(&self.buf[from..from + (end - pos) as usize])
    }

    /// `true` if segment `id`'s header is missing, torn or garbled (all zero, short, bad
    /// magic or bad checksum; not another version or another id, which are foreign) and no
    /// valid record of the segment shows that a sync had covered it.
    /// A file shorter than the smallest segment was never made by the log (segment files
    /// are created at their full size): that is a foreign file, never a torn tail.
    /// `header` is the file's first bytes, as [`Reader::header`] returned them.
    pub fn header_never_durable(&mut self, id: u64, header: &[u8]) -> Result<bool> {
        if self.len < MIN_SEGMENT_SIZE {
            return Ok(false);
        }
        let torn = match format::decode_segment_header(header) {
            Ok(_) | Err(HeaderError::Version(_)) => false,
            Err(HeaderError::Zero | HeaderError::Foreign(_)) => true,
        };
        Ok(torn && !header_was_durable(self, id)?)
    }

    /// Folds the bytes `from..to` into `crc`, using the window where it holds them and the
    /// scratch buffer past it (so a long record does not move the window).
    fn crc(&mut self, mut crc: u32, mut from: u64, to: u64) -> Result<u32> {
        debug_assert!(to <= self.len);
        self.stats.bytes_checksummed += to.saturating_sub(from);
        let window_end = self.start + self.filled as u64;
        if from >= self.start && from < window_end {
            let upto = to.min(window_end);
            let a = (from - self.start) as usize;
            let b = (upto - self.start) as usize;
            crc = crc_append(crc, &self.buf[a..b]);
            from = upto;
        }
        while from < to {
            let n = ((to - from) as usize).min(WINDOW);
            crc = crc_append(crc, self.read_scratch(from, n)?);
            from += n as u64;
        }
        Ok(crc)
    }

    /// The 24 header bytes at `pos`, if the file holds them.
    fn header_bytes(&mut self, pos: u64) -> Result<Option<[u8; RECORD_HEADER_LEN]>> {
        let b = self.bytes(pos, RECORD_HEADER_LEN)?;
        Ok(b.try_into().ok())
    }

    /// Decodes and verifies the record at `pos` of segment `id`. The payload is returned
    /// for records that are not entries (names: at most 255 bytes); an entry's payload is
    /// only checksummed.
    pub fn record(
        &mut self,
        pos: u64,
        id: u64,
    ) -> Result<Result<(RecordHeader, Vec<u8>), RecordError>> {
        let Some(fixed) = self.header_bytes(pos)? else {
            return Ok(Err(RecordError::Truncated));
        };
        let h = match decode_header(&fixed) {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        let start = pos + RECORD_HEADER_LEN as u64;
        let end = start + u64::from(h.len);
        if pos + record_size(h.len as usize) as u64 > self.len {
            return Ok(Err(RecordError::Truncated));
        }
        let crc = self.crc(header_crc(id, &fixed), start, end)?;
        if crc != h.crc {
            return Ok(Err(RecordError::Checksum {
                expected: h.crc,
                got: crc,
            }));
        }
        let payload = if h.kind == RecordKind::Entry {
            Vec::new()
        } else {
            self.bytes(start, h.len as usize)?.to_vec()
        };
        Ok(Ok((h, payload)))
    }

    /// The position just past the last non-zero byte at or after `from`, if there is one.
    /// Reads backwards from the end of the file, a window at a time.
    pub fn last_nonzero(&mut self, from: u64) -> Result<Option<u64>> {
        if let Some((f, found)) = self.dirty_end {
            if f == from {
                return Ok(found);
            }
        }
        // Past the file system's last data region there is nothing but zeros: a segment
        // mostly never written is not read at all there.
        let zeros_from = self
            .storage
            .zeros_from()
            .map_err(|e| Error::io("find the end of data", self.path, None, e))?;
        let mut end = zeros_from.map_or(self.len, |z| z.min(self.len));
        let mut found = None;
        while end > from {
            let start = end.saturating_sub(WINDOW as u64).max(from);
            let n = (end - start) as usize;
            if let Some(i) = last_nonzero(self.read_scratch(start, n)?) {
                found = Some(start + i as u64);
                break;
            }
            end = start;
        }
        self.dirty_end = Some((from, found));
        Ok(found)
    }

    /// The segment header's bytes (fewer if the file is shorter).
    pub fn header(&mut self) -> Result<Vec<u8>> {
        Ok(self.bytes(0, SEGMENT_HEADER_LEN)?.to_vec())
    }

    /// `true` if segment `id` never took a record: every byte is zero, or the segment's
    /// own header (`header`, as [`Reader::header`] returned it) is followed by nothing but
    /// zeros (a segment made ahead of time). Stops at the first non-zero window, which for
    /// a written segment is its first. Windows start at 0, where the header's read left
    /// the window: each byte is read once.
    pub fn is_unwritten(&mut self, id: u64, header: &[u8]) -> Result<bool> {
        let own_header = check_header(header, id, self.path).is_ok();
        if !own_header && header.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        let mut pos = 0;
        while pos < self.len {
            let n = (self.len - pos).min(WINDOW as u64) as usize;
            let skip = SEGMENT_HEADER_LEN.saturating_sub(pos as usize).min(n);
            if self.bytes(pos, n)?[skip..].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            pos += n as u64;
        }
        Ok(true)
    }

    /// Copies `from..to` of this file into `out` at position 0, a window at a time.
    pub fn copy_to(
        &mut self,
        from: u64,
        to: u64,
        out: &dyn Storage,
        out_path: &Path,
    ) -> Result<()> {
        let mut pos = from;
        while pos < to {
            let n = ((to - pos) as usize).min(WINDOW);
            out.write_at(pos - from, self.read_scratch(pos, n)?)
                .map_err(|e| Error::io("save damaged data", out_path, Some(pos - from), e))?;
            pos += n as u64;
        }
        Ok(())
    }
}

/// The index just past the last non-zero byte of `buf`, if any. Checks 4 KiB blocks from
/// the end first (a loop the compiler vectorises), since segments end in long zero runs.
pub(crate) fn last_nonzero(buf: &[u8]) -> Option<usize> {
    const BLOCK: usize = 4096;
    let mut end = buf.len();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let block = &buf[start..end];
        if !block.iter().all(|&b| b == 0) {
            return block.iter().rposition(|&b| b != 0).map(|i| start + i + 1);
        }
        end = start;
    }
    None
}

/// Whether a later record proves that damage at some position had been made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// No record after the damage claims it was durable: it may be a torn tail.
    None,
    /// The valid record at this position says the file was durable past the damage.
    Found(u64),
    /// The search ran out of its linear budget (the tail holds very many record-like
    /// headers with long lengths): treated as damage, never silently cut.
    Undecided,
}

/// How the scan of one segment ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Records up to `end`, then never-written space.
    Clean { end: u64 },
    /// A torn tail: records up to `cut` are good, bytes in `cut..dirty_end` are debris.
    Torn { cut: u64, dirty_end: u64 },
    /// Damage at `pos` that is not a torn tail. Records before `cut` are whole (`cut` is
    /// before `pos` when the damage interrupts a batch, which then counts for nothing);
    /// `dirty_end` is past the last non-zero byte, as the scan found it (so that whoever
    /// sets the damage aside does not read the segment's tail again).
    Damage {
        pos: u64,
        cut: u64,
        dirty_end: u64,
        error: RecordError,
        proof: Proof,
    },
}

/// Scans the records of one segment into `replay`.
pub(crate) fn scan(
    r: &mut Reader<'_>,
    id: u64,
    is_last: bool,
    base_lsn: u64,
    replay: &mut Replayer,
) -> Result<Outcome> {
    let mut pos = SEGMENT_HEADER_LEN as u64;
    let mut batch_start = None;
    let err = loop {
        let (h, payload) = match r.record(pos, id)? {
            Ok(record) => record,
            Err(e) => break e,
        };
        // Positions fit in 32 bits: the reader refuses larger files.
        if let Err(reason) = replay.apply(id, base_lsn, pos as u32, &h, &payload) {
            return Ok(Outcome::Damage {
                pos,
                cut: batch_start.unwrap_or(pos),
                // The refused record itself is not zero, so there is a last non-zero byte.
                dirty_end: r.last_nonzero(pos)?.unwrap_or(pos),
                error: RecordError::Invalid(reason),
                proof: Proof::None,
            });
        }
        if h.flags & FLAG_BATCH != 0 {
            batch_start.get_or_insert(pos);
            if h.flags & FLAG_BATCH_END != 0 {
                batch_start = None;
            }
        }
        pos += record_size(h.len as usize) as u64;
    };
    let cut = batch_start.unwrap_or(pos);
    let Some(dirty_end) = r.last_nonzero(pos)? else {
        // Nothing but zeros from here (a full segment ends with `Truncated`). Clean end,
        // unless a batch is missing its last record.
        return Ok(match (batch_start, is_last) {
            (None, _) => Outcome::Clean { end: pos },
            (Some(_), true) => Outcome::Torn {
                cut,
                dirty_end: pos,
            },
            (Some(start), false) => Outcome::Damage {
                pos: start,
                cut: start,
                dirty_end: pos,
                error: RecordError::Invalid("a batch is missing its last record".into()),
                proof: Proof::None,
            },
        });
    };
    if !is_last {
        // Only the last segment can be torn: every earlier one was synced whole.
        return Ok(Outcome::Damage {
            pos,
            cut,
            dirty_end,
            error: err,
            proof: Proof::None,
        });
    }
    match durable_record_after(r, id, pos, dirty_end)? {
        Proof::None => Ok(Outcome::Torn { cut, dirty_end }),
        proof => Ok(Outcome::Damage {
            pos,
            cut,
            dirty_end,
            error: err,
            proof,
        }),
    }
}

/// Looks for a valid record past `pos` whose `synced` field says the segment was durable
/// beyond `pos` when it was written: proof that damage at `pos` is not a torn tail.
///
/// Every 8-byte position is a candidate. Its header is decoded (constant work); only a
/// header that could be such a proof (its `synced` is past `pos` and not past its own
/// position, as every real record's is) has its checksum computed, within a budget of
/// twice the file's size: a hostile tail of overlapping long "records" cannot make this
/// quadratic. Running out of budget counts as damage, so nothing is cut on a guess.
fn durable_record_after(r: &mut Reader<'_>, id: u64, pos: u64, dirty_end: u64) -> Result<Proof> {
    let mut budget = 2 * r.len() + WINDOW as u64;
    let mut q = pos + RECORD_ALIGN as u64;
    while q < dirty_end {
        let Some(fixed) = r.header_bytes(q)? else {
            break;
        };
        if let Ok(h) = decode_header(&fixed) {
            let synced = u64::from(h.synced);
            let fits = q + record_size(h.len as usize) as u64 <= r.len();
            if synced > pos && synced <= q && fits {
                let cost = u64::from(h.len);
                if cost > budget {
                    return Ok(Proof::Undecided);
                }
                budget -= cost;
                let start = q + RECORD_HEADER_LEN as u64;
                if r.crc(header_crc(id, &fixed), start, start + cost)? == h.crc {
                    return Ok(Proof::Found(q));
                }
            }
        }
        q += RECORD_ALIGN as u64;
    }
    Ok(Proof::None)
}

/// One step of a [`SegmentWalk`].
pub(crate) enum Step {
    /// Segment `missing` is absent: `later` are the ids after the gap, not scanned. The
    /// walk stops.
    Gap { missing: u64, later: Vec<u64> },
    /// The segment's header is refused (foreign file, unknown version, a lost header in a
    /// segment that is not the last). The walk stops.
    BadHeader {
        id: u64,
        path: PathBuf,
        len: u64,
        error: Error,
        /// The ids after it, not scanned.
        later: Vec<u64>,
    },
    /// A segment was scanned. After `Outcome::Damage` the walk stops.
    Segment(Scanned),
}

/// A segment file the walk opened.
pub(crate) struct SegmentFile {
    pub id: u64,
    pub path: PathBuf,
    pub storage: Arc<dyn Storage>,
    /// The file's length when it was opened.
    pub len: u64,
}

/// A scanned segment.
pub(crate) struct Scanned {
    pub file: SegmentFile,
    /// The LSN of the segment's byte 0: the lengths of the segments before it.
    pub base_lsn: u64,
    /// The format version in its header.
    pub version: u32,
    pub outcome: Outcome,
    /// The ids after this one, when the outcome is damage (they cannot be trusted).
    pub later: Vec<u64>,
}

/// A segment at the end of the log that never held an acknowledged record.
#[derive(Debug)]
pub(crate) struct Trailing {
    pub id: u64,
    pub path: PathBuf,
    pub len: u64,
    pub kind: TrailingKind,
}

/// Why a trailing segment never held an acknowledged record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrailingKind {
    /// Every byte is zero, or its own header is followed by nothing but zeros (made ahead
    /// of time, or the crash came before its first record): recovery removes it.
    Unwritten,
    /// Its header is zero, torn or garbled, and no valid record in it shows that a sync
    /// ever covered the header. A segment's header is made durable before its first
    /// record, so nothing in it was acknowledged: a torn tail as a whole. Recovery sets
    /// the file aside (it keeps the bytes, in case the file is not ours) rather than erase
    /// it.
    HeaderNeverDurable,
}

/// The walk over a log directory's segments, in id order, one open at a time.
pub(crate) struct SegmentWalk<'a> {
    dir: &'a Path,
    backend: &'a dyn Backend,
    /// Segments up to the last one holding data.
    ids: Vec<u64>,
    next: usize,
    base_lsn: u64,
    stopped: bool,
    /// Trailing segments that never held an acknowledged record, last first: the order to
    /// deal with them in.
    pub trailing: Vec<Trailing>,
    pub replay: Replayer,
    pub stats: ScanStats,
}

impl<'a> SegmentWalk<'a> {
    /// Lists `dir` and finds where the data ends.
    pub fn new(dir: &'a Path, backend: &'a dyn Backend) -> Result<Self> {
        let mut ids = list_segments(dir)?;
        let mut stats = ScanStats::default();
        let mut trailing = Vec::new();
        while let Some(&id) = ids.last() {
            let path = dir.join(segment_file_name(id));
            let storage = open(backend, &path)?;
            let mut r = Reader::new(&*storage, &path)?;
            let header = r.header()?;
            let kind = if r.is_unwritten(id, &header)? {
                TrailingKind::Unwritten
            } else if r.header_never_durable(id, &header)? {
                TrailingKind::HeaderNeverDurable
            } else {
                stats.add(&r.stats);
                break;
            };
            stats.add(&r.stats);
            let len = r.len();
            ids.pop();
            trailing.push(Trailing {
                id,
                path,
                len,
                kind,
            });
        }
        Ok(Self {
            dir,
            backend,
            ids,
            next: 0,
            base_lsn: 0,
            stopped: false,
            trailing,
            replay: Replayer::default(),
            stats,
        })
    }

    /// The next segment, or `None` at the end of the data (or after a step that stops).
    pub fn next_step(&mut self) -> Result<Option<Step>> {
        if self.stopped || self.next >= self.ids.len() {
            return Ok(None);
        }
        let i = self.next;
        let id = self.ids[i];
        self.next += 1;
        if i > 0 && id != self.ids[i - 1] + 1 {
            self.stopped = true;
            return Ok(Some(Step::Gap {
                missing: self.ids[i - 1] + 1,
                later: self.ids[i..].to_vec(),
            }));
        }
        let is_last = i + 1 == self.ids.len();
        let path = self.dir.join(segment_file_name(id));
        let storage = open(self.backend, &path)?;
        let mut r = Reader::new(&*storage, &path)?;
        let len = r.len();
        let header = r.header()?;
        self.replay.begin_segment();
        let (version, outcome) = match check_header(&header, id, &path) {
            Ok(version) => (
                version,
                scan(&mut r, id, is_last, self.base_lsn, &mut self.replay)?,
            ),
            Err(error) => {
                self.stats.add(&r.stats);
                self.stopped = true;
                return Ok(Some(Step::BadHeader {
                    id,
                    path: path.clone(),
                    len,
                    error,
                    later: self.ids[i + 1..].to_vec(),
                }));
            }
        };
        self.stats.add(&r.stats);
        let mut later = Vec::new();
        match &outcome {
            Outcome::Clean { .. } => {}
            Outcome::Torn { .. } => self.replay.discard_staged(),
            Outcome::Damage { .. } => {
                self.replay.discard_staged();
                self.stopped = true;
                later = self.ids[i + 1..].to_vec();
            }
        }
        let base_lsn = self.base_lsn;
        self.base_lsn += len;
        Ok(Some(Step::Segment(Scanned {
            file: SegmentFile {
                id,
                path,
                storage,
                len,
            },
            base_lsn,
            version,
            outcome,
            later,
        })))
    }
}

/// Whether a valid record of segment `id` says the segment had been synced past its start
/// (its `synced` field is not 0), which a sync could only do with the header on disk.
fn header_was_durable(r: &mut Reader<'_>, id: u64) -> Result<bool> {
    let Some(dirty_end) = r.last_nonzero(0)? else {
        return Ok(false);
    };
    Ok(durable_record_after(r, id, 0, dirty_end)? != Proof::None)
}

fn open(backend: &dyn Backend, path: &Path) -> Result<Arc<dyn Storage>> {
    backend
        .open(path)
        .map_err(|e| Error::io("open segment", path, None, e))
}

/// Checks the header bytes of segment `id`; returns its format version.
pub(crate) fn check_header(buf: &[u8], id: u64, path: &Path) -> Result<u32> {
    let header = format::decode_segment_header(buf).map_err(|e| match e {
        HeaderError::Zero => Error::Corrupt {
            path: path.to_owned(),
            offset: 0,
            reason: "segment header is missing (zeros) but the segment holds data".into(),
        },
        HeaderError::Foreign(reason) => Error::ForeignFile {
            path: path.to_owned(),
            reason,
        },
        HeaderError::Version(found) => Error::UnsupportedVersion {
            path: path.to_owned(),
            found,
            supported: format::FORMAT_VERSION,
        },
    })?;
    if header.id != id {
        return Err(Error::ForeignFile {
            path: path.to_owned(),
            reason: format!("its header says segment {}, its name says {id}", header.id),
        });
    }
    Ok(header.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_nonzero_finds_the_end_of_data() {
        assert_eq!(last_nonzero(&[]), None);
        assert_eq!(last_nonzero(&[0; 10_000]), None);
        for at in [0, 1, 4095, 4096, 9_999] {
            let mut buf = vec![0u8; 10_000];
            buf[at] = 1;
            assert_eq!(last_nonzero(&buf), Some(at + 1), "at {at}");
        }
    }
}
