//! The append-side state, guarded by one mutex: topics, the active segment and the buffer
//! of encoded records not yet written to storage.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::format::RecordFields;
use crate::format::{self, record_size, RecordKind, SEGMENT_HEADER_LEN};
use crate::pending::PendingQueue;
use crate::segment::{segment_file_name, ActiveSegment, SegmentMeta};
use crate::shared::Shared;
use crate::topic::TopicState;
use crate::topic_table::TopicTable;

/// Everything the append path changes.
#[derive(Debug)]
pub(crate) struct State {
    pub topics: TopicTable,
    pub active: ActiveSegment,
    pub segments: BTreeMap<u64, SegmentMeta>,
    pub pending: PendingQueue,
    /// The LSN just past the last truncation record (`truncate_before`, `truncate_from`).
    /// Until it is durable no segment is deleted: the truncated entries are out of the
    /// index (so retention sees nothing of them in their segments), and a crash that loses
    /// the truncation brings them back, so their segments must still be there.
    pub truncation_lsn: u64,
}

impl State {
    /// The LSN just past the last appended record.
    pub fn lsn_end(&self) -> u64 {
        self.active.base_lsn + self.active.end
    }

    /// How far the active segment is known durable, for the `synced` field of new records.
    pub fn synced_in_active(&self, durable_lsn: u64) -> u32 {
        let synced = durable_lsn
            .saturating_sub(self.active.base_lsn)
            .min(self.active.end);
        synced as u32
    }

    /// Appends one record to the pending buffer; returns its position in the active segment.
    /// The caller has made room for it.
    pub fn encode(&mut self, fields: RecordFields, payload: &[u8], buffer_capacity: usize) -> u32 {
        let pos = self.active.end;
        let segment = self.active.id;
        self.pending.append(&self.active, buffer_capacity, |out| {
            format::encode_record(out, segment, fields, payload);
        });
        self.active.end += record_size(payload.len()) as u64;
        pos as u32
    }

    /// Bytes the preamble of a new segment takes: every topic's definition and cursors.
    pub fn preamble_len(&self) -> u64 {
        let defs: u64 = self.topics.iter().map(TopicState::declaration_len).sum();
        SEGMENT_HEADER_LEN as u64 + defs
    }

    /// Encodes topic `id`'s definition, every persisted cursor and every metadata value
    /// of it: what a segment needs to describe the topic on its own. The caller has made
    /// room.
    pub fn declare_topic(&mut self, id: u32, synced: u32, cap: usize) {
        let t = &self.topics[id];
        let name = t.name.clone();
        let next = t.next_offset;
        let cursors: Vec<(String, u64)> = t
            .cursors
            .iter()
            .map(|(n, c)| (n.clone(), c.persisted))
            .collect();
        let meta: Vec<Vec<u8>> = t
            .meta
            .iter()
            .map(|(k, v)| format::encode_meta_payload(k, v))
            .collect();
        self.encode(
            RecordFields::new(RecordKind::TopicDef, id, next).with_synced(synced),
            name.as_bytes(),
            cap,
        );
        for (consumer, at) in cursors {
            self.encode(
                RecordFields::new(RecordKind::Cursor, id, at).with_synced(synced),
                consumer.as_bytes(),
                cap,
            );
        }
        for payload in meta {
            self.encode(
                RecordFields::new(RecordKind::Meta, id, 0).with_synced(synced),
                &payload,
                cap,
            );
        }
    }

    /// Registers a new topic and encodes its definition. The caller has made room.
    pub fn create_topic(&mut self, name: &str, synced: u32, buffer_capacity: usize) -> u32 {
        self.create_topic_at(name, 0, synced, buffer_capacity)
    }

    /// Registers a new topic whose first append gets `start`, and encodes its definition
    /// (which states `start` as the topic's next offset). The caller has made room.
    pub fn create_topic_at(
        &mut self,
        name: &str,
        start: u64,
        synced: u32,
        buffer_capacity: usize,
    ) -> u32 {
        let id = self.topics.add(name, start);
        self.encode(
            RecordFields::new(RecordKind::TopicDef, id, start).with_synced(synced),
            name.as_bytes(),
            buffer_capacity,
        );
        id
    }
}

impl Shared {
    /// How far the active segment is known durable now: the `synced` field of a record
    /// encoded under `st`.
    pub(crate) fn synced_now(&self, st: &State) -> u32 {
        st.synced_in_active(self.pipeline.commit.durable_lsn())
    }

    /// Makes sure `need` more bytes fit in the active segment, rolling over to a new one
    /// if they do not.
    pub(crate) fn ensure_room(&self, st: &mut State, need: u64) -> Result<()> {
        if st.active.end + need <= st.active.capacity {
            return Ok(());
        }
        let room = self
            .env
            .opts
            .limits
            .segment_size
            .saturating_sub(st.preamble_len());
        if need > room {
            return Err(Error::TooLargeForSegment { bytes: need, room });
        }
        self.rollover(st)
    }

    /// Refuses a new topic named `name` if its declaration would make the topic table too
    /// large (see [`Shared::check_table_room`]).
    pub(crate) fn check_new_topic(&self, st: &State, name: &str) -> Result<()> {
        let extra = TopicState::new_declaration_len(name);
        self.check_table_room(st, extra, || format!("topic {name:?}"))
    }

    /// Refuses a new topic or consumer whose declaration (`extra` bytes) would make the
    /// table that every segment re-declares take more than half a segment. Without a bound
    /// the table could outgrow a segment, and then no append could ever roll over again.
    pub(crate) fn check_table_room(
        &self,
        st: &State,
        extra: u64,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        let table_bytes = st.preamble_len() + extra;
        let limit = self.env.opts.limits.segment_size / 2;
        if table_bytes > limit {
            return Err(Error::TopicTableFull {
                what: what(),
                table_bytes,
                limit,
            });
        }
        Ok(())
    }

    /// Seals the active segment and starts the next one, whose preamble re-declares every
    /// topic and cursor so that older segments can later be deleted.
    fn rollover(&self, st: &mut State) -> Result<()> {
        let _span = self.enter(tracing::debug_span!(parent: self.log_span(), "wal.rollover"));
        let id = st.active.id + 1;
        let path = self.env.dir.join(segment_file_name(id));
        let storage = self.next_segment(id, &path)?;
        tracing::debug!(segment = id, "rolled over to a new segment");

        // Seal the old segment: its last pending chunk (or an empty one) carries the mark.
        st.pending.seal(&st.active);

        let base_lsn = st.active.base_lsn + st.active.capacity;
        if let Some(old) = st.segments.get_mut(&st.active.id) {
            old.sealed_at = Some(std::time::Instant::now());
        }
        st.segments.insert(
            id,
            SegmentMeta {
                path,
                base_lsn,
                capacity: self.env.opts.limits.segment_size,
                preamble_end: 0,
                sealed_at: None,
            },
        );
        self.files.pool.insert(id, storage.clone());
        st.active = ActiveSegment {
            id,
            storage: storage.clone(),
            base_lsn,
            capacity: self.env.opts.limits.segment_size,
            end: 0,
        };
        self.env.stats.segment_created();

        // The header is already on disk (written and synced when the file was made).
        st.active.end = format::SEGMENT_HEADER_LEN as u64;
        st.pending
            .start_segment(&st.active, self.env.opts.buffering.write_buffer);
        let cap = self.env.opts.buffering.write_buffer;
        for t in 0..st.topics.len() {
            st.declare_topic(t, 0, cap);
        }
        let end = st.active.end;
        if let Some(meta) = st.segments.get_mut(&id) {
            meta.preamble_end = end;
        }
        self.signals.doorbell.ring_maintain();
        Ok(())
    }

    /// Declares topics `ids` again in the active segment (after a torn tail cut into its
    /// preamble), so that the segment describes every topic, cursor and metadata value on
    /// its own, and makes the declarations durable before returning (at open, before the
    /// background thread starts): until they are, only the segments before the active one
    /// declare them, and nothing else would keep reclaim from deleting those (a recovered
    /// segment's `preamble_end` is 0), so a power loss would lose them.
    pub(crate) fn redeclare(&self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let lsn = {
            let mut st = crate::lock::lock(&self.state);
            let cap = self.env.opts.buffering.write_buffer;
            for &id in ids {
                let need = st.topics[id].declaration_len();
                let rolled = st.active.end + need > st.active.capacity;
                self.ensure_room(&mut st, need)?;
                if rolled {
                    break; // the new segment's preamble declares every topic
                }
                let synced = self.synced_now(&st);
                st.declare_topic(id, synced, cap);
            }
            st.lsn_end()
        };
        self.wait_durable_lsn(lsn)
    }
}
