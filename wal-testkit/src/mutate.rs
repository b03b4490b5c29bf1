//! Damage to the bytes on disk: seeded, composable [`Mutation`]s of a log directory's
//! segment files, and [`CountingBackend`], a decorator that records how much recovery reads.
//!
//! A fuzzer draws a few mutations, applies them to a copy of a real log with
//! [`apply_all`], and runs recovery on the result. Each mutation names its target loosely
//! (the n-th segment modulo the count, a position modulo the file's length), so any drawn
//! value applies to any directory; [`Mutation::apply`] returns what it actually did, in
//! words, so that a failing case can be replayed and understood. A mutation is plain data
//! (`Debug`, `Clone`, `Eq`): a regression test replays a fixed list.
//!
//! ```
//! use wal_testkit::mutate::{apply_all, Mutation, Seg};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("00000000000000000001.wal"), [7u8; 100]).unwrap();
//! let done = apply_all(dir.path(), &[
//!     Mutation::Truncate { seg: Seg::Last, to: 89 },
//!     Mutation::FlipBits { seg: Seg::Nth(0), at: 3, mask: 0x10 },
//! ]).unwrap();
//! assert_eq!(done.len(), 2);
//! let bytes = std::fs::read(dir.path().join("00000000000000000001.wal")).unwrap();
//! assert_eq!((bytes.len(), bytes[3]), (89, 7 ^ 0x10));
//! ```

use std::any::Any;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wal_core::format::{
    align_up, encode_record, encode_segment_header, RecordFields, RecordKind, RECORD_ALIGN,
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use wal_core::segment::{parse_segment_file_name, segment_file_name};
use wal_core::{Backend, Flusher, SequentialFlusher, Storage};

/// Which segment a mutation targets, resolved against the segments present when it is
/// applied (sorted by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    /// The `n`-th segment, modulo the number of segments.
    Nth(usize),
    /// The segment with the highest id (where a torn tail may lie).
    Last,
}

/// How far the length field of a hostile record header reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileLen {
    /// To the end of the file from the first hostile position: the payload fits, so a
    /// reader that trusts the field checksums that many bytes.
    ToEnd,
    /// A fixed length.
    Fixed(u32),
}

/// What fills the bytes an [`Mutation::Extend`] adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Zeros, by `set_len`: a sparse extension, cheap at any size.
    Zeros,
    /// Pseudo-random bytes from this seed (written, so keep it small).
    Garbage(u64),
}

/// One change to the segment files of a log directory. Positions and lengths are resolved
/// against the target file when applied, as documented on each variant, so every value is
/// valid for every directory. A mutation whose target does not exist does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// XOR the byte at `at % len` with `mask` (1 when `mask` is 0).
    FlipBits {
        /// The file.
        seg: Seg,
        /// Byte position, modulo the file length.
        at: u64,
        /// Bits to flip.
        mask: u8,
    },
    /// Overwrite up to `len` bytes from `at % len` with pseudo-random bytes (never past
    /// the end of the file).
    Garbage {
        /// The file.
        seg: Seg,
        /// Start, modulo the file length.
        at: u64,
        /// Bytes to overwrite.
        len: u64,
        /// Seed of the bytes.
        seed: u64,
    },
    /// Zero up to `len` bytes from `at % len` (never past the end of the file): a lost
    /// page reads back as zeros.
    Zero {
        /// The file.
        seg: Seg,
        /// Start, modulo the file length.
        at: u64,
        /// Bytes to zero.
        len: u64,
    },
    /// Cut the file to `to` bytes if it is longer (any length: a multiple of 8 or not).
    Truncate {
        /// The file.
        seg: Seg,
        /// New length.
        to: u64,
    },
    /// Make the file `by` bytes longer.
    Extend {
        /// The file.
        seg: Seg,
        /// Bytes to add.
        by: u64,
        /// What the new bytes hold.
        fill: Fill,
    },
    /// Copy segment `id` over segment `id + 1` (creating it if `id` is the last), with the
    /// copy's header rewritten to say `id + 1` when `fix_header` is set.
    DuplicateAsNext {
        /// The segment copied.
        seg: Seg,
        /// Rewrite the copy's segment header to match its new name.
        fix_header: bool,
    },
    /// Exchange the contents of two segments (nothing when both name the same one), with
    /// both headers rewritten to match their new names when `fix_headers` is set.
    Swap {
        /// One segment.
        a: Seg,
        /// The other.
        b: Seg,
        /// Rewrite both segment headers to match their new names.
        fix_headers: bool,
    },
    /// Remove the file.
    Delete {
        /// The file.
        seg: Seg,
    },
    /// Write record headers that decode (known kind, known or unknown flags) at `count`
    /// positions every `stride` 8-byte words from `at % len` (rounded up to a multiple of
    /// 8, at least 32), each claiming a payload of `len` bytes, with checksums that do not
    /// match. With `stride` 1 or 2 the headers overlap, so the region is an 8-byte word
    /// repeated: then *every* 8-byte position in it decodes as such a header (the shape
    /// that makes a scanner which checksums every candidate quadratic).
    HostileHeaders {
        /// The file.
        seg: Seg,
        /// Start, modulo the file length.
        at: u64,
        /// How many headers.
        count: u32,
        /// Distance between two headers in 8-byte words (0 is taken as 1).
        stride: u8,
        /// Record kind byte (1..=5 are the known kinds).
        kind: u8,
        /// Flags byte (0..=3 are the known flags).
        flags: u8,
        /// The length field.
        len: HostileLen,
    },
    /// Write a record with a valid checksum for its segment at `at % len` (rounded up to a
    /// multiple of 8, at least 32), cut at the end of the file. It is well formed, so
    /// whatever it claims is what a reader finds: choose it with care if the test checks
    /// that nothing is invented.
    Forge {
        /// The file.
        seg: Seg,
        /// Position, modulo the file length.
        at: u64,
        /// Record kind.
        kind: RecordKind,
        /// Flags byte (written as is).
        flags: u8,
        /// Topic id.
        topic: u32,
        /// Offset field (48 bits are kept).
        offset: u64,
        /// Synced watermark field.
        synced: u32,
        /// Payload.
        payload: Vec<u8>,
    },
}

/// Applies `mutations` in order to the segment files in `dir`, and returns what each one
/// did.
pub fn apply_all(dir: &Path, mutations: &[Mutation]) -> io::Result<Vec<String>> {
    mutations.iter().map(|m| m.apply(dir)).collect()
}

/// The segment files in `dir` (regular files with a segment's name), sorted by id.
pub fn segment_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(id) = entry.file_name().to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            out.push((id, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Mutation {
    /// Applies the mutation to the segment files in `dir`; returns what was done, with
    /// positions resolved, for a failure message.
    pub fn apply(&self, dir: &Path) -> io::Result<String> {
        let segs = segment_files(dir)?;
        let pick = |s: Seg| -> Option<(u64, PathBuf)> {
            match s {
                _ if segs.is_empty() => None,
                Seg::Nth(n) => Some(segs[n % segs.len()].clone()),
                Seg::Last => segs.last().cloned(),
            }
        };
        let Some((id, path)) = pick(self.target()) else {
            return Ok(format!("{self:?}: no segment, nothing done"));
        };
        let name = segment_file_name(id);
        let file = || OpenOptions::new().read(true).write(true).open(&path);
        let len = fs::metadata(&path)?.len();
        // Byte positions in an empty file: nothing to do for in-place changes.
        let start = |at: u64| if len == 0 { None } else { Some(at % len) };
        Ok(match self {
            Self::FlipBits { at, mask, .. } => {
                let Some(pos) = start(*at) else {
                    return Ok(format!("flip bits: {name} is empty, nothing done"));
                };
                let mask = if *mask == 0 { 1 } else { *mask };
                let mut f = file()?;
                let mut b = [0u8];
                f.seek(SeekFrom::Start(pos))?;
                f.read_exact(&mut b)?;
                write_at(&f, pos, &[b[0] ^ mask])?;
                format!("flip bits {mask:#04x} of byte {pos} of {name} ({len} bytes)")
            }
            Self::Garbage {
                at, len: n, seed, ..
            } => {
                let Some(pos) = start(*at) else {
                    return Ok(format!("garbage: {name} is empty, nothing done"));
                };
                let n = (*n).min(len - pos);
                write_at(&file()?, pos, &random_bytes(*seed, n as usize))?;
                format!(
                    "write garbage over {pos}..{} of {name} ({len} bytes)",
                    pos + n
                )
            }
            Self::Zero { at, len: n, .. } => {
                let Some(pos) = start(*at) else {
                    return Ok(format!("zero: {name} is empty, nothing done"));
                };
                let n = (*n).min(len - pos);
                write_at(&file()?, pos, &vec![0u8; n as usize])?;
                format!("zero {pos}..{} of {name} ({len} bytes)", pos + n)
            }
            Self::Truncate { to, .. } => {
                let to = (*to).min(len);
                file()?.set_len(to)?;
                format!("truncate {name} from {len} to {to} bytes")
            }
            Self::Extend { by, fill, .. } => {
                let f = file()?;
                match fill {
                    Fill::Zeros => f.set_len(len + by)?,
                    Fill::Garbage(seed) => write_at(&f, len, &random_bytes(*seed, *by as usize))?,
                }
                format!("extend {name} from {len} by {by} bytes of {fill:?}")
            }
            Self::DuplicateAsNext { fix_header, .. } => {
                let to = dir.join(segment_file_name(id + 1));
                fs::copy(&path, &to)?;
                if *fix_header {
                    rewrite_header(&to, id + 1)?;
                }
                format!(
                    "copy {name} over {} (header rewritten: {fix_header})",
                    segment_file_name(id + 1)
                )
            }
            Self::Swap { b, fix_headers, .. } => {
                let (id_b, path_b) = pick(*b).unwrap_or_else(|| (id, path.clone()));
                if id_b == id {
                    return Ok(format!("swap {name} with itself: nothing done"));
                }
                let tmp = dir.join("swap-in-progress.tmp");
                fs::rename(&path, &tmp)?;
                fs::rename(&path_b, &path)?;
                fs::rename(&tmp, &path_b)?;
                if *fix_headers {
                    rewrite_header(&path, id)?;
                    rewrite_header(&path_b, id_b)?;
                }
                format!(
                    "swap {name} and {} (headers rewritten: {fix_headers})",
                    segment_file_name(id_b)
                )
            }
            Self::Delete { .. } => {
                fs::remove_file(&path)?;
                format!("delete {name}")
            }
            Self::HostileHeaders {
                at,
                count,
                stride,
                kind,
                flags,
                len: claim,
                ..
            } => {
                let Some(region) = record_start(start(*at), len) else {
                    return Ok(format!("hostile headers: {name} too short, nothing done"));
                };
                let bytes = hostile_headers(region, len, *count, *stride, *kind, *flags, *claim);
                write_at(&file()?, region, &bytes)?;
                format!(
                    "hostile headers (kind {kind}, flags {flags:#x}, {claim:?}) every {} bytes \
                     over {region}..{} of {name} ({len} bytes)",
                    u64::from((*stride).max(1)) * RECORD_ALIGN as u64,
                    region + bytes.len() as u64
                )
            }
            Self::Forge {
                at,
                kind,
                flags,
                topic,
                offset,
                synced,
                payload,
                ..
            } => {
                let Some(pos) = record_start(start(*at), len) else {
                    return Ok(format!("forge: {name} too short, nothing done"));
                };
                let mut rec = Vec::new();
                let offset = offset & wal_core::format::MAX_RECORD_OFFSET;
                encode_record(
                    &mut rec,
                    id,
                    RecordFields::new(*kind, *topic, offset)
                        .with_flags(*flags)
                        .with_synced(*synced),
                    payload,
                );
                rec.truncate((len - pos) as usize);
                write_at(&file()?, pos, &rec)?;
                format!(
                    "forge a valid {kind:?} record (flags {flags:#x}, topic {topic}, offset \
                     {offset}, synced {synced}, {} payload bytes) at {pos}..{} of {name}",
                    payload.len(),
                    pos + rec.len() as u64
                )
            }
        })
    }

    /// The segment the mutation acts on (for a swap, the first of the two).
    fn target(&self) -> Seg {
        match self {
            Self::FlipBits { seg, .. }
            | Self::Garbage { seg, .. }
            | Self::Zero { seg, .. }
            | Self::Truncate { seg, .. }
            | Self::Extend { seg, .. }
            | Self::DuplicateAsNext { seg, .. }
            | Self::Delete { seg }
            | Self::HostileHeaders { seg, .. }
            | Self::Forge { seg, .. } => *seg,
            Self::Swap { a, .. } => *a,
        }
    }
}

/// A record position at or after `pos`: a multiple of 8, past the segment header, with
/// room for a record header before `len`.
fn record_start(pos: Option<u64>, len: u64) -> Option<u64> {
    let pos = (align_up(pos? as usize) as u64).max(SEGMENT_HEADER_LEN as u64);
    (pos + RECORD_HEADER_LEN as u64 <= len).then_some(pos)
}

/// The bytes of [`Mutation::HostileHeaders`] from `region` on, cut at the end of the file.
fn hostile_headers(
    region: u64,
    file_len: u64,
    count: u32,
    stride: u8,
    kind: u8,
    flags: u8,
    claim: HostileLen,
) -> Vec<u8> {
    let claim = match claim {
        HostileLen::ToEnd => {
            let room = file_len.saturating_sub(region + RECORD_HEADER_LEN as u64);
            u32::try_from(room).unwrap_or(u32::MAX)
        }
        HostileLen::Fixed(n) => n,
    };
    let stride = usize::from(stride.max(1)) * RECORD_ALIGN;
    let span = (count.max(1) as usize - 1) * stride + RECORD_HEADER_LEN;
    let span = span.min((file_len - region) as usize);
    let mut out = vec![0u8; span];
    if stride < RECORD_HEADER_LEN {
        // Overlapping headers: an 8-byte word [kind, flags, c, c, len] repeated reads, from
        // any 8-aligned position, as crc = word[0..4], len = word[4..8], kind = word[0],
        // flags = word[1] (bytes 8 and 9 of a header are byte 0 and 1 of the next word).
        let mut word = [kind, flags, 0xA5, 0x5A, 0, 0, 0, 0];
        word[4..].copy_from_slice(&claim.to_le_bytes());
        for (i, b) in out.iter_mut().enumerate() {
            *b = word[i % RECORD_ALIGN];
        }
    } else {
        let mut rng = XorShift((u64::from(claim) ^ region) | 1);
        for at in (0..span).step_by(stride) {
            let mut h = [0u8; RECORD_HEADER_LEN];
            h[0..4].copy_from_slice(&(rng.next() as u32).to_le_bytes());
            h[4..8].copy_from_slice(&claim.to_le_bytes());
            h[8] = kind;
            h[9] = flags;
            h[10..16].copy_from_slice(&rng.next().to_le_bytes()[..6]);
            h[16..20].copy_from_slice(&((rng.next() % 4) as u32).to_le_bytes());
            h[20..24].copy_from_slice(&(rng.next() as u32).to_le_bytes());
            let n = RECORD_HEADER_LEN.min(span - at);
            out[at..at + n].copy_from_slice(&h[..n]);
        }
    }
    out
}

/// Rewrites the segment header of `path` to name segment `id` (files shorter than a
/// header are left alone).
fn rewrite_header(path: &Path, id: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    if f.metadata()?.len() >= SEGMENT_HEADER_LEN as u64 {
        write_at(&f, 0, &encode_segment_header(id))?;
    }
    Ok(())
}

/// Writes all of `bytes` at `pos` (portable: no positional-I/O extension trait).
fn write_at(mut file: &File, pos: u64, bytes: &[u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(pos))?;
    file.write_all(bytes)
}

/// xorshift64: a tiny deterministic generator, so that a seed names the bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// What a [`CountingBackend`] saw, summed over every file it opened or created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// The largest buffer passed to one `read_at`: what one read needs in memory.
    pub largest: u64,
    /// Bytes returned by all `read_at` calls.
    pub total: u64,
    /// Number of `read_at` calls.
    pub calls: u64,
}

#[derive(Debug, Default)]
struct Counters {
    largest: AtomicU64,
    total: AtomicU64,
    calls: AtomicU64,
}

/// A decorator over any backend that counts reads, to check that recovery's memory does
/// not follow file size (the largest single read) and its reading is linear (the total)
/// without timing anything.
///
/// Its storages use the default [`SequentialFlusher`], since a backend's own flusher may
/// downcast storages to its own type; wrap backends whose storages sync themselves.
#[derive(Debug)]
pub struct CountingBackend {
    inner: Arc<dyn Backend>,
    counters: Arc<Counters>,
}

impl CountingBackend {
    /// Wraps `inner`, with all counts at zero.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> ReadCounts {
        ReadCounts {
            largest: self.counters.largest.load(Ordering::Relaxed),
            total: self.counters.total.load(Ordering::Relaxed),
            calls: self.counters.calls.load(Ordering::Relaxed),
        }
    }

    fn wrap(&self, inner: Arc<dyn Storage>) -> Arc<dyn Storage> {
        Arc::new(CountingStorage {
            inner,
            counters: self.counters.clone(),
        })
    }
}

impl Backend for CountingBackend {
    fn name(&self) -> &str {
        "counting"
    }

    fn create(&self, path: &Path, len: u64) -> io::Result<Arc<dyn Storage>> {
        Ok(self.wrap(self.inner.create(path, len)?))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn Storage>> {
        Ok(self.wrap(self.inner.open(path)?))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn flusher(&self) -> Arc<dyn Flusher> {
        Arc::new(SequentialFlusher)
    }
}

#[derive(Debug)]
struct CountingStorage {
    inner: Arc<dyn Storage>,
    counters: Arc<Counters>,
}

impl Storage for CountingStorage {
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, buf)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let c = &self.counters;
        c.largest.fetch_max(buf.len() as u64, Ordering::Relaxed);
        c.calls.fetch_add(1, Ordering::Relaxed);
        let n = self.inner.read_at(offset, buf)?;
        c.total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn sync(&self) -> io::Result<()> {
        self.inner.sync()
    }

    fn sync_range(&self, range: Range<u64>) -> io::Result<()> {
        self.inner.sync_range(range)
    }

    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.raw_fd()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, id: u64, bytes: &[u8]) -> PathBuf {
        let p = dir.join(segment_file_name(id));
        fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn targets_resolve_modulo_and_empty_dirs_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mutation::Delete { seg: Seg::Last };
        assert!(m.apply(dir.path()).unwrap().contains("nothing done"));
        file(dir.path(), 3, &[1; 64]);
        file(dir.path(), 4, &[2; 64]);
        Mutation::Zero {
            seg: Seg::Nth(5),
            at: 64 + 60,
            len: 100,
        }
        .apply(dir.path())
        .unwrap();
        let four = fs::read(dir.path().join(segment_file_name(4))).unwrap();
        assert_eq!((&four[..60], &four[60..]), (&[2u8; 60][..], &[0u8; 4][..]));
    }

    #[test]
    fn swap_and_duplicate_rewrite_headers_on_request() {
        let dir = tempfile::tempdir().unwrap();
        file(
            dir.path(),
            1,
            &[&encode_segment_header(1)[..], &[1; 8]].concat(),
        );
        file(
            dir.path(),
            2,
            &[&encode_segment_header(2)[..], &[2; 8]].concat(),
        );
        let swap = Mutation::Swap {
            a: Seg::Nth(0),
            b: Seg::Last,
            fix_headers: true,
        };
        swap.apply(dir.path()).unwrap();
        let one = fs::read(dir.path().join(segment_file_name(1))).unwrap();
        assert_eq!(one, [&encode_segment_header(1)[..], &[2; 8]].concat());
        let dup = Mutation::DuplicateAsNext {
            seg: Seg::Last,
            fix_header: false,
        };
        dup.apply(dir.path()).unwrap();
        let three = fs::read(dir.path().join(segment_file_name(3))).unwrap();
        assert_eq!(three, [&encode_segment_header(2)[..], &[1; 8]].concat());
    }

    #[test]
    fn overlapping_hostile_headers_decode_at_every_word() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), 1, &[0; 4096]);
        Mutation::HostileHeaders {
            seg: Seg::Last,
            at: 40,
            count: 100,
            stride: 1,
            kind: 1,
            flags: 2,
            len: HostileLen::ToEnd,
        }
        .apply(dir.path())
        .unwrap();
        let bytes = fs::read(p).unwrap();
        for pos in (40..40 + 99 * 8).step_by(8) {
            let h = wal_core::format::decode_header(&bytes[pos..]).unwrap();
            assert_eq!((h.kind, h.flags), (RecordKind::Entry, 2), "at {pos}");
            assert_eq!(u64::from(h.len), 4096 - 40 - 24, "at {pos}");
        }
    }

    #[test]
    fn forged_records_validate_in_their_segment() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), 9, &[0; 256]);
        Mutation::Forge {
            seg: Seg::Last,
            at: 33,
            kind: RecordKind::Cursor,
            flags: 0,
            topic: 0,
            offset: 5,
            synced: 0,
            payload: b"reader".to_vec(),
        }
        .apply(dir.path())
        .unwrap();
        let bytes = fs::read(p).unwrap();
        let (h, payload) = wal_core::format::decode_record(&bytes[40..], 9).unwrap();
        assert_eq!(
            (h.kind, h.flags, h.offset, payload),
            (RecordKind::Cursor, 0, 5, &b"reader"[..])
        );
    }

    #[test]
    fn counting_backend_sees_every_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(dir.path(), 1, &[5; 1000]);
        let b = CountingBackend::new(Arc::new(wal_backend_std::StdBackend::default()));
        let s = b.open(&p).unwrap();
        let mut buf = vec![0u8; 600];
        assert_eq!(s.read_at(0, &mut buf).unwrap(), 600);
        assert_eq!(s.read_at(600, &mut buf).unwrap(), 400);
        let c = b.counts();
        assert_eq!((c.largest, c.total, c.calls), (600, 1000, 2));
    }
}
