//! Topics: name validation, and the in-memory index from a topic's offsets to records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result, TopicNameProblem};
use crate::index::RunLocs;
use crate::topic_stats::TopicCounts;

/// The longest topic name, in bytes.
pub const MAX_TOPIC_NAME_LEN: usize = 255;

/// Checks a topic name. Names are stored inside records, never used as paths, but the rules
/// still refuse anything that could become one, so that tools built on the log stay safe.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some(TopicNameProblem::Empty)
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        Some(TopicNameProblem::TooLong)
    } else if name.contains('\0') {
        Some(TopicNameProblem::Nul)
    } else if name.contains(['/', '\\']) {
        Some(TopicNameProblem::PathSeparator)
    } else if name == "." || name == ".." {
        Some(TopicNameProblem::DotName)
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::InvalidTopic {
            name: name.chars().take(64).collect(),
            problem,
        }),
    }
}

/// Where one entry's record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    /// Segment id.
    pub segment: u64,
    /// Byte position of the record in the segment.
    pub pos: u32,
    /// Payload length.
    pub len: u32,
    /// Log sequence number just past the record (see `ARCHITECTURE.md`).
    pub lsn_end: u64,
}

/// The entries of one topic that live in one segment, in offset order.
#[derive(Debug)]
struct Run {
    segment: u64,
    /// LSN of byte 0 of the segment.
    base_lsn: u64,
    first_offset: u64,
    /// Position and payload length per entry.
    locs: RunLocs,
}

/// The name of a topic's shared cursor (the one `read_next` moves).
pub(crate) const SHARED_CURSOR: &str = "";

/// One consumer's position in a topic.
///
/// Three values, because a cursor record is written before it is durable: `cursor` is
/// where reads continue, `persisted` the value last encoded into the log (at `persisted_lsn`),
/// and `durable` a value known to be durable. Retention may only trust durable positions:
/// deleting entries behind a cursor record that a power loss can still take away would
/// lose entries never delivered.
#[derive(Debug, Clone)]
pub(crate) struct CursorState {
    /// The next offset this consumer reads.
    pub cursor: u64,
    /// The value last written to the log.
    pub persisted: u64,
    /// The LSN just past the record that wrote `persisted` (0: found on disk).
    persisted_lsn: u64,
    /// A value that was durable the last time `persisted` changed.
    durable: u64,
    /// Held while reading through this cursor, so two readers never get one entry.
    pub lock: Arc<Mutex<()>>,
}

impl CursorState {
    pub fn at(offset: u64) -> Self {
        Self {
            cursor: offset,
            persisted: offset,
            persisted_lsn: 0,
            durable: offset,
            lock: Arc::default(),
        }
    }

    /// The LSN just past the record that wrote [`CursorState::persisted`] (0: found on
    /// disk).
    pub fn persisted_lsn(&self) -> u64 {
        self.persisted_lsn
    }

    /// Records that `value` was written to the log by the record ending at `lsn`, when
    /// the log was durable up to `durable_lsn`.
    pub fn persist(&mut self, value: u64, lsn: u64, durable_lsn: u64) {
        if self.persisted_lsn <= durable_lsn {
            self.durable = self.persisted;
        }
        self.persisted = value;
        self.persisted_lsn = lsn;
    }

    /// The highest value of this cursor known durable when the log is durable up to
    /// `durable_lsn` (never more than what a crash now would leave).
    pub fn durable_value(&self, durable_lsn: u64) -> u64 {
        if self.persisted_lsn <= durable_lsn {
            self.persisted
        } else {
            self.durable
        }
    }
}

/// Bytes the record of metadata `key` = `value` takes.
pub(crate) fn meta_record_len(key: &str, value: &[u8]) -> u64 {
    crate::format::record_size(1 + key.len() + value.len()) as u64
}

/// Everything the engine knows about one topic.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub id: u32,
    pub name: String,
    /// The offset the next append gets (also the number of entries ever appended).
    pub next_offset: u64,
    /// Entries below this offset were truncated (`truncate_before`).
    floor: u64,
    /// Cursors by consumer name; [`SHARED_CURSOR`] is always present.
    pub cursors: BTreeMap<String, CursorState>,
    /// Metadata by key (`Wal::set_meta`), re-declared in every segment's preamble.
    pub meta: BTreeMap<String, Vec<u8>>,
    /// Entries and bytes appended since the log was opened (`Wal::topic_stats`).
    counts: TopicCounts,
    runs: Vec<Run>,
}

impl TopicState {
    pub fn new(id: u32, name: String, next_offset: u64) -> Self {
        let mut cursors = BTreeMap::new();
        cursors.insert(SHARED_CURSOR.to_owned(), CursorState::at(next_offset));
        Self {
            id,
            name,
            next_offset,
            floor: next_offset,
            cursors,
            meta: BTreeMap::new(),
            counts: Default::default(),
            runs: Vec::new(),
        }
    }

    /// Entries and bytes appended since the log was opened.
    pub fn counts(&self) -> TopicCounts {
        self.counts
    }

    /// Counts one append call of `entries` entries and `bytes` payload bytes.
    pub fn count_appended(&mut self, entries: u64, bytes: u64) {
        self.counts.appended(entries, bytes);
    }

    /// The cursor of consumer `name`, created at the first retained offset if new.
    pub fn cursor_mut(&mut self, name: &str) -> &mut CursorState {
        let first = self.first_offset();
        self.cursors
            .entry(name.to_owned())
            .or_insert_with(|| CursorState::at(first))
    }

    /// Bytes a declaration of this topic takes (definition, a record per cursor and one
    /// per metadata key).
    pub fn declaration_len(&self) -> u64 {
        let cursors: usize = self
            .cursors
            .keys()
            .map(|n| crate::format::record_size(n.len()))
            .sum();
        let meta: u64 = self.meta.iter().map(|(k, v)| meta_record_len(k, v)).sum();
        (crate::format::record_size(self.name.len()) + cursors) as u64 + meta
    }

    /// Bytes the declaration of a new topic named `name` takes: its definition and its
    /// shared cursor.
    pub fn new_declaration_len(name: &str) -> u64 {
        (crate::format::record_size(name.len()) + crate::format::record_size(0)) as u64
    }

    /// The lowest durable cursor when the log is durable up to `durable_lsn`: entries from
    /// here on must be kept. Never past where a cursor reads next: a checkpointed read
    /// whose cursor record was queued but could not be written (a full disk) fails and
    /// leaves the cursor where it was, so the next read returns those entries again,
    /// while its record, written later, stands ahead of the cursor.
    pub fn retained_from(&self, durable_lsn: u64) -> u64 {
        self.cursors
            .values()
            .map(|c| c.durable_value(durable_lsn).min(c.cursor))
            .min()
            .unwrap_or(self.next_offset)
    }

    /// Forgets the entries below `offset` (truncation) by the record ending at `lsn`;
    /// cursors move up to it, and are durable there once that record is. Past the end, the
    /// topic starts at `offset`: its next append gets it.
    pub fn truncate_before(&mut self, offset: u64, lsn: u64, durable_lsn: u64) {
        self.next_offset = self.next_offset.max(offset);
        if offset <= self.floor {
            return;
        }
        self.floor = offset;
        while let Some(run) = self.runs.first_mut() {
            let end = run.first_offset + run.locs.len() as u64;
            if end <= offset {
                self.runs.remove(0);
                continue;
            }
            if run.first_offset < offset {
                run.locs.drain_front((offset - run.first_offset) as usize);
                run.first_offset = offset;
            }
            break;
        }
        for c in self.cursors.values_mut() {
            c.cursor = c.cursor.max(offset);
            if c.persisted < offset {
                c.persist(offset, lsn, durable_lsn);
            }
        }
    }

    /// Forgets the entries from `offset` on (a suffix truncation): the next append gets
    /// `offset`, and cursors past it move back to it. Lowering a cursor's durable value at
    /// once is safe: retention only keeps more for it. Below the first retained offset the
    /// topic is left empty, starting at `offset` (replay meets that when the segments that
    /// held the truncated entries are gone and a preamble declared a later next offset).
    pub fn truncate_from(&mut self, offset: u64) {
        if offset >= self.next_offset {
            return;
        }
        while let Some(run) = self.runs.last_mut() {
            if run.first_offset >= offset {
                self.runs.pop();
                continue;
            }
            run.locs.truncate((offset - run.first_offset) as usize);
            break;
        }
        self.next_offset = offset;
        self.floor = self.floor.min(offset);
        for c in self.cursors.values_mut() {
            c.cursor = c.cursor.min(offset);
            c.persisted = c.persisted.min(offset);
            c.durable = c.durable.min(offset);
        }
    }

    /// The last offset this topic holds in `segment` if that is its oldest segment.
    pub fn last_offset_in_oldest(&self, segment: u64) -> Option<u64> {
        let run = self.runs.first().filter(|r| r.segment == segment)?;
        Some(run.first_offset + run.locs.len() as u64 - 1)
    }

    /// Forgets the entries of `segment`, which must be this topic's oldest.
    pub fn drop_segment(&mut self, segment: u64) {
        if self.runs.first().is_some_and(|r| r.segment == segment) {
            let run = self.runs.remove(0);
            self.floor = self.floor.max(run.first_offset + run.locs.len() as u64);
        }
    }

    /// `true` when the index holds no entry.
    pub fn is_index_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The first offset still held in the index.
    pub fn first_offset(&self) -> u64 {
        self.runs
            .first()
            .map_or(self.next_offset, |r| r.first_offset)
            .max(self.floor)
    }

    /// Records that entry `next_offset` lives at `pos` in `segment`, and advances.
    pub fn push(&mut self, segment: u64, base_lsn: u64, pos: u32, len: u32) {
        match self.runs.last_mut() {
            Some(run) if run.segment == segment => run.locs.push(pos, len),
            last => {
                if let Some(done) = last {
                    done.locs.shrink();
                }
                let mut locs = RunLocs::default();
                locs.push(pos, len);
                self.runs.push(Run {
                    segment,
                    base_lsn,
                    first_offset: self.next_offset,
                    locs,
                });
            }
        }
        self.next_offset += 1;
    }

    /// Where entry `offset` lives, if the index holds it.
    pub fn locate(&self, offset: u64) -> Option<Location> {
        if offset >= self.next_offset {
            return None;
        }
        let i = self.runs.partition_point(|r| r.first_offset <= offset);
        let run = self.runs.get(i.checked_sub(1)?)?;
        let (pos, len) = run
            .locs
            .get(usize::try_from(offset - run.first_offset).ok()?)?;
        Some(Location {
            segment: run.segment,
            pos,
            len,
            lsn_end: run.base_lsn
                + u64::from(pos)
                + crate::format::record_size(len as usize) as u64,
        })
    }

    /// The highest offset whose record ends at or before `durable_lsn`.
    pub fn durable_offset(&self, durable_lsn: u64) -> Option<u64> {
        // Entries are in LSN order, so binary search on the offset.
        let (mut lo, mut hi) = (self.first_offset(), self.next_offset);
        let durable = |o: u64| self.locate(o).is_some_and(|l| l.lsn_end <= durable_lsn);
        if lo == hi || !durable(lo) {
            return None;
        }
        // Invariant: durable(lo), and every offset >= hi is not durable.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if durable(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for (name, problem) in [
            ("", TopicNameProblem::Empty),
            ("a\0b", TopicNameProblem::Nul),
            ("a/b", TopicNameProblem::PathSeparator),
            ("a\\b", TopicNameProblem::PathSeparator),
            (".", TopicNameProblem::DotName),
            ("..", TopicNameProblem::DotName),
        ] {
            match validate_topic_name(name) {
                Err(Error::InvalidTopic { problem: p, .. }) => assert_eq!(p, problem, "{name:?}"),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        let long = "x".repeat(MAX_TOPIC_NAME_LEN + 1);
        assert!(matches!(
            validate_topic_name(&long),
            Err(Error::InvalidTopic {
                problem: TopicNameProblem::TooLong,
                ..
            })
        ));
        validate_topic_name(&"x".repeat(MAX_TOPIC_NAME_LEN)).unwrap();
        validate_topic_name("orders.v2-é").unwrap();
    }

    #[test]
    fn index_locates_across_segments() {
        let mut t = TopicState::new(0, "t".into(), 10);
        t.push(1, 0, 32, 5);
        t.push(1, 0, 64, 7);
        t.push(2, 1000, 32, 1);
        assert_eq!(t.locate(9), None);
        assert_eq!(t.locate(10).unwrap().pos, 32);
        assert_eq!(t.locate(11).unwrap().len, 7);
        let l = t.locate(12).unwrap();
        assert_eq!((l.segment, l.lsn_end), (2, 1000 + 32 + 32));
        assert_eq!(t.locate(13), None);
        assert_eq!(t.durable_offset(0), None);
        assert_eq!(t.durable_offset(64), Some(10));
        assert_eq!(t.durable_offset(1064), Some(12));
    }

    #[test]
    fn a_suffix_truncation_drops_runs_from_the_back_and_refills() {
        let mut t = TopicState::new(0, "t".into(), 0);
        t.push(1, 0, 32, 5);
        t.push(1, 0, 64, 5);
        t.push(2, 1000, 32, 5);
        t.push(2, 1000, 64, 5);
        t.cursor_mut("c").cursor = 4;
        t.cursor_mut("c").persist(4, 0, 0);
        t.truncate_from(1);
        assert_eq!((t.next_offset, t.first_offset()), (1, 0));
        assert_eq!(t.locate(1), None);
        assert_eq!(t.cursors["c"].cursor, 1);
        assert_eq!(t.cursors["c"].durable_value(0), 1);
        t.push(3, 5000, 32, 9);
        let l = t.locate(1).unwrap();
        assert_eq!((l.segment, l.len), (3, 9));
        assert_eq!(t.locate(0).unwrap().segment, 1);
        t.truncate_from(7); // past the end: nothing
        assert_eq!(t.next_offset, 2);
        t.truncate_from(0);
        assert!(t.is_index_empty());
        assert_eq!((t.next_offset, t.first_offset()), (0, 0));
    }

    #[test]
    fn truncating_before_past_the_end_starts_the_topic_there() {
        let mut t = TopicState::new(0, "t".into(), 0);
        t.truncate_before(10, 100, 0);
        assert_eq!((t.next_offset, t.first_offset(), t.floor), (10, 10, 10));
        assert_eq!(t.cursors[SHARED_CURSOR].cursor, 10);
        assert_eq!(t.cursors[SHARED_CURSOR].durable_value(0), 0);
        assert_eq!(t.cursors[SHARED_CURSOR].durable_value(100), 10);
        t.push(1, 0, 32, 1);
        assert_eq!(t.locate(10).unwrap().pos, 32);
        t.truncate_before(20, 200, 100);
        assert!(t.is_index_empty());
        assert_eq!((t.next_offset, t.first_offset()), (20, 20));
    }
}
