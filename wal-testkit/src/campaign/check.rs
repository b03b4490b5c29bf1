//! The checks after a restart: what survived a clean close, a process crash or a power
//! loss, against what the model says must (and may) have survived. Then the model adopts
//! what survived.

use std::collections::BTreeSet;

use wal::{FsyncSchedule, ReadConsistency};

use super::harness::{Harness, Restart};
use super::model::{CursorModel, Existence, Persisted, TopicModel};
use super::op::{Reader, Retention};
use super::report::{Violation, ViolationKind};

/// What a scan of the directory (before the log is opened) says of one topic.
#[derive(Debug, Clone)]
pub(super) struct OnDisk {
    pub first_offset: u64,
    /// The lowest cursor recovered from the records (shared cursor and consumers).
    pub min_cursor: Option<(String, u64)>,
}

impl Harness {
    /// Scans the directory as recovery will, for the cursors it holds (the API shows only
    /// where a cursor reads next, never its recorded value). `None` if the scan fails:
    /// opening will then tell what is wrong.
    pub(super) fn scan_cursors(&self) -> Option<Vec<(String, OnDisk)>> {
        let inspection = wal::inspect::inspect(&self.dir, &self.backend).ok()?;
        Some(
            inspection
                .topics()
                .into_iter()
                .map(|t| {
                    let min_cursor = t.cursors.iter().min_by_key(|(_, c)| *c).cloned();
                    (
                        t.name,
                        OnDisk {
                            first_offset: t.first_offset,
                            min_cursor,
                        },
                    )
                })
                .collect(),
        )
    }

    /// Checks every topic after a restart of kind `how`, then adopts what survived.
    /// `on_disk` is the scan made before the log was opened.
    pub(super) fn check_after(
        &mut self,
        how: Restart,
        on_disk: Option<Vec<(String, OnDisk)>>,
    ) -> Result<(), Violation> {
        let known: BTreeSet<String> = self.model.topics.iter().map(|t| t.name.clone()).collect();
        for name in self.wal().topics() {
            if !known.contains(&name) {
                return Err(self.violation(
                    ViolationKind::Invented,
                    format!("after a {how:?} restart the log holds topic {name:?}, never created"),
                ));
            }
        }
        // Recovery keeps what its own cursors have not passed: retention deleted nothing
        // that a recovered cursor (or truncation) still covers.
        for (name, d) in on_disk.unwrap_or_default() {
            if let Some((consumer, at)) = d.min_cursor {
                if d.first_offset > at {
                    return Err(self.violation(
                        ViolationKind::Retention,
                        format!(
                            "{name}: after a {how:?} restart the oldest entry is {}, yet cursor {consumer:?} recovered at {at}: entries it never passed are gone",
                            d.first_offset
                        ),
                    ));
                }
            }
        }
        for t in 0..self.model.topics.len() {
            let (checked, positions) = self.check_topic(t, how)?;
            self.stats.entries_checked += checked;
            let (count, oldest) = {
                let name = &self.model.topics[t].name;
                (
                    self.wal().get_topic_entry_count(name),
                    self.wal().oldest_offset(name),
                )
            };
            self.adopt(t, how, count, oldest, positions);
        }
        Ok(())
    }

    /// Checks one topic; returns how many entries were compared and where its cursors are.
    fn check_topic(&self, t: usize, how: Restart) -> Result<(u64, Vec<(Reader, u64)>), Violation> {
        let wal = self.wal();
        let tm = &self.model.topics[t];
        let name = &tm.name;
        let count = wal.get_topic_entry_count(name);
        let oldest = wal.oldest_offset(name);
        let appended = tm.count();
        let fail = |kind, msg: String| Err(self.violation(kind, format!("{name}: {msg}")));
        // How many entries must have survived.
        let must = match how {
            Restart::Clean => tm.entries.len(),
            Restart::Kill => tm.durable.max(tm.written),
            Restart::Power => tm.durable,
        } as u64;
        if count < must {
            return fail(
                ViolationKind::LostDurable,
                format!(
                    "{count} entries after a {how:?} restart, {must} of {appended} had to survive"
                ),
            );
        }
        if count > appended {
            return fail(
                ViolationKind::Invented,
                format!("{count} entries after a {how:?} restart, only {appended} were appended"),
            );
        }
        if !tm.boundaries.contains(&(count as usize)) {
            return fail(
                ViolationKind::TornBatch,
                format!(
                    "cut at {count} entries, inside a batch (appends end at {:?})",
                    tm.boundaries
                ),
            );
        }
        let created_must_survive = match how {
            Restart::Clean => tm.created.is_some(),
            Restart::Kill => tm.created.is_some_and(Existence::is_written),
            Restart::Power => tm.created.is_some_and(Existence::is_durable),
        };
        if oldest.is_none() && created_must_survive {
            return fail(
                ViolationKind::LostDurable,
                format!("the topic is gone after a {how:?} restart; its creation had to survive"),
            );
        }
        // Every retained entry reads back as appended.
        let mut checked = 0;
        if let Some(o) = oldest {
            let got = match wal.read_from(name, o, usize::MAX) {
                Ok(got) => got,
                Err(e) => {
                    return fail(
                        ViolationKind::Unexpected,
                        format!("reading from {o} after a {how:?} restart: {e}"),
                    )
                }
            };
            if got.len() as u64 != count.saturating_sub(o) {
                return fail(
                    ViolationKind::LostDurable,
                    format!(
                        "{} entries read from {o}, the log counts {count}",
                        got.len()
                    ),
                );
            }
            for (i, e) in got.iter().enumerate() {
                let offset = o + i as u64;
                if e.offset != offset || tm.entries.get(offset as usize) != Some(&e.data) {
                    return fail(
                        ViolationKind::Invented,
                        format!("entry {} (the {i}th read from {o}) is not what was appended at that offset", e.offset),
                    );
                }
            }
            checked = got.len() as u64;
        }
        let oldest_or_end = oldest.unwrap_or(count);
        // Retention: the entries that had to survive, from the lowest cursor that had to
        // survive on, are still readable. Only where the model knows that cursor exactly
        // (a lower bound would blame the log for deleting what it rightly deleted).
        if let Some(keep_from) = self.keep_from(tm, how) {
            if keep_from < must && oldest_or_end > keep_from {
                return fail(
                    ViolationKind::Retention,
                    format!("entries {keep_from}..{oldest_or_end} are gone after a {how:?} restart; a cursor that had to survive was at {keep_from} ({must} entries had to survive)"),
                );
            }
        }
        // A truncation that had to survive stays.
        let floor = match how {
            Restart::Clean => tm.floor.now,
            Restart::Kill => tm.floor.written,
            Restart::Power => tm.floor.durable,
        };
        if let Some(o) = oldest {
            if o < floor.min(count) {
                return fail(
                    ViolationKind::Retention,
                    format!("truncate_before({floor}) had to survive, yet entries from {o} are back after a {how:?} restart"),
                );
            }
            if self.setup.retention == Retention::AgeForever && o > tm.floor.upper {
                return fail(
                    ViolationKind::Retention,
                    format!("entries below {o} are gone under a retain_age of an hour (truncated below {} at most)", tm.floor.upper),
                );
            }
        }
        let positions = self.check_cursors(tm, how, oldest, count)?;
        Ok((checked, positions))
    }

    /// The lowest position of a cursor that had to survive `how`, if the model knows it
    /// exactly, raised to the truncation floor.
    fn keep_from(&self, tm: &TopicModel, how: Restart) -> Option<u64> {
        let strict = self.setup.consistency == ReadConsistency::StrictlyAtOnce;
        let synced = self.setup.schedule != FsyncSchedule::NoFsync;
        let lowest = match how {
            Restart::Clean => tm.min_cursor(),
            Restart::Kill if strict => tm.cursors.values().map(|c| c.pos.written).min()?,
            Restart::Power if strict && synced => tm.min_durable_cursor(),
            _ => return None,
        };
        Some(lowest.max(tm.floor.upper))
    }

    /// Checks each cursor's position; returns the positions found.
    fn check_cursors(
        &self,
        tm: &TopicModel,
        how: Restart,
        oldest: Option<u64>,
        count: u64,
    ) -> Result<Vec<(Reader, u64)>, Violation> {
        let name = &tm.name;
        let mut found = Vec::new();
        for (&reader, c) in &tm.cursors {
            let must_exist = match how {
                Restart::Clean => true,
                Restart::Kill => c.exists.is_written(),
                Restart::Power => c.exists.is_durable(),
            };
            let label = match reader.name() {
                Some(n) => format!("{name}/{n}"),
                None => format!("{name} (shared cursor)"),
            };
            let Some(o) = oldest else {
                // The topic is gone (checked: its creation did not have to survive).
                if must_exist && c.pos.durable > 0 && how == Restart::Power {
                    return Err(self.violation(
                        ViolationKind::Cursor,
                        format!(
                            "{label}: gone with its topic, its durable position was {}",
                            c.pos.durable
                        ),
                    ));
                }
                continue;
            };
            let peeked = match reader.name() {
                None => self.wal().read_next(name, false),
                Some(cname) => self
                    .wal()
                    .consumer(name, &cname)
                    .and_then(|c| c.read_next(false)),
            };
            let at = match peeked {
                Ok(e) => e.map_or(count, |e| e.offset),
                Err(e) => {
                    return Err(self.violation(
                        ViolationKind::Unexpected,
                        format!("{label}: peeking after a {how:?} restart: {e}"),
                    ))
                }
            };
            let lowest = match how {
                Restart::Clean => c.pos.now,
                Restart::Kill => c.pos.written,
                Restart::Power if must_exist => c.pos.durable,
                Restart::Power => 0,
            }
            .min(count);
            if at < lowest {
                return Err(self.violation(
                    ViolationKind::Cursor,
                    format!("{label}: at {at} after a {how:?} restart, below {lowest} where it had to be (it had read up to {})", c.pos.now),
                ));
            }
            let highest = c.pos.upper.max(tm.floor.upper);
            let lost_registration = !must_exist && at == o;
            if at > highest && !lost_registration {
                return Err(self.violation(
                    ViolationKind::Cursor,
                    format!("{label}: at {at} after a {how:?} restart, past {highest}: entries it never read were skipped"),
                ));
            }
            found.push((reader, at));
        }
        Ok(found)
    }

    /// The model takes what survived as the new truth.
    fn adopt(
        &mut self,
        t: usize,
        how: Restart,
        count: u64,
        oldest: Option<u64>,
        positions: Vec<(Reader, u64)>,
    ) {
        let reregistered = self.model.next_seq();
        let durable = how != Restart::Kill;
        let tm = &mut self.model.topics[t];
        let Some(o) = oldest else {
            // The topic is gone: it starts again from nothing.
            *tm = TopicModel::new(tm.name.clone());
            return;
        };
        let n = count as usize;
        tm.entries.truncate(n);
        tm.seqs.truncate(n);
        tm.boundaries.retain(|&b| b <= n);
        tm.boundaries.insert(n);
        tm.written = n;
        tm.durable = if durable { n } else { tm.durable.min(n) };
        tm.created = Some(match (how, tm.created) {
            (Restart::Kill, Some(Existence::Pending(s))) => Existence::Written(s),
            (Restart::Kill, Some(c)) => c,
            (Restart::Kill, None) => Existence::Written(reregistered),
            _ => Existence::Durable,
        });
        tm.floor.adopt(o, durable);
        tm.cursors
            .retain(|r, _| positions.iter().any(|(p, _)| p == r));
        for (reader, at) in positions {
            let c = tm.cursors.get_mut(&reader).expect("checked");
            // A consumer whose registration did not have to survive may have been
            // registered again by the check: its record is new, written but not durable.
            let sure = reader == Reader::Shared || c.exists.is_durable() || how == Restart::Clean;
            c.exists = if sure {
                Existence::Durable
            } else {
                Existence::Written(reregistered)
            };
            c.pos.adopt(at, durable && sure);
        }
        tm.cursors.entry(Reader::Shared).or_insert(CursorModel {
            pos: Persisted::at(o),
            exists: Existence::Durable,
        });
    }
}
