//! Suffix truncation: dropping the newest entries of a topic (a Raft follower removing
//! entries that conflict with its leader's), so that the next append re-uses their offsets.
//!
//! The truncation is one `TruncateFrom` record. Recovery applies records in log order, so
//! the record drops the entries written before it at offsets from the cut on (in whatever
//! segment they are) and keeps the ones appended after it. A crash keeps a prefix of the
//! log: either the record (and with it none of the old suffix) or not (and the old suffix
//! as far as it was durable), never a part of the suffix brought back.

use crate::config::FsyncSchedule;
use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{record_size, RecordKind};
use crate::lock::lock;
use crate::topic::validate_topic_name;
use crate::wal::Wal;

impl<S> Wal<S> {
    /// Removes entries `offset..` of `topic`, so that its next append gets `offset` (a
    /// Raft follower dropping a conflicting suffix). Cursors past `offset` move back to
    /// it. Truncating at or past the topic's end, or an unknown topic, does nothing; an
    /// invalid topic name is [`Error::InvalidTopic`], as for every call that changes a
    /// topic. An `offset` below the oldest retained entry is [`Error::OffsetReclaimed`] (nothing
    /// is changed): those entries are gone already and the topic's start stays where it
    /// is.
    ///
    /// Durable like an append: under [`FsyncSchedule::SyncEach`] this returns once the
    /// truncation is durable; under the other schedules it is durable with the next sync
    /// (wait with [`Wal::sync`] or [`Wal::on_durable`]). After a crash the log holds
    /// either the whole old suffix (as far as it was durable) or none of it. Until the
    /// truncation is durable, no segment is deleted.
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
    /// // Entries of terms 1 and 2; the leader of term 3 never had the term-2 ones.
    /// wal.batch_append_for_topic("raft", &[b"t1", b"t1", b"t2", b"t2"])?;
    /// wal.truncate_from("raft", 2)?;
    /// assert_eq!(wal.get_topic_entry_count("raft"), 2);
    /// assert_eq!(wal.append_for_topic("raft", b"t3")?, 2);
    /// let entries = wal.read_range("raft", 0..10, usize::MAX)?;
    /// let data: Vec<&[u8]> = entries.iter().map(|e| &e.data[..]).collect();
    /// assert_eq!(data, [&b"t1"[..], b"t1", b"t3"]);
    /// # Ok(()) }
    /// ```
    pub fn truncate_from(&self, topic: &str, offset: u64) -> Result<()> {
        validate_topic_name(topic)?;
        let shared = &self.shared;
        shared.check_open()?;
        let lsn = {
            let mut st = lock(&shared.state);
            let Some(id) = st.topics.id(topic) else {
                return Ok(());
            };
            let t = &st.topics[id];
            if offset >= t.next_offset {
                return Ok(());
            }
            let oldest = t.first_offset();
            if offset < oldest {
                return Err(Error::OffsetReclaimed {
                    topic: topic.to_owned(),
                    offset,
                    oldest,
                });
            }
            shared.ensure_room(&mut st, record_size(0) as u64)?;
            let synced = shared.synced_now(&st);
            let cap = shared.env.opts.buffering.write_buffer;
            st.encode(
                RecordFields::new(RecordKind::TruncateFrom, id, offset).with_synced(synced),
                &[],
                cap,
            );
            let lsn = st.lsn_end();
            st.truncation_lsn = lsn;
            st.topics[id].truncate_from(offset);
            lsn
        };
        if shared.env.opts.durability.fsync == FsyncSchedule::SyncEach {
            shared.wait_durable_lsn(lsn)?;
        }
        Ok(())
    }
}
