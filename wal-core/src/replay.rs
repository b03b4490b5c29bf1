//! Replaying records into the topic table: what recovery and `inspect` rebuild from the
//! records the walker decodes.

use std::collections::HashSet;

use crate::format::{RecordHeader, RecordKind, FLAG_BATCH, FLAG_BATCH_END, FLAG_CURSOR_DELETE};
use crate::topic::{validate_topic_name, TopicState};
use crate::topic_table::TopicTable;

/// Applies records to the topic table, holding back a batch until its last record.
#[derive(Debug, Default)]
pub(crate) struct Replayer {
    topics: TopicTable,
    /// (segment, base LSN, position, length) of the current batch's entries.
    staged: Vec<(u64, u64, u32, u32)>,
    staged_topic: u32,
    /// Topics declared by a `TopicDef` in the segment being scanned.
    declared_here: HashSet<u32>,
    /// Topics first defined in the segment being scanned.
    created_here: HashSet<u32>,
    /// (topic, is a metadata key, name) of the cursors and metadata values a record of
    /// the segment being scanned states.
    stated_here: HashSet<(u32, bool, String)>,
}

impl Replayer {
    pub(crate) fn apply(
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
                        let t = &mut self.topics[h.topic];
                        for (seg, base, pos, len) in self.staged.drain(..) {
                            t.push(seg, base, pos, len);
                        }
                    }
                } else {
                    self.topics[h.topic].push(seg, base, pos, h.len);
                }
                Ok(())
            }
            RecordKind::Cursor => {
                let consumer = std::str::from_utf8(payload)
                    .map_err(|_| "consumer name is not UTF-8".to_string())?;
                if !consumer.is_empty() {
                    validate_topic_name(consumer).map_err(|e| e.to_string())?;
                }
                let t = self.topic_mut(h.topic)?;
                if h.offset > t.next_offset {
                    // A writer never persists a cursor past what it appended: trusting one
                    // would make the consumer skip entries appended after recovery.
                    return Err(format!(
                        "cursor {consumer:?} at offset {} past the topic's end {}",
                        h.offset, t.next_offset
                    ));
                }
                if h.flags & FLAG_CURSOR_DELETE != 0 && consumer.is_empty() {
                    return Err("a deletion of the shared cursor".into());
                }
                // Only a record that is applied states the cursor: a refused one is cut by
                // PointInTime, and the segment must then declare the cursor again.
                self.stated_here
                    .insert((h.topic, false, consumer.to_owned()));
                let t = &mut self.topics[h.topic];
                if h.flags & FLAG_CURSOR_DELETE != 0 {
                    // A tombstone (`Wal::delete_consumer`): later preambles omit the consumer.
                    t.cursors.remove(consumer);
                    return Ok(());
                }
                let c = t.cursor_mut(consumer);
                c.cursor = h.offset;
                c.persist(h.offset, 0, 0);
                Ok(())
            }
            RecordKind::Truncate => {
                self.topic_mut(h.topic)?.truncate_before(h.offset, 0, 0);
                Ok(())
            }
            RecordKind::TruncateFrom => {
                let t = self.topic_mut(h.topic)?;
                if h.offset > t.next_offset {
                    // A writer truncates only what the topic holds: records are replayed
                    // in the order they were written, so the topic's end here is the
                    // writer's end then.
                    return Err(format!(
                        "suffix truncation at {} past the topic's end {}",
                        h.offset, t.next_offset
                    ));
                }
                t.truncate_from(h.offset);
                Ok(())
            }
            RecordKind::Meta => {
                if h.offset != 0 {
                    return Err(format!("metadata record with offset {}", h.offset));
                }
                let (key, value) = crate::format::decode_meta_payload(payload)?;
                validate_topic_name(key).map_err(|e| format!("metadata key: {e}"))?;
                let t = self.topic_mut(h.topic)?;
                t.meta.insert(key.to_owned(), value.to_vec());
                self.stated_here.insert((h.topic, true, key.to_owned()));
                Ok(())
            }
            RecordKind::SyncMark => Ok(()),
        }
    }

    pub(crate) fn begin_segment(&mut self) {
        self.declared_here.clear();
        self.created_here.clear();
        self.stated_here.clear();
    }

    /// Known topics that the last scanned segment does not describe in full: no
    /// `TopicDef`, or a cursor or metadata value that no record of the segment states
    /// (a torn tail that cut into its preamble). Without them the segment would lose
    /// that state once the segments before it are deleted. A topic first defined in the
    /// segment needs no record for its shared cursor: nothing before the segment moved it.
    pub(crate) fn undeclared_in_segment(&self) -> Vec<u32> {
        let stated = |id: u32, meta: bool, name: &str| {
            self.stated_here.contains(&(id, meta, name.to_owned()))
        };
        self.topics
            .iter()
            .filter(|t| {
                let id = t.id;
                !self.declared_here.contains(&id)
                    || t.cursors.keys().any(|c| {
                        let fresh_shared = c.as_str() == crate::topic::SHARED_CURSOR
                            && self.created_here.contains(&id);
                        !(stated(id, false, c) || fresh_shared)
                    })
                    || t.meta.keys().any(|k| !stated(id, true, k))
            })
            .map(|t| t.id)
            .collect()
    }

    fn topic_mut(&mut self, id: u32) -> Result<&mut TopicState, String> {
        self.topics
            .by_id_mut(id)
            .ok_or_else(|| format!("record for topic id {id}, which was never defined"))
    }

    fn define(&mut self, h: &RecordHeader, payload: &[u8]) -> Result<(), String> {
        let name =
            std::str::from_utf8(payload).map_err(|_| "topic name is not UTF-8".to_string())?;
        validate_topic_name(name).map_err(|e| e.to_string())?;
        let id = h.topic as usize;
        // Only a definition that is applied declares the topic (see the Cursor case).
        if let Some(t) = self.topics.by_id_mut(h.topic) {
            if t.name != name {
                return Err(format!(
                    "topic id {id} defined as {:?} and as {name:?}",
                    t.name
                ));
            }
            if t.is_index_empty() && h.offset > t.next_offset {
                t.next_offset = h.offset;
                t.truncate_before(h.offset, 0, 0);
            } else if h.offset != t.next_offset {
                return Err(format!(
                    "topic {name:?} re-declared at offset {} but holds entries up to {}",
                    h.offset, t.next_offset
                ));
            }
            self.declared_here.insert(h.topic);
            return Ok(());
        }
        if h.topic != self.topics.len() {
            return Err(format!(
                "topic id {id} defined before id {}",
                self.topics.len()
            ));
        }
        if self.topics.id(name).is_some() {
            return Err(format!("topic {name:?} defined twice"));
        }
        self.topics.add(name, h.offset);
        self.created_here.insert(h.topic);
        self.declared_here.insert(h.topic);
        Ok(())
    }

    pub(crate) fn discard_staged(&mut self) {
        self.staged.clear();
    }

    pub(crate) fn finish(mut self) -> TopicTable {
        for t in self.topics.iter_mut() {
            let (first, next) = (t.first_offset(), t.next_offset);
            for c in t.cursors.values_mut() {
                c.cursor = c.cursor.clamp(first, next);
                let persisted = c.persisted.clamp(first, c.cursor);
                c.persist(persisted, 0, 0);
            }
        }
        self.topics
    }
}
