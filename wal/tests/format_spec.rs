//! An independent reader of the on-disk format, written from `docs/format.md` alone (not
//! from `wal-core`'s format, walk, replay or recovery code), run on logs the engine writes
//! through its public API: what the reader rebuilds from the files must be exactly what
//! the engine reports after it reopens them. If the document and the engine disagree, one
//! of the two is wrong, and this test says so.
//!
//! The reader is read-only: where recovery would remove, set aside or zero something, it
//! records what it would do, so the files can be handed to the engine afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wal::{FsyncSchedule, ReadConsistency, Wal, WalBuilder};

// ---------------------------------------------------------------------------------------
// The reader, from docs/format.md
// ---------------------------------------------------------------------------------------

const MAGIC: [u8; 8] = *b"\x89WALSEG\n";
const HEADER_LEN: usize = 32;
const RECORD_HEADER: usize = 24;
const SMALLEST_SEGMENT: u64 = 4096;
const LARGEST_SEGMENT: u64 = 4_294_963_200;
const MAX_SEGMENT_ID: u64 = (1 << 63) - 1;

const ENTRY: u8 = 1;
const TOPIC_DEF: u8 = 2;
const CURSOR: u8 = 3;
const SYNC_MARK: u8 = 4;
const TRUNCATE: u8 = 5;
const TRUNCATE_FROM: u8 = 6;
const META: u8 = 7;

const BATCH: u8 = 0b01;
const BATCH_END: u8 = 0b10;
const CURSOR_DELETE: u8 = 0b100;

const MAX_META_VALUE: usize = 65536;

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// `{id:020}.wal`: exactly 20 ASCII decimal digits, then `.wal`.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn segment_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// Topic and consumer names: 1 to 255 bytes of UTF-8, no NUL, `/` or `\`, not `.`/`..`.
fn valid_name(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let ok =
        (1..=255).contains(&s.len()) && !s.contains(['\0', '/', '\\']) && s != "." && s != "..";
    ok.then(|| s.to_string())
}

/// Why the reader refuses a log (the open fails, under `Strict`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    Foreign(PathBuf),
    Unsupported {
        path: PathBuf,
        found: u32,
    },
    /// Damage: the segment, the byte position, and whether it is a bad checksum of a
    /// record whose header is otherwise well formed.
    Damage {
        id: u64,
        at: u64,
        checksum: bool,
        why: String,
    },
}

/// One record, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    pos: u32,
    len: u32,
    kind: u8,
    flags: u8,
    offset: u64,
    topic: u32,
    synced: u32,
    payload: Vec<u8>,
}

enum Check {
    Valid(Rec),
    /// Well formed, but the crc differs.
    BadCrc,
    Invalid,
}

/// The kind's length limit: TopicDef and Cursor at most 255, Meta 65792, SyncMark,
/// Truncate and TruncateFrom 0; an Entry is limited only by the file.
fn len_limit(kind: u8) -> Option<usize> {
    match kind {
        ENTRY => Some(usize::MAX),
        TOPIC_DEF | CURSOR => Some(255),
        META => Some(1 + 255 + MAX_META_VALUE),
        SYNC_MARK | TRUNCATE | TRUNCATE_FROM => Some(0),
        _ => None,
    }
}

fn flags_allowed(kind: u8, flags: u8) -> bool {
    match kind {
        ENTRY => flags & !(BATCH | BATCH_END) == 0,
        CURSOR => flags & !CURSOR_DELETE == 0,
        _ => flags == 0,
    }
}

fn record_crc(seed_id: u64, header: &[u8], payload: &[u8]) -> u32 {
    let seed = crc32c::crc32c(&seed_id.to_le_bytes());
    let crc = crc32c::crc32c_append(seed, &header[4..24]);
    crc32c::crc32c_append(crc, payload)
}

fn check_record(b: &[u8], pos: usize, id: u64) -> Check {
    if pos + RECORD_HEADER > b.len() {
        return Check::Invalid;
    }
    let h = &b[pos..pos + RECORD_HEADER];
    if h.iter().all(|&x| x == 0) {
        return Check::Invalid;
    }
    let (len, kind, flags) = (u32_at(h, 4) as usize, h[8], h[9]);
    let Some(limit) = len_limit(kind) else {
        return Check::Invalid;
    };
    if !flags_allowed(kind, flags) || len > limit {
        return Check::Invalid;
    }
    let end = pos + align8(RECORD_HEADER + len);
    if end > b.len() {
        return Check::Invalid;
    }
    let payload = &b[pos + RECORD_HEADER..pos + RECORD_HEADER + len];
    if record_crc(id, h, payload) != u32_at(h, 0) {
        return Check::BadCrc;
    }
    let mut offset = [0u8; 8];
    offset[..6].copy_from_slice(&h[10..16]);
    Check::Valid(Rec {
        pos: pos as u32,
        len: len as u32,
        kind,
        flags,
        offset: u64::from_le_bytes(offset),
        topic: u32_at(h, 16),
        synced: u32_at(h, 20),
        payload: payload.to_vec(),
    })
}

fn valid_at(b: &[u8], pos: usize, id: u64) -> Option<Rec> {
    match check_record(b, pos, id) {
        Check::Valid(r) => Some(r),
        _ => None,
    }
}

/// What the header checks say.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    Valid {
        version: u32,
        id: u64,
    },
    Short,
    Zero,
    BadMagic,
    BadCrc,
    BadVersion(u32),
    /// A valid header whose header length is not 32.
    BadLength,
}

fn check_header(b: &[u8]) -> Header {
    if b.len() < HEADER_LEN {
        return Header::Short;
    }
    let h = &b[..HEADER_LEN];
    if h.iter().all(|&x| x == 0) {
        return Header::Zero;
    }
    if h[..8] != MAGIC {
        return Header::BadMagic;
    }
    if crc32c::crc32c(&h[..28]) != u32_at(h, 28) {
        return Header::BadCrc;
    }
    let version = u32_at(h, 8);
    if version != 1 && version != 2 {
        return Header::BadVersion(version);
    }
    if u32_at(h, 12) != HEADER_LEN as u32 {
        return Header::BadLength;
    }
    Header::Valid {
        version,
        id: u64_at(h, 16),
    }
}

/// One topic as a reader rebuilds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Topic {
    name: String,
    next: u64,
    entries: BTreeMap<u64, Vec<u8>>,
    /// By consumer name; `""` is the shared cursor.
    cursors: BTreeMap<String, u64>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl Topic {
    fn first(&self) -> u64 {
        self.entries.keys().next().copied().unwrap_or(self.next)
    }
}

/// An open batch: its topic, the position of its first record, its held-back entries.
#[derive(Debug, Clone)]
struct OpenBatch {
    topic: u32,
    start: u32,
    entries: Vec<(u64, Vec<u8>)>,
}

/// How a segment's scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Zeros from `p` on.
    Clean,
    /// A torn tail, cut at `cut`; the bytes up to `to` would be zeroed.
    Torn { cut: u32, to: u32 },
}

#[derive(Debug, Clone)]
struct Segment {
    id: u64,
    version: u32,
    file_len: u64,
    records: Vec<Rec>,
    /// The first position where no valid record starts.
    p: u32,
    end: End,
    /// The topics as they stood before this segment's first record.
    before: Vec<Topic>,
}

#[derive(Debug, Default)]
struct Log {
    segments: Vec<Segment>,
    /// Trailing segments that never held a record: recovery removes them.
    removed: Vec<u64>,
    /// Trailing segments whose header never became durable: set aside.
    set_aside: Vec<u64>,
    topics: Vec<Topic>,
}

impl Log {
    fn topic(&self, name: &str) -> &Topic {
        self.topics
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no topic {name}"))
    }
}

struct Replay {
    topics: Vec<Topic>,
    batch: Option<OpenBatch>,
}

impl Replay {
    /// Applies one record (the semantic checks); `Err` is damage at that record.
    fn apply(&mut self, r: &Rec) -> Result<(), String> {
        if let Some(b) = &self.batch {
            let continues = r.kind == ENTRY && r.flags & BATCH != 0 && r.topic == b.topic;
            if !continues {
                return Err(format!("record kind {} inside a batch", r.kind));
            }
        }
        let t = r.topic as usize;
        let known = t < self.topics.len();
        match r.kind {
            TOPIC_DEF => {
                let name = valid_name(&r.payload).ok_or("bad topic name")?;
                if known {
                    let topic = &mut self.topics[t];
                    if topic.name != name {
                        return Err("topic renamed".into());
                    }
                    if r.offset > topic.next && topic.entries.is_empty() {
                        topic.next = r.offset;
                    } else if r.offset != topic.next {
                        return Err(format!(
                            "TopicDef offset {} != next {}",
                            r.offset, topic.next
                        ));
                    }
                } else {
                    if t != self.topics.len() {
                        return Err("topic id out of order".into());
                    }
                    if self.topics.iter().any(|x| x.name == name) {
                        return Err("topic name taken".into());
                    }
                    self.topics.push(Topic {
                        name,
                        next: r.offset,
                        cursors: BTreeMap::from([(String::new(), r.offset)]),
                        ..Topic::default()
                    });
                }
            }
            ENTRY => {
                if !known {
                    return Err("entry of an unknown topic".into());
                }
                let held = self.batch.as_ref().map_or(0, |b| b.entries.len() as u64);
                if r.offset != self.topics[t].next + held {
                    return Err("entry offset not contiguous".into());
                }
                match r.flags {
                    // BATCH_END without BATCH is read as a single append.
                    0 | BATCH_END => {
                        self.topics[t].entries.insert(r.offset, r.payload.clone());
                        self.topics[t].next += 1;
                    }
                    BATCH => {
                        let b = self.batch.get_or_insert(OpenBatch {
                            topic: r.topic,
                            start: r.pos,
                            entries: Vec::new(),
                        });
                        b.entries.push((r.offset, r.payload.clone()));
                    }
                    f if f == BATCH | BATCH_END => {
                        let mut b = self.batch.take().unwrap_or(OpenBatch {
                            topic: r.topic,
                            start: r.pos,
                            entries: Vec::new(),
                        });
                        b.entries.push((r.offset, r.payload.clone()));
                        for (o, e) in b.entries {
                            self.topics[t].entries.insert(o, e);
                            self.topics[t].next += 1;
                        }
                    }
                    _ => unreachable!("flags are checked before"),
                }
            }
            CURSOR => {
                if !known {
                    return Err("cursor of an unknown topic".into());
                }
                let name = if r.payload.is_empty() {
                    String::new()
                } else {
                    valid_name(&r.payload).ok_or("bad consumer name")?
                };
                let topic = &mut self.topics[t];
                if r.offset > topic.next {
                    return Err("cursor past the topic's next offset".into());
                }
                if r.flags & CURSOR_DELETE != 0 {
                    if name.is_empty() {
                        return Err("the shared cursor deleted".into());
                    }
                    topic.cursors.remove(&name);
                } else {
                    topic.cursors.insert(name, r.offset);
                }
            }
            SYNC_MARK => {}
            TRUNCATE => {
                if !known {
                    return Err("truncate of an unknown topic".into());
                }
                let topic = &mut self.topics[t];
                topic.entries = topic.entries.split_off(&r.offset);
                for c in topic.cursors.values_mut() {
                    *c = (*c).max(r.offset);
                }
                if r.offset > topic.next {
                    topic.next = r.offset;
                }
            }
            TRUNCATE_FROM => {
                if !known {
                    return Err("truncate_from of an unknown topic".into());
                }
                let topic = &mut self.topics[t];
                if r.offset > topic.next {
                    return Err("truncate_from past the next offset".into());
                }
                topic.entries.split_off(&r.offset);
                topic.next = r.offset;
                for c in topic.cursors.values_mut() {
                    *c = (*c).min(r.offset);
                }
            }
            META => {
                if !known {
                    return Err("meta of an unknown topic".into());
                }
                if r.offset != 0 {
                    return Err("meta offset not 0".into());
                }
                let (k, rest) = r.payload.split_first().ok_or("empty meta payload")?;
                let k = *k as usize;
                if k > rest.len() {
                    return Err("meta key past the payload".into());
                }
                let key = valid_name(&rest[..k]).ok_or("bad meta key")?;
                let value = &rest[k..];
                if value.len() > MAX_META_VALUE {
                    return Err("meta value too long".into());
                }
                self.topics[t].meta.insert(key, value.to_vec());
            }
            _ => unreachable!("kinds are checked before"),
        }
        Ok(())
    }
}

/// Whether a valid record at an 8-aligned `q` in `p < q < d` proves the bytes at `p`
/// were durable: `p < synced <= q` (a real record's `synced` is at most its position).
fn proof_after(b: &[u8], id: u64, p: usize, d: usize) -> bool {
    (p + 8..d)
        .step_by(8)
        .filter_map(|q| valid_at(b, q, id))
        .any(|r| r.synced as usize > p && r.synced <= r.pos)
}

/// Position just past the last non-zero byte.
fn data_end(b: &[u8]) -> usize {
    b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1)
}

/// Reads a log directory as recovery would, without changing it.
fn read_log(dir: &Path) -> Result<Log, Refusal> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue; // not UTF-8: ignored
        };
        let Some(id) = parse_segment_name(&name) else {
            continue; // LOCK, *.damaged, anything else
        };
        if id > MAX_SEGMENT_ID || !entry.file_type().unwrap().is_file() {
            return Err(Refusal::Foreign(entry.path()));
        }
        ids.push(id);
    }
    ids.sort_unstable();
    let bytes_of = |id: u64| std::fs::read(dir.join(segment_name(id))).unwrap();

    // Trailing segments that never held an acknowledged record, highest first.
    let mut log = Log::default();
    while let Some(&id) = ids.last() {
        let b = bytes_of(id);
        let empty_header = matches!(check_header(&b), Header::Valid { id: h, .. } if h == id)
            && b[HEADER_LEN..].iter().all(|&x| x == 0);
        if b.iter().all(|&x| x == 0) || empty_header {
            log.removed.push(id);
        } else if b.len() as u64 >= SMALLEST_SEGMENT
            && matches!(
                check_header(&b),
                Header::Zero | Header::BadMagic | Header::BadCrc | Header::BadLength
            )
            && !proof_after(&b, id, 0, b.len())
        {
            log.set_aside.push(id);
        } else {
            break;
        }
        ids.pop();
    }

    let mut replay = Replay {
        topics: Vec::new(),
        batch: None,
    };
    for (i, &id) in ids.iter().enumerate() {
        let path = dir.join(segment_name(id));
        if i > 0 && id != ids[i - 1] + 1 {
            return Err(Refusal::Damage {
                id: ids[i - 1] + 1,
                at: 0,
                checksum: false,
                why: "missing segment".into(),
            });
        }
        let b = bytes_of(id);
        if b.len() as u64 > LARGEST_SEGMENT {
            return Err(Refusal::Foreign(path));
        }
        let version = match check_header(&b) {
            Header::Valid { version, id: h } if h == id => version,
            Header::Zero => {
                return Err(Refusal::Damage {
                    id,
                    at: 0,
                    checksum: false,
                    why: "zero header".into(),
                })
            }
            Header::BadVersion(found) => return Err(Refusal::Unsupported { path, found }),
            _ => return Err(Refusal::Foreign(path)),
        };
        let last = i + 1 == ids.len();
        let before = replay.topics.clone();
        let mut records = Vec::new();
        let mut p = HEADER_LEN;
        let damage = |at: u32, checksum: bool, why: String| Refusal::Damage {
            id,
            at: at.into(),
            checksum,
            why,
        };
        let stop = loop {
            match check_record(&b, p, id) {
                Check::Valid(r) => {
                    if let Err(why) = replay.apply(&r) {
                        return Err(damage(r.pos, false, why));
                    }
                    p += align8(RECORD_HEADER + r.len as usize);
                    records.push(r);
                }
                other => break other,
            }
        };
        let d = data_end(&b);
        let end = if d <= p {
            match (&replay.batch, last) {
                (Some(batch), true) => End::Torn {
                    cut: batch.start,
                    to: p as u32,
                },
                (Some(batch), false) => {
                    return Err(damage(
                        batch.start,
                        false,
                        "batch open at a segment's end".into(),
                    ))
                }
                (None, _) => End::Clean,
            }
        } else {
            if proof_after(&b, id, p, d) || !last {
                let why = match &replay.batch {
                    Some(bt) => format!("damage inside the batch from {}", bt.start),
                    None => "damage".into(),
                };
                return Err(damage(p as u32, matches!(stop, Check::BadCrc), why));
            }
            End::Torn {
                cut: replay.batch.as_ref().map_or(p as u32, |bt| bt.start),
                to: d.max(p) as u32,
            }
        };
        if matches!(end, End::Torn { .. }) {
            replay.batch = None; // its entries never happened
        }
        log.segments.push(Segment {
            id,
            version,
            file_len: b.len() as u64,
            records,
            p: p as u32,
            end,
            before,
        });
    }
    for t in &mut replay.topics {
        let (first, next) = (t.first(), t.next);
        for c in t.cursors.values_mut() {
            *c = (*c).clamp(first, next);
        }
    }
    log.topics = replay.topics;
    Ok(log)
}

// ---------------------------------------------------------------------------------------
// Structural checks the document states about what writers produce
// ---------------------------------------------------------------------------------------

/// Every record: `synced` at most its own position; a SyncMark is topic 0, offset 0,
/// flags 0, empty, with `synced` equal to its position; file names and header ids agree;
/// a segment's data ends at `p`, zeros after it.
fn check_records(log: &Log, dir: &Path) {
    for s in &log.segments {
        let b = std::fs::read(dir.join(segment_name(s.id))).unwrap();
        assert_eq!(u64_at(&b, 16), s.id, "header id = file name id");
        assert_eq!(u32_at(&b, 12), 32, "header length");
        assert_eq!(u32_at(&b, 24), 0, "reserved");
        for r in &s.records {
            assert!(
                r.synced <= r.pos,
                "segment {} record at {}: synced {}",
                s.id,
                r.pos,
                r.synced
            );
            assert_eq!(r.pos % 8, 0);
            if r.kind == SYNC_MARK {
                assert_eq!((r.topic, r.offset, r.flags, r.len), (0, 0, 0, 0));
                assert_eq!(r.synced, r.pos, "a SyncMark's synced is its own position");
            }
            if r.kind == META {
                assert_eq!(r.offset, 0);
            }
        }
        if s.end == End::Clean {
            assert!(
                b[s.p as usize..].iter().all(|&x| x == 0),
                "zeros after the data"
            );
        }
    }
}

/// The preamble of every segment but a log's first: for every topic known, in id order, a
/// TopicDef (the topic's next offset), one Cursor per cursor (the shared one first), one
/// Meta per key in key order; flags 0, synced 0. Where the previous segment is present,
/// the values are the state at its end. Returns the preamble's length in records.
fn check_preamble(s: &Segment, previous_present: bool) -> usize {
    if s.id == 1 {
        return 0;
    }
    let mut i = 0;
    let recs = &s.records;
    let mut t = 0u32;
    while i < recs.len() && recs[i].kind == TOPIC_DEF && recs[i].topic == t {
        let def = &recs[i];
        i += 1;
        let mut cursors = Vec::new();
        while i < recs.len() && recs[i].kind == CURSOR && recs[i].topic == t {
            cursors.push(&recs[i]);
            i += 1;
        }
        let mut metas = Vec::new();
        while i < recs.len() && recs[i].kind == META && recs[i].topic == t {
            metas.push(&recs[i]);
            i += 1;
        }
        for r in std::iter::once(def)
            .chain(cursors.iter().copied())
            .chain(metas.iter().copied())
        {
            assert_eq!(
                (r.flags, r.synced),
                (0, 0),
                "segment {} preamble record {r:?}",
                s.id
            );
        }
        assert!(
            cursors.first().is_some_and(|c| c.payload.is_empty()),
            "segment {}: topic {t}'s shared cursor comes first",
            s.id
        );
        assert!(
            cursors.windows(2).all(|w| w[0].payload < w[1].payload),
            "segment {}: topic {t}'s cursors in name order",
            s.id
        );
        let keys: Vec<_> = metas
            .iter()
            .map(|m| m.payload[1..1 + m.payload[0] as usize].to_vec())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "metas in key order");
        if previous_present {
            let was = &s.before[t as usize];
            assert_eq!(def.payload, was.name.as_bytes());
            assert_eq!(
                def.offset, was.next,
                "segment {}: TopicDef of {}",
                s.id, was.name
            );
            let stated: BTreeMap<String, u64> = cursors
                .iter()
                .map(|c| (String::from_utf8(c.payload.clone()).unwrap(), c.offset))
                .collect();
            assert_eq!(stated.len(), cursors.len());
            assert_eq!(
                stated, was.cursors,
                "segment {}: cursors of {}",
                s.id, was.name
            );
            let meta: BTreeMap<String, Vec<u8>> = metas
                .iter()
                .map(|m| {
                    let k = m.payload[0] as usize;
                    (
                        String::from_utf8(m.payload[1..1 + k].to_vec()).unwrap(),
                        m.payload[1 + k..].to_vec(),
                    )
                })
                .collect();
            assert_eq!(meta, was.meta, "segment {}: metas of {}", s.id, was.name);
        }
        t += 1;
    }
    if previous_present {
        assert_eq!(
            t as usize,
            s.before.len(),
            "segment {}: every known topic declared",
            s.id
        );
    }
    assert!(
        t > 0 || s.before.is_empty(),
        "segment {} has a preamble",
        s.id
    );
    i
}

fn check_all_preambles(log: &Log) {
    for (i, s) in log.segments.iter().enumerate() {
        check_preamble(s, i > 0);
    }
}

/// A clean close ends the last segment with a SyncMark, unless fewer than 24 bytes were
/// left.
fn check_clean_close(log: &Log) {
    let last = log.segments.last().unwrap();
    match last.records.last() {
        Some(r) if r.kind == SYNC_MARK => assert_eq!(r.pos + 24, last.p),
        _ => assert!(
            last.file_len - u64::from(last.p) < 24,
            "no SyncMark, yet room for one"
        ),
    }
}

fn kinds_and_flags(log: &Log) -> std::collections::BTreeSet<(u8, u8)> {
    log.segments
        .iter()
        .flat_map(|s| &s.records)
        .map(|r| (r.kind, r.flags))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Comparing with what the engine reports
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct View {
    first: u64,
    next: u64,
    shared: u64,
    consumers: BTreeMap<String, u64>,
    entries: Vec<(u64, Vec<u8>)>,
}

fn reader_view(log: &Log) -> BTreeMap<String, View> {
    log.topics
        .iter()
        .map(|t| {
            let mut consumers = t.cursors.clone();
            let shared = consumers
                .remove("")
                .expect("every topic has its shared cursor");
            let view = View {
                first: t.first(),
                next: t.next,
                shared,
                consumers,
                entries: t.entries.iter().map(|(o, e)| (*o, e.clone())).collect(),
            };
            (t.name.clone(), view)
        })
        .collect()
}

fn engine_view(wal: &Wal) -> BTreeMap<String, View> {
    wal.topics()
        .into_iter()
        .map(|name| {
            let stats = wal.topic_stats(&name).unwrap();
            let mut entries = Vec::new();
            let mut at = stats.first_offset;
            while at < stats.next_offset {
                let got = wal.read_from(&name, at, usize::MAX).unwrap();
                assert!(!got.is_empty());
                at = got.last().unwrap().offset + 1;
                entries.extend(got.into_iter().map(|e| (e.offset, e.data)));
            }
            let view = View {
                first: stats.first_offset,
                next: stats.next_offset,
                shared: stats.shared_position,
                consumers: wal.consumers(&name).into_iter().collect(),
                entries,
            };
            (name, view)
        })
        .collect()
}

/// The reader's view of `dir` equals the engine's once it reopens `dir`; metadata too.
/// Returns the reader's log.
fn compare(dir: &Path, open: impl Fn() -> WalBuilder) -> Log {
    let log = read_log(dir).unwrap_or_else(|e| panic!("the reader refused the log: {e:?}"));
    check_records(&log, dir);
    check_all_preambles(&log);
    let wal = open().open().unwrap();
    assert_eq!(reader_view(&log), engine_view(&wal));
    let mut names: Vec<_> = log.topics.iter().map(|t| t.name.clone()).collect();
    let mut engine_names = wal.topics();
    names.sort();
    engine_names.sort();
    assert_eq!(names, engine_names);
    for t in &log.topics {
        for (key, value) in &t.meta {
            assert_eq!(
                wal.meta(&t.name, key).as_ref(),
                Some(value),
                "{}/{key}",
                t.name
            );
        }
    }
    wal.close().unwrap();
    log
}

fn payload(topic: &str, i: u64) -> Vec<u8> {
    if i % 17 == 3 {
        return Vec::new(); // empty entries are allowed
    }
    let mut data = format!("{topic}#{i}").into_bytes();
    data.extend((0..(i * 7 % 90) as u8).map(|k| k.wrapping_mul(13)));
    data
}

fn builder(dir: &Path) -> WalBuilder {
    Wal::builder()
        .dir(dir)
        .segment_size(SMALLEST_SEGMENT)
        .max_entry_size(512)
        .fsync(FsyncSchedule::NoFsync)
}

fn segment_ids(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| parse_segment_name(e.unwrap().file_name().to_str()?))
        .collect();
    ids.sort_unstable();
    ids
}

/// A copy of the segment files of `dir`, as a crash at this moment would leave them (the
/// caller has synced).
fn snapshot(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for id in segment_ids(dir) {
        std::fs::copy(
            dir.join(segment_name(id)),
            copy.path().join(segment_name(id)),
        )
        .unwrap();
    }
    copy
}

fn append_n(wal: &Wal, topic: &str, n: u64) {
    for _ in 0..n {
        let next = wal.topic_stats(topic).map_or(0, |s| s.next_offset);
        assert_eq!(
            wal.append_for_topic(topic, &payload(topic, next)).unwrap(),
            next
        );
    }
}

fn batch(wal: &Wal, topic: &str, n: u64) {
    let next = wal.topic_stats(topic).map_or(0, |s| s.next_offset);
    let entries: Vec<_> = (next..next + n).map(|i| payload(topic, i)).collect();
    assert_eq!(
        wal.batch_append_for_topic(topic, &entries).unwrap(),
        next..next + n
    );
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Every record kind and flag, several topics, consumers created, moved and deleted,
/// truncations both ways (one past the end, one creating a topic), metadata, rollovers
/// with 4 KiB segments, reclaimed front segments, then a clean close.
#[test]
fn a_strict_log_with_every_record_kind_reads_as_the_engine_reports() {
    let dir = tempfile::tempdir().unwrap();
    let open = || builder(dir.path()).consistency(ReadConsistency::StrictlyAtOnce);
    let wal = open().open().unwrap();
    append_n(&wal, "alpha", 40);
    for n in [2, 3, 5, 4, 2, 3] {
        batch(&wal, "beta", n);
    }
    wal.set_meta("gamma", "k1", b"one").unwrap();
    wal.set_meta("gamma", "k0", b"").unwrap();
    append_n(&wal, "gamma", 3);
    wal.truncate_before("gamma", 50).unwrap(); // past the end
    append_n(&wal, "gamma", 2);
    wal.truncate_before("delta", 7).unwrap(); // a new topic that starts at 7
    append_n(&wal, "delta", 2);
    let c1 = wal.consumer("alpha", "c1").unwrap();
    for _ in 0..5 {
        c1.read_next(true).unwrap().unwrap();
    }
    let c2 = wal.consumer("alpha", "c2").unwrap();
    c2.seek(20).unwrap();
    for _ in 0..3 {
        wal.read_next("alpha", true).unwrap().unwrap();
    }
    assert!(!wal
        .batch_read_for_topic("beta", 100, true)
        .unwrap()
        .is_empty());
    assert!(wal.delete_consumer("alpha", "c2").unwrap());
    let c3 = wal.consumer("beta", "c3").unwrap();
    c3.seek(5).unwrap();
    assert!(wal.delete_consumer("beta", "c3").unwrap());
    let c3 = wal.consumer("beta", "c3").unwrap(); // again, after its tombstone
    c3.read_next(true).unwrap().unwrap();
    wal.truncate_before("beta", 4).unwrap();
    c1.seek(36).unwrap();
    wal.truncate_from("alpha", 30).unwrap(); // c1 moves down to 30
    assert_eq!(c1.position(), 30);
    wal.set_meta("alpha", "big", &[7u8; 1000]).unwrap();
    wal.set_meta("alpha", "big", &[8u8; 900]).unwrap();
    for _ in 0..12 {
        append_n(&wal, "alpha", 10);
        batch(&wal, "beta", 4);
        append_n(&wal, "gamma", 3);
    }
    assert!(
        segment_ids(dir.path()).len() > 5,
        "{:?}",
        segment_ids(dir.path())
    );
    // What the files hold now, every record kind included, as a crash would leave them
    // (nothing can be reclaimed yet: the shared cursor of alpha is at 3).
    wal.sync().unwrap();
    let before_reclaim = snapshot(dir.path());

    // Move every cursor to the end, so that the front segments can go.
    for topic in wal.topics() {
        wal.batch_read_for_topic(&topic, usize::MAX, true).unwrap();
    }
    c1.seek(wal.topic_stats("alpha").unwrap().next_offset)
        .unwrap();
    c3.seek(wal.topic_stats("beta").unwrap().next_offset)
        .unwrap();
    append_n(&wal, "alpha", 30); // a later segment whose preamble has the moved cursors
    wal.sync().unwrap();
    wal.reclaim().unwrap(); // (the background thread may have done it already)
    assert!(
        segment_ids(dir.path())[0] > 1,
        "{:?}",
        segment_ids(dir.path())
    );
    c1.read_next(true).unwrap().unwrap();
    append_n(&wal, "delta", 3);
    wal.set_meta("delta", "after", b"reclaim").unwrap();
    wal.close().unwrap();

    let early = compare(before_reclaim.path(), || {
        builder(before_reclaim.path()).consistency(ReadConsistency::StrictlyAtOnce)
    });
    let kinds = kinds_and_flags(&early);
    for k in [(CURSOR, CURSOR_DELETE), (TRUNCATE, 0), (TRUNCATE_FROM, 0)] {
        assert!(kinds.contains(&k), "{k:?} not written: {kinds:?}");
    }
    assert_eq!(early.segments[0].id, 1);
    // A new log's header is synced at open, so its first record says 32 bytes are durable.
    assert_eq!(early.segments[0].records[0].synced, 32);
    assert_eq!(early.topic("gamma").first(), 50);
    assert_eq!(early.topic("delta").first(), 7);

    let log = compare(dir.path(), open);
    assert!(log.segments[0].id > 1);
    check_clean_close(&log);
    let kinds = kinds_and_flags(&log);
    for k in [
        (ENTRY, 0),
        (ENTRY, BATCH),
        (ENTRY, BATCH | BATCH_END),
        (TOPIC_DEF, 0),
        (CURSOR, 0),
        (SYNC_MARK, 0),
        (META, 0),
    ] {
        assert!(
            kinds.contains(&k),
            "{k:?} not in the remaining segments: {kinds:?}"
        );
    }
    assert_eq!(
        log.topics
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta", "gamma", "delta"]
    );
    assert_eq!(
        log.topic("gamma").meta,
        BTreeMap::from([("k0".into(), vec![]), ("k1".into(), b"one".to_vec())])
    );
    assert_eq!(log.topic("alpha").meta["big"], vec![8u8; 900]);
    assert_eq!(log.topic("delta").meta["after"], b"reclaim");
    assert_eq!(
        log.topic("alpha").cursors.keys().collect::<Vec<_>>(),
        ["", "c1"]
    );
    assert_eq!(
        log.topic("beta").cursors.keys().collect::<Vec<_>>(),
        ["", "c3"]
    );
}

/// The kinds the front segments held before they were reclaimed: the same log, read
/// before reclaiming (so every record kind and flag is seen by the reader), abandoned
/// without a close.
#[test]
fn an_abandoned_log_with_every_record_kind_reads_as_the_engine_reports() {
    let dir = tempfile::tempdir().unwrap();
    let open =
        || builder(dir.path()).consistency(ReadConsistency::AtLeastOnce { persist_every: 3 });
    let wal = open().open().unwrap();
    append_n(&wal, "a", 20);
    batch(&wal, "b", 3);
    wal.set_meta("a", "m", b"x").unwrap();
    let c = wal.consumer("a", "c").unwrap();
    for _ in 0..7 {
        c.read_next(true).unwrap().unwrap();
    }
    let second = wal.consumer("a", "a2").unwrap(); // sorts before "c" in preambles
    second.read_next(true).unwrap().unwrap();
    let gone = wal.consumer("b", "gone").unwrap();
    gone.seek(2).unwrap();
    assert!(wal.delete_consumer("b", "gone").unwrap());
    for _ in 0..4 {
        wal.read_next("a", true).unwrap().unwrap();
    }
    wal.truncate_before("a", 2).unwrap();
    wal.truncate_before("b", 9).unwrap(); // past the end
    wal.truncate_from("a", 18).unwrap();
    append_n(&wal, "a", 150);
    for _ in 0..4 {
        batch(&wal, "b", 5);
    }
    assert_eq!(c.position(), 7);
    wal.sync().unwrap();
    wal.abandon();

    let log = compare(dir.path(), open);
    let kinds = kinds_and_flags(&log);
    for k in [
        (ENTRY, 0),
        (ENTRY, BATCH),
        (ENTRY, BATCH | BATCH_END),
        (TOPIC_DEF, 0),
        (CURSOR, 0),
        (CURSOR, CURSOR_DELETE),
        (TRUNCATE, 0),
        (TRUNCATE_FROM, 0),
        (META, 0),
    ] {
        assert!(kinds.contains(&k), "{k:?} not written: {kinds:?}");
    }
    assert!(
        !kinds.contains(&(SYNC_MARK, 0)),
        "no SyncMark without a close"
    );
    assert!(log.segments.len() > 3);
    // AtLeastOnce { persist_every: 3 }: 7 reads persisted 6.
    assert_eq!(log.topic("a").cursors["c"], 6);
    assert_eq!(log.topic("b").next, 29);
    assert!(!log.topic("b").cursors.contains_key("gone"));
}

/// A log whose segments say version 1 (the records are valid version 1: no kind or flag
/// version 2 added) is read with the same rules.
#[test]
fn a_version_1_log_reads_as_the_engine_reports() {
    let dir = tempfile::tempdir().unwrap();
    let open = || builder(dir.path());
    let wal = open().open().unwrap();
    append_n(&wal, "x", 50);
    batch(&wal, "y", 4);
    let c = wal.consumer("x", "c").unwrap();
    c.seek(10).unwrap();
    wal.read_next("y", true).unwrap().unwrap();
    wal.truncate_before("x", 5).unwrap();
    append_n(&wal, "x", 40);
    wal.close().unwrap();
    for id in segment_ids(dir.path()) {
        let path = dir.path().join(segment_name(id));
        let mut b = std::fs::read(&path).unwrap();
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &b).unwrap();
    }
    let log = compare(dir.path(), open);
    assert!(log.segments.len() > 1);
    assert!(log.segments.iter().all(|s| s.version == 1));
    assert_eq!(log.topic("x").cursors["c"], 10);
    assert_eq!(log.topic("x").first(), 5);
}

/// The bytes of the worked example in docs/format.md, taken from the document itself.
#[test]
fn the_worked_example_decodes_as_the_document_says() {
    let doc = include_str!("../../docs/format.md");
    let section = doc.split("## Worked example").nth(1).unwrap();
    let block = section.split("```").nth(1).unwrap();
    let mut bytes = Vec::new();
    for line in block.lines() {
        let mut words = line.split_whitespace();
        let Some(addr) = words.next().filter(|w| w.len() == 4) else {
            continue;
        };
        let Ok(addr) = usize::from_str_radix(addr, 16) else {
            continue;
        };
        assert_eq!(addr, bytes.len(), "{line}");
        for w in words.take(16) {
            match u8::from_str_radix(w, 16) {
                Ok(x) if w.len() == 2 => bytes.push(x),
                _ => break,
            }
        }
    }
    assert_eq!(bytes.len(), 0x61);
    bytes.resize(SMALLEST_SEGMENT as usize, 0); // "zeros to the end of the file"
    assert_eq!(
        crc32c::crc32c(&1u64.to_le_bytes()),
        0xc514cfad,
        "the seed given"
    );
    assert_eq!(
        crc32c::crc32c(&[&1u64.to_le_bytes()[..], &bytes[0x44..0x58], b"hi"].concat()),
        0x4e098ca7
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(segment_name(1)), &bytes).unwrap();
    let log = read_log(dir.path()).unwrap();
    let s = &log.segments[0];
    assert_eq!((s.version, s.p, &s.end), (2, 96, &End::Clean));
    assert_eq!(s.records.len(), 2);
    assert_eq!(
        (s.records[0].kind, s.records[0].payload.as_slice()),
        (TOPIC_DEF, &b"t"[..])
    );
    assert_eq!(
        (s.records[1].kind, s.records[1].payload.as_slice()),
        (ENTRY, &b"hi"[..])
    );
    let t = log.topic("t");
    assert_eq!(
        (t.next, t.cursors[""], t.entries[&0].as_slice()),
        (1, 0, &b"hi"[..])
    );
    // And the engine reads the same file the same way.
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(reader_view(&log), engine_view(&wal));
    wal.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// Crafted files: rules the reader and the engine must apply alike
// ---------------------------------------------------------------------------------------

/// Recomputes the crc of the record at `pos` of segment `id`.
fn fix_crc(b: &mut [u8], pos: usize, id: u64) {
    let len = u32_at(b, pos + 4) as usize;
    let h: [u8; RECORD_HEADER] = b[pos..pos + RECORD_HEADER].try_into().unwrap();
    let crc = record_crc(id, &h, &b[pos + RECORD_HEADER..pos + RECORD_HEADER + len]);
    b[pos..pos + 4].copy_from_slice(&crc.to_le_bytes());
}

fn fix_header_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
}

/// A one-segment log of `n` entries of topic "t", left without a close: every record says
/// only the header is durable (`NoFsync`, nothing synced before the appends).
fn one_segment_log(dir: &Path, n: u64) -> Vec<Rec> {
    let wal = builder(dir).open().unwrap();
    append_n(&wal, "t", n);
    wal.sync().unwrap();
    wal.abandon();
    let log = read_log(dir).unwrap();
    assert_eq!(log.segments.len(), 1);
    let records = log.segments[0].records.clone();
    assert!(records.iter().all(|r| r.synced == 32), "{records:?}");
    records
}

/// Damage at `p` is proved durable by a later valid record only if its `synced` is past
/// `p` and not past its own position: a record claiming more proves nothing, and the
/// damage is then a torn tail.
#[test]
fn only_a_record_whose_synced_is_within_its_own_position_proves_damage_durable() {
    for honest in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let records = one_segment_log(dir.path(), 12);
        let path = dir.path().join(segment_name(1));
        let mut b = std::fs::read(&path).unwrap();
        let damaged = &records[5]; // entry 4
        assert_eq!((damaged.kind, damaged.offset), (ENTRY, 4));
        b[damaged.pos as usize + RECORD_HEADER] ^= 0xff;
        let witness = records.last().unwrap();
        let synced = if honest { witness.pos } else { witness.pos + 8 };
        let at = witness.pos as usize + 20;
        b[at..at + 4].copy_from_slice(&synced.to_le_bytes());
        fix_crc(&mut b, witness.pos as usize, 1);
        std::fs::write(&path, &b).unwrap();

        let read = read_log(dir.path());
        let opened = builder(dir.path()).open();
        if honest {
            let at = u64::from(damaged.pos);
            assert!(
                matches!(read, Err(Refusal::Damage { id: 1, at: a, checksum: true, .. }) if a == at),
                "{read:?}"
            );
            let err = opened.expect_err("damage proved durable fails the open");
            assert!(
                matches!(&err, wal::Error::ChecksumMismatch { path: p, offset, .. } if p == &path && *offset == at),
                "{err:?}"
            );
        } else {
            let log = read.unwrap();
            let cut = damaged.pos;
            assert_eq!(
                log.segments[0].end,
                End::Torn {
                    cut,
                    to: data_end(&b) as u32
                }
            );
            assert_eq!(log.topic("t").next, 4);
            let wal = opened.unwrap();
            assert_eq!(reader_view(&log), engine_view(&wal));
            wal.close().unwrap();
        }
    }
}

/// The header length at bytes 12..16 is checked: a valid header (magic, crc, version)
/// that says anything but 32 is foreign; the version is checked before it.
#[test]
fn a_header_length_other_than_32_is_foreign() {
    for version in [2u32, 3] {
        let dir = tempfile::tempdir().unwrap();
        one_segment_log(dir.path(), 3);
        let path = dir.path().join(segment_name(1));
        let mut b = std::fs::read(&path).unwrap();
        b[8..12].copy_from_slice(&version.to_le_bytes());
        b[12..16].copy_from_slice(&40u32.to_le_bytes());
        fix_header_crc(&mut b);
        std::fs::write(&path, &b).unwrap();
        let read = read_log(dir.path());
        let err = builder(dir.path()).open().expect_err("refused");
        if version == 2 {
            assert_eq!(read.unwrap_err(), Refusal::Foreign(path.clone()));
            assert!(
                matches!(&err, wal::Error::ForeignFile { path: p, .. } if p == &path),
                "{err:?}"
            );
        } else {
            assert_eq!(
                read.unwrap_err(),
                Refusal::Unsupported {
                    path: path.clone(),
                    found: 3
                }
            );
            assert!(
                matches!(&err, wal::Error::UnsupportedVersion { found: 3, .. }),
                "{err:?}"
            );
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b,
            "a refused open changes nothing"
        );
    }
}

/// 20 digits whose number does not fit in a `u64` are not a segment name (ignored); a
/// number above `MAX_SEGMENT_ID` that fits is a segment name, refused as foreign.
#[test]
fn segment_names_past_the_largest_id() {
    let dir = tempfile::tempdir().unwrap();
    one_segment_log(dir.path(), 3);
    let huge = dir.path().join("99999999999999999999.wal");
    std::fs::write(&huge, b"not a segment").unwrap();
    let log = read_log(dir.path()).unwrap();
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(reader_view(&log), engine_view(&wal));
    wal.close().unwrap();
    assert_eq!(std::fs::read(&huge).unwrap(), b"not a segment");

    let beyond = dir.path().join(segment_name(MAX_SEGMENT_ID + 1));
    std::fs::write(&beyond, b"").unwrap();
    assert_eq!(
        read_log(dir.path()).unwrap_err(),
        Refusal::Foreign(beyond.clone())
    );
    let err = builder(dir.path()).open().expect_err("refused");
    assert!(
        matches!(&err, wal::Error::ForeignFile { path, .. } if path == &beyond),
        "{err:?}"
    );
}

/// No writer sets `BATCH_END` without `BATCH`, or `BATCH | BATCH_END` on a record that
/// opens no batch; a reader takes the first as a single append and the second as a batch
/// of one entry.
#[test]
fn batch_flags_a_writer_never_sets_read_as_single_entries() {
    let dir = tempfile::tempdir().unwrap();
    let records = one_segment_log(dir.path(), 3);
    let path = dir.path().join(segment_name(1));
    let mut b = std::fs::read(&path).unwrap();
    for (r, flags) in [(&records[2], BATCH_END), (&records[3], BATCH | BATCH_END)] {
        assert_eq!(r.kind, ENTRY);
        b[r.pos as usize + 9] = flags;
        fix_crc(&mut b, r.pos as usize, 1);
    }
    std::fs::write(&path, &b).unwrap();
    let log = read_log(dir.path()).unwrap();
    assert_eq!(log.segments[0].end, End::Clean);
    assert_eq!(log.topic("t").entries.len(), 3);
    let wal = builder(dir.path()).open().unwrap();
    assert_eq!(reader_view(&log), engine_view(&wal));
    wal.close().unwrap();
}

/// A last segment whose header has a valid crc but a header length other than 32, and no
/// record proving a sync covered it, is set aside whole like a torn header.
#[test]
fn a_last_segment_with_a_bad_header_length_and_no_proof_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let records = one_segment_log(dir.path(), 3);
    let path = dir.path().join(segment_name(1));
    let mut b = std::fs::read(&path).unwrap();
    b[12..16].copy_from_slice(&40u32.to_le_bytes());
    fix_header_crc(&mut b);
    for r in &records {
        b[r.pos as usize + 20..r.pos as usize + 24].fill(0); // synced 0: no proof
        fix_crc(&mut b, r.pos as usize, 1);
    }
    std::fs::write(&path, &b).unwrap();
    let log = read_log(dir.path()).unwrap();
    assert_eq!(
        (log.set_aside.as_slice(), log.segments.len()),
        (&[1][..], 0)
    );
    let wal = builder(dir.path()).open().unwrap();
    assert!(wal.topics().is_empty());
    wal.close().unwrap();
    let aside = dir.path().join(format!("{}.damaged", segment_name(1)));
    assert_eq!(std::fs::read(aside).unwrap(), b);
}

/// A record that `PointInTime` cuts away states nothing: if it was the last segment's
/// only statement of a cursor, recovery declares the topic again ("every topic whose
/// definition, cursors or metadata no record of the last segment states any more is
/// declared again in full"). Here the damaged record is the preamble's shared cursor,
/// turned into a deletion of the shared cursor (valid crc, refused by the semantic check).
#[test]
fn a_cursor_record_cut_by_point_in_time_is_declared_again() {
    let dir = tempfile::tempdir().unwrap();
    let wal = builder(dir.path()).open().unwrap();
    append_n(&wal, "t", 120);
    wal.sync().unwrap();
    wal.abandon();
    let log = read_log(dir.path()).unwrap();
    assert!(log.segments.len() >= 3);
    let shared = log.segments[1].records[1].clone();
    assert_eq!((shared.kind, shared.payload.len()), (CURSOR, 0));
    let path = dir.path().join(segment_name(2));
    let mut b = std::fs::read(&path).unwrap();
    b[shared.pos as usize + 9] = CURSOR_DELETE;
    fix_crc(&mut b, shared.pos as usize, 2);
    std::fs::write(&path, &b).unwrap();
    assert!(matches!(
        read_log(dir.path()),
        Err(Refusal::Damage { id: 2, at, checksum: false, .. }) if at == u64::from(shared.pos)
    ));
    let wal = builder(dir.path())
        .recovery_mode(wal::RecoveryMode::PointInTime)
        .open()
        .unwrap();
    wal.close().unwrap();
    let log = read_log(dir.path()).unwrap();
    let last = log.segments.last().unwrap();
    assert_eq!(last.id, 2);
    assert!(
        last.records
            .iter()
            .any(|r| r.kind == CURSOR && r.topic == 0 && r.payload.is_empty()),
        "segment 2 no longer states topic 0's shared cursor: {:?}",
        last.records
    );
}
