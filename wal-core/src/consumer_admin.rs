//! Administration of named consumers: listing them, moving one (`Consumer::seek`), and
//! deleting one with a tombstone record, for operators (`wal consumers`) and programs.

use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{record_size, RecordKind, FLAG_CURSOR_DELETE};
use crate::lock::lock;
use crate::shared::Shared;
use crate::topic::{validate_topic_name, SHARED_CURSOR};
use crate::wal::Wal;

impl<S> Wal<S> {
    /// The named consumers of `topic` with the offset each reads next, by name (the shared
    /// cursor of [`Wal::read_next`] is not listed). Empty for an unknown topic.
    pub fn consumers(&self, topic: &str) -> Vec<(String, u64)> {
        let st = lock(&self.shared.state);
        let Some(id) = st.topics.id(topic) else {
            return Vec::new();
        };
        st.topics[id]
            .cursors
            .iter()
            .filter(|(name, _)| name.as_str() != SHARED_CURSOR)
            .map(|(name, c)| (name.clone(), c.cursor))
            .collect()
    }

    /// Deletes the named consumer `name` of `topic`: it is no longer listed, no longer
    /// declared in new segments, and no longer keeps entries from being reclaimed. Returns
    /// `false` when there was no such consumer. The deletion is durable when this returns
    /// (under every schedule), so a reopened log does not know the consumer either.
    ///
    /// The shared cursor cannot be deleted (an empty name is refused as an invalid name). A
    /// [`crate::Consumer`] handle that is used again after the deletion starts afresh at
    /// the oldest retained entry, as a new consumer does.
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
    /// wal.batch_append_for_topic("orders", &[b"a", b"b", b"c"])?;
    /// let billing = wal.consumer("orders", "billing")?;
    /// billing.seek(2)?; // skip the first two entries
    /// assert_eq!(wal.consumers("orders"), vec![("billing".to_string(), 2)]);
    /// assert!(wal.delete_consumer("orders", "billing")?);
    /// assert!(wal.consumers("orders").is_empty());
    /// # Ok(()) }
    /// ```
    pub fn delete_consumer(&self, topic: &str, name: &str) -> Result<bool> {
        self.shared.delete_cursor(topic, name)
    }
}

impl Shared {
    /// The lock one reader of cursor `name` of `topic` holds, if the topic exists; the
    /// cursor is created at the oldest retained entry when `create` and it is new.
    fn cursor_lock(
        &self,
        topic: &str,
        name: &str,
        create: bool,
    ) -> Option<(u32, std::sync::Arc<std::sync::Mutex<()>>)> {
        let mut st = lock(&self.state);
        let id = st.topics.id(topic)?;
        let t = &mut st.topics[id];
        let guard = if create {
            Some(t.cursor_mut(name).lock.clone())
        } else {
            t.cursors.get(name).map(|c| c.lock.clone())
        };
        guard.map(|g| (id, g))
    }

    /// Moves cursor `name` of `topic` to `offset` and makes that durable.
    pub(crate) fn seek_cursor(&self, topic: &str, name: &str, offset: u64) -> Result<()> {
        self.check_open()?;
        let Some((id, guard)) = self.cursor_lock(topic, name, true) else {
            return Err(Error::OffsetNotFound {
                topic: topic.to_owned(),
                offset,
                next: 0,
            });
        };
        // No read of this cursor runs meanwhile, so none moves it past the new position.
        let _reading = lock(&guard);
        let lsn = {
            let mut st = lock(&self.state);
            let t = &mut st.topics[id];
            let (first, next) = (t.first_offset(), t.next_offset);
            if offset < first {
                return Err(Error::OffsetReclaimed {
                    topic: topic.to_owned(),
                    offset,
                    oldest: first,
                });
            }
            if offset > next {
                return Err(Error::OffsetNotFound {
                    topic: topic.to_owned(),
                    offset,
                    next,
                });
            }
            // Retention trusts a cursor's durable value. Moving back, that value must drop
            // to the new position now, in this critical section, or a reclaim before the
            // record below is durable could delete the entries the consumer goes back to.
            // Recording the lower of the two as persisted (at LSN 0, "already durable")
            // does that; moving ahead, the old durable value stays until the record is.
            let durable = self.pipeline.commit.durable_lsn();
            let c = t.cursor_mut(name);
            let keep = offset.min(c.durable_value(durable));
            c.persist(keep, 0, durable);
            let lsn = self.encode_cursor(&mut st, id, name, offset)?;
            st.topics[id].cursor_mut(name).cursor = offset;
            lsn
        };
        self.wait_durable_lsn(lsn)
    }

    /// Writes a tombstone for consumer `name` of `topic`, forgets the consumer, and waits
    /// until the tombstone is durable.
    fn delete_cursor(&self, topic: &str, name: &str) -> Result<bool> {
        self.check_open()?;
        validate_topic_name(name)?;
        let Some((id, guard)) = self.cursor_lock(topic, name, false) else {
            return Ok(false);
        };
        let _reading = lock(&guard);
        let (lsn, pins) = {
            let mut st = lock(&self.state);
            let Some(at) = st.topics[id].cursors.get(name).map(|c| c.persisted) else {
                return Ok(false); // deleted by another thread meanwhile
            };
            // Made before the consumer is forgotten: a rollover here declares it once more
            // in the new preamble, and the tombstone then follows in the same segment.
            self.ensure_room(&mut st, record_size(name.len()) as u64)?;
            let synced = self.synced_now(&st);
            st.encode(
                RecordFields::new(RecordKind::Cursor, id, at)
                    .with_flags(FLAG_CURSOR_DELETE)
                    .with_synced(synced),
                name.as_bytes(),
                self.env.opts.buffering.write_buffer,
            );
            let lsn = st.lsn_end();
            st.topics[id].cursors.remove(name);
            // Forgotten now, so no later preamble declares it; but until the tombstone is
            // durable a crash brings the consumer back, so the files holding what it has
            // not read must stay: every segment is pinned against deletion until then
            // (reclaim may still queue them; they go once the pins are dropped).
            let pins = self.files.pool.pin(st.segments.keys().copied());
            (lsn, pins)
        };
        let durable = self.wait_durable_lsn(lsn);
        drop(pins);
        durable?;
        self.delete_doomed();
        Ok(true)
    }
}
