//! Read-only inspection of a log directory, for tools (`wal verify`, `wal stats`,
//! `wal dump`): what recovery would find, without changing anything and without taking the
//! directory's lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::record_size;
use crate::recovery::damage_error;
use crate::segment::segment_file_name;
use crate::storage::{read_exact_at, Backend};
use crate::topic_table::TopicTable;
pub use crate::walk::ScanStats;
use crate::walk::{Outcome, SegmentWalk, Step, TrailingKind};

/// What one segment holds, as recovery would see it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Finding {
    /// Records up to the end of the data, then never-written space.
    Clean,
    /// A torn tail at `offset`: `debris` bytes after it that recovery would cut (they were
    /// never acknowledged as durable).
    TornTail {
        /// Where the torn part starts.
        offset: u64,
        /// Bytes recovery would erase.
        debris: u64,
    },
    /// Damage that recovery refuses under `RecoveryMode::Strict` (the error it would give).
    Damaged(Error),
    /// The file is all zeros (created, never written): recovery would remove it.
    Unwritten,
    /// Not scanned: it follows damage, so its records cannot be trusted.
    NotChecked,
}

/// One segment file.
#[derive(Debug)]
pub struct SegmentReport {
    /// The segment id.
    pub id: u64,
    /// Its file.
    pub path: PathBuf,
    /// The file's size.
    pub len: u64,
    /// Where its records end (the end of the clean part).
    pub data_end: u64,
    /// What the scan found.
    pub finding: Finding,
}

/// One topic's summary.
#[derive(Debug, Clone)]
pub struct TopicReport {
    /// The topic's name.
    pub name: String,
    /// The oldest offset held.
    pub first_offset: u64,
    /// The offset the next append would get.
    pub next_offset: u64,
    /// Bytes its entries take on disk (records with headers and padding).
    pub bytes: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// Cursors by consumer name (`""` is the shared cursor), with their position.
    pub cursors: Vec<(String, u64)>,
    /// Metadata values by key ([`crate::Wal::set_meta`]).
    pub meta: Vec<(String, Vec<u8>)>,
}

/// Where an entry lives, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Its offset in the topic.
    pub offset: u64,
    /// The segment holding it.
    pub segment: u64,
    /// Its record's byte position in the segment file.
    pub position: u64,
    /// Its payload.
    pub data: Vec<u8>,
}

/// The result of [`inspect`].
#[derive(Debug)]
pub struct Inspection {
    dir: PathBuf,
    /// Every segment file, in id order.
    pub segments: Vec<SegmentReport>,
    /// A gap in the segment ids, if any (recovery reports it as damage).
    pub missing_segment: Option<u64>,
    topics: TopicTable,
    stats: ScanStats,
}

/// Scans every segment of the log in `dir` through `backend`, exactly as recovery would,
/// but changes nothing. One segment is open at a time and it is read through a bounded
/// window, so memory does not grow with the size of the log or of a file.
pub fn inspect(dir: &Path, backend: &dyn Backend) -> Result<Inspection> {
    let mut walk = SegmentWalk::new(dir, backend)?;
    let mut segments = Vec::new();
    let mut missing_segment = None;
    let mut not_checked = Vec::new();
    while let Some(step) = walk.next_step()? {
        match step {
            Step::Gap { missing, later } => {
                missing_segment = Some(missing);
                not_checked = later;
            }
            Step::BadHeader {
                id,
                path,
                len,
                error,
                later,
            } => {
                not_checked = later;
                segments.push(SegmentReport {
                    id,
                    path,
                    len,
                    data_end: 0,
                    finding: Finding::Damaged(error),
                });
            }
            Step::Segment(seg) => {
                let (finding, end) = match seg.outcome {
                    Outcome::Clean { end } => (Finding::Clean, end),
                    Outcome::Torn { cut, dirty_end } => (
                        Finding::TornTail {
                            offset: cut,
                            debris: dirty_end - cut,
                        },
                        cut,
                    ),
                    Outcome::Damage {
                        pos,
                        cut,
                        error,
                        proof,
                        ..
                    } => {
                        not_checked = seg.later.clone();
                        (
                            Finding::Damaged(damage_error(&seg.file.path, pos, error, proof)),
                            cut,
                        )
                    }
                };
                segments.push(SegmentReport {
                    id: seg.file.id,
                    path: seg.file.path,
                    len: seg.file.len,
                    data_end: end,
                    finding,
                });
            }
        }
    }
    let report = |id: u64, finding: Finding| -> Result<SegmentReport> {
        let path = dir.join(segment_file_name(id));
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::io("stat", &path, None, e))?
            .len();
        Ok(SegmentReport {
            id,
            path,
            len,
            data_end: 0,
            finding,
        })
    };
    for id in not_checked {
        segments.push(report(id, Finding::NotChecked)?);
    }
    for t in walk.trailing.iter().rev() {
        let finding = match t.kind {
            TrailingKind::Unwritten => Finding::Unwritten,
            TrailingKind::HeaderNeverDurable => Finding::TornTail {
                offset: 0,
                debris: t.len,
            },
        };
        segments.push(report(t.id, finding)?);
    }
    let stats = walk.stats;
    let topics = walk.replay.finish();
    Ok(Inspection {
        dir: dir.to_owned(),
        segments,
        missing_segment,
        topics,
        stats,
    })
}

impl Inspection {
    /// What the scan read and checksummed, and its largest single read.
    pub fn scan_stats(&self) -> ScanStats {
        self.stats
    }

    /// `true` when recovery would open the log without cutting or refusing anything.
    pub fn is_clean(&self) -> bool {
        self.missing_segment.is_none()
            && self
                .segments
                .iter()
                .all(|s| matches!(s.finding, Finding::Clean))
    }

    /// `true` when recovery under `RecoveryMode::Strict` would refuse the log.
    pub fn is_damaged(&self) -> bool {
        self.missing_segment.is_some()
            || self
                .segments
                .iter()
                .any(|s| matches!(s.finding, Finding::Damaged(_)))
    }

    /// Every topic, in id order.
    pub fn topics(&self) -> Vec<TopicReport> {
        self.topics
            .iter()
            .map(|t| {
                let (mut bytes, mut payload_bytes) = (0, 0);
                for o in t.first_offset()..t.next_offset {
                    if let Some(l) = t.locate(o) {
                        payload_bytes += u64::from(l.len);
                        bytes += record_size(l.len as usize) as u64;
                    }
                }
                TopicReport {
                    name: t.name.clone(),
                    first_offset: t.first_offset(),
                    next_offset: t.next_offset,
                    bytes,
                    payload_bytes,
                    cursors: t
                        .cursors
                        .iter()
                        .map(|(n, c)| (n.clone(), c.cursor))
                        .collect(),
                    meta: t.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                }
            })
            .collect()
    }

    /// Segments that every cursor has passed (what retention would delete, policy aside).
    pub fn reclaimable_segments(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let Some(last) = self
            .segments
            .iter()
            .rev()
            .find(|s| s.data_end > 0)
            .map(|s| s.id)
        else {
            return out;
        };
        for s in &self.segments {
            if s.id >= last {
                break;
            }
            let needed = self.topics.iter().any(|t| {
                (t.first_offset()..t.next_offset).any(|o| {
                    t.locate(o).is_some_and(|l| l.segment == s.id) && o >= t.retained_from(u64::MAX)
                })
            });
            if needed {
                break;
            }
            out.push(s.id);
        }
        out
    }

    /// Up to `limit` entries of `topic` from `from` on, with where they live, read through
    /// `backend` and checked like every read.
    pub fn entries(
        &self,
        backend: &dyn Backend,
        topic: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<EntryInfo>> {
        let Some(t) = self.topics.get(topic) else {
            return Ok(Vec::new());
        };
        let mut open = BTreeMap::new();
        let mut out = Vec::new();
        for offset in from.max(t.first_offset())..t.next_offset {
            if out.len() >= limit {
                break;
            }
            let Some(loc) = t.locate(offset) else { break };
            let path = self.dir.join(segment_file_name(loc.segment));
            if !open.contains_key(&loc.segment) {
                open.clear(); // one segment open at a time
                let s = backend
                    .open(&path)
                    .map_err(|e| Error::io("open segment", &path, None, e))?;
                open.insert(loc.segment, s);
            }
            let storage = &open[&loc.segment];
            let mut buf = vec![0u8; record_size(loc.len as usize)];
            read_exact_at(&**storage, u64::from(loc.pos), &mut buf)
                .map_err(|e| Error::io("read", &path, Some(u64::from(loc.pos)), e))?;
            let data = crate::recovery::decode_entry(
                &buf,
                loc.segment,
                &path,
                u64::from(loc.pos),
                t.id,
                offset,
            )?;
            out.push(EntryInfo {
                offset,
                segment: loc.segment,
                position: u64::from(loc.pos),
                data,
            });
        }
        Ok(out)
    }
}
