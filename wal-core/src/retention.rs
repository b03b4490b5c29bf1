//! Reclaiming disk: deleting old segments once every cursor has passed them, and explicit
//! truncation of a topic.

use std::io;

use crate::config::FsyncSchedule;
use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{record_size, RecordKind, MAX_RECORD_OFFSET};
use crate::lock::lock;
use crate::segment::segment_file_name;
use crate::shared::Shared;
use crate::topic::{validate_topic_name, TopicState};
use crate::wal::Wal;

impl<S> Wal<S> {
    /// Forgets the entries of `topic` below `offset`, for programs that track their own
    /// positions (a Raft log after a snapshot). Reads of them give
    /// [`Error::OffsetReclaimed`]; cursors below `offset` move up to it; segments holding
    /// nothing else that is needed are deleted. Durable like an append: under
    /// [`FsyncSchedule::SyncEach`] this returns once the truncation is durable; under the
    /// other schedules it is written to the OS before this returns and durable with the
    /// next sync. No segment is deleted before it is durable (a crash that lost it would
    /// bring the entries back).
    ///
    /// On an empty or new topic, or with `offset` past the topic's end, the topic then
    /// *starts* at `offset`: every entry it held is gone, its next append gets `offset`,
    /// and [`Wal::oldest_offset`] and [`Wal::get_topic_entry_count`] both report `offset`
    /// (a Raft log whose first index is 1, or after a snapshot was installed). An unknown
    /// topic is created. `offset` beyond the 48-bit offset range is
    /// [`Error::OffsetsExhausted`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wal_core::WalBuilder;
    ///
    /// # fn main() -> wal_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(Arc::new(wal_backend_std::StdBackend::default()))
    ///     .open()?;
    /// wal.batch_append_for_topic("raft", &[b"e0", b"e1", b"e2"])?;
    /// wal.truncate_before("raft", 2)?; // a snapshot covers 0 and 1
    /// assert_eq!(wal.oldest_offset("raft"), Some(2));
    /// wal.truncate_before("raft", 100)?; // a snapshot up to 99 was installed
    /// assert_eq!(wal.append_for_topic("raft", b"e100")?, 100);
    /// wal.truncate_before("log-of-group-7", 1)?; // a new topic whose first index is 1
    /// assert_eq!(wal.append_for_topic("log-of-group-7", b"first")?, 1);
    /// # Ok(()) }
    /// ```
    pub fn truncate_before(&self, topic: &str, offset: u64) -> Result<()> {
        let shared = &self.shared;
        shared.check_open()?;
        validate_topic_name(topic)?;
        if offset > MAX_RECORD_OFFSET {
            return Err(Error::OffsetsExhausted {
                topic: topic.to_owned(),
            });
        }
        let cap = shared.env.opts.buffering.write_buffer;
        let lsn = {
            let mut st = lock(&shared.state);
            match st.topics.id(topic) {
                None => {
                    // A new topic that starts at `offset`: its definition says so.
                    shared.check_new_topic(&st, topic)?;
                    shared.ensure_room(&mut st, record_size(topic.len()) as u64)?;
                    let synced = shared.synced_now(&st);
                    st.create_topic_at(topic, offset, synced, cap);
                }
                Some(id) => {
                    shared.ensure_room(&mut st, record_size(0) as u64)?;
                    let synced = shared.synced_now(&st);
                    st.encode(
                        RecordFields::new(RecordKind::Truncate, id, offset).with_synced(synced),
                        &[],
                        cap,
                    );
                    let lsn = st.lsn_end();
                    st.truncation_lsn = lsn;
                    let durable = shared.pipeline.commit.durable_lsn();
                    st.topics[id].truncate_before(offset, lsn, durable);
                }
            }
            st.lsn_end()
        };
        if shared.env.opts.durability.fsync == FsyncSchedule::SyncEach {
            shared.wait_durable_lsn(lsn)?;
        } else {
            shared.ensure_written(lsn)?;
        }
        shared.signals.doorbell.ring_maintain();
        Ok(())
    }

    /// The oldest offset of `topic` still retained (its next offset when all were
    /// reclaimed); `None` for an unknown topic.
    pub fn oldest_offset(&self, topic: &str) -> Option<u64> {
        let st = lock(&self.shared.state);
        st.topics.get(topic).map(TopicState::first_offset)
    }

    /// Deletes every old segment that nothing needs any more, now (the background thread
    /// also does it after every rollover and on its housekeeping rounds). Returns how many
    /// segments were queued for deletion; a segment still open by a reader is deleted once
    /// the reader is done with it. A poisoned log reclaims nothing: [`Error::Poisoned`].
    pub fn reclaim(&self) -> Result<usize> {
        self.shared.reclaim()
    }

    /// The number of segment files the log holds.
    pub fn segment_count(&self) -> usize {
        lock(&self.shared.state).segments.len()
    }
}

impl Shared {
    /// Drops segments from the front of the log while the oldest one is reclaimable:
    /// - it is not the active segment, and the next segment's preamble (which re-declares
    ///   every topic and cursor) is durable, so the log stays self-describing;
    /// - every entry in it is behind every *durable* cursor of its topic (a cursor record
    ///   that a power loss can still take away does not count);
    /// - the last truncation (`truncate_before`, `truncate_from`) is durable: it dropped
    ///   entries from the index at once, and a power loss that takes it away brings them
    ///   back;
    /// - the retention policy (`retain_bytes`, `retain_age`) does not keep it.
    ///
    /// A poisoned log changes nothing, so it drops nothing either (checked under the state
    /// lock for every segment, since another thread may poison the log meanwhile): what
    /// `durable_offset` and reads showed stays until a reopen.
    pub(crate) fn reclaim(&self) -> Result<usize> {
        let _span = self.enter(tracing::debug_span!(parent: self.log_span(), "wal.reclaim"));
        let mut dropped = 0;
        loop {
            let mut st = lock(&self.state);
            if dropped == 0 {
                self.check_poison()?;
            } else if self.pipeline.commit.poison().is_set() {
                break;
            }
            let Some((&oldest, meta)) = st.segments.iter().next() else {
                break;
            };
            if oldest == st.active.id {
                break;
            }
            let Some(next) = st.segments.get(&(oldest + 1)) else {
                break;
            };
            let durable = self.pipeline.commit.durable_lsn();
            if durable < next.base_lsn + next.preamble_end || durable < st.truncation_lsn {
                break;
            }
            let retained_after: u64 = st.segments.values().skip(1).map(|m| m.capacity).sum();
            if self.env.opts.files.retention.bytes > 0
                && retained_after < self.env.opts.files.retention.bytes
            {
                break;
            }
            let young = meta
                .sealed_at
                .is_none_or(|t| t.elapsed() < self.env.opts.files.retention.age);
            if !self.env.opts.files.retention.age.is_zero() && young {
                break;
            }
            let needed = st.topics.iter().any(|t| {
                t.last_offset_in_oldest(oldest)
                    .is_some_and(|last| last >= t.retained_from(durable))
            });
            if needed {
                break;
            }
            for t in st.topics.iter_mut() {
                t.drop_segment(oldest);
            }
            st.segments.remove(&oldest);
            // Queued under the state lock, in the same step that takes it out of the
            // table: deleters take only the front of the queue, so a later segment is never
            // deleted while this one is out of the table but not queued yet (another
            // reclaimer could otherwise take the next segments and delete them first,
            // leaving this one behind a gap if the process dies before it goes).
            self.files.pool.doom(oldest);
            drop(st);
            // No lock held here (the model test's regression for the above pauses a
            // reclaimer at this event).
            tracing::debug!(
                segment = oldest,
                "reclaiming a segment every cursor has passed"
            );
            dropped += 1;
        }
        self.delete_doomed();
        Ok(dropped)
    }

    /// Deletes doomed segments that no reader holds, oldest first, syncing the directory
    /// after each removal: on a file system without a journal, removals not yet synced may
    /// persist in any order, and a later segment gone while an earlier one is back would be
    /// a gap in the log.
    ///
    /// A failed removal changed nothing: the rest waits for the next round (a step
    /// failure). A failed directory sync poisons the log, as a failed sync of data does: the
    /// removal may or may not be durable, and a later directory sync can succeed without
    /// it, so deleting the next segment could leave exactly that gap. A poisoned log
    /// deletes nothing.
    pub(crate) fn delete_doomed(&self) {
        let _deleter = self.files.pool.deleter();
        if self.check_poison().is_err() {
            return;
        }
        let ready = self.files.pool.take_deletable();
        for (i, &id) in ready.iter().enumerate() {
            let path = self.env.dir.join(segment_file_name(id));
            match self.env.backend.remove(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // done by an earlier try
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "could not delete a segment; will retry");
                    let e = Error::io("delete segment", &path, None, e);
                    self.report_step_failed(crate::observe::Step::DeleteSegment, &e);
                    self.files.pool.requeue(ready[i..].iter().copied());
                    return;
                }
                Ok(()) => {}
            }
            if let Err(e) = self.env.backend.sync_dir(&self.env.dir) {
                self.poison(Error::io("sync directory", &self.env.dir, None, e));
                self.files.pool.requeue(ready[i + 1..].iter().copied());
                return;
            }
        }
    }
}
