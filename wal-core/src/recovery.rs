//! Recovery on open: scan every segment, verify every record, rebuild topics, offsets and
//! cursors, and cut a torn tail.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::format::{
    self, decode_record, record_size, HeaderError, RecordError, RecordHeader, RecordKind,
    FLAG_BATCH, FLAG_BATCH_END, RECORD_ALIGN, SEGMENT_HEADER_LEN,
};
use crate::segment::{
    list_segments, segment_file_name, ActiveSegment, SegmentMeta, DAMAGED_SUFFIX,
};
use crate::storage::{read_exact_at, Backend, Storage};
use crate::topic::{validate_topic_name, TopicState};

/// What recovery rebuilt.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub topics: HashMap<String, u32>,
    pub topic_list: Vec<TopicState>,
    pub segments: BTreeMap<u64, SegmentMeta>,
    pub active: ActiveSegment,
    /// Handles opened while scanning, for the pool.
    pub handles: Vec<(u64, Arc<dyn Storage>)>,
    /// Topics the active segment does not declare (its preamble was cut with a torn tail):
    /// they are declared again, so that the segment stays self-describing.
    pub undeclared: Vec<u32>,
}

/// How the scan of one segment ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Records up to `end`, then never-written space.
    Clean { end: usize },
    /// A torn tail: records up to `cut` are good, bytes in `cut..dirty_end` are debris.
    Torn { cut: usize, dirty_end: usize },
    /// Damage at `pos` that is not a torn tail. Records before `cut` are whole (`cut` is
    /// before `pos` when the damage interrupts a batch, which then counts for nothing).
    Damage {
        pos: usize,
        cut: usize,
        error: RecordError,
        proof: Option<usize>,
    },
}

/// Decodes the entry record at the start of `buf` (read from `pos` in segment `segment`)
/// and checks it is entry `offset` of `topic`.
pub(crate) fn decode_entry(
    buf: &[u8],
    segment: u64,
    path: &Path,
    pos: u64,
    topic: u32,
    offset: u64,
) -> Result<Vec<u8>> {
    let (h, payload) = decode_record(buf, segment).map_err(|e| record_error(path, pos, e))?;
    if h.kind != RecordKind::Entry || h.topic != topic || h.offset != offset {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            offset: pos,
            reason: format!(
                "expected entry {offset} of topic id {topic}, found {:?} {} of topic id {}",
                h.kind, h.offset, h.topic
            ),
        });
    }
    Ok(payload.to_vec())
}

fn record_error(path: &Path, pos: u64, e: RecordError) -> Error {
    match e {
        RecordError::Checksum { expected, got } => Error::ChecksumMismatch {
            path: path.to_owned(),
            offset: pos,
            expected,
            got,
        },
        other => Error::Corrupt {
            path: path.to_owned(),
            offset: pos,
            reason: describe(&other),
        },
    }
}

/// The error for damage at `pos`; `proof` is the record showing the spot was durable.
pub(crate) fn damage_error(
    path: &Path,
    pos: usize,
    error: RecordError,
    proof: Option<usize>,
) -> Error {
    match (error, proof) {
        (RecordError::Checksum { expected, got }, _) => Error::ChecksumMismatch {
            path: path.to_owned(),
            offset: pos as u64,
            expected,
            got,
        },
        (other, proof) => Error::Corrupt {
            path: path.to_owned(),
            offset: pos as u64,
            reason: match proof {
                Some(q) => format!(
                    "{} (the record at {q} shows this part had been made durable)",
                    describe(&other)
                ),
                None => describe(&other),
            },
        },
    }
}

fn describe(e: &RecordError) -> String {
    match e {
        RecordError::Zero => "unwritten space where a record was expected".into(),
        RecordError::Truncated => "record runs past the end of the segment".into(),
        RecordError::Malformed(m) | RecordError::Invalid(m) => m.clone(),
        RecordError::Checksum { expected, got } => {
            format!("checksum mismatch: stored {expected:#010x}, computed {got:#010x}")
        }
    }
}

/// Rebuilds the log's state from the segments in `dir`, creating the first segment of an
/// empty log.
pub(crate) fn recover(
    dir: &Path,
    backend: &dyn Backend,
    segment_size: u64,
    mode: RecoveryMode,
    keep_cut: bool,
) -> Result<Recovered> {
    let mut ids = list_segments(dir)?;
    drop_unwritten_tail_segments(dir, backend, &mut ids)?;
    // One segment open at a time: a log of thousands of segments must not need thousands
    // of descriptors (or mappings) to open.
    let open = |id: u64| -> Result<(u64, PathBuf, Arc<dyn Storage>)> {
        let path = dir.join(segment_file_name(id));
        let storage = backend
            .open(&path)
            .map_err(|e| Error::io("open segment", &path, None, e))?;
        Ok((id, path, storage))
    };

    let mut replay = Replayer::default();
    let mut segments = BTreeMap::new();
    let mut base_lsn = 0u64;
    let mut active: Option<ActiveSegment> = None;
    let count = ids.len();
    for (i, &id) in ids.iter().enumerate() {
        if let Some(prev) = &active {
            if id != prev.id + 1 {
                let missing = dir.join(segment_file_name(prev.id + 1));
                let reason = format!(
                    "segment {} is missing between {} and {id}",
                    prev.id + 1,
                    prev.id
                );
                if mode == RecoveryMode::Strict {
                    return Err(Error::Corrupt {
                        path: missing,
                        offset: 0,
                        reason,
                    });
                }
                tracing::warn!(%reason, "keeping the log up to the gap and setting the rest aside");
                for later in &ids[i..] {
                    set_aside_file(dir, backend, *later)?;
                }
                break;
            }
        }
        let is_last = i + 1 == count;
        let (id, path, storage) = open(id)?;
        let buf = read_all(&*storage, &path)?;
        check_header(&buf, id, &path)?;
        replay.begin_segment();
        let outcome = scan(&buf, id, is_last, base_lsn, &mut replay);
        let (end, stop) = match outcome {
            Outcome::Clean { end } => (end, false),
            Outcome::Torn { cut, dirty_end } => {
                tracing::info!(path = %path.display(), cut, debris = dirty_end - cut, "cutting a torn tail");
                replay.discard_staged();
                if keep_cut {
                    set_aside(dir, backend, &*storage, &path, &buf, cut)?;
                } else {
                    erase(&*storage, &path, cut, dirty_end)?;
                }
                (cut, false)
            }
            Outcome::Damage {
                pos,
                cut,
                error,
                proof,
            } => {
                if mode == RecoveryMode::Strict {
                    return Err(damage_error(&path, pos, error, proof));
                }
                let err = damage_error(&path, pos, error, proof);
                tracing::warn!(error = %err, "keeping the log up to the damage and setting the rest aside");
                replay.discard_staged();
                set_aside(dir, backend, &*storage, &path, &buf, cut)?;
                for later in &ids[i + 1..] {
                    set_aside_file(dir, backend, *later)?;
                }
                (cut, true)
            }
        };
        let len = buf.len() as u64;
        segments.insert(id, SegmentMeta::recovered(path, base_lsn, len));
        active = Some(ActiveSegment {
            id,
            storage,
            base_lsn,
            capacity: len,
            end: end as u64,
        });
        base_lsn += len;
        if stop {
            break;
        }
    }
    let active = match active {
        Some(a) => a,
        None => {
            let id = 1;
            let a = create_first_segment(dir, backend, id, segment_size)?;
            segments.insert(
                id,
                SegmentMeta::recovered(dir.join(segment_file_name(id)), 0, segment_size),
            );
            a
        }
    };
    // Whatever was read may still sit only in the page cache (after a process crash):
    // make it durable before new records claim it is.
    active
        .storage
        .sync()
        .map_err(|e| Error::io("sync", dir.join(segment_file_name(active.id)), None, e))?;
    let undeclared = replay.undeclared_in_segment();
    let handles = vec![(active.id, active.storage.clone())];
    let (topics, topic_list) = replay.finish();
    Ok(Recovered {
        undeclared,
        topics,
        topic_list,
        segments,
        active,
        handles,
    })
}

/// Removes trailing segments that hold nothing at all: created, but the crash came before
/// their first write. They never held acknowledged data.
fn drop_unwritten_tail_segments(
    dir: &Path,
    backend: &dyn Backend,
    ids: &mut Vec<u64>,
) -> Result<()> {
    while let Some(&id) = ids.last() {
        let path = dir.join(segment_file_name(id));
        let storage = backend
            .open(&path)
            .map_err(|e| Error::io("open segment", &path, None, e))?;
        if !is_all_zero(&*storage, &path)? {
            break;
        }
        drop(storage);
        tracing::info!(path = %path.display(), "removing a segment that was created but never written");
        ids.pop();
        backend
            .remove(&path)
            .map_err(|e| Error::io("remove empty segment", &path, None, e))?;
        backend
            .sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, None, e))?;
    }
    Ok(())
}

/// `true` if the file holds no non-zero byte. Reads block by block and stops at the first
/// non-zero one, which for a written segment is in its first block.
fn is_all_zero(storage: &dyn Storage, path: &Path) -> Result<bool> {
    let len = storage
        .len()
        .map_err(|e| Error::io("stat", path, None, e))?;
    let mut block = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = block.len().min((len - pos) as usize);
        read_exact_at(storage, pos, &mut block[..n])
            .map_err(|e| Error::io("read", path, Some(pos), e))?;
        if last_nonzero(&block[..n]).is_some() {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
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

pub(crate) fn read_all(storage: &dyn Storage, path: &Path) -> Result<Vec<u8>> {
    let len = storage
        .len()
        .map_err(|e| Error::io("stat", path, None, e))?;
    let len = usize::try_from(len).map_err(|_| Error::ForeignFile {
        path: path.to_owned(),
        reason: "larger than this platform can address".into(),
    })?;
    let mut buf = vec![0u8; len];
    read_exact_at(storage, 0, &mut buf).map_err(|e| Error::io("read", path, Some(0), e))?;
    Ok(buf)
}

pub(crate) fn check_header(buf: &[u8], id: u64, path: &Path) -> Result<()> {
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
    Ok(())
}

/// Scans the records of one segment into `replay`.
pub(crate) fn scan(
    buf: &[u8],
    id: u64,
    is_last: bool,
    base_lsn: u64,
    replay: &mut Replayer,
) -> Outcome {
    let mut pos = SEGMENT_HEADER_LEN;
    let mut batch_start = None;
    loop {
        let err = match decode_record(&buf[pos..], id) {
            Ok((h, payload)) => {
                if let Err(reason) = replay.apply(id, base_lsn, pos as u32, &h, payload) {
                    let cut = batch_start.unwrap_or(pos);
                    return Outcome::Damage {
                        pos,
                        cut,
                        error: RecordError::Invalid(reason),
                        proof: None,
                    };
                }
                if h.flags & FLAG_BATCH != 0 {
                    batch_start.get_or_insert(pos);
                    if h.flags & FLAG_BATCH_END != 0 {
                        batch_start = None;
                    }
                }
                pos += record_size(h.len as usize);
                continue;
            }
            Err(e) => e,
        };
        let dirty_end = last_nonzero(buf).unwrap_or(0);
        let cut = batch_start.unwrap_or(pos);
        if dirty_end <= pos {
            // Nothing but zeros from here (a full segment ends with `Truncated`).
            // Clean end, unless a batch is missing its last record.
            return match (batch_start, is_last) {
                (None, _) => Outcome::Clean { end: pos },
                (Some(_), true) => Outcome::Torn {
                    cut,
                    dirty_end: pos,
                },
                (Some(start), false) => Outcome::Damage {
                    pos: start,
                    cut: start,
                    error: RecordError::Invalid("a batch is missing its last record".into()),
                    proof: None,
                },
            };
        }
        let proof = durable_record_after(buf, id, pos, dirty_end);
        if proof.is_none() && is_last {
            return Outcome::Torn { cut, dirty_end };
        }
        return Outcome::Damage {
            pos,
            cut,
            error: err,
            proof,
        };
    }
}

/// A valid record past `pos` whose `synced` field says the segment was durable beyond
/// `pos` when it was written: proof that damage at `pos` is not a torn tail.
fn durable_record_after(buf: &[u8], id: u64, pos: usize, dirty_end: usize) -> Option<usize> {
    (pos + RECORD_ALIGN..dirty_end)
        .step_by(RECORD_ALIGN)
        .find(|&q| matches!(decode_record(&buf[q..], id), Ok((h, _)) if h.synced as usize > pos))
}

/// Zeroes `from..to` and syncs, so debris can never be read as records later.
fn erase(storage: &dyn Storage, path: &Path, from: usize, to: usize) -> Result<()> {
    if to > from {
        storage
            .write_at(from as u64, &vec![0u8; to - from])
            .map_err(|e| Error::io("erase torn tail", path, Some(from as u64), e))?;
        storage
            .sync()
            .map_err(|e| Error::io("sync", path, None, e))?;
    }
    Ok(())
}

/// Copies the damaged part of a segment beside it, then erases it from the segment.
fn set_aside(
    dir: &Path,
    backend: &dyn Backend,
    storage: &dyn Storage,
    path: &Path,
    buf: &[u8],
    pos: usize,
) -> Result<()> {
    let dirty_end = last_nonzero(buf).unwrap_or(0).max(pos);
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let copy_path = free_name(dir, &format!("{stem}.from-{pos}"));
    let copy = backend
        .create(&copy_path, (dirty_end - pos) as u64)
        .map_err(|e| Error::io("save damaged data", &copy_path, None, e))?;
    copy.write_at(0, &buf[pos..dirty_end])
        .and_then(|()| copy.sync())
        .map_err(|e| Error::io("save damaged data", &copy_path, None, e))?;
    backend
        .sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, None, e))?;
    erase(storage, path, pos, dirty_end)
}

/// `dir/<stem>.damaged`, or `dir/<stem>.<n>.damaged` with the first `n` not taken, so
/// that setting aside never overwrites what an earlier recovery set aside.
fn free_name(dir: &Path, stem: &str) -> PathBuf {
    let first = dir.join(format!("{stem}{DAMAGED_SUFFIX}"));
    if !first.exists() {
        return first;
    }
    (1u32..)
        .map(|n| dir.join(format!("{stem}.{n}{DAMAGED_SUFFIX}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Renames a whole later segment aside (it follows damage, so its data cannot be used).
fn set_aside_file(dir: &Path, backend: &dyn Backend, id: u64) -> Result<()> {
    let from = dir.join(segment_file_name(id));
    let to = free_name(dir, &segment_file_name(id));
    backend
        .rename(&from, &to)
        .map_err(|e| Error::io("set aside segment", &from, None, e))?;
    backend
        .sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, None, e))
}

fn create_first_segment(
    dir: &Path,
    backend: &dyn Backend,
    id: u64,
    size: u64,
) -> Result<ActiveSegment> {
    let path = dir.join(segment_file_name(id));
    let storage = backend
        .create(&path, size)
        .map_err(|e| Error::io("create segment", &path, None, e))?;
    backend
        .sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, None, e))?;
    storage
        .write_at(0, &format::encode_segment_header(id))
        .map_err(|e| Error::io("write", &path, Some(0), e))?;
    Ok(ActiveSegment {
        id,
        storage,
        base_lsn: 0,
        capacity: size,
        end: SEGMENT_HEADER_LEN as u64,
    })
}

/// Applies records to the topic table, holding back a batch until its last record.
#[derive(Debug, Default)]
pub(crate) struct Replayer {
    topics: HashMap<String, u32>,
    list: Vec<TopicState>,
    /// (segment, base LSN, position, length) of the current batch's entries.
    staged: Vec<(u64, u64, u32, u32)>,
    staged_topic: u32,
    /// Topics declared by a `TopicDef` in the segment being scanned.
    declared_here: std::collections::HashSet<u32>,
}

impl Replayer {
    fn apply(
        &mut self,
        seg: u64,
        base: u64,
        pos: u32,
        h: &RecordHeader,
        payload: &[u8],
    ) -> Result<(), String> {
        let in_batch = h.flags & FLAG_BATCH != 0;
        if !self.staged.is_empty()
            && (!in_batch || h.kind != RecordKind::Entry || h.topic != self.staged_topic)
        {
            return Err("a batch is interrupted by another record".into());
        }
        match h.kind {
            RecordKind::TopicDef => self.define(h, payload),
            RecordKind::Entry => {
                let t = self.topic_mut(h.topic)?;
                let expected = t.next_offset;
                let staged = self.staged.len() as u64;
                if h.offset != expected + staged {
                    return Err(format!(
                        "entry offset {} where {} was expected",
                        h.offset,
                        expected + staged
                    ));
                }
                if in_batch {
                    self.staged_topic = h.topic;
                    self.staged.push((seg, base, pos, h.len));
                    if h.flags & FLAG_BATCH_END != 0 {
                        let t = &mut self.list[h.topic as usize];
                        for (seg, base, pos, len) in self.staged.drain(..) {
                            t.push(seg, base, pos, len);
                        }
                    }
                } else {
                    self.list[h.topic as usize].push(seg, base, pos, h.len);
                }
                Ok(())
            }
            RecordKind::Cursor => {
                let consumer = std::str::from_utf8(payload)
                    .map_err(|_| "consumer name is not UTF-8".to_string())?;
                if !consumer.is_empty() {
                    validate_topic_name(consumer).map_err(|e| e.to_string())?;
                }
                let c = self.topic_mut(h.topic)?.cursor_mut(consumer);
                c.cursor = h.offset;
                c.persisted = h.offset;
                Ok(())
            }
            RecordKind::Truncate => {
                self.topic_mut(h.topic)?.truncate_before(h.offset);
                Ok(())
            }
            RecordKind::SyncMark => Ok(()),
        }
    }

    pub(crate) fn begin_segment(&mut self) {
        self.declared_here.clear();
    }

    /// Known topics that the last scanned segment does not declare.
    fn undeclared_in_segment(&self) -> Vec<u32> {
        (0..self.list.len() as u32)
            .filter(|id| !self.declared_here.contains(id))
            .collect()
    }

    fn topic_mut(&mut self, id: u32) -> Result<&mut TopicState, String> {
        self.list
            .get_mut(id as usize)
            .ok_or_else(|| format!("record for topic id {id}, which was never defined"))
    }

    fn define(&mut self, h: &RecordHeader, payload: &[u8]) -> Result<(), String> {
        let name =
            std::str::from_utf8(payload).map_err(|_| "topic name is not UTF-8".to_string())?;
        validate_topic_name(name).map_err(|e| e.to_string())?;
        let id = h.topic as usize;
        self.declared_here.insert(h.topic);
        if let Some(t) = self.list.get_mut(id) {
            if t.name != name {
                return Err(format!(
                    "topic id {id} defined as {:?} and as {name:?}",
                    t.name
                ));
            }
            if t.is_index_empty() && h.offset > t.next_offset {
                t.next_offset = h.offset;
                t.truncate_before(h.offset);
            } else if h.offset != t.next_offset {
                return Err(format!(
                    "topic {name:?} re-declared at offset {} but holds entries up to {}",
                    h.offset, t.next_offset
                ));
            }
            return Ok(());
        }
        if id != self.list.len() {
            return Err(format!(
                "topic id {id} defined before id {}",
                self.list.len()
            ));
        }
        if self.topics.contains_key(name) {
            return Err(format!("topic {name:?} defined twice"));
        }
        self.topics.insert(name.to_owned(), h.topic);
        self.list
            .push(TopicState::new(h.topic, name.to_owned(), h.offset));
        Ok(())
    }

    pub(crate) fn discard_staged(&mut self) {
        self.staged.clear();
    }

    pub(crate) fn finish(mut self) -> (HashMap<String, u32>, Vec<TopicState>) {
        for t in &mut self.list {
            let (first, next) = (t.first_offset(), t.next_offset);
            for c in t.cursors.values_mut() {
                c.cursor = c.cursor.clamp(first, next);
                c.persisted = c.persisted.clamp(first, c.cursor);
            }
        }
        (self.topics, self.list)
    }
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
