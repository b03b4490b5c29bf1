//! Small durable metadata per topic (a Raft group's vote, committed index, last purged
//! id): one `Meta` record per update, and every value declared again in each segment's
//! preamble like the cursors, so a value never keeps an old segment alive.

use crate::config::FsyncSchedule;
use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{encode_meta_payload, RecordKind};
use crate::lock::lock;
use crate::topic::{meta_record_len, validate_topic_name};
use crate::wal::Wal;
use crate::MAX_META_VALUE;

impl<S> Wal<S> {
    /// Sets metadata `key` of `topic` to `value` (the topic is created if it does not
    /// exist). Keys follow the rules of topic names (1 to 255 bytes, no NUL, no `/` or
    /// `\`, not `.` or `..`); a value holds at most [`MAX_META_VALUE`] bytes
    /// ([`Error::MetaTooLarge`] beyond). Every segment starts with the topic's current
    /// values, so keys and values count towards the table each segment re-declares
    /// ([`Error::TopicTableFull`] when it would take more than half a segment).
    ///
    /// Durable like an append: under [`FsyncSchedule::SyncEach`] this returns once the
    /// value is durable; under the other schedules it is durable with the next sync (wait
    /// with [`Wal::sync`] or [`Wal::on_durable`]). Values and entries share one order: a
    /// value that survives a crash comes with everything appended before it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wal_core::WalBuilder;
    ///
    /// # fn main() -> wal_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let open = || {
    ///     WalBuilder::new()
    ///         .dir(dir.path())
    ///         .backend(Arc::new(wal_backend_std::StdBackend::default()))
    ///         .open()
    /// };
    /// let wal = open()?;
    /// wal.set_meta("raft", "vote", b"term 7, node 2")?;
    /// wal.close()?;
    /// let wal = open()?;
    /// assert_eq!(wal.meta("raft", "vote").as_deref(), Some(&b"term 7, node 2"[..]));
    /// assert_eq!(wal.meta("raft", "committed"), None);
    /// # Ok(()) }
    /// ```
    pub fn set_meta(&self, topic: &str, key: &str, value: &[u8]) -> Result<()> {
        let shared = &self.shared;
        shared.check_open()?;
        validate_topic_name(topic)?;
        validate_topic_name(key)?;
        if value.len() > MAX_META_VALUE {
            return Err(Error::MetaTooLarge {
                key: key.to_owned(),
                size: value.len(),
                max: MAX_META_VALUE,
            });
        }
        let payload = encode_meta_payload(key, value);
        let record = meta_record_len(key, value);
        let lsn = {
            let mut st = lock(&shared.state);
            let id = shared.topic_or_create(&mut st, topic)?;
            let old = st.topics[id]
                .meta
                .get(key)
                .map_or(0, |v| meta_record_len(key, v));
            if record > old {
                shared.check_table_room(&st, record - old, || {
                    format!("metadata {key:?} of topic {topic:?}")
                })?;
            }
            shared.ensure_room(&mut st, record)?;
            let synced = shared.synced_now(&st);
            let cap = shared.env.opts.buffering.write_buffer;
            st.encode(
                RecordFields::new(RecordKind::Meta, id, 0).with_synced(synced),
                &payload,
                cap,
            );
            st.topics[id].meta.insert(key.to_owned(), value.to_vec());
            st.lsn_end()
        };
        if shared.env.opts.durability.fsync == FsyncSchedule::SyncEach {
            shared.wait_durable_lsn(lsn)?;
        }
        Ok(())
    }

    /// The value of metadata `key` of `topic` ([`Wal::set_meta`]), if it was set.
    pub fn meta(&self, topic: &str, key: &str) -> Option<Vec<u8>> {
        let st = lock(&self.shared.state);
        let id = st.topics.id(topic)?;
        st.topics[id].meta.get(key).cloned()
    }
}
