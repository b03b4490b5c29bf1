//! The on-disk format: segment headers and framed records (see `docs/format.md`).
//!
//! A segment file starts with a [`SEGMENT_HEADER_LEN`]-byte header, followed by records
//! aligned to [`RECORD_ALIGN`] bytes. Every record is a [`RECORD_HEADER_LEN`]-byte header and
//! its payload; the CRC32C in the header covers the rest of the header and the payload and
//! is seeded with the segment id, so a record copied from another segment never validates.

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"\x89WALSEG\n";
/// The format version this build writes (it reads every version from
/// [`OLDEST_FORMAT_VERSION`] up to this one). Version 2 added suffix truncations, topic
/// metadata, truncations past a topic's end and the cursor-delete flag (`docs/format.md`).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// The largest value of one metadata key ([`crate::Wal::set_meta`]), in bytes.
pub const MAX_META_VALUE: usize = 64 << 10;
/// Length of a segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Length of a record header in bytes.
pub const RECORD_HEADER_LEN: usize = 24;
/// Records start at multiples of this many bytes.
pub const RECORD_ALIGN: usize = 8;
/// The largest value the 48-bit offset field of a record holds.
pub const MAX_RECORD_OFFSET: u64 = (1 << 48) - 1;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// A user entry: `offset` is its offset in the topic, the payload its data.
    Entry = 1,
    /// A topic definition: `offset` is the topic's next offset when written, the payload
    /// its name. Written before a topic's first entry and again at the start of every
    /// segment, so that any suffix of the segments is self-describing.
    TopicDef = 2,
    /// A read cursor: `offset` is the next offset to deliver, the payload the consumer's
    /// name (empty for the topic's shared cursor).
    Cursor = 3,
    /// A sync mark, written at a clean close after everything before it was synced. It
    /// carries no topic; its `synced` field tells recovery that all earlier records were
    /// durable, so damage to any of them is reported rather than taken for a torn tail.
    SyncMark = 4,
    /// A truncation (`truncate_before`): `offset` is the topic's first offset from now on;
    /// entries below it are gone even while their segment still exists. Past the topic's
    /// end (version 2), the topic starts at `offset`: its next append gets it.
    Truncate = 5,
    /// A suffix truncation (`truncate_from`, version 2): the entries of the topic from
    /// `offset` on are gone, and its next append gets `offset`. Applied in log order, so it
    /// drops entries before it (in any segment) and never the ones appended after it.
    TruncateFrom = 6,
    /// One metadata value of a topic (`set_meta`, version 2): the payload is the key's
    /// length (one byte), the key, then the value; `offset` is 0. Re-declared in every
    /// segment's preamble, like the cursors.
    Meta = 7,
}

impl RecordKind {
    /// The longest payload a record of this kind may have: names are at most
    /// [`crate::MAX_TOPIC_NAME_LEN`] bytes, marks and truncations carry none, a metadata
    /// record a key and at most [`MAX_META_VALUE`] bytes. A reader refuses longer ones
    /// before reading them, so a hostile length costs nothing.
    pub const fn max_payload(self) -> u32 {
        match self {
            Self::Entry => u32::MAX,
            Self::TopicDef | Self::Cursor => crate::topic::MAX_TOPIC_NAME_LEN as u32,
            Self::SyncMark | Self::Truncate | Self::TruncateFrom => 0,
            Self::Meta => (1 + crate::topic::MAX_TOPIC_NAME_LEN + MAX_META_VALUE) as u32,
        }
    }

    /// The flags a record of this kind may carry: the batch flags on entries, the delete
    /// flag on cursors, none on the rest.
    pub const fn allowed_flags(self) -> u8 {
        match self {
            Self::Entry => FLAG_BATCH | FLAG_BATCH_END,
            Self::Cursor => FLAG_CURSOR_DELETE,
            Self::TopicDef | Self::SyncMark | Self::Truncate | Self::TruncateFrom | Self::Meta => 0,
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Entry),
            2 => Some(Self::TopicDef),
            3 => Some(Self::Cursor),
            4 => Some(Self::SyncMark),
            5 => Some(Self::Truncate),
            6 => Some(Self::TruncateFrom),
            7 => Some(Self::Meta),
            _ => None,
        }
    }
}

/// Record flag: the record belongs to an atomic batch.
pub const FLAG_BATCH: u8 = 0b01;
/// Record flag: the record is the last of its batch; the batch counts only if it is present.
pub const FLAG_BATCH_END: u8 = 0b10;
/// Record flag, on a Cursor record only: the named consumer is deleted (a tombstone). Its
/// `offset` is the consumer's last position, for the record; readers ignore it.
pub const FLAG_CURSOR_DELETE: u8 = 0b100;
const KNOWN_FLAGS: u8 = FLAG_BATCH | FLAG_BATCH_END | FLAG_CURSOR_DELETE;

/// The decoded fixed part of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// The stored checksum.
    pub crc: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// What the record holds.
    pub kind: RecordKind,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Offset in the topic (meaning depends on `kind`); 48 bits on disk.
    pub offset: u64,
    /// The topic's numeric id.
    pub topic: u32,
    /// Position in this segment up to which the file was known durable when the record was
    /// encoded. Recovery uses it to tell a torn tail (damage past every durable point) from
    /// damage to data that had been made durable.
    pub synced: u32,
}

/// Total bytes a record with a `len`-byte payload takes in a segment, padding included.
pub const fn record_size(len: usize) -> usize {
    align_up(RECORD_HEADER_LEN + len)
}

/// Rounds `n` up to a multiple of [`RECORD_ALIGN`].
pub const fn align_up(n: usize) -> usize {
    (n + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

fn crc_seed(segment_id: u64) -> u32 {
    crc32c::crc32c(&segment_id.to_le_bytes())
}

/// The header fields a writer chooses; the checksum and the length are computed from the
/// payload when the record is encoded ([`RecordHeader`] is the decoded form, with both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFields {
    /// What the record is.
    pub kind: RecordKind,
    /// [`FLAG_BATCH`], [`FLAG_BATCH_END`], [`FLAG_CURSOR_DELETE`] or 0.
    pub flags: u8,
    /// The topic id.
    pub topic: u32,
    /// The topic offset (an entry's), a cursor's value, or a topic's start; at most
    /// [`MAX_RECORD_OFFSET`].
    pub offset: u64,
    /// How far the segment was known durable when the record was written.
    pub synced: u32,
}

impl RecordFields {
    /// A record of `kind` for `topic` at `offset`, with no flags and `synced` 0.
    pub const fn new(kind: RecordKind, topic: u32, offset: u64) -> Self {
        Self {
            kind,
            flags: 0,
            topic,
            offset,
            synced: 0,
        }
    }

    /// The same fields with `flags`.
    #[must_use]
    pub const fn with_flags(self, flags: u8) -> Self {
        Self { flags, ..self }
    }

    /// The same fields with `synced`.
    #[must_use]
    pub const fn with_synced(self, synced: u32) -> Self {
        Self { synced, ..self }
    }
}

/// Appends one record of segment `segment_id` (header, payload, zero padding) to `out`.
pub fn encode_record(out: &mut Vec<u8>, segment_id: u64, fields: RecordFields, payload: &[u8]) {
    let RecordFields {
        kind,
        flags,
        topic,
        offset,
        synced,
    } = fields;
    debug_assert!(offset <= MAX_RECORD_OFFSET);
    debug_assert!(payload.len() <= u32::MAX as usize);
    let start = out.len();
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8] = kind as u8;
    header[9] = flags;
    header[10..16].copy_from_slice(&offset.to_le_bytes()[..6]);
    header[16..20].copy_from_slice(&topic.to_le_bytes());
    header[20..24].copy_from_slice(&synced.to_le_bytes());
    let crc = crc32c::crc32c_append(crc_seed(segment_id), &header[4..]);
    let crc = crc32c::crc32c_append(crc, payload);
    header[0..4].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    out.resize(start + record_size(payload.len()), 0);
}

/// The payload of a [`RecordKind::Meta`] record: the key's length in one byte, the key,
/// then the value. The caller has checked the key (at most 255 bytes) and the value (at
/// most [`MAX_META_VALUE`] bytes).
pub fn encode_meta_payload(key: &str, value: &[u8]) -> Vec<u8> {
    debug_assert!(key.len() <= crate::topic::MAX_TOPIC_NAME_LEN);
    let mut out = Vec::with_capacity(1 + key.len() + value.len());
    out.push(key.len() as u8);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value);
    out
}

/// Splits the payload of a [`RecordKind::Meta`] record into its key and value; `Err` says
/// why it is not one (the key is checked like a consumer name by the caller).
pub fn decode_meta_payload(payload: &[u8]) -> Result<(&str, &[u8]), String> {
    let (&len, rest) = payload
        .split_first()
        .ok_or_else(|| "a metadata record without a key".to_string())?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(format!(
            "a metadata key of {len} bytes in a payload of {}",
            payload.len()
        ));
    }
    let (key, value) = rest.split_at(len);
    let key = std::str::from_utf8(key).map_err(|_| "metadata key is not UTF-8".to_string())?;
    if value.len() > MAX_META_VALUE {
        return Err(format!(
            "a metadata value of {} bytes (at most {MAX_META_VALUE})",
            value.len()
        ));
    }
    Ok((key, value))
}

/// Why bytes at a position are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Every header byte is zero: never-written space.
    Zero,
    /// Fewer bytes remain than the record needs.
    Truncated,
    /// The header is malformed (unknown kind or flags).
    Malformed(String),
    /// The record is well formed and its checksum matches, but it contradicts what came
    /// before it (an unknown topic, an offset out of sequence, an interrupted batch).
    Invalid(String),
    /// The checksum does not match.
    Checksum {
        /// Stored checksum.
        expected: u32,
        /// Computed checksum.
        got: u32,
    },
}

/// Decodes the header at the start of `buf` without checking the checksum.
pub fn decode_header(buf: &[u8]) -> Result<RecordHeader, RecordError> {
    let Some(h) = buf.get(..RECORD_HEADER_LEN) else {
        return Err(RecordError::Truncated);
    };
    if h.iter().all(|&b| b == 0) {
        return Err(RecordError::Zero);
    }
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let kind = RecordKind::from_u8(h[8])
        .ok_or_else(|| RecordError::Malformed(format!("unknown record kind {}", h[8])))?;
    let flags = h[9];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(RecordError::Malformed(format!("unknown flags {flags:#x}")));
    }
    if flags & !kind.allowed_flags() != 0 {
        return Err(RecordError::Malformed(format!(
            "flags {flags:#x} on a {kind:?} record (only entries are batched, only cursors deleted)"
        )));
    }
    let len = u32_at(4);
    if len > kind.max_payload() {
        return Err(RecordError::Malformed(format!(
            "{kind:?} record of {len} bytes (at most {})",
            kind.max_payload()
        )));
    }
    let mut off = [0u8; 8];
    off[..6].copy_from_slice(&h[10..16]);
    Ok(RecordHeader {
        crc: u32_at(0),
        len,
        kind,
        flags,
        offset: u64::from_le_bytes(off),
        topic: u32_at(16),
        synced: u32_at(20),
    })
}

/// The checksum of a record's header fields (bytes 4..24 of `header`), before the payload
/// is folded in with [`crc32c::crc32c_append`]. Lets a reader check a record whose payload
/// it streams in pieces.
pub fn header_crc(segment_id: u64, header: &[u8; RECORD_HEADER_LEN]) -> u32 {
    crc32c::crc32c_append(crc_seed(segment_id), &header[4..])
}

/// Folds `bytes` into a running record checksum.
pub fn crc_append(crc: u32, bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, bytes)
}

/// Decodes and verifies the record at the start of `buf`: returns its header and payload.
pub fn decode_record(buf: &[u8], segment_id: u64) -> Result<(RecordHeader, &[u8]), RecordError> {
    let header = decode_header(buf)?;
    let len = header.len as usize;
    let Some(payload) = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
        return Err(RecordError::Truncated);
    };
    let mut fixed = [0u8; RECORD_HEADER_LEN];
    fixed.copy_from_slice(&buf[..RECORD_HEADER_LEN]);
    let crc = crc_append(header_crc(segment_id, &fixed), payload);
    if crc != header.crc {
        return Err(RecordError::Checksum {
            expected: header.crc,
            got: crc,
        });
    }
    Ok((header, payload))
}

/// The decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's id (also its file name).
    pub id: u64,
    /// Format version.
    pub version: u32,
}

/// Why a segment header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The header is all zeros: the file was created but its header never reached the disk.
    Zero,
    /// Too short, wrong magic or bad checksum.
    Foreign(String),
    /// A version this build does not read.
    Version(u32),
}

/// Encodes a segment header.
pub fn encode_segment_header(id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes and verifies a segment header.
pub fn decode_segment_header(buf: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let Some(h) = buf.get(..SEGMENT_HEADER_LEN) else {
        return Err(HeaderError::Foreign(
            "file shorter than a segment header".into(),
        ));
    };
    if h.iter().all(|&b| b == 0) {
        return Err(HeaderError::Zero);
    }
    if h[0..8] != SEGMENT_MAGIC {
        return Err(HeaderError::Foreign("not a wal segment (bad magic)".into()));
    }
    let stored = u32::from_le_bytes([h[28], h[29], h[30], h[31]]);
    if crc32c::crc32c(&h[..28]) != stored {
        return Err(HeaderError::Foreign(
            "segment header checksum mismatch".into(),
        ));
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(HeaderError::Version(version));
    }
    let header_len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    if header_len as usize != SEGMENT_HEADER_LEN {
        return Err(HeaderError::Foreign(format!(
            "header length {header_len}, expected {SEGMENT_HEADER_LEN}"
        )));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[16..24]);
    Ok(SegmentHeader {
        id: u64::from_le_bytes(id),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_padding() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            7,
            RecordFields::new(RecordKind::Entry, 3, 42)
                .with_flags(FLAG_BATCH)
                .with_synced(99),
            b"hello",
        );
        assert_eq!(buf.len(), 32);
        let (h, p) = decode_record(&buf, 7).unwrap();
        assert_eq!(p, b"hello");
        assert_eq!(
            (h.kind, h.flags, h.topic, h.offset, h.synced),
            (RecordKind::Entry, FLAG_BATCH, 3, 42, 99)
        );
    }

    #[test]
    fn record_from_another_segment_fails_checksum() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            1,
            RecordFields::new(RecordKind::Entry, 0, 0),
            b"x",
        );
        assert!(matches!(
            decode_record(&buf, 2),
            Err(RecordError::Checksum { .. })
        ));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            5,
            RecordFields::new(RecordKind::Entry, 1, 2),
            b"payload!",
        );
        for i in 0..RECORD_HEADER_LEN + 8 {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    decode_record(&bad, 5).is_err(),
                    "flip at byte {i} bit {bit} accepted"
                );
            }
        }
    }

    /// One record of `kind` with `flags`, `offset` and `payload`, in segment 1 (topic 0).
    fn record_in_segment_1(kind: RecordKind, flags: u8, offset: u64, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            1,
            RecordFields::new(kind, 0, offset).with_flags(flags),
            payload,
        );
        buf
    }

    #[test]
    fn batch_flags_only_on_entries_delete_only_on_cursors_and_names_are_short() {
        let malformed =
            |buf: &[u8]| matches!(decode_record(buf, 1), Err(RecordError::Malformed(_)));
        assert!(malformed(&record_in_segment_1(
            RecordKind::Cursor,
            FLAG_BATCH,
            3,
            b"c"
        )));
        assert!(malformed(&record_in_segment_1(
            RecordKind::Entry,
            FLAG_CURSOR_DELETE,
            3,
            b"e"
        )));
        let buf = record_in_segment_1(RecordKind::Cursor, FLAG_CURSOR_DELETE, 3, b"c");
        assert_eq!(decode_record(&buf, 1).unwrap().0.flags, FLAG_CURSOR_DELETE);
        let buf = record_in_segment_1(RecordKind::TopicDef, 0, 0, &[b'x'; 256]);
        assert!(matches!(
            decode_header(&buf),
            Err(RecordError::Malformed(_))
        ));
        let buf = record_in_segment_1(RecordKind::SyncMark, 0, 0, b"x");
        assert!(matches!(
            decode_header(&buf),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn version_2_kinds_round_trip_and_meta_payloads_split() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            3,
            RecordFields::new(RecordKind::TruncateFrom, 1, 17),
            &[],
        );
        let (h, p) = decode_record(&buf, 3).unwrap();
        assert_eq!(
            (h.kind, h.offset, h.topic, p.len()),
            (RecordKind::TruncateFrom, 17, 1, 0)
        );
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            3,
            RecordFields::new(RecordKind::TruncateFrom, 1, 17),
            b"x",
        );
        assert!(matches!(
            decode_header(&buf),
            Err(RecordError::Malformed(_))
        ));

        let payload = encode_meta_payload("vote", b"term 3");
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            3,
            RecordFields::new(RecordKind::Meta, 2, 0),
            &payload,
        );
        let (h, p) = decode_record(&buf, 3).unwrap();
        assert_eq!(h.kind, RecordKind::Meta);
        assert_eq!(decode_meta_payload(p).unwrap(), ("vote", &b"term 3"[..]));
        assert_eq!(
            decode_meta_payload(&encode_meta_payload("k", b"")).unwrap(),
            ("k", &b""[..])
        );
        assert!(decode_meta_payload(&[]).is_err());
        assert!(decode_meta_payload(&[5, b'a']).is_err());
        assert!(decode_meta_payload(&[1, 0xff]).is_err());
        let mut big = encode_meta_payload("k", &[]);
        big.resize(big.len() + MAX_META_VALUE + 1, 0);
        assert!(decode_meta_payload(&big).is_err());
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            3,
            RecordFields::new(RecordKind::Meta, 2, 0).with_flags(FLAG_CURSOR_DELETE),
            &payload,
        );
        assert!(matches!(
            decode_header(&buf),
            Err(RecordError::Malformed(_))
        ));
    }

    /// The bytes `docs/format.md` shows in its worked example.
    #[test]
    fn the_worked_example_of_docs_format_md() {
        let hex = |s: &str| -> Vec<u8> {
            s.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect()
        };
        let mut file = encode_segment_header(1).to_vec();
        encode_record(
            &mut file,
            1,
            RecordFields::new(RecordKind::TopicDef, 0, 0),
            b"t",
        );
        encode_record(
            &mut file,
            1,
            RecordFields::new(RecordKind::Entry, 0, 0),
            b"hi",
        );
        let doc = hex(concat!(
            "89 57 41 4c 53 45 47 0a 02 00 00 00 20 00 00 00 ",
            "01 00 00 00 00 00 00 00 00 00 00 00 37 e9 46 e8 ",
            "5c 1f e4 b8 01 00 00 00 02 00 00 00 00 00 00 00 ",
            "00 00 00 00 00 00 00 00 74 00 00 00 00 00 00 00 ",
            "a7 8c 09 4e 02 00 00 00 01 00 00 00 00 00 00 00 ",
            "00 00 00 00 00 00 00 00 68 69 00 00 00 00 00 00",
        ));
        assert_eq!(file, doc);
    }

    #[test]
    fn max_overhead_is_within_budget() {
        for len in 0..64 {
            assert!(record_size(len) - len <= 32);
        }
    }

    #[test]
    fn segment_header_round_trip_and_rejects() {
        let h = encode_segment_header(9);
        assert_eq!(decode_segment_header(&h).unwrap().id, 9);
        assert_eq!(decode_segment_header(&[0; 32]), Err(HeaderError::Zero));
        let mut bad = h;
        bad[0] = b'X';
        assert!(matches!(
            decode_segment_header(&bad),
            Err(HeaderError::Foreign(_))
        ));
        assert_eq!(decode_segment_header(&h).unwrap().version, FORMAT_VERSION);
        let with_version = |v: u32| {
            let mut other = h;
            other[8..12].copy_from_slice(&v.to_le_bytes());
            let crc = crc32c::crc32c(&other[..28]);
            other[28..32].copy_from_slice(&crc.to_le_bytes());
            other
        };
        assert_eq!(decode_segment_header(&with_version(1)).unwrap().version, 1);
        assert_eq!(
            decode_segment_header(&with_version(3)),
            Err(HeaderError::Version(3))
        );
        assert_eq!(
            decode_segment_header(&with_version(0)),
            Err(HeaderError::Version(0))
        );
    }
}
