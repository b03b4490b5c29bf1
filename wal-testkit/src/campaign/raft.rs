//! The operations a Raft log needs, run by the harness and followed by the model: suffix
//! truncation, topics that start past their end, metadata, and durability notices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use wal::FsyncSchedule;

use super::harness::Harness;
use super::model::PHANTOM;
use super::power;
use super::report::{Violation, ViolationKind};

/// What one `on_durable` callback was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Told {
    Durable,
    Closed,
    Poisoned,
    Other(String),
}

/// The callbacks of the open log instance: those waiting, and what the told ones said
/// (filled by the callbacks, on whatever thread runs them).
#[derive(Debug, Default)]
pub(crate) struct Notices {
    /// Registration number → the sequence number everything before which it covers.
    waiting: BTreeMap<u64, u64>,
    next: u64,
    told: Arc<Mutex<Vec<(u64, Told)>>>,
}

impl Harness {
    /// `truncate_from` at the point `at / 255` of the retained range.
    pub(super) fn truncate_from(&mut self, t: usize, at: u8) -> Result<(), Violation> {
        let name = self.model.topics[t].name.clone();
        let Some(oldest) = self.wal().oldest_offset(&name) else {
            return Ok(());
        };
        let count = self.model.topics[t].count();
        let k = oldest + count.saturating_sub(oldest) * u64::from(at) / 255;
        let seq = self.model.next_seq();
        match self.wal().truncate_from(&name, k) {
            Ok(()) => {
                self.model.topics[t].cut(k, seq);
                if self.setup.schedule == FsyncSchedule::SyncEach && k < count {
                    self.model.durable_upto(seq);
                }
                let now = self.wal().get_topic_entry_count(&name);
                if now != k.min(count) {
                    return Err(self.violation(
                        ViolationKind::Unexpected,
                        format!("{name}: truncate_from({k}) of {count} entries left {now}"),
                    ));
                }
                Ok(())
            }
            // The background thread reclaimed past `k` meanwhile: nothing was cut.
            Err(wal::Error::OffsetReclaimed { oldest: now, .. }) if now > k => {
                self.check_live_retention(t, now)
            }
            Err(e) => {
                // It may have been cut before the failure (a SyncEach wait that failed). With
                // the power on (an injected fault), the log says whether it was.
                let now = self.wal().get_topic_entry_count(&name);
                if power::is_off(&self.backend) || now < count {
                    self.model.topics[t].cut(k, seq);
                }
                self.failed("truncate_from", &e)
            }
        }
    }

    /// `truncate_before` past the end: the topic starts at its next offset + 1 + `skip`
    /// (a new topic if it was not created). The model appends phantom entries up to the
    /// start as one batch, which the floor then hides.
    pub(super) fn start_at(&mut self, t: usize, skip: u8) -> Result<(), Violation> {
        let name = self.model.topics[t].name.clone();
        let count = self.model.topics[t].count();
        let offset = count + 1 + u64::from(skip);
        let seq = self.model.next_seq();
        let result = self.wal().truncate_before(&name, offset);
        let tm = &mut self.model.topics[t];
        tm.created_at(seq);
        for _ in count..offset {
            tm.push(seq, PHANTOM.to_vec());
        }
        tm.boundary();
        let ok = result.is_ok();
        self.truncated_before(t, offset, seq, result)?;
        if ok {
            let (next, oldest) = (
                self.wal().get_topic_entry_count(&name),
                self.wal().oldest_offset(&name),
            );
            if next != offset || oldest != Some(offset) {
                return Err(self.violation(
                    ViolationKind::Unexpected,
                    format!(
                        "{name}: after truncate_before({offset}) past the end, the next offset is {next} and the oldest {oldest:?}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `set_meta` of key `k{key % 3}` to a fresh value (its first 8 bytes are a nonce, so
    /// no two values are equal).
    pub(super) fn set_meta(&mut self, t: usize, key: u8, len: u16) -> Result<(), Violation> {
        let name = self.model.topics[t].name.clone();
        let key = format!("k{}", key % 3);
        let nonce = self.model.nonces(1);
        let mut value = nonce.to_le_bytes().to_vec();
        value.extend(crate::pattern(nonce, usize::from(len.min(99))));
        let seq = self.model.next_seq();
        let result = self.wal().set_meta(&name, &key, &value);
        let tm = &mut self.model.topics[t];
        tm.created_at(seq);
        tm.meta
            .entry(key.clone())
            .or_default()
            .values
            .push((seq, value.clone()));
        match result {
            Ok(()) => {
                if self.setup.schedule == FsyncSchedule::SyncEach {
                    self.model.durable_upto(seq);
                }
                let got = self.wal().meta(&name, &key);
                if got.as_ref() != Some(&value) {
                    return Err(self.violation(
                        ViolationKind::Unexpected,
                        format!("{name}: meta {key:?} reads {got:?} right after it was set"),
                    ));
                }
                Ok(())
            }
            Err(e) => {
                // The log sets the value in memory once its record is queued (under the
                // same lock): a failure before that (a full disk at rollover) left no
                // record, so the value is not in the log and proves nothing about order.
                if self.wal().meta(&name, &key).as_ref() != Some(&value) {
                    if let Some(m) = self.model.topics[t].meta.get_mut(&key) {
                        m.values.pop();
                        m.written = m.written.min(m.values.len());
                        m.durable = m.durable.min(m.values.len());
                    }
                }
                self.failed("set_meta", &e)
            }
        }
    }

    /// Registers an `on_durable` callback covering everything so far.
    pub(super) fn on_durable(&mut self) -> Result<(), Violation> {
        let seq = self.model.next_seq();
        let id = self.notices.next;
        self.notices.next += 1;
        self.notices.waiting.insert(id, seq);
        let told = self.notices.told.clone();
        self.wal().on_durable(move |r| {
            let what = match r {
                Ok(()) => Told::Durable,
                Err(wal::Error::Closed) => Told::Closed,
                Err(wal::Error::Poisoned { .. }) => Told::Poisoned,
                Err(e) => Told::Other(e.to_string()),
            };
            told.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((id, what));
        });
        Ok(())
    }

    /// Applies what callbacks said since the last look: `Ok` makes everything before the
    /// registration durable. A callback told twice, or told an error while the log is
    /// healthy (other than `Closed` while `closing`), is a violation.
    pub(super) fn take_notices(&mut self, closing: bool) -> Result<(), Violation> {
        let told = std::mem::take(
            &mut *self
                .notices
                .told
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let failing = self.dead
            || power::is_off(&self.backend)
            || self.poisoned
            || self.wal.as_ref().is_some_and(wal::Wal::is_poisoned);
        for (id, what) in told {
            let Some(seq) = self.notices.waiting.remove(&id) else {
                return Err(self.violation(
                    ViolationKind::Unexpected,
                    format!("on_durable callback {id} was told twice"),
                ));
            };
            let expected = match &what {
                Told::Durable => true,
                Told::Closed => closing,
                Told::Poisoned => failing,
                // The failure that poisoned the log itself, told to those it covered.
                Told::Other(_) => failing && !self.dead,
            };
            if !expected {
                return Err(self.violation(
                    ViolationKind::Unexpected,
                    format!("on_durable callback {id} was told {what:?}"),
                ));
            }
            if what == Told::Durable {
                self.model.durable_upto(seq);
                self.stats.durable_notices += 1;
            }
        }
        Ok(())
    }

    /// Once the log instance is gone, every callback was told.
    pub(super) fn check_all_told(&mut self) -> Result<(), Violation> {
        if !self.notices.waiting.is_empty() {
            return Err(self.violation(
                ViolationKind::Unexpected,
                format!(
                    "on_durable callbacks {:?} were never told",
                    self.notices.waiting.keys().collect::<Vec<_>>()
                ),
            ));
        }
        Ok(())
    }
}
