//! Recovery on open: scan every segment, verify every record, rebuild topics, offsets and
//! cursors, and cut a torn tail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::format::{decode_record, RecordError, RecordKind, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use crate::recovery_stats::RecoveryStats;
use crate::segment::{
    segment_file_name, write_durable_header, ActiveSegment, SegmentMeta, DAMAGED_SUFFIX,
};
use crate::state::State;
use crate::storage::{Backend, Storage};
use crate::walk::{Outcome, Proof, Reader, SegmentWalk, Step, Trailing, TrailingKind, WINDOW};

/// What recovery rebuilt.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The append-side state, with nothing pending.
    pub state: State,
    /// Handles opened while scanning, for the pool.
    pub handles: Vec<(u64, Arc<dyn Storage>)>,
    /// Topics the active segment does not declare (its preamble was cut with a torn tail):
    /// they are declared again, so that the segment stays self-describing.
    pub undeclared: Vec<u32>,
    /// What recovery read, cut and set aside.
    pub stats: RecoveryStats,
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

/// The error for damage at `pos`; `proof` says whether a later record showed the spot
/// was durable.
pub(crate) fn damage_error(path: &Path, pos: u64, error: RecordError, proof: Proof) -> Error {
    match (error, proof) {
        (RecordError::Checksum { expected, got }, _) => Error::ChecksumMismatch {
            path: path.to_owned(),
            offset: pos,
            expected,
            got,
        },
        (other, proof) => Error::Corrupt {
            path: path.to_owned(),
            offset: pos,
            reason: match proof {
                Proof::Found(q) => format!(
                    "{} (the record at {q} shows this part had been made durable)",
                    describe(&other)
                ),
                Proof::Undecided => format!(
                    "{} (followed by too many record-like headers to tell a torn tail from damage)",
                    describe(&other)
                ),
                Proof::None => describe(&other),
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
    let started = std::time::Instant::now();
    let mut stats = RecoveryStats::default();
    let mut walk = SegmentWalk::new(dir, backend)?;
    drop_trailing(dir, backend, &walk.trailing, &mut stats)?;
    let mut segments = BTreeMap::new();
    let mut active: Option<ActiveSegment> = None;
    // One segment open at a time: a log of thousands of segments must not need thousands
    // of descriptors (or mappings) to open.
    while let Some(step) = walk.next_step()? {
        let seg = match step {
            Step::Gap { missing, later } => {
                let reason = format!(
                    "segment {missing} is missing between {} and {}",
                    missing - 1,
                    later[0]
                );
                if mode == RecoveryMode::Strict {
                    return Err(Error::Corrupt {
                        path: dir.join(segment_file_name(missing)),
                        offset: 0,
                        reason,
                    });
                }
                tracing::warn!(%reason, "keeping the log up to the gap and setting the rest aside");
                set_aside_files(dir, backend, &later, &mut stats)?;
                break;
            }
            Step::BadHeader { error, .. } => return Err(error),
            Step::Segment(seg) => seg,
        };
        stats.segments_scanned += 1;
        let file = &seg.file;
        let set_aside_from =
            |cut, dirty_end| set_aside(dir, backend, &*file.storage, &file.path, cut, dirty_end);
        let end = match seg.outcome {
            Outcome::Clean { end } => end,
            Outcome::Torn { cut, dirty_end } => {
                tracing::info!(path = %seg.file.path.display(), cut, debris = dirty_end - cut, "cutting a torn tail");
                stats.torn_tail_bytes += dirty_end.saturating_sub(cut);
                if keep_cut {
                    stats.files_set_aside.push(set_aside_from(cut, dirty_end)?);
                } else {
                    erase(&*seg.file.storage, &seg.file.path, cut, dirty_end)?;
                }
                cut
            }
            Outcome::Damage {
                pos,
                cut,
                dirty_end,
                error,
                proof,
            } => {
                let err = damage_error(&seg.file.path, pos, error, proof);
                if mode == RecoveryMode::Strict {
                    return Err(err);
                }
                tracing::warn!(error = %err, "keeping the log up to the damage and setting the rest aside");
                stats.files_set_aside.push(set_aside_from(cut, dirty_end)?);
                stats.damaged_bytes_set_aside += dirty_end.saturating_sub(cut);
                set_aside_files(dir, backend, &seg.later, &mut stats)?;
                cut
            }
        };
        segments.insert(
            seg.file.id,
            SegmentMeta::recovered(seg.file.path, seg.base_lsn, seg.file.len),
        );
        // A segment of an older format version takes no new record: its header would let
        // an older build read records it does not know. The first write rolls over.
        let capacity = if seg.version < FORMAT_VERSION {
            end
        } else {
            seg.file.len
        };
        active = Some(ActiveSegment {
            id: seg.file.id,
            storage: seg.file.storage,
            base_lsn: seg.base_lsn,
            capacity,
            end,
        });
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
    let undeclared = walk.replay.undeclared_in_segment();
    let handles = vec![(active.id, active.storage.clone())];
    let topics = walk.replay.finish();
    stats.bytes_read = walk.stats.bytes_read;
    stats.bytes_checksummed = walk.stats.bytes_checksummed;
    stats.duration = started.elapsed();
    Ok(Recovered {
        stats,
        undeclared,
        state: State {
            topics,
            segments,
            active,
            pending: Default::default(),
            truncation_lsn: 0,
        },
        handles,
    })
}

/// Deals with the trailing segments that never held an acknowledged record, last first,
/// syncing the directory after each, so that the ids left stay consecutive whatever a
/// crash keeps: removes the unwritten ones, and sets aside whole (as `*.damaged`) those
/// whose header never became durable.
fn drop_trailing(
    dir: &Path,
    backend: &dyn Backend,
    trailing: &[Trailing],
    stats: &mut RecoveryStats,
) -> Result<()> {
    for t in trailing {
        match t.kind {
            TrailingKind::Unwritten => {
                tracing::info!(path = %t.path.display(), "removing a segment that never took a record");
                backend
                    .remove(&t.path)
                    .map_err(|e| Error::io("remove empty segment", &t.path, None, e))?;
                stats.unwritten_segments_removed += 1;
            }
            TrailingKind::HeaderNeverDurable => {
                tracing::info!(path = %t.path.display(), "setting aside a last segment whose header never became durable (a torn tail)");
                let to = free_name(dir, &segment_file_name(t.id));
                backend
                    .rename(&t.path, &to)
                    .map_err(|e| Error::io("set aside segment", &t.path, None, e))?;
                stats.segments_set_aside += 1;
                stats.files_set_aside.push(to);
            }
        }
        backend
            .sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, None, e))?;
    }
    Ok(())
}

/// Zeroes `from..to` and syncs, so debris can never be read as records later.
fn erase(storage: &dyn Storage, path: &Path, from: u64, to: u64) -> Result<()> {
    if to <= from {
        return Ok(());
    }
    let zeros = vec![0u8; WINDOW.min((to - from) as usize)];
    let mut pos = from;
    while pos < to {
        let n = ((to - pos) as usize).min(zeros.len());
        storage
            .write_at(pos, &zeros[..n])
            .map_err(|e| Error::io("erase torn tail", path, Some(pos), e))?;
        pos += n as u64;
    }
    storage.sync().map_err(|e| Error::io("sync", path, None, e))
}

/// Copies `pos..dirty_end` of a segment beside it, then erases it from the segment.
/// Returns the copy's path.
fn set_aside(
    dir: &Path,
    backend: &dyn Backend,
    storage: &dyn Storage,
    path: &Path,
    pos: u64,
    dirty_end: u64,
) -> Result<PathBuf> {
    let dirty_end = dirty_end.max(pos);
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let copy_path = free_name(dir, &format!("{stem}.from-{pos}"));
    let copy = backend
        .create(&copy_path, dirty_end - pos)
        .map_err(|e| Error::io("save damaged data", &copy_path, None, e))?;
    Reader::new(storage, path)?.copy_to(pos, dirty_end, &*copy, &copy_path)?;
    copy.sync()
        .map_err(|e| Error::io("save damaged data", &copy_path, None, e))?;
    backend
        .sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, None, e))?;
    erase(storage, path, pos, dirty_end)?;
    Ok(copy_path)
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

/// Renames whole later segments aside (they follow damage, so their data cannot be used),
/// last first, so that the ids left stay consecutive whatever a crash keeps.
fn set_aside_files(
    dir: &Path,
    backend: &dyn Backend,
    ids: &[u64],
    stats: &mut RecoveryStats,
) -> Result<()> {
    for &id in ids.iter().rev() {
        let from = dir.join(segment_file_name(id));
        let to = free_name(dir, &segment_file_name(id));
        backend
            .rename(&from, &to)
            .map_err(|e| Error::io("set aside segment", &from, None, e))?;
        stats.segments_set_aside += 1;
        stats.files_set_aside.push(to);
        backend
            .sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, None, e))?;
    }
    Ok(())
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
    write_durable_header(&*storage, id)
        .map_err(|e| Error::io("write segment header", &path, Some(0), e))?;
    backend
        .sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, None, e))?;
    Ok(ActiveSegment {
        id,
        storage,
        base_lsn: 0,
        capacity: size,
        end: SEGMENT_HEADER_LEN as u64,
    })
}
